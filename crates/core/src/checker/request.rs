//! What a check is asked to look at: each engine's containers and Swarm services (listed before
//! the check) and loose image references.

use crate::engine::{ContainerImage, EngineError, EngineTarget};
use crate::platform::Platform;
use crate::source::{Source, Workload};

/// One engine's containers and services as listed for a check, or why they could not be.
#[derive(Debug)]
pub struct EngineInventory {
    pub name: String,
    /// The engine's address as configured (`unix:///var/run/docker.sock`, `ssh://…`).
    pub endpoint: String,
    pub containers: Result<Vec<ContainerImage>, EngineError>,
    /// Its orchestrated workloads (a Swarm manager's services); empty on a plain engine.
    pub workloads: Vec<Workload>,
    /// Why the workloads could not be listed although the containers could.
    pub workloads_error: Option<EngineError>,
    /// The engine's own `registry-mirrors` (fallback endpoints for Docker Hub images).
    pub registry_mirrors: Vec<String>,
}

impl EngineInventory {
    /// Connects to `target` and lists its containers and services; a failure is kept, not
    /// returned, so one engine that does not answer never stops the others.
    pub async fn collect(target: &EngineTarget) -> EngineInventory {
        match target.connect().await {
            Ok(engine) => EngineInventory::from_source(&engine).await,
            Err(error) => {
                // Local discovery names what it tried in the error; the report shows the first address.
                let endpoint = match (&error, target) {
                    (EngineError::Unreachable { host, .. }, EngineTarget::Local) => host.clone(),
                    (_, EngineTarget::Local) => String::new(),
                    (_, EngineTarget::Spec(spec)) => spec.display_host(),
                };
                EngineInventory {
                    name: target.name().to_string(),
                    endpoint,
                    containers: Err(error),
                    workloads: Vec::new(),
                    workloads_error: None,
                    registry_mirrors: Vec::new(),
                }
            }
        }
    }

    /// Lists what a source already connected holds.
    pub async fn from_source(source: &dyn Source) -> EngineInventory {
        let (containers, workloads, workloads_error, registry_mirrors) = match source.inventory().await {
            Ok(inventory) => (
                Ok(inventory.containers),
                inventory.workloads,
                inventory.workloads_error,
                inventory.registry_mirrors,
            ),
            Err(error) => (Err(error), Vec::new(), None, Vec::new()),
        };
        EngineInventory {
            name: source.name().to_string(),
            endpoint: source.endpoint(),
            containers,
            workloads,
            workloads_error,
            registry_mirrors,
        }
    }
}

/// Lists every target's containers at once; the inventories come in the order of `targets`.
pub async fn inventory(targets: &[EngineTarget]) -> Vec<EngineInventory> {
    futures_util::future::join_all(targets.iter().map(EngineInventory::collect)).await
}

/// An image to check without any engine (`tidewatch check --image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    /// The reference as the user wrote it; kept verbatim in the result's `image`.
    pub reference: String,
    pub platform: Platform,
}

/// What to check: engines' containers, then loose images (results come in that order).
#[derive(Debug, Default)]
pub struct CheckRequest {
    pub engines: Vec<EngineInventory>,
    pub images: Vec<ImageTarget>,
    /// Ask digests no verdict needs too (`--digests`): `update.digest` of a tag update, and the
    /// current digest of an `--image` reference (docs/check.md#7-ask-the-registries).
    pub resolve_digests: bool,
}
