//! Registry authentication: `WWW-Authenticate` challenges (RFC 7235) and Bearer tokens
//! (the Docker token protocol: GET with Basic, or OAuth2 POST with a refresh token).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::{RegistryError, RequestKind};
use crate::credentials::{Credential, SecretKind};

/// How long a token lives when the token server does not say (Docker's token spec: 60 s).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// One challenge from a `WWW-Authenticate` header: a scheme (lowercased), its parameters
/// (names lowercased, values unquoted) or a token68.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
    pub token68: Option<String>,
}

impl Challenge {
    /// A parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    /// Bearer's `error` parameter (RFC 6750 §3.1): `invalid_token`, `insufficient_scope`.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }
}

/// Parses every challenge of every `WWW-Authenticate` header, in order.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse_header).collect()
}

/// The challenge to answer: Bearer, then Basic (SPEC §5). `None` when only schemes we do not
/// speak (Negotiate, Digest, …) are offered, or none at all.
pub fn choose(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| c.is_bearer())
        .or_else(|| challenges.iter().find(|c| c.is_basic()))
}

/// Parses one header value. RFC 7235 §4.1: `1#challenge`, where a challenge is
/// `auth-scheme [ 1*SP ( token68 / #auth-param ) ]` and both challenges and params are
/// comma-separated, so a comma does not tell them apart: a token followed by `=` is a parameter,
/// a bare token is a new scheme. Lenient where registries are sloppy: empty list elements,
/// whitespace around `=` (RFC 7235's BWS), unquoted values, unclosed quotes.
fn parse_header(input: &str) -> Vec<Challenge> {
    let chars: Vec<char> = input.chars().collect();
    let mut pos = 0;
    let mut challenges: Vec<Challenge> = Vec::new();
    // Whether the current challenge's scheme was just read, with only whitespace since: a bare
    // token there is a token68 (`Negotiate abc`), not a new scheme.
    let mut after_scheme = false;

    loop {
        let mut saw_comma = false;
        while pos < chars.len() && (chars[pos].is_whitespace() || chars[pos] == ',') {
            saw_comma |= chars[pos] == ',';
            pos += 1;
        }
        if pos >= chars.len() {
            break;
        }
        if saw_comma {
            after_scheme = false;
        }
        if chars[pos] == '"' {
            // A quoted string where a token should be: skip it rather than loop on it.
            let _ = read_quoted(&chars, &mut pos);
            continue;
        }
        if chars[pos] == '=' {
            pos += 1;
            continue;
        }
        let token = read_token(&chars, &mut pos);
        let mut look = pos;
        while look < chars.len() && chars[look].is_whitespace() {
            look += 1;
        }
        if look < chars.len() && chars[look] == '=' {
            let mut equals = 0;
            let mut after = look;
            while after < chars.len() && chars[after] == '=' {
                equals += 1;
                after += 1;
            }
            let mut next = after;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let at_end = next >= chars.len() || chars[next] == ',';
            let current = challenges.last_mut();
            // `Negotiate dG9rZW4=` — a token68 with padding right after the scheme.
            if let (true, Some(c)) = (after_scheme && (equals > 1 || (at_end && look == pos)), current) {
                if c.params.is_empty() && c.token68.is_none() {
                    c.token68 = Some(format!("{token}{}", "=".repeat(equals)));
                    pos = after;
                    after_scheme = false;
                    continue;
                }
            }
            // A parameter: `name BWS = BWS value`.
            pos = look + 1;
            while pos < chars.len() && chars[pos].is_whitespace() {
                pos += 1;
            }
            let value = if pos < chars.len() && chars[pos] == '"' {
                read_quoted(&chars, &mut pos)
            } else {
                read_value(&chars, &mut pos)
            };
            if let Some(c) = challenges.last_mut() {
                c.params.entry(token.to_ascii_lowercase()).or_insert(value);
            }
            after_scheme = false;
        } else if after_scheme {
            if let Some(c) = challenges.last_mut() {
                if c.token68.is_none() && c.params.is_empty() {
                    c.token68 = Some(token);
                }
            }
            after_scheme = false;
        } else {
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                ..Challenge::default()
            });
            after_scheme = true;
        }
    }
    challenges
}

/// A token (or token68 body): up to whitespace, `,`, `=` or `"`.
fn read_token(chars: &[char], pos: &mut usize) -> String {
    let start = *pos;
    while *pos < chars.len() && !chars[*pos].is_whitespace() && !matches!(chars[*pos], ',' | '=' | '"') {
        *pos += 1;
    }
    chars[start..*pos].iter().collect()
}

/// An unquoted parameter value: up to whitespace or `,` (`=` allowed, e.g. base64).
fn read_value(chars: &[char], pos: &mut usize) -> String {
    let start = *pos;
    while *pos < chars.len() && !chars[*pos].is_whitespace() && chars[*pos] != ',' {
        *pos += 1;
    }
    chars[start..*pos].iter().collect()
}

/// A quoted-string (RFC 7230 §3.2.6) starting at `"`, with `\` escapes; an unclosed quote runs
/// to the end of the header.
fn read_quoted(chars: &[char], pos: &mut usize) -> String {
    let mut value = String::new();
    *pos += 1;
    while *pos < chars.len() {
        match chars[*pos] {
            '\\' if *pos + 1 < chars.len() => {
                value.push(chars[*pos + 1]);
                *pos += 2;
            }
            '"' => {
                *pos += 1;
                return value;
            }
            c => {
                value.push(c);
                *pos += 1;
            }
        }
    }
    value
}

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
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub issued_at: Option<String>,
}

/// `expires_in` as a number, a float or a numeric string (all seen in the wild); anything else
/// counts as absent rather than failing the whole token.
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
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
            refresh_at: now + lifetime - refresh_margin(lifetime),
        })
    }
}

/// What is left of a token's life: `expires_in` (default 60 s) minus its age per `issued_at`.
/// An `issued_at` in the future, or older than the whole lifetime, means the clocks disagree;
/// then `issued_at` is ignored rather than refetching a token in a loop.
pub(crate) fn token_lifetime(expires_in: Option<u64>, issued_at: Option<&str>, wall_now: SystemTime) -> Duration {
    let lifetime = expires_in
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
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

/// The scope to ask for when reading a repository.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

impl super::RegistryClient {
    /// A Bearer token for `scopes`: the cached one while fresh, else a new one from the realm.
    pub(crate) async fn token(&self, challenge: &Challenge, scopes: &[String]) -> Result<Token, RegistryError> {
        let key = scopes.join(" ");
        let cached = |client: &Self| {
            super::lock(&client.tokens)
                .get(&key)
                .filter(|t| t.is_fresh(Instant::now()))
                .cloned()
        };
        if let Some(token) = cached(self) {
            return Ok(token);
        }
        // One fetch at a time: concurrent checks of one registry then share the token.
        let _guard = self.token_fetch.lock().await;
        if let Some(token) = cached(self) {
            return Ok(token);
        }
        let token = self.fetch_token(challenge, scopes).await?;
        super::lock(&self.tokens).insert(key, token.clone());
        Ok(token)
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
        headers.insert(AUTHORIZATION, super::basic_header(&credential));
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
        let loopback = url.host_str().is_some_and(super::is_loopback_host);
        if url.scheme() != "https" && !same_plain_host && !loopback {
            return Err(RegistryError::InsecureRealm {
                registry: self.registry.clone(),
                realm: url.to_string(),
            });
        }
        Ok(url)
    }

    async fn fetch_token(&self, challenge: &Challenge, scopes: &[String]) -> Result<Token, RegistryError> {
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
            headers.insert(AUTHORIZATION, super::basic_header(credential));
        }
        let response = self.send(RequestKind::Token, Method::GET, url, headers, None).await?;
        self.read_token(response, &realm, credential.as_ref(), &repository)
            .await
    }

    async fn read_token(
        &self,
        response: reqwest::Response,
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
        let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
        let not_json = || RegistryError::TokenNotJson {
            registry: self.registry.clone(),
            realm: realm_text.clone(),
            status: status.as_u16(),
            content_type: content_type.clone(),
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| not_json())?;
        if !value.is_object() {
            return Err(not_json());
        }
        let parsed: TokenResponse = serde_json::from_value(value).map_err(|_| RegistryError::TokenMissing {
            registry: self.registry.clone(),
            realm: realm_text.clone(),
        })?;
        let (now, wall_now) = super::now();
        parsed
            .into_token(now, wall_now)
            .ok_or_else(|| RegistryError::TokenMissing {
                registry: self.registry.clone(),
                realm: realm_text,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Vec<Challenge> {
        parse_challenges([header])
    }

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_string(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            token68: None,
        }
    }

    // SPEC §5's vectors.

    #[test]
    fn docker_hub_bearer_has_realm_and_service() {
        assert_eq!(
            one(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#),
            vec![challenge(
                "bearer",
                &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io")
                ]
            )]
        );
    }

    #[test]
    fn uppercase_basic_scheme_is_basic() {
        let parsed = one(r#"BASIC realm="Sonatype Nexus Repository Manager""#);
        assert_eq!(
            parsed,
            vec![challenge("basic", &[("realm", "Sonatype Nexus Repository Manager")])]
        );
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn quay_offers_basic_and_bearer_in_one_header_and_bearer_wins() {
        let parsed = one(r#"Basic realm="quay.io", Bearer realm="https://quay.io/v2/auth",service="quay.io""#);
        assert_eq!(
            parsed,
            vec![
                challenge("basic", &[("realm", "quay.io")]),
                challenge(
                    "bearer",
                    &[("realm", "https://quay.io/v2/auth"), ("service", "quay.io")]
                ),
            ]
        );
        assert!(choose(&parsed).unwrap().is_bearer());
    }

    #[test]
    fn empty_param_is_kept_and_quoted_scope_with_commas_stays_whole() {
        let parsed = one(r#"Bearer realm="R",empty="",service="S",scope="repository:a/b:pull,push""#);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].params.len(), 4);
        assert_eq!(parsed[0].param("empty"), Some(""));
        assert_eq!(parsed[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn negotiate_and_basic_in_two_headers_use_basic() {
        let parsed = parse_challenges(["Negotiate", r#"Basic realm="x""#]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].scheme, "negotiate");
        assert_eq!(choose(&parsed).unwrap(), &challenge("basic", &[("realm", "x")]));
    }

    #[test]
    fn lowercase_scheme_and_spaces_around_equals() {
        assert_eq!(
            one(r#"bearer  realm = "https://x/token" , service="x""#),
            vec![challenge("bearer", &[("realm", "https://x/token"), ("service", "x")])]
        );
    }

    #[test]
    fn no_header_means_no_challenge() {
        assert!(parse_challenges(Vec::<&str>::new()).is_empty());
        assert!(one("").is_empty());
        assert!(choose(&[]).is_none());
    }

    // Real registries.

    #[test]
    fn docker_hub_insufficient_scope_carries_the_scope_and_error() {
        let parsed = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull",error="insufficient_scope""#,
        );
        assert_eq!(parsed[0].error(), Some("insufficient_scope"));
        assert_eq!(parsed[0].param("scope"), Some("repository:library/nginx:pull"));
    }

    #[test]
    fn docker_hub_invalid_token_error() {
        let parsed =
            one(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",error="invalid_token""#);
        assert_eq!(parsed[0].error(), Some("invalid_token"));
    }

    #[test]
    fn ghcr_bearer_with_scope() {
        let parsed =
            one(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#);
        assert_eq!(parsed[0].param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(parsed[0].param("service"), Some("ghcr.io"));
        assert_eq!(parsed[0].param("scope"), Some("repository:user/image:pull"));
    }

    #[test]
    fn gcr_bearer() {
        let parsed = one(r#"Bearer realm="https://gcr.io/v2/token",service="gcr.io""#);
        assert_eq!(parsed[0].param("realm"), Some("https://gcr.io/v2/token"));
    }

    #[test]
    fn artifact_registry_bearer() {
        let parsed = one(
            r#"Bearer realm="https://europe-west1-docker.pkg.dev/v2/token",service="europe-west1-docker.pkg.dev",scope="repository:p/r/i:pull""#,
        );
        assert_eq!(parsed[0].params.len(), 3);
    }

    #[test]
    fn ecr_private_answers_basic_with_a_service_param() {
        let parsed =
            one(r#"Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#);
        assert!(choose(&parsed).unwrap().is_basic());
        assert_eq!(parsed[0].param("service"), Some("ecr.amazonaws.com"));
    }

    #[test]
    fn ecr_public_bearer_with_trailing_slash_realm() {
        let parsed = one(r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws""#);
        assert_eq!(parsed[0].param("realm"), Some("https://public.ecr.aws/token/"));
        assert_eq!(parsed[0].param("scope"), Some("aws"));
    }

    #[test]
    fn acr_oauth2_realm() {
        let parsed = one(r#"Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io""#);
        assert_eq!(parsed[0].param("service"), Some("myacr.azurecr.io"));
    }

    #[test]
    fn gitlab_jwt_realm_and_service_name() {
        let parsed = one(r#"Bearer realm="https://gitlab.com/jwt/auth",service="container_registry""#);
        assert_eq!(parsed[0].param("realm"), Some("https://gitlab.com/jwt/auth"));
        assert_eq!(parsed[0].param("service"), Some("container_registry"));
    }

    #[test]
    fn harbor_token_service() {
        let parsed = one(r#"Bearer realm="https://harbor.example.com/service/token",service="harbor-registry""#);
        assert_eq!(parsed[0].param("service"), Some("harbor-registry"));
    }

    #[test]
    fn nexus_bearer_realm_as_service() {
        let parsed =
            one(r#"Bearer realm="https://nexus.example.com/v2/token",service="https://nexus.example.com/v2/token""#);
        assert_eq!(parsed[0].param("service"), Some("https://nexus.example.com/v2/token"));
    }

    #[test]
    fn artifactory_sends_basic_and_bearer_in_separate_headers() {
        let parsed = parse_challenges([
            r#"Basic realm="Artifactory Realm""#,
            r#"Bearer realm="https://acme.jfrog.io/artifactory/api/docker/docker-remote/v2/token",service="acme.jfrog.io""#,
        ]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(choose(&parsed).unwrap().param("service"), Some("acme.jfrog.io"));
    }

    #[test]
    fn gitea_codeberg_wildcard_scope() {
        let parsed = one(r#"Bearer realm="https://codeberg.org/v2/token",service="container_registry",scope="*""#);
        assert_eq!(parsed[0].param("scope"), Some("*"));
    }

    #[test]
    fn distribution_htpasswd_basic() {
        assert_eq!(
            one(r#"Basic realm="basic-realm""#),
            vec![challenge("basic", &[("realm", "basic-realm")])]
        );
    }

    #[test]
    fn negotiate_with_token68_and_padding() {
        let parsed = one("Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu==");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].token68.as_deref(), Some("YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu=="));
        assert!(choose(&parsed).is_none());
    }

    #[test]
    fn token68_without_padding_followed_by_another_challenge() {
        let parsed = one(r#"Negotiate abc123, Basic realm="r""#);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].token68.as_deref(), Some("abc123"));
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn digest_challenge_with_spaces_after_commas() {
        let parsed = one(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        );
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].scheme, "digest");
        assert_eq!(parsed[0].param("qop"), Some("auth,auth-int"));
        assert_eq!(parsed[0].params.len(), 4);
        assert!(choose(&parsed).is_none());
    }

    #[test]
    fn escaped_quotes_in_quoted_string() {
        let parsed = one(r#"Bearer realm="https://x/token",service="a \"quoted\" \\ svc""#);
        assert_eq!(parsed[0].param("service"), Some(r#"a "quoted" \ svc"#));
    }

    #[test]
    fn unclosed_quote_runs_to_the_end() {
        let parsed = one(r#"Bearer service="s",realm="https://x/token"#);
        assert_eq!(parsed[0].param("realm"), Some("https://x/token"));
        assert_eq!(parsed[0].param("service"), Some("s"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        let parsed = one(r#", ,Bearer realm="r",, service="s",,"#);
        assert_eq!(parsed, vec![challenge("bearer", &[("realm", "r"), ("service", "s")])]);
    }

    #[test]
    fn unquoted_values() {
        let parsed = one("Bearer realm=https://x.example/token,service=x.example");
        assert_eq!(
            parsed,
            vec![challenge(
                "bearer",
                &[("realm", "https://x.example/token"), ("service", "x.example")]
            )]
        );
    }

    #[test]
    fn mixed_case_parameter_names_are_lowercased() {
        let parsed = one(r#"bEaReR ReAlM="https://x/token",SERVICE="x""#);
        assert_eq!(parsed[0].scheme, "bearer");
        assert_eq!(parsed[0].param("Realm"), Some("https://x/token"));
        assert_eq!(parsed[0].param("service"), Some("x"));
    }

    #[test]
    fn tabs_are_whitespace() {
        let parsed = one("Bearer\trealm=\"r\",\tservice=\"s\"");
        assert_eq!(parsed[0].params.len(), 2);
    }

    #[test]
    fn bare_scheme_then_scheme_with_params() {
        let parsed = one(r#"Negotiate, NTLM, Basic realm="corp""#);
        let schemes: Vec<&str> = parsed.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "ntlm", "basic"]);
    }

    #[test]
    fn rfc_7235_newauth_example_in_one_header() {
        // RFC 7235 §4.1's example, which browsers famously got wrong in a single header.
        let parsed = one(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#);
        assert_eq!(
            parsed,
            vec![
                challenge(
                    "newauth",
                    &[("realm", "apps"), ("type", "1"), ("title", r#"Login to "apps""#)]
                ),
                challenge("basic", &[("realm", "simple")]),
            ]
        );
        assert!(choose(&parsed).unwrap().is_basic());
    }

    #[test]
    fn bearer_after_negotiate_and_ntlm_in_one_header() {
        let parsed = one(r#"Negotiate, NTLM, Bearer realm="https://corp.example/token",service="corp""#);
        assert_eq!(parsed.len(), 3);
        assert_eq!(choose(&parsed).unwrap().param("service"), Some("corp"));
    }

    #[test]
    fn first_duplicate_param_wins() {
        let parsed = one(r#"Bearer realm="first",realm="second""#);
        assert_eq!(parsed[0].param("realm"), Some("first"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for input in [
            "=",
            "==,==",
            "\"",
            "Bearer =",
            "Bearer realm=",
            "a b c d",
            ",,,",
            "\"x\" Bearer",
            "Bearer realm=\"\\",
        ] {
            let _ = one(input);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn quote(value: &str) -> String {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }

        proptest! {
            #[test]
            fn parser_never_panics(input in "\\PC{0,80}") {
                let _ = parse_challenges([input.as_str()]);
            }

            #[test]
            fn formatted_challenges_parse_back(
                challenges in proptest::collection::vec(
                    (
                        "[A-Za-z][A-Za-z0-9-]{0,8}",
                        proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[ -~]{0,16}", 0..4),
                    ),
                    1..4,
                ),
                spaces in "[ \t]{0,2}",
            ) {
                let header = challenges
                    .iter()
                    .map(|(scheme, params)| {
                        let params: Vec<String> = params
                            .iter()
                            .map(|(k, v)| format!("{k}{spaces}={spaces}{}", quote(v)))
                            .collect();
                        format!("{scheme} {}", params.join(&format!(",{spaces}")))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let parsed = parse_challenges([header.as_str()]);
                prop_assert_eq!(parsed.len(), challenges.len(), "{}", header);
                for (got, (scheme, params)) in parsed.iter().zip(&challenges) {
                    prop_assert_eq!(&got.scheme, &scheme.to_ascii_lowercase());
                    prop_assert_eq!(&got.params, params, "{}", header);
                }
            }
        }
    }

    fn realm_of(registry: &str, realm: &str) -> Result<Url, RegistryError> {
        let client = super::super::RegistryClient::new(registry, Default::default()).unwrap();
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
        let no_realm = super::super::RegistryClient::new("ghcr.io", Default::default())
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
        assert_eq!(odd.expires_in, Some(300));
        assert_eq!(odd.issued_at, None);
        let float: TokenResponse = serde_json::from_str(r#"{"token":"t4","expires_in":299.5}"#).unwrap();
        assert_eq!(float.expires_in, Some(299));
        let none: TokenResponse = serde_json::from_str(r#"{"expires_in":300}"#).unwrap();
        assert!(none.into_token(now, wall).is_none());
    }

    #[test]
    fn token_lifetime_defaults_to_60_seconds_and_subtracts_issued_age() {
        let wall = humantime::parse_rfc3339("2024-05-01T10:00:30Z").unwrap();
        assert_eq!(token_lifetime(None, None, wall), Duration::from_secs(60));
        assert_eq!(token_lifetime(Some(0), None, wall), Duration::from_secs(60));
        assert_eq!(token_lifetime(Some(300), None, wall), Duration::from_secs(300));
        assert_eq!(
            token_lifetime(Some(300), Some("2024-05-01T10:00:00Z"), wall),
            Duration::from_secs(270)
        );
        // Fractional seconds as Docker Hub sends them.
        assert_eq!(
            token_lifetime(Some(300), Some("2024-05-01T10:00:00.000000000Z"), wall),
            Duration::from_secs(270)
        );
        // Clock skew: issued in the future, or long ago; trust expires_in alone.
        assert_eq!(
            token_lifetime(Some(300), Some("2024-05-01T11:00:00Z"), wall),
            Duration::from_secs(300)
        );
        assert_eq!(
            token_lifetime(Some(300), Some("2024-05-01T09:00:00Z"), wall),
            Duration::from_secs(300)
        );
        assert_eq!(
            token_lifetime(Some(300), Some("yesterday"), wall),
            Duration::from_secs(300)
        );
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
