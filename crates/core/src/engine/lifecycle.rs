//! The engine calls that change containers and images, for applying updates (docs/updates.md):
//! inspect, pull, create, start, stop, rename, remove, connect, disconnect, logs, tag. Each one
//! maps bollard's error to an `EngineError` that tells "gone" (404) and "no answer" from a refusal.
//!
//! A container's configuration is the engine's own data, carried over whole when a container is
//! recreated, so these calls speak bollard's typed models (re-exported as [`model`]) rather than
//! Tidewatch nouns: a model of our own would have to copy every field and would drop the ones it
//! forgot.

use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, CreateImageInfo, EndpointSettings, ImageInspect,
    NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::{Stream, StreamExt as _};

use super::{error_chain, Engine, EngineError};

/// bollard's models of containers, images and networks, as the engine reports them.
pub mod model {
    pub use bollard::auth::DockerCredentials;
    pub use bollard::models::{
        ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
        ContainerSummary, CreateImageInfo, EndpointIpamConfig, EndpointSettings, Health, HealthConfig,
        HealthStatusEnum, HostConfig, ImageConfig, ImageInspect, Mount, MountPoint, MountType, NetworkSettings,
        NetworkingConfig, ProgressDetail, RestartPolicy,
    };
}

/// Seconds a stop may take beyond the container's own stop timeout before the call gives up.
const STOP_MARGIN_SECS: u64 = 30;
/// Log lines longer than this are cut: a container's output is anyone's text.
const MAX_LOG_LINE: usize = 500;
/// How long reading the last log lines may take.
const LOGS_DEADLINE: Duration = Duration::from_secs(10);

impl Engine {
    /// The container's full configuration and state; `NotFound` when there is no such container.
    pub async fn inspect_container(&self, id_or_name: &str) -> Result<ContainerInspectResponse, EngineError> {
        self.docker
            .inspect_container(id_or_name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.call_error("inspect the container", id_or_name, e))
    }

    /// The container, or `None` when the engine has none by that ID or name.
    pub async fn find_container(&self, id_or_name: &str) -> Result<Option<ContainerInspectResponse>, EngineError> {
        match self.inspect_container(id_or_name).await {
            Ok(inspect) => Ok(Some(inspect)),
            Err(EngineError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every container (running or not), as the engine lists them.
    pub async fn container_summaries(&self) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptionsBuilder::default().all(true).build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.call_error("list containers", "", e))
    }

    /// The image by ID or reference, or `None` when the engine does not have it.
    pub async fn find_image(&self, id_or_reference: &str) -> Result<Option<ImageInspect>, EngineError> {
        match self.docker.inspect_image(id_or_reference).await {
            Ok(inspect) => Ok(Some(inspect)),
            Err(error) => match self.call_error("inspect the image", id_or_reference, error) {
                EngineError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Pulls `name:tag`, yielding the engine's progress messages. An error the engine reports in
    /// the stream (a registry that refused, a tag that does not exist) ends it as an `Err`.
    pub fn pull(
        &self,
        name: &str,
        tag: &str,
        credentials: Option<DockerCredentials>,
    ) -> impl Stream<Item = Result<CreateImageInfo, EngineError>> + '_ {
        let options = CreateImageOptionsBuilder::default().from_image(name).tag(tag).build();
        let what = format!("{name}:{tag}");
        self.docker
            .create_image(Some(options), None, credentials)
            .map(move |item| match item {
                Ok(info) => match info.error_detail.as_ref().and_then(|d| d.message.clone()) {
                    Some(message) => Err(self.refused("pull the image", &what, message)),
                    None => Ok(info),
                },
                Err(error) => Err(self.call_error("pull the image", &what, error)),
            })
    }

    /// Creates a container named `name`; returns its ID.
    pub async fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String, EngineError> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|created| created.id)
            .map_err(|e| self.call_error("create the container", name, e))
    }

    pub async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.call_error("start the container", id, e))
    }

    /// Stops the container. The engine sends the container's own stop signal (`StopSignal`) and
    /// waits `timeout_secs` (its `StopTimeout`; `None`: the engine's default of 10 s) before
    /// killing it. Stopping a stopped container is not an error.
    pub async fn stop_container(&self, id: &str, timeout_secs: Option<i64>) -> Result<(), EngineError> {
        let mut options = StopContainerOptionsBuilder::default();
        if let Some(timeout) = timeout_secs {
            options = options.t(i32::try_from(timeout.clamp(-1, 3600)).unwrap_or(10));
        }
        // The engine answers once the container is down, which may take its whole stop timeout.
        let wait = u64::try_from(timeout_secs.unwrap_or(10).clamp(0, 3600)).unwrap_or(10) + STOP_MARGIN_SECS;
        let docker = self.docker.clone().with_timeout(Duration::from_secs(wait));
        match docker.stop_container(id, Some(options.build())).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(error) => Err(self.call_error("stop the container", id, error)),
        }
    }

    pub async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), EngineError> {
        let options = RenameContainerOptionsBuilder::default().name(new_name).build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| self.call_error("rename the container", id, e))
    }

    /// Removes the container, running or not. Its volumes are never removed.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(false).build();
        self.docker
            .remove_container(id, Some(options))
            .await
            .map_err(|e| self.call_error("remove the container", id, e))
    }

    /// Connects the container to `network` with the endpoint's settings (aliases, static IPs, links).
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        endpoint: EndpointSettings,
    ) -> Result<(), EngineError> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(endpoint),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| self.call_error("connect the container to a network", network, e))
    }

    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<(), EngineError> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network, request)
            .await
            .map_err(|e| self.call_error("disconnect the container from a network", network, e))
    }

    /// The container's last `lines` lines of output (stdout and stderr), each cut to a sane
    /// length. Best effort: what cannot be read within a few seconds is left out.
    pub async fn last_log_lines(&self, id: &str, lines: usize) -> Vec<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut out = Vec::new();
        let read = async {
            let mut logs = self.docker.logs(id, Some(options));
            while let Some(Ok(chunk)) = logs.next().await {
                let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                for line in text.lines() {
                    let line: String = line.chars().take(MAX_LOG_LINE).collect();
                    out.push(line);
                }
                if out.len() > lines * 2 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LOGS_DEADLINE, read).await;
        let skip = out.len().saturating_sub(lines);
        out.split_off(skip)
    }

    /// Points `repository:tag` at the image `image_id`.
    pub async fn tag_image(&self, image_id: &str, repository: &str, tag: &str) -> Result<(), EngineError> {
        let options = TagImageOptionsBuilder::default().repo(repository).tag(tag).build();
        self.docker
            .tag_image(image_id, Some(options))
            .await
            .map_err(|e| self.call_error("tag the image", image_id, e))
    }

    /// Whether the engine's API is at least `major.minor` (e.g. creating on several networks at
    /// once needs 1.44).
    pub fn api_at_least(&self, major: u32, minor: u32) -> bool {
        let version = self.api_version();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        have >= (major, minor)
    }

    /// Words a failed call: a missing object, no answer, or a refusal with the engine's reason.
    fn call_error(&self, action: &'static str, what: &str, error: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as B;
        match error {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } => EngineError::NotFound {
                name: self.spec.name.clone(),
                host: self.spec.display_host(),
                what: what.to_string(),
                reason: message,
            },
            B::DockerResponseServerError { message, .. } | B::DockerStreamError { error: message } => {
                self.refused(action, what, message)
            }
            B::JsonDataError { .. } | B::JsonSerdeError { .. } => self.refused(action, what, error_chain(&error)),
            other => self.gone_error(&format!("{action} {what}: {}", error_chain(&other))),
        }
    }

    fn refused(&self, action: &'static str, what: &str, message: String) -> EngineError {
        let reason = if what.is_empty() {
            message
        } else {
            format!("{what}: {message}")
        };
        EngineError::Request {
            name: self.spec.name.clone(),
            host: self.spec.display_host(),
            action,
            reason,
        }
    }
}
