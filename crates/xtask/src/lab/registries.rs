//! The lab's registries: real `docker-registry` (CNCF distribution) processes, one config each:
//! open, htpasswd, token auth (trusting the lab token server's certificate) and a pull-through
//! cache of the open one. Each exposes Prometheus metrics so tests can count requests.

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
        let metrics = [&self.open, &self.basic, &self.token, &self.mirror]
            .iter()
            .map(|r| format!("{}={}", r.name, r.metrics))
            .collect::<Vec<_>>()
            .join(" ");
        [
            ("TIDEWATCH_LAB_OPEN", self.open.addr.clone()),
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

fn start_one(dir: &Path, recorder: &mut Recorder, name: &'static str, extra: &str, auth: PushAuth) -> Result<Registry> {
    let port = proc::free_port()?;
    let debug_port = proc::free_port()?;
    let storage = dir.join(format!("registry-{name}"));
    fs::create_dir_all(&storage)?;
    let config = format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n      path: /metrics\n\
         {extra}",
        storage = storage.display()
    );
    let config_path = dir.join(format!("registry-{name}.yml"));
    fs::write(&config_path, config)?;
    let log = dir.join(format!("registry-{name}.log"));
    let child = proc::spawn_daemon(Command::new("docker-registry").arg("serve").arg(&config_path), &log)?;
    recorder.record(&format!("registry-{name}"), child.id())?;
    let addr = format!("127.0.0.1:{port}");
    let ping = format!("http://{addr}/v2/");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    proc::wait_until(
        &format!("the {name} registry"),
        Duration::from_secs(20),
        Some(&log),
        || {
            client
                .get(&ping)
                .send()
                .map(|r| r.status().as_u16() == 200 || r.status().as_u16() == 401)
                .unwrap_or(false)
        },
    )?;
    Ok(Registry {
        name,
        addr,
        metrics: format!("http://127.0.0.1:{debug_port}/metrics"),
        auth,
    })
}
