//! The configuration file (docs/config.md): one TOML file shared by the app and the CLI, read strictly and written atomically.
//!
//! The file is edited both by hand and by the app's settings view, so reading is strict (unknown
//! keys are errors that name them, with line and column) and writing is careful: only what changed
//! is edited in the user's document ([`document`]), through a temporary file in the same
//! directory, fsync, rename; a file that does not parse is kept aside rather than silently
//! replaced, and one changed by someone else since it was read is not overwritten blindly.
//! Credentials never live here: they are in the OS keyring.

pub mod document;

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::Coded;
use crate::mirror::{MirrorError, MirrorResolver, MirrorRule};
use crate::registry::RegistrySettings;
use crate::update::policy::AutoUpdate;
use crate::version::{TagFilter, TagFilterError, UpdateKind};

/// Environment variable naming the configuration file; `--config FILE` wins over it.
pub const CONFIG_ENV: &str = "TIDEWATCH_CONFIG";

/// File name inside the platform config dir's `tidewatch/` folder.
pub const CONFIG_FILE_NAME: &str = "config.toml";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);
const DEFAULT_JITTER: Duration = Duration::from_secs(10 * 60);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// What `[schedule]` accepts: a check at most every minute, at least once a year; jitter up to a
/// year. Beyond that the timer arithmetic would be meaningless (docs/config.md#schedule).
const INTERVAL_BOUNDS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(365 * 24 * 3600));
const MAX_JITTER: Duration = Duration::from_secs(365 * 24 * 3600);

/// What `[deadlines]` accepts: from a second to a day.
const DEADLINE_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));

/// Engine host schemes Tidewatch can connect to (what bollard supports on all platforms we ship).
const ENGINE_SCHEMES: &[&str] = &["unix", "tcp", "https", "ssh"];

/// Keys people try to put credentials under; the unknown-key error for them points at `tidewatch login`.
const SECRET_LIKE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "username",
    "user",
    "auth",
    "token",
    "identitytoken",
    "identity_token",
    "secret",
];

/// The whole file. Every table is optional; a missing file is `Config::default()`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<EngineConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<RegistryConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorRule>,
    #[serde(default)]
    pub notifications: Notifications,
    #[serde(default, skip_serializing_if = "TagFilters::is_empty")]
    pub tags: TagFilters,
    #[serde(default, skip_serializing_if = "Deadlines::is_default")]
    pub deadlines: Deadlines,
    #[serde(default, skip_serializing_if = "Updates::is_default")]
    pub updates: Updates,
}

/// `[deadlines]`: how long one registry request, one image and one whole check may take before
/// what is missing becomes `unknown` (docs/reliability.md#deadlines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// One request, connection to last byte of the body.
    #[serde(default = "default_request_deadline", with = "humantime_serde")]
    pub request: Duration,
    /// One image (its HEAD, tag list pages, manifests, retries).
    #[serde(default = "default_image_deadline", with = "humantime_serde")]
    pub image: Duration,
    /// One whole check.
    #[serde(default = "default_check_deadline", with = "humantime_serde")]
    pub check: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            request: default_request_deadline(),
            image: default_image_deadline(),
            check: default_check_deadline(),
        }
    }
}

/// `[updates]`: applying updates (docs/updates.md): which ones the app may apply without asking,
/// and how long a new container may take to turn healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Updates {
    /// Automatic updates for containers whose labels say nothing: `off` (the default), `digest`,
    /// `patch`, `minor` or `all`.
    #[serde(default)]
    pub auto: AutoUpdate,
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    pub health_timeout: Duration,
}

impl Default for Updates {
    fn default() -> Self {
        Updates {
            auto: AutoUpdate::Off,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

impl Deadlines {
    fn is_default(&self) -> bool {
        *self == Deadlines::default()
    }
}

fn default_request_deadline() -> Duration {
    Duration::from_secs(30)
}

fn default_image_deadline() -> Duration {
    Duration::from_secs(3 * 60)
}

fn default_check_deadline() -> Duration {
    Duration::from_secs(15 * 60)
}

impl Updates {
    pub fn is_default(&self) -> bool {
        *self == Updates::default()
    }
}

fn default_health_timeout() -> Duration {
    DEFAULT_HEALTH_TIMEOUT
}

/// `[schedule]`: how often the app checks, with random jitter so a fleet of laptops does not
/// hit the registries at the same second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    #[serde(default = "default_jitter", with = "humantime_serde")]
    pub jitter: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
        }
    }
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

fn default_jitter() -> Duration {
    DEFAULT_JITTER
}

/// `[[engines]]`: a Docker (or Podman) engine to watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub name: String,
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, `https://host:2376`, `ssh://user@host`.
    pub host: String,
    /// CA that signed the engine's certificate (`https://` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key for engines that require them (`https://` only; both or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl EngineConfig {
    /// The scheme of `host` (`unix`, `tcp`, ...), when it has one.
    pub fn scheme(&self) -> Option<&str> {
        self.host.split_once("://").map(|(scheme, _)| scheme)
    }
}

/// `[[registries]]`: per-registry transport settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// As references name it: `registry.corp.example:5000`, no scheme, no path.
    pub host: String,
    /// Plain HTTP. Loopback registries never need it, as with Docker.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Requests in flight at once while the registry answers well (default 64, and 256 once it
    /// answers over HTTP/2; a value set here holds for both); the limit backs off by itself
    /// when the registry asks to slow down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `[notifications]`: whether desktop notifications are shown, and for which kinds of update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "all_update_kinds")]
    pub kinds: Vec<UpdateKind>,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            enabled: true,
            kinds: all_update_kinds(),
        }
    }
}

impl Notifications {
    /// Whether an update of this kind should raise a notification.
    pub fn notifies(&self, kind: UpdateKind) -> bool {
        self.enabled && self.kinds.contains(&kind)
    }
}

fn default_true() -> bool {
    true
}

fn all_update_kinds() -> Vec<UpdateKind> {
    use UpdateKind::*;
    vec![Major, Minor, Patch, Build, Prerelease, Digest]
}

/// `[tags]`: include/exclude regexes applied to candidate tags of every image (labels refine per container).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
}

impl TagFilters {
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// The compiled filter.
    pub fn filter(&self) -> Result<TagFilter, TagFilterError> {
        TagFilter::new(self.include.as_deref(), self.exclude.as_deref())
    }
}

/// A configuration that parses but cannot be used, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidConfig {
    #[error("[schedule] interval must be between 1m and 1year; write e.g. interval = \"6h\"")]
    IntervalOutOfRange,
    #[error("[schedule] jitter must be at most 1year; write e.g. jitter = \"10m\"")]
    JitterOutOfRange,
    #[error("[deadlines] {name} must be between 1s and 1day")]
    DeadlineOutOfRange { name: &'static str },
    #[error("[updates] health_timeout must be between 1s and 1h; write e.g. health_timeout = \"2m\"")]
    HealthTimeout,
    #[error("engine #{index} has an empty name; give every [[engines]] entry a name")]
    EmptyEngineName { index: usize },
    #[error("two engines are named {name:?}; engine names must be unique")]
    DuplicateEngine { name: String },
    #[error(
        "engine {name:?} has host {host:?}, which Tidewatch cannot connect to; \
         use unix://PATH, tcp://HOST:PORT, https://HOST:PORT or ssh://USER@HOST"
    )]
    EngineScheme { name: String, host: String },
    #[error(
        "engine {name:?}: the host URL contains a password; remove it and use an SSH key \
         (ssh-agent) or TLS client certificates instead"
    )]
    EngineSecret { name: String },
    #[error("engine {name:?}: {reason}")]
    EngineTls { name: String, reason: String },
    #[error("registry #{index}: {reason}")]
    RegistryHost { index: usize, reason: String },
    #[error(
        "registry {host:?} has max_in_flight = {value}; use a number from 1 to {}",
        crate::registry::MAX_IN_FLIGHT_CEILING
    )]
    RegistryLimit { host: String, value: usize },
    #[error("registry {host:?} is listed twice; merge the two [[registries]] entries")]
    DuplicateRegistry { host: String },
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("[tags] {0}")]
    TagFilter(#[from] TagFilterError),
}

impl InvalidConfig {
    /// The value in the file the problem is about, to point at its line.
    fn offending_value(&self) -> Option<String> {
        match self {
            InvalidConfig::DuplicateEngine { name } => Some(name.clone()),
            InvalidConfig::EngineScheme { host, .. } => Some(host.clone()),
            InvalidConfig::EngineSecret { name } | InvalidConfig::EngineTls { name, .. } => Some(name.clone()),
            InvalidConfig::DuplicateRegistry { host } | InvalidConfig::RegistryLimit { host, .. } => Some(host.clone()),
            InvalidConfig::Mirror(MirrorError::InvalidRule { mirror, .. }) => Some(mirror.clone()),
            InvalidConfig::TagFilter(e) => Some(e.pattern.clone()),
            _ => None,
        }
    }
}

/// Reading, validating or writing the configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config directory is known for this platform; pass --config FILE or set {CONFIG_ENV}")]
    NoConfigDir,
    #[error("cannot read the configuration {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}, line {line}, column {column}: {message}; {hint}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: String,
    },
    #[error("{path}{}: {problem}", position.map(|(l, c)| format!(", line {l}, column {c}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        /// Line and column (1-based) of the value the problem is about, when it could be found.
        position: Option<(usize, usize)>,
        problem: InvalidConfig,
    },
    #[error("cannot write the configuration {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error(
        "{path} was changed by another program since it was read; reload it, or save again to replace \
         that change"
    )]
    Changed { path: PathBuf },
}

impl Coded for ConfigError {
    fn code(&self) -> &'static str {
        match self {
            ConfigError::NoConfigDir => "config_no_dir",
            ConfigError::Read { .. } => "config_read",
            ConfigError::Parse { .. } => "config_parse",
            ConfigError::Invalid { .. } => "config_invalid",
            ConfigError::Write { .. } => "config_write",
            ConfigError::Changed { .. } => "config_changed",
        }
    }
}

/// Where the configuration lives: `explicit` (`--config FILE`), else `$TIDEWATCH_CONFIG`, else
/// the platform config dir's `tidewatch/config.toml`.
pub fn config_path(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    resolve_path(explicit, std::env::var_os(CONFIG_ENV), dirs::config_dir())
}

fn resolve_path(
    explicit: Option<&Path>,
    env: Option<std::ffi::OsString>,
    config_dir: Option<PathBuf>,
) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    // An empty variable is treated as unset, as shells make it easy to export one by accident.
    if let Some(env) = env.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    config_dir
        .map(|dir| dir.join("tidewatch").join(CONFIG_FILE_NAME))
        .ok_or(ConfigError::NoConfigDir)
}

impl Config {
    /// Parses and validates `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| parse_error(text, path, &e))?;
        config.validate().map_err(|problem| ConfigError::Invalid {
            path: path.to_path_buf(),
            position: problem.offending_value().and_then(|value| locate_value(text, &value)),
            problem,
        })?;
        Ok(config)
    }

    /// Reads `path`; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match read_text(path)? {
            Some(text) => Config::parse(&text, path),
            None => Ok(Config::default()),
        }
    }

    /// Validates, then writes atomically (temporary file in the same directory, fsync, rename),
    /// creating the directory when needed. A symlinked file is written through the link. When
    /// the file holds a valid configuration, only what differs from it is edited in its text:
    /// comments, order and formatting of the rest are kept.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate().map_err(|problem| ConfigError::Invalid {
            path: path.to_path_buf(),
            position: None,
            problem,
        })?;
        let current = read_text(path)?.unwrap_or_default();
        let text = self.edit_text(&current, path).map_err(|reason| ConfigError::Write {
            path: path.to_path_buf(),
            reason,
        })?;
        write_atomic(path, text.as_bytes()).map_err(|e| ConfigError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The text to write: `current` edited to say `self`, or the whole file from the values when
    /// there is none yet or `current` is not a valid configuration (the caller keeps that one aside).
    fn edit_text(&self, current: &str, path: &Path) -> Result<String, String> {
        if current.trim().is_empty() {
            return self.to_toml_string();
        }
        match Config::parse(current, path) {
            Ok(before) => document::edit(current, &before, self),
            Err(_) => self.to_toml_string(),
        }
    }

    /// The file's text as `save` writes it when there is no file to edit.
    pub fn to_toml_string(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Checks what the types cannot: engine hosts, unique names, a positive interval, usable
    /// mirror rules and tag regexes.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let within = |value: Duration, (low, high): (Duration, Duration)| low <= value && value <= high;
        if !within(self.schedule.interval, INTERVAL_BOUNDS) {
            return Err(InvalidConfig::IntervalOutOfRange);
        }
        if self.schedule.jitter > MAX_JITTER {
            return Err(InvalidConfig::JitterOutOfRange);
        }
        for (name, value) in [
            ("request", self.deadlines.request),
            ("image", self.deadlines.image),
            ("check", self.deadlines.check),
        ] {
            if !within(value, DEADLINE_BOUNDS) {
                return Err(InvalidConfig::DeadlineOutOfRange { name });
            }
        }
        if self.updates.health_timeout < Duration::from_secs(1)
            || self.updates.health_timeout > Duration::from_secs(3600)
        {
            return Err(InvalidConfig::HealthTimeout);
        }
        let mut names = HashSet::new();
        for (index, engine) in self.engines.iter().enumerate() {
            validate_engine(index + 1, engine)?;
            if !names.insert(engine.name.as_str()) {
                return Err(InvalidConfig::DuplicateEngine {
                    name: engine.name.clone(),
                });
            }
        }
        let mut hosts = HashSet::new();
        for (index, registry) in self.registries.iter().enumerate() {
            validate_registry_host(&registry.host).map_err(|reason| InvalidConfig::RegistryHost {
                index: index + 1,
                reason,
            })?;
            if let Some(value) = registry.max_in_flight {
                if !(1..=crate::registry::MAX_IN_FLIGHT_CEILING).contains(&value) {
                    return Err(InvalidConfig::RegistryLimit {
                        host: registry.host.clone(),
                        value,
                    });
                }
            }
            if !hosts.insert(registry.host.to_ascii_lowercase()) {
                return Err(InvalidConfig::DuplicateRegistry {
                    host: registry.host.clone(),
                });
            }
        }
        MirrorResolver::new(&self.mirrors, &[])?;
        self.tags.filter()?;
        Ok(())
    }

    /// The mirror resolver for these rules plus the engine's own `registry-mirrors`.
    pub fn mirror_resolver(&self, engine_mirrors: &[String]) -> Result<MirrorResolver, MirrorError> {
        MirrorResolver::new(&self.mirrors, engine_mirrors)
    }

    /// The `[registries]` entry for `host` (as references name it), if any.
    pub fn registry(&self, host: &str) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| r.host.eq_ignore_ascii_case(host))
    }

    /// The client settings every registry starts from: the defaults with `[deadlines] request`.
    pub fn default_registry_settings(&self) -> RegistrySettings {
        RegistrySettings {
            timeout: self.deadlines.request,
            ..RegistrySettings::default()
        }
    }

    /// The client settings for `host`: its `[[registries]]` entry, else the defaults.
    pub fn registry_settings(&self, host: &str) -> RegistrySettings {
        let defaults = self.default_registry_settings();
        match self.registry(host) {
            Some(registry) => registry.settings(&defaults),
            None => defaults,
        }
    }
}

impl RegistryConfig {
    /// What this entry sets on a registry client (plain HTTP, CA certificate, requests in flight)
    /// over `defaults`.
    pub fn settings(&self, defaults: &RegistrySettings) -> RegistrySettings {
        RegistrySettings {
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
            // A limit the user chose holds whatever the protocol.
            max_in_flight_http2: self.max_in_flight.unwrap_or(defaults.max_in_flight_http2),
            ..defaults.clone()
        }
    }
}

fn validate_engine(index: usize, engine: &EngineConfig) -> Result<(), InvalidConfig> {
    if engine.name.trim().is_empty() {
        return Err(InvalidConfig::EmptyEngineName { index });
    }
    let scheme_error = || InvalidConfig::EngineScheme {
        name: engine.name.clone(),
        host: engine.host.clone(),
    };
    let (scheme, rest) = engine.host.split_once("://").ok_or_else(scheme_error)?;
    if !ENGINE_SCHEMES.contains(&scheme) || rest.is_empty() {
        return Err(scheme_error());
    }
    // `ssh://user:password@host` would put a secret in a file that is meant to hold none.
    if scheme != "unix" {
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(InvalidConfig::EngineSecret {
                    name: engine.name.clone(),
                });
            }
        }
    }
    let tls = |reason: &str| InvalidConfig::EngineTls {
        name: engine.name.clone(),
        reason: reason.to_string(),
    };
    let any_tls = engine.tls_ca.is_some() || engine.tls_cert.is_some() || engine.tls_key.is_some();
    if scheme != "https" && any_tls {
        return Err(tls(
            "tls_ca, tls_cert and tls_key are only used with https:// hosts; change the host to https:// or remove them",
        ));
    }
    if engine.tls_cert.is_some() != engine.tls_key.is_some() {
        return Err(tls("tls_cert and tls_key go together; set both or neither"));
    }
    Ok(())
}

fn validate_registry_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host is empty; write it as references name it, e.g. registry.corp.example:5000".into());
    }
    if host.contains("://") {
        return Err(format!(
            "host {host:?} has a scheme; write only the host (and port), and set insecure = true for plain HTTP"
        ));
    }
    if host.contains('/') || host.contains('@') || host.chars().any(char::is_whitespace) {
        return Err(format!(
            "host {host:?} is not a registry host; write only the host and port, e.g. registry.corp.example:5000"
        ));
    }
    Ok(())
}

/// Turns toml's byte span into a line and column, and adds what to do about it.
fn parse_error(text: &str, path: &Path, error: &toml::de::Error) -> ConfigError {
    let (line, column) = error.span().map(|span| line_column(text, span.start)).unwrap_or((1, 1));
    // toml words some errors on two lines ("invalid table header\nexpected `.`, `]`"); one line reads better in the UI.
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        hint: parse_hint(&message),
        message,
    }
}

fn parse_hint(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or("");
        if SECRET_LIKE_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
            return "credentials do not belong in the configuration file; remove the key and log in to the \
                    registry instead (`tidewatch login REGISTRY`, or Registry credentials in the app's \
                    settings), which keeps them in the OS keyring"
                .into();
        }
        return "remove the key or correct its spelling".into();
    }
    if message.starts_with("duplicate key") {
        return "each key may appear once per table; remove one of them".into();
    }
    if message.starts_with("unknown variant") {
        return "use one of the values listed".into();
    }
    if message.starts_with("invalid type") {
        return "change the value to the expected type".into();
    }
    "fix the file at that position".into()
}

/// 1-based line and column (in characters) of byte offset `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Best effort: where `value` appears as a quoted string in `text`.
fn locate_value(text: &str, value: &str) -> Option<(usize, usize)> {
    [format!("\"{value}\""), format!("'{value}'")]
        .iter()
        .filter_map(|quoted| text.find(quoted.as_str()))
        .min()
        .map(|offset| line_column(text, offset))
}

/// The file's text; `None` when there is no file.
fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Which version of the file a reader saw: a digest of its bytes (`absent` when there was none),
/// so a save can tell that someone else changed the file since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(String);

impl Revision {
    fn of(text: Option<&str>) -> Revision {
        match text {
            Some(text) => Revision(hex::encode(&Sha256::digest(text.as_bytes())[..12])),
            None => Revision("absent".to_string()),
        }
    }

    /// The file's revision now.
    pub fn current(path: &Path) -> Result<Revision, ConfigError> {
        Ok(Revision::of(read_text(path)?.as_deref()))
    }
}

/// The outcome of `ConfigStore::load`: the configuration to use, and why the file was not used when it was not.
#[derive(Debug)]
pub struct Loaded {
    /// The file's configuration, or the last good one (the defaults at first) when the file is invalid.
    pub config: Config,
    /// Set when the file could not be used; the app shows it and keeps running on `config`.
    pub error: Option<ConfigError>,
    /// The version of the file that was read; a save that names it fails if the file changed since.
    pub revision: Revision,
}

/// The app's handle on its configuration file: keeps the last good configuration across bad
/// edits, and never silently overwrites a file it could not read.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
    last_good: Config,
}

impl ConfigStore {
    /// A store for `path`; nothing is read until `load`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigStore {
            path: path.into(),
            last_good: Config::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in use: the last one that loaded or saved successfully.
    pub fn current(&self) -> &Config {
        &self.last_good
    }

    /// Reads the file. When it is invalid, the error comes back together with the last good configuration.
    pub fn load(&mut self) -> Loaded {
        let text = match read_text(&self.path) {
            Ok(text) => text,
            Err(error) => {
                return Loaded {
                    config: self.last_good.clone(),
                    error: Some(error),
                    revision: Revision::of(None),
                }
            }
        };
        let revision = Revision::of(text.as_deref());
        let parsed = match &text {
            Some(text) => Config::parse(text, &self.path),
            None => Ok(Config::default()),
        };
        match parsed {
            Ok(config) => {
                self.last_good = config.clone();
                Loaded {
                    config,
                    error: None,
                    revision,
                }
            }
            Err(error) => Loaded {
                config: self.last_good.clone(),
                error: Some(error),
                revision,
            },
        }
    }

    /// Validates and writes `config`, editing the file's text in place. With `expected`, the
    /// file must still be that revision: a file someone else changed meanwhile is not overwritten
    /// (`config_changed`); without, it is (the user chose to). When the file on disk does not
    /// load (a bad hand edit), it is copied aside as `config.toml.corrupt-<timestamp>` first and
    /// that path is returned, so the user's text is never lost.
    pub fn save(&mut self, config: &Config, expected: Option<&Revision>) -> Result<Option<PathBuf>, ConfigError> {
        config.validate().map_err(|problem| ConfigError::Invalid {
            path: self.path.clone(),
            position: None,
            problem,
        })?;
        let current = read_text(&self.path)?;
        if expected.is_some_and(|expected| *expected != Revision::of(current.as_deref())) {
            return Err(ConfigError::Changed {
                path: self.path.clone(),
            });
        }
        let kept_aside = match current.as_deref().map(|text| Config::parse(text, &self.path)) {
            None | Some(Ok(_)) => None,
            Some(Err(error)) => {
                let aside = aside_path(&self.path, "corrupt");
                fs::copy(&self.path, &aside).map_err(|e| ConfigError::Write {
                    path: self.path.clone(),
                    reason: format!(
                        "the current file is invalid and could not be kept aside as {}: {e}",
                        aside.display()
                    ),
                })?;
                tracing::warn!(
                    "the configuration {} was invalid ({error}); kept it as {} before saving the new one",
                    self.path.display(),
                    aside.display()
                );
                Some(aside)
            }
        };
        config.save(&self.path)?;
        self.last_good = config.clone();
        Ok(kept_aside)
    }
}

/// `<path>.<what>-<UTC timestamp>`, with a counter when that exists already. The timestamp has
/// no `:` so the name is valid on Windows too.
pub(crate) fn aside_path(path: &Path, what: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let base = path.with_file_name(format!("{name}.{what}-{stamp}"));
    if !base.exists() {
        return base;
    }
    (1..)
        .map(|n| path.with_file_name(format!("{name}.{what}-{stamp}-{n}")))
        .find(|candidate| !candidate.exists())
        .unwrap_or(base)
}

/// Writes `contents` to `path` so that readers see the old file or the new one, never a mix:
/// temporary file in the same directory (rename is atomic only within a filesystem), fsync, rename,
/// fsync of the directory so the rename itself survives a crash.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    // Dotfile managers symlink config files; replacing the link with a file would detach it.
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::private_files::create_dir(&dir)?;
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy()
        .into_owned();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        // New files are the user's alone (0600); an existing one keeps the permissions its
        // owner gave it.
        let mut file = crate::private_files::new_file_options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Ok(meta) = fs::metadata(&target) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Best effort: some filesystems refuse to fsync a directory, and the data is already safe.
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// A duration as the configuration writes them (`"6h"`, `"90s"`, `"1h 30m"`); the error shows how to
/// write one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. \"6h\", \"30m\" or \"1h 30m\""))
}

/// Durations as humantime strings (`"6h"`, `"10m"`, `"1h 30m"`).
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::QueryPolicy;

    const DOCUMENTED_EXAMPLE: &str = r#"[schedule]
interval = "6h"            # humantime
jitter = "10m"

[[engines]]
name = "local"
host = "unix:///var/run/docker.sock"   # tcp://…, https://… (tls_ca, tls_cert, tls_key), ssh://user@host

[[registries]]
host = "registry.corp.example:5000"
insecure = true            # plain HTTP (loopback registries never need this)
ca_cert = "/etc/ssl/corp-ca.pem"

[[mirrors]]
mirror = "harbor.corp.example/dockerhub"   # host or host/path prefix as containers name it
upstream = "docker.io"                      # what it caches
query = "upstream-first"                    # or "mirror-first", "mirror-only"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("config.toml"))
    }

    fn full_config() -> Config {
        Config {
            schedule: Schedule {
                interval: Duration::from_secs(90 * 60),
                jitter: Duration::from_secs(30),
            },
            engines: vec![
                EngineConfig {
                    name: "local".into(),
                    host: "unix:///var/run/docker.sock".into(),
                    tls_ca: None,
                    tls_cert: None,
                    tls_key: None,
                },
                EngineConfig {
                    name: "build box".into(),
                    host: "https://build.corp.example:2376".into(),
                    tls_ca: Some("/certs/ca.pem".into()),
                    tls_cert: Some("/certs/cert.pem".into()),
                    tls_key: Some("/certs/key.pem".into()),
                },
            ],
            deadlines: Deadlines {
                request: Duration::from_secs(20),
                image: Duration::from_secs(60),
                check: Duration::from_secs(600),
            },
            registries: vec![RegistryConfig {
                host: "registry.corp.example:5000".into(),
                insecure: true,
                ca_cert: Some("/etc/ssl/corp-ca.pem".into()),
                max_in_flight: Some(16),
            }],
            mirrors: vec![MirrorRule {
                mirror: "harbor.corp.example/dockerhub".into(),
                upstream: "docker.io".into(),
                query: QueryPolicy::MirrorOnly,
            }],
            notifications: Notifications {
                enabled: false,
                kinds: vec![UpdateKind::Major, UpdateKind::Digest],
            },
            tags: TagFilters {
                include: Some(r"^\d+\.\d+".into()),
                exclude: Some("-rc".into()),
            },
            updates: Updates {
                auto: AutoUpdate::Patch,
                health_timeout: Duration::from_secs(45),
            },
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn spec_example_parses() {
        let config = parse(DOCUMENTED_EXAMPLE).unwrap();
        assert_eq!(config.schedule.interval, Duration::from_secs(6 * 3600));
        assert_eq!(config.schedule.jitter, Duration::from_secs(600));
        assert_eq!(config.engines.len(), 1);
        assert_eq!(config.engines[0].name, "local");
        assert_eq!(config.engines[0].scheme(), Some("unix"));
        assert_eq!(config.registries[0].host, "registry.corp.example:5000");
        assert!(config.registries[0].insecure);
        assert_eq!(
            config.registries[0].ca_cert.as_deref(),
            Some(Path::new("/etc/ssl/corp-ca.pem"))
        );
        assert_eq!(config.mirrors[0].query, QueryPolicy::UpstreamFirst);
        assert_eq!(config.mirrors[0].upstream, "docker.io");
        assert!(config.notifications.notifies(UpdateKind::Patch));
        assert!(config.registry("REGISTRY.corp.example:5000").is_some());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.schedule.interval, Duration::from_secs(6 * 3600));
        assert_eq!(config.schedule.jitter, Duration::from_secs(10 * 60));
        assert!(config.notifications.enabled);
        assert_eq!(config.notifications.kinds.len(), 6);
    }

    #[test]
    fn notifications_and_tag_filters_parse() {
        let config = parse(
            r#"
[notifications]
enabled = true
kinds = ["major", "minor", "digest"]

[tags]
include = '^\d+\.\d+\.\d+$'
exclude = "beta"
"#,
        )
        .unwrap();
        assert!(config.notifications.notifies(UpdateKind::Minor));
        assert!(!config.notifications.notifies(UpdateKind::Patch));
        let filter = config.tags.filter().unwrap();
        assert!(filter.allows("1.2.3"));
        assert!(!filter.allows("1.2"));
    }

    #[test]
    fn automatic_updates_are_off_unless_the_file_says_otherwise() {
        assert_eq!(parse("").unwrap().updates.auto, AutoUpdate::Off);
        assert_eq!(parse("").unwrap().updates.health_timeout, Duration::from_secs(120));
        let config = parse("[updates]\nauto = \"minor\"\nhealth_timeout = \"3m\"\n").unwrap();
        assert_eq!(config.updates.auto, AutoUpdate::Minor);
        assert_eq!(config.updates.health_timeout, Duration::from_secs(180));
        let error = parse("[updates]\nauto = \"sometimes\"\n").unwrap_err();
        assert!(error.to_string().contains("sometimes"), "{error}");
        let error = parse("[updates]\nhealth_timeout = \"0s\"\n").unwrap_err();
        assert_eq!(error.code(), "config_invalid", "{error}");
    }

    #[test]
    fn unknown_key_error_names_the_key_with_line_and_column() {
        let text = "[schedule]\ninterval = \"6h\"\n  intervall = \"1h\"\n";
        let error = parse(text).unwrap_err();
        let ConfigError::Parse {
            line, column, message, ..
        } = &error
        else {
            panic!("expected a parse error, got {error:?}");
        };
        assert_eq!((*line, *column), (3, 3));
        assert!(message.contains("intervall"), "{message}");
        let shown = error.to_string();
        assert!(shown.contains("line 3, column 3"), "{shown}");
        assert!(shown.contains("remove the key or correct its spelling"), "{shown}");
        assert_eq!(error.code(), "config_parse");
    }

    #[test]
    fn unknown_key_in_an_array_of_tables_is_located() {
        let text = "[[engines]]\nname = \"a\"\nhost = \"tcp://a:2375\"\n\n[[engines]]\nname = \"b\"\nhots = \"tcp://b:2375\"\n";
        let error = parse(text).unwrap_err();
        let ConfigError::Parse { line, message, .. } = &error else {
            panic!("expected a parse error, got {error:?}");
        };
        assert_eq!(*line, 7, "{error}");
        assert!(message.contains("hots"), "{message}");
    }

    #[test]
    fn a_password_key_points_to_tidewatch_login() {
        let text = "[[registries]]\nhost = \"r.example\"\npassword = \"hunter2\"\n";
        let shown = parse(text).unwrap_err().to_string();
        assert!(shown.contains("tidewatch login"), "{shown}");
        assert!(!shown.contains("hunter2"), "the secret must not be echoed: {shown}");
    }

    #[test]
    fn syntax_error_is_one_line_with_its_position() {
        let error = parse("[schedule\ninterval = \"6h\"\n").unwrap_err();
        let shown = error.to_string();
        assert!(
            matches!(
                error,
                ConfigError::Parse {
                    line: 1,
                    column: 10,
                    ..
                }
            ),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
    }

    #[test]
    fn unknown_update_kind_lists_the_allowed_ones() {
        let shown = parse("[notifications]\nkinds = [\"huge\"]\n").unwrap_err().to_string();
        assert!(shown.contains("line 2"), "{shown}");
        assert!(
            shown.contains("`prerelease`") && shown.contains("use one of the values listed"),
            "{shown}"
        );
    }

    #[test]
    fn bad_duration_says_how_to_write_one() {
        let error = parse("[schedule]\ninterval = \"six hours\"\n").unwrap_err();
        let shown = error.to_string();
        assert!(matches!(error, ConfigError::Parse { line: 2, .. }), "{shown}");
        assert!(shown.contains("\"6h\""), "{shown}");
    }

    #[test]
    fn validation_rejects_what_cannot_work() {
        let cases: &[(&str, &str)] = &[
            ("[schedule]\ninterval = \"0s\"\n", "between 1m and 1year"),
            ("[schedule]\ninterval = \"10s\"\n", "between 1m and 1year"),
            ("[schedule]\ninterval = \"500years\"\n", "between 1m and 1year"),
            ("[schedule]\njitter = \"2years\"\n", "jitter must be at most 1year"),
            ("[deadlines]\nrequest = \"0s\"\n", "request must be between 1s and 1day"),
            ("[deadlines]\ncheck = \"3days\"\n", "check must be between 1s and 1day"),
            (
                "[[engines]]\nname = \"x\"\nhost = \"ftp://x\"\n",
                "Tidewatch cannot connect to",
            ),
            (
                "[[engines]]\nname = \"x\"\nhost = \"/var/run/docker.sock\"\n",
                "unix://PATH",
            ),
            ("[[engines]]\nname = \"\"\nhost = \"tcp://x:2375\"\n", "empty name"),
            (
                "[[engines]]\nname = \"x\"\nhost = \"tcp://a:1\"\n[[engines]]\nname = \"x\"\nhost = \"tcp://b:1\"\n",
                "two engines are named \"x\"",
            ),
            (
                "[[engines]]\nname = \"x\"\nhost = \"ssh://me:pw@box\"\n",
                "contains a password",
            ),
            (
                "[[engines]]\nname = \"x\"\nhost = \"tcp://x:2375\"\ntls_ca = \"/ca.pem\"\n",
                "only used with https://",
            ),
            (
                "[[engines]]\nname = \"x\"\nhost = \"https://x:2376\"\ntls_cert = \"/c.pem\"\n",
                "set both or neither",
            ),
            ("[[registries]]\nhost = \"https://r.example\"\n", "has a scheme"),
            (
                "[[registries]]\nhost = \"r.example\"\n[[registries]]\nhost = \"R.example\"\n",
                "listed twice",
            ),
            (
                "[[registries]]\nhost = \"r.example\"\nmax_in_flight = 0\n",
                "use a number from 1 to 256",
            ),
            (
                "[[registries]]\nhost = \"r.example\"\nmax_in_flight = 1000\n",
                "max_in_flight = 1000",
            ),
            (
                "[[mirrors]]\nmirror = \"docker.io\"\nupstream = \"ghcr.io\"\n",
                "docker.io is an upstream",
            ),
            ("[tags]\ninclude = \"(\"\n", "invalid include tag regex"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.code(), "config_invalid", "{text}: {error}");
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn validation_error_points_at_the_offending_line() {
        let text = "[[engines]]\nname = \"local\"\nhost = \"unix:///var/run/docker.sock\"\n\n[[engines]]\nname = \"remote\"\nhost = \"ftp://box\"\n";
        let error = parse(text).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Invalid {
                    position: Some((7, 8)),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("line 7, column 8"), "{error}");
    }

    #[test]
    fn config_path_prefers_flag_then_env_then_config_dir() {
        let flag = Path::new("/flag/config.toml");
        let env = Some("/env/config.toml".into());
        let dir = Some(PathBuf::from("/home/u/.config"));
        assert_eq!(resolve_path(Some(flag), env.clone(), dir.clone()).unwrap(), flag);
        assert_eq!(
            resolve_path(None, env, dir.clone()).unwrap(),
            Path::new("/env/config.toml")
        );
        assert_eq!(
            resolve_path(None, Some("".into()), dir).unwrap(),
            Path::new("/home/u/.config/tidewatch/config.toml")
        );
        assert!(matches!(resolve_path(None, None, None), Err(ConfigError::NoConfigDir)));
    }

    #[test]
    fn missing_file_loads_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(&dir.path().join("absent.toml")).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn atomic_write_round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("config.toml");
        let config = full_config();
        config.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        // Saving over an existing file replaces it the same way.
        let mut changed = config.clone();
        changed.engines.pop();
        changed.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), changed);
        assert_eq!(files_in(path.parent().unwrap()), vec!["config.toml"]);
    }

    #[test]
    fn defaults_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        Config::default().save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("interval = \"6h\""), "{text}");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
    }

    #[test]
    fn saving_an_invalid_config_is_refused_and_the_file_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, DOCUMENTED_EXAMPLE).unwrap();
        let mut config = full_config();
        config.schedule.interval = Duration::ZERO;
        let error = config.save(&path).unwrap_err();
        assert_eq!(error.code(), "config_invalid");
        assert_eq!(fs::read_to_string(&path).unwrap(), DOCUMENTED_EXAMPLE);
    }

    #[cfg(unix)]
    #[test]
    fn saving_through_a_symlink_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles-config.toml");
        let link = dir.path().join("config.toml");
        fs::write(&real, "").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        full_config().save(&link).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(Config::load(&real).unwrap(), full_config());
    }

    #[test]
    fn store_keeps_the_last_good_config_on_a_bad_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, DOCUMENTED_EXAMPLE).unwrap();
        let mut store = ConfigStore::new(&path);
        let first = store.load();
        assert!(first.error.is_none());
        let good = first.config;
        assert_eq!(good.engines[0].name, "local");

        fs::write(&path, "[schedule]\ninterval = \n").unwrap();
        let second = store.load();
        let error = second.error.expect("the bad edit is reported");
        assert_eq!(error.code(), "config_parse");
        assert_eq!(second.config, good);
        assert_eq!(store.current(), &good);

        fs::write(&path, "[[engines]]\nname = \"x\"\nhost = \"ftp://x\"\n").unwrap();
        let third = store.load();
        assert_eq!(third.error.map(|e| e.code()), Some("config_invalid"));
        assert_eq!(third.config, good);
    }

    #[test]
    fn store_keeps_a_corrupt_file_aside_before_saving() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let corrupt = "[schedule\ninterval = \"6h\"\n# my notes\n";
        fs::write(&path, corrupt).unwrap();
        let mut store = ConfigStore::new(&path);
        assert!(store.load().error.is_some());

        let kept = store
            .save(&full_config(), None)
            .unwrap()
            .expect("the corrupt file is kept");
        let kept_name = kept.file_name().unwrap().to_string_lossy().into_owned();
        assert!(kept_name.starts_with("config.toml.corrupt-"), "{kept_name}");
        assert_eq!(fs::read_to_string(&kept).unwrap(), corrupt);
        assert_eq!(Config::load(&path).unwrap(), full_config());
        assert_eq!(store.current(), &full_config());
        assert_eq!(files_in(dir.path()), vec!["config.toml".to_string(), kept_name]);

        // A valid file is simply replaced: nothing more is kept aside.
        assert_eq!(store.save(&Config::default(), None).unwrap(), None);
        assert_eq!(files_in(dir.path()).len(), 2);
    }

    #[test]
    fn saving_from_the_settings_keeps_the_users_comments_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, DOCUMENTED_EXAMPLE).unwrap();
        let mut store = ConfigStore::new(&path);
        let loaded = store.load();
        let mut config = loaded.config.clone();
        config.schedule.interval = Duration::from_secs(3600);
        config.mirrors[0].query = QueryPolicy::MirrorOnly;
        store.save(&config, Some(&loaded.revision)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let expected = DOCUMENTED_EXAMPLE
            .replace(
                "interval = \"6h\"            # humantime",
                "interval = \"1h\"            # humantime",
            )
            .replace(
                "query = \"upstream-first\"                    # or",
                "query = \"mirror-only\"                    # or",
            );
        assert_eq!(text, expected);
        assert_eq!(Config::load(&path).unwrap(), config);
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten_blindly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, DOCUMENTED_EXAMPLE).unwrap();
        let mut store = ConfigStore::new(&path);
        let loaded = store.load();
        let edited_elsewhere = DOCUMENTED_EXAMPLE.replace("jitter = \"10m\"", "jitter = \"5m\"");
        fs::write(&path, &edited_elsewhere).unwrap();

        let mut mine = loaded.config.clone();
        mine.schedule.interval = Duration::from_secs(3600);
        let error = store.save(&mine, Some(&loaded.revision)).unwrap_err();
        assert_eq!(error.code(), "config_changed");
        assert!(error.to_string().contains("changed by another program"), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), edited_elsewhere);

        // Saving again after a reload succeeds; saving without a revision is the user's choice to overwrite.
        let reloaded = store.load();
        assert_eq!(reloaded.config.schedule.jitter, Duration::from_secs(300));
        store.save(&mine, Some(&reloaded.revision)).unwrap();
        store.save(&Config::default(), None).unwrap();
        assert_eq!(Config::load(&path).unwrap(), Config::default());
    }

    #[test]
    fn a_missing_file_has_a_revision_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut store = ConfigStore::new(&path);
        let loaded = store.load();
        store.save(&full_config(), Some(&loaded.revision)).unwrap();
        assert_ne!(Revision::current(&path).unwrap(), loaded.revision);
        assert_eq!(
            store.save(&full_config(), Some(&loaded.revision)).unwrap_err().code(),
            "config_changed"
        );
    }

    #[test]
    fn aside_paths_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let first = aside_path(&path, "corrupt");
        fs::write(&first, "").unwrap();
        let second = aside_path(&path, "corrupt");
        assert_ne!(first, second);
        assert!(!first.to_string_lossy().contains(':'));
    }

    #[test]
    fn line_column_counts_characters_not_bytes() {
        // "é" is two bytes but one column: the space after it is column 3, not 4.
        assert_eq!(line_column("a\nbé = 1", 5), (2, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }

    #[test]
    fn config_errors_serialize_as_code_and_message() {
        let error = parse("nope = 1\n").unwrap_err();
        let json = serde_json::to_value(crate::error::ErrorInfo::of(&error)).unwrap();
        assert_eq!(json["code"], "config_parse");
        assert!(json["message"].as_str().unwrap().contains("nope"));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_config_file_and_its_directory_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/tidewatch").join(CONFIG_FILE_NAME);
        Config::default().save(&path).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A file the user opened up keeps what they chose.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        Config::default().save(&path).unwrap();
        assert_eq!(mode(&path), 0o640);
    }
}
