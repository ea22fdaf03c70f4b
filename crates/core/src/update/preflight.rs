//! Preflight (docs/updates.md#preflight): what an update would do, or why it must not happen,
//! decided before anything is touched. A verdict older than a few minutes is checked again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::blueprint::{container_name, user_mac_address};
use super::compose::{self, ComposePlan, ComposeService};
use super::progress::Phase;
use super::target::{version_of, TargetImage};
use super::UpdateError;
use crate::checker::{CheckRequest, Checker, ContainerResult, EngineInventory, Status};
use crate::engine::model::ContainerInspectResponse;
use crate::engine::Engine;

/// A verdict older than this is checked again before an update acts on it.
pub const RECHECK_AFTER: Duration = Duration::from_secs(10 * 60);

/// Labels that mark a container as a Swarm task or a Kubernetes pod's: their orchestrator owns it.
const SWARM_PREFIX: &str = "com.docker.swarm.";
const KUBERNETES_PREFIX: &str = "io.kubernetes.";

/// What an update will do, decided before anything is touched; what the app's confirmation shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdatePlan {
    pub engine: String,
    pub container: String,
    pub container_id: String,
    /// The reference as the container was created with it, and the image it runs.
    pub image: String,
    pub image_id: String,
    /// The version it runs now, as people read it (its tag).
    pub current_version: String,
    pub target: TargetImage,
    #[serde(flatten)]
    pub method: Method,
    /// Containers that share its network namespace (`network_mode: container:<it>`): they are
    /// stopped with it and recreated on the new container.
    pub dependents: Vec<String>,
    pub downtime: Downtime,
    /// How the check reached its verdict.
    pub explanation: String,
    /// For a Swarm service (`method` is `swarm`): its stack, tasks and how Swarm rolls it out;
    /// `None` for a container.
    pub service: Option<super::service::ServicePlan>,
}

/// How the container is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "method", content = "compose", rename_all = "snake_case")]
pub enum Method {
    /// Stop, rename aside, create anew from `inspect`, health-gate.
    Recreate,
    /// Through the compose CLI, for a compose service whose files are here.
    Compose(ComposePlan),
    /// A Swarm service: Swarm's own rolling update of the service's spec (docs/swarm.md).
    Swarm,
}

/// What the user should expect: the container is down from its stop until the new one starts;
/// the health gate then waits while the new one runs (the old one is kept until it passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Downtime {
    /// How long stopping may take: the container's stop timeout (the engine's default is 10 s).
    pub stop_timeout_s: u64,
    /// The longest the health gate waits after the start.
    pub health_gate_s: u64,
    /// Whether the container has a healthcheck (else the gate is a steady run of `health_gate_s`).
    pub healthcheck: bool,
}

/// Plans the update of `container` (a name, or an ID or its prefix) on `engine`. `known` is the
/// verdict the caller has; it is used when it is recent and about this very container.
pub async fn plan(
    engine: &Engine,
    checker: &Checker,
    container: &str,
    known: Option<&ContainerResult>,
    gate: super::health::GateSettings,
    report: &(dyn Fn(Phase) + Send + Sync),
) -> Result<UpdatePlan, UpdateError> {
    engine.ping().await?;
    let inspect = find(engine, container).await?;
    let name = container_name(&inspect);
    let id = inspect.id.clone().unwrap_or_default();
    let config = inspect.config.clone().unwrap_or_default();
    let image = config.image.clone().unwrap_or_default();
    let labels: BTreeMap<String, String> = config.labels.clone().unwrap_or_default().into_iter().collect();

    if labels.keys().any(|k| k.starts_with(SWARM_PREFIX)) {
        let service = labels
            .get("com.docker.swarm.service.name")
            .cloned()
            .unwrap_or_else(|| "SERVICE".into());
        return Err(UpdateError::Swarm {
            container: name,
            service,
        });
    }
    if labels.keys().any(|k| k.starts_with(KUBERNETES_PREFIX)) {
        return Err(UpdateError::Kubernetes { container: name });
    }
    if inspect.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true) {
        return Err(UpdateError::AutoRemove { container: name });
    }
    if !engine.api_at_least(1, 44) {
        if let Some(mac) = user_mac_address(&inspect) {
            return Err(UpdateError::UserMacAddress {
                container: name,
                mac,
                engine: engine.name().to_string(),
                api: engine.api_version(),
            });
        }
    }

    let result = match known.filter(|k| is_fresh(k, &id, &image)) {
        Some(known) => known.clone(),
        None => {
            report(Phase::Checking);
            check_one(engine, checker, &id)
                .await?
                .ok_or_else(|| UpdateError::NotWatched {
                    container: name.clone(),
                })?
        }
    };
    let update = match (result.status, &result.update) {
        (Status::UpdateAvailable, Some(update)) => update.clone(),
        (Status::Pinned, _) => return Err(UpdateError::Pinned { container: name, image }),
        (Status::LocalOnly, _) => return Err(UpdateError::LocalOnly { container: name, image }),
        (Status::Unknown, _) => {
            return Err(UpdateError::UnknownVerdict {
                container: name,
                reason: result
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_else(|| result.explanation.clone()),
            })
        }
        _ => return Err(UpdateError::UpToDate { container: name, image }),
    };
    // A container created from an image ID is updated by the name the check followed.
    let named = if result.image == image && !image.starts_with("sha256:") {
        image.clone()
    } else {
        result.upstream_text()
    };
    let target = TargetImage::new(&named, &update, &result);

    let method = match ComposeService::from_labels(&labels) {
        Some(service) => Method::Compose(compose::prepare(&name, service, engine, &image, &target)?),
        None => Method::Recreate,
    };
    let dependents = dependents_of(engine, &id, &name).await?;
    let healthcheck = inspect.state.as_ref().and_then(|s| s.health.as_ref()).is_some();
    let downtime = Downtime {
        stop_timeout_s: config.stop_timeout.and_then(|t| u64::try_from(t).ok()).unwrap_or(10),
        health_gate_s: if healthcheck {
            gate.health_timeout.as_secs()
        } else {
            gate.stable_for.as_secs()
        },
        healthcheck,
    };
    Ok(UpdatePlan {
        engine: engine.name().to_string(),
        container: name,
        container_id: id,
        current_version: version_of(&image),
        image,
        image_id: inspect.image.clone().unwrap_or_default(),
        target,
        method,
        dependents,
        downtime,
        explanation: result.explanation,
        service: None,
    })
}

/// The container named `container` (or with that ID or ID prefix).
pub async fn find(engine: &Engine, container: &str) -> Result<ContainerInspectResponse, UpdateError> {
    let wanted = container.trim().trim_start_matches('/');
    if wanted.is_empty() {
        return Err(UpdateError::NoSuchContainer {
            engine: engine.name().to_string(),
            container: container.to_string(),
        });
    }
    match engine.find_container(wanted).await {
        Ok(Some(inspect)) => Ok(inspect),
        Ok(None) => Err(UpdateError::NoSuchContainer {
            engine: engine.name().to_string(),
            container: container.to_string(),
        }),
        // The engine refuses an ID prefix that fits several containers.
        Err(crate::engine::EngineError::Request { reason, .. }) if reason.contains("multiple") => {
            Err(UpdateError::AmbiguousContainer {
                engine: engine.name().to_string(),
                container: container.to_string(),
                matches: reason,
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Whether a verdict can be acted on without checking again.
pub(super) fn is_fresh(known: &ContainerResult, id: &str, image: &str) -> bool {
    let recent = known
        .checked_at
        .elapsed()
        .map(|age| age < RECHECK_AFTER)
        // A clock that went backwards: do not trust the age.
        .unwrap_or(false);
    recent && known.id.as_deref() == Some(id) && known.image == image
}

/// Checks one container now; `None` when its labels turn checks off.
async fn check_one(engine: &Engine, checker: &Checker, id: &str) -> Result<Option<ContainerResult>, UpdateError> {
    let containers: Vec<_> = engine.containers().await?.into_iter().filter(|c| c.id == id).collect();
    let registry_mirrors = engine.registry_mirrors().await.unwrap_or_default();
    let request = CheckRequest {
        engines: vec![EngineInventory {
            name: engine.name().to_string(),
            endpoint: engine.spec().display_host(),
            containers: Ok(containers),
            workloads: Vec::new(),
            workloads_error: None,
            registry_mirrors,
        }],
        images: Vec::new(),
        // The update pulls the new tag by name; its digest is not needed to decide.
        resolve_digests: false,
    };
    let report = checker.check(request, &|_| {}).await;
    Ok(report.containers.into_iter().next())
}

/// The containers whose network mode is `container:<this one>`.
pub async fn dependents_of(engine: &Engine, id: &str, name: &str) -> Result<Vec<String>, UpdateError> {
    let mut names = Vec::new();
    for summary in engine.container_summaries().await? {
        let mode = summary
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone())
            .unwrap_or_default();
        let Some(provider) = mode.strip_prefix("container:") else {
            continue;
        };
        let ours = provider == name || (provider.len() >= 12 && id.starts_with(provider));
        if ours {
            if let Some(dependent) = summary.names.unwrap_or_default().first() {
                names.push(dependent.trim_start_matches('/').to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Which of `engines` has the container (or, on a Swarm manager, the service) `wanted`: a name or
/// ID on any of them, or `ENGINE/NAME` for one engine (container names never hold a `/`). Returns the engine's index and the
/// container's name. Several engines with a match is an error that lists the `ENGINE/NAME` forms.
pub async fn locate(engines: &[Engine], wanted: &str) -> Result<(usize, String), UpdateError> {
    let all_names = || engines.iter().map(Engine::name).collect::<Vec<_>>().join(", ");
    let (only, wanted_name) = match wanted.split_once('/') {
        Some((engine, name)) if engines.iter().any(|e| e.name() == engine) => (Some(engine), name),
        _ => (None, wanted),
    };
    let mut found = Vec::new();
    for (index, engine) in engines.iter().enumerate() {
        if only.is_some_and(|o| o != engine.name()) {
            continue;
        }
        match find(engine, wanted_name).await {
            Ok(inspect) => found.push((index, container_name(&inspect))),
            // Not a container: perhaps a service, on a Swarm manager.
            Err(UpdateError::NoSuchContainer { .. }) => {
                if let Some(located) = crate::rollout::find(engine, wanted_name).await? {
                    found.push((index, located.workload.name));
                }
            }
            Err(error) => return Err(error),
        }
    }
    match found.len() {
        0 => Err(UpdateError::NoSuchContainer {
            engine: only.map_or_else(all_names, str::to_string),
            container: wanted.to_string(),
        }),
        1 => Ok(found.remove(0)),
        _ => Err(UpdateError::AmbiguousContainer {
            engine: all_names(),
            container: wanted.to_string(),
            matches: found
                .iter()
                .map(|(index, name)| format!("{}/{name}", engines[*index].name()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn known(age: Duration, id: &str, image: &str) -> ContainerResult {
        ContainerResult {
            kind: crate::checker::Kind::Container,
            stack: None,
            platforms: Vec::new(),
            replicas: None,
            rollout: None,
            engine: Some("local".into()),
            id: Some(id.into()),
            name: Some("web".into()),
            image: image.into(),
            upstream: None,
            via: None,
            platform: None,
            local_digest: None,
            status: Status::UpdateAvailable,
            update: None,
            explanation: String::new(),
            error: None,
            checked_at: SystemTime::now() - age,
            display_name: None,
            release_notes: None,
        }
    }

    #[test]
    fn only_a_recent_verdict_about_this_very_container_is_acted_on_without_checking_again() {
        let minute = Duration::from_secs(60);
        assert!(is_fresh(&known(minute, "c1", "app:1"), "c1", "app:1"));
        assert!(
            !is_fresh(&known(RECHECK_AFTER + minute, "c1", "app:1"), "c1", "app:1"),
            "stale"
        );
        assert!(
            !is_fresh(&known(minute, "c0", "app:1"), "c1", "app:1"),
            "another container"
        );
        assert!(
            !is_fresh(&known(minute, "c1", "app:0"), "c1", "app:1"),
            "recreated from another image"
        );
        let mut future = known(minute, "c1", "app:1");
        future.checked_at = SystemTime::now() + RECHECK_AFTER;
        assert!(!is_fresh(&future, "c1", "app:1"), "a clock that went backwards");
    }
}
