//! Registry authentication in one place: the `/v2/` ping and the challenges learnt later, the
//! credential, the Authorization header each request carries, and the one retry after a 401.

mod challenge;
mod token;

use std::collections::BTreeSet;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::credentials::Credential;
use crate::registry::{lock, RegistryClient, RegistryError, Reply, RequestKind};
pub use challenge::{choose, parse_challenges, Challenge};
pub(crate) use token::parse_token_body;
pub use token::{Token, DEFAULT_TOKEN_LIFETIME};

/// What a request carried, to word a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthUsed {
    Anonymous,
    Basic,
    Bearer,
}

/// The scope to ask for when reading a repository.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

impl RegistryClient {
    /// The credential for this registry, asked of the provider once.
    pub(crate) async fn credential(&self) -> Result<Option<Credential>, RegistryError> {
        let credential = self
            .credential
            .get_or_try_init(|| async {
                let Some(provider) = self.provider.clone() else {
                    return Ok(None);
                };
                let registry = self.registry.clone();
                // Providers may block (keyring D-Bus calls, credential helper processes).
                tokio::task::spawn_blocking(move || provider.credential_for(&registry))
                    .await
                    .unwrap_or(Ok(None))
                    .map_err(RegistryError::from)
            })
            .await?;
        Ok(credential.clone())
    }

    /// `GET /v2/` once: its challenges, or none when the registry is open.
    async fn ping(&self) -> Result<Vec<Challenge>, RegistryError> {
        let challenges = self
            .ping
            .get_or_try_init(|| async {
                let url = self.url("/v2/")?;
                let response = self
                    .send(RequestKind::Ping, Method::GET, url, HeaderMap::new(), None)
                    .await?;
                let status = response.status();
                if status == StatusCode::UNAUTHORIZED {
                    return Ok::<_, RegistryError>(challenges_of(&response));
                }
                if !status.is_success() {
                    // Some proxies answer /v2/ oddly but serve repositories; the real request
                    // will say what is wrong.
                    tracing::debug!(registry = %self.registry, %status, "unexpected answer to GET /v2/");
                }
                Ok(Vec::new())
            })
            .await?;
        Ok(lock(&self.learnt).clone().unwrap_or_else(|| challenges.clone()))
    }

    fn scopes_for(&self, repository: &str) -> Vec<String> {
        let mut scopes = BTreeSet::from([pull_scope(repository)]);
        if let Some(extra) = lock(&self.extra_scopes).get(repository) {
            scopes.extend(extra.iter().cloned());
        }
        scopes.into_iter().collect()
    }

    /// The Authorization header for a request on `repository`, per the registry's challenge.
    async fn authorization(
        &self,
        challenges: &[Challenge],
        scopes: &[String],
    ) -> Result<(Option<HeaderValue>, AuthUsed), RegistryError> {
        match choose(challenges) {
            Some(challenge) if challenge.is_bearer() => {
                let token = self.token(challenge, scopes).await?;
                let value = HeaderValue::from_str(&format!("Bearer {}", token.value)).map_err(|_| {
                    RegistryError::InvalidResponse {
                        registry: self.registry.clone(),
                        what: "a token".into(),
                        reason: "it holds characters not allowed in a header".into(),
                    }
                })?;
                Ok((Some(sensitive(value)), AuthUsed::Bearer))
            }
            Some(_) => match self.credential().await? {
                Some(credential) => Ok((Some(basic_header(&credential)), AuthUsed::Basic)),
                None => Ok((None, AuthUsed::Anonymous)),
            },
            None => Ok((None, AuthUsed::Anonymous)),
        }
    }

    /// Sends a request on `repository`, authenticating as the registry asks, and answering one
    /// 401 (expired or under-scoped token, a challenge learnt late) with one retry.
    pub(crate) async fn send_authenticated(
        &self,
        kind: RequestKind,
        method: Method,
        url: Url,
        repository: &str,
        accept: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let mut retried = false;
        loop {
            let challenges = self.ping().await?;
            let scopes = self.scopes_for(repository);
            let (authorization, used) = self.authorization(&challenges, &scopes).await?;
            let mut headers = HeaderMap::new();
            if let Some(accept) = accept {
                headers.insert(
                    ACCEPT,
                    HeaderValue::from_str(accept).unwrap_or(HeaderValue::from_static("*/*")),
                );
            }
            if let Some(value) = authorization {
                headers.insert(AUTHORIZATION, value);
            }
            let mut response = self.send(kind, method.clone(), url.clone(), headers, None).await?;
            response.authenticated = used != AuthUsed::Anonymous;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            // RFC 7235 §3.1 says a 401 carries a challenge; some registries omit it on
            // repository requests, and then the ping's challenge is the one that applies.
            let fresh = challenges_of(&response);
            drop(response);
            let offered = if fresh.is_empty() { challenges.clone() } else { fresh };
            let chosen = choose(&offered).cloned();
            let Some(chosen) = chosen else {
                return Err(self.unauthorized(&offered, used, repository).await);
            };
            // Basic cannot get better by retrying: same credential, or none to offer.
            let basic_hopeless = chosen.is_basic() && (used == AuthUsed::Basic || self.credential().await?.is_none());
            if retried || basic_hopeless {
                return Err(self.unauthorized(&offered, used, repository).await);
            }
            retried = true;
            if chosen.is_bearer() {
                if chosen.error() == Some("insufficient_scope") {
                    if let Some(scope) = chosen.param("scope") {
                        // Several scopes may come space-separated (Docker's token spec). Only
                        // `pull` is ever asked for: a registry cannot talk us into requesting
                        // push or admin rights with the user's credential.
                        let wanted: Vec<String> = scope
                            .split_whitespace()
                            .filter_map(pull_only)
                            .filter(|s| *s != pull_scope(repository))
                            .collect();
                        if !wanted.is_empty() {
                            lock(&self.extra_scopes)
                                .entry(repository.to_string())
                                .or_default()
                                .extend(wanted);
                        }
                    }
                }
                // invalid_token, an expired token or a token minted before a permission change:
                // drop it so the retry fetches a new one.
                lock(&self.tokens).remove(&scopes.join(" "));
            }
            if used == AuthUsed::Anonymous || challenges != offered {
                *lock(&self.learnt) = Some(offered);
            }
        }
    }

    /// The error for a final 401.
    async fn unauthorized(&self, offered: &[Challenge], used: AuthUsed, repository: &str) -> RegistryError {
        if choose(offered).is_none() && !offered.is_empty() {
            let mut schemes: Vec<String> = offered.iter().map(|c| scheme_name(&c.scheme)).collect();
            schemes.dedup();
            return RegistryError::UnsupportedAuth {
                registry: self.registry.clone(),
                schemes,
            };
        }
        let credential = self.credential().await.ok().flatten();
        match (used, credential) {
            (AuthUsed::Basic, Some(credential)) => RegistryError::AuthRefused {
                registry: self.registry.clone(),
                user: credential.display_user().to_string(),
                origin: credential.origin,
            },
            (AuthUsed::Bearer, Some(credential)) => RegistryError::Denied {
                registry: self.registry.clone(),
                repository: repository.to_string(),
                user: credential.display_user().to_string(),
                origin: credential.origin,
            },
            _ => RegistryError::AuthRequired {
                registry: self.registry.clone(),
                repository: repository.to_string(),
            },
        }
    }

    /// Whether the registry accepts this client's credential, as `docker login` checks it: a
    /// token without any scope (Bearer) or `GET /v2/` with it (Basic). For `tidewatch login`, so a
    /// typo is caught before it is stored. An open registry accepts anything.
    pub async fn check_credentials(&self) -> Result<(), RegistryError> {
        let challenges = self.ping().await?;
        let Some(challenge) = choose(&challenges) else {
            return Ok(());
        };
        if challenge.is_bearer() {
            return self.fetch_token(challenge, &[]).await.map(|_| ());
        }
        let Some(credential) = self.credential().await? else {
            return Err(RegistryError::AuthRequired {
                registry: self.registry.clone(),
                repository: "anything".into(),
            });
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, basic_header(&credential));
        let url = self.url("/v2/")?;
        let response = self.send(RequestKind::Ping, Method::GET, url, headers, None).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RegistryError::AuthRefused {
                registry: self.registry.clone(),
                user: credential.display_user().to_string(),
                origin: credential.origin.clone(),
            }),
            status => Err(RegistryError::UnexpectedStatus {
                registry: self.registry.clone(),
                status: status.as_u16(),
                what: "GET /v2/ with credentials".into(),
            }),
        }
    }
}

/// `repository:<name>:<actions>` narrowed to `pull` when its actions include it; any other scope
/// (push only, `registry:catalog:*`, `*`) is not asked for.
pub fn pull_only(scope: &str) -> Option<String> {
    let (resource, actions) = scope.rsplit_once(':')?;
    let (kind, name) = resource.split_once(':')?;
    let pulls = actions.split(',').any(|a| a.trim() == "pull");
    (kind == "repository" && !name.is_empty() && pulls).then(|| format!("repository:{name}:pull"))
}

fn challenges_of(response: &Reply) -> Vec<Challenge> {
    parse_challenges(
        response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// A scheme as registries spell it, for messages (`negotiate` -> `Negotiate`).
fn scheme_name(scheme: &str) -> String {
    let mut chars = scheme.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

pub(crate) fn basic_header(credential: &Credential) -> HeaderValue {
    let raw = format!("{}:{}", credential.username, credential.secret.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    // Base64 is always a valid header value.
    sensitive(HeaderValue::from_str(&format!("Basic {encoded}")).unwrap_or(HeaderValue::from_static("Basic")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insufficient_scope_is_narrowed_to_pull() {
        assert_eq!(pull_only("repository:app:pull").as_deref(), Some("repository:app:pull"));
        assert_eq!(
            pull_only("repository:app:pull,push").as_deref(),
            Some("repository:app:pull")
        );
        assert_eq!(
            pull_only("repository:lib/base:push,pull").as_deref(),
            Some("repository:lib/base:pull")
        );
        for scope in [
            "repository:app:push",
            "repository:app:*",
            "registry:catalog:*",
            "*",
            "",
            "repository::pull",
        ] {
            assert_eq!(pull_only(scope), None, "{scope}");
        }
    }
}
