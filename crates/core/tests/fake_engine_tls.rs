//! An `https://` engine with TLS client certificates, end to end: a fake engine (rustls server
//! requiring a client certificate signed by a test CA, certificates made by the openssl CLI)
//! answers the version negotiation and the info endpoint; a client certificate from another CA
//! is refused with a message about TLS.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_core::error::Coded as _;

const INFO: &str = r#"{"ID":"fake","RegistryConfig":{"Mirrors":["https://mirror.example.com/"," "]}}"#;
const VERSION: &str =
    r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#;

/// Runs openssl with `args` (split on spaces) in `dir`.
fn openssl(dir: &Path, args: &str) {
    let output = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("this test needs the openssl command to make its certificates");
    assert!(
        output.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const EC_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A CA: `{name}-ca.pem` and its key.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {EC_KEY} -keyout {name}-ca-key.pem -out {name}-ca.pem -days 2 -subj /CN={name}-test-ca \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// `{name}.pem` and `{name}-key.pem`, signed by the CA `ca`, with the given X.509 extensions.
fn make_leaf(dir: &Path, ca: &str, name: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("extensions file");
    openssl(
        dir,
        &format!("req {EC_KEY} -keyout {name}-key.pem -out {name}.csr -subj /CN={name}"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}-ca.pem -CAkey {ca}-ca-key.pem -CAcreateserial -out {name}.pem \
             -days 2 -extfile {name}.ext"
        ),
    );
}

/// Serves one answer per connection (bollard keeps no idle connections): `/version` and `/info`.
fn serve(listener: TcpListener, config: Arc<rustls::ServerConfig>) {
    for stream in listener.incoming().flatten() {
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let Ok(connection) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/");
            let body = if path.ends_with("/version") {
                VERSION
            } else if path.ends_with("/info") {
                INFO
            } else {
                "{}"
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
    }
}

fn start_fake_engine(dir: &Path) -> u16 {
    let certs = |file: &str| -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(dir.join(file))
            .expect("read certs")
            .collect::<Result<_, _>>()
            .expect("certs")
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs("engine-ca.pem") {
        roots.add(cert).expect("CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .expect("client verifier");
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).expect("server key");
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs("server.pem"), key)
        .expect("server config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let config = Arc::new(config);
    std::thread::spawn(move || serve(listener, config));
    port
}

fn path(dir: &Path, file: &str) -> PathBuf {
    dir.join(file)
}

#[tokio::test]
async fn an_https_engine_with_client_certificates_connects_and_negotiates() {
    tidewatch_core::init_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    make_ca(d, "engine");
    make_leaf(
        d,
        "engine",
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    );
    make_leaf(
        d,
        "engine",
        "client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    make_ca(d, "stranger");
    make_leaf(
        d,
        "stranger",
        "intruder",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    let port = start_fake_engine(d);

    let spec = EngineSpec::new("secure", format!("https://127.0.0.1:{port}")).with_tls(
        path(d, "engine-ca.pem"),
        path(d, "client.pem"),
        path(d, "client-key.pem"),
    );
    let engine = Engine::connect_with(&spec)
        .await
        .expect("connect over TLS with a client certificate");
    assert_eq!(
        engine.api_version(),
        "1.41",
        "negotiated down to what the engine speaks"
    );
    assert_eq!(
        engine.registry_mirrors().await.expect("info"),
        ["https://mirror.example.com/"]
    );

    // tcp:// with TLS files is TLS too, as with `docker --tlsverify`.
    let tcp = EngineSpec {
        host: format!("tcp://127.0.0.1:{port}"),
        ..spec.clone()
    };
    Engine::connect_with(&tcp).await.expect("tcp:// with TLS files");

    let intruder = EngineSpec::new("secure", format!("https://127.0.0.1:{port}")).with_tls(
        path(d, "engine-ca.pem"),
        path(d, "intruder.pem"),
        path(d, "intruder-key.pem"),
    );
    let error = Engine::connect_with(&intruder)
        .await
        .expect_err("a client certificate from another CA is refused");
    assert_eq!(error.code(), "engine_unreachable", "{error}");
    assert!(error.to_string().contains("TLS"), "{error}");

    // The engine's certificate checked against the wrong CA.
    let wrong_ca = EngineSpec {
        tls_ca: Some(path(d, "stranger-ca.pem")),
        ..spec.clone()
    };
    let error = Engine::connect_with(&wrong_ca)
        .await
        .expect_err("an engine certificate from another CA is refused");
    assert!(error.to_string().contains("tls_ca"), "{error}");
}
