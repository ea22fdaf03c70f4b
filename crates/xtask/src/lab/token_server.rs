//! The lab's token server (the `realm` of the token-auth registry): issues ES256 JWTs the way
//! Docker Hub's auth service does, signed with a key the lab generated, whose self-signed
//! certificate the registry trusts (`rootcertbundle`) and which rides in the JWT's `x5c` header.
//! Counts what it issued so tests can assert token reuse. Served by hyper, one task per
//! connection: tiny_http's thread pool queued new connections behind idle kept-alive ones, so
//! thirty token requests at once (one per repository) could wait half a minute.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::registries::{TOKEN_ISSUER, TOKEN_SERVICE, TOKEN_TTL_SECS, TOKEN_USER};

struct Issuer {
    key: EcdsaKeyPair,
    cert_der_b64: String,
    password: String,
    identity_token: String,
    rng: SystemRandom,
    issued: AtomicU64,
}

pub fn serve_from_args(args: &[&str]) -> Result<()> {
    let mut port = None;
    let mut dir = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--port" => port = it.next().and_then(|p| p.parse::<u16>().ok()),
            "--dir" => dir = it.next().map(PathBuf::from),
            other => bail!("token-server: unknown argument {other:?}"),
        }
    }
    let (Some(port), Some(dir)) = (port, dir) else {
        bail!("token-server needs --port PORT --dir LAB_DIR")
    };
    let rng = SystemRandom::new();
    let pkcs8 = std::fs::read(dir.join("token-key.pk8")).context("read the token key")?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
        .map_err(|e| anyhow::anyhow!("the token key is not a P-256 PKCS#8 key: {e}"))?;
    let issuer = Issuer {
        key,
        cert_der_b64: STANDARD.encode(std::fs::read(dir.join("token-cert.der")).context("read the token certificate")?),
        password: std::env::var("TIDEWATCH_LAB_TOKEN_PASSWORD").context("TIDEWATCH_LAB_TOKEN_PASSWORD")?,
        identity_token: std::env::var("TIDEWATCH_LAB_TOKEN_IDENTITY").context("TIDEWATCH_LAB_TOKEN_IDENTITY")?,
        rng,
        issued: AtomicU64::new(0),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the token server's runtime")?;
    runtime.block_on(serve(Arc::new(issuer), port))
}

/// Longest request body read (a token request's form is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

async fn serve(issuer: Arc<Issuer>, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listen on 127.0.0.1:{port}"))?;
    eprintln!("token server on 127.0.0.1:{port}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: let connections close before accepting again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let issuer = issuer.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let issuer = issuer.clone();
                async move { Ok::<_, Infallible>(answer(&issuer, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(issuer: &Issuer, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (status, value) = handle(
        issuer,
        &parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        authorization,
        &body,
    );
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn handle(
    issuer: &Issuer,
    method: &Method,
    path: &str,
    query: &str,
    authorization: Option<&str>,
    body: &str,
) -> (u16, Value) {
    match (method, path) {
        (&Method::GET, "/stats") => (200, json!({"issued": issuer.issued.load(Ordering::SeqCst)})),
        (&Method::GET, "/token") => {
            let params = form_pairs(query);
            match basic_user(authorization, &issuer.password) {
                Err(()) => (401, error("UNAUTHORIZED", "wrong user name or password")),
                Ok(user) => (200, issuer.issue(user.as_deref(), &params, None)),
            }
        }
        (&Method::POST, "/token") => {
            let params = form_pairs(body);
            let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
            match get("grant_type") {
                Some("refresh_token") if get("refresh_token") == Some(issuer.identity_token.as_str()) => {
                    (200, issuer.issue(Some(TOKEN_USER), &params, None))
                }
                Some("password")
                    if get("username") == Some(TOKEN_USER) && get("password") == Some(&issuer.password) =>
                {
                    let refresh = (get("access_type") == Some("offline")).then(|| issuer.identity_token.clone());
                    (200, issuer.issue(Some(TOKEN_USER), &params, refresh))
                }
                Some("refresh_token" | "password") => (401, error("UNAUTHORIZED", "invalid grant")),
                _ => (400, error("UNSUPPORTED", "unsupported grant_type")),
            }
        }
        _ => (404, error("NOT_FOUND", "no such endpoint")),
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({"errors": [{"code": code, "message": message}]})
}

/// `Ok(Some(user))` for right credentials, `Ok(None)` for none (anonymous), `Err` for wrong ones.
fn basic_user(authorization: Option<&str>, password: &str) -> Result<Option<String>, ()> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or(())?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).map_err(|_| ())?).map_err(|_| ())?;
    match decoded.split_once(':') {
        Some((user, pass)) if user == TOKEN_USER && pass == password => Ok(Some(user.to_string())),
        _ => Err(()),
    }
}

/// `application/x-www-form-urlencoded` pairs (query strings and POST bodies).
fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Issuer {
    fn issue(&self, user: Option<&str>, params: &[(String, String)], refresh_token: Option<String>) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Anonymous callers get a token with no access: the registry then answers
        // 401 insufficient_scope, as Docker Hub does for a private repository.
        let access: Vec<Value> = if user.is_some() {
            params
                .iter()
                .filter(|(k, _)| k == "scope")
                .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
                .filter_map(|scope| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let actions: Vec<&str> = actions.split(',').filter(|a| matches!(*a, "pull" | "push")).collect();
                    (kind == "repository").then(|| json!({"type": "repository", "name": name, "actions": actions}))
                })
                .collect()
        } else {
            Vec::new()
        };
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.cert_der_b64]});
        let serial = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let claims = json!({
            "iss": TOKEN_ISSUER,
            "sub": user.unwrap_or(""),
            "aud": TOKEN_SERVICE,
            "exp": now + TOKEN_TTL_SECS,
            "nbf": now.saturating_sub(5),
            "iat": now,
            "jti": format!("lab-{now}-{serial}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ECDSA signing does not fail");
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL_SECS,
            "issued_at": rfc3339(now),
        });
        if let Some(refresh) = refresh_token {
            body["refresh_token"] = Value::String(refresh);
        }
        body
    }
}

/// UTC timestamp as RFC 3339 (days-from-civil, Howard Hinnant's algorithm; no date crate needed
/// for one field).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn form_values_are_percent_decoded() {
        let pairs = form_pairs("scope=repository%3Afixtures%2Fapp%3Apull&service=a+b&x=%zz");
        assert_eq!(pairs[0], ("scope".into(), "repository:fixtures/app:pull".into()));
        assert_eq!(pairs[1], ("service".into(), "a b".into()));
        assert_eq!(pairs[2], ("x".into(), "%zz".into()));
    }
}
