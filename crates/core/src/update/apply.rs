//! Applying a planned update (docs/updates.md), top to bottom: wait for the engine's turn, make sure
//! the container is still the one planned, pull, build the new container from `inspect`, journal,
//! swap with the health gate; or, for a compose service, edit its file and bring it up through the
//! compose CLI. Each path ends in an [`UpdateOutcome`] and a history row.

use std::collections::HashMap;
use std::time::Instant;

use super::blueprint::{attached_networks, blueprint, carried_endpoint, container_name, Source};
use super::compose::{self, ComposePlan, ComposeRecord, ComposeStep};
use super::health::{self, GateTick};
use super::journal::{Action, Journal, JournalRecord, SwapRecord, SwapStep};
use super::lock::EngineLock;
use super::outcome::{Interrupted, OutcomeStatus, RolledBack, UpdateOutcome};
use super::preflight::{Method, UpdatePlan};
use super::progress::Phase;
use super::pull::pull;
use super::swap::{Replacement, SwapFailure, Swapper};
use super::{Context, UpdateError};
use crate::engine::model::{ContainerInspectResponse, ImageConfig};
use crate::engine::Engine;
use crate::error::{Coded, ErrorInfo};

/// Applies `plan`; never fails as a whole: every ending is an outcome.
pub async fn apply(ctx: &Context<'_>, engine: &Engine, plan: &UpdatePlan) -> UpdateOutcome {
    if plan.method == Method::Swarm {
        return super::service::apply(ctx, engine, plan).await;
    }
    let started = Instant::now();
    let mut outcome = UpdateOutcome::new(
        engine.name(),
        &plan.container,
        Action::Update,
        &plan.image,
        &plan.target.reference,
    );
    outcome.image_id_before = Some(plan.image_id.clone());
    outcome.container_id_before = Some(plan.container_id.clone());
    outcome.dependents = plan.dependents.clone();
    if let Method::Compose(_) = plan.method {
        outcome.method = "compose";
    }
    let result = match &plan.method {
        Method::Recreate => recreate(ctx, engine, plan, &mut outcome).await.map(|()| None),
        Method::Compose(compose) => through_compose(ctx, engine, plan, compose, &mut outcome).await,
        // Swarm's own rollout, above.
        Method::Swarm => Ok(None),
    };
    let compose_record = result.unwrap_or_else(|error| {
        outcome.status = OutcomeStatus::Failed;
        outcome.error = Some(ErrorInfo::of(&error));
        None
    });
    let outcome = outcome.finished(started);
    ctx.record_history(&outcome, compose_record.as_ref()).await;
    outcome
}

/// The plain path: a container recreated from its `inspect`, with its dependents.
async fn recreate(
    ctx: &Context<'_>,
    engine: &Engine,
    plan: &UpdatePlan,
    outcome: &mut UpdateOutcome,
) -> Result<(), UpdateError> {
    // One update per engine at a time; the others wait their turn.
    let _turn = EngineLock::acquire(ctx.data_dir, engine.host(), || ctx.report(Phase::Queued)).await?;
    let old = still_as_planned(engine, plan).await?;

    // Pull first, touch nothing yet.
    let pulled = pull(engine, &plan.target.reference, plan.target.mirror.as_deref(), &|p| {
        ctx.report(p)
    })
    .await?;
    let new_id = pulled.id.clone().unwrap_or_default();
    outcome.image_id_after = Some(new_id.clone());
    if Some(&new_id) == old.image.as_ref() {
        outcome.status = OutcomeStatus::Unchanged;
        outcome.error = plan.target.mirror.as_ref().map(|mirror| {
            ErrorInfo::new(
                "update_mirror_behind",
                format!(
                    "the mirror {mirror} still serves the image {} already runs, so nothing was changed; it is behind \
                     its upstream, try again once it has refreshed",
                    plan.container
                ),
            )
        });
        return Ok(());
    }

    // Build the new containers from inspect: the container, then its dependents.
    let mut replacements = vec![replacement(engine, &old, &plan.target.reference, &HashMap::new()).await?];
    let names_by_id = HashMap::from([(plan.container_id.clone(), plan.container.clone())]);
    for dependent in &plan.dependents {
        replacements.push(dependent_replacement(engine, dependent, &names_by_id).await?);
    }

    // Journal, then swap.
    let record = JournalRecord {
        engine: engine.spec().clone(),
        action: Action::Update,
        container: plan.container.clone(),
        image_before: plan.image.clone(),
        image_after: plan.target.reference.clone(),
        image_id_before: plan.image_id.clone(),
        image_id_after: Some(new_id),
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
    finish_swap(
        ctx,
        journal,
        result,
        &format!("the update of {} to {}", plan.container, plan.target.version),
        outcome,
    )
    .await;
    Ok(())
}

/// Turns the swap's result into the outcome, and closes the journal unless something is left to
/// give back.
pub async fn finish_swap(
    ctx: &Context<'_>,
    journal: Journal,
    result: Result<(), SwapFailure>,
    what: &str,
    outcome: &mut UpdateOutcome,
) {
    outcome.container_id_after = journal.record.swaps.first().and_then(|s| s.new_id.clone());
    match result {
        Ok(()) => {
            outcome.status = OutcomeStatus::Updated;
            ctx.close(journal).await;
        }
        Err(failure) => {
            outcome.container_id_after = None;
            outcome.logs = failure.logs.clone();
            match &failure.restored {
                Ok(()) => {
                    let code = match &failure.cause {
                        super::swap::FailureCause::Gate(gate) => gate.code(),
                        super::swap::FailureCause::Engine(error) => error.code(),
                        super::swap::FailureCause::Update(error) => error.code(),
                    };
                    let rolled_back = RolledBack {
                        what: what.to_string(),
                        container: failure.container.clone(),
                        cause: failure.cause.to_string(),
                        code,
                    };
                    outcome.status = OutcomeStatus::RolledBack;
                    outcome.error = Some(ErrorInfo::of(&rolled_back));
                    ctx.close(journal).await;
                }
                Err(problems) => {
                    let swap = journal.record.swaps.iter().find(|s| s.name == failure.container);
                    let interrupted = Interrupted {
                        what: what.to_string(),
                        container: failure.container.clone(),
                        cause: failure.cause.to_string(),
                        problems: problems.clone(),
                        aside: swap
                            .filter(|s| s.step >= SwapStep::Renaming)
                            .map(|s| format!(" (possibly as {})", s.temp_name))
                            .unwrap_or_default(),
                    };
                    outcome.status = OutcomeStatus::Interrupted;
                    outcome.error = Some(ErrorInfo::of(&interrupted));
                }
            }
        }
    }
}

/// The container must still be the one planned: there, with the same name and image.
pub async fn still_as_planned(engine: &Engine, plan: &UpdatePlan) -> Result<ContainerInspectResponse, UpdateError> {
    let changed = |what: &str| UpdateError::ChangedSincePlan {
        container: plan.container.clone(),
        what: what.to_string(),
    };
    let old = engine
        .find_container(&plan.container_id)
        .await?
        .ok_or_else(|| changed("it was removed"))?;
    if container_name(&old) != plan.container {
        return Err(changed(&format!("it was renamed to {}", container_name(&old))));
    }
    if old.image.as_deref() != Some(plan.image_id.as_str()) {
        return Err(changed("it runs another image now"));
    }
    Ok(old)
}

/// The replacement for `old`, created from `image`. `names_by_id` names the containers being
/// replaced with it; any other `container:<id>` its modes name is looked up.
pub async fn replacement(
    engine: &Engine,
    old: &ContainerInspectResponse,
    image: &str,
    names_by_id: &HashMap<String, String>,
) -> Result<Replacement, UpdateError> {
    let old_image = image_config(engine, old).await?;
    let mut names = names_by_id.clone();
    let host = old.host_config.clone().unwrap_or_default();
    for mode in [host.network_mode, host.pid_mode, host.ipc_mode].into_iter().flatten() {
        if let Some(provider) = mode.strip_prefix("container:") {
            if !names.keys().any(|id| id.starts_with(provider)) {
                if let Some(found) = engine.find_container(provider).await? {
                    names.insert(found.id.clone().unwrap_or_default(), container_name(&found));
                }
            }
        }
    }
    let blueprint = blueprint(Source {
        old,
        old_image: &old_image,
        image,
        names_by_id: &names,
        create_on_all_networks: engine.api_at_least(1, 44),
    });
    Ok(Replacement {
        old: old.clone(),
        blueprint,
    })
}

/// The replacement of a dependent: the same image, recreated on the new container. Its reference
/// must still name the image it runs, or recreating it would quietly update it too.
pub async fn dependent_replacement(
    engine: &Engine,
    dependent: &str,
    names_by_id: &HashMap<String, String>,
) -> Result<Replacement, UpdateError> {
    let inspect = super::preflight::find(engine, dependent).await?;
    let image = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let named = engine.find_image(&image).await?.and_then(|i| i.id);
    if named.is_none() || named != inspect.image {
        return Err(UpdateError::ChangedSincePlan {
            container: container_name(&inspect),
            what: format!(
                "it shares the updated container's network and must be recreated with it, but {image} now names                  another image than the one it runs; update it first"
            ),
        });
    }
    replacement(engine, &inspect, &image, names_by_id).await
}

/// The configuration of the image a container runs (its defaults).
async fn image_config(engine: &Engine, container: &ContainerInspectResponse) -> Result<ImageConfig, UpdateError> {
    let image_id = container.image.clone().unwrap_or_default();
    let unreadable = |reason: String| UpdateError::ImageUnreadable {
        container: container_name(container),
        image: image_id.clone(),
        reason,
    };
    match engine.find_image(&image_id).await? {
        Some(image) => Ok(image.config.unwrap_or_default()),
        None => Err(unreadable("the engine no longer has it".into())),
    }
}

/// What the name of an old container kept aside during a swap carries: `<name>-tidewatch-old-<unix time>`.
const KEPT_ASIDE_MARK: &str = "-tidewatch-old-";

/// Whether `name` is an old container an update keeps aside until its new one passes the gate:
/// a check may see it meanwhile, but it is never updated itself.
pub fn is_kept_aside(name: &str) -> bool {
    name.rsplit_once(KEPT_ASIDE_MARK)
        .is_some_and(|(base, stamp)| !base.is_empty() && !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit()))
}

/// The journal's record of one replacement before it starts.
pub fn swap_record(replacement: &Replacement) -> SwapRecord {
    let old = &replacement.old;
    let id = old.id.clone().unwrap_or_default();
    let short_id: String = id.chars().take(12).collect();
    let name = container_name(old);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SwapRecord {
        temp_name: format!("{name}{KEPT_ASIDE_MARK}{stamp}"),
        name,
        old_id: id,
        was_running: old.state.as_ref().and_then(|s| s.running).unwrap_or(false),
        endpoints: attached_networks(old)
            .iter()
            .map(|(network, endpoint)| (network.clone(), carried_endpoint(endpoint, &short_id)))
            .collect(),
        freed: Vec::new(),
        new_image: replacement.blueprint.body.image.clone().unwrap_or_default(),
        new_id: None,
        step: SwapStep::Planned,
        undoing: false,
    }
}

/// The compose path: edit the file (tag updates), bring the service up, health-gate it. Returns
/// the compose record the history keeps (it says which file was edited, for a later rollback).
async fn through_compose(
    ctx: &Context<'_>,
    engine: &Engine,
    plan: &UpdatePlan,
    compose: &ComposePlan,
    outcome: &mut UpdateOutcome,
) -> Result<Option<ComposeRecord>, UpdateError> {
    let _turn = EngineLock::acquire(ctx.data_dir, engine.host(), || ctx.report(Phase::Queued)).await?;
    let old = still_as_planned(engine, plan).await?;
    let program = compose::program().await?;
    compose::check_variables(engine, &program, &compose.service).await?;

    let pulled = pull(engine, &plan.target.reference, plan.target.mirror.as_deref(), &|p| {
        ctx.report(p)
    })
    .await?;
    let new_id = pulled.id.clone().unwrap_or_default();
    outcome.image_id_after = Some(new_id.clone());
    if Some(&new_id) == old.image.as_ref() {
        outcome.status = OutcomeStatus::Unchanged;
        return Ok(None);
    }

    let record = JournalRecord {
        engine: engine.spec().clone(),
        action: Action::Update,
        container: plan.container.clone(),
        image_before: plan.image.clone(),
        image_after: plan.target.reference.clone(),
        image_id_before: plan.image_id.clone(),
        image_id_after: Some(new_id),
        swaps: Vec::new(),
        compose: Some(ComposeRecord {
            service: compose.service.clone(),
            container: plan.container.clone(),
            reference: plan.image.clone(),
            old_image_id: plan.image_id.clone(),
            edited: None,
            step: ComposeStep::Planned,
        }),
    };
    let mut journal = Journal::open(ctx.database, record).await?;
    let what = format!("the update of {} to {}", plan.container, plan.target.version);
    let result = compose_up(ctx, engine, &program, compose, &mut journal, &plan.container).await;
    let record = journal.record.compose.clone();
    finish_compose(ctx, engine, &program, journal, result, &what, outcome).await;
    Ok(record)
}

/// Why a compose update did not go through: the message, its code, the new container's logs.
pub type ComposeFailure = (String, &'static str, Vec<String>);

/// Edits the file when the tag changes, then `up -d --no-deps` and the health gate of the
/// service's container `container`; returns the new container's ID.
pub async fn compose_up(
    ctx: &Context<'_>,
    engine: &Engine,
    program: &[String],
    compose: &ComposePlan,
    journal: &mut Journal,
    container: &str,
) -> Result<String, ComposeFailure> {
    let service = &compose.service;
    let failed = |error: UpdateError| (error.to_string(), error.code(), Vec::new());
    if let Some(edit) = &compose.edit {
        let edited = compose::prepare_edit(edit);
        if let Some(record) = journal.record.compose.as_mut() {
            record.edited = Some(edited.clone());
        }
        set_step(journal, ComposeStep::Editing).await.map_err(failed)?;
        compose::edit_file(&edited, &service.service).map_err(failed)?;
    }
    set_step(journal, ComposeStep::Up).await.map_err(failed)?;
    let args = ["up", "-d", "--no-deps", service.service.as_str()];
    ctx.report(Phase::Compose {
        command: service.command_line(program, &args),
    });
    compose::run(engine, program, service, &args).await.map_err(failed)?;
    let new = super::preflight::find(engine, container).await.map_err(failed)?;
    let new_id = new.id.clone().unwrap_or_default();

    set_step(journal, ComposeStep::WaitingHealthy).await.map_err(failed)?;
    let tick = |t: GateTick| {
        ctx.report(Phase::WaitingHealthy {
            container: container.to_string(),
            elapsed_ms: u64::try_from(t.elapsed.as_millis()).unwrap_or(u64::MAX),
            timeout_ms: u64::try_from(t.limit.as_millis()).unwrap_or(u64::MAX),
            health: t.health,
        })
    };
    match health::wait_until_ready(engine, &new_id, ctx.gate, &tick).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => {
            let logs = engine.last_log_lines(&new_id, 20).await;
            return Err((failure.to_string(), failure.code(), logs));
        }
        Err(error) => return Err((error.to_string(), error.code(), Vec::new())),
    }
    set_step(journal, ComposeStep::Healthy).await.map_err(failed)?;
    Ok(new_id)
}

/// Turns a compose update's result into the outcome: on failure, the service gets back what it ran.
pub async fn finish_compose(
    ctx: &Context<'_>,
    engine: &Engine,
    program: &[String],
    mut journal: Journal,
    result: Result<String, ComposeFailure>,
    what: &str,
    outcome: &mut UpdateOutcome,
) {
    match result {
        Ok(new_id) => {
            outcome.status = OutcomeStatus::Updated;
            outcome.container_id_after = Some(new_id);
            ctx.close(journal).await;
        }
        Err((cause, code, logs)) => {
            outcome.logs = logs;
            ctx.report(Phase::RollingBack { reason: cause.clone() });
            let _ = set_step(&mut journal, ComposeStep::Restoring).await;
            let restored = match journal.record.compose.clone() {
                Some(record) => give_back_compose(engine, program, &record).await,
                None => Ok(()),
            };
            let container = outcome.container.clone();
            match restored {
                Ok(()) => {
                    outcome.status = OutcomeStatus::RolledBack;
                    outcome.error = Some(ErrorInfo::of(&RolledBack {
                        what: what.to_string(),
                        container,
                        cause,
                        code,
                    }));
                    ctx.close(journal).await;
                }
                Err(problem) => {
                    outcome.status = OutcomeStatus::Interrupted;
                    outcome.error = Some(ErrorInfo::of(&Interrupted {
                        what: what.to_string(),
                        container,
                        cause,
                        problems: problem.to_string(),
                        aside: String::new(),
                    }));
                }
            }
        }
    }
}

/// Gives a compose service back what it ran: the file as it was (or the tag on the old image, for
/// a digest update), then `up -d --no-deps` again.
pub async fn give_back_compose(engine: &Engine, program: &[String], record: &ComposeRecord) -> Result<(), UpdateError> {
    match &record.edited {
        Some(edited) => compose::restore_file(edited)?,
        None => compose::retag_old(engine, record).await?,
    }
    let args = ["up", "-d", "--no-deps", record.service.service.as_str()];
    compose::run(engine, program, &record.service, &args).await.map(|_| ())
}

async fn set_step(journal: &mut Journal, step: ComposeStep) -> Result<(), UpdateError> {
    let name = journal.record.container.clone();
    if let Some(record) = journal.record.compose.as_mut() {
        record.step = step;
    }
    journal.save(&format!("{name}: compose {step:?}")).await
}

#[cfg(test)]
mod tests {
    use super::is_kept_aside;

    #[test]
    fn only_a_name_an_update_gave_an_old_container_counts_as_kept_aside() {
        assert!(is_kept_aside("web-tidewatch-old-1796257273"));
        assert!(is_kept_aside("my-app-tidewatch-old-1"));
        assert!(!is_kept_aside("web"));
        assert!(!is_kept_aside("web-tidewatch-old-"));
        assert!(!is_kept_aside("-tidewatch-old-17"));
        assert!(!is_kept_aside("web-tidewatch-old-latest"));
    }
}
