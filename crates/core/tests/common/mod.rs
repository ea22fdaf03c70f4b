//! Lab helpers shared by the update tests: containers, networks and volumes on the lab engine
//! (labelled for the lab's cleanup), commands run inside containers, and an updater with its own
//! database.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, Ipam, IpamConfig, NetworkCreateRequest};
use futures_util::StreamExt as _;
use tidewatch_core::config::Config;
use tidewatch_core::engine::model::ContainerInspectResponse;
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_core::store::Store;
use tidewatch_core::update::{UpdateOutcome, UpdatePlan, UpdateProgress, Updater};
use tidewatch_lab::{containers, Lab};

pub const LAB_LABEL: &str = containers::LAB_LABEL;

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

pub async fn lab_engine(lab: &Lab) -> Engine {
    tidewatch_core::init_crypto();
    Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine")
}

pub async fn pull(engine: &Engine, image: &str) {
    containers::pull(engine.docker(), image, None).await;
}

/// Creates (replacing a leftover of that name) and starts a container; returns its ID.
pub async fn run(engine: &Engine, name: &str, mut body: ContainerCreateBody) -> String {
    containers::remove_container(engine.docker(), name).await;
    body.labels
        .get_or_insert_with(HashMap::new)
        .insert(LAB_LABEL.to_string(), "1".to_string());
    let id = engine.create_container(name, body).await.expect("create the container");
    engine.start_container(&id).await.expect("start the container");
    id
}

/// A container from `image` with nothing set but the lab's label.
pub fn plain(image: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        ..Default::default()
    }
}

/// Runs `script` with `sh -c` inside the container; returns its output (stdout and stderr).
pub async fn exec(engine: &Engine, container: &str, script: &str) -> String {
    let created = engine
        .docker()
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(vec!["sh", "-c", script]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("exec in {container}: {e}"));
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = engine
        .docker()
        .start_exec(&created.id, None)
        .await
        .expect("start the exec")
    {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
    }
    text
}

/// A user-defined bridge network with its own subnet (so containers may have static IPs on it);
/// returns the first three octets of its /24 (`10.123.45`). Subnets are picked at random and the
/// next is tried when the engine already has one that overlaps.
pub async fn network(engine: &Engine, name: &str) -> String {
    let _ = engine.docker().remove_network(name).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ u64::from(std::process::id()) << 20;
    for attempt in 0..20u64 {
        let n = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(attempt * 1442695040888963407);
        let prefix = format!("10.{}.{}", 100 + (n >> 33) % 150, (n >> 13) % 250);
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{prefix}.0/24")),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([(LAB_LABEL.to_string(), "1".to_string())])),
            ..Default::default()
        };
        match engine.docker().create_network(request).await {
            Ok(_) => return prefix,
            Err(e) if e.to_string().contains("overlap") => continue,
            Err(e) => panic!("create the network {name}: {e}"),
        }
    }
    panic!("no free subnet for the network {name}");
}

pub async fn remove_network(engine: &Engine, name: &str) {
    let _ = engine.docker().remove_network(name).await;
}

/// Removes every container whose name starts with `prefix` (the test's own, old ones kept aside
/// included) with the volumes they mount (an update mounts a once-anonymous volume by name, so
/// removing its container no longer removes it), and the named volumes whose names start with it.
pub async fn clean_up(engine: &Engine, prefix: &str) {
    let mut mounted = Vec::new();
    for summary in engine.container_summaries().await.unwrap_or_default() {
        let named = summary
            .names
            .unwrap_or_default()
            .iter()
            .any(|n| n.trim_start_matches('/').starts_with(prefix));
        let id = summary.id.unwrap_or_default();
        if named {
            if let Ok(Some(inspect)) = engine.find_container(&id).await {
                mounted.extend(
                    inspect
                        .mounts
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|m| m.typ.as_deref() == Some("volume"))
                        .filter_map(|m| m.name),
                );
            }
            containers::remove_container(engine.docker(), &id).await;
        }
    }
    for volume in mounted {
        let _ = engine
            .docker()
            .remove_volume(&volume, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await;
    }
    let volumes = engine
        .docker()
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .map(|list| list.volumes.unwrap_or_default())
        .unwrap_or_default();
    for volume in volumes.into_iter().filter(|v| v.name.starts_with(prefix)) {
        let _ = engine
            .docker()
            .remove_volume(&volume.name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await;
    }
}

/// The names of containers kept aside by an update (`<name>-tidewatch-old-…`) for `name`.
pub async fn kept_aside(engine: &Engine, name: &str) -> Vec<String> {
    engine
        .container_summaries()
        .await
        .expect("list containers")
        .into_iter()
        .flat_map(|s| s.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| n.starts_with(&format!("{name}-tidewatch-old-")))
        .collect()
}

pub async fn inspect(engine: &Engine, container: &str) -> ContainerInspectResponse {
    engine
        .inspect_container(container)
        .await
        .unwrap_or_else(|e| panic!("inspect {container}: {e}"))
}

pub fn is_running(inspect: &ContainerInspectResponse) -> bool {
    inspect.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// A scratch directory with its own database for one test's updates.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("data").join("tidewatch.db")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An updater with the default configuration and a short health timeout.
    pub fn updater(&self) -> Updater {
        Updater::new(&Config::default(), self.database())
            .expect("an updater")
            .with_health_timeout(Duration::from_secs(30))
    }

    /// Updates still open in the journal.
    pub fn open_journal_entries(&self) -> usize {
        Store::open(&self.database())
            .expect("open the database")
            .journal_entries()
            .expect("read the journal")
            .len()
    }
}

/// Plans the update of `container`, panicking with the refusal when there is one.
pub async fn plan(updater: &Updater, engine: &Engine, container: &str) -> UpdatePlan {
    updater
        .plan(engine, container, None, &|_: UpdateProgress| {})
        .await
        .unwrap_or_else(|e| panic!("plan the update of {container}: {e}"))
}

pub async fn apply(updater: &Updater, engine: &Engine, plan: &UpdatePlan) -> UpdateOutcome {
    updater.apply(engine, plan, &|_: UpdateProgress| {}).await
}

/// Pushes `from` (pulled first) to `to` (`registry/repository:tag`) through the lab engine.
pub async fn copy_image(engine: &Engine, from: &str, to: &str) {
    pull(engine, from).await;
    let (repository, tag) = to.rsplit_once(':').expect("a tag");
    engine.tag_image(from, repository, tag).await.expect("tag the image");
    let options = bollard::query_parameters::PushImageOptionsBuilder::default()
        .tag(tag)
        .build();
    let mut push = engine.docker().push_image(repository, Some(options), None);
    while let Some(step) = push.next().await {
        let info = step.unwrap_or_else(|e| panic!("push {to}: {e}"));
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            panic!("push {to}: {error}");
        }
    }
}
