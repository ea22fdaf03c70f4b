//! One run of `tidewatch update` or `tidewatch rollback` as its `--json` document writes it
//! (docs/cli.md#the-update-document): what was recovered, planned and done.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::{FieldChange, OutcomeStatus, Recovery, UpdateOutcome, UpdatePlan};

/// The document; build it with [`UpdateReport::new`], fill it, then [`UpdateReport::finish`].
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    pub dry_run: bool,
    /// Updates an earlier run left unfinished, settled at the start of this one.
    pub recovered: Vec<Recovery>,
    /// What was planned (and, in a dry run, what each would change).
    pub plans: Vec<PlannedUpdate>,
    /// How each update ended, refusals included; empty in a dry run unless some were refused.
    pub results: Vec<UpdateOutcome>,
    pub summary: UpdateSummary,
}

/// A plan, with the fields it would change when the run is a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedUpdate {
    #[serde(flatten)]
    pub plan: UpdatePlan,
    pub changes: Option<Vec<FieldChange>>,
}

/// How many results ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpdateSummary {
    pub planned: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rolled_back: u64,
    pub refused: u64,
    pub failed: u64,
    pub interrupted: u64,
    pub duration_ms: u64,
}

impl UpdateReport {
    pub fn new(dry_run: bool) -> UpdateReport {
        UpdateReport {
            started_at: SystemTime::now(),
            dry_run,
            recovered: Vec::new(),
            plans: Vec::new(),
            results: Vec::new(),
            summary: UpdateSummary::default(),
        }
    }

    /// Counts the results and the time taken.
    pub fn finish(&mut self) {
        let count = |status: OutcomeStatus| self.results.iter().filter(|r| r.status == status).count() as u64;
        self.summary = UpdateSummary {
            planned: self.plans.len() as u64,
            updated: count(OutcomeStatus::Updated),
            unchanged: count(OutcomeStatus::Unchanged),
            rolled_back: count(OutcomeStatus::RolledBack),
            refused: count(OutcomeStatus::Refused),
            failed: count(OutcomeStatus::Failed),
            interrupted: count(OutcomeStatus::Interrupted),
            duration_ms: self
                .started_at
                .elapsed()
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
    }
}

fn rfc3339<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*time))
}
