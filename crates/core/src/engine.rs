//! Docker engines: a thin newtype over bollard that speaks Tidewatch's nouns (`Engine`,
//! `ContainerImage`) so nothing else in the core depends on bollard's models.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::{Docker, API_DEFAULT_VERSION};
use serde::Serialize;

use crate::platform::Platform;

/// Seconds bollard waits for one engine request.
const REQUEST_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine address {host:?} is not supported: use unix://PATH, tcp://HOST:PORT, http://HOST:PORT or ssh://USER@HOST")]
    UnsupportedHost { host: String },
    #[error("cannot reach the Docker engine {name} at {host}: {reason}. Is the engine running, and may this user use its socket?")]
    Unreachable { name: String, host: String, reason: String },
    #[error("the Docker engine {name} at {host} failed to {action}: {reason}")]
    Request {
        name: String,
        host: String,
        action: &'static str,
        reason: String,
    },
}

/// One connected engine, its API version already negotiated (Debian's engine speaks only 1.41).
#[derive(Debug, Clone)]
pub struct Engine {
    name: String,
    host: String,
    docker: Docker,
}

/// What a check needs to know about one container and the image it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerImage {
    pub id: String,
    pub name: String,
    /// The image reference exactly as the container was created with it.
    pub image: String,
    pub image_id: String,
    pub repo_digests: Vec<String>,
    pub repo_tags: Vec<String>,
    pub platform: Option<Platform>,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
}

impl Engine {
    /// Connects to `host` and negotiates the API version. `host` is a Docker host URL.
    pub async fn connect(name: &str, host: &str) -> Result<Engine, EngineError> {
        let docker = connect_without_negotiation(host)?;
        let docker = docker.negotiate_version().await.map_err(|e| EngineError::Unreachable {
            name: name.to_string(),
            host: host.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Engine {
            name: name.to_string(),
            host: host.to_string(),
            docker,
        })
    }

    /// The local engine: `DOCKER_HOST` when set, else the default socket.
    pub async fn connect_local() -> Result<Engine, EngineError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        Engine::connect("local", &host).await
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version agreed with the engine, e.g. "1.41".
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
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
                self.image_as_created(&id).await?.unwrap_or(listed_image)
            } else {
                listed_image
            };
            if !images.contains_key(&image_id) {
                match self.docker.inspect_image(&image_id).await {
                    Ok(inspect) => {
                        images.insert(image_id.clone(), inspect);
                    }
                    // The image can vanish between the two calls; the container is still listed.
                    Err(e) => tracing::warn!(engine = %self.name, image_id, "cannot inspect image: {e}"),
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

    async fn image_as_created(&self, container_id: &str) -> Result<Option<String>, EngineError> {
        let inspect = self
            .docker
            .inspect_container(container_id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.request_error("inspect a container", e))?;
        Ok(inspect.config.and_then(|c| c.image))
    }

    fn request_error(&self, action: &'static str, error: bollard::errors::Error) -> EngineError {
        EngineError::Request {
            name: self.name.clone(),
            host: self.host.clone(),
            action,
            reason: error.to_string(),
        }
    }

    /// The underlying client, for the lab and tests that set up containers.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

fn looks_like_image_id(listed: &str, image_id: &str) -> bool {
    let hex = listed.strip_prefix("sha256:").unwrap_or(listed);
    listed.starts_with("sha256:") || (!hex.is_empty() && image_id.trim_start_matches("sha256:").starts_with(hex))
}

fn connect_without_negotiation(host: &str) -> Result<Docker, EngineError> {
    let unsupported = || EngineError::UnsupportedHost { host: host.to_string() };
    let result = if host.starts_with("unix://") {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if host.starts_with("ssh://") {
        Docker::connect_with_ssh(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION, None)
    } else {
        return Err(unsupported());
    };
    result.map_err(|e| EngineError::Unreachable {
        name: String::new(),
        host: host.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_in_the_container_list_are_recognized() {
        let id = "sha256:4f2a6b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
        assert!(looks_like_image_id(id, id));
        assert!(looks_like_image_id("4f2a6b1c0d9e", id));
        assert!(!looks_like_image_id("nginx:1.25", id));
        assert!(!looks_like_image_id("", id));
    }

    #[test]
    fn unsupported_host_urls_say_what_is_accepted() {
        let error = connect_without_negotiation("npipe:////./pipe/docker").unwrap_err();
        assert!(error.to_string().contains("unix://"), "{error}");
    }
}
