//! Registry credentials: where they come from (OS keyring, Docker config, credential helpers) and
//! how they are kept out of logs, errors and Debug output.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use crate::docker_hub;
use crate::error::Coded;

/// The keyring service name Tidewatch stores its entries under (one entry per registry host).
pub const DEFAULT_KEYRING_SERVICE: &str = "tidewatch";

/// A secret (password or token) whose Debug and Display print `***`, so that a credential can be
/// logged or put in an error without leaking it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a credential was found, so an error can say which one the registry refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialOrigin {
    /// Stored by `tidewatch login` in the OS keyring.
    Keyring,
    /// `auths` in a Docker config file.
    DockerConfig { path: PathBuf },
    /// `auths` in the containers auth file (Podman, Buildah, Skopeo).
    ContainersAuth { path: PathBuf },
    /// A `docker-credential-<helper>` program named by `credHelpers` or `credsStore`.
    CredentialHelper { helper: String },
    /// Given directly by the caller (tests, the CLI's flags).
    Explicit,
}

impl fmt::Display for CredentialOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialOrigin::Keyring => f.write_str("from the OS keyring"),
            CredentialOrigin::DockerConfig { .. } => f.write_str("from docker config.json"),
            CredentialOrigin::ContainersAuth { .. } => f.write_str("from the containers auth.json"),
            CredentialOrigin::CredentialHelper { helper } => write!(f, "from docker-credential-{helper}"),
            CredentialOrigin::Explicit => f.write_str("given explicitly"),
        }
    }
}

/// What the secret is: a password (Basic, or Basic to a token realm) or an OAuth2 refresh token
/// (`identitytoken` in Docker's config, `<token>` as user name from credential helpers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    IdentityToken,
}

/// A user name and secret for one registry, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: Secret,
    pub kind: SecretKind,
    pub origin: CredentialOrigin,
}

impl Credential {
    pub fn password(username: impl Into<String>, password: impl Into<String>, origin: CredentialOrigin) -> Self {
        Credential {
            username: username.into(),
            secret: Secret::new(password),
            kind: SecretKind::Password,
            origin,
        }
    }

    pub fn identity_token(username: impl Into<String>, token: impl Into<String>, origin: CredentialOrigin) -> Self {
        Credential {
            username: username.into(),
            secret: Secret::new(token),
            kind: SecretKind::IdentityToken,
            origin,
        }
    }

    /// The user name to show in messages (identity tokens often have none).
    pub fn display_user(&self) -> &str {
        if self.username.is_empty() || self.username == "<token>" {
            "<token>"
        } else {
            &self.username
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read the Docker config {path}: {reason}")]
    DockerConfig { path: PathBuf, reason: String },
    #[error("the credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    Helper {
        helper: String,
        registry: String,
        reason: String,
    },
    #[error("the OS keyring cannot be used for {registry}: {reason}")]
    Keyring { registry: String, reason: String },
}

impl Coded for CredentialError {
    fn code(&self) -> &'static str {
        match self {
            CredentialError::DockerConfig { .. } => "credentials_config",
            CredentialError::Helper { .. } => "credentials_helper",
            CredentialError::Keyring { .. } => "credentials_keyring",
        }
    }
}

/// A source of credentials for a registry host (as references name it: `docker.io`, `ghcr.io`,
/// `127.0.0.1:5001`). `Ok(None)` means "nothing here, ask the next provider".
pub trait CredentialProvider: Send + Sync {
    fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError>;
}

/// Always the same credential (or none); for tests and explicit flags.
#[derive(Debug, Clone, Default)]
pub struct StaticProvider {
    credentials: BTreeMap<String, Credential>,
}

impl StaticProvider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, registry: &str, credential: Credential) -> Self {
        self.credentials.insert(registry_key(registry), credential);
        self
    }
}

impl CredentialProvider for StaticProvider {
    fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(self.credentials.get(&registry_key(registry)).cloned())
    }
}

/// Providers asked in order; the first credential wins. A provider that fails (a locked keyring,
/// a broken helper) is logged and skipped, so one broken source does not hide the next.
#[derive(Clone, Default)]
pub struct ChainProvider {
    providers: Vec<Arc<dyn CredentialProvider>>,
}

impl fmt::Debug for ChainProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainProvider({} providers)", self.providers.len())
    }
}

impl ChainProvider {
    pub fn new(providers: Vec<Arc<dyn CredentialProvider>>) -> Self {
        ChainProvider { providers }
    }

    /// The order of docs/registry-auth.md#credentials: the OS keyring (Tidewatch's own entries),
    /// then the Docker config, then the containers auth files (Podman's), then anonymous (no
    /// credential).
    pub fn standard() -> Self {
        let mut providers: Vec<Arc<dyn CredentialProvider>> = vec![
            Arc::new(KeyringProvider::new(DEFAULT_KEYRING_SERVICE)),
            Arc::new(DockerConfigProvider::from_environment()),
        ];
        for path in containers_auth_files() {
            providers.push(Arc::new(DockerConfigProvider::containers_auth(path)));
        }
        ChainProvider::new(providers)
    }
}

impl CredentialProvider for ChainProvider {
    fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        for provider in &self.providers {
            match provider.credential_for(registry) {
                Ok(Some(credential)) => return Ok(Some(credential)),
                Ok(None) => {}
                // The user learns why a private image is then tried anonymously.
                Err(error) => tracing::warn!(registry, %error, "credential source failed; trying the next one"),
            }
        }
        Ok(None)
    }
}

/// Entries stored by `tidewatch login` in the OS keyring (Secret Service on Linux, Keychain on
/// macOS, Credential Manager on Windows): service = `service`, user = registry host, secret = JSON
/// `{"username", "password"}`.
#[derive(Debug, Clone)]
pub struct KeyringProvider {
    service: String,
    /// How long one keyring call may take: a locked keyring waiting for a password prompt, or a
    /// bus with no Secret Service behind it, becomes a clear error instead of a hang.
    timeout: std::time::Duration,
}

/// How long a keyring call may take by default.
pub const KEYRING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one blocking keyring call on its own thread and waits at most `timeout` for it. A call
/// stuck in D-Bus is abandoned (its thread ends when the bus answers or the process exits); the
/// caller gets an error, never a plain-text fallback.
fn keyring_call<T: Send + 'static>(
    registry: &str,
    timeout: std::time::Duration,
    call: impl FnOnce() -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("keyring".into()).spawn(move || {
        let _ = sender.send(call());
    });
    if let Err(e) = spawned {
        return Err(CredentialError::Keyring {
            registry: registry.to_string(),
            reason: format!("cannot start a thread for it: {e}"),
        });
    }
    receiver.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(CredentialError::Keyring {
            registry: registry.to_string(),
            reason: format!(
                "it did not answer within {}s; is it locked, or is no Secret Service (gnome-keyring, KeePassXC) running?",
                timeout.as_secs()
            ),
        })
    })
}

#[derive(serde::Serialize, Deserialize)]
struct KeyringRecord {
    username: String,
    password: String,
}

impl KeyringProvider {
    pub fn new(service: &str) -> Self {
        KeyringProvider {
            service: service.to_string(),
            timeout: KEYRING_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for each keyring call.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn entry(service: &str, registry: &str) -> Result<keyring::Entry, CredentialError> {
        keyring::Entry::new(service, &registry_key(registry)).map_err(|e| CredentialError::Keyring {
            registry: registry.to_string(),
            reason: e.to_string(),
        })
    }

    /// Stores (or replaces) the credential for `registry` (`tidewatch login`).
    pub fn store(&self, registry: &str, username: &str, password: &Secret) -> Result<(), CredentialError> {
        let record = KeyringRecord {
            username: username.to_string(),
            password: password.expose().to_string(),
        };
        let json = Secret::new(serde_json::to_string(&record).map_err(|e| CredentialError::Keyring {
            registry: registry.to_string(),
            reason: e.to_string(),
        })?);
        let (service, name) = (self.service.clone(), registry.to_string());
        keyring_call(registry, self.timeout, move || {
            Self::entry(&service, &name)?
                .set_password(json.expose())
                .map_err(|e| CredentialError::Keyring {
                    registry: name.clone(),
                    reason: e.to_string(),
                })
        })
    }

    /// Removes the credential for `registry` (`tidewatch logout`). Returns whether one existed.
    pub fn delete(&self, registry: &str) -> Result<bool, CredentialError> {
        let (service, name) = (self.service.clone(), registry.to_string());
        keyring_call(registry, self.timeout, move || {
            match Self::entry(&service, &name)?.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring::Error::NoEntry) => Ok(false),
                Err(e) => Err(CredentialError::Keyring {
                    registry: name.clone(),
                    reason: e.to_string(),
                }),
            }
        })
    }
}

impl CredentialProvider for KeyringProvider {
    fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let (service, name) = (self.service.clone(), registry.to_string());
        let stored = keyring_call(registry, self.timeout, move || {
            match Self::entry(&service, &name)?.get_password() {
                Ok(stored) => Ok(Some(Secret::new(stored))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(CredentialError::Keyring {
                    registry: name.clone(),
                    reason: e.to_string(),
                }),
            }
        })?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let record: KeyringRecord = serde_json::from_str(stored.expose()).map_err(|_| CredentialError::Keyring {
            registry: registry.to_string(),
            // Never echo the stored text: it holds the password.
            reason: "the stored entry is not Tidewatch's format; log in to the registry again".to_string(),
        })?;
        Ok(Some(Credential::password(
            record.username,
            record.password,
            CredentialOrigin::Keyring,
        )))
    }
}

/// `tidewatch login REGISTRY`: stores the credential in the OS keyring under Tidewatch's service.
pub fn login(registry: &str, username: &str, password: &Secret) -> Result<(), CredentialError> {
    KeyringProvider::new(DEFAULT_KEYRING_SERVICE).store(registry, username, password)
}

/// `tidewatch logout REGISTRY`: removes it again; `Ok(false)` when there was none.
pub fn logout(registry: &str) -> Result<bool, CredentialError> {
    KeyringProvider::new(DEFAULT_KEYRING_SERVICE).delete(registry)
}

/// Largest output read from a credential helper.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;

/// Reads a pipe to its end (at most `MAX_HELPER_OUTPUT` bytes) on its own thread.
fn read_capped(pipe: Option<impl Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(MAX_HELPER_OUTPUT).read_to_end(&mut bytes);
        }
        let _ = sender.send(bytes);
    });
    receiver
}

/// The containers auth files in the order Podman reads them: `$REGISTRY_AUTH_FILE` alone when
/// set, else `$XDG_RUNTIME_DIR/containers/auth.json`, then `$XDG_CONFIG_HOME/containers/auth.json`
/// (usually `~/.config/containers/auth.json`).
pub fn containers_auth_files() -> Vec<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(file) = set("REGISTRY_AUTH_FILE") {
        return vec![file];
    }
    let mut files: Vec<PathBuf> = set("XDG_RUNTIME_DIR")
        .map(|dir| dir.join("containers/auth.json"))
        .into_iter()
        .collect();
    files.extend(dirs::config_dir().map(|dir| dir.join("containers/auth.json")));
    files
}

/// Docker's `config.json` (`auths`, `credHelpers`, `credsStore`), or the containers `auth.json`,
/// which has the same shape (containers-auth.json(5)).
#[derive(Debug, Clone)]
pub struct DockerConfigProvider {
    path: PathBuf,
    /// Whether this is the containers auth file, for the origin errors name.
    containers: bool,
    /// Directory searched first for `docker-credential-*` programs (tests); then `PATH`.
    helper_dir: Option<PathBuf>,
    /// How long a helper may take (one waiting for a locked keychain must not stall a check).
    helper_timeout: std::time::Duration,
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct DockerAuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for DockerAuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerAuthEntry")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl DockerConfigProvider {
    /// The config file at `path` (tests pass a temp dir's file).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DockerConfigProvider {
            path: path.into(),
            containers: false,
            helper_dir: None,
            helper_timeout: std::time::Duration::from_secs(30),
        }
    }

    /// A containers `auth.json` (Podman's), read the same way.
    pub fn containers_auth(path: impl Into<PathBuf>) -> Self {
        DockerConfigProvider {
            containers: true,
            ..DockerConfigProvider::new(path)
        }
    }

    fn origin(&self) -> CredentialOrigin {
        if self.containers {
            CredentialOrigin::ContainersAuth {
                path: self.path.clone(),
            }
        } else {
            CredentialOrigin::DockerConfig {
                path: self.path.clone(),
            }
        }
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn from_environment() -> Self {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        DockerConfigProvider::new(dir.join("config.json"))
    }

    /// Looks for `docker-credential-*` programs in `dir` before `PATH`.
    #[cfg(test)]
    fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    #[cfg(test)]
    fn with_helper_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Option<DockerConfigFile>, CredentialError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CredentialError::DockerConfig {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })
            }
        };
        self.parse(&text).map(Some)
    }

    fn parse(&self, text: &str) -> Result<DockerConfigFile, CredentialError> {
        // Only the position: serde_json's messages can quote the offending value, a secret.
        serde_json::from_str(text).map_err(|e| CredentialError::DockerConfig {
            path: self.path.clone(),
            reason: format!("not a valid Docker config (line {}, column {})", e.line(), e.column()),
        })
    }

    /// The inline `auths` credential for `registry` in a config file's text (never runs a
    /// helper): what the fuzz target reads.
    pub(crate) fn inline_credential(&self, text: &str, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let config = self.parse(text)?;
        self.inline_auth(&config, registry)
    }

    fn run_helper(&self, helper: &str, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let program = format!("docker-credential-{helper}");
        let program_path = self
            .helper_dir
            .as_ref()
            .map(|d| d.join(&program))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(&program));
        let fail = |reason: String| CredentialError::Helper {
            helper: helper.to_string(),
            registry: registry.to_string(),
            reason,
        };
        let spawn = || {
            Command::new(&program_path)
                .arg("get")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        };
        let mut attempt = 0;
        let mut child = loop {
            match spawn() {
                // ETXTBSY: a just-written helper still open in a concurrently forked process.
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempt < 5 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.map_err(|e| fail(format!("cannot run {program}: {e}")))?,
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // Helpers key Docker Hub by its legacy URL, others by host.
            let server = if is_docker_hub(registry) {
                docker_hub::CONFIG_KEY.to_string()
            } else {
                registry.to_string()
            };
            // A helper may exit without reading (broken pipe); its exit status and output decide.
            if let Err(e) = stdin.write_all(server.as_bytes()) {
                tracing::debug!(helper, error = %e, "credential helper did not read its input");
            }
        }
        // Output is read on its own threads under the same deadline as the process: a helper
        // that floods its output, or exits leaving a child holding the pipes open, cannot hang
        // a check. Answers are a few hundred bytes; more than 64 KiB is not an answer.
        let started = std::time::Instant::now();
        let stdout = read_capped(child.stdout.take());
        let stderr = read_capped(child.stderr.take());
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < self.helper_timeout => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "{program} did not answer within {}s",
                        self.helper_timeout.as_secs_f32()
                    )));
                }
                Err(e) => return Err(fail(format!("{program} did not finish: {e}"))),
            }
        };
        let remaining = self.helper_timeout.saturating_sub(started.elapsed());
        let output_of = |receiver: std::sync::mpsc::Receiver<Vec<u8>>| {
            receiver.recv_timeout(remaining).map_err(|_| {
                fail(format!(
                    "{program} exited but its output did not end within {}s (a process it started still holds it open)",
                    self.helper_timeout.as_secs_f32()
                ))
            })
        };
        let output = std::process::Output {
            status,
            stdout: output_of(stdout)?,
            stderr: output_of(stderr)?,
        };
        if !output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            // The helper protocol's "not found" answer (docker-credential-helpers' ErrCredentialsNotFound).
            if stdout.contains("credentials not found") {
                return Ok(None);
            }
            return Err(fail(format!("{program} exited with {}", output.status)));
        }
        let parsed: HelperOutput = serde_json::from_slice(&output.stdout)
            .map_err(|_| fail(format!("{program} printed something that is not its JSON answer")))?;
        if parsed.secret.is_empty() {
            return Ok(None);
        }
        let origin = CredentialOrigin::CredentialHelper {
            helper: helper.to_string(),
        };
        // `<token>` as user name marks an identity token (docker-credential-helpers convention).
        if parsed.username == "<token>" {
            Ok(Some(Credential::identity_token("<token>", parsed.secret, origin)))
        } else {
            Ok(Some(Credential::password(parsed.username, parsed.secret, origin)))
        }
    }

    fn inline_auth(&self, config: &DockerConfigFile, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let wanted = registry_key(registry);
        let Some((_, entry)) = config.auths.iter().find(|(key, _)| registry_key(key) == wanted) else {
            return Ok(None);
        };
        let origin = self.origin();
        let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| CredentialError::DockerConfig {
                    path: self.path.clone(),
                    reason: format!("the `auth` value for {registry} is not base64 of user:password"),
                })?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| CredentialError::DockerConfig {
                path: self.path.clone(),
                reason: format!("the `auth` value for {registry} is not base64 of user:password"),
            })?;
            username = Some(user.to_string());
            password = Some(pass.to_string());
        }
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::identity_token(
                username.unwrap_or_default(),
                token,
                origin,
            )));
        }
        match (username, password) {
            (Some(user), Some(pass)) if !user.is_empty() || !pass.is_empty() => {
                Ok(Some(Credential::password(user, pass, origin)))
            }
            _ => Ok(None),
        }
    }
}

impl CredentialProvider for DockerConfigProvider {
    fn credential_for(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let Some(config) = self.read()? else {
            return Ok(None);
        };
        let wanted = registry_key(registry);
        // Docker's order: a per-registry helper, then the default store, then inline auths.
        if let Some((_, helper)) = config.cred_helpers.iter().find(|(key, _)| registry_key(key) == wanted) {
            if !helper.is_empty() {
                return self.run_helper(helper, registry);
            }
        }
        if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
            if let Some(credential) = self.run_helper(store, registry)? {
                return Ok(Some(credential));
            }
        }
        self.inline_auth(&config, registry)
    }
}

fn is_docker_hub(registry: &str) -> bool {
    docker_hub::is_docker_hub(&registry_key(registry))
}

/// A registry name as a comparable key: scheme and path dropped, lowercase, Docker Hub's
/// aliases folded into `docker.io` (`https://index.docker.io/v1/` is what `docker login` writes).
pub fn registry_key(name: &str) -> String {
    let name = name.trim();
    let without_scheme = name
        .strip_prefix("https://")
        .or_else(|| name.strip_prefix("http://"))
        .unwrap_or(name);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if docker_hub::is_docker_hub(&host) {
        docker_hub::NAME.to_string()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "s3ntinel-PASSWORD-do-not-leak";

    fn write_config(dir: &Path, json: &str) -> PathBuf {
        let path = dir.join("config.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    #[test]
    fn secret_never_appears_in_debug_or_display() {
        let credential = Credential::password("alice", SENTINEL, CredentialOrigin::Keyring);
        let debug = format!("{credential:?} {:?} {}", credential.secret, credential.secret);
        assert!(!debug.contains(SENTINEL), "{debug}");
        assert!(debug.contains("***"));
        assert!(debug.contains("alice"));
    }

    #[test]
    fn registry_keys_fold_docker_hub_aliases_and_drop_scheme_and_path() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("https://ghcr.io", "ghcr.io"),
            ("http://127.0.0.1:5001/v2/", "127.0.0.1:5001"),
            ("Quay.IO", "quay.io"),
        ];
        for (input, expected) in cases {
            assert_eq!(registry_key(input), expected, "{input}");
        }
    }

    #[test]
    fn docker_config_auth_field_is_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{SENTINEL}"));
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths":{{"127.0.0.1:5001":{{"auth":"{auth}"}}}}}}"#),
        );
        let credential = DockerConfigProvider::new(&path)
            .credential_for("127.0.0.1:5001")
            .unwrap()
            .unwrap();
        assert_eq!(credential.username, "alice");
        assert_eq!(credential.secret.expose(), SENTINEL);
        assert_eq!(credential.kind, SecretKind::Password);
        assert_eq!(credential.origin.to_string(), "from docker config.json");
    }

    #[test]
    fn docker_config_username_password_and_scheme_keys_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            r#"{"auths":{"https://registry.example:5000/v2/":{"username":"bob","password":"pw"}}}"#,
        );
        let credential = DockerConfigProvider::new(&path)
            .credential_for("registry.example:5000")
            .unwrap()
            .unwrap();
        assert_eq!(credential.username, "bob");
    }

    #[test]
    fn a_containers_auth_file_is_read_like_docker_config_and_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        // Podman keys entries by host, or by host/namespace.
        std::fs::write(
            &path,
            r#"{"auths":{"quay.io/team":{"auth":"Ym9iOnB3"},"registry.example:5000":{"auth":"YWxpY2U6c2VjcmV0"}}}"#,
        )
        .unwrap();
        let provider = DockerConfigProvider::containers_auth(&path);
        let credential = provider.credential_for("registry.example:5000").unwrap().unwrap();
        assert_eq!(credential.username, "alice");
        assert_eq!(credential.origin.to_string(), "from the containers auth.json");
        assert_eq!(provider.credential_for("quay.io").unwrap().unwrap().username, "bob");
    }

    #[test]
    fn podman_credentials_come_after_the_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let docker = write_config(
            dir.path(),
            r#"{"auths":{"r.example":{"username":"docker","password":"a"}}}"#,
        );
        let podman = dir.path().join("auth.json");
        std::fs::write(&podman, r#"{"auths":{"r.example":{"username":"podman","password":"b"},"p.example":{"username":"podman","password":"c"}}}"#).unwrap();
        let chain = ChainProvider::new(vec![
            Arc::new(DockerConfigProvider::new(&docker)),
            Arc::new(DockerConfigProvider::containers_auth(&podman)),
        ]);
        assert_eq!(chain.credential_for("r.example").unwrap().unwrap().username, "docker");
        assert_eq!(chain.credential_for("p.example").unwrap().unwrap().username, "podman");
    }

    #[test]
    fn docker_hub_legacy_key_serves_docker_io() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("hubuser:hubpass");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
        );
        let credential = DockerConfigProvider::new(&path)
            .credential_for("docker.io")
            .unwrap()
            .unwrap();
        assert_eq!(credential.username, "hubuser");
    }

    #[test]
    fn identity_token_in_docker_config_is_a_refresh_token() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("00000000-0000-0000-0000-000000000000:");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths":{{"myacr.azurecr.io":{{"auth":"{auth}","identitytoken":"refresh-xyz"}}}}}}"#),
        );
        let credential = DockerConfigProvider::new(&path)
            .credential_for("myacr.azurecr.io")
            .unwrap()
            .unwrap();
        assert_eq!(credential.kind, SecretKind::IdentityToken);
        assert_eq!(credential.secret.expose(), "refresh-xyz");
    }

    #[test]
    fn missing_docker_config_means_no_credential() {
        let dir = tempfile::tempdir().unwrap();
        let provider = DockerConfigProvider::new(dir.path().join("nope.json"));
        assert!(provider.credential_for("ghcr.io").unwrap().is_none());
    }

    #[test]
    fn empty_auth_entry_means_no_credential() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), r#"{"auths":{"ghcr.io":{}}}"#);
        assert!(DockerConfigProvider::new(&path)
            .credential_for("ghcr.io")
            .unwrap()
            .is_none());
    }

    #[test]
    fn malformed_docker_config_error_names_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), &format!(r#"{{"auths": {{"x": "{SENTINEL}""#));
        let error = DockerConfigProvider::new(&path).credential_for("x").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("config.json"), "{message}");
        assert!(!message.contains(SENTINEL), "{message}");
    }

    #[cfg(unix)]
    fn write_helper(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn cred_helper_is_run_with_the_host_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(
            dir.path(),
            "fake",
            "#!/bin/sh\nread host\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"helper-%s\",\"Secret\":\"s\"}' \"$host\" \"$host\"\n",
        );
        let path = write_config(dir.path(), r#"{"credHelpers":{"registry.example":"fake"}}"#);
        let provider = DockerConfigProvider::new(&path).with_helper_dir(dir.path());
        let credential = provider.credential_for("registry.example").unwrap().unwrap();
        assert_eq!(credential.username, "helper-registry.example");
        assert_eq!(credential.origin.to_string(), "from docker-credential-fake");
        // credHelpers only applies to its own registry.
        assert!(provider.credential_for("other.example").unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn creds_store_not_found_falls_back_to_auths() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(
            dir.path(),
            "empty",
            "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
        );
        let path = write_config(
            dir.path(),
            r#"{"credsStore":"empty","auths":{"registry.example":{"username":"u","password":"p"}}}"#,
        );
        let provider = DockerConfigProvider::new(&path).with_helper_dir(dir.path());
        let credential = provider.credential_for("registry.example").unwrap().unwrap();
        assert_eq!(credential.username, "u");
        assert!(matches!(credential.origin, CredentialOrigin::DockerConfig { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn cred_helper_token_user_means_identity_token() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(
            dir.path(),
            "tok",
            "#!/bin/sh\necho '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}'\n",
        );
        let path = write_config(dir.path(), r#"{"credsStore":"tok"}"#);
        let provider = DockerConfigProvider::new(&path).with_helper_dir(dir.path());
        let credential = provider.credential_for("x.example").unwrap().unwrap();
        assert_eq!(credential.kind, SecretKind::IdentityToken);
    }

    #[cfg(unix)]
    #[test]
    fn failing_cred_helper_error_does_not_echo_its_output() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(dir.path(), "bad", &format!("#!/bin/sh\necho '{SENTINEL}'\nexit 3\n"));
        let path = write_config(dir.path(), r#"{"credsStore":"bad"}"#);
        let provider = DockerConfigProvider::new(&path).with_helper_dir(dir.path());
        let message = provider.credential_for("x.example").unwrap_err().to_string();
        assert!(message.contains("docker-credential-bad"), "{message}");
        assert!(!message.contains(SENTINEL), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn hanging_cred_helper_is_killed_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(dir.path(), "slow", "#!/bin/sh\nexec sleep 10\n");
        let path = write_config(dir.path(), r#"{"credsStore":"slow"}"#);
        let provider = DockerConfigProvider::new(&path)
            .with_helper_dir(dir.path())
            .with_helper_timeout(std::time::Duration::from_millis(200));
        let started = std::time::Instant::now();
        let message = provider.credential_for("x.example").unwrap_err().to_string();
        assert!(message.contains("did not answer"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[cfg(unix)]
    #[test]
    fn cred_helper_that_exits_but_leaves_its_output_open_is_cut_by_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        // The helper answers and exits; a background child keeps stdout open for 30 s.
        write_helper(
            dir.path(),
            "leaky",
            "#!/bin/sh
echo '{\"Username\":\"u\",\"Secret\":\"p\"}'
sleep 30 &
exit 0
",
        );
        let path = write_config(dir.path(), r#"{"credsStore":"leaky"}"#);
        let provider = DockerConfigProvider::new(&path)
            .with_helper_dir(dir.path())
            .with_helper_timeout(std::time::Duration::from_millis(500));
        let started = std::time::Instant::now();
        let message = provider.credential_for("x.example").unwrap_err().to_string();
        assert!(message.contains("output did not end"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[cfg(unix)]
    #[test]
    fn cred_helper_flooding_its_output_is_cut_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_helper(
            dir.path(),
            "flood",
            "#!/bin/sh
exec yes
",
        );
        let path = write_config(dir.path(), r#"{"credsStore":"flood"}"#);
        let provider = DockerConfigProvider::new(&path)
            .with_helper_dir(dir.path())
            .with_helper_timeout(std::time::Duration::from_millis(500));
        let started = std::time::Instant::now();
        assert!(provider.credential_for("x.example").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_keyring_call_that_hangs_is_an_error_within_its_timeout() {
        let started = std::time::Instant::now();
        let error = keyring_call("x.example", std::time::Duration::from_millis(200), || {
            std::thread::sleep(std::time::Duration::from_secs(30));
            Ok(())
        })
        .unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(error.code(), "credentials_keyring");
        assert!(error.to_string().contains("did not answer within"), "{error}");
    }

    #[test]
    fn chain_takes_the_first_provider_that_has_a_credential() {
        let first =
            StaticProvider::new().with("a.example", Credential::password("one", "1", CredentialOrigin::Keyring));
        let second = StaticProvider::new()
            .with(
                "a.example",
                Credential::password("two", "2", CredentialOrigin::Explicit),
            )
            .with(
                "b.example",
                Credential::password("three", "3", CredentialOrigin::Explicit),
            );
        let chain = ChainProvider::new(vec![Arc::new(first), Arc::new(second)]);
        assert_eq!(chain.credential_for("a.example").unwrap().unwrap().username, "one");
        assert_eq!(chain.credential_for("b.example").unwrap().unwrap().username, "three");
        assert!(chain.credential_for("c.example").unwrap().is_none());
    }

    #[test]
    fn chain_skips_a_failing_provider() {
        let dir = tempfile::tempdir().unwrap();
        let broken = DockerConfigProvider::new(write_config(dir.path(), "{not json"));
        let good = StaticProvider::new().with("a.example", Credential::password("ok", "1", CredentialOrigin::Explicit));
        let chain = ChainProvider::new(vec![Arc::new(broken), Arc::new(good)]);
        assert_eq!(chain.credential_for("a.example").unwrap().unwrap().username, "ok");
    }
}
