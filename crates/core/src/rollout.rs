//! Updating an orchestrated workload (a Swarm service) through its orchestrator's own rollout:
//! find the workload, check it (again, when the verdict is not fresh), resolve the new tag to a
//! digest at the registry it pulls from, hand that image to the orchestrator with rollback on
//! failure, then follow the rollout to its end and say how it ended
//! (docs/swarm.md#updating-a-service). The front ends reach it through `update::Updater`, which
//! routes a service here and a container to its own recreate path.
//!
//! Tidewatch never recreates a workload's replicas itself: the orchestrator keeps the previous
//! spec and rolls back by itself, so there is nothing for Tidewatch to journal or undo.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checker::{CheckRequest, Checker, ContainerResult, EngineInventory, Kind, Status, Update};
use crate::credentials::{ChainProvider, CredentialProvider as _};
use crate::engine::{Engine, EngineError, DEFAULT_MONITOR};
use crate::error::ErrorInfo;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::manifest::served_platforms;
use crate::registry::ManifestContent;
use crate::source::{
    ImageChange, Orchestrator, Replicas, RolloutError, RolloutPhase, RolloutStarted, RolloutState, RolloutStatus,
    Source as _, Workload,
};
use crate::version::UpdateKind;

/// How often a rollout is asked where it stands.
const POLL: Duration = Duration::from_secs(1);

/// How a rollout is asked for and watched.
#[derive(Debug, Clone)]
pub struct RolloutOptions {
    /// How long each new replica must keep running before the orchestrator counts it as a
    /// success; a failure within it rolls the update back (Swarm's update monitor).
    pub monitor: Duration,
    /// How long to follow the rollout before reporting it as still under way (the orchestrator
    /// goes on by itself).
    pub deadline: Duration,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        RolloutOptions {
            monitor: DEFAULT_MONITOR,
            deadline: Duration::from_secs(600),
        }
    }
}

/// What an update will do, before anything is changed (the confirmation shows it). It holds no
/// secret: credentials are looked up again when it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutPlan {
    pub engine: String,
    pub kind: Kind,
    pub id: String,
    pub name: String,
    pub stack: Option<String>,
    /// The image its spec names now (`name:tag@sha256:…`).
    pub from: String,
    /// The image it will run: the new tag and the digest the registry it pulls from serves for it.
    pub to: String,
    pub update: Update,
    pub replicas: Option<Replicas>,
    /// The platforms the new image serves (its index's), for the placement; empty for a
    /// single-platform image.
    pub platforms: Vec<Platform>,
}

/// What was asked of the orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutAction {
    Update,
    Rollback,
}

/// How a rollout ended, from the CLI's or the app's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutOutcome {
    /// What was asked is done: the update completed, or the rollback did.
    Done,
    /// The update failed and the orchestrator rolled it back: the workload runs what it ran before.
    RolledBack,
    /// The orchestrator stopped on a failure and waits (a failure action of `pause`, or a rollback
    /// that failed too).
    Paused,
    /// Still under way when Tidewatch stopped watching; the orchestrator goes on by itself.
    StillRunning,
}

/// How an update or a rollback of a workload went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutReport {
    pub action: RolloutAction,
    pub engine: String,
    pub kind: Kind,
    pub id: String,
    pub name: String,
    /// The image before.
    pub from: String,
    /// The image asked for (for a rollback: the one it went back to, once known).
    pub to: String,
    pub outcome: RolloutOutcome,
    /// The orchestrator's last rollout phase seen.
    pub phase: Option<RolloutPhase>,
    /// What the orchestrator said, most telling first: why it rolled back, else its last message.
    pub message: String,
    /// Why new replicas failed (task errors), newest first.
    pub failures: Vec<String>,
    /// What the orchestrator warned about when it accepted the change.
    pub warnings: Vec<String>,
}

impl RolloutReport {
    /// Whether what was asked happened.
    pub fn succeeded(&self) -> bool {
        self.outcome == RolloutOutcome::Done
    }

    /// One sentence for people: what happened and what to do.
    pub fn summary(&self) -> String {
        let what = format!("{} {}", self.kind.as_str(), self.name);
        let why = match (self.failures.first(), self.message.is_empty()) {
            (Some(failure), _) => format!(": {failure}"),
            (None, false) => format!(": {}", self.message),
            (None, true) => String::new(),
        };
        match (self.action, self.outcome) {
            (RolloutAction::Update, RolloutOutcome::Done) => format!("updated the {what} to {}", self.to),
            (RolloutAction::Rollback, RolloutOutcome::Done) => format!("rolled the {what} back to {}", self.to),
            (_, RolloutOutcome::RolledBack) => format!(
                "the update of the {what} to {} failed and Swarm rolled it back to {}{why}",
                self.to, self.from
            ),
            (_, RolloutOutcome::Paused) => format!(
                "Swarm paused the {} of the {what}{why}; inspect it with `docker service ps {}`",
                match self.action {
                    RolloutAction::Update => "update",
                    RolloutAction::Rollback => "rollback",
                },
                self.name
            ),
            (_, RolloutOutcome::StillRunning) => format!(
                "the {what} is still {} after Tidewatch stopped watching; Swarm goes on by itself (`docker service ps {}`)",
                match self.action {
                    RolloutAction::Update => "updating",
                    RolloutAction::Rollback => "rolling back",
                },
                self.name
            ),
        }
    }
}

/// A workload found on an engine, with the orchestrator that runs it.
pub struct Located {
    pub engine: Engine,
    pub workload: Workload,
    orchestrator: Box<dyn Orchestrator>,
}

impl Located {
    /// The orchestrator that runs the workload.
    pub fn orchestrator(&self) -> &dyn Orchestrator {
        self.orchestrator.as_ref()
    }
}

impl std::fmt::Debug for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Located")
            .field("engine", &self.engine.name())
            .field("workload", &self.workload)
            .finish_non_exhaustive()
    }
}

/// The workload named `name` on `engine` (its name, its ID, or a unique prefix of its ID of 4
/// characters or more); `None` when the engine runs no orchestrator or no such workload.
pub async fn find(engine: &Engine, name: &str) -> Result<Option<Located>, EngineError> {
    let Some(orchestrator) = engine.orchestrator().await? else {
        return Ok(None);
    };
    let workloads = orchestrator.workloads().await?;
    let exact = workloads.iter().find(|w| w.name == name || w.id == name).cloned();
    let by_prefix: Vec<&Workload> = workloads
        .iter()
        .filter(|w| name.len() >= 4 && w.id.starts_with(name))
        .collect();
    let workload = match (exact, by_prefix.as_slice()) {
        (Some(workload), _) => workload,
        (None, [only]) => (*only).clone(),
        _ => return Ok(None),
    };
    Ok(Some(Located {
        engine: engine.clone(),
        workload,
        orchestrator,
    }))
}

/// Checks the located workload now; `None` when a label turns its check off.
pub async fn check(checker: &Checker, located: &Located) -> Option<ContainerResult> {
    let registry_mirrors = located.engine.registry_mirrors().await.unwrap_or_default();
    let request = CheckRequest {
        engines: vec![EngineInventory {
            name: located.engine.name().to_string(),
            endpoint: located.engine.spec().display_host(),
            containers: Ok(Vec::new()),
            workloads: vec![located.workload.clone()],
            workloads_error: None,
            registry_mirrors,
        }],
        images: Vec::new(),
        // The plan resolves the new tag's digest itself, where the spec pulls from.
        resolve_digests: false,
    };
    let mut report = checker.check(request, &|_| {}).await;
    report.containers.pop()
}

/// Plans the update of a located workload: its verdict (`known`, when the caller's is fresh, else
/// a check now), and the new tag resolved to a digest at the registry its spec pulls from.
/// Changes nothing.
pub async fn plan(
    checker: &Checker,
    located: &Located,
    known: Option<&ContainerResult>,
) -> Result<RolloutPlan, RolloutError> {
    let what = format!(
        "the {} {}",
        Kind::from(located.workload.kind).as_str(),
        located.workload.name
    );
    let result = match known {
        Some(known) => known.clone(),
        None => check(checker, located).await.ok_or_else(|| {
            RolloutError::Refused(format!(
                "{what} is not watched (a tidewatch.enable=false label or its equivalent), so it is not updated"
            ))
        })?,
    };
    let update = match (result.status, result.update.clone()) {
        (Status::UpdateAvailable, Some(update)) => update,
        (Status::UpToDate, _) => {
            return Err(RolloutError::Refused(format!(
                "{what} is up to date: {}",
                result.explanation
            )))
        }
        (Status::Pinned, _) => {
            return Err(RolloutError::Refused(format!(
                "{what} is pinned by digest ({}): what it runs is fixed; deploy it by tag to have it updated",
                located.workload.image
            )))
        }
        _ => {
            let reason = result
                .error
                .as_ref()
                .map_or(result.explanation.clone(), |e| e.message.clone());
            return Err(RolloutError::Refused(format!(
                "{what} cannot be updated: its check found no version to update to ({reason})"
            )));
        }
    };
    let deployed: Reference = located
        .workload
        .image
        .parse()
        .map_err(|e: crate::reference::ReferenceError| RolloutError::Refused(e.to_string()))?;
    let tag = match &update.tag {
        Some(tag) => tag.clone(),
        None => deployed.tag_or_latest().to_string(),
    };
    let target = deployed
        .with_tag(&tag)
        .map_err(|e| RolloutError::Refused(e.to_string()))?;
    // Ask the registry the nodes will pull from: a mirror stays a mirror.
    let client = checker
        .pool()
        .client(target.registry())
        .map_err(|e| RolloutError::Refused(format!("{what}: {e}")))?;
    let manifest = client.get_manifest(target.repository(), &tag).await.map_err(|error| {
        RolloutError::Refused(format!(
            "{what} pulls from {}, which cannot serve {tag} ({}); nothing was changed",
            target.name(),
            ErrorInfo::of(&error).message
        ))
    })?;
    if update.kind == UpdateKind::Digest && Some(&manifest.digest) == located.workload.running_digest.as_ref() {
        return Err(RolloutError::Refused(format!(
            "{} still serves the digest {what} runs for {tag}; {} serves a newer one: wait until it catches up",
            target.name(),
            result
                .via
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "the upstream".into())
        )));
    }
    let platforms = match &manifest.content {
        ManifestContent::Index(index) => served_platforms(index),
        ManifestContent::Single => Vec::new(),
    };
    let to = target
        .with_digest(&manifest.digest)
        .map_err(|e| RolloutError::Refused(e.to_string()))?;
    Ok(RolloutPlan {
        engine: located.engine.name().to_string(),
        kind: located.workload.kind.into(),
        id: located.workload.id.clone(),
        name: located.workload.name.clone(),
        stack: located.workload.stack.clone(),
        from: located.workload.image.clone(),
        to: familiar_as_written(&located.workload.image, &to),
        update,
        replicas: located.workload.replicas,
        platforms,
    })
}

/// `to` written the way the spec wrote its name (`nginx:1.25@…` stays short, a full name stays
/// full), so the spec does not change more than the version.
fn familiar_as_written(written: &str, to: &Reference) -> String {
    let full = to.to_string();
    let familiar = to.familiar();
    let name_as_written = written.split(['@']).next().unwrap_or(written);
    let name_as_written = match name_as_written.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => name_as_written,
    };
    if familiar.starts_with(&format!("{name_as_written}:")) || familiar.starts_with(&format!("{name_as_written}@")) {
        familiar
    } else {
        full
    }
}

/// Applies `plan` to the workload it was made for (found again as `located`): the orchestrator
/// rolls it out to `plan.to`, rolling back by itself if a new replica fails within the monitor
/// period; the rollout is followed to its end. Refused when the workload changed since the plan.
pub async fn apply(
    located: &Located,
    plan: &RolloutPlan,
    options: &RolloutOptions,
    progress: &(dyn Fn(&RolloutState) + Sync),
) -> Result<RolloutReport, RolloutError> {
    if located.workload.image != plan.from {
        return Err(RolloutError::Refused(format!(
            "the {} {} now runs {} (the plan was made for {}); check again",
            plan.kind.as_str(),
            plan.name,
            located.workload.image,
            plan.from
        )));
    }
    let registry = plan
        .to
        .parse::<Reference>()
        .map(|r| r.registry().to_string())
        .unwrap_or_default();
    // Forwarded as `docker service update --with-registry-auth` does, so nodes can pull a private
    // image; without one, Swarm keeps the credentials the service was deployed with.
    let credential = ChainProvider::standard()
        .credential_for(&registry)
        .unwrap_or_else(|error| {
            tracing::warn!(registry, %error, "no credential to forward to Swarm");
            None
        });
    let change = ImageChange {
        workload_id: plan.id.clone(),
        image: plan.to.clone(),
        platforms: plan.platforms.clone(),
        credential,
        monitor: options.monitor,
    };
    let started = located.orchestrator.roll_out(&change).await?;
    let mut report = RolloutReport {
        action: RolloutAction::Update,
        engine: plan.engine.clone(),
        kind: plan.kind,
        id: plan.id.clone(),
        name: plan.name.clone(),
        from: plan.from.clone(),
        to: plan.to.clone(),
        outcome: RolloutOutcome::StillRunning,
        phase: None,
        message: String::new(),
        failures: Vec::new(),
        warnings: started.warnings.clone(),
    };
    follow(
        located.orchestrator.as_ref(),
        &plan.id,
        &started,
        options.deadline,
        progress,
        &mut report,
    )
    .await?;
    Ok(report)
}

/// Rolls a located workload back to its previous spec, the orchestrator's own way, and follows
/// the rollback to its end.
pub async fn roll_back(
    located: &Located,
    options: &RolloutOptions,
    progress: &(dyn Fn(&RolloutState) + Sync),
) -> Result<RolloutReport, RolloutError> {
    let started = located.orchestrator.roll_back(&located.workload.id).await?;
    let mut report = RolloutReport {
        action: RolloutAction::Rollback,
        engine: located.engine.name().to_string(),
        kind: located.workload.kind.into(),
        id: located.workload.id.clone(),
        name: located.workload.name.clone(),
        from: located.workload.image.clone(),
        to: String::new(),
        outcome: RolloutOutcome::StillRunning,
        phase: None,
        message: String::new(),
        failures: Vec::new(),
        warnings: started.warnings.clone(),
    };
    follow(
        located.orchestrator.as_ref(),
        &located.workload.id,
        &started,
        options.deadline,
        progress,
        &mut report,
    )
    .await?;
    // What it runs now, as the orchestrator says.
    if let Ok(workloads) = located.orchestrator.workloads().await {
        if let Some(now) = workloads.into_iter().find(|w| w.id == located.workload.id) {
            report.to = now.image;
        }
    }
    Ok(report)
}

/// Follows a rollout until the orchestrator stops working on it (or `deadline` passes), telling
/// `progress` each state it moves to, and fills in how it ended.
async fn follow(
    orchestrator: &dyn Orchestrator,
    workload_id: &str,
    started: &RolloutStarted,
    deadline: Duration,
    progress: &(dyn Fn(&RolloutState) + Sync),
    report: &mut RolloutReport,
) -> Result<(), RolloutError> {
    let began = Instant::now();
    let mut last: Option<RolloutState> = None;
    loop {
        let RolloutStatus { state, failures } = orchestrator.rollout_status(workload_id).await?;
        // Until the orchestrator starts on this change, it still shows the previous rollout.
        let ours = state.filter(|state| Some(state) != started.before.as_ref());
        if let Some(state) = ours {
            if last.as_ref() != Some(&state) {
                progress(&state);
                // "update rolled back due to failure …" says why; the "rollback completed" that
                // follows does not, so it does not replace it. A poll can miss the rolling back
                // state altogether; the tasks' failures still say why.
                let keeps_reason = report.phase == Some(RolloutPhase::RollingBack) && state.phase.is_final();
                if !keeps_reason {
                    report.message = state.message.clone();
                }
                last = Some(state.clone());
            }
            report.phase = Some(state.phase);
            report.failures = failures;
            if state.phase.is_final() {
                report.outcome = outcome(report.action, state.phase);
                if report.outcome == RolloutOutcome::Done {
                    // Replicas that failed on the way and were replaced are not why anything failed.
                    report.failures.clear();
                }
                return Ok(());
            }
        }
        if began.elapsed() >= deadline {
            report.outcome = RolloutOutcome::StillRunning;
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How a final phase reads for the action asked.
fn outcome(action: RolloutAction, phase: RolloutPhase) -> RolloutOutcome {
    match (action, phase) {
        (RolloutAction::Update, RolloutPhase::Completed) => RolloutOutcome::Done,
        (RolloutAction::Update, RolloutPhase::RolledBack) => RolloutOutcome::RolledBack,
        (RolloutAction::Rollback, RolloutPhase::RolledBack) => RolloutOutcome::Done,
        (_, RolloutPhase::Paused | RolloutPhase::RollbackPaused) => RolloutOutcome::Paused,
        // A rollback that ends "completed" was overtaken by an update; an unfinished phase is not final.
        _ => RolloutOutcome::StillRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_image_keeps_the_name_as_the_spec_wrote_it() {
        let digest = "sha256:95a42a3b6a91e06e80d934782a8b9bf57e74800752fcb070fdfc77bba57a04f1";
        let cases = [
            (
                "nginx:1.25@sha256:0",
                "docker.io/library/nginx:1.26",
                format!("nginx:1.26@{digest}"),
            ),
            (
                "docker.io/library/nginx:1.25@sha256:0",
                "docker.io/library/nginx:1.26",
                format!("docker.io/library/nginx:1.26@{digest}"),
            ),
            (
                "127.0.0.1:5000/fixtures/app:1.25.3@sha256:0",
                "127.0.0.1:5000/fixtures/app:1.25.4",
                format!("127.0.0.1:5000/fixtures/app:1.25.4@{digest}"),
            ),
        ];
        for (written, target, expected) in cases {
            let to = target.parse::<Reference>().unwrap().with_digest(digest).unwrap();
            assert_eq!(familiar_as_written(written, &to), expected, "{written}");
        }
    }

    #[test]
    fn final_phases_read_as_outcomes_of_what_was_asked() {
        use RolloutAction::*;
        use RolloutPhase::*;
        let cases = [
            (Update, Completed, RolloutOutcome::Done),
            (Update, RolledBack, RolloutOutcome::RolledBack),
            (Update, Paused, RolloutOutcome::Paused),
            (Rollback, RolledBack, RolloutOutcome::Done),
            (Rollback, RollbackPaused, RolloutOutcome::Paused),
            (Rollback, Completed, RolloutOutcome::StillRunning),
        ];
        for (action, phase, expected) in cases {
            assert_eq!(outcome(action, phase), expected, "{action:?} {phase:?}");
        }
    }
}
