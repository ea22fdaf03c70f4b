//! When an update cannot or need not happen, nothing changes: a registry gone before the pull, an
//! image that turns out identical, a container removed after the plan, an unknown container, and
//! the containers preflight refuses (pinned, local only, Swarm, Kubernetes, `--rm`, up to date).

mod common;

use std::collections::HashMap;

use bollard::models::HostConfig;
use common::*;
use tidewatch_core::update::{OutcomeStatus, UpdateProgress};
use tidewatch_lab::registry::OwnRegistry;
use tidewatch_lab::{Lab, FIXTURE_LOCAL_ONLY, FIXTURE_PLAIN};

/// The container is exactly as it was: same ID, name, image, running.
async fn assert_untouched(
    engine: &tidewatch_core::engine::Engine,
    name: &str,
    before: &bollard::models::ContainerInspectResponse,
) {
    let after = inspect(engine, name).await;
    assert_eq!(after.id, before.id);
    assert_eq!(after.image, before.image);
    assert_eq!(after.config, before.config);
    assert_eq!(
        after.state.as_ref().and_then(|s| s.started_at.clone()),
        before.state.as_ref().and_then(|s| s.started_at.clone()),
        "never stopped or restarted"
    );
    assert!(is_running(&after));
    assert!(kept_aside(engine, name).await.is_empty());
}

#[tokio::test]
async fn a_pull_that_fails_because_the_registry_is_gone_changes_nothing() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let scratch = Scratch::new();
    let mut registry = OwnRegistry::start(&scratch.path().join("registry"));
    let name = unique("tw-update-pull-fails");
    let repository = format!("{}/{name}/plain", registry.addr);
    let open = lab.open_registry();
    copy_image(
        &engine,
        &format!("{open}/{FIXTURE_PLAIN}:1.0.0"),
        &format!("{repository}:1.0.0"),
    )
    .await;
    copy_image(
        &engine,
        &format!("{open}/{FIXTURE_PLAIN}:1.0.1"),
        &format!("{repository}:1.0.1"),
    )
    .await;
    run(&engine, &name, plain(&format!("{repository}:1.0.0"))).await;
    let before = inspect(&engine, &name).await;
    let updater = scratch.updater();
    let plan = plan(&updater, &engine, &name).await;
    assert_eq!(plan.target.reference, format!("{repository}:1.0.1"));

    registry.stop();
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed, "{outcome:#?}");
    let error = outcome.error.clone().unwrap();
    assert_eq!(error.code, "update_pull_failed", "{}", error.message);
    assert!(
        error.message.contains(&format!("{repository}:1.0.1")),
        "{}",
        error.message
    );
    assert_untouched(&engine, &name, &before).await;
    assert_eq!(
        scratch.open_journal_entries(),
        0,
        "nothing was journaled: nothing was touched"
    );
    let history = updater.history(Some(("lab", &name)), 5).await.unwrap();
    assert_eq!(history[0].outcome, "failed");

    clean_up(&engine, &name).await;
}

#[tokio::test]
async fn an_image_whose_id_did_not_change_is_not_applied() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let scratch = Scratch::new();
    let registry = OwnRegistry::start(&scratch.path().join("registry"));
    let name = unique("tw-update-same-image");
    let repository = format!("{name}/plain");
    let reference = format!("{}/{repository}:1.0.0", registry.addr);
    copy_image(
        &engine,
        &format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry()),
        &reference,
    )
    .await;
    run(&engine, &name, plain(&reference)).await;
    let before = inspect(&engine, &name).await;

    // The same image pushed again as an OCI manifest: the tag's digest moves, the image (its
    // configuration, hence its ID) is the same. Registries see this when an image is re-pushed.
    let url = format!("http://{}/v2/{repository}/manifests/1.0.0", registry.addr);
    let client = reqwest::Client::new();
    let manifest: serde_json::Value = client
        .get(&url)
        .header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut oci = manifest.clone();
    oci["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    oci["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    for layer in oci["layers"].as_array_mut().unwrap() {
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    }
    let put = client
        .put(&url)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&oci).unwrap())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let updater = scratch.updater();
    let plan = plan(&updater, &engine, &name).await;
    assert_eq!(plan.target.kind.as_str(), "digest", "the check sees the moved digest");
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::Unchanged, "{outcome:#?}");
    assert_eq!(outcome.image_id_after, before.image);
    assert_untouched(&engine, &name, &before).await;
    assert_eq!(scratch.open_journal_entries(), 0);

    clean_up(&engine, &name).await;
}

#[tokio::test]
async fn a_container_removed_between_plan_and_swap_is_reported_and_nothing_is_created() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-removed");
    let image = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    pull(&engine, &image).await;
    run(&engine, &name, plain(&image)).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();
    let plan = plan(&updater, &engine, &name).await;

    tidewatch_lab::containers::remove_container(engine.docker(), &name).await;
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::Failed, "{outcome:#?}");
    let error = outcome.error.unwrap();
    assert_eq!(error.code, "update_changed_since_plan");
    assert!(error.message.contains("removed"), "{}", error.message);
    assert!(
        engine.find_container(&name).await.unwrap().is_none(),
        "no container was created"
    );
    assert_eq!(scratch.open_journal_entries(), 0);
}

#[tokio::test]
async fn an_unknown_container_is_named_in_the_error() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let scratch = Scratch::new();
    let error = scratch
        .updater()
        .plan(&engine, "no-such-container-4e1f", None, &|_: UpdateProgress| {})
        .await
        .unwrap_err();
    assert_eq!(tidewatch_core::error::Coded::code(&error), "update_no_such_container");
    assert!(error.to_string().contains("no-such-container-4e1f"), "{error}");
}

#[tokio::test]
async fn containers_an_update_must_not_touch_are_refused_with_a_reason() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let old = format!("{open}/{FIXTURE_PLAIN}:1.0.0");
    let newest = format!("{open}/{FIXTURE_PLAIN}:1.0.1");
    pull(&engine, &old).await;
    pull(&engine, &newest).await;
    let digest = engine.find_image(&old).await.unwrap().unwrap().repo_digests.unwrap()[0].clone();
    let prefix = unique("tw-update-refused");
    let labelled = |key: &str, value: &str| {
        let mut body = plain(&old);
        body.labels = Some(HashMap::from([(key.to_string(), value.to_string())]));
        body
    };
    let mut auto_remove = plain(&old);
    auto_remove.host_config = Some(HostConfig {
        auto_remove: Some(true),
        ..Default::default()
    });
    let cases = [
        ("pinned", plain(&digest), "update_pinned", "pinned by digest"),
        ("local", plain(FIXTURE_LOCAL_ONLY), "update_local_only", "locally built"),
        ("current", plain(&newest), "update_up_to_date", "up to date"),
        (
            "swarm",
            labelled("com.docker.swarm.service.name", "stack_web"),
            "update_swarm",
            "update the service instead, on a Swarm manager (`tidewatch update stack_web",
        ),
        (
            "kube",
            labelled("io.kubernetes.pod.name", "web-5d4f"),
            "update_kubernetes",
            "Kubernetes",
        ),
        ("rm", auto_remove, "update_auto_remove", "--rm"),
        (
            "unwatched",
            labelled("tidewatch.enable", "false"),
            "update_not_watched",
            "not watched",
        ),
    ];
    let scratch = Scratch::new();
    let updater = scratch.updater();
    for (what, body, code, says) in cases {
        let name = format!("{prefix}-{what}");
        let mut body = body;
        if body.cmd.is_none() && what == "local" {
            body.cmd = Some(vec!["sleep".into(), "3600".into()]);
        }
        run(&engine, &name, body).await;
        let before = inspect(&engine, &name).await;
        let error = updater
            .plan(&engine, &name, None, &|_: UpdateProgress| {})
            .await
            .expect_err(what);
        assert_eq!(tidewatch_core::error::Coded::code(&error), code, "{what}: {error}");
        assert!(error.to_string().contains(says), "{what}: {error}");
        assert!(error.is_refusal(), "{what}");
        assert_untouched(&engine, &name, &before).await;
    }
    assert_eq!(scratch.open_journal_entries(), 0);
    clean_up(&engine, &prefix).await;
}

#[tokio::test]
async fn a_stale_verdict_is_checked_again_and_a_recent_one_is_acted_on() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-update-stale");
    let image = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    pull(&engine, &image).await;
    let id = run(&engine, &name, plain(&image)).await;
    let scratch = Scratch::new();
    let updater = scratch.updater();
    // What the app might hold: a verdict saying "up to date" (made before 1.0.1 was pushed, say).
    let verdict = |age: std::time::Duration| tidewatch_core::checker::ContainerResult {
        kind: tidewatch_core::checker::Kind::Container,
        stack: None,
        platforms: Vec::new(),
        replicas: None,
        rollout: None,
        engine: Some("lab".into()),
        id: Some(id.clone()),
        name: Some(name.clone()),
        image: image.clone(),
        upstream: image.parse().ok(),
        via: None,
        platform: None,
        local_digest: None,
        status: tidewatch_core::checker::Status::UpToDate,
        update: None,
        explanation: "recorded earlier".into(),
        error: None,
        checked_at: std::time::SystemTime::now() - age,
        display_name: None,
        release_notes: None,
    };
    let phases = std::sync::Mutex::new(Vec::new());
    let record = |p: UpdateProgress| phases.lock().unwrap().push(format!("{:?}", p.phase));

    let stale = verdict(tidewatch_core::update::RECHECK_AFTER + std::time::Duration::from_secs(60));
    let plan = updater
        .plan(&engine, &name, Some(&stale), &record)
        .await
        .expect("checked again, the update is found");
    assert_eq!(
        plan.target.reference,
        format!("{}/{FIXTURE_PLAIN}:1.0.1", lab.open_registry())
    );
    assert_eq!(phases.lock().unwrap().as_slice(), ["Checking"]);

    phases.lock().unwrap().clear();
    let recent = verdict(std::time::Duration::from_secs(5));
    let error = updater.plan(&engine, &name, Some(&recent), &record).await.unwrap_err();
    assert_eq!(tidewatch_core::error::Coded::code(&error), "update_up_to_date");
    assert!(
        phases.lock().unwrap().is_empty(),
        "a recent verdict is not checked again"
    );

    clean_up(&engine, &name).await;
}
