//! Engine addresses: which engine to connect to (`EngineSpec`), how a Docker host URL is read,
//! the TLS files that go with it, and where a local engine may be listening.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{EngineError, LOCAL_NAME};
use crate::config::EngineConfig;

/// Docker's conventional ports when a `tcp://` address names none.
const DOCKER_PLAIN_PORT: u16 = 2375;
const DOCKER_TLS_PORT: u16 = 2376;

/// Where an engine's address came from, so the UI can say why an engine is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineOrigin {
    /// An `[[engines]]` entry of Tidewatch's config.
    Config,
    /// A Docker context (`~/.docker/contexts`).
    DockerContext,
    /// Found by local discovery (`DOCKER_HOST`, the usual sockets).
    Local,
    /// Given directly (the CLI's `--engine`, a test).
    Given,
}

/// An engine to connect to: a name, a Docker host URL and, for TLS engines, the certificate files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSpec {
    pub name: String,
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, `https://host:2376`, `ssh://user@host`.
    pub host: String,
    /// CA that signed the engine's certificate.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key the engine requires.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub origin: EngineOrigin,
}

impl EngineSpec {
    /// An engine given by name and host, without TLS files.
    pub fn new(name: impl Into<String>, host: impl Into<String>) -> EngineSpec {
        EngineSpec {
            name: name.into(),
            host: host.into(),
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            origin: EngineOrigin::Given,
        }
    }

    /// The same engine with TLS files (CA, client certificate, client key).
    pub fn with_tls(mut self, ca: impl Into<PathBuf>, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> EngineSpec {
        self.tls_ca = Some(ca.into());
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    pub fn with_origin(mut self, origin: EngineOrigin) -> EngineSpec {
        self.origin = origin;
        self
    }

    pub(crate) fn has_tls_files(&self) -> bool {
        self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()
    }

    /// The host with any password in it replaced, for messages and logs.
    pub fn display_host(&self) -> String {
        redact_host(&self.host)
    }
}

impl From<&EngineConfig> for EngineSpec {
    fn from(config: &EngineConfig) -> EngineSpec {
        EngineSpec {
            name: config.name.clone(),
            host: config.host.clone(),
            tls_ca: config.tls_ca.clone(),
            tls_cert: config.tls_cert.clone(),
            tls_key: config.tls_key.clone(),
            origin: EngineOrigin::Config,
        }
    }
}

/// A Docker host URL, read and completed with Docker's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostUrl {
    /// `unix://PATH`.
    Unix { path: PathBuf },
    /// `tcp://`, `http://` or `https://`: `authority` is `host:port` (port defaulted as Docker does).
    Tcp { authority: String, tls: bool },
    /// `ssh://[user@]host`: `url` without the port, which is kept apart because bollard drops
    /// it (it hands `user@host:port` to ssh as a host name).
    Ssh { url: String, port: Option<u16> },
}

impl HostUrl {
    /// Reads `host`. `tls_files` says whether TLS files were configured: with them `tcp://` means
    /// TLS, as with `docker --tlsverify -H tcp://…` and Docker contexts.
    pub fn parse(host: &str, tls_files: bool) -> Result<HostUrl, EngineError> {
        let unsupported = || EngineError::UnsupportedHost {
            host: redact_host(host),
        };
        let host = host.trim();
        let Some((scheme, rest)) = host.split_once("://") else {
            return Err(unsupported());
        };
        match scheme.to_ascii_lowercase().as_str() {
            "unix" if !rest.is_empty() => Some(HostUrl::Unix {
                path: PathBuf::from(rest),
            }),
            "tcp" => tcp_authority(rest, tls_files).map(|authority| HostUrl::Tcp {
                authority,
                tls: tls_files,
            }),
            // http:// is plain by definition; TLS files with it are a contradiction, not a hint.
            "http" if !tls_files => tcp_authority(rest, false).map(|authority| HostUrl::Tcp { authority, tls: false }),
            "https" => tcp_authority(rest, true).map(|authority| HostUrl::Tcp { authority, tls: true }),
            "ssh" => ssh_target(rest).map(|(target, port)| HostUrl::Ssh {
                url: format!("ssh://{target}"),
                port,
            }),
            _ => None,
        }
        .ok_or_else(unsupported)
    }

    /// The URL bollard is given.
    pub fn to_url(&self) -> String {
        match self {
            HostUrl::Unix { path } => format!("unix://{}", path.display()),
            HostUrl::Tcp { authority, tls: false } => format!("tcp://{authority}"),
            HostUrl::Tcp { authority, tls: true } => format!("https://{authority}"),
            HostUrl::Ssh { url, port: None } => url.clone(),
            HostUrl::Ssh { url, port: Some(port) } => format!("{url}:{port}"),
        }
    }
}

/// `host[:port][/]` with Docker's default port added; `None` when there is no host or a path.
fn tcp_authority(rest: &str, tls: bool) -> Option<String> {
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    // A port is present after the last ':' unless that ':' is inside an IPv6 literal.
    let has_port = match authority.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => {
            port.parse::<u16>().ok()?;
            true
        }
        _ => false,
    };
    if has_port {
        Some(authority.to_string())
    } else {
        let port = if tls { DOCKER_TLS_PORT } else { DOCKER_PLAIN_PORT };
        Some(format!("{authority}:{port}"))
    }
}

/// `[user@]host` and the port of an ssh:// address; `None` when there is no host or a path.
fn ssh_target(rest: &str) -> Option<(String, Option<u16>)> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // Docker refuses a path in an ssh:// host; so do we, rather than ignore it silently.
    if rest.contains(['/', '?', '#', ' ']) {
        return None;
    }
    let (user, host_port) = match rest.rsplit_once('@') {
        Some((user, host_port)) if !user.is_empty() => (Some(user), host_port),
        Some(_) => return None,
        None => (None, rest),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return None;
    }
    let target = user.map_or_else(|| host.to_string(), |user| format!("{user}@{host}"));
    // Port 22 is ssh's own default: nothing to pass on.
    Some((target, port.filter(|p| *p != 22)))
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`: passwords never reach a message.
pub(crate) fn redact_host(host: &str) -> String {
    let Some((scheme, rest)) = host.split_once("://") else {
        return host.to_string();
    };
    let (authority, tail) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    match authority.rsplit_once('@') {
        Some((userinfo, server)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{server}{tail}")
        }
        _ => host.to_string(),
    }
}

/// The three TLS files of a TLS engine, each checked to be readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS files for `spec`, or a message naming what is missing. With none configured, Docker's
/// own defaults apply (`$DOCKER_CERT_PATH`, else the Docker config dir: `ca.pem`, `cert.pem`,
/// `key.pem`), as the docker CLI does.
pub(crate) fn tls_files(spec: &EngineSpec) -> Result<TlsFiles, String> {
    let (ca, cert, key) = if spec.has_tls_files() {
        (spec.tls_ca.clone(), spec.tls_cert.clone(), spec.tls_key.clone())
    } else {
        let dir = std::env::var_os("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .or_else(super::docker_config_dir);
        let in_dir = |file: &str| dir.as_ref().map(|d| d.join(file));
        (in_dir("ca.pem"), in_dir("cert.pem"), in_dir("key.pem"))
    };
    let missing: Vec<&str> = [("tls_ca", &ca), ("tls_cert", &cert), ("tls_key", &key)]
        .into_iter()
        .filter(|(_, path)| path.is_none())
        .map(|(field, _)| field)
        .collect();
    let (Some(ca), Some(cert), Some(key)) = (ca, cert, key) else {
        return Err(format!(
            "a TLS engine needs a CA, a client certificate and a client key, and {} is not set; \
             add it to the engine's [[engines]] entry",
            missing.join(", ")
        ));
    };
    for (role, path) in [
        ("CA certificate (tls_ca)", &ca),
        ("client certificate (tls_cert)", &cert),
        ("client key (tls_key)", &key),
    ] {
        check_readable(role, path).map_err(|e| {
            if spec.has_tls_files() {
                e
            } else {
                format!("no TLS files are configured for this engine, so Docker's defaults apply, and {e}; set tls_ca, tls_cert and tls_key")
            }
        })?;
    }
    Ok(TlsFiles { ca, cert, key })
}

fn check_readable(role: &str, path: &Path) -> Result<(), String> {
    // Read now: bollard reads the client certificate only during the handshake, where a missing
    // file turns into an opaque "bad certificate" from the engine.
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Err(format!("the {role} {} is empty", path.display())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "the {role} {} does not exist; fix the path in the engine's configuration or Docker context",
            path.display()
        )),
        Err(e) => Err(format!("the {role} {} cannot be read: {e}", path.display())),
    }
}

/// Where a local engine may be, in the order they are tried: `DOCKER_HOST` (TLS when
/// `DOCKER_TLS_VERIFY` is set, as with the docker CLI), the current Docker context (Docker Desktop
/// for Linux lives there), Docker's socket, rootless Docker, then Podman's rootless and rootful
/// sockets. All are named `local`.
pub fn local_candidates() -> Vec<EngineSpec> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let tls_verify = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
    let context = super::docker_config_dir().and_then(|dir| super::context::current_context(&dir));
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    local_candidates_from(docker_host.as_deref(), tls_verify, context, runtime_dir.as_deref())
}

pub(crate) fn local_candidates_from(
    docker_host: Option<&str>,
    tls_verify: bool,
    context: Option<EngineSpec>,
    runtime_dir: Option<&Path>,
) -> Vec<EngineSpec> {
    let local = |host: String| EngineSpec::new(LOCAL_NAME, host).with_origin(EngineOrigin::Local);
    let mut candidates = Vec::new();
    if let Some(host) = docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        let host = match host.strip_prefix("tcp://") {
            Some(rest) if tls_verify => format!("https://{rest}"),
            _ => host.to_string(),
        };
        candidates.push(local(host));
    }
    if let Some(context) = context {
        candidates.push(EngineSpec {
            name: LOCAL_NAME.to_string(),
            ..context
        });
    }
    candidates.push(local("unix:///var/run/docker.sock".to_string()));
    if let Some(dir) = runtime_dir.filter(|d| d.is_absolute()) {
        candidates.push(local(format!("unix://{}", dir.join("docker.sock").display())));
        candidates.push(local(format!("unix://{}", dir.join("podman/podman.sock").display())));
    }
    candidates.push(local("unix:///run/podman/podman.sock".to_string()));
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.host.clone()));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls_are_read_with_dockers_defaults() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            (
                "unix:///var/run/docker.sock",
                false,
                Some("unix:///var/run/docker.sock"),
            ),
            ("tcp://10.0.0.5:2375", false, Some("tcp://10.0.0.5:2375")),
            ("tcp://10.0.0.5", false, Some("tcp://10.0.0.5:2375")),
            ("tcp://10.0.0.5", true, Some("https://10.0.0.5:2376")),
            ("tcp://engine.lan:2376/", true, Some("https://engine.lan:2376")),
            ("http://engine.lan", false, Some("tcp://engine.lan:2375")),
            ("https://engine.lan", true, Some("https://engine.lan:2376")),
            ("HTTPS://engine.lan:443", true, Some("https://engine.lan:443")),
            ("tcp://[::1]", false, Some("tcp://[::1]:2375")),
            ("tcp://[::1]:2380", false, Some("tcp://[::1]:2380")),
            ("ssh://alice@build.lan", false, Some("ssh://alice@build.lan")),
            ("ssh://alice@build.lan:2222", false, Some("ssh://alice@build.lan:2222")),
            ("ssh://build.lan", false, Some("ssh://build.lan")),
            // Refused with the list of accepted forms.
            ("http://engine.lan", true, None),
            ("tcp://", false, None),
            ("tcp://engine.lan:notaport", false, None),
            ("tcp://engine.lan:2375/v1.41", false, None),
            ("ssh://alice@build.lan/var/run/docker.sock", false, None),
            ("ssh://alice@", false, None),
            ("ssh://alice@build.lan:22/", false, Some("ssh://alice@build.lan")),
            ("ssh://@build.lan", false, None),
            ("ssh://alice@build.lan:port", false, None),
            ("unix://", false, None),
            ("npipe:////./pipe/docker_engine", false, None),
            ("/var/run/docker.sock", false, None),
            ("engine.lan:2375", false, None),
        ];
        for (host, tls, expected) in cases {
            let parsed = HostUrl::parse(host, *tls).map(|h| h.to_url()).ok();
            assert_eq!(parsed.as_deref(), *expected, "{host} (tls files: {tls})");
        }
    }

    #[test]
    fn passwords_in_host_urls_are_redacted() {
        assert_eq!(
            redact_host("tcp://alice:s3cret@engine.lan:2375"),
            "tcp://alice:***@engine.lan:2375"
        );
        assert_eq!(redact_host("ssh://alice@build.lan"), "ssh://alice@build.lan");
        assert_eq!(
            redact_host("unix:///run/user/1000/docker.sock"),
            "unix:///run/user/1000/docker.sock"
        );
        let error = HostUrl::parse("ftp://alice:s3cret@engine.lan", false).unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn local_candidates_come_in_discovery_order_without_duplicates() {
        let hosts = |specs: Vec<EngineSpec>| specs.into_iter().map(|s| s.host).collect::<Vec<_>>();
        let runtime = Path::new("/run/user/1000");
        let desktop = EngineSpec::new("desktop-linux", "unix:///home/a/.docker/desktop/docker.sock")
            .with_origin(EngineOrigin::DockerContext);
        let candidates = local_candidates_from(Some("tcp://10.0.0.5:2375"), false, Some(desktop), Some(runtime));
        assert!(candidates.iter().all(|c| c.name == "local"));
        assert_eq!(candidates[1].origin, EngineOrigin::DockerContext);
        assert_eq!(
            hosts(candidates),
            [
                "tcp://10.0.0.5:2375",
                "unix:///home/a/.docker/desktop/docker.sock",
                "unix:///var/run/docker.sock",
                "unix:///run/user/1000/docker.sock",
                "unix:///run/user/1000/podman/podman.sock",
                "unix:///run/podman/podman.sock",
            ]
        );
        assert_eq!(
            hosts(local_candidates_from(
                Some("unix:///var/run/docker.sock"),
                false,
                None,
                None
            )),
            ["unix:///var/run/docker.sock", "unix:///run/podman/podman.sock"]
        );
        assert_eq!(
            local_candidates_from(Some(" "), false, None, Some(Path::new("relative"))).len(),
            2
        );
        // DOCKER_TLS_VERIFY makes a tcp:// DOCKER_HOST a TLS engine.
        assert_eq!(
            local_candidates_from(Some("tcp://h:2376"), true, None, None)[0].host,
            "https://h:2376"
        );
    }

    #[test]
    fn tls_files_name_what_is_missing_or_unreadable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        let cert = dir.path().join("cert.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").expect("write ca");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").expect("write cert");

        let mut spec = EngineSpec::new("remote", "https://engine.lan:2376");
        spec.tls_ca = Some(ca.clone());
        spec.tls_cert = Some(cert.clone());
        let error = tls_files(&spec).unwrap_err();
        assert!(error.contains("tls_key"), "{error}");

        let key = dir.path().join("key.pem");
        let spec = spec.with_tls(&ca, &cert, &key);
        let error = tls_files(&spec).unwrap_err();
        assert!(
            error.contains(&key.display().to_string()) && error.contains("does not exist"),
            "{error}"
        );

        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").expect("write key");
        assert_eq!(tls_files(&spec), Ok(TlsFiles { ca, cert, key }));
    }
}
