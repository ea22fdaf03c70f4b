//! The seam between Tidewatch and what it watches: a [`Source`] (a Docker engine today; a
//! Kubernetes context later, docs/kubernetes.md) lists its containers and orchestrated
//! [`Workload`]s, and its [`Orchestrator`] rolls a workload out to a new image through the
//! orchestrator's own rollout, never by recreating replicas behind its back.
//!
//! Nothing here knows Docker or Kubernetes: the checker reads [`Inventory`], the rollout code
//! (`crate::rollout`) drives an [`Orchestrator`]. A second kind of source implements both traits.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::checker::CheckError;
use crate::credentials::Credential;
use crate::engine::{ContainerImage, EngineError};
use crate::error::{Coded, ErrorKind};
use crate::platform::Platform;

/// What kind of orchestrated workload an entry is. Kubernetes would add its Deployments,
/// StatefulSets and DaemonSets here (docs/kubernetes.md#the-unit-workloads-not-pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// A Docker Swarm service.
    Service,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Service => "service",
        }
    }
}

/// How many replicas run of how many the orchestrator wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Replicas {
    pub running: u64,
    pub desired: u64,
}

/// Where an orchestrator's rollout of a workload stands (Swarm's `UpdateStatus.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutPhase {
    /// Replicas are being replaced.
    Updating,
    /// The rollout stopped on a failure and waits for the user (failure action `pause`).
    Paused,
    /// Every replica runs the new spec.
    Completed,
    /// The orchestrator is putting the previous spec back (after a failure, or when asked).
    RollingBack,
    /// A rollback stopped on a failure.
    RollbackPaused,
    /// The previous spec is back.
    RolledBack,
}

impl RolloutPhase {
    /// Whether the orchestrator stopped working on the rollout.
    pub fn is_final(self) -> bool {
        !matches!(self, RolloutPhase::Updating | RolloutPhase::RollingBack)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RolloutPhase::Updating => "updating",
            RolloutPhase::Paused => "paused",
            RolloutPhase::Completed => "completed",
            RolloutPhase::RollingBack => "rolling_back",
            RolloutPhase::RollbackPaused => "rollback_paused",
            RolloutPhase::RolledBack => "rolled_back",
        }
    }
}

/// A workload's latest rollout as the orchestrator reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutState {
    pub phase: RolloutPhase,
    /// The orchestrator's own words (`update rolled back due to failure …`); may be empty.
    pub message: String,
    /// Tells one rollout from the next (Swarm: when it started). Opaque; compared for equality.
    #[serde(skip)]
    pub marker: String,
}

/// Where a workload's rollout stands, and why its new replicas failed (newest first), so a
/// rollback can say what went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutStatus {
    /// `None` while the workload never had a rollout.
    pub state: Option<RolloutState>,
    pub failures: Vec<String>,
}

/// One orchestrated workload, as a check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub id: String,
    pub name: String,
    /// The group it was deployed in: a Swarm stack (`com.docker.stack.namespace`); a Kubernetes
    /// namespace later.
    pub stack: Option<String>,
    /// The image exactly as the workload's spec names it. For a Swarm service deployed by tag this
    /// is `name:tag@sha256:…`: the tag the user deployed and the digest Docker resolved then.
    pub image: String,
    /// The digest the orchestrator runs, when it knows one: the digest in the spec (Swarm), or
    /// the one its replicas report (Kubernetes' `imageID`). `None` when the spec has only a tag.
    pub running_digest: Option<String>,
    /// The platforms of the nodes its replicas run on (else the ones its placement allows); never
    /// empty: the host's platform when nothing says better.
    pub platforms: Vec<Platform>,
    /// The workload's own labels (not its replicas'): `tidewatch.*`, `wud.*`, `diun.*` apply.
    pub labels: BTreeMap<String, String>,
    pub replicas: Option<Replicas>,
    /// Its latest rollout, if it had one.
    pub rollout: Option<RolloutState>,
}

/// Everything one source holds that a check looks at.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Plain containers (the replicas of listed workloads are left out: they are the workload).
    pub containers: Vec<ContainerImage>,
    pub workloads: Vec<Workload>,
    /// The source's own registry mirrors (fallback endpoints for Docker Hub images).
    pub registry_mirrors: Vec<String>,
    /// Why the workloads could not be listed while the containers could; `None` when they were
    /// (or when the source runs no orchestrator).
    pub workloads_error: Option<EngineError>,
}

/// A place Tidewatch watches. [`crate::engine::Engine`] implements it for Docker engines.
pub trait Source: Send + Sync {
    /// The name the user gave it (`local` when discovered).
    fn name(&self) -> &str;
    /// Its address for people, passwords redacted.
    fn endpoint(&self) -> String;
    /// Lists its containers and workloads now. Fails only when nothing could be listed.
    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>>;
    /// The orchestrator that rolls out its workloads, when it runs one (a Docker engine that is a
    /// Swarm manager). `Ok(None)` for a plain engine.
    fn orchestrator(&self) -> BoxFuture<'_, Result<Option<Box<dyn Orchestrator>>, EngineError>>;
}

/// The new image for one workload, as a rollout asks the orchestrator to run it.
#[derive(Debug, Clone)]
pub struct ImageChange {
    pub workload_id: String,
    /// The image to run, `name:tag@sha256:…`: resolved before the rollout so that every node
    /// pulls the same bytes and the tag stays readable.
    pub image: String,
    /// The platforms the new image offers (its index's), for the placement; empty when unknown.
    pub platforms: Vec<Platform>,
    /// Forwarded so nodes can pull a private image (as `docker service update
    /// --with-registry-auth` does); never written anywhere by Tidewatch.
    pub credential: Option<Credential>,
    /// How long a new replica must keep running before the orchestrator counts it as a success;
    /// a failure within it rolls the whole change back.
    pub monitor: Duration,
}

/// One field of a workload's spec that a change would set, as the orchestrator names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecChange {
    /// `TaskTemplate.ContainerSpec.Image`, `UpdateConfig.FailureAction`, …
    pub field: String,
    /// `None`: not set.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The orchestrator accepted a change; what it said before, to tell its rollout from an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStarted {
    /// The rollout state before the change (`None` if the workload never had one).
    pub before: Option<RolloutState>,
    /// What the orchestrator warned about when it accepted the change.
    pub warnings: Vec<String>,
}

/// Why a rollout could not be started or followed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RolloutError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The configuration's mirror rules or tag filters are unusable.
    #[error("{0}")]
    Config(#[from] CheckError),
    #[error("the {kind} {name} has no previous spec to roll back to: it was never updated")]
    NothingToRollBack { kind: &'static str, name: String },
    #[error("the {kind} {name} changed while Tidewatch was updating it (version {version}); check again and retry")]
    Conflict {
        kind: &'static str,
        name: String,
        version: u64,
    },
    #[error("{0}")]
    Refused(String),
}

impl Coded for RolloutError {
    fn code(&self) -> &'static str {
        match self {
            RolloutError::Engine(error) => error.code(),
            RolloutError::Config(error) => error.code(),
            RolloutError::NothingToRollBack { .. } => "nothing_to_roll_back",
            RolloutError::Conflict { .. } => "workload_changed",
            RolloutError::Refused(_) => "rollout_refused",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            RolloutError::Engine(error) => error.kind(),
            _ => ErrorKind::Answered,
        }
    }
}

/// An orchestrator: rolls its workloads out to new images and back, and says where a rollout
/// stands. Swarm implements it over the engine API (`crate::engine::Swarm`); a Kubernetes
/// context would patch the workload's pod template and read its rollout status.
pub trait Orchestrator: Send + Sync {
    /// The workloads it runs.
    fn workloads(&self) -> BoxFuture<'_, Result<Vec<Workload>, EngineError>>;

    /// Asks the orchestrator to roll `change.workload_id` out to `change.image`, with its failure
    /// action set to roll back. Returns once the new spec is accepted, not when it is rolled out.
    fn roll_out<'a>(&'a self, change: &'a ImageChange) -> BoxFuture<'a, Result<RolloutStarted, RolloutError>>;

    /// The fields of the workload's spec that `change` would set (the dry run), changing nothing.
    fn spec_changes<'a>(&'a self, change: &'a ImageChange) -> BoxFuture<'a, Result<Vec<SpecChange>, RolloutError>>;

    /// Asks the orchestrator to put the workload's previous spec back, its own way.
    fn roll_back<'a>(&'a self, workload_id: &'a str) -> BoxFuture<'a, Result<RolloutStarted, RolloutError>>;

    /// The workload's latest rollout and its replicas' failures since it started.
    fn rollout_status<'a>(&'a self, workload_id: &'a str) -> BoxFuture<'a, Result<RolloutStatus, RolloutError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_updating_and_rolling_back_are_still_moving() {
        let moving: Vec<RolloutPhase> = [
            RolloutPhase::Updating,
            RolloutPhase::Paused,
            RolloutPhase::Completed,
            RolloutPhase::RollingBack,
            RolloutPhase::RollbackPaused,
            RolloutPhase::RolledBack,
        ]
        .into_iter()
        .filter(|phase| !phase.is_final())
        .collect();
        assert_eq!(moving, [RolloutPhase::Updating, RolloutPhase::RollingBack]);
    }
}
