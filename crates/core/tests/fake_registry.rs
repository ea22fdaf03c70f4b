//! The registry client against a scripted fake registry, for what real registries do not show on
//! demand: rate limits, broken pagination, odd challenges, broken token servers, HEAD refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tidewatch_core::credentials::{Credential, CredentialOrigin};
use tidewatch_core::error::Coded as _;
use tidewatch_core::platform::Platform;
use tidewatch_core::registry::{RegistryClient, RegistryError, RegistrySettings, RequestCounts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SENTINEL: &str = "s3ntinel-PASSWORD-do-not-leak";
const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn query(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or_default();
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Reply {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn json(self, body: &str) -> Self {
        self.header("Content-Type", "application/json").body(body)
    }
}

type Handler = Arc<dyn Fn(&Request, &str) -> Reply + Send + Sync>;

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 that logs every request.
struct Fake {
    /// `127.0.0.1:PORT`, the registry name to give the client.
    host: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    async fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let base = format!("http://{host}");
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let server_log = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (handler, log, base) = (handler.clone(), server_log.clone(), base.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    log.lock().unwrap().push(request.clone());
                    let reply = handler(&request, &base);
                    let mut head = format!("HTTP/1.1 {} Fake\r\nConnection: close\r\n", reply.status);
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
                    let _ = socket.write_all(head.as_bytes()).await;
                    if request.method != "HEAD" {
                        let _ = socket.write_all(&reply.body).await;
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Fake { host, log }
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    fn client(&self, settings: RegistrySettings) -> RegistryClient {
        RegistryClient::new(&self.host, settings).unwrap()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn fast_settings() -> RegistrySettings {
    RegistrySettings {
        timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(50),
        ..RegistrySettings::default()
    }
}

fn counts(ping: u64, token: u64, head: u64, get: u64, tags: u64) -> RequestCounts {
    RequestCounts {
        ping,
        token,
        head,
        get,
        tags,
    }
}

fn manifest_head(digest: &str) -> Reply {
    reply(200)
        .header("Docker-Content-Digest", digest)
        .header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
}

/// A Bearer registry whose token server lives at `/token` on the same fake; `token_reply` makes
/// the token server's answer, `authorized` says whether a registry request's Authorization passes.
fn bearer_registry(
    token_reply: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    authorized: impl Fn(Option<&str>, &Request) -> Result<(), Reply> + Send + Sync + 'static,
) -> impl Fn(&Request, &str) -> Reply + Send + Sync + 'static {
    let issued = AtomicUsize::new(0);
    move |request, base| {
        let challenge = format!(r#"Bearer realm="{base}/token",service="fake""#);
        match request.path() {
            "/v2/" => reply(401).header("WWW-Authenticate", &challenge),
            "/token" => token_reply(request, issued.fetch_add(1, Ordering::SeqCst) + 1),
            _ => match authorized(request.header("authorization"), request) {
                Ok(()) => manifest_head(DIGEST_A),
                Err(refusal) => refusal,
            },
        }
    }
}

fn token_json(token: &str, expires_in: u64) -> Reply {
    reply(200).json(&format!(r#"{{"token":"{token}","expires_in":{expires_in}}}"#))
}

#[tokio::test]
async fn rate_limited_request_waits_for_retry_after_then_succeeds() {
    let calls = AtomicUsize::new(0);
    let fake = Fake::start(move |request, _| match request.path() {
        "/v2/" => reply(200),
        _ if calls.fetch_add(1, Ordering::SeqCst) == 0 => reply(429).header("Retry-After", "1"),
        _ => manifest_head(DIGEST_A),
    })
    .await;
    let client = fake.client(fast_settings());
    let started = Instant::now();
    let digest = client.manifest_digest("library/app", "1.0").await.unwrap();
    assert_eq!(digest.digest, DIGEST_A);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(client.request_counts(), counts(1, 0, 2, 0, 0));
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_at_once_as_rate_limited() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(429).header("Retry-After", "3600"),
    })
    .await;
    let client = fake.client(fast_settings());
    let started = Instant::now();
    let error = client.manifest_digest("library/app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "rate_limited", "{error}");
    assert!(error.to_string().contains("3600s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn service_unavailable_is_retried_with_backoff_and_bounded() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(503),
    })
    .await;
    let settings = RegistrySettings {
        max_retries: 2,
        ..fast_settings()
    };
    let client = fake.client(settings);
    let error = client.manifest_digest("library/app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "unavailable", "{error}");
    assert_eq!(client.request_counts().head, 3);
}

#[tokio::test]
async fn tag_pages_are_followed_and_a_repeated_link_stops_listing() {
    let fake = Fake::start(|request, _| {
        let last = request.query().into_iter().find(|(k, _)| k == "last").map(|(_, v)| v);
        match (request.path(), last.as_deref()) {
            ("/v2/", _) => reply(200),
            ("/v2/app/tags/list", None) => reply(200)
                .header("Link", r#"</v2/app/tags/list?n=2&last=b>; rel="next""#)
                .json(r#"{"name":"app","tags":["a","b"]}"#),
            // Links back to the first page: a loop.
            ("/v2/app/tags/list", Some("b")) => reply(200)
                .header("Link", r#"</v2/app/tags/list?n=1000>; rel="next""#)
                .json(r#"{"name":"app","tags":["c"]}"#),
            _ => reply(404),
        }
    })
    .await;
    let client = fake.client(fast_settings());
    let list = client.list_tags("app").await.unwrap();
    assert_eq!(list.tags, ["a", "b", "c"]);
    assert_eq!(list.pages, 2);
    assert!(list.cut.is_some(), "{list:?}");
    assert_eq!(client.request_counts().tags, 2);
    // `n` is asked for, and the relative link was resolved against the request URL.
    let targets: Vec<String> = fake.requests().iter().map(|r| r.target.clone()).collect();
    assert!(targets.contains(&"/v2/app/tags/list?n=1000".to_string()), "{targets:?}");
    assert!(
        targets.contains(&"/v2/app/tags/list?n=2&last=b".to_string()),
        "{targets:?}"
    );
}

#[tokio::test]
async fn tag_link_to_another_host_is_refused() {
    let fake = Fake::start(|request, base| {
        // Same server, other host name: the client must not follow it.
        let other = base.replace("127.0.0.1", "localhost");
        match request.path() {
            "/v2/" => reply(200),
            _ => reply(200)
                .header("Link", &format!(r#"<{other}/v2/app/tags/list?last=b>; rel="next""#))
                .json(r#"{"name":"app","tags":["a","b"]}"#),
        }
    })
    .await;
    let client = fake.client(fast_settings());
    let error = client.list_tags("app").await.unwrap_err();
    assert!(matches!(error, RegistryError::CrossHostLink { .. }), "{error:?}");
    assert_eq!(error.code(), "cross_host_link");
    assert!(error.to_string().contains("localhost"), "{error}");
    assert_eq!(client.request_counts().tags, 1);
}

#[tokio::test]
async fn tag_listing_stops_at_the_page_cap() {
    let fake = Fake::start(|request, _| {
        let page: usize = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "last")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        match request.path() {
            "/v2/" => reply(200),
            _ => reply(200)
                .header("Link", &format!(r#"</v2/app/tags/list?last={}>; rel="next""#, page + 1))
                .json(&format!(r#"{{"name":"app","tags":["t{page}"]}}"#)),
        }
    })
    .await;
    let settings = RegistrySettings {
        max_tag_pages: 3,
        ..fast_settings()
    };
    let client = fake.client(settings);
    let list = client.list_tags("app").await.unwrap();
    assert_eq!(list.tags, ["t0", "t1", "t2"]);
    assert!(list.cut.is_some(), "{list:?}");
}

#[tokio::test]
async fn null_tag_list_is_empty() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(200).json(r#"{"name":"app","tags":null}"#),
    })
    .await;
    let list = fake.client(fast_settings()).list_tags("app").await.unwrap();
    assert!(list.tags.is_empty());
    assert_eq!(list.cut, None);
}

#[tokio::test]
async fn negotiate_only_registry_is_tried_anonymously_and_the_error_names_the_scheme() {
    let fake = Fake::start(|_, _| reply(401).header("WWW-Authenticate", "Negotiate")).await;
    let client = fake.client(fast_settings());
    let error = client.manifest_digest("corp/app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "unsupported_auth", "{error}");
    let message = error.to_string();
    assert!(message.contains("Negotiate"), "{message}");
    assert!(!message.contains("unsupported challenge type"), "{message}");
    // The manifest request went out without credentials.
    let head = fake.requests().into_iter().find(|r| r.method == "HEAD").unwrap();
    assert!(head.header("authorization").is_none());
}

#[tokio::test]
async fn negotiate_on_ping_but_anonymous_manifest_access_works() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(401)
            .header("WWW-Authenticate", "Negotiate")
            .header("WWW-Authenticate", "Digest realm=\"x\", nonce=\"n\""),
        _ => manifest_head(DIGEST_A),
    })
    .await;
    let client = fake.client(fast_settings());
    assert_eq!(
        client.manifest_digest("corp/app", "1.0").await.unwrap().digest,
        DIGEST_A
    );
}

#[tokio::test]
async fn challenge_missing_from_a_401_is_taken_from_the_ping() {
    // The registry takes only the second token it issued, and refuses the first with a bare
    // 401 (no WWW-Authenticate): the client must reuse the ping's challenge to get a new one.
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |authorization, _| match authorization {
            Some("Bearer tok-2") => Ok(()),
            _ => Err(reply(401)),
        },
    ))
    .await;
    let client = fake.client(fast_settings());
    assert_eq!(client.manifest_digest("app", "1.0").await.unwrap().digest, DIGEST_A);
    assert_eq!(client.request_counts(), counts(1, 2, 2, 0, 0));
}

#[tokio::test]
async fn token_endpoint_answering_html_is_reported_as_not_json() {
    let fake = Fake::start(bearer_registry(
        |_, _| {
            reply(200)
                .header("Content-Type", "text/html")
                .body("<html><body>Sign in</body></html>")
        },
        |_, _| Ok(()),
    ))
    .await;
    let error = fake
        .client(fast_settings())
        .manifest_digest("app", "1.0")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "token_not_json", "{error}");
    let message = error.to_string();
    assert!(message.contains("not JSON"), "{message}");
    assert!(message.contains("text/html"), "{message}");
    assert!(message.contains("/token"), "{message}");
}

#[tokio::test]
async fn head_answering_405_falls_back_to_get_and_the_digest_is_computed() {
    let body =
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())));
    let fake = Fake::start(move |request, _| match (request.method.as_str(), request.path()) {
        (_, "/v2/") => reply(200),
        ("HEAD", _) => reply(405),
        ("GET", _) => reply(200)
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(body),
        _ => reply(400),
    })
    .await;
    let client = fake.client(fast_settings());
    let digest = client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(digest.digest, expected);
    assert_eq!(client.request_counts(), counts(1, 0, 1, 1, 0));
    // Every manifest type is accepted, indexes first.
    let head = fake.requests().into_iter().find(|r| r.method == "HEAD").unwrap();
    let accept = head.header("accept").unwrap();
    assert!(
        accept.starts_with("application/vnd.oci.image.index.v1+json"),
        "{accept}"
    );
    assert!(
        accept.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{accept}"
    );
}

#[tokio::test]
async fn head_without_a_digest_header_falls_back_to_get() {
    let body = r#"{"schemaVersion":2,"config":{},"layers":[]}"#;
    let fake = Fake::start(move |request, _| match (request.method.as_str(), request.path()) {
        (_, "/v2/") => reply(200),
        ("HEAD", _) => reply(200),
        _ => reply(200).body(body),
    })
    .await;
    let client = fake.client(fast_settings());
    let digest = client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(
        digest.digest,
        format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())))
    );
}

#[tokio::test]
async fn missing_manifest_is_not_found() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(404),
    })
    .await;
    let error = fake
        .client(fast_settings())
        .manifest_digest("app", "nope")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    assert!(error.to_string().contains("app:nope"), "{error}");
}

#[tokio::test]
async fn token_is_fetched_once_with_service_and_scope_and_reused() {
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |authorization, _| match authorization {
            Some("Bearer tok-1") => Ok(()),
            _ => Err(reply(401)),
        },
    ))
    .await;
    let client = fake.client(fast_settings());
    for _ in 0..5 {
        client.manifest_digest("team/app", "1.0").await.unwrap();
    }
    assert_eq!(client.request_counts(), counts(1, 1, 5, 0, 0));
    let token_request = fake.requests().into_iter().find(|r| r.path() == "/token").unwrap();
    let query = token_request.query();
    assert!(query.contains(&("service".into(), "fake".into())), "{query:?}");
    assert!(
        query.contains(&("scope".into(), "repository:team/app:pull".into())),
        "{query:?}"
    );
    assert!(
        token_request.header("authorization").is_none(),
        "anonymous token request"
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_token() {
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |_, _| Ok(()),
    ))
    .await;
    let client = Arc::new(fake.client(fast_settings()));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.manifest_digest("app", "1.0").await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(client.request_counts(), counts(1, 1, 8, 0, 0));
}

#[tokio::test]
async fn a_token_said_to_last_a_second_is_kept_a_minute_and_renewed_when_refused() {
    // Docker's token spec: never less than 60 s. Shorter is clamped up (no refetch storm); when
    // the registry then refuses the old token, one new token is fetched.
    let uses = Arc::new(AtomicUsize::new(0));
    let seen = uses.clone();
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 1),
        move |authorization, request| {
            let base = format!("http://{}", request.header("host").unwrap_or_default());
            if authorization == Some("Bearer tok-1") && seen.fetch_add(1, Ordering::SeqCst) >= 2 {
                return Err(reply(401).header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="{base}/token",service="fake",error="invalid_token""#),
                ));
            }
            Ok(())
        },
    ))
    .await;
    let client = fake.client(fast_settings());
    client.manifest_digest("app", "1.0").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts().token, 1, "still fresh after its second");
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 2, 4, 0, 0));
    assert_eq!(uses.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn service_is_omitted_when_the_challenge_has_none_and_access_token_is_accepted() {
    let fake = Fake::start(|request, base| match request.path() {
        "/v2/" => reply(401).header("WWW-Authenticate", &format!(r#"Bearer realm="{base}/token""#)),
        "/token" => reply(200).json(r#"{"access_token":"oauth-tok","expires_in":300}"#),
        _ if request.header("authorization") == Some("Bearer oauth-tok") => manifest_head(DIGEST_A),
        _ => reply(401),
    })
    .await;
    let client = fake.client(fast_settings());
    client.manifest_digest("app", "1.0").await.unwrap();
    let token_request = fake.requests().into_iter().find(|r| r.path() == "/token").unwrap();
    assert!(
        token_request.query().iter().all(|(k, _)| k != "service"),
        "{:?}",
        token_request.target
    );
}

#[tokio::test]
async fn invalid_token_is_dropped_and_retried_once() {
    let fake = Fake::start(|request, base| {
        let challenge = format!(r#"Bearer realm="{base}/token",service="fake""#);
        let issued = request.path() == "/token";
        match (request.path(), request.header("authorization")) {
            ("/v2/", _) => reply(401).header("WWW-Authenticate", &challenge),
            // Every token is "revoked" at once: the client must give up after one retry.
            _ if issued => token_json("revoked", 300),
            _ => reply(401).header("WWW-Authenticate", &format!(r#"{challenge},error="invalid_token""#)),
        }
    })
    .await;
    let client = fake.client(fast_settings());
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    assert_eq!(client.request_counts(), counts(1, 2, 2, 0, 0));
}

#[tokio::test]
async fn invalid_token_with_the_same_challenge_recovers_with_a_new_token() {
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |authorization, _| match authorization {
            Some("Bearer tok-1") => Err(reply(401)),
            _ => Ok(()),
        },
    ))
    .await;
    let client = fake.client(fast_settings());
    client.manifest_digest("app", "1.0").await.unwrap();
    // The second token stays cached.
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 2, 3, 0, 0));
}

#[tokio::test]
async fn insufficient_scope_asks_again_for_pull_only_never_for_more() {
    let fake = Fake::start(|request, base| match request.path() {
        "/v2/" => reply(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{base}/token",service="fake""#),
        ),
        "/token" => {
            let scopes: Vec<String> = request
                .query()
                .into_iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v)
                .collect();
            token_json(&format!("scopes:{}", scopes.join("+")), 300)
        }
        _ if request
            .header("authorization")
            .is_some_and(|a| a.contains("repository:lib/base:pull")) =>
        {
            manifest_head(DIGEST_A)
        }
        _ => reply(401).header(
            "WWW-Authenticate",
            &format!(
                r#"Bearer realm="{base}/token",service="fake",scope="repository:lib/base:pull,push registry:catalog:* repository:app:push",error="insufficient_scope""#
            ),
        ),
    })
    .await;
    let client = fake.client(fast_settings());
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 2, 2, 0, 0));
    let asked: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .flat_map(|r| r.query())
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        asked,
        ["repository:app:pull", "repository:app:pull", "repository:lib/base:pull"],
        "only pull, never push or catalog"
    );
    // The added scope is remembered for the repository.
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 2, 3, 0, 0));
}

#[tokio::test]
async fn still_unauthorized_after_a_new_token_is_denied_not_looped() {
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |_, _| Err(reply(401)),
    ))
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    let error = client.manifest_digest("private/app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "denied", "{error}");
    assert!(error.to_string().contains("alice"), "{error}");
    assert!(!error.to_string().contains(SENTINEL));
    assert_eq!(client.request_counts(), counts(1, 2, 2, 0, 0));
}

#[tokio::test]
async fn anonymous_refusal_says_to_log_in() {
    let fake = Fake::start(bearer_registry(
        |_, n| token_json(&format!("tok-{n}"), 300),
        |_, _| Err(reply(401)),
    ))
    .await;
    let error = fake
        .client(fast_settings())
        .manifest_digest("private/app", "1.0")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    assert!(error.to_string().contains("tidewatch login"), "{error}");
}

#[tokio::test]
async fn token_server_refusing_the_password_names_user_and_origin_not_the_password() {
    let fake = Fake::start(bearer_registry(
        |_, _| reply(401).json(r#"{"details":"bad"}"#),
        |_, _| Ok(()),
    ))
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::DockerConfig {
            path: "/tmp/config.json".into(),
        },
    ));
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "auth_refused");
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "registry {} refused the credentials for user alice (from docker config.json); run `tidewatch login {}`",
            fake.host, fake.host
        )
    );
    assert!(!format!("{error:?}").contains(SENTINEL));
    // The password went to the token server as Basic, never in the URL.
    let token_request = fake.requests().into_iter().find(|r| r.path() == "/token").unwrap();
    assert!(token_request.header("authorization").unwrap().starts_with("Basic "));
    assert!(!token_request.target.contains(SENTINEL));
}

#[tokio::test]
async fn basic_registry_gets_credentials_and_refuses_a_wrong_password_clearly() {
    let good = "alice:right";
    let fake = Fake::start(move |request, _| {
        use base64::Engine as _;
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(good));
        match (request.path(), request.header("authorization")) {
            ("/v2/", _) => reply(401).header("WWW-Authenticate", r#"Basic realm="fake""#),
            (_, Some(a)) if a == expected => manifest_head(DIGEST_A),
            _ => reply(401).header("WWW-Authenticate", r#"Basic realm="fake""#),
        }
    })
    .await;
    let right =
        fake.client(fast_settings())
            .with_credential(Credential::password("alice", "right", CredentialOrigin::Keyring));
    assert_eq!(right.manifest_digest("app", "1.0").await.unwrap().digest, DIGEST_A);
    assert_eq!(right.request_counts(), counts(1, 0, 1, 0, 0));

    let wrong = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Keyring,
    ));
    let error = wrong.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "auth_refused");
    assert!(
        error.to_string().contains("user alice (from the OS keyring)"),
        "{error}"
    );
    assert!(!error.to_string().contains(SENTINEL));
    assert_eq!(wrong.request_counts(), counts(1, 0, 1, 0, 0));
}

#[tokio::test]
async fn identity_token_is_posted_as_refresh_token_then_falls_back_to_get() {
    let fake = Fake::start(bearer_registry(
        |request, n| match request.method.as_str() {
            // No OAuth2 endpoint here.
            "POST" => reply(404),
            _ => token_json(&format!("tok-{n}"), 300),
        },
        |_, _| Ok(()),
    ))
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::identity_token(
        "<token>",
        "refresh-123",
        CredentialOrigin::Explicit,
    ));
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts().token, 2);
    let post = fake.requests().into_iter().find(|r| r.method == "POST").unwrap();
    assert!(post.body.contains("grant_type=refresh_token"), "{}", post.body);
    assert!(post.body.contains("refresh_token=refresh-123"), "{}", post.body);
    assert!(post.body.contains("scope=repository%3Aapp%3Apull"), "{}", post.body);
}

#[tokio::test]
async fn identity_token_post_answer_is_used_when_the_server_speaks_oauth2() {
    let fake = Fake::start(bearer_registry(
        |request, _| match request.method.as_str() {
            "POST" => reply(200).json(r#"{"access_token":"from-post","expires_in":300}"#),
            _ => reply(500),
        },
        |authorization, _| match authorization {
            Some("Bearer from-post") => Ok(()),
            _ => Err(reply(401)),
        },
    ))
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::identity_token(
        "<token>",
        "refresh-123",
        CredentialOrigin::Explicit,
    ));
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 1, 1, 0, 0));
}

#[tokio::test]
async fn plain_http_realm_on_another_host_is_refused() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(401).header(
            "WWW-Authenticate",
            r#"Bearer realm="http://auth.example.com/token",service="x""#,
        ),
        _ => manifest_head(DIGEST_A),
    })
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "insecure_realm", "{error}");
    assert_eq!(client.request_counts().token, 0);
}

#[tokio::test]
async fn authorization_is_not_forwarded_when_a_redirect_leaves_the_host() {
    let fake = Fake::start(|request, base| {
        let host = request.header("host").unwrap_or_default().to_string();
        match request.path() {
            "/v2/" => reply(401).header("WWW-Authenticate", r#"Basic realm="fake""#),
            // The manifest lives "on a CDN": the same server under another name.
            "/v2/app/manifests/1.0" => reply(307).header(
                "Location",
                &format!("{}/cdn/manifest", base.replace("127.0.0.1", "localhost")),
            ),
            "/cdn/manifest" if host.starts_with("localhost") => reply(200).body(r#"{"schemaVersion":2}"#),
            _ => reply(404),
        }
    })
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    client.get_manifest("app", "1.0").await.unwrap();
    let requests = fake.requests();
    let original = requests.iter().find(|r| r.path() == "/v2/app/manifests/1.0").unwrap();
    assert!(original.header("authorization").is_some());
    let cdn = requests.iter().find(|r| r.path() == "/cdn/manifest").unwrap();
    assert!(cdn.header("authorization").is_none(), "Authorization leaked to the CDN");
    assert_eq!(client.request_counts().get, 2);
}

#[tokio::test]
async fn multi_arch_index_resolves_per_platform() {
    let d_amd = format!("sha256:{}", "1".repeat(64));
    let d_arm = format!("sha256:{}", "2".repeat(64));
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"{d_amd}","platform":{{"architecture":"amd64","os":"linux"}}}},
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"{d_arm}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
    );
    let index_digest = format!("sha256:{}", hex::encode(Sha256::digest(index.as_bytes())));
    let body = index.clone();
    let fake = Fake::start(move |request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(200)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(body.clone()),
    })
    .await;
    let client = fake.client(fast_settings());
    let amd = client
        .platform_manifest("multi", "1.0", &"linux/amd64".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(amd.digest, d_amd);
    assert_eq!(amd.index_digest.as_deref(), Some(index_digest.as_str()));
    let arm = client
        .platform_manifest("multi", "1.0", &Platform::new("linux", "aarch64", None))
        .await
        .unwrap();
    assert_eq!(arm.digest, d_arm);
    let error = client
        .platform_manifest("multi", "1.0", &"linux/s390x".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "platform_not_found");
    assert!(error.to_string().contains("linux/amd64, linux/arm64"), "{error}");
}

#[tokio::test]
async fn a_silent_registry_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = RegistrySettings {
        timeout: Duration::from_millis(300),
        ..fast_settings()
    };
    let client = RegistryClient::new(&host, settings).unwrap();
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "timeout", "{error}");
    assert!(error.to_string().contains(&host), "{error}");
}

#[tokio::test]
async fn unreachable_registry_is_named() {
    let client = RegistryClient::new("127.0.0.1:1", fast_settings()).unwrap();
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "unreachable", "{error}");
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn rate_limit_headers_are_exposed() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => manifest_head(DIGEST_A)
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "42;w=21600"),
    })
    .await;
    let client = fake.client(fast_settings());
    assert!(client.rate_limit().is_none());
    client.manifest_digest("app", "1.0").await.unwrap();
    let limit = client.rate_limit().unwrap();
    assert_eq!((limit.limit, limit.remaining), (Some(100), Some(42)));
}

#[tokio::test]
async fn open_registry_is_read_anonymously_without_asking_for_credentials() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => manifest_head(DIGEST_A),
    })
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    client.manifest_digest("app", "1.0").await.unwrap();
    client.manifest_digest("app", "1.0").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 0, 2, 0, 0));
    assert!(fake.requests().iter().all(|r| r.header("authorization").is_none()));
}

#[tokio::test]
async fn token_server_refusing_anonymous_callers_says_to_log_in() {
    let fake = Fake::start(bearer_registry(|_, _| reply(401).json("{}"), |_, _| Ok(()))).await;
    let error = fake
        .client(fast_settings())
        .manifest_digest("team/app", "1.0")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    assert!(error.to_string().contains("team/app"), "{error}");
}

#[tokio::test]
async fn basic_challenge_without_credentials_fails_without_a_pointless_retry() {
    let fake = Fake::start(|_, _| reply(401).header("WWW-Authenticate", r#"Basic realm="fake""#)).await;
    let client = fake.client(fast_settings());
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    assert_eq!(client.request_counts(), counts(1, 0, 1, 0, 0));
}

#[tokio::test]
async fn names_that_would_escape_the_repository_path_are_refused_before_any_request() {
    let fake = Fake::start(|_, _| reply(200)).await;
    let client = fake.client(fast_settings());
    for (repository, reference) in [
        ("../../admin", "1.0"),
        ("app", "1.0?x=y"),
        ("app", "../../../v2/_catalog"),
        ("app/", "1.0"),
        ("", "1.0"),
        ("app", "%2e%2e"),
    ] {
        let error = client.manifest_digest(repository, reference).await.unwrap_err();
        assert_eq!(error.code(), "invalid_reference", "{repository} {reference}: {error}");
    }
    assert_eq!(
        client.list_tags("a/../b").await.unwrap_err().code(),
        "invalid_reference"
    );
    assert_eq!(client.request_counts().total(), 0);
}

#[tokio::test]
async fn exhausted_docker_hub_quota_is_not_retried() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(429)
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "0;w=21600"),
    })
    .await;
    let client = fake.client(fast_settings());
    let error = client.manifest_digest("library/nginx", "1.25").await.unwrap_err();
    assert_eq!(error.code(), "rate_limited", "{error}");
    assert_eq!(client.request_counts().head, 1);
    assert_eq!(client.rate_limit().unwrap().remaining, Some(0));
}

#[tokio::test]
async fn a_refresh_token_post_redirected_to_another_origin_is_refused_and_never_resent() {
    let elsewhere = Fake::start(|_, _| token_json("stolen", 300)).await;
    let target = format!("http://{}/token", elsewhere.host);
    let fake = Fake::start(bearer_registry(
        move |request, _| match request.method.as_str() {
            "POST" => reply(307).header("Location", &target),
            _ => token_json("tok", 300),
        },
        |_, _| Ok(()),
    ))
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::identity_token(
        "<token>",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    let error = client.manifest_digest("app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "insecure_redirect", "{error}");
    assert!(!error.to_string().contains(SENTINEL), "{error}");
    assert!(
        elsewhere.requests().is_empty(),
        "the refresh token was re-sent to another origin"
    );
}

#[tokio::test]
async fn a_403_from_a_registry_that_never_challenged_does_not_blame_the_saved_login() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(403),
    })
    .await;
    let client = fake.client(fast_settings()).with_credential(Credential::password(
        "alice",
        SENTINEL,
        CredentialOrigin::Explicit,
    ));
    let error = client.manifest_digest("private/app", "1.0").await.unwrap_err();
    assert_eq!(error.code(), "forbidden", "{error}");
    let message = error.to_string();
    assert!(message.contains("without asking for credentials"), "{message}");
    assert!(message.contains("user alice was not sent"), "{message}");
    assert!(!message.contains("tidewatch login"), "{message}");
    assert!(
        fake.requests().iter().all(|r| r.header("authorization").is_none()),
        "nothing asked for the credential, so nothing carried it"
    );
}

#[tokio::test]
async fn content_fetched_by_digest_must_hash_to_that_digest() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(200)
            .header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
            .header("Docker-Content-Digest", DIGEST_A)
            .body(r#"{"schemaVersion":2}"#),
    })
    .await;
    let error = fake
        .client(fast_settings())
        .get_manifest("app", DIGEST_A)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "digest_mismatch", "{error}");
}

#[tokio::test]
async fn retry_after_holds_every_request_to_the_registry_not_only_the_refused_one() {
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let log = arrivals.clone();
    let fake = Fake::start(move |request, _| {
        let mut log = log.lock().unwrap();
        log.push((request.path().to_string(), Instant::now()));
        let first_a = request.path() == "/v2/library/a/manifests/1.0"
            && log.iter().filter(|(p, _)| p == request.path()).count() == 1;
        match request.path() {
            "/v2/" => reply(200),
            _ if first_a => reply(429).header("Retry-After", "1"),
            _ => manifest_head(DIGEST_A),
        }
    })
    .await;
    let client = fake.client(fast_settings());
    let a = client.manifest_digest("library/a", "1.0");
    let b = async {
        // Another repository, asked just after the registry said to wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.manifest_digest("library/b", "1.0").await
    };
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.unwrap().digest, DIGEST_A);
    assert_eq!(b.unwrap().digest, DIGEST_A);
    let arrivals = arrivals.lock().unwrap().clone();
    let at = |path: &str| {
        arrivals
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| panic!("{path} was not asked: {arrivals:?}"))
    };
    let refused = at("/v2/library/a/manifests/1.0");
    assert!(
        at("/v2/library/b/manifests/1.0").duration_since(refused) >= Duration::from_millis(950),
        "b waited out the Retry-After too: {arrivals:?}"
    );
    assert_eq!(client.request_counts(), counts(1, 0, 3, 0, 0));
}

#[tokio::test]
async fn a_registry_that_says_come_back_in_an_hour_is_not_asked_again_meanwhile() {
    let fake = Fake::start(|request, _| match request.path() {
        "/v2/" => reply(200),
        _ => reply(429).header("Retry-After", "3600"),
    })
    .await;
    let client = fake.client(fast_settings());
    let first = client.manifest_digest("library/a", "1.0").await.unwrap_err();
    assert_eq!(first.code(), "rate_limited", "{first}");
    let asked = fake.requests().len();
    let later = client.manifest_digest("library/b", "1.0").await.unwrap_err();
    assert_eq!(later.code(), "rate_limited", "{later}");
    assert!(later.to_string().contains("retry after"), "{later}");
    assert_eq!(fake.requests().len(), asked, "nothing more was sent");
}
