//! What a check found for one container (or `--image` reference): the verdict, the newer version,
//! how it was reached, and what the window shows about it. The rules are in docs/check.md.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Coded, ErrorInfo, ErrorKind};
use crate::labels::LabelError;
use crate::mirror::Endpoint;
use crate::platform::Platform;
use crate::reference::{Reference, ReferenceError};
use crate::registry::RegistryError;
use crate::source::{Replicas, RolloutState, WorkloadKind};
use crate::version::UpdateKind;

/// What a result is about: a container, an orchestrated workload (a Swarm service), or an image
/// checked without any engine (`--image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Container,
    Service,
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Service => "service",
            Kind::Image => "image",
        }
    }

    /// Reads back what [`Kind::as_str`] wrote.
    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Container, Kind::Service, Kind::Image]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl From<WorkloadKind> for Kind {
    fn from(kind: WorkloadKind) -> Kind {
        match kind {
            WorkloadKind::Service => Kind::Service,
        }
    }
}

/// A container's verdict (docs/check.md#verdicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    UpToDate,
    UpdateAvailable,
    Pinned,
    LocalOnly,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::UpToDate,
        Status::UpdateAvailable,
        Status::Pinned,
        Status::LocalOnly,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::UpToDate => "up_to_date",
            Status::UpdateAvailable => "update_available",
            Status::Pinned => "pinned",
            Status::LocalOnly => "local_only",
            Status::Unknown => "unknown",
        }
    }
}

/// The newer version a result offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub kind: UpdateKind,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// The endpoint that answered: a registry and the repository there (a mirror's or the upstream's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub registry: String,
    pub repository: String,
}

impl From<&Endpoint> for Via {
    fn from(endpoint: &Endpoint) -> Via {
        Via {
            registry: endpoint.registry.clone(),
            repository: endpoint.repository.clone(),
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// One container's (or `--image` reference's) result. Typed from the engine to the window: the
/// JSON shapes are written in one place each (the CLI's document in `report`, the window's view
/// in `monitor::view`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerResult {
    pub kind: Kind,
    /// `None` for `--image` checks, as are `id` and `name`.
    pub engine: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// The Swarm stack a service was deployed in (`com.docker.stack.namespace`).
    pub stack: Option<String>,
    /// The reference exactly as the container (or service spec) names it, or as given to `--image`.
    pub image: String,
    /// The upstream after normalization and mirror resolution, always with a tag or a digest;
    /// `None` when `image` could not be read as a reference at all.
    pub upstream: Option<Reference>,
    /// The endpoint whose answer the verdict rests on.
    pub via: Option<Via>,
    /// The platform compared; for a service on nodes of several platforms, the first of `platforms`.
    pub platform: Option<Platform>,
    /// Every platform compared: a container's one, or those of the nodes a service runs on.
    pub platforms: Vec<Platform>,
    pub local_digest: Option<String>,
    pub status: Status,
    pub update: Option<Update>,
    /// One line saying how the verdict was reached.
    pub explanation: String,
    pub error: Option<ErrorInfo>,
    pub checked_at: SystemTime,
    /// What the container's labels say to call it (`wud.display.name`).
    pub display_name: Option<String>,
    /// Where to read about the version offered (or the current one), from the labels; https/http only.
    pub release_notes: Option<String>,
    /// A service's replicas, running of desired (the window shows them).
    pub replicas: Option<Replicas>,
    /// A service's latest rollout as its orchestrator reports it.
    pub rollout: Option<RolloutState>,
}

impl ContainerResult {
    /// `upstream` as the JSON document writes it: the reference, else the image as created.
    pub fn upstream_text(&self) -> String {
        match &self.upstream {
            Some(upstream) => upstream.to_string(),
            None => self.image.clone(),
        }
    }

    /// The version the container runs, as people read it: the tag, the short digest of a
    /// digest-only reference, `latest` when the name has neither.
    pub fn current_version(&self) -> Option<String> {
        let upstream = self.upstream.as_ref()?;
        Some(match (upstream.tag(), upstream.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(digest)) => short_digest(digest).to_string(),
            (None, None) => "latest".to_string(),
        })
    }

    /// The name to show: the label's display name, else the container's name, else the image.
    pub fn title(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.image)
    }

    /// The registry a login would be for: the endpoint that was asked, else the upstream's.
    pub fn registry(&self) -> Option<&str> {
        self.via
            .as_ref()
            .map(|via| via.registry.as_str())
            .or_else(|| self.upstream.as_ref().map(Reference::registry))
    }

    /// Whether the check failed because nothing answered (offline), not because of a refusal.
    pub fn failed_without_answer(&self) -> bool {
        self.status == Status::Unknown && self.error.as_ref().is_some_and(|e| e.kind == ErrorKind::NoAnswer)
    }
}

/// `sha256:0123456789ab` of a digest: the algorithm and 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    let hex_start = digest.find(':').map_or(0, |i| i + 1);
    &digest[..(hex_start + 12).min(digest.len())]
}

/// Why one container could not be given a real verdict; becomes the result's `error`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckFailure {
    /// The registry error, plus what to look at when nothing answered.
    #[error("{error}{}", if error.kind() == ErrorKind::NoAnswer {
        "; is the registry up and reachable from this machine? If it is only reachable through a mirror, \
         add a [[mirrors]] rule with query = \"mirror-only\""
    } else { "" })]
    Registry { error: RegistryError },
    #[error("{0}")]
    Label(#[from] LabelError),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error(
        "the container was created from the image ID {image} and its image has {tags} tag, so which image to \
         follow is unknown; recreate the container from a name such as nginx:1.25"
    )]
    CreatedFromImageId { image: String, tags: &'static str },
    #[error(
        "the image's RepoDigests ({}) name neither {created_as} nor its upstream {upstream}: it was tagged \
         locally from another image; pull it by the name the container uses to compare it",
        repo_digests.join(", ")
    )]
    NoMatchingRepoDigest {
        repo_digests: Vec<String>,
        created_as: String,
        upstream: String,
    },
    #[error(
        "the mirror {mirror} still serves {} for {tag} while {upstream} serves {}: the mirror is behind its \
         upstream, so pulling through it would not update; wait for the mirror to refresh",
        short_digest(local),
        short_digest(remote)
    )]
    MirrorBehind {
        mirror: String,
        tag: String,
        local: String,
        upstream: String,
        remote: String,
    },
    #[error(
        "the {kind} names {image} without a digest (it was deployed with --no-resolve-image), so what its \
         replicas run cannot be compared with the registry; deploy it again without --no-resolve-image so Docker \
         records the digest"
    )]
    NoDeployedDigest { kind: &'static str, image: String },
    #[error("no registry endpoint to ask")]
    NoEndpoint,
    #[error("{} did not finish within {} ({}); a registry is answering too slowly or has stalled, and the rest of the check went on without it", match scope {
        DeadlineScope::Image => "asking the registry about this image",
        DeadlineScope::Check => "the check",
    }, humantime::format_duration(*after), match scope {
        DeadlineScope::Image => "[deadlines] image",
        DeadlineScope::Check => "[deadlines] check",
    })]
    Deadline {
        scope: DeadlineScope,
        after: std::time::Duration,
    },
}

/// Which deadline ran out (docs/reliability.md#deadlines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineScope {
    Image,
    Check,
}

impl From<RegistryError> for CheckFailure {
    fn from(error: RegistryError) -> CheckFailure {
        CheckFailure::Registry { error }
    }
}

impl Coded for CheckFailure {
    fn code(&self) -> &'static str {
        match self {
            CheckFailure::Registry { error } => error.code(),
            CheckFailure::Label(_) => "invalid_label",
            CheckFailure::Reference(_) => "invalid_reference",
            CheckFailure::CreatedFromImageId { .. } => "created_from_image_id",
            CheckFailure::NoMatchingRepoDigest { .. } => "no_matching_repo_digest",
            CheckFailure::MirrorBehind { .. } => "mirror_behind",
            CheckFailure::NoDeployedDigest { .. } => "no_deployed_digest",
            CheckFailure::NoEndpoint => "no_endpoint",
            CheckFailure::Deadline { .. } => "deadline",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CheckFailure::Registry { error } => error.kind(),
            CheckFailure::Deadline { .. } => ErrorKind::NoAnswer,
            _ => ErrorKind::Answered,
        }
    }
}
