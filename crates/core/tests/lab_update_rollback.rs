//! An update whose new container fails is rolled back: the original container runs again under
//! its name, with its original ID, configuration, networks and data; nothing is left behind.

mod common;

use std::collections::HashMap;

use bollard::models::{EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig};
use common::*;
use tidewatch_core::update::{OutcomeStatus, UpdateProgress};
use tidewatch_lab::{Lab, FIXTURE_CRASHES, FIXTURE_PLAIN, FIXTURE_SICKENS};

/// Starts `name` from `image` on its own network (an alias and a static IP) with a named volume
/// holding a file; returns the network's name and the static IP.
async fn start_with_network_and_data(
    engine: &tidewatch_core::engine::Engine,
    name: &str,
    image: &str,
) -> (String, String) {
    let network_name = format!("{name}-net");
    let prefix = network(engine, &network_name).await;
    let ip = format!("{prefix}.37");
    let mut body = plain(image);
    body.host_config = Some(HostConfig {
        network_mode: Some(network_name.clone()),
        binds: Some(vec![format!("{name}-data:/kept")]),
        ..Default::default()
    });
    body.networking_config = Some(NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network_name.clone(),
            EndpointSettings {
                aliases: Some(vec!["backend".into()]),
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(ip.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    });
    run(engine, name, body).await;
    exec(engine, name, "echo precious > /kept/file.txt").await;
    (network_name, ip)
}

async fn assert_runs_as_before(
    engine: &tidewatch_core::engine::Engine,
    name: &str,
    before: &bollard::models::ContainerInspectResponse,
    network_name: &str,
    ip: &str,
) {
    let after = inspect(engine, name).await;
    assert_eq!(after.id, before.id, "the original container, not a copy");
    assert!(is_running(&after), "it runs again");
    assert_eq!(after.config, before.config);
    assert_eq!(after.host_config, before.host_config);
    let endpoint = &after.network_settings.as_ref().unwrap().networks.as_ref().unwrap()[network_name];
    assert_eq!(endpoint.ip_address.as_deref(), Some(ip), "its static IP");
    assert!(
        endpoint.aliases.iter().flatten().any(|a| a == "backend"),
        "its alias: {:?}",
        endpoint.aliases
    );
    assert_eq!(exec(engine, name, "cat /kept/file.txt").await.trim(), "precious");
    assert!(kept_aside(engine, name).await.is_empty(), "nothing left aside");
}

#[tokio::test]
async fn a_new_image_that_exits_at_start_is_rolled_back_to_the_original_container() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-exits");
    let old = format!("{}/{FIXTURE_CRASHES}:1.0.0", lab.open_registry());
    pull(&engine, &old).await;
    let (network_name, ip) = start_with_network_and_data(&engine, &name, &old).await;
    let before = inspect(&engine, &name).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();

    let plan = plan(&updater, &engine, &name).await;
    assert_eq!(
        plan.target.reference,
        format!("{}/{FIXTURE_CRASHES}:1.0.1", lab.open_registry())
    );
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::RolledBack, "{outcome:#?}");
    let error = outcome.error.clone().unwrap();
    assert_eq!(error.code, "update_new_container_exited", "{}", error.message);
    assert!(error.message.contains("status 3"), "{}", error.message);
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.contains("fatal: crashes 1.0.1 cannot start")),
        "the new container's last lines: {:?}",
        outcome.logs
    );
    assert_runs_as_before(&engine, &name, &before, &network_name, &ip).await;
    assert_eq!(scratch.open_journal_entries(), 0, "the journal is closed");
    let history = updater.history(Some(("lab", &name)), 10).await.unwrap();
    assert_eq!(history[0].outcome, "rolled_back");

    clean_up(&engine, &name).await;
    remove_network(&engine, &network_name).await;
}

#[tokio::test]
async fn a_new_image_that_turns_unhealthy_is_rolled_back_to_the_original_container() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-sickens");
    let old = format!("{}/{FIXTURE_SICKENS}:1.0.0", lab.open_registry());
    pull(&engine, &old).await;
    let (network_name, ip) = start_with_network_and_data(&engine, &name, &old).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();
    let plan = plan(&updater, &engine, &name).await;
    let before = inspect(&engine, &name).await;

    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::RolledBack, "{outcome:#?}");
    let error = outcome.error.clone().unwrap();
    assert_eq!(error.code, "update_new_container_unhealthy", "{}", error.message);
    assert!(error.message.contains("runs as before"), "{}", error.message);
    assert_runs_as_before(&engine, &name, &before, &network_name, &ip).await;
    assert_eq!(scratch.open_journal_entries(), 0);

    clean_up(&engine, &name).await;
    remove_network(&engine, &network_name).await;
}

#[tokio::test]
async fn the_last_update_is_rolled_back_to_the_image_it_ran_before_and_only_once() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-undo");
    let old = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    pull(&engine, &old).await;
    let mut body = plain(&old);
    body.env = Some(vec!["MINE=1".into()]);
    body.host_config = Some(HostConfig {
        binds: Some(vec![format!("{name}-data:/kept")]),
        ..Default::default()
    });
    run(&engine, &name, body).await;
    exec(&engine, &name, "echo precious > /kept/file.txt").await;
    let before = inspect(&engine, &name).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();
    let updated = apply(&updater, &engine, &plan(&updater, &engine, &name).await).await;
    assert_eq!(updated.status, OutcomeStatus::Updated, "{updated:#?}");

    let outcome = updater.rollback(&engine, &name, &|_: UpdateProgress| {}).await;

    assert_eq!(outcome.status, OutcomeStatus::Updated, "{outcome:#?}");
    let after = inspect(&engine, &name).await;
    assert_eq!(after.image, before.image, "the image it ran before");
    let config = after.config.clone().unwrap();
    assert_eq!(config.image.as_deref(), Some(old.as_str()));
    let env = config.env.unwrap();
    assert!(env.contains(&"MINE=1".to_string()), "{env:?}");
    assert!(
        env.contains(&"PLAIN_VERSION=1.0.0".to_string()),
        "the old image's defaults again: {env:?}"
    );
    assert!(is_running(&after));
    assert_eq!(exec(&engine, &name, "cat /kept/file.txt").await.trim(), "precious");
    let history = updater.history(Some(("lab", &name)), 5).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.action.as_str(), h.outcome.as_str()))
            .collect::<Vec<_>>(),
        [("rollback", "updated"), ("update", "updated")]
    );

    let again = updater.rollback(&engine, &name, &|_: UpdateProgress| {}).await;
    assert_eq!(again.status, OutcomeStatus::Refused, "{again:#?}");
    assert_eq!(again.error.unwrap().code, "update_no_rollback");
    assert_eq!(inspect(&engine, &name).await.id, after.id, "nothing was touched");

    clean_up(&engine, &name).await;
}
