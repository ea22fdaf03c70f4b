//! What an update changes in a container, field by field (the dry run's plan): the new container
//! as the engine will see it — the blueprint merged with the new image's defaults, the way the
//! engine merges them at create — compared with the old one's `inspect`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::blueprint::Blueprint;
use crate::engine::model::{ContainerInspectResponse, HealthConfig, ImageConfig};

/// Why a field changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// The image itself: the reference the container is created from.
    Image,
    /// The user set nothing here, and the new image's default differs from the old one's.
    NewImageDefault,
    /// The engine generates it anew (the hostname is the new container's short ID).
    Generated,
    /// An anonymous volume, now mounted by its name so its data carries over.
    CarriedVolume,
    /// A `container:<id>` mode now names the provider by its name.
    ProviderName,
    /// How a Swarm service's update is rolled out: rolled back on a failure within the monitor
    /// period; the placement follows the new image's platforms.
    Rollout,
}

/// One field that differs between the old container and the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// As `inspect` names it, with the key for maps: `Config.Env PATH`, `HostConfig.Binds`.
    pub field: String,
    /// `None`: not set.
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: ChangeReason,
}

/// The fields the new container will have that differ from the old one's.
pub fn field_changes(
    old: &ContainerInspectResponse,
    blueprint: &Blueprint,
    new_image: &ImageConfig,
) -> Vec<FieldChange> {
    let config = old.config.clone().unwrap_or_default();
    let body = &blueprint.body;
    let mut changes = Vec::new();
    let mut push = |field: &str, before: Option<String>, after: Option<String>, reason: ChangeReason| {
        if before != after {
            changes.push(FieldChange {
                field: field.to_string(),
                before,
                after,
                reason,
            });
        }
    };

    push(
        "Config.Image",
        config.image.clone(),
        body.image.clone(),
        ChangeReason::Image,
    );

    let before_env = env_map(config.env.as_deref().unwrap_or_default());
    let mut after_env = env_map(new_image.env.as_deref().unwrap_or_default());
    after_env.extend(env_map(body.env.as_deref().unwrap_or_default()));
    for key in before_env.keys().chain(after_env.keys()).collect::<BTreeSet<_>>() {
        push(
            &format!("Config.Env {key}"),
            before_env.get(key).cloned(),
            after_env.get(key).cloned(),
            ChangeReason::NewImageDefault,
        );
    }

    let before_labels: BTreeMap<String, String> = config.labels.clone().unwrap_or_default().into_iter().collect();
    let mut after_labels: BTreeMap<String, String> = new_image.labels.clone().unwrap_or_default().into_iter().collect();
    after_labels.extend(body.labels.clone().unwrap_or_default());
    for key in before_labels.keys().chain(after_labels.keys()).collect::<BTreeSet<_>>() {
        push(
            &format!("Config.Labels {key}"),
            before_labels.get(key).cloned(),
            after_labels.get(key).cloned(),
            ChangeReason::NewImageDefault,
        );
    }

    let union = |user: &Option<Vec<String>>, image: &Option<Vec<String>>| -> Option<String> {
        let all: BTreeSet<&String> = user.iter().flatten().chain(image.iter().flatten()).collect();
        (!all.is_empty()).then(|| list(all))
    };
    let sorted = |values: &Option<Vec<String>>| -> Option<String> {
        let all: BTreeSet<&String> = values.iter().flatten().collect();
        (!all.is_empty()).then(|| list(all))
    };
    push(
        "Config.Volumes",
        sorted(&config.volumes),
        union(&body.volumes, &new_image.volumes),
        ChangeReason::NewImageDefault,
    );
    push(
        "Config.ExposedPorts",
        sorted(&config.exposed_ports),
        union(&body.exposed_ports, &new_image.exposed_ports),
        ChangeReason::NewImageDefault,
    );

    // The engine's merge: the user's entrypoint resets the image's command; otherwise the user's
    // command, else the image's, runs after the image's entrypoint.
    let user_entrypoint = body.entrypoint.clone().filter(|e| !e.is_empty());
    let (entrypoint, cmd) = match user_entrypoint {
        Some(entrypoint) => (Some(entrypoint), body.cmd.clone()),
        None => (
            new_image.entrypoint.clone(),
            body.cmd
                .clone()
                .filter(|c| !c.is_empty())
                .or_else(|| new_image.cmd.clone()),
        ),
    };
    let optional_list = |l: &Option<Vec<String>>| l.as_ref().filter(|l| !l.is_empty()).map(|l| list(l.iter()));
    push(
        "Config.Entrypoint",
        optional_list(&config.entrypoint),
        optional_list(&entrypoint),
        ChangeReason::NewImageDefault,
    );
    push(
        "Config.Cmd",
        optional_list(&config.cmd),
        optional_list(&cmd),
        ChangeReason::NewImageDefault,
    );

    let text = |own: &Option<String>, image: &Option<String>| -> Option<String> {
        own.clone()
            .filter(|v| !v.is_empty())
            .or_else(|| image.clone().filter(|v| !v.is_empty()))
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    push(
        "Config.WorkingDir",
        nonempty(&config.working_dir),
        text(&body.working_dir, &new_image.working_dir),
        ChangeReason::NewImageDefault,
    );
    push(
        "Config.User",
        nonempty(&config.user),
        text(&body.user, &new_image.user),
        ChangeReason::NewImageDefault,
    );
    push(
        "Config.StopSignal",
        nonempty(&config.stop_signal),
        text(&body.stop_signal, &new_image.stop_signal),
        ChangeReason::NewImageDefault,
    );
    push(
        "Config.Healthcheck",
        config.healthcheck.as_ref().map(healthcheck),
        body.healthcheck
            .as_ref()
            .or(new_image.healthcheck.as_ref())
            .map(healthcheck),
        ChangeReason::NewImageDefault,
    );
    if body.hostname.is_none() {
        push(
            "Config.Hostname",
            nonempty(&config.hostname),
            Some("(the new container's short ID)".to_string()),
            ChangeReason::Generated,
        );
    }

    let old_host = old.host_config.clone().unwrap_or_default();
    let new_host = body.host_config.clone().unwrap_or_default();
    for (name, path) in &blueprint.carried_volumes {
        push(
            &format!("Mounts {path}"),
            Some(format!("anonymous volume {name}")),
            Some(format!("volume {name}, by name")),
            ChangeReason::CarriedVolume,
        );
    }
    for (field, before, after) in [
        ("HostConfig.NetworkMode", &old_host.network_mode, &new_host.network_mode),
        ("HostConfig.PidMode", &old_host.pid_mode, &new_host.pid_mode),
        ("HostConfig.IpcMode", &old_host.ipc_mode, &new_host.ipc_mode),
    ] {
        push(field, nonempty(before), nonempty(after), ChangeReason::ProviderName);
    }
    changes
}

fn env_map(entries: &[String]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (entry.clone(), String::new()),
        })
        .collect()
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<&String> = items.into_iter().collect();
    serde_json::to_string(&items).unwrap_or_default()
}

fn healthcheck(check: &HealthConfig) -> String {
    let test = check.test.as_ref().map(|t| t.join(" ")).unwrap_or_default();
    match check.interval.filter(|i| *i > 0) {
        Some(nanos) => format!("{test} (every {}s)", nanos as f64 / 1e9),
        None => test,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::engine::model::{ContainerConfig, HostConfig};
    use crate::update::blueprint::{blueprint, Source};

    fn strings(values: &[&str]) -> Option<Vec<String>> {
        Some(values.iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn the_plan_names_each_field_the_new_image_changes_and_nothing_the_user_set() {
        let old_image = ImageConfig {
            env: strings(&["PATH=/bin", "MODE=classic"]),
            cmd: strings(&["run"]),
            labels: Some(HashMap::from([("version".into(), "1".into())])),
            ..Default::default()
        };
        let new_image = ImageConfig {
            env: strings(&["PATH=/opt/bin:/bin"]),
            cmd: strings(&["run"]),
            labels: Some(HashMap::from([("version".into(), "2".into())])),
            exposed_ports: strings(&["9090/tcp"]),
            ..Default::default()
        };
        let old = ContainerInspectResponse {
            id: Some("abcdef0123456789".into()),
            name: Some("/web".into()),
            config: Some(ContainerConfig {
                hostname: Some("abcdef012345".into()),
                env: strings(&["PATH=/bin", "MODE=classic", "TOKEN=1"]),
                cmd: strings(&["run"]),
                labels: Some(HashMap::from([
                    ("version".into(), "1".into()),
                    ("team".into(), "x".into()),
                ])),
                image: Some("app:1".into()),
                ..Default::default()
            }),
            host_config: Some(HostConfig::default()),
            ..Default::default()
        };
        let plan = blueprint(Source {
            old: &old,
            old_image: &old_image,
            image: "app:2",
            names_by_id: &HashMap::new(),
            create_on_all_networks: false,
        });
        let changes = field_changes(&old, &plan, &new_image);
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Config.Image", Some("app:1"), Some("app:2")),
                ("Config.Env MODE", Some("classic"), None),
                ("Config.Env PATH", Some("/bin"), Some("/opt/bin:/bin")),
                ("Config.Labels version", Some("1"), Some("2")),
                ("Config.ExposedPorts", None, Some("[\"9090/tcp\"]")),
                (
                    "Config.Hostname",
                    Some("abcdef012345"),
                    Some("(the new container's short ID)")
                ),
            ]
        );
    }
}
