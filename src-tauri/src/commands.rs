//! Tauri commands: parse, call the core, map the error. Nothing else lives here.

use serde::Serialize;
use tidewatch_core::engine::{ContainerImage, Engine, EngineError};

/// What the UI receives when a command fails: a stable `code` to act on, a `message` to show.
#[derive(Debug, Serialize)]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
}

impl From<EngineError> for CommandError {
    fn from(error: EngineError) -> Self {
        let code = match error {
            EngineError::UnsupportedHost { .. } => "engine_address_invalid",
            EngineError::Unreachable { .. } => "engine_unreachable",
            EngineError::Request { .. } => "engine_request_failed",
        };
        CommandError {
            code,
            message: error.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AppInfo {
    pub version: &'static str,
}

#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[derive(Debug, Serialize)]
pub struct EngineContainers {
    pub engine: String,
    pub host: String,
    pub api_version: String,
    pub containers: Vec<ContainerImage>,
}

/// The local engine's containers (DOCKER_HOST, else the default socket).
#[tauri::command]
pub async fn list_containers() -> Result<EngineContainers, CommandError> {
    let engine = Engine::connect_local().await?;
    let containers = engine.containers().await?;
    Ok(EngineContainers {
        engine: engine.name().to_string(),
        host: engine.host().to_string(),
        api_version: engine.api_version(),
        containers,
    })
}
