//! An update recreates a container field for field: everything the user set compares equal in
//! `inspect`, the new image's own defaults apply where the user set nothing, data in named,
//! anonymous and bind-mounted volumes carries over, and the new container is healthy.

mod common;

use std::collections::HashMap;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use common::*;
use tidewatch_core::update::{ChangeReason, Method, OutcomeStatus, UpdateProgress};
use tidewatch_lab::{Lab, FIXTURE_PLAIN, FIXTURE_SERVICE};

const SCRIPT: &str = "trap 'exit 0' TERM; echo ok > /tmp/healthy; while :; do sleep 1; done";

fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().find_map(|e| e.strip_prefix(&format!("{key}=")))
}

fn mount_at<'a>(inspect: &'a bollard::models::ContainerInspectResponse, path: &str) -> &'a bollard::models::MountPoint {
    inspect
        .mounts
        .iter()
        .flatten()
        .find(|m| m.destination.as_deref() == Some(path))
        .unwrap_or_else(|| panic!("no mount at {path}: {:?}", inspect.mounts))
}

#[tokio::test]
async fn a_container_with_everything_set_is_updated_field_by_field_and_keeps_its_data() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-rich");
    let old_image = format!("{}/{FIXTURE_SERVICE}:1.0.0", lab.open_registry());
    let new_image = format!("{}/{FIXTURE_SERVICE}:1.1.0", lab.open_registry());
    pull(&engine, &old_image).await;
    let front = format!("{name}-front");
    let back = format!("{name}-back");
    let front_prefix = network(&engine, &front).await;
    network(&engine, &back).await;
    let static_ip = format!("{front_prefix}.10");
    let scratch = Scratch::new();
    let host_dir = scratch.path().join("bind");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("file.txt"), "from the host\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let mut body = plain(&old_image);
    body.hostname = Some("rich-host".into());
    body.env = Some(vec!["USER_SETTING=kept".into()]);
    body.labels = Some(HashMap::from([("team".into(), "blue".into())]));
    body.entrypoint = Some(vec!["/bin/sh".into(), "-c".into()]);
    body.cmd = Some(vec![SCRIPT.into()]);
    body.stop_timeout = Some(5);
    body.healthcheck = Some(HealthConfig {
        test: Some(vec!["CMD-SHELL".into(), "test -f /tmp/healthy && test -d /data".into()]),
        interval: Some(1_000_000_000),
        timeout: Some(2_000_000_000),
        retries: Some(2),
        ..Default::default()
    });
    body.host_config = Some(HostConfig {
        network_mode: Some(front.clone()),
        binds: Some(vec![
            format!("{name}-named:/named"),
            format!("{}:/host:ro", host_dir.display()),
        ]),
        port_bindings: Some(HashMap::from([(
            "8080/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(port.to_string()),
            }]),
        )])),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        memory: Some(64 << 20),
        cap_add: Some(vec!["NET_ADMIN".into()]),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".into(), "1m".into())])),
        }),
        ..Default::default()
    });
    body.networking_config = Some(NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            front.clone(),
            EndpointSettings {
                aliases: Some(vec!["web".into(), "www".into()]),
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(static_ip.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    });
    let id = run(&engine, &name, body).await;
    engine
        .connect_network(
            &back,
            &id,
            EndpointSettings {
                aliases: Some(vec!["api".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("connect the second network");
    exec(
        &engine,
        &name,
        "echo named > /named/file.txt; echo anonymous > /data/file.txt",
    )
    .await;
    let before = inspect(&engine, &name).await;
    let anonymous = mount_at(&before, "/data")
        .name
        .clone()
        .expect("an anonymous volume at /data");

    let updater = scratch.updater();
    let plan = plan(&updater, &engine, &name).await;
    assert_eq!(plan.target.reference, new_image);
    assert_eq!(plan.method, Method::Recreate);
    assert_eq!(plan.current_version, "1.0.0");
    let changes = updater
        .field_changes(&engine, &plan, &|_: UpdateProgress| {})
        .await
        .expect("the dry run's changes");
    let change = |field: &str| changes.iter().find(|c| c.field == field);
    assert_eq!(
        change("Config.Env PATH").map(|c| c.reason),
        Some(ChangeReason::NewImageDefault),
        "{changes:#?}"
    );
    assert!(
        change("Config.Env USER_SETTING").is_none(),
        "the user's own value stays"
    );
    assert_eq!(
        change("Mounts /data").map(|c| c.reason),
        Some(ChangeReason::CarriedVolume)
    );

    let seen = std::sync::Mutex::new(Vec::new());
    let outcome = updater
        .apply(&engine, &plan, &|p: UpdateProgress| seen.lock().unwrap().push(p.phase))
        .await;
    assert_eq!(outcome.status, OutcomeStatus::Updated, "{outcome:#?}");
    let after = inspect(&engine, &name).await;
    assert_ne!(after.id, before.id, "a new container");
    assert_eq!(outcome.container_id_after, after.id);
    assert!(
        engine.find_container(&id).await.unwrap().is_none(),
        "the old one is removed"
    );
    assert!(kept_aside(&engine, &name).await.is_empty());
    assert_eq!(scratch.open_journal_entries(), 0);

    // Everything the user set, field by field.
    let (old_config, new_config) = (before.config.clone().unwrap(), after.config.clone().unwrap());
    assert_eq!(new_config.image.as_deref(), Some(new_image.as_str()));
    assert_eq!(new_config.hostname, old_config.hostname);
    assert_eq!(
        new_config.entrypoint, old_config.entrypoint,
        "a list entrypoint stays a list"
    );
    assert_eq!(new_config.cmd, old_config.cmd);
    assert_eq!(new_config.healthcheck, old_config.healthcheck);
    assert_eq!(new_config.stop_timeout, Some(5));
    let new_env = new_config.env.clone().unwrap();
    assert_eq!(env_value(&new_env, "USER_SETTING"), Some("kept"));
    let new_labels = new_config.labels.clone().unwrap();
    assert_eq!(new_labels.get("team").map(String::as_str), Some("blue"));
    let mut expected_host = before.host_config.clone().unwrap();
    expected_host
        .binds
        .get_or_insert_with(Vec::new)
        .push(format!("{anonymous}:/data"));
    assert_eq!(
        after.host_config.clone().unwrap(),
        expected_host,
        "the host configuration is carried whole (the anonymous volume now by name)"
    );
    let networks =
        |i: &bollard::models::ContainerInspectResponse| i.network_settings.clone().unwrap().networks.unwrap();
    let (old_networks, new_networks) = (networks(&before), networks(&after));
    for network_name in [&front, &back] {
        let (old_endpoint, new_endpoint) = (&old_networks[network_name], &new_networks[network_name]);
        assert_eq!(new_endpoint.ipam_config, old_endpoint.ipam_config, "{network_name}");
        let user_aliases = |e: &EndpointSettings, short: &str| -> Vec<String> {
            e.aliases.iter().flatten().filter(|a| *a != short).cloned().collect()
        };
        assert_eq!(
            user_aliases(new_endpoint, &after.id.clone().unwrap()[..12]),
            user_aliases(old_endpoint, &id[..12]),
            "{network_name}"
        );
    }
    assert_eq!(new_networks[&front].ip_address.as_deref(), Some(static_ip.as_str()));
    assert_eq!(
        after.network_settings.as_ref().unwrap().ports.as_ref().unwrap()["8080/tcp"],
        before.network_settings.as_ref().unwrap().ports.as_ref().unwrap()["8080/tcp"],
        "the published port"
    );

    // The new image's defaults, where the user set nothing.
    assert_eq!(
        env_value(&new_env, "PATH"),
        Some("/opt/service/bin:/usr/local/bin:/usr/bin:/bin")
    );
    assert_eq!(env_value(&new_env, "SERVICE_VERSION"), Some("1.1.0"));
    assert_eq!(
        env_value(&new_env, "SERVICE_MODE"),
        None,
        "the old image's variable is gone"
    );
    assert_eq!(new_labels.get("fixture.generation").map(String::as_str), Some("two"));
    assert_eq!(new_config.working_dir.as_deref(), Some("/srv"));
    assert!(new_config.exposed_ports.unwrap().contains(&"9090/tcp".to_string()));

    // The data, and the health.
    assert_eq!(mount_at(&after, "/named").name, mount_at(&before, "/named").name);
    assert_eq!(mount_at(&after, "/data").name.as_deref(), Some(anonymous.as_str()));
    assert_eq!(exec(&engine, &name, "cat /named/file.txt").await.trim(), "named");
    assert_eq!(exec(&engine, &name, "cat /data/file.txt").await.trim(), "anonymous");
    assert_eq!(exec(&engine, &name, "cat /host/file.txt").await.trim(), "from the host");
    let health = after.state.unwrap().health.unwrap().status;
    assert_eq!(health, Some(HealthStatusEnum::HEALTHY));
    let phases: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| {
            format!("{p:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for phase in [
        "Pulling",
        "Stopping",
        "Recreating",
        "Starting",
        "WaitingHealthy",
        "RemovingOld",
    ] {
        assert!(phases.iter().any(|p| p == phase), "{phase} was reported: {phases:?}");
    }

    clean_up(&engine, &name).await;
    remove_network(&engine, &front).await;
    remove_network(&engine, &back).await;
}

#[tokio::test]
async fn containers_sharing_its_network_are_recreated_on_the_new_container() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-provider");
    let image = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    pull(&engine, &image).await;
    let network_name = format!("{name}-net");
    network(&engine, &network_name).await;
    let mut provider = plain(&image);
    provider.host_config = Some(HostConfig {
        network_mode: Some(network_name.clone()),
        ..Default::default()
    });
    run(&engine, &name, provider).await;
    let dependent_name = format!("{name}-sidecar");
    let mut dependent = plain(&image);
    dependent.host_config = Some(HostConfig {
        network_mode: Some(format!("container:{name}")),
        ..Default::default()
    });
    let dependent_id = run(&engine, &dependent_name, dependent).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();

    let plan = plan(&updater, &engine, &name).await;
    assert_eq!(plan.dependents, vec![dependent_name.clone()]);
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::Updated, "{outcome:#?}");
    let provider_after = inspect(&engine, &name).await;
    let sidecar = inspect(&engine, &dependent_name).await;
    assert_ne!(
        sidecar.id.as_deref(),
        Some(dependent_id.as_str()),
        "the sidecar was recreated"
    );
    assert!(is_running(&sidecar), "and runs");
    // Created with `container:<name>`, which the engine records as the new provider's ID.
    assert_eq!(
        sidecar.host_config.unwrap().network_mode,
        Some(format!("container:{}", provider_after.id.clone().unwrap())),
        "on the new provider"
    );
    assert_eq!(
        sidecar.config.unwrap().image.as_deref(),
        Some(image.as_str()),
        "its own image is unchanged"
    );
    // It really is in the new container's network: it sees the provider's address as its own.
    let provider_ip = provider_after.network_settings.clone().unwrap().networks.unwrap()[&network_name]
        .ip_address
        .clone()
        .unwrap();
    let sidecar_addresses = exec(&engine, &dependent_name, "cat /proc/net/fib_trie").await;
    assert!(
        sidecar_addresses.contains(&provider_ip),
        "{provider_ip} not in the sidecar's addresses:\n{sidecar_addresses}"
    );
    assert!(is_running(&provider_after));
    assert!(kept_aside(&engine, &name).await.is_empty() && kept_aside(&engine, &dependent_name).await.is_empty());

    clean_up(&engine, &name).await;
    remove_network(&engine, &network_name).await;
}

#[tokio::test]
async fn a_stopped_container_is_updated_and_left_stopped() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-stopped");
    let image = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    pull(&engine, &image).await;
    let id = run(&engine, &name, plain(&image)).await;
    engine.stop_container(&id, Some(1)).await.expect("stop it");
    let scratch = Scratch::new();
    let updater = scratch.updater();

    let outcome = apply(&updater, &engine, &plan(&updater, &engine, &name).await).await;

    assert_eq!(outcome.status, OutcomeStatus::Updated, "{outcome:#?}");
    let after = inspect(&engine, &name).await;
    assert_eq!(
        after.config.as_ref().unwrap().image,
        Some(format!("{}/{FIXTURE_PLAIN}:1.0.1", lab.open_registry()))
    );
    assert!(!is_running(&after), "it ran only for the health gate");
    assert!(engine.find_container(&id).await.unwrap().is_none());
    clean_up(&engine, &name).await;
}
