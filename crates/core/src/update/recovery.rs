//! Crash recovery (docs/updates.md#crash-safety): at start, the CLI and the app look in the journal
//! for updates that never finished (the process died, the engine went away) and settle each one:
//! undone when the new container had not yet proved itself, finished when it had.

use std::path::Path;

use serde::Serialize;

use super::apply::give_back_compose;
use super::compose;
use super::journal::{decode, Journal, JournalRecord, SwapStep};
use super::lock::EngineLock;
use super::outcome::{OutcomeStatus, UpdateOutcome};
use super::swap::{remove_new, restore_old};
use super::UpdateError;
use crate::engine::{Engine, EngineError};
use crate::error::ErrorInfo;
use crate::store::Store;

/// What recovery did with one unfinished update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub engine: String,
    pub container: String,
    pub outcome: RecoveryOutcome,
    /// One line for the user: what happened and what was done.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryOutcome {
    /// The old container runs again under its name, as before the update.
    Restored,
    /// The new container had passed the health gate: the update was finished.
    Finished,
    /// Left for later: the engine does not answer (or restoring failed); the journal keeps it.
    Pending,
}

/// Settles every unfinished update in the journal whose updater is gone. Updates still running
/// (their engine's lock is held by a live process) are left alone.
pub async fn recover(database: &Path, data_dir: &Path) -> Result<Vec<Recovery>, UpdateError> {
    let path = database.to_path_buf();
    let rows = tokio::task::spawn_blocking(move || Store::open(&path).and_then(|store| store.journal_entries()))
        .await
        .map_err(|e| UpdateError::Journal { reason: e.to_string() })??;
    let mut recoveries = Vec::new();
    for row in rows {
        let Some(record) = decode(&row.record) else {
            recoveries.push(Recovery {
                engine: row.engine.clone(),
                container: row.container.clone(),
                outcome: RecoveryOutcome::Pending,
                message: format!(
                    "an unfinished update of {} on {} was written by another Tidewatch version and is left as it \
                     is (journal entry {}, step {})",
                    row.container, row.engine, row.id, row.step
                ),
            });
            continue;
        };
        let Some(_turn) = EngineLock::try_acquire(data_dir, &record.engine.host)? else {
            continue; // a live process is still at it
        };
        let recovery = match Engine::connect_with(&record.engine).await {
            Ok(engine) => settle(database, &engine, row.id, record).await,
            Err(error) => pending(&record, &error.to_string()),
        };
        recoveries.push(recovery);
    }
    Ok(recoveries)
}

/// Undoes or finishes one unfinished update, and closes its journal entry when done.
async fn settle(database: &Path, engine: &Engine, id: i64, record: JournalRecord) -> Recovery {
    let path = database.to_path_buf();
    let store = match tokio::task::spawn_blocking(move || Store::open(&path)).await {
        Ok(Ok(store)) => store,
        Ok(Err(error)) => return pending(&record, &error.to_string()),
        Err(error) => return pending(&record, &error.to_string()),
    };
    let mut journal = Journal::resume(store, id, record.clone());
    let what = match record.action {
        super::journal::Action::Update => "update",
        super::journal::Action::Rollback => "rollback",
    };
    let result = if let Some(compose) = &record.compose {
        settle_compose(engine, compose).await
    } else if is_finished(&record) {
        finish(engine, &mut journal)
            .await
            .map(|()| true)
            .map_err(UpdateError::from)
    } else {
        undo(engine, &mut journal)
            .await
            .map(|()| false)
            .map_err(UpdateError::from)
    };
    let (outcome, status, message) = match result {
        Ok(true) => (
            RecoveryOutcome::Finished,
            OutcomeStatus::Updated,
            format!(
                "finished an interrupted {what} of {} on {}: the new container had passed its health gate, the old one \
                 is now removed",
                record.container,
                engine.name()
            ),
        ),
        Ok(false) => (
            RecoveryOutcome::Restored,
            OutcomeStatus::RolledBack,
            format!(
                "restored {} on {} after an interrupted {what} to {}: it runs as before the {what}",
                record.container,
                engine.name(),
                record.image_after
            ),
        ),
        Err(error) => return pending(&record, &error.to_string()),
    };
    let mut history = UpdateOutcome::new(
        engine.name(),
        &record.container,
        record.action,
        &record.image_before,
        &record.image_after,
    );
    history.status = status;
    history.image_id_before = Some(record.image_id_before.clone());
    history.image_id_after = record.image_id_after.clone();
    history.container_id_before = record.swaps.first().map(|s| s.old_id.clone());
    history.container_id_after = record.swaps.first().and_then(|s| s.new_id.clone());
    if record.compose.is_some() {
        history.method = "compose";
    }
    if status == OutcomeStatus::RolledBack {
        history.container_id_after = None;
        history.error = Some(ErrorInfo::new("update_interrupted", message.clone()));
    }
    let compose_text = record.compose.as_ref().and_then(|c| serde_json::to_string(c).ok());
    let store = journal.store();
    let _ = tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = history.history_row(compose_text) {
            store.record_update(&row)?;
        }
        store.journal_close(id)
    })
    .await;
    Recovery {
        engine: engine.name().to_string(),
        container: record.container.clone(),
        outcome,
        message,
    }
}

/// Whether an interrupted swap is finished rather than undone: only when every new container had
/// passed its gate and no undo had begun (an undo cut short is carried on, never reversed).
fn is_finished(record: &JournalRecord) -> bool {
    !record.swaps.is_empty() && record.swaps.iter().all(|s| s.step.passed_gate() && !s.undoing)
}

/// The new containers go (dependents first), the old ones come back (the updated one first).
async fn undo(engine: &Engine, journal: &mut Journal) -> Result<(), EngineError> {
    let count = journal.record.swaps.len();
    for slot in (0..count).rev() {
        let _ = journal.undoing(slot).await;
        remove_new(engine, &journal.record.swaps[slot]).await?;
    }
    for slot in 0..count {
        restore_old(engine, &journal.record.swaps[slot]).await?;
    }
    Ok(())
}

/// Every new container had proved itself: the old ones are removed (never their volumes).
async fn finish(engine: &Engine, journal: &mut Journal) -> Result<(), EngineError> {
    for slot in (0..journal.record.swaps.len()).rev() {
        let old_id = journal.record.swaps[slot].old_id.clone();
        match engine.remove_container(&old_id).await {
            Ok(()) | Err(EngineError::NotFound { .. }) => {
                let _ = journal.step(slot, SwapStep::Removed).await;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A compose service that had passed its health gate is left as it is (`Ok(true)`: finished);
/// otherwise it gets back its file (or its tag) and is brought up again.
async fn settle_compose(engine: &Engine, record: &compose::ComposeRecord) -> Result<bool, UpdateError> {
    match record.step {
        compose::ComposeStep::Healthy => Ok(true),
        compose::ComposeStep::Planned => Ok(false),
        _ => {
            let program = compose::program().await?;
            give_back_compose(engine, &program, record).await.map(|()| false)
        }
    }
}

fn pending(record: &JournalRecord, reason: &str) -> Recovery {
    Recovery {
        engine: record.engine.name.clone(),
        container: record.container.clone(),
        outcome: RecoveryOutcome::Pending,
        message: format!(
            "an interrupted update of {} on {} could not be settled yet ({reason}); nothing is lost, Tidewatch tries \
             again at its next start",
            record.container, record.engine.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{EndpointIpamConfig, EndpointSettings};
    use crate::engine::EngineSpec;
    use crate::update::journal::{Action, SwapRecord};

    fn swap(step: SwapStep, undoing: bool) -> SwapRecord {
        SwapRecord {
            name: "web".into(),
            old_id: "old".into(),
            temp_name: "web-tidewatch-old-1".into(),
            was_running: true,
            endpoints: vec![(
                "front".into(),
                EndpointSettings {
                    aliases: Some(vec!["web".into()]),
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some("10.1.2.3".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )],
            freed: vec!["front".into()],
            new_image: "app:2".into(),
            new_id: Some("new".into()),
            step,
            undoing,
        }
    }

    fn record(swaps: Vec<SwapRecord>) -> JournalRecord {
        JournalRecord {
            engine: EngineSpec::new("local", "unix:///run/docker.sock"),
            action: Action::Update,
            container: "web".into(),
            image_before: "app:1".into(),
            image_after: "app:2".into(),
            image_id_before: "sha256:1".into(),
            image_id_after: Some("sha256:2".into()),
            swaps,
            compose: None,
        }
    }

    #[test]
    fn only_swaps_that_all_passed_the_gate_without_an_undo_are_finished() {
        let cases = [
            (vec![swap(SwapStep::Healthy, false)], true),
            (
                vec![swap(SwapStep::RemovingOld, false), swap(SwapStep::Removed, false)],
                true,
            ),
            (vec![swap(SwapStep::Renaming, false)], false),
            (vec![swap(SwapStep::WaitingHealthy, false)], false),
            // The updated container passed, its dependent did not: everything is given back.
            (
                vec![swap(SwapStep::Healthy, false), swap(SwapStep::Starting, false)],
                false,
            ),
            // An undo had begun after a later failure: carry it on.
            (vec![swap(SwapStep::Healthy, true)], false),
            (vec![], false),
        ];
        for (swaps, finished) in cases {
            let steps: Vec<_> = swaps.iter().map(|s| (s.step, s.undoing)).collect();
            assert_eq!(is_finished(&record(swaps)), finished, "{steps:?}");
        }
    }

    #[test]
    fn a_journal_record_reads_back_as_written() {
        let written = record(vec![swap(SwapStep::Freeing, false)]);
        let text = serde_json::to_string(&written).unwrap();
        assert_eq!(decode(&text), Some(written));
        assert_eq!(decode("{\"not\": \"a record\"}"), None);
    }
}
