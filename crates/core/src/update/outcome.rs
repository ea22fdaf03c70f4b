//! What became of one update or rollback: the result the CLI prints (and writes in its `--json`
//! document) and the app shows in the container's row; the history keeps the same.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::health::GateFailure;
use super::journal::Action;
use super::UpdateError;
use crate::error::{Coded, ErrorInfo};
use crate::store::HistoryRow;

/// How an update (or rollback) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// The new container runs and passed the health gate; the old one is gone (its volumes kept).
    Updated,
    /// The pulled image is the one the container already runs: nothing was touched.
    Unchanged,
    /// The new container failed; the old one runs again under its name, as it was.
    RolledBack,
    /// Preflight said no (pinned, local only, Swarm, …): nothing was touched.
    Refused,
    /// Something failed before any container was touched (the pull, the engine): nothing changed.
    Failed,
    /// The update could neither finish nor be undone (the engine went away): the journal keeps
    /// it, and the next start of Tidewatch gives the old container back.
    Interrupted,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Updated => "updated",
            OutcomeStatus::Unchanged => "unchanged",
            OutcomeStatus::RolledBack => "rolled_back",
            OutcomeStatus::Refused => "refused",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Interrupted => "interrupted",
        }
    }
}

/// One container's update or rollback, as it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateOutcome {
    pub engine: String,
    pub container: String,
    pub action: Action,
    pub status: OutcomeStatus,
    /// The reference the container was created from, before and after.
    pub image_before: String,
    pub image_after: String,
    pub image_id_before: Option<String>,
    pub image_id_after: Option<String>,
    pub container_id_before: Option<String>,
    pub container_id_after: Option<String>,
    /// Containers recreated with it (they share its network namespace).
    pub dependents: Vec<String>,
    /// `recreate`, `compose` for a compose service, or `swarm` for a Swarm service.
    pub method: &'static str,
    /// Why it was refused, failed, rolled back or interrupted.
    pub error: Option<ErrorInfo>,
    /// The new container's last log lines, when it failed after starting.
    pub logs: Vec<String>,
    pub duration_ms: u64,
}

impl UpdateOutcome {
    /// An outcome with nothing done yet, to fill in.
    pub fn new(engine: &str, container: &str, action: Action, image_before: &str, image_after: &str) -> UpdateOutcome {
        UpdateOutcome {
            engine: engine.to_string(),
            container: container.to_string(),
            action,
            status: OutcomeStatus::Failed,
            image_before: image_before.to_string(),
            image_after: image_after.to_string(),
            image_id_before: None,
            image_id_after: None,
            container_id_before: None,
            container_id_after: None,
            dependents: Vec::new(),
            method: "recreate",
            error: None,
            logs: Vec::new(),
            duration_ms: 0,
        }
    }

    /// A request that ended before anything was touched: refused by preflight, or failed.
    pub fn not_done(engine: &str, container: &str, action: Action, error: &UpdateError) -> UpdateOutcome {
        let mut outcome = UpdateOutcome::new(engine, container, action, "", "");
        outcome.status = if error.is_refusal() {
            OutcomeStatus::Refused
        } else {
            OutcomeStatus::Failed
        };
        outcome.error = Some(ErrorInfo::of(error));
        outcome
    }

    pub fn with_error(mut self, status: OutcomeStatus, error: ErrorInfo) -> UpdateOutcome {
        self.status = status;
        self.error = Some(error);
        self
    }

    pub(super) fn finished(mut self, started: std::time::Instant) -> UpdateOutcome {
        self.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Whether the container runs as the user asked: updated, or nothing needed doing.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, OutcomeStatus::Updated | OutcomeStatus::Unchanged)
    }

    /// The history row for this outcome (refusals are not history: nothing happened).
    pub(super) fn history_row(&self, compose: Option<String>) -> Option<HistoryRow> {
        if self.status == OutcomeStatus::Refused {
            return None;
        }
        let finished = SystemTime::now();
        Some(HistoryRow {
            id: 0,
            engine: self.engine.clone(),
            container: self.container.clone(),
            action: self.action.as_str().to_string(),
            outcome: self.status.as_str().to_string(),
            image_before: self.image_before.clone(),
            image_after: self.image_after.clone(),
            image_id_before: self.image_id_before.clone().unwrap_or_default(),
            image_id_after: self.image_id_after.clone(),
            container_id_before: self.container_id_before.clone(),
            container_id_after: self.container_id_after.clone(),
            compose,
            error_code: self.error.as_ref().map(|e| e.code.clone()),
            error_message: self.error.as_ref().map(|e| e.message.clone()),
            started_at: finished - Duration::from_millis(self.duration_ms),
            finished_at: finished,
        })
    }
}

impl Coded for GateFailure {
    fn code(&self) -> &'static str {
        match self {
            GateFailure::Exited { .. } => "update_new_container_exited",
            GateFailure::Restarted { .. } => "update_new_container_restarted",
            GateFailure::Unhealthy { .. } => "update_new_container_unhealthy",
            GateFailure::Timeout { .. } => "update_health_timeout",
            GateFailure::Vanished => "update_new_container_vanished",
        }
    }
}

/// An update that was undone: why, said for the user, with the code of the cause.
#[derive(Debug, thiserror::Error)]
#[error("{what} was rolled back: {cause}; {container} runs as before")]
pub struct RolledBack {
    pub what: String,
    pub container: String,
    pub cause: String,
    pub code: &'static str,
}

impl Coded for RolledBack {
    fn code(&self) -> &'static str {
        self.code
    }
}

/// An update that could neither finish nor be undone.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} stopped: {cause}; giving {container} back failed too ({problems}). Nothing is lost: the old \
     container is kept{aside}, and the update journal has what to restore; Tidewatch restores it the next time it \
     starts and reaches the engine"
)]
pub struct Interrupted {
    pub what: String,
    pub container: String,
    pub cause: String,
    pub problems: String,
    /// `, named …` when it is renamed aside.
    pub aside: String,
}

impl Coded for Interrupted {
    fn code(&self) -> &'static str {
        "update_interrupted"
    }
}
