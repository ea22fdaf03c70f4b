//! The lab's fault-injecting registry: a small proxy in front of the open registry that
//! misbehaves on demand, per repository, in every way docs/reliability.md lists. No real
//! registry stalls, lies or loops when asked, so this one is hand-written (std threads and raw
//! HTTP/1.1, so it controls every byte: a body that stops half-way, a Content-Length that lies,
//! a chunked body that never ends).
//!
//! Repository `<fault>/app` serves the open registry's `fixtures/app` with `<fault>` applied
//! (the names are `tidewatch_lab::FAULTS`); any other first segment is served faithfully. Every
//! repository is behind Bearer auth from its own `/token`, so token faults are per repository
//! too (the token request's scope names it). A second listener on 127.0.0.2 plays "another
//! host" for redirects and links, and counts any credential that reaches it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// What a request looked like.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Vec<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
            .collect()
    }
}

struct Shared {
    upstream: String,
    port: u16,
    http: reqwest::blocking::Client,
    /// Requests seen per fault (for once-only faults such as `ratelimit-once`).
    seen: Mutex<HashMap<String, u64>>,
    /// Authorization headers or bodies that reached "another host".
    leaked: AtomicU64,
    /// Requests "another host" served.
    other_host_requests: AtomicU64,
}

pub fn serve_from_args(args: &[&str]) -> Result<()> {
    let mut port = None;
    let mut upstream = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--port" => port = it.next().and_then(|p| p.parse::<u16>().ok()),
            "--upstream" => upstream = it.next().map(|u| u.to_string()),
            other => bail!("fault-registry: unknown argument {other:?}"),
        }
    }
    let (Some(port), Some(upstream)) = (port, upstream) else {
        bail!("fault-registry needs --port PORT --upstream HOST:PORT")
    };
    let shared = Arc::new(Shared {
        upstream,
        port,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        seen: Mutex::new(HashMap::new()),
        leaked: AtomicU64::new(0),
        other_host_requests: AtomicU64::new(0),
    });
    let main = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("listen on 127.0.0.1:{port}"))?;
    let other = TcpListener::bind(("127.0.0.2", port)).with_context(|| format!("listen on 127.0.0.2:{port}"))?;
    eprintln!("fault registry on 127.0.0.1:{port} (other host 127.0.0.2:{port})");
    let other_shared = shared.clone();
    std::thread::spawn(move || accept(other, other_shared, true));
    accept(main, shared, false);
    Ok(())
}

fn accept(listener: TcpListener, shared: Arc<Shared>, other_host: bool) {
    for stream in listener.incoming().flatten() {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = serve_connection(stream, &shared, other_host);
        });
    }
}

/// Keep-alive: requests on one connection until the client closes it or a fault ends it.
fn serve_connection(stream: TcpStream, shared: &Shared, other_host: bool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some((request, body)) = read_request(&mut reader)? else {
            return Ok(());
        };
        let keep = if other_host {
            other_host_answer(&request, &body, shared, &mut out)?
        } else {
            answer(&request, shared, &mut out)?
        };
        if !keep {
            return Ok(());
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<(Request, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Ok(Some((
        Request {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers,
        },
        body,
    )))
}

/// A whole response with a Content-Length; `true` keeps the connection.
fn respond(
    out: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<bool> {
    let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.write_all(text.as_bytes())?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()?;
    Ok(true)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn json_headers() -> Vec<(&'static str, String)> {
    vec![("Content-Type", "application/json".to_string())]
}

/// `<fault>/app` -> (`<fault>`, the rest of the path after the repository).
fn split_repository(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    let mut segments = rest.splitn(3, '/');
    let fault = segments.next()?;
    let name = segments.next()?;
    let tail = segments.next()?;
    Some((fault, name, tail))
}

fn answer(request: &Request, shared: &Shared, out: &mut TcpStream) -> std::io::Result<bool> {
    let head_only = request.method == "HEAD";
    let challenge = format!(
        r#"Bearer realm="http://127.0.0.1:{}/token",service="tidewatch-fault""#,
        shared.port
    );
    if request.path == "/stats" {
        let body = format!(
            r#"{{"leaked":{},"other_host_requests":{}}}"#,
            shared.leaked.load(Ordering::SeqCst),
            shared.other_host_requests.load(Ordering::SeqCst)
        );
        return respond(out, 200, &json_headers(), body.as_bytes(), false);
    }
    if request.path == "/token" {
        return token(request, out);
    }
    if request.path == "/v2/" || request.path == "/v2" {
        return respond(out, 401, &[("WWW-Authenticate", challenge)], b"{}", head_only);
    }
    let Some((fault, name, tail)) = split_repository(&request.path) else {
        return respond(out, 404, &json_headers(), b"{}", head_only);
    };
    if !request
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer "))
    {
        return respond(out, 401, &[("WWW-Authenticate", challenge)], b"{}", head_only);
    }
    let count = {
        let mut seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        let count = seen.entry(format!("{fault}/{name}")).or_default();
        *count += 1;
        *count
    };
    let is_tags = tail.starts_with("tags/list");
    let is_manifest = tail.starts_with("manifests/");
    // Faults only for Tidewatch: the lab engine pulls these repositories faithfully.
    let tidewatch = request
        .header("user-agent")
        .is_some_and(|a| a.starts_with("tidewatch/"));
    if tidewatch {
        match (fault, is_tags, is_manifest) {
            ("delay", _, _) => std::thread::sleep(Duration::from_secs(1)),
            ("stall-tags", true, _) => return stall_mid_body(out),
            ("stall-manifest", _, true) => {
                // Headers never come: the request deadline ends it.
                std::thread::sleep(Duration::from_secs(600));
                return Ok(false);
            }
            ("reset-tags", true, _) | ("reset-manifest", _, true) => return Ok(false),
            ("truncate-tags", true, _) => {
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"name\":\"x\",\"tags\":[\"1.")?;
                out.flush()?;
                return Ok(false);
            }
            ("endless-tags", true, _) => return endless(out, b"{\"name\":\"x\",\"tags\":[", b"\"1.0.0\","),
            ("huge-manifest", _, true) if head_only => {
                return respond(out, 200, &[("Content-Type", MANIFEST_V2.to_string())], b"", true);
            }
            ("huge-manifest", _, true) => return endless(out, b"{\"schemaVersion\":2,\"x\":\"", b"aaaaaaaaaaaaaaaa"),
            ("tags-page-huge", true, _) => {
                let mut body = b"{\"name\":\"x\",\"tags\":[".to_vec();
                while body.len() < 5 * 1024 * 1024 {
                    body.extend_from_slice(b"\"0.0.1\",");
                }
                body.extend_from_slice(b"\"0.0.2\"]}");
                return respond(out, 200, &json_headers(), &body, false);
            }
            ("tags-500", true, _) => return respond(out, 500, &json_headers(), b"{}", false),
            ("manifest-503", _, true) => {
                return respond(out, 503, &[("Retry-After", "1".to_string())], b"", head_only);
            }
            ("ratelimit-once", _, true) if count == 1 => {
                return respond(out, 429, &[("Retry-After", "1".to_string())], b"", head_only);
            }
            ("ratelimit-long", _, true) => {
                return respond(out, 429, &[("Retry-After", "86400".to_string())], b"", head_only);
            }
            ("invalid-manifest", _, true) if head_only => {
                return respond(out, 200, &[("Content-Type", MANIFEST_V2.to_string())], b"", true);
            }
            ("invalid-manifest", _, true) => {
                return respond(
                    out,
                    200,
                    &[("Content-Type", MANIFEST_V2.to_string())],
                    b"<html>oops</html>",
                    false,
                );
            }
            ("not-json-tags", true, _) => {
                return respond(
                    out,
                    200,
                    &[("Content-Type", "text/html".to_string())],
                    b"<html>login</html>",
                    false,
                );
            }
            ("lying-digest", _, true) if head_only => {
                let headers = [
                    ("Content-Type", MANIFEST_V2.to_string()),
                    ("Docker-Content-Digest", format!("sha256:{}", "f".repeat(64))),
                ];
                return respond(out, 200, &headers, b"", true);
            }
            ("redirect-other-host", _, true) => {
                let location = format!("http://127.0.0.2:{}{}", shared.port, request.path);
                return respond(out, 307, &[("Location", location)], b"", head_only);
            }
            ("redirect-loop", _, true) => {
                return respond(out, 302, &[("Location", request.path.clone())], b"", head_only);
            }
            ("link-loop", true, _) => {
                let link = format!("<{}?{}>; rel=\"next\"", request.path, request.query);
                return proxy(request, shared, name, tail, out, Some(link));
            }
            ("link-other-host", true, _) => {
                let link = format!("<http://127.0.0.2:{}{}?n=10>; rel=\"next\"", shared.port, request.path);
                return proxy(request, shared, name, tail, out, Some(link));
            }
            ("many-tags", true, _) => return many_tags(request, out),
            _ => {}
        }
    }
    // A lying registry serves the tag's content for any digest it is asked.
    if tidewatch && fault == "lying-digest" && tail.starts_with("manifests/sha256:") {
        return proxy_path(request, shared, "/v2/fixtures/app/manifests/1.25.4", out, None);
    }
    proxy(request, shared, name, tail, out, None)
}

const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The token server: the scope's repository says which fault applies.
fn token(request: &Request, out: &mut TcpStream) -> std::io::Result<bool> {
    let scope = request.param("scope").join(" ");
    let fault = scope
        .strip_prefix("repository:")
        .and_then(|s| s.split('/').next())
        .unwrap_or_default();
    match fault {
        "token-endless" => endless(out, b"{\"token\":\"", b"tttttttttttttttt"),
        "token-stall" => stall_mid_body(out),
        "token-html" => respond(
            out,
            200,
            &[("Content-Type", "text/html".to_string())],
            b"<html>sign in</html>",
            false,
        ),
        "token-huge-lifetime" => respond(
            out,
            200,
            &json_headers(),
            br#"{"token":"fault-token","expires_in":1e30}"#,
            false,
        ),
        "token-u64-lifetime" => respond(
            out,
            200,
            &json_headers(),
            br#"{"token":"fault-token","expires_in":18446744073709551615,"issued_at":"0001-01-01T00:00:00Z"}"#,
            false,
        ),
        "token-negative-lifetime" => respond(
            out,
            200,
            &json_headers(),
            br#"{"token":"fault-token","expires_in":-3600}"#,
            false,
        ),
        _ => respond(
            out,
            200,
            &json_headers(),
            br#"{"token":"fault-token","expires_in":300}"#,
            false,
        ),
    }
}

/// Headers and half a body, then nothing for ten minutes.
fn stall_mid_body(out: &mut TcpStream) -> std::io::Result<bool> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{\"name\":\"x\",\"tags\":[",
    )?;
    out.flush()?;
    std::thread::sleep(Duration::from_secs(600));
    Ok(false)
}

/// A chunked body that never ends (until the client hangs up).
fn endless(out: &mut TcpStream, start: &[u8], repeat: &[u8]) -> std::io::Result<bool> {
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")?;
    write_chunk(out, start)?;
    let block: Vec<u8> = repeat.iter().copied().cycle().take(64 * 1024).collect();
    // Ends when the client closes the connection (the write fails), or after 64 GiB.
    for _ in 0..(1 << 20) {
        if write_chunk(out, &block).is_err() {
            return Ok(false);
        }
    }
    Ok(false)
}

fn write_chunk(out: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")
}

/// 100,000 tags, paginated by `n` and `last` as distribution does, with the fixture's own tags
/// among them, so the newest is still the fixture's newest.
fn many_tags(request: &Request, out: &mut TcpStream) -> std::io::Result<bool> {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags: Vec<String> = (0..99_996).map(|i| format!("0.{}.{}", i / 1000, i % 1000)).collect();
        tags.extend(["1.25.3", "1.25.4", "1.25.3-alpine", "latest"].map(String::from));
        tags.sort();
        tags
    });
    let n: usize = request
        .param("n")
        .first()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = match request.param("last").first() {
        Some(last) => tags.partition_point(|t| t <= last),
        None => 0,
    };
    let page = &tags[start.min(tags.len())..(start + n).min(tags.len())];
    let body = serde_json::json!({ "name": "many-tags/app", "tags": page }).to_string();
    let mut headers = json_headers();
    if start + n < tags.len() {
        if let Some(last) = page.last() {
            headers.push(("Link", format!("<{}?n={n}&last={last}>; rel=\"next\"", request.path)));
        }
    }
    respond(out, 200, &headers, body.as_bytes(), false)
}

/// "Another host": serves the upstream without any auth, counting credentials that reach it.
fn other_host_answer(request: &Request, body: &[u8], shared: &Shared, out: &mut TcpStream) -> std::io::Result<bool> {
    shared.other_host_requests.fetch_add(1, Ordering::SeqCst);
    if request.header("authorization").is_some() || !body.is_empty() {
        shared.leaked.fetch_add(1, Ordering::SeqCst);
    }
    match split_repository(&request.path) {
        Some((_, name, tail)) => proxy(request, shared, name, tail, out, None),
        None => respond(out, 404, &json_headers(), b"{}", request.method == "HEAD"),
    }
}

/// Serves `<fault>/<name>/<tail>` from the upstream's `fixtures/<name>/<tail>`.
fn proxy(
    request: &Request,
    shared: &Shared,
    name: &str,
    tail: &str,
    out: &mut TcpStream,
    link: Option<String>,
) -> std::io::Result<bool> {
    proxy_path(request, shared, &format!("/v2/fixtures/{name}/{tail}"), out, link)
}

fn proxy_path(
    request: &Request,
    shared: &Shared,
    path: &str,
    out: &mut TcpStream,
    link: Option<String>,
) -> std::io::Result<bool> {
    let head_only = request.method == "HEAD";
    let mut url = format!("http://{}{path}", shared.upstream);
    if !request.query.is_empty() {
        url.push('?');
        url.push_str(&request.query);
    }
    let method = if head_only {
        reqwest::Method::HEAD
    } else {
        reqwest::Method::GET
    };
    let mut upstream = shared.http.request(method, &url);
    // Clients send several Accept headers; all of them go on, or the registry falls back to
    // schema 1.
    let accept: Vec<&str> = request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.as_str())
        .collect();
    if !accept.is_empty() {
        upstream = upstream.header("Accept", accept.join(", "));
    }
    let Ok(response) = upstream.send() else {
        return respond(out, 502, &[], b"", head_only);
    };
    let status = response.status().as_u16();
    let mut headers: Vec<(&str, String)> = Vec::new();
    for name in ["Content-Type", "Docker-Content-Digest", "Location"] {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            headers.push((name, value.to_string()));
        }
    }
    if let Some(link) = link {
        headers.push(("Link", link));
    }
    let declared = response.content_length();
    let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
    if head_only {
        // A HEAD's Content-Length is the GET's.
        let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", declared.unwrap_or(0)));
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(true);
    }
    respond(out, status, &headers, &body, false)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
