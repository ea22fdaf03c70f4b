//! Bounds on what a registry sends, in one place: server-provided durations clamped, bodies read
//! under a running size cap while the in-flight permit is held (docs/reliability.md).

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

use super::{RegistryClient, RegistryError};

/// Largest token response read (real ones are a few KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest tag-list page read (1,000 tags of 128 characters fit in well under this).
pub const MAX_TAG_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Largest manifest read (real ones are a few KiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest error body read, for a message.
pub const MAX_ERROR_BYTES: usize = 16 * 1024;

/// Shortest and longest token lifetime believed (docs/registry-auth.md#token-lifetime).
pub const TOKEN_LIFETIME_BOUNDS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(24 * 3600));

/// A server-provided duration clamped into `bounds`. Seconds may come as any JSON number or text:
/// negative, NaN or absent are `None` (the caller's default applies), absurdly large is the top.
pub fn clamp_seconds(seconds: Option<f64>, bounds: (Duration, Duration)) -> Option<Duration> {
    let seconds = seconds.filter(|s| s.is_finite() && *s >= 0.0)?;
    let (low, high) = bounds;
    let clamped = seconds.clamp(low.as_secs_f64(), high.as_secs_f64());
    Some(Duration::from_secs_f64(clamped))
}

/// `instant + duration`, or the latest representable instant not past it: never a panic on a
/// duration that came from outside.
pub fn instant_after(instant: Instant, duration: Duration) -> Instant {
    instant
        .checked_add(duration)
        // A year is representable on every platform we run on.
        .or_else(|| instant.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(instant)
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as a wait from `now`.
/// Unbounded here; the caller compares it with its own longest wait.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A registry's answer, with the in-flight permit it was sent under: the permit is released
/// only when the body has been read (or the answer dropped), so a slow body still counts.
pub struct Reply {
    response: Response,
    _permit: Option<super::limiter::Permit>,
    /// The request carried credentials (Basic or Bearer).
    pub(crate) authenticated: bool,
}

impl Reply {
    pub(crate) fn new(response: Response, permit: Option<super::limiter::Permit>) -> Reply {
        Reply {
            response,
            _permit: permit,
            authenticated: false,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// A header as text, when it is text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The body, read chunk by chunk and abandoned as soon as it passes `cap` bytes (a declared
    /// Content-Length beyond it fails before reading anything). `what` names it in the error.
    pub(crate) async fn body(
        mut self,
        client: &RegistryClient,
        cap: usize,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            registry: client.registry.clone(),
            what: what.to_string(),
            limit: cap,
        };
        if self.response.content_length().is_some_and(|length| length > cap as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = self.response.chunk().await.map_err(|e| client.body_error(e, what))? {
            if body.len().saturating_add(chunk.len()) > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_clamped_and_junk_is_absent() {
        let bounds = TOKEN_LIFETIME_BOUNDS;
        assert_eq!(clamp_seconds(Some(300.0), bounds), Some(Duration::from_secs(300)));
        assert_eq!(clamp_seconds(Some(1.0), bounds), Some(Duration::from_secs(60)));
        assert_eq!(clamp_seconds(Some(1e30), bounds), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(
            clamp_seconds(Some(u64::MAX as f64), bounds),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(clamp_seconds(Some(f64::INFINITY), bounds), None);
        assert_eq!(clamp_seconds(Some(f64::NAN), bounds), None);
        assert_eq!(clamp_seconds(Some(-5.0), bounds), None);
        assert_eq!(clamp_seconds(None, bounds), None);
    }

    /// A server on 127.0.0.1 answering every request with a small JSON body, counting requests.
    async fn counting_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    if socket.read(&mut buffer).await.unwrap_or(0) == 0 {
                        return;
                    }
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = "{}";
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                });
            }
        });
        (host, count)
    }

    #[tokio::test]
    async fn a_reply_holds_its_in_flight_permit_until_its_body_is_read() {
        use std::sync::atomic::Ordering;
        let (host, count) = counting_server().await;
        let client = std::sync::Arc::new(
            RegistryClient::new(
                &host,
                super::super::RegistrySettings {
                    max_in_flight: 1,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let url = client.url("/v2/").unwrap();
        let send = |client: std::sync::Arc<RegistryClient>, url: url::Url| async move {
            client
                .send(
                    super::super::RequestKind::Get,
                    reqwest::Method::GET,
                    url,
                    HeaderMap::new(),
                    None,
                )
                .await
        };
        let first = send(client.clone(), url.clone()).await.unwrap();
        let second = tokio::spawn(send(client.clone(), url.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "a second request went out while a body was unread"
        );
        let body = first.body(&client, 1024, "a test body").await.unwrap();
        assert_eq!(body, b"{}");
        second.await.unwrap().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_past_its_cap_is_refused_while_streaming() {
        let (host, _) = counting_server().await;
        let client = RegistryClient::new(&host, Default::default()).unwrap();
        let url = client.url("/v2/").unwrap();
        let reply = client
            .send(
                super::super::RequestKind::Get,
                reqwest::Method::GET,
                url,
                HeaderMap::new(),
                None,
            )
            .await
            .unwrap();
        let error = reply.body(&client, 1, "a test body").await.unwrap_err();
        assert!(matches!(error, RegistryError::TooLarge { limit: 1, .. }), "{error}");
    }

    #[test]
    fn instant_arithmetic_never_overflows() {
        let now = Instant::now();
        assert_eq!(instant_after(now, Duration::from_secs(5)), now + Duration::from_secs(5));
        let far = instant_after(now, Duration::MAX);
        assert!(far > now);
    }
}
