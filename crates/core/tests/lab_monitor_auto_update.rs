//! Automatic updates in the monitor (docs/updates.md#automatic-updates): after a check, the
//! monitor applies exactly the updates the policy allows (labels, else `[updates] auto`), through
//! the same path as the window's, says how each ended, and does not try a rolled-back one again.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use tidewatch_core::monitor::{outcome_notice, Monitor, MonitorEvents, MonitorPaths, MonitorState, NewUpdate};
use tidewatch_core::update::{OutcomeStatus, UpdateOutcome};
use tidewatch_lab::{Lab, FIXTURE_CRASHES, FIXTURE_PLAIN, FIXTURE_SERVICE};

/// Records what the monitor tells the shell about updates it ran.
#[derive(Default)]
struct Recorder {
    finished: Mutex<Vec<(UpdateOutcome, bool)>>,
    /// When the last outcome was told: the check the monitor asks for after it starts later.
    last_told_at: Mutex<Option<SystemTime>>,
}

impl MonitorEvents for Recorder {
    fn state_changed(&self, _: &MonitorState) {}
    fn new_updates(&self, _: &[NewUpdate]) {}
    fn update_finished(&self, outcome: &UpdateOutcome, automatic: bool) {
        self.finished.lock().unwrap().push((outcome.clone(), automatic));
        *self.last_told_at.lock().unwrap() = Some(SystemTime::now());
    }
}

fn labelled(image: &str, labels: &[(&str, &str)]) -> bollard::models::ContainerCreateBody {
    let mut body = plain(image);
    body.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    );
    body
}

async fn image_of(engine: &tidewatch_core::engine::Engine, name: &str) -> String {
    inspect(engine, name)
        .await
        .config
        .and_then(|c| c.image)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_monitor_applies_only_the_updates_the_policy_allows_and_says_how_each_ended() {
    let lab = Lab::require();
    // Checks look credentials up in the lab's keyring, never the developer's.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"));
    let engine = lab_engine(&lab).await;
    let prefix = unique("auto");
    let open = lab.open_registry();
    let plain_old = format!("{open}/{FIXTURE_PLAIN}:1.0.0");
    let service_old = format!("{open}/{FIXTURE_SERVICE}:1.0.0");
    let crashes_old = format!("{open}/{FIXTURE_CRASHES}:1.0.0");
    for image in [&plain_old, &service_old, &crashes_old] {
        pull(&engine, image).await;
    }
    let allowed = format!("{prefix}-patch-allowed");
    let too_big = format!("{prefix}-minor-refused");
    let by_default = format!("{prefix}-default-off");
    let watchtower = format!("{prefix}-watchtower-digest-only");
    let crashes = format!("{prefix}-crashes");
    // 1.0.0 → 1.0.1 is a patch update: allowed by `patch`.
    run(
        &engine,
        &allowed,
        labelled(&plain_old, &[("tidewatch.update.auto", "patch")]),
    )
    .await;
    // 1.0.0 → 1.1.0 is a minor update: not allowed by `patch`.
    run(
        &engine,
        &too_big,
        labelled(&service_old, &[("tidewatch.update.auto", "patch")]),
    )
    .await;
    // No label: the configuration's default, `off`.
    run(&engine, &by_default, plain(&plain_old)).await;
    // Watchtower's enable label maps to digest updates only: a patch update is not one.
    run(
        &engine,
        &watchtower,
        labelled(&plain_old, &[("com.centurylinklabs.watchtower.enable", "true")]),
    )
    .await;
    // Allowed, but its new version exits at start: rolled back, and said why.
    run(
        &engine,
        &crashes,
        labelled(&crashes_old, &[("tidewatch.update.auto", "all")]),
    )
    .await;

    let home = Scratch::new();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[engines]]\nname = \"lab\"\nhost = \"{}\"\n\n[updates]\nhealth_timeout = \"30s\"\n",
            lab.docker_host()
        ),
    )
    .expect("write the config");
    let recorder = Arc::new(Recorder::default());
    let monitor = Monitor::new(
        MonitorPaths {
            config,
            database: home.database(),
        },
        recorder.clone(),
    );
    let service = tokio::spawn(monitor.clone().run());

    // Both allowed updates end (one at a time on the engine) …
    let deadline = Instant::now() + Duration::from_secs(240);
    let ours = |all: &[(UpdateOutcome, bool)]| -> Vec<(UpdateOutcome, bool)> {
        all.iter()
            .filter(|(o, _)| o.container.starts_with(&prefix))
            .cloned()
            .collect()
    };
    loop {
        let finished = ours(&recorder.finished.lock().unwrap());
        if finished.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the allowed automatic updates did not end; so far: {finished:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // … and the check the monitor asks for after the last of them tries nothing more (not even
    // the rolled-back one again).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ended_at = recorder.last_told_at.lock().unwrap().expect("an outcome was told");
    let deadline = Instant::now() + Duration::from_secs(120);
    while monitor.state().last_check_at.is_none_or(|at| at < ended_at)
        || monitor.state().phase == tidewatch_core::monitor::Phase::Checking
    {
        assert!(Instant::now() < deadline, "no check ran after the automatic updates");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let finished = ours(&recorder.finished.lock().unwrap());
    let names: Vec<&str> = finished.iter().map(|(o, _)| o.container.as_str()).collect();
    assert_eq!(finished.len(), 2, "only the allowed ones, each once: {names:?}");
    assert!(finished.iter().all(|(_, automatic)| *automatic), "{finished:?}");

    let (applied, _) = finished
        .iter()
        .find(|(o, _)| o.container == allowed)
        .unwrap_or_else(|| panic!("{allowed} was updated automatically: {names:?}"));
    assert_eq!(applied.status, OutcomeStatus::Updated, "{applied:?}");
    assert_eq!(
        image_of(&engine, &allowed).await,
        format!("{open}/{FIXTURE_PLAIN}:1.0.1")
    );
    let notice = outcome_notice(applied);
    assert_eq!(notice.summary, format!("Updated {allowed}"));
    assert!(
        notice.body.contains("1.0.0 → ") && notice.body.ends_with(":1.0.1"),
        "{}",
        notice.body
    );

    let (rolled_back, _) = finished
        .iter()
        .find(|(o, _)| o.container == crashes)
        .unwrap_or_else(|| panic!("{crashes} was tried automatically: {names:?}"));
    assert_eq!(rolled_back.status, OutcomeStatus::RolledBack, "{rolled_back:?}");
    assert_eq!(image_of(&engine, &crashes).await, crashes_old, "it runs as before");
    assert!(is_running(&inspect(&engine, &crashes).await));
    let notice = outcome_notice(rolled_back);
    assert_eq!(notice.summary, format!("The update of {crashes} was rolled back"));
    assert!(
        notice.body.contains("exited"),
        "the notification says why: {}",
        notice.body
    );

    for (name, image) in [
        (&too_big, &service_old),
        (&by_default, &plain_old),
        (&watchtower, &plain_old),
    ] {
        assert_eq!(&image_of(&engine, name).await, image, "{name} was left alone");
    }

    service.abort();
    clean_up(&engine, &prefix).await;
}
