//! The swap (docs/updates.md#the-swap): the old container is kept, stopped and renamed, until the
//! new one has proved itself; any failure gives it back its name, its networks and its state.
//! Every step is journaled before it is taken, and every step has its undo here.

use std::time::Duration;

use super::blueprint::{attached_networks, container_name, Blueprint};
use super::health::{self, GateFailure, GateSettings, GateTick};
use super::journal::{pause_point, Journal, SwapRecord, SwapStep};
use super::progress::Phase;
use super::UpdateError;
use crate::engine::model::ContainerInspectResponse;
use crate::engine::{Engine, EngineError};
use crate::error::{Coded, ErrorKind};

/// How many of the new container's last log lines a failure report carries.
const LOG_LINES: usize = 20;
/// Giving a container back is retried this often when the engine does not answer.
const RESTORE_ATTEMPTS: u32 = 3;
const RESTORE_PAUSE: Duration = Duration::from_secs(1);

/// One container to replace: the old one as `inspect` showed it, and what replaces it.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub old: ContainerInspectResponse,
    pub blueprint: Blueprint,
}

/// Why a swap did not go through, and whether everything was given back.
#[derive(Debug)]
pub struct SwapFailure {
    /// The container whose swap failed (the one updated, or a dependent).
    pub container: String,
    pub cause: FailureCause,
    /// The new container's last log lines, when it got as far as running.
    pub logs: Vec<String>,
    /// `Err`: some of it could not be given back; the journal keeps it for the next start.
    pub restored: Result<(), String>,
}

#[derive(Debug)]
pub enum FailureCause {
    Gate(GateFailure),
    Engine(EngineError),
    Update(UpdateError),
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureCause::Gate(failure) => failure.fmt(f),
            FailureCause::Engine(error) => error.fmt(f),
            FailureCause::Update(error) => error.fmt(f),
        }
    }
}

/// Runs the swap of one update: a container and the containers that share its network namespace.
pub struct Swapper<'a> {
    pub engine: &'a Engine,
    pub journal: &'a mut Journal,
    pub gate: GateSettings,
    pub report: &'a (dyn Fn(Phase) + Send + Sync),
}

impl Swapper<'_> {
    /// The whole swap. `replacements[0]` is the container updated; the rest are its dependents
    /// (`network_mode: container:<it>`), recreated on the new container after it. The journal's
    /// swap records are in the same order.
    pub async fn swap(&mut self, replacements: &[Replacement]) -> Result<(), SwapFailure> {
        // Dependents stop first: they would lose their network when the container they share stops.
        for slot in 1..replacements.len() {
            if let Err(cause) = self.stop(slot, &replacements[slot].old).await {
                return Err(self.give_back(slot, cause, Vec::new(), 0..replacements.len()).await);
            }
        }
        // The container itself, then its dependents on the new container; any failure gives all back.
        for (slot, replacement) in replacements.iter().enumerate() {
            if let Err((cause, logs)) = self.replace(slot, replacement).await {
                return Err(self.give_back(slot, cause, logs, 0..replacements.len()).await);
            }
        }
        // A container that was stopped stays stopped: it ran only to pass the gate.
        for (slot, replacement) in replacements.iter().enumerate() {
            self.stop_if_it_was_stopped(slot, replacement).await;
        }
        // All proved themselves: the old containers go (never their volumes), dependents first.
        for slot in (0..replacements.len()).rev() {
            self.remove_old(slot).await;
        }
        Ok(())
    }

    async fn stop_if_it_was_stopped(&self, slot: usize, replacement: &Replacement) {
        let record = &self.journal.record.swaps[slot];
        let (Some(new_id), false) = (&record.new_id, record.was_running) else {
            return;
        };
        let timeout = replacement.blueprint.body.stop_timeout;
        if let Err(error) = self.engine.stop_container(new_id, timeout).await {
            tracing::warn!(
                container = record.name,
                "the updated container was stopped before and could not be stopped again: {error}"
            );
        }
    }

    /// Stop, put aside, create, start and health-gate one replacement.
    async fn replace(&mut self, slot: usize, replacement: &Replacement) -> Result<(), (FailureCause, Vec<String>)> {
        let no_logs = |cause: FailureCause| (cause, Vec::new());
        let (name, old_id, temp_name) = {
            let record = &self.journal.record.swaps[slot];
            (record.name.clone(), record.old_id.clone(), record.temp_name.clone())
        };
        let blueprint = &replacement.blueprint;

        // 1. Stop the old container (its own stop signal and timeout).
        self.stop(slot, &replacement.old).await.map_err(no_logs)?;

        // 2. Rename it out of the way: it is kept for a rollback until the new one is healthy.
        self.take(slot, SwapStep::Renaming).await.map_err(no_logs)?;
        self.report(Phase::Recreating {
            container: name.clone(),
        });
        self.engine
            .rename_container(&old_id, &temp_name)
            .await
            .map_err(engine)
            .map_err(no_logs)?;
        pause_point(SwapStep::Renaming.as_str()).await;

        // 3. Free its static IPs: the new container asks for the same addresses.
        self.take(slot, SwapStep::Freeing).await.map_err(no_logs)?;
        let holding: Vec<String> = self.journal.record.swaps[slot]
            .endpoints
            .iter()
            .filter(|(_, endpoint)| endpoint.ipam_config.is_some())
            .map(|(network, _)| network.clone())
            .collect();
        for network in holding {
            self.engine
                .disconnect_network(&network, &old_id)
                .await
                .map_err(engine)
                .map_err(no_logs)?;
            self.journal.record.swaps[slot].freed.push(network);
            self.journal
                .save(&format!("{name}: freed"))
                .await
                .map_err(update)
                .map_err(no_logs)?;
        }

        // 4. Create the new container under the original name.
        self.take(slot, SwapStep::Creating).await.map_err(no_logs)?;
        let new_id = self
            .engine
            .create_container(&name, blueprint.body.clone())
            .await
            .map_err(engine)
            .map_err(no_logs)?;
        self.journal.record.swaps[slot].new_id = Some(new_id.clone());
        self.journal
            .save(&format!("{name}: created"))
            .await
            .map_err(update)
            .map_err(no_logs)?;
        pause_point(SwapStep::Creating.as_str()).await;

        // 5. Connect its other networks (engines before API 1.44 create on one network only).
        self.take(slot, SwapStep::Connecting).await.map_err(no_logs)?;
        for (network, endpoint) in &blueprint.connect {
            self.engine
                .connect_network(network, &new_id, endpoint.clone())
                .await
                .map_err(engine)
                .map_err(no_logs)?;
        }

        // 6. Start it.
        self.take(slot, SwapStep::Starting).await.map_err(no_logs)?;
        self.report(Phase::Starting {
            container: name.clone(),
        });
        if let Err(error) = self.engine.start_container(&new_id).await {
            let logs = self.engine.last_log_lines(&new_id, LOG_LINES).await;
            return Err((FailureCause::Engine(error), logs));
        }

        // 7. Wait until it proves itself: healthy, or running steadily.
        self.take(slot, SwapStep::WaitingHealthy).await.map_err(no_logs)?;
        let tick = |t: GateTick| {
            self.report(Phase::WaitingHealthy {
                container: name.clone(),
                elapsed_ms: u64::try_from(t.elapsed.as_millis()).unwrap_or(u64::MAX),
                timeout_ms: u64::try_from(t.limit.as_millis()).unwrap_or(u64::MAX),
                health: t.health,
            })
        };
        match health::wait_until_ready(self.engine, &new_id, self.gate, &tick).await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => {
                let logs = self.engine.last_log_lines(&new_id, LOG_LINES).await;
                return Err((FailureCause::Gate(failure), logs));
            }
            Err(error) => return Err(no_logs(FailureCause::Engine(error))),
        }
        self.take(slot, SwapStep::Healthy).await.map_err(no_logs)?;
        Ok(())
    }

    /// Stops the old container of `slot` (already stopped is fine).
    async fn stop(&mut self, slot: usize, old: &ContainerInspectResponse) -> Result<(), FailureCause> {
        self.take(slot, SwapStep::Stopping).await?;
        let record = &self.journal.record.swaps[slot];
        self.report(Phase::Stopping {
            container: record.name.clone(),
        });
        let timeout = old.config.as_ref().and_then(|c| c.stop_timeout);
        self.engine
            .stop_container(&record.old_id, timeout)
            .await
            .map_err(engine)?;
        pause_point(SwapStep::Stopping.as_str()).await;
        Ok(())
    }

    /// Removes the old container of `slot` once everything is healthy. A failure here loses
    /// nothing (the new container runs); it is logged and the old one stays, renamed.
    async fn remove_old(&mut self, slot: usize) {
        let record = self.journal.record.swaps[slot].clone();
        self.report(Phase::RemovingOld {
            container: record.name.clone(),
        });
        if self.journal.step(slot, SwapStep::RemovingOld).await.is_err() {
            return;
        }
        match self.engine.remove_container(&record.old_id).await {
            Ok(()) | Err(EngineError::NotFound { .. }) => {
                let _ = self.journal.step(slot, SwapStep::Removed).await;
            }
            Err(error) => tracing::warn!(
                container = record.name,
                old = record.temp_name,
                "the update succeeded but the old container could not be removed: {error}"
            ),
        }
    }

    /// After a failure in `failed`: the new containers go, the old ones come back (the updated one
    /// first, so its dependents can join its network again).
    async fn give_back(
        &mut self,
        failed: usize,
        cause: FailureCause,
        logs: Vec<String>,
        slots: std::ops::Range<usize>,
    ) -> SwapFailure {
        let container = self.journal.record.swaps[failed].name.clone();
        self.report(Phase::RollingBack {
            reason: cause.to_string(),
        });
        let mut problems = Vec::new();
        for slot in slots.clone().rev() {
            let _ = self.journal.undoing(slot).await;
            if let Err(error) = with_retries(|| remove_new(self.engine, &self.journal.record.swaps[slot])).await {
                problems.push(error.to_string());
            }
        }
        for slot in slots {
            if let Err(error) = with_retries(|| restore_old(self.engine, &self.journal.record.swaps[slot])).await {
                problems.push(error.to_string());
            }
        }
        SwapFailure {
            container,
            cause,
            logs,
            restored: if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            },
        }
    }

    async fn take(&mut self, slot: usize, step: SwapStep) -> Result<(), FailureCause> {
        self.journal.step(slot, step).await.map_err(update)
    }

    fn report(&self, phase: Phase) {
        (self.report)(phase);
    }
}

fn engine(error: EngineError) -> FailureCause {
    FailureCause::Engine(error)
}

fn update(error: UpdateError) -> FailureCause {
    FailureCause::Update(error)
}

/// Removes the new container of a swap, if it got as far as being created. A container under the
/// name is only taken for it when it runs the swap's new image (the name was freed by the swap).
pub async fn remove_new(engine: &Engine, record: &SwapRecord) -> Result<(), EngineError> {
    let new_id = match &record.new_id {
        Some(id) => Some(id.clone()),
        None if record.step >= SwapStep::Creating => engine.find_container(&record.name).await?.and_then(|found| {
            let id = found.id.clone().unwrap_or_default();
            let image = found.config.as_ref().and_then(|c| c.image.clone());
            (id != record.old_id && image.as_deref() == Some(record.new_image.as_str())).then_some(id)
        }),
        None => None,
    };
    match new_id {
        Some(id) => match engine.remove_container(&id).await {
            Ok(()) | Err(EngineError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        },
        None => Ok(()),
    }
}

/// Gives the old container of a swap back its networks (with their aliases and static IPs), its
/// name and its state. Safe to run again: what is already as it was is left alone.
pub async fn restore_old(engine: &Engine, record: &SwapRecord) -> Result<(), EngineError> {
    let old = engine.inspect_container(&record.old_id).await?;
    let attached: Vec<String> = attached_networks(&old).into_iter().map(|(name, _)| name).collect();
    for (network, endpoint) in &record.endpoints {
        if !attached.contains(network) {
            engine
                .connect_network(network, &record.old_id, endpoint.clone())
                .await?;
        }
    }
    if container_name(&old) != record.name {
        engine.rename_container(&record.old_id, &record.name).await?;
    }
    let running = old.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    if record.was_running && !running {
        engine.start_container(&record.old_id).await?;
    }
    Ok(())
}

/// Runs `call` again when the engine did not answer (a restart, a network blip), a few times.
async fn with_retries<F, Fut>(mut call: F) -> Result<(), EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), EngineError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if error.kind() == ErrorKind::NoAnswer && attempt < RESTORE_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(RESTORE_PAUSE).await;
            }
            result => return result,
        }
    }
}
