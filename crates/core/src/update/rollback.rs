//! Rolling back a container's last update (docs/updates.md#rollback): the same swap, health gate
//! and journal as an update, towards the image the history recorded as the one it ran before.

use std::collections::HashMap;
use std::time::Instant;

use super::apply::{compose_up, dependent_replacement, finish_compose, finish_swap, replacement, swap_record};
use super::blueprint::container_name;
use super::compose::{self, ComposePlan, ComposeRecord, ComposeStep, PlannedEdit};
use super::journal::{Action, Journal, JournalRecord};
use super::lock::EngineLock;
use super::outcome::{OutcomeStatus, UpdateOutcome};
use super::preflight::{dependents_of, find};
use super::progress::Phase;
use super::swap::Swapper;
use super::target::split_tag;
use super::{Context, UpdateError};
use crate::engine::Engine;
use crate::error::ErrorInfo;
use crate::store::{HistoryRow, Store};

/// Rolls back the last update of `container`; every ending is an outcome.
pub async fn rollback(ctx: &Context<'_>, engine: &Engine, container: &str) -> UpdateOutcome {
    let started = Instant::now();
    let mut outcome = UpdateOutcome::new(engine.name(), container, Action::Rollback, "", "");
    let result = run(ctx, engine, container, &mut outcome).await;
    let compose = result.unwrap_or_else(|error| {
        outcome.status = if error.is_refusal() {
            OutcomeStatus::Refused
        } else {
            OutcomeStatus::Failed
        };
        outcome.error = Some(ErrorInfo::of(&error));
        None
    });
    let outcome = outcome.finished(started);
    ctx.record_history(&outcome, compose.as_ref()).await;
    outcome
}

async fn run(
    ctx: &Context<'_>,
    engine: &Engine,
    container: &str,
    outcome: &mut UpdateOutcome,
) -> Result<Option<ComposeRecord>, UpdateError> {
    let _turn = EngineLock::acquire(ctx.data_dir, engine.host(), || ctx.report(Phase::Queued)).await?;
    let current = find(engine, container).await?;
    let name = container_name(&current);
    outcome.container = name.clone();
    let last = last_update(ctx, engine.name(), &name).await?;
    let current_id = current.id.clone().unwrap_or_default();
    outcome.image_before = last.image_after.clone();
    outcome.image_after = last.image_before.clone();
    outcome.image_id_before = current.image.clone();
    outcome.image_id_after = Some(last.image_id_before.clone());
    outcome.container_id_before = Some(current_id.clone());
    if last.container_id_after.as_deref() != Some(current_id.as_str()) {
        return Err(UpdateError::RollbackStale {
            container: name,
            expected: last.container_id_after.clone().unwrap_or_default(),
            found: current_id,
        });
    }
    if engine.find_image(&last.image_id_before).await?.is_none() {
        return Err(UpdateError::RollbackImageGone {
            container: name,
            image_id: last.image_id_before.clone(),
            reference: last.image_before.clone(),
        });
    }
    let what = format!("the rollback of {name} to {}", last.image_before);
    if let Some(record) = last
        .compose
        .as_deref()
        .and_then(|text| serde_json::from_str::<ComposeRecord>(text).ok())
    {
        outcome.method = "compose";
        return compose_rollback(ctx, engine, &last, record, &what, outcome)
            .await
            .map(Some);
    }

    // The reference it was created from points at the image it ran (a digest update moved the tag).
    let (repository, tag) = split_tag(&last.image_before);
    let pointed = engine.find_image(&last.image_before).await?.and_then(|i| i.id);
    if pointed.as_deref() != Some(last.image_id_before.as_str()) {
        engine
            .tag_image(&last.image_id_before, repository, tag.unwrap_or("latest"))
            .await?;
    }

    let dependents = dependents_of(engine, &current_id, &name).await?;
    outcome.dependents = dependents.clone();
    let mut replacements = vec![replacement(engine, &current, &last.image_before, &HashMap::new()).await?];
    let names_by_id = HashMap::from([(current_id.clone(), name.clone())]);
    for dependent in &dependents {
        replacements.push(dependent_replacement(engine, dependent, &names_by_id).await?);
    }
    let record = JournalRecord {
        engine: engine.spec().clone(),
        action: Action::Rollback,
        container: name.clone(),
        image_before: last.image_after.clone(),
        image_after: last.image_before.clone(),
        image_id_before: current.image.clone().unwrap_or_default(),
        image_id_after: Some(last.image_id_before.clone()),
        swaps: replacements.iter().map(swap_record).collect(),
        compose: None,
    };
    let mut journal = Journal::open(ctx.database, record).await?;
    let result = Swapper {
        engine,
        journal: &mut journal,
        gate: ctx.gate,
        report: &|p| ctx.report(p),
    }
    .swap(&replacements)
    .await;
    finish_swap(ctx, journal, result, &what, outcome).await;
    Ok(None)
}

/// The container's last update that went through and was not rolled back since.
async fn last_update(ctx: &Context<'_>, engine: &str, container: &str) -> Result<HistoryRow, UpdateError> {
    let database = ctx.database.to_path_buf();
    let (engine_name, name) = (engine.to_string(), container.to_string());
    let rows = tokio::task::spawn_blocking(move || {
        Store::open(&database).and_then(|store| store.update_history(Some((&engine_name, &name)), 50))
    })
    .await
    .map_err(|e| UpdateError::Journal { reason: e.to_string() })??;
    rollback_point(&rows).cloned().ok_or_else(|| UpdateError::NoRollback {
        container: container.to_string(),
        engine: engine.to_string(),
    })
}

/// The update a rollback of one container would undo, from that container's history (newest
/// first): its newest change that went through, when that was an update (a rollback since leaves
/// nothing further to go back to).
pub fn rollback_point(rows: &[HistoryRow]) -> Option<&HistoryRow> {
    rows.iter()
        .find(|row| row.outcome == OutcomeStatus::Updated.as_str())
        .filter(|row| row.action == Action::Update.as_str())
}

/// Every container that has an update to roll back, from the whole history: (engine, container
/// name) → the ID of the container that update created (a rollback applies only while it runs).
pub fn rollback_points(store: &Store) -> Result<HashMap<(String, String), String>, crate::store::StoreError> {
    let mut by_container: HashMap<(String, String), Vec<HistoryRow>> = HashMap::new();
    for row in store.update_history(None, 2000)? {
        by_container
            .entry((row.engine.clone(), row.container.clone()))
            .or_default()
            .push(row);
    }
    Ok(by_container
        .into_iter()
        .filter_map(|(key, rows)| Some((key, rollback_point(&rows)?.container_id_after.clone()?)))
        .collect())
}

/// A compose service's rollback: the update's edit of the image line undone (other edits since are
/// kept, a backup is made), or the tag pointed back at the old image; then `up -d --no-deps` and
/// the health gate, as for an update.
async fn compose_rollback(
    ctx: &Context<'_>,
    engine: &Engine,
    last: &HistoryRow,
    update: ComposeRecord,
    what: &str,
    outcome: &mut UpdateOutcome,
) -> Result<ComposeRecord, UpdateError> {
    let program = compose::program().await?;
    let current_image = outcome.image_id_before.clone().unwrap_or_default();
    let plan = ComposePlan {
        service: update.service.clone(),
        edit: update.edited.as_ref().map(|edited| PlannedEdit {
            file: edited.file.clone(),
            line: 0,
            old_value: edited.new_value.clone(),
            new_value: edited.old_value.clone(),
        }),
    };
    let record = JournalRecord {
        engine: engine.spec().clone(),
        action: Action::Rollback,
        container: update.container.clone(),
        image_before: last.image_after.clone(),
        image_after: last.image_before.clone(),
        image_id_before: current_image.clone(),
        image_id_after: Some(last.image_id_before.clone()),
        swaps: Vec::new(),
        compose: Some(ComposeRecord {
            reference: last.image_after.clone(),
            old_image_id: current_image,
            edited: None,
            step: ComposeStep::Planned,
            ..update.clone()
        }),
    };
    let mut journal = Journal::open(ctx.database, record).await?;
    if plan.edit.is_none() {
        // A digest update: the tag goes back to the image it pointed at before.
        let (repository, tag) = split_tag(&last.image_before);
        if let Err(error) = engine
            .tag_image(&last.image_id_before, repository, tag.unwrap_or("latest"))
            .await
        {
            ctx.close(journal).await;
            return Err(error.into());
        }
    }
    let result = compose_up(ctx, engine, &program, &plan, &mut journal, &update.container).await;
    let record = journal.record.compose.clone().unwrap_or(update);
    finish_compose(ctx, engine, &program, journal, result, what, outcome).await;
    Ok(record)
}
