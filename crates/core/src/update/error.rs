//! Why an update was refused or did not happen, each with a stable code (docs/cli.md#error-codes)
//! and a message that says what to do.

use crate::engine::EngineError;
use crate::error::{self, Coded};
use crate::source::RolloutError;
use crate::store::StoreError;

/// An update (or rollback) that was refused, failed, or could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "engine {engine} has no container named or with the ID {container:?} (nor, if it is a Swarm manager, a \
         service); `tidewatch check` lists them"
    )]
    NoSuchContainer { engine: String, container: String },
    #[error(
        "{container:?} matches several containers on engine {engine} ({matches}); give more of the ID or the name"
    )]
    AmbiguousContainer {
        engine: String,
        container: String,
        matches: String,
    },
    #[error(
        "{container} is pinned by digest ({image}): what runs cannot change; recreate (or redeploy) it from a tag to \
         follow updates"
    )]
    Pinned { container: String, image: String },
    #[error(
        "{container} runs a locally built or loaded image ({image}) that no registry has, so there is nothing to \
         pull; rebuild it instead"
    )]
    LocalOnly { container: String, image: String },
    #[error("{container} has no known update: its check says \"{reason}\"; fix that first (`tidewatch check`)")]
    UnknownVerdict { container: String, reason: String },
    #[error("{container} is up to date ({image})")]
    UpToDate { container: String, image: String },
    #[error("{container} is not watched (a tidewatch.enable=false label or its equivalent), so it is not updated")]
    NotWatched { container: String },
    #[error(
        "{container} is a task of the Swarm service {service}: update the service instead, on a Swarm manager \
         (`tidewatch update {service} --engine MANAGER`)"
    )]
    Swarm { container: String, service: String },
    #[error("{container} is managed by Kubernetes: update its workload's image there, not the container")]
    Kubernetes { container: String },
    #[error(
        "{container} was created with --rm (AutoRemove): stopping it would delete it, so it could not be kept for a \
         rollback; recreate it without --rm to update it here"
    )]
    AutoRemove { container: String },
    #[error(
        "{container} has the MAC address {mac} set by hand, which engine {engine} (API {api}) cannot be asked to keep \
         on a new container; recreate it by hand with --mac-address {mac}"
    )]
    UserMacAddress {
        container: String,
        mac: String,
        engine: String,
        api: String,
    },
    #[error(
        "{container} was created by docker compose (project {project}, service {service}) and {reason}; run it where \
         the compose files are: {command}"
    )]
    ComposeUnreachable {
        container: String,
        project: String,
        service: String,
        reason: String,
        command: String,
    },
    #[error("the compose file {file} cannot be updated in place: {reason}")]
    ComposeFile { file: String, reason: String },
    #[error("the compose command `{command}` failed: {reason}")]
    ComposeCommand { command: String, reason: String },
    #[error("cannot pull {reference}: {reason}{}", mirror.as_ref().map(|m| format!(
        "; {reference} is pulled through the mirror {m}, which may not have this version yet: wait for it to \
         refresh, or recreate the container from the upstream's name"
    )).unwrap_or_default())]
    Pull {
        reference: String,
        reason: String,
        mirror: Option<String>,
    },
    #[error("{container} changed after the update was planned ({what}); nothing was changed, plan it again")]
    ChangedSincePlan { container: String, what: String },
    #[error("cannot read the image {image} of {container} from the engine: {reason}")]
    ImageUnreadable {
        container: String,
        image: String,
        reason: String,
    },
    #[error("{container} has no update to roll back (Tidewatch has recorded none on engine {engine})")]
    NoRollback { container: String, engine: String },
    #[error(
        "{container} was recreated after its last update ({expected} became {found}), so rolling that update back \
         would undo someone else's change; nothing was done"
    )]
    RollbackStale {
        container: String,
        expected: String,
        found: String,
    },
    #[error(
        "the image {image_id} that {container} ran before its update is no longer on the engine (pruned?); pull \
         {reference} again and recreate the container by hand"
    )]
    RollbackImageGone {
        container: String,
        image_id: String,
        reference: String,
    },
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A Swarm service's update or rollback, refused or failed on Swarm's side (docs/swarm.md).
    #[error("{0}")]
    Rollout(#[from] RolloutError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot take the update lock {path}: {reason}")]
    Lock { path: String, reason: String },
    #[error("the update journal cannot be written: {reason}; nothing more is changed")]
    Journal { reason: String },
}

impl Coded for UpdateError {
    fn code(&self) -> &'static str {
        match self {
            UpdateError::NoSuchContainer { .. } => "update_no_such_container",
            UpdateError::AmbiguousContainer { .. } => "update_ambiguous_container",
            UpdateError::Pinned { .. } => "update_pinned",
            UpdateError::LocalOnly { .. } => "update_local_only",
            UpdateError::UnknownVerdict { .. } => "update_unknown_verdict",
            UpdateError::UpToDate { .. } => "update_up_to_date",
            UpdateError::NotWatched { .. } => "update_not_watched",
            UpdateError::Swarm { .. } => "update_swarm",
            UpdateError::Kubernetes { .. } => "update_kubernetes",
            UpdateError::AutoRemove { .. } => "update_auto_remove",
            UpdateError::UserMacAddress { .. } => "update_mac_address",
            UpdateError::ComposeUnreachable { .. } => "update_compose_unreachable",
            UpdateError::ComposeFile { .. } => "update_compose_file",
            UpdateError::ComposeCommand { .. } => "update_compose_command",
            UpdateError::Pull { .. } => "update_pull_failed",
            UpdateError::ChangedSincePlan { .. } => "update_changed_since_plan",
            UpdateError::ImageUnreadable { .. } => "update_image_unreadable",
            UpdateError::NoRollback { .. } => "update_no_rollback",
            UpdateError::RollbackStale { .. } => "update_rollback_stale",
            UpdateError::RollbackImageGone { .. } => "update_rollback_image_gone",
            UpdateError::Engine(error) => error.code(),
            UpdateError::Rollout(error) => error.code(),
            UpdateError::Store(error) => error.code(),
            UpdateError::Lock { .. } => "update_lock",
            UpdateError::Journal { .. } => "update_journal",
        }
    }

    fn kind(&self) -> error::ErrorKind {
        match self {
            UpdateError::Engine(error) => error.kind(),
            UpdateError::Rollout(error) => error.kind(),
            _ => error::ErrorKind::Answered,
        }
    }
}

impl UpdateError {
    /// Whether this is preflight saying no (nothing was touched, nothing is wrong), rather than a
    /// failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            UpdateError::Pinned { .. }
                | UpdateError::LocalOnly { .. }
                | UpdateError::UnknownVerdict { .. }
                | UpdateError::UpToDate { .. }
                | UpdateError::NotWatched { .. }
                | UpdateError::Swarm { .. }
                | UpdateError::Kubernetes { .. }
                | UpdateError::AutoRemove { .. }
                | UpdateError::UserMacAddress { .. }
                | UpdateError::ComposeUnreachable { .. }
                | UpdateError::ComposeFile { .. }
                | UpdateError::NoRollback { .. }
                | UpdateError::RollbackStale { .. }
                | UpdateError::Rollout(RolloutError::Refused(_) | RolloutError::NothingToRollBack { .. })
        )
    }
}
