//! Sending one logical request to a registry: counted, paced by the registry's limiter,
//! redirects followed by hand, 429/503 retried with backoff, Docker Hub's rate-limit headers
//! recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use url::Url;

use super::bounds::{retry_after, Reply};
use super::limiter::Pace;
use super::{lock, RegistryClient, RegistryError};

/// Redirects followed per request (registries redirect blobs to CDNs, rarely manifests).
const MAX_REDIRECTS: usize = 5;

/// What a request was for, to count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Ping,
    Token,
    Head,
    Get,
    Tags,
}

/// Requests made to a registry (and its token server), by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub ping: u64,
    pub token: u64,
    pub head: u64,
    pub get: u64,
    pub tags: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.ping + self.token + self.head + self.get + self.tags
    }
}

impl std::ops::Add for RequestCounts {
    type Output = RequestCounts;

    fn add(self, other: RequestCounts) -> RequestCounts {
        RequestCounts {
            ping: self.ping + other.ping,
            token: self.token + other.token,
            head: self.head + other.head,
            get: self.get + other.get,
            tags: self.tags + other.tags,
        }
    }
}

/// The live counts behind `RequestCounts`, atomic because requests run concurrently.
#[derive(Default)]
pub(super) struct Counters {
    ping: AtomicU64,
    token: AtomicU64,
    head: AtomicU64,
    get: AtomicU64,
    tags: AtomicU64,
}

impl Counters {
    fn add(&self, kind: RequestKind) {
        let counter = match kind {
            RequestKind::Ping => &self.ping,
            RequestKind::Token => &self.token,
            RequestKind::Head => &self.head,
            RequestKind::Get => &self.get,
            RequestKind::Tags => &self.tags,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            ping: self.ping.load(Ordering::Relaxed),
            token: self.token.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            tags: self.tags.load(Ordering::Relaxed),
        }
    }
}

/// Docker Hub's pull quota as its last answer reported it (`ratelimit-limit: 100;w=21600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// The quota's window (`w=` seconds).
    pub window: Option<Duration>,
}

impl RegistryClient {
    /// Requests made so far, by kind (retries and redirects count: they are real requests).
    pub fn request_counts(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// Docker Hub's quota as last reported (`None` for registries that do not report one).
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *lock(&self.rate_limit)
    }

    /// `repository:reference` is not on this registry (a tag its complete tag list lacks).
    pub(crate) fn not_found(&self, repository: &str, reference: &str) -> RegistryError {
        RegistryError::NotFound {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            reference: reference.to_string(),
        }
    }

    /// The error for a non-success answer on `repository` (`reference` for manifests). A 403 is
    /// worded by what the request carried: a refusal of our credentials only when we sent them.
    pub(crate) async fn status_error(&self, reply: &Reply, repository: &str, reference: Option<&str>) -> RegistryError {
        let status = reply.status();
        let what = match reference {
            Some(reference) => format!("the manifest of {repository}:{reference}"),
            None => format!("the tag list of {repository}"),
        };
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                registry: self.registry.clone(),
                repository: repository.to_string(),
                reference: reference.unwrap_or("(tags)").to_string(),
            },
            StatusCode::FORBIDDEN => {
                let credential = self.credential().await.ok().flatten();
                match credential {
                    Some(credential) if reply.authenticated => RegistryError::Denied {
                        registry: self.registry.clone(),
                        repository: repository.to_string(),
                        user: credential.display_user().to_string(),
                        origin: credential.origin,
                    },
                    // The registry never challenged, so nothing was sent: a login would not help
                    // (docs/registry-auth.md#403-without-a-challenge).
                    credential => RegistryError::Forbidden {
                        registry: self.registry.clone(),
                        repository: repository.to_string(),
                        unsent_user: credential.map(|c| c.display_user().to_string()),
                    },
                }
            }
            StatusCode::TOO_MANY_REQUESTS => RegistryError::RateLimited {
                registry: self.registry.clone(),
                retry_after: None,
            },
            s if s.is_server_error() => RegistryError::Unavailable {
                registry: self.registry.clone(),
                status: s.as_u16(),
            },
            s => RegistryError::UnexpectedStatus {
                registry: self.registry.clone(),
                status: s.as_u16(),
                what,
            },
        }
    }

    /// The error for a body that broke off or stalled after its headers arrived.
    pub(crate) fn body_error(&self, error: reqwest::Error, what: &str) -> RegistryError {
        if error.is_timeout() {
            return RegistryError::Stalled {
                registry: self.registry.clone(),
                what: what.to_string(),
                timeout: self.settings.timeout,
            };
        }
        let reason = match self.transport_error(error) {
            RegistryError::Unreachable { reason, .. } => reason,
            other => other.to_string(),
        };
        RegistryError::Truncated {
            registry: self.registry.clone(),
            what: what.to_string(),
            reason,
        }
    }

    pub(crate) fn transport_error(&self, error: reqwest::Error) -> RegistryError {
        if error.is_timeout() {
            return RegistryError::Timeout {
                registry: self.registry.clone(),
                timeout: self.settings.timeout,
            };
        }
        // The chain of causes says what failed (DNS, refused, TLS); reqwest's own text would add
        // the URL, and a token server's query string is nobody's business.
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let reason = if causes.is_empty() {
            error.without_url().to_string()
        } else {
            causes.join(": ")
        };
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            reason,
        }
    }

    /// One logical request: counted, with a timeout, redirects followed by hand (Authorization
    /// dropped when leaving the host), 429/503 retried per `Retry-After` with bounded backoff
    /// while the registry's limiter backs off (docs/registry-auth.md#rate-limits-and-unavailable-registries).
    pub(crate) async fn send(
        &self,
        kind: RequestKind,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<(&'static str, String)>,
    ) -> Result<Reply, RegistryError> {
        let mut attempt: u32 = 0;
        loop {
            let response = self
                .send_following_redirects(kind, method.clone(), url.clone(), headers.clone(), body.clone())
                .await?;
            let status = response.status();
            if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers(), SystemTime::now());
            let backoff = self
                .settings
                .retry_base
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(self.settings.max_retry_wait);
            // Docker Hub's pull quota: with nothing remaining, waiting seconds will not help.
            let quota_exhausted = status == StatusCode::TOO_MANY_REQUESTS
                && retry_after.is_none()
                && self.rate_limit().is_some_and(|r| r.remaining == Some(0));
            let too_long = retry_after.is_some_and(|wait| wait > self.settings.max_retry_wait);
            self.limiter.observe(match retry_after {
                Some(wait) if too_long => Pace::GoAway { retry_after: wait },
                retry_after => Pace::SlowDown { retry_after },
            });
            if attempt >= self.settings.max_retries || too_long || quota_exhausted {
                return Err(self.slow_down_error(status, retry_after));
            }
            let wait = retry_after.unwrap_or(backoff);
            tracing::info!(registry = %self.registry, %status, wait_ms = wait.as_millis() as u64, "registry asked to slow down; retrying");
            // The permit goes back while waiting. A `Retry-After` holds every request to this
            // registry (the limiter waits it out); without one, only this request backs off.
            drop(response);
            if retry_after.is_none() {
                tokio::time::sleep(wait).await;
            }
            attempt += 1;
        }
    }

    fn slow_down_error(&self, status: StatusCode, retry_after: Option<Duration>) -> RegistryError {
        if status == StatusCode::TOO_MANY_REQUESTS {
            RegistryError::RateLimited {
                registry: self.registry.clone(),
                retry_after,
            }
        } else {
            RegistryError::Unavailable {
                registry: self.registry.clone(),
                status: status.as_u16(),
            }
        }
    }

    async fn send_following_redirects(
        &self,
        kind: RequestKind,
        mut method: Method,
        mut url: Url,
        mut headers: HeaderMap,
        mut body: Option<(&'static str, String)>,
    ) -> Result<Reply, RegistryError> {
        let origin = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some((content_type, text)) = &body {
                request = request.header(CONTENT_TYPE, *content_type).body(text.clone());
            }
            // Held until the body is read (`Reply`): a slow body is still a request in flight.
            let permit = self
                .limiter
                .acquire()
                .await
                .map_err(|left| RegistryError::RateLimited {
                    registry: self.registry.clone(),
                    retry_after: Some(left),
                })?;
            self.counters.add(kind);
            let permit = Some(permit);
            let response = request.send().await.map_err(|e| self.transport_error(e))?;
            self.record_rate_limit(response.headers());
            // The registry itself (not its token realm or a CDN) multiplexes its requests.
            if response.version() == reqwest::Version::HTTP_2 && response.url().origin() == self.endpoint.origin() {
                self.limiter
                    .multiplexed(self.settings.max_in_flight_http2.clamp(1, super::MAX_IN_FLIGHT_CEILING));
            }
            if !matches!(
                response.status(),
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                self.limiter.observe(Pace::Fine);
            }
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
                return Ok(Reply::new(response, permit));
            }
            let Some(location) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()) else {
                return Ok(Reply::new(response, permit));
            };
            let next = url.join(location).map_err(|e| RegistryError::InvalidResponse {
                registry: self.registry.clone(),
                what: "a redirect".into(),
                reason: format!("its Location is not a URL: {e}"),
            })?;
            let becomes_get = matches!(
                response.status(),
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) && method == Method::POST;
            if becomes_get {
                method = Method::GET;
                body = None;
            }
            if !same_origin(&origin, &next) {
                // A body (an OAuth2 refresh token) is never re-sent to another origin, nor from
                // HTTPS to HTTP: that would hand a credential to whoever answers there.
                if body.is_some() {
                    return Err(RegistryError::InsecureRedirect {
                        registry: self.registry.clone(),
                        location: origin_of(&next),
                    });
                }
                // Credentials are for this registry only (a CDN must not see them).
                headers.remove(AUTHORIZATION);
            }
            url = next;
        }
        Err(RegistryError::TooManyRedirects {
            registry: self.registry.clone(),
        })
    }

    fn record_rate_limit(&self, headers: &HeaderMap) {
        let parse = |name: &str| -> Option<(u64, Option<Duration>)> {
            let value = headers.get(name)?.to_str().ok()?;
            let mut parts = value.split(';');
            let number = parts.next()?.trim().parse().ok()?;
            let window = parts
                .filter_map(|p| p.trim().strip_prefix("w="))
                .find_map(|w| w.trim().parse().ok())
                .map(Duration::from_secs);
            Some((number, window))
        };
        let limit = parse("ratelimit-limit");
        let remaining = parse("ratelimit-remaining");
        if limit.is_none() && remaining.is_none() {
            return;
        }
        // A tenth of the quota left: go on slowly rather than spend it in one burst.
        if let (Some((limit, _)), Some((remaining, _))) = (limit, remaining) {
            if remaining.saturating_mul(10) <= limit {
                self.limiter.observe(Pace::QuotaLow);
            }
        }
        *lock(&self.rate_limit) = Some(RateLimit {
            limit: limit.map(|l| l.0),
            remaining: remaining.map(|r| r.0),
            window: limit.and_then(|l| l.1).or(remaining.and_then(|r| r.1)),
        });
    }
}

/// Same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host:port` of a URL, for messages (no path or query: they may carry tokens).
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::registry::RegistrySettings;

    #[test]
    fn retry_after_seconds_and_http_date() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(7)));
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn docker_hub_rate_limit_headers_are_read() {
        let client = RegistryClient::new("docker.io", RegistrySettings::default()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-limit", HeaderValue::from_static("100;w=21600"));
        headers.insert("ratelimit-remaining", HeaderValue::from_static("76;w=21600"));
        client.record_rate_limit(&headers);
        assert_eq!(
            client.rate_limit(),
            Some(RateLimit {
                limit: Some(100),
                remaining: Some(76),
                window: Some(Duration::from_secs(21600)),
            })
        );
    }
}
