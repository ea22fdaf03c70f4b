//! The health gate (docs/updates.md#the-health-gate): a new container must prove itself before the
//! old one is removed. With a healthcheck it must turn healthy within the timeout; without one it
//! must run for the stability period without exiting or restarting.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::model::{ContainerStateStatusEnum, HealthStatusEnum};
use crate::engine::{Engine, EngineError};

/// How often the new container's state is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// How long the gate waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSettings {
    /// With a healthcheck: how long it may take to turn healthy.
    pub health_timeout: Duration,
    /// Without one: how long it must run without exiting or restarting.
    pub stable_for: Duration,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            health_timeout: Duration::from_secs(120),
            stable_for: Duration::from_secs(10),
        }
    }
}

/// Why the new container did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum GateFailure {
    #[error("the new container exited with status {exit_code}{}", error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Exited { exit_code: i64, error: Option<String> },
    #[error("the new container restarted {count} time(s) instead of staying up")]
    Restarted { count: i64 },
    #[error("the new container turned unhealthy{}", last_check.as_ref().map(|c| format!(": its healthcheck said {c:?}")).unwrap_or_default())]
    Unhealthy { last_check: Option<String> },
    #[error("the new container was not healthy after {} s (health: {health})", waited_ms / 1000)]
    Timeout { waited_ms: u64, health: String },
    #[error("the new container disappeared while it was being watched")]
    Vanished,
}

/// What the wait saw at one moment, for the progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateTick {
    pub elapsed: Duration,
    pub limit: Duration,
    pub health: Option<String>,
}

/// Waits until the container `id` passes the gate. An engine that stops answering ends the wait
/// with its error (the swap then undoes).
pub async fn wait_until_ready(
    engine: &Engine,
    id: &str,
    settings: GateSettings,
    tick: &(dyn Fn(GateTick) + Send + Sync),
) -> Result<Result<(), GateFailure>, EngineError> {
    let started = Instant::now();
    loop {
        let Some(inspect) = engine.find_container(id).await? else {
            return Ok(Err(GateFailure::Vanished));
        };
        let state = inspect.state.clone().unwrap_or_default();
        let restarts = inspect.restart_count.unwrap_or(0);
        if restarts > 0 || state.restarting == Some(true) {
            return Ok(Err(GateFailure::Restarted { count: restarts.max(1) }));
        }
        let running = state.running == Some(true)
            && !matches!(
                state.status,
                Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
            );
        if !running {
            return Ok(Err(GateFailure::Exited {
                exit_code: state.exit_code.unwrap_or(-1),
                error: state.error.filter(|e| !e.is_empty()),
            }));
        }
        let elapsed = started.elapsed();
        match state.health {
            Some(health) => {
                let status = health.status.unwrap_or(HealthStatusEnum::STARTING);
                tick(GateTick {
                    elapsed,
                    limit: settings.health_timeout,
                    health: Some(status.to_string()),
                });
                match status {
                    HealthStatusEnum::HEALTHY => return Ok(Ok(())),
                    HealthStatusEnum::UNHEALTHY => {
                        let last_check = health
                            .log
                            .unwrap_or_default()
                            .last()
                            .and_then(|r| r.output.clone())
                            .map(|o| o.trim().chars().take(300).collect::<String>())
                            .filter(|o| !o.is_empty());
                        return Ok(Err(GateFailure::Unhealthy { last_check }));
                    }
                    _ if elapsed >= settings.health_timeout => {
                        return Ok(Err(GateFailure::Timeout {
                            waited_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                            health: status.to_string(),
                        }))
                    }
                    _ => {}
                }
            }
            None => {
                tick(GateTick {
                    elapsed,
                    limit: settings.stable_for,
                    health: None,
                });
                if elapsed >= settings.stable_for {
                    return Ok(Ok(()));
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
