//! Docker engines: a thin newtype over bollard that speaks Tidewatch's nouns (`Engine`,
//! `ContainerImage`, `EngineEvent`, `Workload`) so nothing else in the core depends on bollard's
//! models. Addresses live in `host`, Docker contexts in `context`, events in `events`, the
//! reconnecting supervisor in `watch`, Swarm services in `swarm`. `Engine` is a
//! [`crate::source::Source`].

pub(crate) mod context;
mod events;
mod host;
mod lifecycle;
mod swarm;
mod targets;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::path::Path;

use bollard::models::SystemInfo;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use serde::Serialize;

use crate::error::{self, Coded};
use crate::platform::Platform;
use crate::source::{Inventory, Orchestrator, Source};

pub use context::docker_config_dir;
pub use events::EngineEvent;
pub use host::{local_candidates, EngineOrigin, EngineSpec, HostUrl};
pub use lifecycle::model;
pub use swarm::{Swarm, DEFAULT_MONITOR, SERVICE_ID_LABEL, STACK_LABEL};
pub use targets::{engines_to_watch, probe_engines, test_engine, EngineInfo, EngineProbe, EngineTarget, ProbeStatus};
pub use watch::{watch, Backoff, EngineWatch, WatchEvent, WatchState};

/// Seconds bollard waits for one engine request (not for a stream, which may stay open).
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// The name of the engine found by local discovery.
const LOCAL_NAME: &str = "local";

/// Why an engine could not be used. Hosts in messages have any password redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(
        "engine address {host:?} is not supported: use unix:///PATH, tcp://HOST:PORT, http://HOST:PORT, \
         https://HOST:PORT (with tls_ca, tls_cert, tls_key) or ssh://USER@HOST"
    )]
    UnsupportedHost { host: String },
    /// `reason` says what happened and what to do about it.
    #[error("cannot reach the Docker engine {name} at {host}: {reason}")]
    Unreachable { name: String, host: String, reason: String },
    #[error("the Docker engine {name} at {host} failed to {action}: {reason}")]
    Request {
        name: String,
        host: String,
        action: &'static str,
        reason: String,
    },
    /// The container, image or network `what` does not exist (any more) on the engine.
    #[error("the Docker engine {name} at {host} has no {what:?}: {reason}")]
    NotFound {
        name: String,
        host: String,
        what: String,
        reason: String,
    },
}

impl Coded for EngineError {
    fn code(&self) -> &'static str {
        match self {
            EngineError::UnsupportedHost { .. } => "engine_unsupported_host",
            EngineError::Unreachable { .. } => "engine_unreachable",
            EngineError::Request { .. } => "engine_request",
            EngineError::NotFound { .. } => "engine_not_found",
        }
    }

    fn kind(&self) -> error::ErrorKind {
        match self {
            EngineError::Unreachable { .. } => error::ErrorKind::NoAnswer,
            _ => error::ErrorKind::Answered,
        }
    }
}

/// One connected engine, its API version already negotiated (Debian's engine speaks only 1.41).
#[derive(Debug, Clone)]
pub struct Engine {
    spec: EngineSpec,
    docker: Docker,
}

/// What a check needs to know about one container and the image it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerImage {
    pub id: String,
    pub name: String,
    /// The image reference exactly as the container was created with it; an image ID
    /// (`sha256:…` or a short hex ID) when it was created from one.
    pub image: String,
    pub image_id: String,
    pub repo_digests: Vec<String>,
    pub repo_tags: Vec<String>,
    pub platform: Option<Platform>,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
}

impl ContainerImage {
    /// Whether the container was created from an image ID rather than a name: there is then no
    /// tag to follow, and `image` must not be read as a repository name.
    pub fn created_from_image_id(&self) -> bool {
        is_image_id(&self.image, &self.image_id)
    }

    /// The name to check the container by: the reference as created, or, for a container created
    /// from an image ID, the image's only tag. `None` when an ID-created container's image has no
    /// tag or several (which one the user means cannot be known).
    pub fn named_reference(&self) -> Option<&str> {
        if !self.created_from_image_id() {
            return Some(&self.image);
        }
        match self.repo_tags.as_slice() {
            [only] if !only.ends_with("<none>") => Some(only),
            _ => None,
        }
    }
}

/// Why one connection attempt failed, before it is worded as an `EngineError`.
#[derive(Debug)]
enum ConnectFailure {
    Unsupported(EngineError),
    /// `what` happened; `hint` says what to do.
    Unreachable {
        what: String,
        hint: String,
        permission_denied: bool,
    },
}

/// Why inspecting a listed container failed.
enum InspectFailure {
    /// It no longer exists (HTTP 404): removed between the list and the inspect.
    Gone,
    Other(EngineError),
}

impl Engine {
    /// Connects to `spec` and negotiates the API version with the engine.
    pub async fn connect_with(spec: &EngineSpec) -> Result<Engine, EngineError> {
        connect_spec(spec).await.map_err(|failure| match failure {
            ConnectFailure::Unsupported(error) => error,
            ConnectFailure::Unreachable { what, hint, .. } => EngineError::Unreachable {
                name: spec.name.clone(),
                host: spec.display_host(),
                reason: format!("{what}; {hint}"),
            },
        })
    }

    /// The local engine: the first of [`local_candidates`] that exists and answers
    /// (`DOCKER_HOST`, the current Docker context, `/var/run/docker.sock`, rootless Docker,
    /// Podman). The error lists every address tried and why each failed.
    pub async fn connect_local() -> Result<Engine, EngineError> {
        Engine::connect_local_from(&local_candidates()).await
    }

    /// [`Engine::connect_local`] over the given candidates, tried in order.
    pub async fn connect_local_from(candidates: &[EngineSpec]) -> Result<Engine, EngineError> {
        let mut tried = Vec::new();
        let mut permission_hint = None;
        for spec in candidates {
            match connect_spec(spec).await {
                Ok(engine) => return Ok(engine),
                Err(ConnectFailure::Unsupported(_)) => {
                    tried.push(format!("{} (not a Docker address)", spec.display_host()))
                }
                Err(ConnectFailure::Unreachable {
                    what,
                    hint,
                    permission_denied,
                }) => {
                    if permission_denied && permission_hint.is_none() {
                        permission_hint = Some(hint);
                    }
                    tried.push(format!("{} ({what})", spec.display_host()));
                }
            }
        }
        let hint = permission_hint.unwrap_or_else(|| {
            "start Docker (`sudo systemctl start docker`) or Podman (`systemctl --user start podman.socket`), \
             or set DOCKER_HOST to the engine's address"
                .to_string()
        });
        Err(EngineError::Unreachable {
            name: LOCAL_NAME.to_string(),
            host: candidates.first().map(EngineSpec::display_host).unwrap_or_default(),
            reason: format!("no local engine answered; tried {}; {hint}", tried.join(", ")),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The host as given (configured, discovered or passed in).
    pub fn host(&self) -> &str {
        &self.spec.host
    }

    /// What this engine was connected from (name, host, TLS files, origin).
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// The API version agreed with the engine, e.g. "1.41".
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The engine's `registry-mirrors` (its info endpoint's `RegistryConfig.Mirrors`), as URLs
    /// such as `https://mirror.gcr.io`; empty when it has none. The checker asks them for Docker
    /// Hub images when Docker Hub fails, as the engine itself would.
    pub async fn registry_mirrors(&self) -> Result<Vec<String>, EngineError> {
        Ok(registry_mirrors_of(&self.info().await?))
    }

    async fn info(&self) -> Result<SystemInfo, EngineError> {
        self.docker
            .info()
            .await
            .map_err(|e| self.request_error("report its info", e))
    }

    /// The Swarm this engine manages; `None` when it is not a Swarm manager (a plain engine, or a
    /// worker, which cannot list services).
    pub async fn swarm(&self) -> Result<Option<Swarm>, EngineError> {
        Ok(swarm::is_manager(&self.info().await?).then(|| Swarm::new(self.clone())))
    }

    /// What a check reads from this engine: its containers, and on a Swarm manager its services,
    /// whose tasks are then not listed again as containers; plus its registry mirrors.
    pub async fn inventory(&self) -> Result<Inventory, EngineError> {
        let info = match self.info().await {
            Ok(info) => Some(info),
            // Mirrors are only fallbacks, and an engine that cannot say it is a Swarm manager is
            // checked for its containers: the check goes on.
            Err(error) => {
                tracing::warn!(engine = self.name(), %error, "cannot read the engine's info");
                None
            }
        };
        let mut inventory = Inventory {
            containers: self.containers().await?,
            registry_mirrors: info.as_ref().map(registry_mirrors_of).unwrap_or_default(),
            ..Inventory::default()
        };
        if info.as_ref().is_some_and(swarm::is_manager) {
            match Swarm::new(self.clone()).services().await {
                Ok(services) => {
                    // Every task is its service's: listed services cover the running ones, and a
                    // task whose service is gone is being cleaned up by Swarm.
                    inventory
                        .containers
                        .retain(|container| !container.labels.contains_key(SERVICE_ID_LABEL));
                    inventory.workloads = services;
                }
                Err(error) => inventory.workloads_error = Some(error),
            }
        }
        Ok(inventory)
    }

    /// Whether the engine still answers.
    pub async fn ping(&self) -> Result<(), EngineError> {
        match self.docker.ping().await {
            Ok(_) => Ok(()),
            Err(error) => {
                let (what, _) = describe_bollard_error(&self.spec, &error);
                Err(self.gone_error(&what))
            }
        }
    }

    /// Every container (running or not) with the image details a check needs.
    pub async fn containers(&self) -> Result<Vec<ContainerImage>, EngineError> {
        let options = ListContainersOptionsBuilder::default().all(true).build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.request_error("list containers", e))?;

        let mut images: HashMap<String, bollard::models::ImageInspect> = HashMap::new();
        let mut containers = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let id = summary.id.unwrap_or_default();
            let image_id = summary.image_id.unwrap_or_default();
            let listed_image = summary.image.unwrap_or_default();
            // The list shows the image ID instead of the name once the name points at another
            // image (a newer pull); the name as created is still in the container's config.
            let image = if looks_like_image_id(&listed_image, &image_id) {
                match self.image_as_created(&id).await {
                    Ok(created) => created.unwrap_or(listed_image),
                    // Removed between the list and the inspect: skip it, not the whole engine.
                    Err(InspectFailure::Gone) => {
                        tracing::debug!(engine = %self.name(), container = %id, "container vanished while listing; skipped");
                        continue;
                    }
                    Err(InspectFailure::Other(error)) => return Err(error),
                }
            } else {
                listed_image
            };
            if !images.contains_key(&image_id) {
                match self.docker.inspect_image(&image_id).await {
                    Ok(inspect) => {
                        images.insert(image_id.clone(), inspect);
                    }
                    // The image can vanish between the two calls; the container is still listed.
                    Err(e) => tracing::warn!(engine = %self.name(), image_id, "cannot inspect image: {e}"),
                }
            }
            let inspect = images.get(&image_id);
            let name = summary
                .names
                .unwrap_or_default()
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.chars().take(12).collect());
            containers.push(ContainerImage {
                id,
                name,
                image,
                image_id,
                repo_digests: inspect.and_then(|i| i.repo_digests.clone()).unwrap_or_default(),
                repo_tags: inspect.and_then(|i| i.repo_tags.clone()).unwrap_or_default(),
                platform: inspect.and_then(|i| {
                    let os = i.os.as_deref()?;
                    let arch = i.architecture.as_deref()?;
                    Some(Platform::new(os, arch, i.variant.as_deref()))
                }),
                labels: summary.labels.unwrap_or_default().into_iter().collect(),
                running: summary.state.map(|s| s.to_string() == "running").unwrap_or(false),
            });
        }
        Ok(containers)
    }

    async fn image_as_created(&self, container_id: &str) -> Result<Option<String>, InspectFailure> {
        let inspect = self
            .docker
            .inspect_container(container_id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => InspectFailure::Gone,
                e => InspectFailure::Other(self.request_error("inspect a container", e)),
            })?;
        Ok(inspect.config.and_then(|c| c.image))
    }

    fn request_error(&self, action: &'static str, error: bollard::errors::Error) -> EngineError {
        EngineError::Request {
            name: self.spec.name.clone(),
            host: self.spec.display_host(),
            action,
            reason: error_chain(&error),
        }
    }

    /// The engine stopped answering after it was connected.
    fn gone_error(&self, what: &str) -> EngineError {
        EngineError::Unreachable {
            name: self.spec.name.clone(),
            host: self.spec.display_host(),
            reason: format!("{what}; is the engine still running and reachable?"),
        }
    }

    /// The underlying client, for the lab and tests that set up containers.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

impl Source for Engine {
    fn name(&self) -> &str {
        Engine::name(self)
    }

    fn endpoint(&self) -> String {
        self.spec.display_host()
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>> {
        Engine::inventory(self).boxed()
    }

    fn orchestrator(&self) -> BoxFuture<'_, Result<Option<Box<dyn Orchestrator>>, EngineError>> {
        async move {
            Ok(self
                .swarm()
                .await?
                .map(|swarm| Box::new(swarm) as Box<dyn Orchestrator>))
        }
        .boxed()
    }
}

fn registry_mirrors_of(info: &SystemInfo) -> Vec<String> {
    info.registry_config
        .as_ref()
        .and_then(|config| config.mirrors.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|mirror| mirror.trim().to_string())
        .filter(|mirror| !mirror.is_empty())
        .collect()
}

async fn connect_spec(spec: &EngineSpec) -> Result<Engine, ConnectFailure> {
    let url = HostUrl::parse(&spec.host, spec.has_tls_files()).map_err(ConnectFailure::Unsupported)?;
    let unreachable = |what: String, hint: &str| ConnectFailure::Unreachable {
        what,
        hint: hint.to_string(),
        permission_denied: false,
    };
    let client = match &url {
        HostUrl::Unix { path } => {
            // Checked here, not left to bollard, to say which of "missing" and "not allowed" it is.
            if let Err(error) = std::fs::metadata(path) {
                return Err(socket_failure(path, error.kind(), &error.to_string()));
            }
            Docker::connect_with_unix(&url.to_url(), REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        }
        HostUrl::Tcp { tls: false, .. } => {
            Docker::connect_with_http(&url.to_url(), REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        }
        HostUrl::Tcp { tls: true, .. } => {
            let files = host::tls_files(spec)
                .map_err(|what| unreachable(what, "a TLS engine needs a CA, a client certificate and a client key"))?;
            // bollard panics during the handshake when no rustls provider is installed.
            crate::init_crypto();
            Docker::connect_with_ssl(
                &url.to_url(),
                &files.key,
                &files.cert,
                &files.ca,
                REQUEST_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
            )
        }
        HostUrl::Ssh { port: Some(port), url } => {
            let alias = url.trim_start_matches("ssh://");
            return Err(unreachable(
                format!("bollard cannot pass the port {port} to ssh"),
                &format!(
                    "add a `Host` entry with `Port {port}` for this host to ~/.ssh/config and use ssh://{alias} \
                     without the port"
                ),
            ));
        }
        HostUrl::Ssh { url, port: None } => {
            Docker::connect_with_ssh(url, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION, None)
        }
    };
    let failure = |error: bollard::errors::Error| {
        let (what, hint) = describe_bollard_error(spec, &error);
        let permission_denied = io_kind(&error) == Some(ErrorKind::PermissionDenied);
        ConnectFailure::Unreachable {
            what,
            hint,
            permission_denied,
        }
    };
    // Negotiation asks the engine for its API version and settles on the lower of the two, so
    // an older engine (Debian's speaks 1.41) is not sent requests it refuses.
    let docker = client.map_err(failure)?.negotiate_version().await.map_err(failure)?;
    Ok(Engine {
        spec: spec.clone(),
        docker,
    })
}

fn socket_failure(path: &Path, kind: ErrorKind, detail: &str) -> ConnectFailure {
    let path = path.display();
    let (what, hint) = match kind {
        ErrorKind::NotFound => (
            format!("no socket at {path}"),
            "is the engine running? (`sudo systemctl start docker`, or `systemctl --user start podman.socket`)"
                .to_string(),
        ),
        ErrorKind::PermissionDenied => (
            format!("permission denied on {path}"),
            "add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again), \
             or use a rootless engine ($XDG_RUNTIME_DIR/docker.sock or Podman's socket)"
                .to_string(),
        ),
        ErrorKind::ConnectionRefused => (
            format!("nothing listens on {path}"),
            "the engine is not running; start it and try again".to_string(),
        ),
        _ => (
            format!("{path}: {detail}"),
            "check that this is the engine's socket".to_string(),
        ),
    };
    ConnectFailure::Unreachable {
        what,
        hint,
        permission_denied: kind == ErrorKind::PermissionDenied,
    }
}

/// What a bollard error means for someone trying to reach `spec`, and what they can do.
fn describe_bollard_error(spec: &EngineSpec, error: &bollard::errors::Error) -> (String, String) {
    use bollard::errors::Error as B;
    let url = HostUrl::parse(&spec.host, spec.has_tls_files()).ok();
    if let Some(HostUrl::Unix { path }) = &url {
        if let Some(kind) = io_kind(error) {
            if let ConnectFailure::Unreachable { what, hint, .. } = socket_failure(path, kind, &error_chain(error)) {
                return (what, hint);
            }
        }
    }
    let chain = error_chain(error);
    let lower = chain.to_ascii_lowercase();
    let hint = match (error, &url) {
        (B::RequestTimeoutError, _) => {
            format!("no answer within {REQUEST_TIMEOUT_SECS} s; is the host reachable (network, VPN, firewall)?")
        }
        (B::CertPathError { path } | B::CertParseError { path }, _) => {
            return (
                format!("the TLS file {} cannot be read as PEM", path.display()),
                "fix the path or the file in the engine's configuration".to_string(),
            )
        }
        (B::CertMultipleKeys { path, .. }, _) => {
            return (
                format!("the TLS key file {} holds several keys", path.display()),
                "tls_key must hold exactly one private key".to_string(),
            )
        }
        (B::JsonDataError { .. } | B::JsonSerdeError { .. }, _) => {
            "the server answered, but not as a Docker engine; is this the engine's address and port?".to_string()
        }
        // rustls' words for a refused handshake ("received fatal alert: UnknownCA", "invalid peer certificate").
        _ if ["certificate", "handshake", "tls", "fatal alert", "unknownca"]
            .iter()
            .any(|w| lower.contains(w)) =>
        {
            "the TLS handshake failed; check that tls_ca signed the engine's certificate and that the engine \
             accepts the client certificate (tls_cert, tls_key)"
                .to_string()
        }
        (_, Some(HostUrl::Ssh { url, .. })) => format!(
            "check that `ssh {}` logs in without a prompt (a key in ssh-agent) and that `docker` runs there",
            url.trim_start_matches("ssh://")
        ),
        _ if io_kind(error) == Some(ErrorKind::ConnectionRefused) => {
            "the connection was refused; is the engine running and listening on that port?".to_string()
        }
        _ => "is the engine running, and is this its address?".to_string(),
    };
    (chain, hint)
}

/// The innermost I/O error kind in `error`'s chain, if any.
fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut current = Some(error);
    let mut kind = None;
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        current = e.source();
    }
    kind
}

/// `error` and its sources as one line, without repeating a cause its parent already quotes.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        // hyper's wrappers ("client error (Connect)") say nothing their sources do not say better.
        let wrapper = e.source().is_some()
            && (text.starts_with("Error in the hyper legacy client") || text.starts_with("client error ("));
        if !wrapper && !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Whether the image field of a container listing is an image ID rather than a name: the list
/// shows the ID once the name points at another image (a newer pull).
fn looks_like_image_id(listed: &str, image_id: &str) -> bool {
    let hex = listed.strip_prefix("sha256:").unwrap_or(listed);
    listed.starts_with("sha256:") || (!hex.is_empty() && image_id.trim_start_matches("sha256:").starts_with(hex))
}

/// Whether `image` (a reference as created) is an ID of the image `image_id`, full or short.
fn is_image_id(image: &str, image_id: &str) -> bool {
    let full = image_id.trim_start_matches("sha256:");
    let (hex, prefixed) = match image.strip_prefix("sha256:") {
        Some(hex) => (hex, true),
        None => (image, false),
    };
    let is_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    // A full 64-hex ID is an ID even when the image is gone; a short one only if it matches.
    is_hex && ((prefixed || hex.len() == 64) && full.is_empty() || full.starts_with(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:4f2a6b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";

    fn container(image: &str, repo_tags: &[&str]) -> ContainerImage {
        ContainerImage {
            id: "c1".into(),
            name: "web".into(),
            image: image.into(),
            image_id: ID.into(),
            repo_digests: Vec::new(),
            repo_tags: repo_tags.iter().map(|t| t.to_string()).collect(),
            platform: None,
            labels: BTreeMap::new(),
            running: true,
        }
    }

    #[test]
    fn image_ids_in_the_container_list_are_recognized() {
        assert!(looks_like_image_id(ID, ID));
        assert!(looks_like_image_id("4f2a6b1c0d9e", ID));
        assert!(!looks_like_image_id("nginx:1.25", ID));
        assert!(!looks_like_image_id("", ID));
    }

    #[test]
    fn containers_created_from_an_image_id_are_named_by_the_images_only_tag() {
        let cases: &[(&str, &[&str], bool, Option<&str>)] = &[
            ("nginx:1.25", &["nginx:1.25"], false, Some("nginx:1.25")),
            // A repository whose name happens to be hex is still a name unless the ID matches.
            ("cafe", &["cafe:latest"], false, Some("cafe")),
            (ID, &["registry.lan/app:1.25.3"], true, Some("registry.lan/app:1.25.3")),
            (
                "4f2a6b1c0d9e",
                &["registry.lan/app:1.25.3"],
                true,
                Some("registry.lan/app:1.25.3"),
            ),
            ("4f2a6b1c0d9e", &[], true, None),
            ("4f2a6b1c0d9e", &["a:1", "b:2"], true, None),
            ("4f2a6b1c0d9e", &["<none>:<none>"], true, None),
            ("sha256:4f2a6b", &["app:1"], true, Some("app:1")),
            ("sha256:0000", &["app:1"], false, Some("sha256:0000")),
        ];
        for (image, tags, from_id, named) in cases {
            let c = container(image, tags);
            assert_eq!(c.created_from_image_id(), *from_id, "{image}");
            assert_eq!(c.named_reference(), *named, "{image} {tags:?}");
        }
    }

    #[test]
    fn unsupported_host_urls_say_what_is_accepted() {
        let error = HostUrl::parse("npipe:////./pipe/docker", false).unwrap_err();
        assert!(error.to_string().contains("unix://"), "{error}");
        assert_eq!(error.code(), "engine_unsupported_host");
    }

    #[tokio::test]
    async fn a_missing_socket_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("docker.sock");
        let error = Engine::connect_with(&EngineSpec::new("here", format!("unix://{}", socket.display())))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("here") && message.contains(&socket.display().to_string()),
            "{message}"
        );
        assert!(message.contains("systemctl"), "{message}");
    }

    #[tokio::test]
    async fn no_local_engine_lists_every_address_tried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let candidates = vec![
            format!("unix://{}", dir.path().join("docker.sock").display()),
            format!("unix://{}", dir.path().join("podman/podman.sock").display()),
            "npipe:////./pipe/docker_engine".to_string(),
        ];
        let specs: Vec<EngineSpec> = candidates.iter().map(|host| EngineSpec::new("local", host)).collect();
        let error = Engine::connect_local_from(&specs).await.unwrap_err();
        let message = error.to_string();
        for candidate in &candidates {
            assert!(
                message.contains(candidate.as_str()),
                "{candidate} missing from: {message}"
            );
        }
        assert!(message.contains("DOCKER_HOST"), "{message}");
        assert_eq!(error.code(), "engine_unreachable");
    }

    #[test]
    fn permission_denied_on_a_socket_says_to_join_the_docker_group() {
        let failure = socket_failure(Path::new("/var/run/docker.sock"), ErrorKind::PermissionDenied, "denied");
        let ConnectFailure::Unreachable {
            what,
            hint,
            permission_denied,
        } = failure
        else {
            panic!("a socket failure is unreachable");
        };
        assert!(permission_denied);
        assert!(what.contains("/var/run/docker.sock"), "{what}");
        assert!(hint.contains("docker group"), "{hint}");
    }

    #[tokio::test]
    async fn a_missing_tls_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("key.pem");
        let spec = EngineSpec::new("remote", "https://127.0.0.1:1").with_tls(
            dir.path().join("ca.pem"),
            dir.path().join("cert.pem"),
            &key,
        );
        std::fs::write(dir.path().join("ca.pem"), "pem").expect("ca");
        std::fs::write(dir.path().join("cert.pem"), "pem").expect("cert");
        let message = Engine::connect_with(&spec).await.unwrap_err().to_string();
        assert!(
            message.contains(&key.display().to_string()) && message.contains("tls_key"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_refused_tcp_connection_is_unreachable_with_a_hint() {
        // Port 1 on loopback: nothing listens there in any sane environment.
        let error = Engine::connect_with(&EngineSpec::new("nowhere", "tcp://127.0.0.1:1"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "engine_unreachable", "{error}");
        assert!(error.to_string().contains("nowhere"), "{error}");
    }

    #[test]
    fn errors_serialize_as_code_and_message() {
        let error = EngineError::Unreachable {
            name: "prod".into(),
            host: "tcp://prod.lan:2375".into(),
            reason: "connection refused".into(),
        };
        let json = serde_json::to_value(crate::error::ErrorInfo::of(&error)).expect("serialize");
        assert_eq!(json["code"], "engine_unreachable");
        assert_eq!(json["message"], error.to_string());
    }
}
