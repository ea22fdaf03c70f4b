//! Bearer tokens (the Docker token protocol: GET with Basic, or OAuth2 POST with a refresh
//! token): fetching them from the realm, how long they live, and the per-scope cache.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::{basic_header, Challenge};
use crate::credentials::{Credential, SecretKind};
use crate::registry::bounds::{clamp_seconds, instant_after, MAX_TOKEN_BYTES, TOKEN_LIFETIME_BOUNDS};
use crate::registry::{is_loopback_host, lock, RegistryClient, RegistryError, Reply, RequestKind};

/// How long a token lives when the token server does not say (Docker's token spec: 60 s).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A Bearer token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    pub value: String,
    /// When to fetch a new one: before the real expiry, so a token does not expire in flight.
    pub refresh_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"***")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl Token {
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

/// The token server's JSON answer. Docker's servers send `token`, OAuth2 ones `access_token`
/// (Docker Hub sends both).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<f64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub issued_at: Option<String>,
}

/// `expires_in` as a number, a float or a numeric string (all seen in the wild); anything else
/// counts as absent rather than failing the whole token. Bounds are applied in `token_lifetime`.
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.as_str().map(str::to_string))
}

impl TokenResponse {
    /// The token and its refresh time; `None` when the answer holds no token.
    pub(crate) fn into_token(self, now: Instant, wall_now: SystemTime) -> Option<Token> {
        let value = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let lifetime = token_lifetime(self.expires_in, self.issued_at.as_deref(), wall_now);
        Some(Token {
            value,
            refresh_at: instant_after(now, lifetime - refresh_margin(lifetime)),
        })
    }
}

/// What is left of a token's life: `expires_in` (default 60 s) minus its age per `issued_at`.
/// An `issued_at` in the future, or older than the whole lifetime, means the clocks disagree;
/// then `issued_at` is ignored rather than refetching a token in a loop.
/// `expires_in` is clamped to 60 s–24 h first: a server's absurd or negative number never reaches
/// time arithmetic.
pub(crate) fn token_lifetime(expires_in: Option<f64>, issued_at: Option<&str>, wall_now: SystemTime) -> Duration {
    let lifetime =
        clamp_seconds(expires_in.filter(|s| *s > 0.0), TOKEN_LIFETIME_BOUNDS).unwrap_or(DEFAULT_TOKEN_LIFETIME);
    let age = issued_at
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok())
        .and_then(|issued| wall_now.duration_since(issued).ok());
    match age {
        Some(age) if age < lifetime => lifetime - age,
        _ => lifetime,
    }
}

/// Refresh a tenth of the lifetime early, at most 10 s early.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(10))
}

impl RegistryClient {
    /// A Bearer token for `scopes`: the cached one while fresh, else a new one from the realm.
    pub(crate) async fn token(&self, challenge: &Challenge, scopes: &[String]) -> Result<Token, RegistryError> {
        let key = scopes.join(" ");
        let cached = |client: &Self| {
            lock(&client.tokens)
                .get(&key)
                .filter(|t| t.is_fresh(Instant::now()))
                .cloned()
        };
        if let Some(token) = cached(self) {
            return Ok(token);
        }
        // One fetch at a time per scope: concurrent requests for one repository share its token.
        let fetch = lock(&self.token_fetches).entry(key.clone()).or_default().clone();
        let _guard = fetch.lock().await;
        if let Some(token) = cached(self) {
            return Ok(token);
        }
        let token = self.fetch_token(challenge, scopes).await?;
        lock(&self.tokens).insert(key, token.clone());
        Ok(token)
    }

    /// The realm's URL, refusing a plain-HTTP realm on another host (credentials would travel
    /// in clear to a third party) unless it is loopback.
    fn realm_url(&self, challenge: &Challenge) -> Result<Url, RegistryError> {
        let realm = challenge
            .param("realm")
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| RegistryError::InvalidChallenge {
                registry: self.registry.clone(),
                reason: "a Bearer challenge without a realm".into(),
            })?;
        let url = self
            .endpoint
            .join(realm.trim())
            .map_err(|e| RegistryError::InvalidChallenge {
                registry: self.registry.clone(),
                reason: format!("the realm {realm:?} is not a URL: {e}"),
            })?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(RegistryError::InvalidChallenge {
                registry: self.registry.clone(),
                reason: format!("the realm {url} is not HTTP(S)"),
            });
        }
        // Plain HTTP only where the registry itself is plain HTTP on the same host, or loopback.
        let same_plain_host = self.endpoint.scheme() == "http"
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default();
        let loopback = url.host_str().is_some_and(is_loopback_host);
        if url.scheme() != "https" && !same_plain_host && !loopback {
            return Err(RegistryError::InsecureRealm {
                registry: self.registry.clone(),
                realm: url.to_string(),
            });
        }
        Ok(url)
    }

    pub(super) async fn fetch_token(&self, challenge: &Challenge, scopes: &[String]) -> Result<Token, RegistryError> {
        let realm = self.realm_url(challenge)?;
        // For messages: the repository of the first `repository:<name>:<actions>` scope.
        let repository = scopes
            .iter()
            .find_map(|s| s.strip_prefix("repository:"))
            .and_then(|s| s.rsplit_once(':'))
            .map(|(name, _)| name.to_string())
            .unwrap_or_default();
        let service = challenge.param("service").filter(|s| !s.is_empty());
        let credential = self.credential().await?;

        if let Some(credential) = credential.as_ref().filter(|c| c.kind == SecretKind::IdentityToken) {
            // OAuth2 refresh-token grant (what `docker login` stores as identitytoken); servers
            // without the OAuth2 endpoint answer 400/401/404/405, and then the GET flow is tried.
            // Built in its own scope: the serializer is not Send and must not live across an await.
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", credential.secret.expose());
                form.append_pair("client_id", "tidewatch");
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                form.finish()
            };
            let response = self
                .send(
                    RequestKind::Token,
                    Method::POST,
                    realm.clone(),
                    HeaderMap::new(),
                    Some(("application/x-www-form-urlencoded", body)),
                )
                .await?;
            let status = response.status().as_u16();
            if !matches!(status, 400 | 401 | 404 | 405) {
                return self.read_token(response, &realm, Some(credential), &repository).await;
            }
            tracing::debug!(registry = %self.registry, status, "OAuth2 token endpoint refused; trying GET");
            drop(response);
        }

        let mut url = realm.clone();
        {
            let mut query = url.query_pairs_mut();
            // Only when given: some token servers reject an empty service.
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut headers = HeaderMap::new();
        if let Some(credential) = &credential {
            headers.insert(AUTHORIZATION, basic_header(credential));
        }
        let response = self.send(RequestKind::Token, Method::GET, url, headers, None).await?;
        self.read_token(response, &realm, credential.as_ref(), &repository)
            .await
    }

    async fn read_token(
        &self,
        response: Reply,
        realm: &Url,
        credential: Option<&Credential>,
        repository: &str,
    ) -> Result<Token, RegistryError> {
        let status = response.status();
        let realm_text = realm.as_str().to_string();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(match credential {
                Some(credential) => RegistryError::AuthRefused {
                    registry: self.registry.clone(),
                    user: credential.display_user().to_string(),
                    origin: credential.origin.clone(),
                },
                // Anonymous tokens refused: this registry wants a login for everything.
                None => RegistryError::AuthRequired {
                    registry: self.registry.clone(),
                    repository: repository.to_string(),
                },
            });
        }
        if !status.is_success() {
            return Err(RegistryError::TokenServer {
                registry: self.registry.clone(),
                realm: realm_text,
                status: status.as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        let bytes = response.body(self, MAX_TOKEN_BYTES, "a token").await?;
        let not_json = || RegistryError::TokenNotJson {
            registry: self.registry.clone(),
            realm: realm_text.clone(),
            status: status.as_u16(),
            content_type: content_type.clone(),
        };
        let (now, wall_now) = now();
        match parse_token_body(&bytes, now, wall_now) {
            Err(TokenBodyError::NotJson) => Err(not_json()),
            Err(TokenBodyError::NoToken) => Err(RegistryError::TokenMissing {
                registry: self.registry.clone(),
                realm: realm_text,
            }),
            Ok(token) => Ok(token),
        }
    }
}

/// Why a token server's body gave no token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenBodyError {
    NotJson,
    NoToken,
}

/// A token server's body (already size-capped) read into a token: a JSON object holding
/// `token` or `access_token`, its lifetime clamped.
pub(crate) fn parse_token_body(bytes: &[u8], now: Instant, wall_now: SystemTime) -> Result<Token, TokenBodyError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| TokenBodyError::NotJson)?;
    if !value.is_object() {
        return Err(TokenBodyError::NotJson);
    }
    let parsed: TokenResponse = serde_json::from_value(value).map_err(|_| TokenBodyError::NoToken)?;
    parsed.into_token(now, wall_now).ok_or(TokenBodyError::NoToken)
}

/// Time source for token expiry, kept in one place.
pub(crate) fn now() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Coded;

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            token68: None,
        }
    }

    fn realm_of(registry: &str, realm: &str) -> Result<Url, RegistryError> {
        let client = RegistryClient::new(registry, Default::default()).unwrap();
        client.realm_url(&challenge("bearer", &[("realm", realm)]))
    }

    #[test]
    fn realm_must_be_https_unless_same_plain_host_or_loopback() {
        assert!(realm_of("ghcr.io", "https://ghcr.io/token").is_ok());
        assert!(realm_of("docker.io", "https://auth.docker.io/token").is_ok());
        assert!(realm_of("127.0.0.1:5000", "http://127.0.0.1:5001/token").is_ok());
        assert!(realm_of("127.0.0.1:5000", "http://localhost:5001/token").is_ok());
        assert_eq!(
            realm_of("127.0.0.1:5000", "/token").unwrap().as_str(),
            "http://127.0.0.1:5000/token"
        );
        for (registry, realm) in [
            ("ghcr.io", "http://auth.example.com/token"),
            // Same host but a downgrade from the registry's HTTPS.
            ("ghcr.io", "http://ghcr.io/token"),
            ("127.0.0.1:5000", "http://auth.example.com/token"),
        ] {
            let error = realm_of(registry, realm).unwrap_err();
            assert_eq!(error.code(), "insecure_realm", "{registry} {realm}");
        }
        assert_eq!(
            realm_of("ghcr.io", "ftp://ghcr.io/token").unwrap_err().code(),
            "invalid_challenge"
        );
        let no_realm = RegistryClient::new("ghcr.io", Default::default())
            .unwrap()
            .realm_url(&challenge("bearer", &[("service", "x")]))
            .unwrap_err();
        assert_eq!(no_realm.code(), "invalid_challenge");
    }

    #[test]
    fn token_accepts_token_or_access_token() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let a: TokenResponse = serde_json::from_str(r#"{"token":"t1"}"#).unwrap();
        assert_eq!(a.into_token(now, wall).unwrap().value, "t1");
        let b: TokenResponse = serde_json::from_str(r#"{"access_token":"t2","expires_in":300}"#).unwrap();
        assert_eq!(b.into_token(now, wall).unwrap().value, "t2");
        let odd: TokenResponse = serde_json::from_str(r#"{"token":"t3","expires_in":"300","issued_at":12}"#).unwrap();
        assert_eq!(odd.expires_in, Some(300.0));
        assert_eq!(odd.issued_at, None);
        let float: TokenResponse = serde_json::from_str(r#"{"token":"t4","expires_in":299.5}"#).unwrap();
        assert_eq!(float.expires_in, Some(299.5));
        let none: TokenResponse = serde_json::from_str(r#"{"expires_in":300}"#).unwrap();
        assert!(none.into_token(now, wall).is_none());
    }

    #[test]
    fn token_lifetime_defaults_to_60_seconds_and_subtracts_issued_age() {
        let wall = humantime::parse_rfc3339("2024-05-01T10:00:30Z").unwrap();
        assert_eq!(token_lifetime(None, None, wall), Duration::from_secs(60));
        assert_eq!(token_lifetime(Some(0.0), None, wall), Duration::from_secs(60));
        assert_eq!(token_lifetime(Some(300.0), None, wall), Duration::from_secs(300));
        assert_eq!(
            token_lifetime(Some(300.0), Some("2024-05-01T10:00:00Z"), wall),
            Duration::from_secs(270)
        );
        // Fractional seconds as Docker Hub sends them.
        assert_eq!(
            token_lifetime(Some(300.0), Some("2024-05-01T10:00:00.000000000Z"), wall),
            Duration::from_secs(270)
        );
        // Clock skew: issued in the future, or long ago; trust expires_in alone.
        assert_eq!(
            token_lifetime(Some(300.0), Some("2024-05-01T11:00:00Z"), wall),
            Duration::from_secs(300)
        );
        assert_eq!(
            token_lifetime(Some(300.0), Some("2024-05-01T09:00:00Z"), wall),
            Duration::from_secs(300)
        );
        assert_eq!(
            token_lifetime(Some(300.0), Some("yesterday"), wall),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn absurd_or_negative_lifetimes_are_clamped_and_never_panic() {
        let now = Instant::now();
        let wall = SystemTime::now();
        for (body, lifetime) in [
            (r#"{"token":"t","expires_in":18446744073709551615}"#, 24 * 3600),
            (r#"{"token":"t","expires_in":1e30}"#, 24 * 3600),
            (r#"{"token":"t","expires_in":"1e300"}"#, 24 * 3600),
            (r#"{"token":"t","expires_in":-5}"#, 60),
            (r#"{"token":"t","expires_in":-1e30}"#, 60),
            (r#"{"token":"t","expires_in":1}"#, 60),
            (r#"{"token":"t","expires_in":"NaN"}"#, 60),
            (
                r#"{"token":"t","expires_in":300,"issued_at":"0001-01-01T00:00:00Z"}"#,
                300,
            ),
            (
                r#"{"token":"t","expires_in":300,"issued_at":"9999-12-31T23:59:59Z"}"#,
                300,
            ),
        ] {
            let response: TokenResponse = serde_json::from_str(body).unwrap();
            let token = response.into_token(now, wall).unwrap();
            let life = Duration::from_secs(lifetime);
            assert_eq!(token.refresh_at, now + life - refresh_margin(life), "{body}");
        }
    }

    #[test]
    fn token_is_refreshed_before_it_expires() {
        let now = Instant::now();
        let response: TokenResponse = serde_json::from_str(r#"{"token":"t","expires_in":300}"#).unwrap();
        let token = response.into_token(now, SystemTime::now()).unwrap();
        assert!(token.is_fresh(now + Duration::from_secs(289)));
        assert!(!token.is_fresh(now + Duration::from_secs(291)));
        assert!(!format!("{token:?}").contains("\"t\""));
    }
}
