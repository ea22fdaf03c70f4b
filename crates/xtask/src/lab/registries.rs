//! The lab's registries: real `docker-registry` (CNCF distribution) processes, one config each:
//! open, TLS (HTTPS, so HTTP/2, over the open one's storage, with a certificate from the lab's
//! own CA), htpasswd, token auth (trusting the lab token server's certificate) and a
//! pull-through cache of the open one. Each exposes Prometheus metrics so tests can count
//! requests.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::Recorder;
use crate::proc;

pub const BASIC_USER: &str = "alice";
pub const TOKEN_USER: &str = "bob";
pub const TOKEN_SERVICE: &str = "tidewatch-lab-registry";
pub const TOKEN_ISSUER: &str = "tidewatch-lab-token-server";
/// Long enough for a test's requests to share a token, short enough to test expiry in seconds.
pub const TOKEN_TTL_SECS: u64 = 20;

#[derive(Debug, Clone)]
pub enum PushAuth {
    Anonymous,
    Basic { user: String, password: String },
    Bearer { user: String, password: String },
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub name: &'static str,
    pub addr: String,
    pub metrics: String,
    pub auth: PushAuth,
}

pub struct Registries {
    pub open: Registry,
    pub tls: Registry,
    /// The lab CA's certificate (PEM), which signed the TLS registry's.
    ca_cert: std::path::PathBuf,
    pub basic: Registry,
    pub token: Registry,
    pub mirror: Registry,
    /// The fault-injecting registry in front of the open one (docs/reliability.md).
    pub fault: String,
    token_port: u16,
    basic_password: String,
    token_password: String,
    identity_token: String,
}

impl Registries {
    /// The registries a fixture push goes to (the mirror serves the open one's content).
    pub fn pushable(&self) -> [&Registry; 3] {
        [&self.open, &self.basic, &self.token]
    }

    pub fn vars(&self) -> BTreeMap<String, String> {
        let realm = format!("http://127.0.0.1:{}/token", self.token_port);
        let metrics = [&self.open, &self.tls, &self.basic, &self.token, &self.mirror]
            .iter()
            .map(|r| format!("{}={}", r.name, r.metrics))
            .collect::<Vec<_>>()
            .join(" ");
        [
            ("TIDEWATCH_LAB_OPEN", self.open.addr.clone()),
            ("TIDEWATCH_LAB_TLS", self.tls.addr.clone()),
            ("TIDEWATCH_LAB_CA", self.ca_cert.display().to_string()),
            ("TIDEWATCH_LAB_BASIC", self.basic.addr.clone()),
            ("TIDEWATCH_LAB_BASIC_USER", BASIC_USER.into()),
            ("TIDEWATCH_LAB_BASIC_PASSWORD", self.basic_password.clone()),
            ("TIDEWATCH_LAB_TOKEN", self.token.addr.clone()),
            ("TIDEWATCH_LAB_TOKEN_REALM", realm),
            ("TIDEWATCH_LAB_TOKEN_SERVICE", TOKEN_SERVICE.into()),
            ("TIDEWATCH_LAB_TOKEN_USER", TOKEN_USER.into()),
            ("TIDEWATCH_LAB_TOKEN_PASSWORD", self.token_password.clone()),
            ("TIDEWATCH_LAB_TOKEN_IDENTITY", self.identity_token.clone()),
            (
                "TIDEWATCH_LAB_TOKEN_STATS",
                format!("http://127.0.0.1:{}/stats", self.token_port),
            ),
            ("TIDEWATCH_LAB_TOKEN_TTL", TOKEN_TTL_SECS.to_string()),
            ("TIDEWATCH_LAB_MIRROR", self.mirror.addr.clone()),
            ("TIDEWATCH_LAB_FAULT", self.fault.clone()),
            ("TIDEWATCH_LAB_METRICS", metrics),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// A password made fresh for each lab, so no test can pass on a hard-coded one.
fn fresh_secret(label: &str) -> String {
    use sha2::Digest;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let hash = hex::encode(sha2::Sha256::digest(format!("{label}-{nanos}-{}", std::process::id())));
    format!("{label}-{}", &hash[..16])
}

pub fn start(dir: &Path, recorder: &mut Recorder) -> Result<Registries> {
    if crate::setup::which("docker-registry").is_none() {
        anyhow::bail!("docker-registry is not installed (package docker-registry)");
    }
    let basic_password = fresh_secret("basic");
    let token_password = fresh_secret("token");
    let identity_token = fresh_secret("identity");

    // htpasswd with bcrypt at the lowest cost: the registry checks it on every request.
    let htpasswd = dir.join("htpasswd");
    let hash = bcrypt::hash(&basic_password, 4).context("hash the lab password")?;
    fs::write(&htpasswd, format!("{BASIC_USER}:{hash}\n"))?;

    // The token server's signing key and the self-signed certificate the registry trusts.
    let certified = rcgen::generate_simple_self_signed(vec!["tidewatch-lab-token-server".to_string()])
        .context("generate the token server's certificate")?;
    let cert_pem = dir.join("token-cert.pem");
    fs::write(&cert_pem, certified.cert.pem())?;
    fs::write(dir.join("token-cert.der"), certified.cert.der().as_ref())?;
    fs::write(dir.join("token-key.pk8"), certified.signing_key.serialize_der())?;

    let token_port = proc::free_port()?;
    let xtask_copy = dir.join("xtask-token-server");
    fs::copy(std::env::current_exe()?, &xtask_copy).context("copy xtask for the token server")?;
    let log = dir.join("token-server.log");
    let child = proc::spawn_daemon(
        Command::new(&xtask_copy)
            .args(["lab", "token-server", "--port", &token_port.to_string(), "--dir"])
            .arg(dir)
            .env("TIDEWATCH_LAB_TOKEN_PASSWORD", &token_password)
            .env("TIDEWATCH_LAB_TOKEN_IDENTITY", &identity_token),
        &log,
    )?;
    recorder.record("token-server", child.id())?;
    proc::wait_until("the token server", Duration::from_secs(10), Some(&log), || {
        std::net::TcpStream::connect(("127.0.0.1", token_port)).is_ok()
    })?;

    let open = start_one(dir, recorder, "open", "", PushAuth::Anonymous)?;
    let ca_cert = dir.join("ca.pem");
    let (cert, key) = lab_tls_certificate(dir, &ca_cert)?;
    // The open registry's content over HTTPS: a second process on the same storage (the lab only
    // writes through the open one).
    let tls = start_one(
        dir,
        recorder,
        "tls",
        &format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        ),
        PushAuth::Anonymous,
    )?;
    let basic = start_one(
        dir,
        recorder,
        "basic",
        &format!(
            "auth:\n  htpasswd:\n    realm: tidewatch-lab-basic\n    path: {}\n",
            htpasswd.display()
        ),
        PushAuth::Basic {
            user: BASIC_USER.into(),
            password: basic_password.clone(),
        },
    )?;
    let token = start_one(
        dir,
        recorder,
        "token",
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            cert_pem.display()
        ),
        PushAuth::Bearer { user: TOKEN_USER.into(), password: token_password.clone() },
    )?;
    let mirror = start_one(
        dir,
        recorder,
        "mirror",
        &format!("proxy:\n  remoteurl: http://{}\n", open.addr),
        PushAuth::Anonymous,
    )?;
    let fault = start_fault_registry(dir, recorder, &xtask_copy, &open.addr)?;
    Ok(Registries {
        open,
        tls,
        ca_cert,
        basic,
        token,
        mirror,
        fault,
        token_port,
        basic_password,
        token_password,
        identity_token,
    })
}

/// The fault-injecting proxy (`xtask lab fault-registry`) in front of the open registry.
fn start_fault_registry(dir: &Path, recorder: &mut Recorder, xtask: &Path, upstream: &str) -> Result<String> {
    let port = proc::free_port()?;
    let log = dir.join("fault-registry.log");
    let child = proc::spawn_daemon(
        Command::new(xtask).args([
            "lab",
            "fault-registry",
            "--port",
            &port.to_string(),
            "--upstream",
            upstream,
        ]),
        &log,
    )?;
    recorder.record("fault-registry", child.id())?;
    proc::wait_until("the fault registry", Duration::from_secs(10), Some(&log), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    Ok(format!("127.0.0.1:{port}"))
}

/// A CA for the lab and a certificate it signed for `127.0.0.1` and `localhost`: clients trust
/// the TLS registry by trusting the CA (`ca_cert`), as they would a company's. Returns the
/// certificate's and the key's paths.
fn lab_tls_certificate(dir: &Path, ca_path: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Tidewatch lab CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().context("generate the lab CA's key")?;
    let ca_cert = ca.self_signed(&ca_key).context("sign the lab CA")?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    leaf.distinguished_name.push(DnType::CommonName, "tidewatch-lab-tls");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().context("generate the TLS registry's key")?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("sign the TLS registry's certificate")?;
    let cert_path = dir.join("tls-cert.pem");
    let key_path = dir.join("tls-key.pem");
    fs::write(ca_path, ca_cert.pem())?;
    fs::write(&cert_path, leaf_cert.pem())?;
    fs::write(&key_path, leaf_key.serialize_pem())?;
    Ok((cert_path, key_path))
}

/// Starts one registry and records it. `extra` is YAML at the top level (auth, proxy), or for the
/// TLS registry under `http:`; the TLS registry serves the open one's storage.
fn start_one(dir: &Path, recorder: &mut Recorder, name: &'static str, extra: &str, auth: PushAuth) -> Result<Registry> {
    let tls = name == "tls";
    let (storage, http_extra, extra) = if tls { ("open", extra, "") } else { (name, "", extra) };
    let (child, registry) = spawn_registry(dir, name, storage, http_extra, extra, auth)?;
    recorder.record(&format!("registry-{name}"), child.id())?;
    wait_ready(dir, &registry, tls)?;
    Ok(registry)
}

/// Another registry process over the token registry's storage whose realm is `realm`: the
/// benchmark puts its latency proxy in front of the token server too. The caller stops it.
pub fn spawn_token_view(dir: &Path, realm: &str) -> Result<(std::process::Child, Registry)> {
    let extra = format!(
        "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
        dir.join("token-cert.pem").display()
    );
    let (mut child, registry) = spawn_registry(dir, "token-view", "token", "", &extra, PushAuth::Anonymous)?;
    if let Err(error) = wait_ready(dir, &registry, false) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(error);
    }
    Ok((child, registry))
}

fn spawn_registry(
    dir: &Path,
    name: &'static str,
    storage: &str,
    http_extra: &str,
    extra: &str,
    auth: PushAuth,
) -> Result<(std::process::Child, Registry)> {
    let port = proc::free_port()?;
    let debug_port = proc::free_port()?;
    let storage = dir.join(format!("registry-{storage}"));
    fs::create_dir_all(&storage)?;
    let config = format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n      path: /metrics\n\
         {http_extra}{extra}",
        storage = storage.display()
    );
    let config_path = dir.join(format!("registry-{name}.yml"));
    fs::write(&config_path, config)?;
    let log = dir.join(format!("registry-{name}.log"));
    let child = proc::spawn_daemon(Command::new("docker-registry").arg("serve").arg(&config_path), &log)?;
    let registry = Registry {
        name,
        addr: format!("127.0.0.1:{port}"),
        metrics: format!("http://127.0.0.1:{debug_port}/metrics"),
        auth,
    };
    Ok((child, registry))
}

fn wait_ready(dir: &Path, registry: &Registry, tls: bool) -> Result<()> {
    let log = dir.join(format!("registry-{}.log", registry.name));
    let ping = format!("http://{}/v2/", registry.addr);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    proc::wait_until(
        &format!("the {} registry", registry.name),
        Duration::from_secs(20),
        Some(&log),
        || {
            // xtask speaks no TLS: the TLS registry is ready once it accepts connections.
            if tls {
                return std::net::TcpStream::connect(&registry.addr).is_ok();
            }
            client
                .get(&ping)
                .send()
                .map(|r| r.status().as_u16() == 200 || r.status().as_u16() == 401)
                .unwrap_or(false)
        },
    )
}
