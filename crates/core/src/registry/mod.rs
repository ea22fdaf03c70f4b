//! The registry client: Registry HTTP API v2 / OCI distribution over reqwest, one client per
//! registry host, holding that registry's ping result, token cache and request counts.

pub mod auth;
pub mod bounds;
mod error;
mod limiter;
pub mod manifest;
pub mod pool;
pub mod tags;
mod transport;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::credentials::{registry_key, Credential, CredentialProvider};
use crate::docker_hub;
use auth::{Challenge, Token};
use transport::Counters;

pub use bounds::{retry_after, Reply};
pub use error::RegistryError;
pub use manifest::{Manifest, ManifestContent, ManifestDigest, PlatformManifest};
pub use pool::RegistryPool;
pub use tags::TagList;
pub use transport::{RateLimit, RequestCounts, RequestKind};

/// Requests in flight per registry unless the configuration says otherwise, over HTTP/1.1 (a
/// connection each): enough to keep a 50 ms link busy (a check of 200 repositories then takes
/// four round trips of tag lists), and still a small fraction of what one browser page asks.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// The same once the registry answers over HTTP/2, where they share one connection: a check of
/// 200 repositories then takes one round trip of tag lists.
pub const DEFAULT_MAX_IN_FLIGHT_HTTP2: usize = 256;

/// The most `max_in_flight` may be set to.
pub const MAX_IN_FLIGHT_CEILING: usize = 256;

/// Per-registry settings (docs/config.md#registries, plus limits).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Plain HTTP (loopback registries always may use it, as Docker allows).
    pub insecure: bool,
    /// An extra CA certificate (PEM) to trust for this registry.
    pub ca_cert: Option<PathBuf>,
    /// Limit for each request, connection to last byte.
    pub timeout: Duration,
    /// `n` asked for per tag-list page.
    pub tag_page_size: usize,
    /// Pages read at most per tag listing.
    pub max_tag_pages: usize,
    /// Retries after 429/503.
    pub max_retries: u32,
    /// Longest single wait before a retry; a `Retry-After` beyond it fails at once.
    pub max_retry_wait: Duration,
    /// First backoff when a 429/503 has no `Retry-After`; doubled per retry.
    pub retry_base: Duration,
    /// Requests in flight at once to this registry while it answers well: where the limit starts
    /// and the most it grows back to after backing off (docs/registry-auth.md#concurrency-and-backing-off).
    pub max_in_flight: usize,
    /// The same once the registry answers over HTTP/2 (one multiplexed connection).
    pub max_in_flight_http2: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            insecure: false,
            ca_cert: None,
            timeout: Duration::from_secs(30),
            tag_page_size: 1000,
            // 200,000 tags at 1,000 a page; a longer list is reported incomplete, never guessed.
            max_tag_pages: 200,
            max_retries: 3,
            max_retry_wait: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_in_flight_http2: DEFAULT_MAX_IN_FLIGHT_HTTP2,
        }
    }
}

/// A client for one registry. Cheap to share (`Arc`); all caches are inside.
pub struct RegistryClient {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5001`).
    registry: String,
    /// Where its API lives (`https://registry-1.docker.io`).
    endpoint: Url,
    http: reqwest::Client,
    settings: RegistrySettings,
    provider: Option<Arc<dyn CredentialProvider>>,
    credential: tokio::sync::OnceCell<Option<Credential>>,
    /// The challenges `GET /v2/` answered (empty: anonymous), once per client.
    ping: tokio::sync::OnceCell<Vec<Challenge>>,
    /// Challenges learnt later from a 401 (a registry whose `/v2/` is open but repositories not).
    learnt: Mutex<Option<Vec<Challenge>>>,
    /// Bearer tokens by the scopes they were issued for.
    tokens: Mutex<HashMap<String, Token>>,
    /// One token fetch at a time per set of scopes, so concurrent requests share one token
    /// while different repositories fetch theirs side by side.
    token_fetches: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Scopes a registry asked for beyond `pull` (`insufficient_scope`), per repository.
    extra_scopes: Mutex<HashMap<String, BTreeSet<String>>>,
    counters: Counters,
    rate_limit: Mutex<Option<RateLimit>>,
    limiter: Arc<limiter::Limiter>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

/// Whether a host (no port) is loopback: `localhost`, 127.0.0.0/8, `::1`, and a `*.localhost`
/// name only when it resolves to loopback addresses alone (RFC 6761 lets resolvers differ, and
/// plain HTTP or a plain-HTTP token realm is allowed for loopback).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    host.to_ascii_lowercase().ends_with(".localhost") && resolves_to_loopback_only(host)
}

fn resolves_to_loopback_only(host: &str) -> bool {
    use std::net::ToSocketAddrs as _;
    match (host, 0).to_socket_addrs() {
        Ok(addresses) => {
            let addresses: Vec<_> = addresses.collect();
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// The API endpoint for a registry name: Docker Hub is served by `registry-1.docker.io`;
/// `insecure` registries use plain HTTP, and so do loopback ones unless a `ca_cert` is set for
/// them (a CA to trust says the registry speaks TLS). A name given as a URL (engines report
/// `registry-mirrors` that way) keeps its scheme.
pub fn endpoint_for(registry: &str, settings: &RegistrySettings) -> Result<Url, String> {
    let trimmed = registry.trim();
    let (explicit_scheme, name) = match trimmed.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (Some(scheme), rest),
        Some((scheme, _)) => {
            return Err(format!(
                "{trimmed:?} is not a registry host: {scheme}:// is not HTTP(S)"
            ))
        }
        None => (None, trimmed),
    };
    let host = if docker_hub::is_docker_hub(&registry_key(name)) {
        docker_hub::API_HOST.to_string()
    } else {
        name.split('/').next().unwrap_or_default().to_string()
    };
    if host.is_empty() {
        return Err(format!("{trimmed:?} is not a registry host"));
    }
    let probe = Url::parse(&format!("http://{host}/")).map_err(|e| format!("{host:?} is not a registry host: {e}"))?;
    let loopback = probe.host_str().is_some_and(is_loopback_host);
    let scheme = match explicit_scheme {
        Some(scheme) => scheme,
        None if settings.insecure => "http",
        None if loopback && settings.ca_cert.is_none() => "http",
        None => "https",
    };
    Url::parse(&format!("{scheme}://{host}/")).map_err(|e| format!("{host:?} is not a registry host: {e}"))
}

impl RegistryClient {
    /// A client for `registry` (as references name it), anonymous until credentials are given.
    pub fn new(registry: &str, settings: RegistrySettings) -> Result<Self, RegistryError> {
        crate::init_crypto();
        let config_error = |reason: String| RegistryError::Config {
            registry: registry.to_string(),
            reason,
        };
        let endpoint = endpoint_for(registry, &settings).map_err(config_error)?;
        let max_in_flight = settings.max_in_flight.clamp(1, MAX_IN_FLIGHT_CEILING);
        let mut builder = reqwest::Client::builder()
            // Redirects are followed by hand so Authorization never reaches another host.
            .redirect(reqwest::redirect::Policy::none())
            // Every connection a full limiter opened stays for the next round of requests (HTTP/2
            // registries, negotiated over TLS, need only one).
            .pool_max_idle_per_host(max_in_flight)
            .tcp_nodelay(true)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tidewatch/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| config_error(format!("cannot read CA certificate {}: {e}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| config_error(format!("CA certificate {} is not PEM: {e}", path.display())))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| config_error(format!("cannot build an HTTP client: {e}")))?;
        Ok(RegistryClient {
            registry: registry.to_string(),
            endpoint,
            http,
            provider: None,
            credential: tokio::sync::OnceCell::new(),
            ping: tokio::sync::OnceCell::new(),
            learnt: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            token_fetches: Mutex::new(HashMap::new()),
            extra_scopes: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            rate_limit: Mutex::new(None),
            limiter: Arc::new(limiter::Limiter::new(max_in_flight)),
            settings,
        })
    }

    /// Uses this credential (and no provider).
    pub fn with_credential(self, credential: Credential) -> Self {
        let cell = tokio::sync::OnceCell::new();
        let _ = cell.set(Some(credential));
        RegistryClient {
            credential: cell,
            provider: None,
            ..self
        }
    }

    /// Asks `provider` for this registry's credential the first time one is needed.
    pub fn with_provider(self, provider: Arc<dyn CredentialProvider>) -> Self {
        RegistryClient {
            provider: Some(provider),
            credential: tokio::sync::OnceCell::new(),
            ..self
        }
    }

    /// The base URL requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The URL of `/v2/<repository>/<rest>`, refusing names that would escape that path
    /// (`..`, `?`, `#`, `%`): they come from container labels and configs, not only from us.
    pub(crate) fn repository_url(
        &self,
        repository: &str,
        rest: &str,
        reference: Option<&str>,
    ) -> Result<Url, RegistryError> {
        let invalid = |name: &str| RegistryError::InvalidName {
            registry: self.registry.clone(),
            name: name.to_string(),
        };
        let repository_ok = !repository.is_empty()
            && repository.split('/').all(|s| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            });
        if !repository_ok {
            return Err(invalid(repository));
        }
        if let Some(reference) = reference {
            let reference_ok = !reference.is_empty()
                && !reference.starts_with(['.', '-'])
                && reference
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:+-".contains(c));
            if !reference_ok {
                return Err(invalid(reference));
            }
        }
        self.url(&format!("/v2/{repository}/{rest}"))
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.endpoint.join(path).map_err(|e| RegistryError::Config {
            registry: self.registry.clone(),
            reason: format!("cannot build a URL for {path}: {e}"),
        })
    }
}

/// Keeps going when a thread panicked while holding a lock: the caches stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> RegistrySettings {
        RegistrySettings::default()
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                endpoint_for(name, &plain()).unwrap().as_str(),
                "https://registry-1.docker.io/"
            );
        }
        assert_eq!(endpoint_for("ghcr.io", &plain()).unwrap().as_str(), "https://ghcr.io/");
    }

    #[test]
    fn loopback_registries_use_plain_http() {
        for (name, expected) in [
            ("127.0.0.1:5001", "http://127.0.0.1:5001/"),
            ("127.3.4.5:80", "http://127.3.4.5/"),
            ("localhost:5000", "http://localhost:5000/"),
            ("[::1]:5000", "http://[::1]:5000/"),
            ("registry.corp:5000", "https://registry.corp:5000/"),
            ("10.0.0.1:5000", "https://10.0.0.1:5000/"),
        ] {
            assert_eq!(endpoint_for(name, &plain()).unwrap().as_str(), expected, "{name}");
        }
        let insecure = RegistrySettings {
            insecure: true,
            ..plain()
        };
        assert_eq!(
            endpoint_for("registry.corp:5000", &insecure).unwrap().as_str(),
            "http://registry.corp:5000/"
        );
        assert_eq!(
            endpoint_for("https://mirror.example.com/", &plain()).unwrap().as_str(),
            "https://mirror.example.com/"
        );
        assert_eq!(
            endpoint_for("http://mirror.corp:5000", &plain()).unwrap().as_str(),
            "http://mirror.corp:5000/"
        );
        assert!(endpoint_for("ftp://x", &plain()).is_err());
        assert!(endpoint_for("", &plain()).is_err());
        assert!(endpoint_for("bad host", &plain()).is_err());
    }

    #[test]
    fn a_loopback_registry_with_a_ca_certificate_speaks_tls() {
        let with_ca = RegistrySettings {
            ca_cert: Some("/lab/ca.pem".into()),
            ..plain()
        };
        assert_eq!(
            endpoint_for("127.0.0.1:5443", &with_ca).unwrap().as_str(),
            "https://127.0.0.1:5443/"
        );
        let both = RegistrySettings {
            insecure: true,
            ..with_ca
        };
        assert_eq!(
            endpoint_for("127.0.0.1:5443", &both).unwrap().as_str(),
            "http://127.0.0.1:5443/",
            "insecure = true means plain HTTP whatever else is set"
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.255.0.9", "[::1]", "::1", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "128.0.0.1", "localhost.example.com", "[::2]"] {
            assert!(!is_loopback_host(host), "{host}");
        }
        // A `*.localhost` name is loopback exactly when this machine resolves it only to loopback.
        let resolved = resolves_to_loopback_only("tidewatch-test.localhost");
        assert_eq!(is_loopback_host("tidewatch-test.localhost"), resolved);
    }
}
