//! What an update is doing right now, for the CLI's progress lines and the app's row: one event
//! type both render.

use serde::Serialize;

/// One step of one container's update, reported as it starts (and, while pulling or waiting for
/// health, as it advances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateProgress {
    pub engine: String,
    /// The container being updated (the one the user asked for, not a dependent).
    pub container: String,
    #[serde(flatten)]
    pub phase: Phase,
}

/// The phases of an update, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Another update holds this engine (one at a time per engine); this one waits its turn.
    Queued,
    /// The verdict was stale, so the container is checked again first.
    Checking,
    /// Pulling the new image: layers and bytes so far (totals grow as the engine learns them).
    Pulling {
        reference: String,
        layers_done: u32,
        layers_total: u32,
        bytes_done: u64,
        bytes_total: u64,
    },
    /// Stopping the old container (`container` may be a dependent).
    Stopping {
        container: String,
    },
    /// Renaming the old container aside and creating the new one under its name.
    Recreating {
        container: String,
    },
    Starting {
        container: String,
    },
    /// Waiting for the new container: healthy (with a healthcheck), or running without exiting or
    /// restarting for the stability period (without one).
    WaitingHealthy {
        container: String,
        elapsed_ms: u64,
        timeout_ms: u64,
        /// `starting`, `healthy` or `unhealthy`; `None` without a healthcheck.
        health: Option<String>,
    },
    /// Running the compose CLI for a compose service (`docker compose … up -d --no-deps SERVICE`).
    Compose {
        command: String,
    },
    /// The new container failed; the old one is being given back its name, networks and state.
    RollingBack {
        reason: String,
    },
    /// The new container is healthy; the old one is removed (never its volumes).
    RemovingOld {
        container: String,
    },
    /// A Swarm service: Swarm's own rolling update (or rollback) moved to `state` (`updating`,
    /// `rolling_back`, `completed`, …), with its message.
    Swarm {
        state: String,
        message: String,
    },
}

/// A progress callback: called from the updating task, so keep it quick.
pub type ProgressFn<'a> = dyn Fn(UpdateProgress) + Send + Sync + 'a;
