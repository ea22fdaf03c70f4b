//! Swarm services through the updater (docs/swarm.md#updating-a-service): a service named where a
//! container is expected is planned, applied and rolled back by Swarm's own rollout
//! (`crate::rollout`), and its outcome reads like a container's and joins the same history.

use std::time::Instant;

use serde::Serialize;

use super::changes::{ChangeReason, FieldChange};
use super::journal::Action;
use super::lock::EngineLock;
use super::outcome::{OutcomeStatus, UpdateOutcome};
use super::preflight::{is_fresh, Downtime, Method, UpdatePlan};
use super::progress::Phase;
use super::target::{version_of, TargetImage};
use super::{Context, GateSettings, UpdateError};
use crate::checker::{short_digest, Checker, ContainerResult, Kind, Status};
use crate::engine::Engine;
use crate::error::ErrorInfo;
use crate::platform::Platform;
use crate::rollout::{self, Located, RolloutOptions, RolloutOutcome, RolloutPlan, RolloutReport};
use crate::source::{ImageChange, Replicas, RolloutState};
use crate::version::UpdateKind;

/// What a service's plan says beyond a container's: where it belongs and how Swarm rolls it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub stack: Option<String>,
    /// Tasks running, of those desired.
    pub replicas: Option<Replicas>,
    /// The platforms the new image serves (its index's); empty for a single-platform image.
    pub platforms: Vec<Platform>,
    /// How long each new task must keep running before Swarm counts it; a failure within it rolls
    /// the whole update back.
    pub monitor_s: u64,
}

/// How Swarm is asked: each new task must run as long as a container without a healthcheck must
/// (the gate's steady run), then Tidewatch follows the rollout for the default deadline.
fn options(gate: GateSettings) -> RolloutOptions {
    RolloutOptions {
        monitor: gate.stable_for.max(crate::engine::DEFAULT_MONITOR),
        ..RolloutOptions::default()
    }
}

/// The service `name` on `engine`, or the error a container lookup would give.
pub(super) async fn find(engine: &Engine, name: &str) -> Result<Option<Located>, UpdateError> {
    Ok(rollout::find(engine, name).await?)
}

/// Plans the update of a located service (its verdict checked again unless `known` is fresh).
pub(super) async fn plan(
    checker: &Checker,
    located: &Located,
    known: Option<&ContainerResult>,
    gate: GateSettings,
    report: &(dyn Fn(Phase) + Send + Sync),
) -> Result<UpdatePlan, UpdateError> {
    let known = known.filter(|k| k.kind == Kind::Service && is_fresh(k, &located.workload.id, &located.workload.image));
    let result = match known {
        Some(known) => known.clone(),
        None => {
            report(Phase::Checking);
            rollout::check(checker, located)
                .await
                .ok_or_else(|| UpdateError::NotWatched {
                    container: located.workload.name.clone(),
                })?
        }
    };
    refuse_without_update(located, &result)?;
    let planned = rollout::plan(checker, located, Some(&result)).await?;
    Ok(update_plan(&planned, options(gate)))
}

/// The refusals a verdict decides, with the codes a container's have (`update_up_to_date`, …).
fn refuse_without_update(located: &Located, result: &ContainerResult) -> Result<(), UpdateError> {
    let container = located.workload.name.clone();
    let image = located.workload.image.clone();
    match (result.status, &result.update) {
        (Status::UpdateAvailable, Some(_)) => Ok(()),
        (Status::Pinned, _) => Err(UpdateError::Pinned { container, image }),
        (Status::LocalOnly, _) => Err(UpdateError::LocalOnly { container, image }),
        (Status::Unknown, _) => Err(UpdateError::UnknownVerdict {
            container,
            reason: result
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| result.explanation.clone()),
        }),
        _ => Err(UpdateError::UpToDate { container, image }),
    }
}

/// A rollout plan in the updater's words, so the CLI's document and the app's confirmation show a
/// service like a container (`method` is `swarm`).
fn update_plan(planned: &RolloutPlan, options: RolloutOptions) -> UpdatePlan {
    let tag = version_of(&planned.to);
    let version = match planned.update.kind {
        UpdateKind::Digest => {
            let digest = planned.to.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            format!("{tag} ({})", short_digest(digest))
        }
        _ => tag,
    };
    UpdatePlan {
        engine: planned.engine.clone(),
        container: planned.name.clone(),
        container_id: planned.id.clone(),
        image: planned.from.clone(),
        image_id: String::new(),
        current_version: version_of(&planned.from),
        target: TargetImage {
            reference: planned.to.clone(),
            kind: planned.update.kind,
            version,
            mirror: None,
        },
        method: Method::Swarm,
        dependents: Vec::new(),
        // Swarm replaces the tasks as the service's update config says (one at a time, stop
        // first, by default); each new one is watched for the monitor period.
        downtime: Downtime {
            stop_timeout_s: 0,
            health_gate_s: options.monitor.as_secs(),
            healthcheck: false,
        },
        explanation: format!(
            "Swarm rolls the service out to {}, and back if a new task fails within {} s",
            planned.to,
            options.monitor.as_secs()
        ),
        service: Some(ServicePlan {
            stack: planned.stack.clone(),
            replicas: planned.replicas,
            platforms: planned.platforms.clone(),
            monitor_s: options.monitor.as_secs(),
        }),
    }
}

/// The rollout plan an update plan was made from.
fn rollout_plan(plan: &UpdatePlan) -> RolloutPlan {
    RolloutPlan {
        engine: plan.engine.clone(),
        kind: Kind::Service,
        id: plan.container_id.clone(),
        name: plan.container.clone(),
        stack: plan.service.as_ref().and_then(|s| s.stack.clone()),
        from: plan.image.clone(),
        to: plan.target.reference.clone(),
        update: crate::checker::Update {
            kind: plan.target.kind,
            tag: Some(version_of(&plan.target.reference)),
            digest: plan.target.reference.rsplit_once('@').map(|(_, d)| d.to_string()),
        },
        replicas: plan.service.as_ref().and_then(|s| s.replicas),
        platforms: plan.service.as_ref().map(|s| s.platforms.clone()).unwrap_or_default(),
    }
}

/// What the update would set in the service's spec (the dry run).
pub(super) async fn field_changes(
    engine: &Engine,
    plan: &UpdatePlan,
    gate: GateSettings,
) -> Result<Vec<FieldChange>, UpdateError> {
    let located = still_there(engine, plan).await?;
    let change = ImageChange {
        workload_id: plan.container_id.clone(),
        image: plan.target.reference.clone(),
        platforms: plan.service.as_ref().map(|s| s.platforms.clone()).unwrap_or_default(),
        credential: None,
        monitor: options(gate).monitor,
    };
    let changes = located.orchestrator().spec_changes(&change).await?;
    Ok(changes
        .into_iter()
        .map(|change| FieldChange {
            reason: if change.field.ends_with(".Image") {
                ChangeReason::Image
            } else {
                ChangeReason::Rollout
            },
            field: change.field,
            before: change.before,
            after: change.after,
        })
        .collect())
}

async fn still_there(engine: &Engine, plan: &UpdatePlan) -> Result<Located, UpdateError> {
    find(engine, &plan.container_id)
        .await?
        .ok_or_else(|| UpdateError::NoSuchContainer {
            engine: engine.name().to_string(),
            container: plan.container.clone(),
        })
}

/// Applies a service's plan through Swarm; every ending is an outcome, kept in the history.
pub(super) async fn apply(ctx: &Context<'_>, engine: &Engine, plan: &UpdatePlan) -> UpdateOutcome {
    let started = Instant::now();
    let mut outcome = UpdateOutcome::new(
        engine.name(),
        &plan.container,
        Action::Update,
        &plan.image,
        &plan.target.reference,
    );
    outcome.method = "swarm";
    outcome.container_id_before = Some(plan.container_id.clone());
    let progress = |state: &RolloutState| report(ctx, state);
    let result = async {
        // One update per engine at a time, services and containers alike.
        let _turn = EngineLock::acquire(ctx.data_dir, engine.host(), || ctx.report(Phase::Queued)).await?;
        let located = still_there(engine, plan).await?;
        Ok(rollout::apply(&located, &rollout_plan(plan), &options(ctx.gate), &progress).await?)
    }
    .await;
    finish(ctx, outcome, result, started).await
}

/// Rolls a service back through Swarm's own rollback; every ending is an outcome.
pub(super) async fn rollback(ctx: &Context<'_>, located: &Located) -> UpdateOutcome {
    let started = Instant::now();
    let mut outcome = UpdateOutcome::new(
        located.engine.name(),
        &located.workload.name,
        Action::Rollback,
        &located.workload.image,
        "",
    );
    outcome.method = "swarm";
    outcome.container_id_before = Some(located.workload.id.clone());
    let progress = |state: &RolloutState| report(ctx, state);
    let result = async {
        let _turn = EngineLock::acquire(ctx.data_dir, located.engine.host(), || ctx.report(Phase::Queued)).await?;
        Ok(rollout::roll_back(located, &options(ctx.gate), &progress).await?)
    }
    .await;
    finish(ctx, outcome, result, started).await
}

fn report(ctx: &Context<'_>, state: &RolloutState) {
    ctx.report(Phase::Swarm {
        state: state.phase.as_str().to_string(),
        message: state.message.clone(),
    });
}

/// How a rollout ended, as an outcome: what Swarm said, and the failed tasks' errors as the logs.
async fn finish(
    ctx: &Context<'_>,
    mut outcome: UpdateOutcome,
    result: Result<RolloutReport, UpdateError>,
    started: Instant,
) -> UpdateOutcome {
    match result {
        Ok(report) => {
            if !report.to.is_empty() {
                outcome.image_after = report.to.clone();
            }
            outcome.container_id_after = Some(report.id.clone());
            outcome.logs = report.failures.clone();
            outcome.status = match report.outcome {
                RolloutOutcome::Done => OutcomeStatus::Updated,
                RolloutOutcome::RolledBack => OutcomeStatus::RolledBack,
                RolloutOutcome::Paused | RolloutOutcome::StillRunning => OutcomeStatus::Failed,
            };
            if !report.succeeded() {
                outcome.error = Some(ErrorInfo::of(&RolloutEnded {
                    code: match report.outcome {
                        RolloutOutcome::RolledBack => "update_swarm_rolled_back",
                        RolloutOutcome::Paused => "update_swarm_paused",
                        _ => "update_swarm_still_running",
                    },
                    summary: report.summary(),
                }));
            }
        }
        Err(error) => {
            outcome.status = if error.is_refusal() {
                OutcomeStatus::Refused
            } else {
                OutcomeStatus::Failed
            };
            outcome.error = Some(ErrorInfo::of(&error));
        }
    }
    let outcome = outcome.finished(started);
    ctx.record_history(&outcome, None).await;
    outcome
}

/// A rollout Swarm did not complete as asked, in one sentence (`RolloutReport::summary`).
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
struct RolloutEnded {
    code: &'static str,
    summary: String,
}

impl crate::error::Coded for RolloutEnded {
    fn code(&self) -> &'static str {
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Update;

    const DIGEST: &str = "sha256:7a3274e6480155c3a9a4739e5295fce1817b1adf0fab6f3cb01a339e217db21c";

    fn planned(kind: UpdateKind, to: &str) -> RolloutPlan {
        RolloutPlan {
            engine: "swarm".into(),
            kind: Kind::Service,
            id: "k3h5ch0m2pxq".into(),
            name: "shop_web".into(),
            stack: Some("shop".into()),
            from: "nginx:1.27@sha256:0".into(),
            to: to.into(),
            update: Update {
                kind,
                tag: Some("1.27".into()),
                digest: Some(DIGEST.into()),
            },
            replicas: Some(Replicas { running: 2, desired: 3 }),
            platforms: vec!["linux/amd64".parse().unwrap(), "linux/arm64".parse().unwrap()],
        }
    }

    #[test]
    fn a_service_plan_applied_later_hands_swarm_what_was_planned() {
        let gate = GateSettings::default();
        let rollout = planned(UpdateKind::Minor, &format!("nginx:1.28@{DIGEST}"));
        let plan = update_plan(&rollout, options(gate));
        assert_eq!(plan.method, Method::Swarm);
        assert_eq!(
            (plan.container.as_str(), plan.container_id.as_str()),
            ("shop_web", "k3h5ch0m2pxq")
        );
        assert_eq!(plan.current_version, "1.27");
        assert_eq!(plan.target.version, "1.28");
        assert_eq!(plan.service.as_ref().unwrap().stack.as_deref(), Some("shop"));
        assert!(plan.service.as_ref().unwrap().monitor_s >= crate::engine::DEFAULT_MONITOR.as_secs());

        // Applying rebuilds the rollout plan from the update plan (the app keeps only that one).
        let again = rollout_plan(&plan);
        assert_eq!(
            (&again.id, &again.name, &again.from, &again.to, &again.stack),
            (&rollout.id, &rollout.name, &rollout.from, &rollout.to, &rollout.stack)
        );
        assert_eq!(
            again.platforms, rollout.platforms,
            "the placement follows the new image"
        );
        assert_eq!(again.replicas, rollout.replicas);
        assert_eq!(again.update.kind, UpdateKind::Minor);
    }

    #[test]
    fn a_digest_update_of_a_service_shows_its_tag_and_the_new_digest() {
        let plan = update_plan(
            &planned(UpdateKind::Digest, &format!("nginx:1.27@{DIGEST}")),
            options(GateSettings::default()),
        );
        assert_eq!(plan.target.version, format!("1.27 ({})", short_digest(DIGEST)));
    }
}
