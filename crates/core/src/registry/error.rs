//! `RegistryError`: every way talking to a registry can fail, with a stable code for each.

use std::time::Duration;

use crate::credentials::{CredentialError, CredentialOrigin};
use crate::error::{Coded, ErrorKind, Remedy};

fn login(registry: &str) -> Remedy {
    Remedy::Login {
        registry: registry.to_string(),
    }
}

/// Everything that can go wrong talking to a registry, in words a user can act on. Never holds a
/// secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("registry {registry} did not answer within {}s", timeout.as_secs())]
    Timeout { registry: String, timeout: Duration },
    #[error(
        "registry {registry} refused the credentials for user {user} ({origin}); {}",
        login(registry)
    )]
    AuthRefused {
        registry: String,
        user: String,
        origin: CredentialOrigin,
    },
    #[error(
        "registry {registry} requires credentials to read {repository} (or the repository does not exist); {}",
        login(registry)
    )]
    AuthRequired { registry: String, repository: String },
    #[error(
        "registry {registry} accepted user {user} ({origin}) but denied access to {repository} (or it does not exist)"
    )]
    Denied {
        registry: String,
        repository: String,
        user: String,
        origin: CredentialOrigin,
    },
    #[error("registry {registry} refused access to {repository} (HTTP 403) without asking for credentials{}", match unsent_user {
        Some(user) => format!("; the saved login for user {user} was not sent because the registry never asked for one, so logging in again will not help: check the repository's permissions or a proxy in the way"),
        None => "; check the repository's permissions or a proxy in the way".to_string(),
    })]
    Forbidden {
        registry: String,
        repository: String,
        unsent_user: Option<String>,
    },
    #[error("registry {registry} only offers authentication schemes Tidewatch does not support ({}) and refused anonymous access; Tidewatch supports Bearer and Basic", schemes.join(", "))]
    UnsupportedAuth { registry: String, schemes: Vec<String> },
    #[error("registry {registry} sent an authentication challenge Tidewatch cannot use: {reason}")]
    InvalidChallenge { registry: String, reason: String },
    #[error("registry {registry} sends tokens from {realm}, another host over plain HTTP; refusing to send credentials there (it must be HTTPS)")]
    InsecureRealm { registry: String, realm: String },
    #[error("the token server {realm} of registry {registry} answered HTTP {status} with something that is not JSON (content-type {content_type}); is the realm URL right, or is a proxy in the way?")]
    TokenNotJson {
        registry: String,
        realm: String,
        status: u16,
        content_type: String,
    },
    #[error("the token server {realm} of registry {registry} answered without a token")]
    TokenMissing { registry: String, realm: String },
    #[error("the token server {realm} of registry {registry} failed with HTTP {status}")]
    TokenServer {
        registry: String,
        realm: String,
        status: u16,
    },
    #[error("registry {registry} redirected a request carrying credentials to {location}, another origin or plain HTTP; refusing to send them there")]
    InsecureRedirect { registry: String, location: String },
    #[error("registry {registry} sent more than {} KiB for {what}; stopped reading (a misbehaving server or proxy)", limit / 1024)]
    TooLarge {
        registry: String,
        what: String,
        limit: usize,
    },
    #[error("registry {registry} stopped sending {what} part-way; gave up after {}s", timeout.as_secs())]
    Stalled {
        registry: String,
        what: String,
        timeout: Duration,
    },
    #[error("registry {registry} broke off while sending {what}: {reason}")]
    Truncated {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("registry {registry} serves content for {repository}@{claimed} whose digest is {served}: it does not match, so its Docker-Content-Digest cannot be trusted")]
    DigestMismatch {
        registry: String,
        repository: String,
        claimed: String,
        served: String,
    },
    #[error(
        "the tag list of {repository} on registry {registry} {reason}, so a newer version could be missing from it"
    )]
    IncompleteTags {
        registry: String,
        repository: String,
        reason: String,
    },
    #[error("{repository}:{reference} was not found on registry {registry}")]
    NotFound {
        registry: String,
        repository: String,
        reference: String,
    },
    #[error("registry {registry} is rate-limiting requests{}; try again later", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        registry: String,
        retry_after: Option<Duration>,
    },
    #[error("registry {registry} is unavailable (HTTP {status}); try again later")]
    Unavailable { registry: String, status: u16 },
    #[error("registry {registry} answered HTTP {status} to {what}")]
    UnexpectedStatus {
        registry: String,
        status: u16,
        what: String,
    },
    #[error("registry {registry} sent an invalid manifest for {repository}:{reference}: {reason}")]
    InvalidManifest {
        registry: String,
        repository: String,
        reference: String,
        reason: String,
    },
    #[error("registry {registry} sent an invalid answer for {what}: {reason}")]
    InvalidResponse {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{repository}:{reference} on registry {registry} has no image for {platform} (it has: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    PlatformNotFound {
        registry: String,
        repository: String,
        reference: String,
        platform: String,
        available: Vec<String>,
    },
    #[error("registry {registry} links the next page of tags to another host ({link}); refusing to follow it")]
    CrossHostLink { registry: String, link: String },
    #[error("registry {registry} redirected too many times")]
    TooManyRedirects { registry: String },
    #[error("{name:?} is not a valid repository name or tag for registry {registry}")]
    InvalidName { registry: String, name: String },
    #[error("registry {registry} is misconfigured: {reason}")]
    Config { registry: String, reason: String },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

impl Coded for RegistryError {
    fn code(&self) -> &'static str {
        match self {
            RegistryError::Unreachable { .. } => "unreachable",
            RegistryError::Timeout { .. } => "timeout",
            RegistryError::AuthRefused { .. } => "auth_refused",
            RegistryError::AuthRequired { .. } => "auth_required",
            RegistryError::Denied { .. } => "denied",
            RegistryError::Forbidden { .. } => "forbidden",
            RegistryError::UnsupportedAuth { .. } => "unsupported_auth",
            RegistryError::InvalidChallenge { .. } => "invalid_challenge",
            RegistryError::InsecureRealm { .. } => "insecure_realm",
            RegistryError::TokenNotJson { .. } => "token_not_json",
            RegistryError::TokenMissing { .. } => "token_missing",
            RegistryError::TokenServer { .. } => "token_server_error",
            RegistryError::InsecureRedirect { .. } => "insecure_redirect",
            RegistryError::TooLarge { .. } => "response_too_large",
            RegistryError::Stalled { .. } => "stalled",
            RegistryError::Truncated { .. } => "truncated",
            RegistryError::DigestMismatch { .. } => "digest_mismatch",
            RegistryError::IncompleteTags { .. } => "incomplete_tags",
            RegistryError::NotFound { .. } => "not_found",
            RegistryError::RateLimited { .. } => "rate_limited",
            RegistryError::Unavailable { .. } => "unavailable",
            RegistryError::UnexpectedStatus { .. } => "unexpected_status",
            RegistryError::InvalidManifest { .. } => "invalid_manifest",
            RegistryError::InvalidResponse { .. } => "invalid_response",
            RegistryError::PlatformNotFound { .. } => "platform_not_found",
            RegistryError::CrossHostLink { .. } => "cross_host_link",
            RegistryError::TooManyRedirects { .. } => "too_many_redirects",
            RegistryError::InvalidName { .. } => "invalid_reference",
            RegistryError::Config { .. } => "config",
            RegistryError::Credentials(e) => e.code(),
        }
    }

    /// Nothing answered: the network or the registry is down (not a refusal).
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Unreachable { .. } | RegistryError::Timeout { .. } | RegistryError::Stalled { .. } => {
                ErrorKind::NoAnswer
            }
            _ => ErrorKind::Answered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_name_registry_user_and_origin_and_have_codes() {
        let error = RegistryError::AuthRefused {
            registry: "127.0.0.1:5001".into(),
            user: "alice".into(),
            origin: CredentialOrigin::DockerConfig {
                path: "/home/a/.docker/config.json".into(),
            },
        };
        assert_eq!(
            error.to_string(),
            "registry 127.0.0.1:5001 refused the credentials for user alice (from docker config.json); run `tidewatch login 127.0.0.1:5001`"
        );
        assert_eq!(error.code(), "auth_refused");
        let unsupported = RegistryError::UnsupportedAuth {
            registry: "corp".into(),
            schemes: vec!["Negotiate".into(), "Digest".into()],
        };
        assert!(unsupported.to_string().contains("Negotiate, Digest"));
        let json = serde_json::to_value(crate::error::ErrorInfo::of(&unsupported)).unwrap();
        assert_eq!(json["code"], "unsupported_auth");
        assert_eq!(json["message"], unsupported.to_string());
        assert!(!unsupported.to_string().contains("unsupported challenge type"));
    }
}
