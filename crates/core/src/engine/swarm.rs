//! Docker Swarm: the services of an engine that is a Swarm manager, read as workloads (their
//! stack, the digest Docker resolved at deploy time, the platforms of the nodes their tasks run
//! on), and updated through Swarm's own rolling update and rollback (docs/swarm.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::models::{
    Service, ServiceSpec, ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum, ServiceUpdateStatus,
    ServiceUpdateStatusStateEnum, SystemInfo, Task, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;

use super::{Engine, EngineError};
use crate::credentials::{Credential, SecretKind};
use crate::platform::Platform;
use crate::source::{
    ImageChange, Orchestrator, Replicas, RolloutError, RolloutPhase, RolloutStarted, RolloutState, RolloutStatus,
    SpecChange, Workload, WorkloadKind,
};

/// The label `docker stack deploy` puts on every service of a stack.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The label Swarm puts on each task's container, naming its service.
pub const SERVICE_ID_LABEL: &str = "com.docker.swarm.service.id";

/// Failed tasks named in a rollout's report, at most.
const MAX_FAILURES: usize = 3;

/// Whether the engine's info says it is a manager of an active Swarm: only managers can list
/// and update services.
pub(super) fn is_manager(info: &SystemInfo) -> bool {
    info.swarm.as_ref().is_some_and(|swarm| {
        swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE) && swarm.control_available == Some(true)
    })
}

/// A Swarm, reached through one of its managers.
#[derive(Debug, Clone)]
pub struct Swarm {
    engine: Engine,
}

impl Swarm {
    /// The Swarm `engine` manages; call only when the engine's info says it is a manager.
    pub(super) fn new(engine: Engine) -> Swarm {
        Swarm { engine }
    }

    /// Every service, with the platforms of the nodes its running tasks were placed on.
    pub async fn services(&self) -> Result<Vec<Workload>, EngineError> {
        let docker = self.engine.docker();
        let options = ListServicesOptionsBuilder::default().status(true).build();
        let services = docker
            .list_services(Some(options))
            .await
            .map_err(|e| self.engine.request_error("list Swarm services", e))?;
        let nodes = docker
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(|e| self.engine.request_error("list Swarm nodes", e))?;
        let node_platforms: HashMap<String, Platform> = nodes
            .into_iter()
            .filter_map(|node| {
                let platform = node.description?.platform?;
                Some((
                    node.id?,
                    Platform::new(platform.os.as_deref()?, platform.architecture.as_deref()?, None),
                ))
            })
            .collect();
        let filters = HashMap::from([("desired-state".to_string(), vec!["running".to_string()])]);
        let tasks = docker
            .list_tasks(Some(ListTasksOptionsBuilder::default().filters(&filters).build()))
            .await
            .map_err(|e| self.engine.request_error("list Swarm tasks", e))?;
        let mut nodes_of: HashMap<String, BTreeSet<String>> = HashMap::new();
        for task in tasks {
            if let (Some(service), Some(node)) = (task.service_id, task.node_id.filter(|n| !n.is_empty())) {
                nodes_of.entry(service).or_default().insert(node);
            }
        }
        let all_platforms: BTreeSet<Platform> = node_platforms.values().cloned().collect();
        Ok(services
            .into_iter()
            .filter_map(|service| {
                let id = service.id.clone()?;
                let running_on: BTreeSet<Platform> = nodes_of
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .filter_map(|node| node_platforms.get(node).cloned())
                    .collect();
                workload_of(service, running_on, &all_platforms)
            })
            .collect())
    }

    async fn inspect(&self, id: &str) -> Result<Service, EngineError> {
        self.engine
            .docker()
            .inspect_service(id, None::<InspectServiceOptions>)
            .await
            .map_err(|e| self.engine.request_error("inspect a Swarm service", e))
    }

    /// Sends `spec` as the service's next version; `rollback` asks Swarm for its own rollback.
    async fn update(
        &self,
        service: &Service,
        spec: ServiceSpec,
        rollback: bool,
        credential: Option<&Credential>,
        registry: Option<&str>,
    ) -> Result<RolloutStarted, RolloutError> {
        let name = service_name(service);
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or_default();
        let mut options = UpdateServiceOptionsBuilder::default().version(i32::try_from(version).unwrap_or(i32::MAX));
        if rollback {
            options = options.rollback("previous");
        }
        let credentials = credential.map(|credential| docker_credentials(credential, registry.unwrap_or_default()));
        let id = service.id.clone().unwrap_or_default();
        let response = self
            .engine
            .docker()
            .update_service(&id, spec, options.build(), credentials)
            .await
            .map_err(|error| {
                // Swarm refuses a spec built on an older version ("update out of sequence").
                let text = error.to_string();
                if text.contains("out of sequence") {
                    RolloutError::Conflict {
                        kind: WorkloadKind::Service.as_str(),
                        name: name.clone(),
                        version,
                    }
                } else if rollback && text.contains("previous spec") {
                    // bollard's service model has no `PreviousSpec`; Swarm itself says when there is
                    // none ("service … does not have a previous spec").
                    RolloutError::NothingToRollBack {
                        kind: WorkloadKind::Service.as_str(),
                        name: name.clone(),
                    }
                } else {
                    RolloutError::Engine(self.engine.request_error("update a Swarm service", error))
                }
            })?;
        Ok(RolloutStarted {
            before: service.update_status.as_ref().and_then(rollout_state),
            warnings: response.warnings.unwrap_or_default(),
        })
    }

    /// The latest failures of the service's tasks since `since` (a rollout's start), newest first.
    async fn task_failures(&self, service: &Service, since: Option<&str>) -> Result<Vec<String>, EngineError> {
        let service_id = service.id.clone().unwrap_or_default();
        let filters = HashMap::from([("service".to_string(), vec![service_id])]);
        let tasks = self
            .engine
            .docker()
            .list_tasks(Some(ListTasksOptionsBuilder::default().filters(&filters).build()))
            .await
            .map_err(|e| self.engine.request_error("list a service's tasks", e))?;
        Ok(failures_since(&service_name(service), tasks, since))
    }
}

impl Orchestrator for Swarm {
    fn workloads(&self) -> BoxFuture<'_, Result<Vec<Workload>, EngineError>> {
        self.services().boxed()
    }

    fn roll_out<'a>(&'a self, change: &'a ImageChange) -> BoxFuture<'a, Result<RolloutStarted, RolloutError>> {
        async move {
            let service = self.inspect(&change.workload_id).await?;
            let Some(spec) = service.spec.clone() else {
                return Err(RolloutError::Refused(format!(
                    "the engine returned no spec for the service {}",
                    service_name(&service)
                )));
            };
            let registry = crate::reference::Reference::parse_explained(&change.image)
                .ok()
                .map(|(reference, _)| reference.registry().to_string());
            let spec = with_new_image(spec, change);
            self.update(&service, spec, false, change.credential.as_ref(), registry.as_deref())
                .await
        }
        .boxed()
    }

    fn spec_changes<'a>(&'a self, change: &'a ImageChange) -> BoxFuture<'a, Result<Vec<SpecChange>, RolloutError>> {
        async move {
            let service = self.inspect(&change.workload_id).await?;
            let before = service.spec.unwrap_or_default();
            let after = with_new_image(before.clone(), change);
            Ok(changed_fields(&before, &after))
        }
        .boxed()
    }

    fn roll_back<'a>(&'a self, workload_id: &'a str) -> BoxFuture<'a, Result<RolloutStarted, RolloutError>> {
        async move {
            let service = self.inspect(workload_id).await?;
            let name = service_name(&service);
            // Swarm's rollback swaps the spec with the previous one: once the last update was
            // rolled back (by Swarm on a failure, or when asked), "previous" is the version that
            // was left, which is not what a user means. An update still under way may be rolled
            // back: Swarm stops it.
            match service.update_status.as_ref().and_then(rollout_state).map(|s| s.phase) {
                Some(RolloutPhase::RolledBack) => {
                    return Err(RolloutError::Refused(format!(
                        "the last update of the service {name} was already rolled back; it runs its earlier image again"
                    )))
                }
                Some(RolloutPhase::RollingBack) => {
                    return Err(RolloutError::Refused(format!(
                        "the service {name} is already rolling back; wait until it settles"
                    )))
                }
                _ => {}
            }
            let spec = service.spec.clone().unwrap_or_default();
            self.update(&service, spec, true, None, None).await
        }
        .boxed()
    }

    fn rollout_status<'a>(&'a self, workload_id: &'a str) -> BoxFuture<'a, Result<RolloutStatus, RolloutError>> {
        async move {
            let service = self.inspect(workload_id).await?;
            let state = service.update_status.as_ref().and_then(rollout_state);
            let failures = match &state {
                Some(state) if state.phase != RolloutPhase::Completed => {
                    let since = service.update_status.as_ref().and_then(|s| s.started_at.clone());
                    self.task_failures(&service, since.as_deref()).await?
                }
                _ => Vec::new(),
            };
            Ok(RolloutStatus { state, failures })
        }
        .boxed()
    }
}

fn service_name(service: &Service) -> String {
    service
        .spec
        .as_ref()
        .and_then(|spec| spec.name.clone())
        .or_else(|| service.id.clone())
        .unwrap_or_default()
}

/// `spec` with `change`'s image, the new image's platforms in its placement (where the spec lists
/// platforms, as `docker service update` does), and an update config that rolls back on failure
/// after watching each new task for at least `change.monitor`.
fn with_new_image(mut spec: ServiceSpec, change: &ImageChange) -> ServiceSpec {
    let task = spec.task_template.get_or_insert_with(Default::default);
    task.container_spec.get_or_insert_with(Default::default).image = Some(change.image.clone());
    if let Some(placement) = task.placement.as_mut() {
        if placement.platforms.as_ref().is_some_and(|p| !p.is_empty()) && !change.platforms.is_empty() {
            placement.platforms = Some(
                change
                    .platforms
                    .iter()
                    .map(|p| bollard::models::Platform {
                        architecture: Some(p.architecture.clone()),
                        os: Some(p.os.clone()),
                    })
                    .collect(),
            );
        }
    }
    let monitor = i64::try_from(change.monitor.as_nanos()).unwrap_or(i64::MAX);
    let update = spec.update_config.get_or_insert_with(ServiceSpecUpdateConfig::default);
    update.failure_action = Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK);
    update.monitor = Some(update.monitor.unwrap_or_default().max(monitor));
    spec
}

/// The fields [`with_new_image`] sets that differ between `before` and `after`.
fn changed_fields(before: &ServiceSpec, after: &ServiceSpec) -> Vec<SpecChange> {
    let image = |spec: &ServiceSpec| {
        spec.task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
    };
    let platforms = |spec: &ServiceSpec| {
        let list: Vec<String> = spec
            .task_template
            .as_ref()
            .and_then(|t| t.placement.as_ref())
            .and_then(|p| p.platforms.as_ref())
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.os.as_deref().unwrap_or("?"),
                    p.architecture.as_deref().unwrap_or("?")
                )
            })
            .collect();
        (!list.is_empty()).then(|| list.join(", "))
    };
    let failure_action = |spec: &ServiceSpec| {
        spec.update_config
            .as_ref()
            .and_then(|u| u.failure_action)
            .map(|a| a.to_string())
    };
    let monitor = |spec: &ServiceSpec| {
        spec.update_config.as_ref().and_then(|u| u.monitor).map(|ns| {
            humantime::format_duration(Duration::from_nanos(u64::try_from(ns).unwrap_or_default())).to_string()
        })
    };
    [
        ("TaskTemplate.ContainerSpec.Image", image(before), image(after)),
        ("TaskTemplate.Placement.Platforms", platforms(before), platforms(after)),
        (
            "UpdateConfig.FailureAction",
            failure_action(before),
            failure_action(after),
        ),
        ("UpdateConfig.Monitor", monitor(before), monitor(after)),
    ]
    .into_iter()
    .filter(|(_, before, after)| before != after)
    .map(|(field, before, after)| SpecChange {
        field: field.to_string(),
        before,
        after,
    })
    .collect()
}

/// What `docker service update --with-registry-auth` sends as `X-Registry-Auth`.
fn docker_credentials(credential: &Credential, registry: &str) -> DockerCredentials {
    let mut credentials = DockerCredentials {
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    };
    match credential.kind {
        SecretKind::Password => {
            credentials.username = Some(credential.username.clone());
            credentials.password = Some(credential.secret.expose().to_string());
        }
        SecretKind::IdentityToken => {
            credentials.identitytoken = Some(credential.secret.expose().to_string());
        }
    }
    credentials
}

/// Swarm's update status in Tidewatch's words; `None` when it says nothing.
fn rollout_state(status: &ServiceUpdateStatus) -> Option<RolloutState> {
    use ServiceUpdateStatusStateEnum as S;
    let phase = match status.state? {
        S::EMPTY => return None,
        S::UPDATING => RolloutPhase::Updating,
        S::PAUSED => RolloutPhase::Paused,
        S::COMPLETED => RolloutPhase::Completed,
        S::ROLLBACK_STARTED => RolloutPhase::RollingBack,
        S::ROLLBACK_PAUSED => RolloutPhase::RollbackPaused,
        S::ROLLBACK_COMPLETED => RolloutPhase::RolledBack,
    };
    Some(RolloutState {
        phase,
        message: status.message.clone().unwrap_or_default(),
        marker: status.started_at.clone().unwrap_or_default(),
    })
}

/// A service read as a workload. `running_on` are the platforms of the nodes its running tasks
/// were placed on; with none (scaled to zero, or nothing placed yet), the platforms its placement
/// allows, else those of every node: what could run it.
fn workload_of(service: Service, running_on: BTreeSet<Platform>, all: &BTreeSet<Platform>) -> Option<Workload> {
    let id = service.id?;
    let spec = service.spec?;
    let name = spec.name.clone().unwrap_or_else(|| id.clone());
    let task = spec.task_template.as_ref();
    let image = task
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let placement: BTreeSet<Platform> = task
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.platforms.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| Some(Platform::new(p.os.as_deref()?, p.architecture.as_deref()?, None)))
        .collect();
    let mut platforms: Vec<Platform> = if !running_on.is_empty() {
        running_on.into_iter().collect()
    } else if !placement.is_empty() {
        placement.into_iter().collect()
    } else {
        all.iter().cloned().collect()
    };
    if platforms.is_empty() {
        platforms.push(Platform::host());
    }
    let labels: BTreeMap<String, String> = spec.labels.clone().unwrap_or_default().into_iter().collect();
    let replicas = service.service_status.map(|status| Replicas {
        running: status.running_tasks.unwrap_or_default(),
        desired: status.desired_tasks.unwrap_or_default(),
    });
    Some(Workload {
        kind: WorkloadKind::Service,
        running_digest: spec_digest(&image),
        stack: labels.get(STACK_LABEL).filter(|s| !s.is_empty()).cloned(),
        id,
        name,
        image,
        platforms,
        labels,
        replicas,
        rollout: service.update_status.as_ref().and_then(rollout_state),
    })
}

/// The digest of `name[:tag]@sha256:…`, as Docker resolved it when the service was deployed.
fn spec_digest(image: &str) -> Option<String> {
    image
        .rsplit_once('@')
        .map(|(_, digest)| digest.to_string())
        .filter(|d| d.contains(':'))
}

/// Failed tasks' errors since `since`, newest first, without repeats: "task web.2: non-zero exit
/// (3)", tasks named as `docker service ps` names them (service and slot).
fn failures_since(service: &str, mut tasks: Vec<Task>, since: Option<&str>) -> Vec<String> {
    let since = since.and_then(|s| humantime::parse_rfc3339_weak(s).ok());
    let at = |task: &Task| {
        task.status
            .as_ref()
            .and_then(|s| s.timestamp.as_deref())
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
    };
    tasks.retain(|task| {
        let failed = task.status.as_ref().is_some_and(|s| {
            matches!(s.state, Some(TaskState::FAILED | TaskState::REJECTED))
                && s.err.as_deref().is_some_and(|e| !e.is_empty())
        });
        failed && since.is_none_or(|since| at(task).is_none_or(|t| t >= since))
    });
    tasks.sort_by_key(|task| std::cmp::Reverse(at(task)));
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    for task in tasks {
        let error = task.status.as_ref().and_then(|s| s.err.clone()).unwrap_or_default();
        if !seen.insert(error.clone()) {
            continue;
        }
        // Global services' tasks have no slot: `docker service ps` names them by node.
        let name = match (task.slot, &task.node_id) {
            (Some(slot), _) => format!("{service}.{slot}"),
            (None, Some(node)) => format!("{service}.{node}"),
            (None, None) => service.to_string(),
        };
        failures.push(format!("task {name}: {error}"));
        if failures.len() == MAX_FAILURES {
            break;
        }
    }
    failures
}

/// How long Swarm watches each new task for a failure during a Tidewatch update, at least.
pub const DEFAULT_MONITOR: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use bollard::models::{ServiceServiceStatus, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement, TaskStatus};

    use super::*;
    use crate::credentials::CredentialOrigin;

    const DIGEST: &str = "sha256:95a42a3b6a91e06e80d934782a8b9bf57e74800752fcb070fdfc77bba57a04f1";

    fn platform(os: &str, arch: &str) -> bollard::models::Platform {
        bollard::models::Platform {
            os: Some(os.into()),
            architecture: Some(arch.into()),
        }
    }

    fn service(image: &str, labels: &[(&str, &str)], placement: &[(&str, &str)]) -> Service {
        Service {
            id: Some("svc1".into()),
            spec: Some(ServiceSpec {
                name: Some("shop_web".into()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some(image.into()),
                        ..Default::default()
                    }),
                    placement: Some(TaskSpecPlacement {
                        platforms: Some(placement.iter().map(|(os, arch)| platform(os, arch)).collect()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            service_status: Some(ServiceServiceStatus {
                running_tasks: Some(2),
                desired_tasks: Some(3),
                completed_tasks: None,
            }),
            ..Default::default()
        }
    }

    fn platforms(list: &[&str]) -> BTreeSet<Platform> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn a_service_is_read_with_its_stack_deployed_digest_and_replicas() {
        let image = format!("registry.lan/shop/web:1.4@{DIGEST}");
        let workload = workload_of(
            service(&image, &[(STACK_LABEL, "shop"), ("wud.watch", "true")], &[]),
            platforms(&["linux/arm64"]),
            &platforms(&["linux/amd64", "linux/arm64"]),
        )
        .unwrap();
        assert_eq!(workload.kind, WorkloadKind::Service);
        assert_eq!(workload.name, "shop_web");
        assert_eq!(workload.stack.as_deref(), Some("shop"));
        assert_eq!(workload.image, image, "the spec's image, never rewritten");
        assert_eq!(workload.running_digest.as_deref(), Some(DIGEST));
        assert_eq!(workload.labels.get("wud.watch").map(String::as_str), Some("true"));
        assert_eq!(workload.replicas, Some(Replicas { running: 2, desired: 3 }));
        assert_eq!(workload.platforms, ["linux/arm64".parse::<Platform>().unwrap()]);
    }

    #[test]
    fn platforms_come_from_running_nodes_then_the_placement_then_every_node() {
        let all = platforms(&["linux/amd64", "linux/arm/v7"]);
        let read = |running: &[&str], placement: &[(&str, &str)]| {
            workload_of(service("app:1", &[], placement), platforms(running), &all)
                .unwrap()
                .platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(read(&["linux/arm/v7"], &[("linux", "amd64")]), ["linux/arm/v7"]);
        assert_eq!(
            read(&[], &[("linux", "x86_64"), ("linux", "aarch64")]),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(read(&[], &[]), ["linux/amd64", "linux/arm/v7"]);
        let none = workload_of(service("app:1", &[], &[]), BTreeSet::new(), &BTreeSet::new()).unwrap();
        assert_eq!(none.platforms, [Platform::host()], "never empty");
    }

    #[test]
    fn a_spec_without_a_digest_has_no_deployed_digest() {
        assert_eq!(spec_digest("app:1"), None);
        assert_eq!(spec_digest(&format!("app@{DIGEST}")).as_deref(), Some(DIGEST));
        assert_eq!(spec_digest("registry.lan:5000/app:1"), None);
    }

    #[test]
    fn the_new_spec_rolls_back_on_failure_and_keeps_a_longer_monitor() {
        let change = |monitor: u64| ImageChange {
            workload_id: "svc1".into(),
            image: format!("registry.lan/shop/web:1.5@{DIGEST}"),
            platforms: vec!["linux/amd64".parse().unwrap()],
            credential: None,
            monitor: Duration::from_secs(monitor),
        };
        let mut spec = service(
            "registry.lan/shop/web:1.4",
            &[],
            &[("linux", "amd64"), ("linux", "arm64")],
        )
        .spec
        .unwrap();
        spec.update_config = Some(ServiceSpecUpdateConfig {
            parallelism: Some(2),
            monitor: Some(30_000_000_000),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
            ..Default::default()
        });
        let updated = with_new_image(spec.clone(), &change(10));
        let task = updated.task_template.as_ref().unwrap();
        assert_eq!(
            task.container_spec.as_ref().unwrap().image.as_deref(),
            Some(change(10).image.as_str())
        );
        let config = updated.update_config.as_ref().unwrap();
        assert_eq!(
            config.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        assert_eq!(config.monitor, Some(30_000_000_000), "the user's longer monitor stays");
        assert_eq!(
            config.parallelism,
            Some(2),
            "the rest of the user's update config stays"
        );
        assert_eq!(
            task.placement.as_ref().unwrap().platforms.as_ref().unwrap(),
            &[platform("linux", "amd64")],
            "the placement follows the new image's platforms, as docker service update does"
        );
        assert_eq!(updated.labels, spec.labels);
        let fields: Vec<String> = changed_fields(&spec, &updated).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                "TaskTemplate.ContainerSpec.Image",
                "TaskTemplate.Placement.Platforms",
                "UpdateConfig.FailureAction"
            ],
            "what the dry run lists: the monitor was long enough already"
        );

        spec.update_config = None;
        spec.task_template.as_mut().unwrap().placement = None;
        let updated = with_new_image(spec, &change(10));
        assert_eq!(updated.update_config.as_ref().unwrap().monitor, Some(10_000_000_000));
        assert_eq!(
            updated.task_template.unwrap().placement,
            None,
            "no placement is invented"
        );
    }

    #[test]
    fn registry_auth_carries_a_password_or_an_identity_token() {
        let password = Credential::password("alice", "s3cret", CredentialOrigin::Keyring);
        let auth = docker_credentials(&password, "registry.lan");
        assert_eq!(auth.username.as_deref(), Some("alice"));
        assert_eq!(auth.password.as_deref(), Some("s3cret"));
        assert_eq!(auth.serveraddress.as_deref(), Some("registry.lan"));
        assert_eq!(auth.identitytoken, None);
        let token = Credential::identity_token("<token>", "refresh", CredentialOrigin::Keyring);
        let auth = docker_credentials(&token, "registry.lan");
        assert_eq!(auth.identitytoken.as_deref(), Some("refresh"));
        assert_eq!(auth.password, None);
    }

    #[test]
    fn swarm_update_states_are_read_as_rollout_phases() {
        use ServiceUpdateStatusStateEnum as S;
        let cases = [
            (S::UPDATING, Some(RolloutPhase::Updating)),
            (S::PAUSED, Some(RolloutPhase::Paused)),
            (S::COMPLETED, Some(RolloutPhase::Completed)),
            (S::ROLLBACK_STARTED, Some(RolloutPhase::RollingBack)),
            (S::ROLLBACK_PAUSED, Some(RolloutPhase::RollbackPaused)),
            (S::ROLLBACK_COMPLETED, Some(RolloutPhase::RolledBack)),
            (S::EMPTY, None),
        ];
        for (state, phase) in cases {
            let status = ServiceUpdateStatus {
                state: Some(state),
                started_at: Some("2026-01-01T00:00:00Z".into()),
                message: Some("update completed".into()),
                ..Default::default()
            };
            assert_eq!(rollout_state(&status).map(|s| s.phase), phase, "{state}");
        }
    }

    fn task(slot: i64, state: TaskState, err: &str, at: &str) -> Task {
        Task {
            slot: Some(slot),
            status: Some(TaskStatus {
                state: Some(state),
                err: Some(err.into()),
                timestamp: Some(at.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn failures_are_the_failed_tasks_since_the_rollout_newest_first_without_repeats() {
        let tasks = vec![
            task(
                1,
                TaskState::FAILED,
                "task: non-zero exit (3)",
                "2026-01-01T00:00:05.5Z",
            ),
            task(1, TaskState::FAILED, "task: non-zero exit (3)", "2026-01-01T00:00:09Z"),
            task(2, TaskState::REJECTED, "No such image: web:9", "2026-01-01T00:00:07Z"),
            task(3, TaskState::FAILED, "old failure", "2025-12-31T23:00:00Z"),
            task(4, TaskState::RUNNING, "", "2026-01-01T00:00:08Z"),
            task(5, TaskState::SHUTDOWN, "", "2026-01-01T00:00:08Z"),
        ];
        assert_eq!(
            failures_since("web", tasks, Some("2026-01-01T00:00:00.123456789Z")),
            [
                "task web.1: task: non-zero exit (3)",
                "task web.2: No such image: web:9"
            ]
        );
    }
}
