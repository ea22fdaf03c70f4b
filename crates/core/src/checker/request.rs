//! What a check is asked to look at: each engine's containers (listed before the check) and loose
//! image references.

use crate::engine::{ContainerImage, Engine, EngineError, EngineTarget};
use crate::platform::Platform;

/// One engine's containers as listed for a check, or why they could not be.
#[derive(Debug)]
pub struct EngineInventory {
    pub name: String,
    /// The engine's address as configured (`unix:///var/run/docker.sock`, `ssh://…`).
    pub endpoint: String,
    pub containers: Result<Vec<ContainerImage>, EngineError>,
    /// The engine's own `registry-mirrors` (fallback endpoints for Docker Hub images).
    pub registry_mirrors: Vec<String>,
}

impl EngineInventory {
    /// Connects to `target` and lists its containers; a failure is kept, not returned, so one
    /// engine that does not answer never stops the others.
    pub async fn collect(target: &EngineTarget) -> EngineInventory {
        match target.connect().await {
            Ok(engine) => EngineInventory::from_engine(&engine).await,
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
                    registry_mirrors: Vec::new(),
                }
            }
        }
    }

    /// Lists the containers and registry mirrors of an engine already connected.
    pub async fn from_engine(engine: &Engine) -> EngineInventory {
        let registry_mirrors = match engine.registry_mirrors().await {
            Ok(mirrors) => mirrors,
            // Mirrors are only fallbacks; the check goes on without them.
            Err(error) => {
                tracing::warn!(engine = engine.name(), %error, "cannot read the engine's registry mirrors");
                Vec::new()
            }
        };
        EngineInventory {
            name: engine.name().to_string(),
            endpoint: engine.spec().display_host(),
            containers: engine.containers().await,
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
}
