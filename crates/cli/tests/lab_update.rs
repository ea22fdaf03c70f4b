//! `tidewatch update` and `tidewatch rollback` end to end on the lab: asking first, the dry run's
//! plan, clear errors for bad input, and what happens when the updater is killed or its engine goes
//! away in the middle: the next start gives the container back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tidewatch_core::engine::Engine;
use tidewatch_core::store::Store;
use tidewatch_lab::{containers, Lab, FIXTURE_PLAIN, FIXTURE_SERVICE};

const PAUSE_AFTER: &str = tidewatch_core::update::PAUSE_AFTER_ENV;
const PAUSE_FILE: &str = tidewatch_core::update::PAUSE_FILE_ENV;

async fn start(engine: &Engine, image: &str, name: &str) -> String {
    pull(engine, image, None).await;
    start_plain(engine, image, name).await
}

/// A container of an update fixture, running its own command (not `sleep`), labelled for cleanup.
async fn start_plain(engine: &Engine, image: &str, name: &str) -> String {
    containers::remove_container(engine.docker(), name).await;
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some([(containers::LAB_LABEL.to_string(), "1".to_string())].into()),
        ..Default::default()
    };
    let id = engine.create_container(name, body).await.expect("create");
    engine.start_container(&id).await.expect("start");
    id
}

fn run_cli(sandbox: &Sandbox, lab: &Lab, args: &[&str]) -> Output {
    sandbox
        .tidewatch(lab)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tidewatch")
}

fn journal_entries(sandbox: &Sandbox) -> usize {
    Store::open(&sandbox.data_dir().join("tidewatch.db"))
        .expect("open the database")
        .journal_entries()
        .expect("read the journal")
        .len()
}

async fn container_named(engine: &Engine, name: &str) -> Option<bollard::models::ContainerInspectResponse> {
    engine.find_container(name).await.expect("inspect")
}

fn running(inspect: &bollard::models::ContainerInspectResponse) -> bool {
    inspect.state.as_ref().and_then(|s| s.running).unwrap_or(false)
}

/// Containers the update put aside for `name` (`<name>-tidewatch-old-…`).
async fn aside(engine: &Engine, name: &str) -> Vec<String> {
    engine
        .container_summaries()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|s| s.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| n.starts_with(&format!("{name}-tidewatch-old-")))
        .collect()
}

/// Waits until the paused updater wrote its pause file.
fn wait_for_pause(file: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the updater ended ({status}) before it paused");
        }
        assert!(Instant::now() < deadline, "the updater never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn an_update_is_refused_when_nobody_can_be_asked_and_yes_was_not_given() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-ask");
    let id = start(
        &engine,
        &format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry()),
        &name,
    )
    .await;
    let sandbox = Sandbox::new();

    let output = run_cli(&sandbox, &lab, &["update", &name, "--engine", lab.docker_host()]);

    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not a terminal") && stderr.contains("--yes"),
        "{stderr}"
    );
    assert_eq!(
        container_named(&engine, &name).await.unwrap().id.as_deref(),
        Some(id.as_str())
    );
    containers::remove_container(engine.docker(), &id).await;
}

#[tokio::test]
async fn a_dry_run_prints_the_image_change_and_every_field_that_changes_and_touches_nothing() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-dry");
    let image = format!("{}/{FIXTURE_SERVICE}:1.0.0", lab.open_registry());
    let id = start(&engine, &image, &name).await;
    let sandbox = Sandbox::new();

    let output = run_cli(
        &sandbox,
        &lab,
        &["update", &name, "--dry-run", "--engine", lab.docker_host()],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "{name}: {image} -> {}/{FIXTURE_SERVICE}:1.1.0 (minor)",
            lab.open_registry()
        )),
        "{stdout}"
    );
    for line in [
        "Config.Env PATH: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -> /opt/service/bin:/usr/local/bin:/usr/bin:/bin",
        "Config.Env SERVICE_MODE: classic -> (not set)",
        "Config.Labels fixture.generation: one -> two",
        "Config.WorkingDir: / -> /srv",
        "Mounts /data: anonymous volume",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }

    let json = run_cli(
        &sandbox,
        &lab,
        &["update", &name, "--dry-run", "--json", "--engine", lab.docker_host()],
    );
    assert!(json.status.success(), "{}", text(&json.stderr));
    let document = json_of(&json);
    assert_eq!(document["dry_run"], true);
    let changes = document["plans"][0]["changes"].as_array().expect("changes");
    assert!(
        changes.iter().any(|c| c["field"] == "Config.Env SERVICE_VERSION"
            && c["after"] == "1.1.0"
            && c["reason"] == "new_image_default"),
        "{document:#}"
    );
    assert_eq!(document["results"], serde_json::json!([]));

    let after = container_named(&engine, &name).await.unwrap();
    assert_eq!(after.id.as_deref(), Some(id.as_str()), "a dry run changes nothing");
    assert_eq!(journal_entries(&sandbox), 0);
    containers::remove_container(engine.docker(), &id).await;
}

#[tokio::test]
async fn an_unknown_container_is_a_clear_error_and_nothing_is_done() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let output = run_cli(
        &sandbox,
        &lab,
        &[
            "update",
            "no-such-container-7d1",
            "--yes",
            "--engine",
            lab.docker_host(),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no container named or with the ID \"no-such-container-7d1\""),
        "{stderr}"
    );
    let rollback = run_cli(
        &sandbox,
        &lab,
        &[
            "rollback",
            "no-such-container-7d1",
            "--yes",
            "--engine",
            lab.docker_host(),
        ],
    );
    assert_eq!(rollback.status.code(), Some(2), "{}", text(&rollback.stderr));
}

#[tokio::test]
async fn an_update_and_its_rollback_report_through_the_exit_status_and_json() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-json");
    let old = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    let id = start(&engine, &old, &name).await;
    let sandbox = Sandbox::new();

    let output = run_cli(
        &sandbox,
        &lab,
        &[
            "update",
            &name,
            "--yes",
            "--json",
            "--health-timeout",
            "30s",
            "--engine",
            lab.docker_host(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let document = json_of(&output);
    assert_eq!(document["results"][0]["status"], "updated", "{document:#}");
    assert_eq!(document["results"][0]["container_id_before"], id);
    assert_eq!(document["summary"]["updated"], 1);
    assert_eq!(
        document["plans"][0]["target"]["reference"],
        format!("{}/{FIXTURE_PLAIN}:1.0.1", lab.open_registry())
    );

    let rollback = run_cli(
        &sandbox,
        &lab,
        &["rollback", &name, "--yes", "--engine", lab.docker_host()],
    );
    assert_eq!(rollback.status.code(), Some(0), "{}", text(&rollback.stderr));
    assert!(
        text(&rollback.stdout).contains("rollback done"),
        "{}",
        text(&rollback.stdout)
    );
    let after = container_named(&engine, &name).await.unwrap();
    assert_eq!(after.config.unwrap().image.as_deref(), Some(old.as_str()));

    // Nothing left to roll back: refused, exit status 1.
    let again = run_cli(
        &sandbox,
        &lab,
        &["rollback", &name, "--yes", "--engine", lab.docker_host()],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stdout));
    assert!(
        text(&again.stdout).contains("no update to roll back"),
        "{}",
        text(&again.stdout)
    );
    containers::remove_container(engine.docker(), &name).await;
}

#[tokio::test]
async fn an_updater_killed_right_after_the_rename_is_undone_at_the_next_start() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-killed");
    let id = start(
        &engine,
        &format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry()),
        &name,
    )
    .await;
    let sandbox = Sandbox::new();
    let pause = sandbox.dir.path().join("paused");

    let mut child = sandbox
        .tidewatch(&lab)
        .args(["update", &name, "--yes", "--engine", lab.docker_host()])
        .env(PAUSE_AFTER, "renaming")
        .env(PAUSE_FILE, &pause)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tidewatch update");
    wait_for_pause(&pause, &mut child);
    child.kill().expect("SIGKILL the updater");
    child.wait().unwrap();

    // Killed mid-update: the container is stopped and renamed aside, the journal says so.
    assert!(
        container_named(&engine, &name).await.is_none(),
        "renamed away from its name"
    );
    let kept = aside(&engine, &name).await;
    assert_eq!(kept.len(), 1, "kept aside, not lost: {kept:?}");
    assert_eq!(journal_entries(&sandbox), 1);

    // The next start of the CLI gives it back and says so.
    let output = run_cli(&sandbox, &lab, &["check", "--engine", lab.docker_host()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("restored {name}")), "{stderr}");
    let restored = container_named(&engine, &name).await.expect("back under its name");
    assert_eq!(restored.id.as_deref(), Some(id.as_str()), "the original container");
    assert!(running(&restored));
    assert!(aside(&engine, &name).await.is_empty());
    assert_eq!(journal_entries(&sandbox), 0);
    containers::remove_container(engine.docker(), &id).await;
}

/// A Unix socket that forwards to the lab engine's, and can be cut off (every connection
/// dropped) to play an engine that goes away.
struct SocketProxy {
    path: PathBuf,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl SocketProxy {
    fn start(path: &Path, engine_socket: &Path) -> SocketProxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).expect("bind the proxy socket");
        let cut = Arc::new(AtomicBool::new(false));
        let (target, flag) = (engine_socket.to_path_buf(), cut.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::UnixStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
            connections.abort_all();
        });
        SocketProxy {
            path: path.to_path_buf(),
            cut,
            task,
        }
    }

    /// Drops every connection and stops listening: the engine no longer answers here.
    fn cut(self) {
        self.cut.store(true, Ordering::SeqCst);
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_goes_away_mid_update_is_reported_and_the_container_given_back_later() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-gone");
    let id = start(
        &engine,
        &format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry()),
        &name,
    )
    .await;
    let sandbox = Sandbox::new();
    let engine_socket = PathBuf::from(lab.docker_host().trim_start_matches("unix://"));
    let proxy_path = sandbox.dir.path().join("engine.sock");
    let proxy = SocketProxy::start(&proxy_path, &engine_socket);
    let via_proxy = format!("unix://{}", proxy_path.display());
    let pause = sandbox.dir.path().join("paused");

    let mut child = sandbox
        .tidewatch(&lab)
        .args(["update", &name, "--yes", "--engine", &via_proxy])
        .env(PAUSE_AFTER, "renaming")
        .env(PAUSE_FILE, &pause)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tidewatch update");
    let waiting = tokio::task::spawn_blocking({
        let pause = pause.clone();
        move || {
            wait_for_pause(&pause, &mut child);
            child
        }
    });
    let child = waiting.await.unwrap();
    proxy.cut();
    std::fs::remove_file(&pause).expect("let the updater go on");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();

    assert_eq!(
        output.status.code(),
        Some(3),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("interrupted") && stdout.contains("Nothing is lost"),
        "{stdout}"
    );
    assert_eq!(journal_entries(&sandbox), 1, "the journal keeps what to restore");
    let kept = aside(&engine, &name).await;
    assert_eq!(kept.len(), 1, "the old container is kept aside: {kept:?}");

    // The engine is back: the next start restores the container.
    let _proxy = SocketProxy::start(&proxy_path, &engine_socket);
    let output = tokio::task::spawn_blocking({
        let sandbox_config = sandbox.tidewatch(&lab);
        let via_proxy = via_proxy.clone();
        move || {
            let mut command = sandbox_config;
            command
                .args(["check", "--engine", &via_proxy])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(&format!("restored {name}")),
        "{}",
        text(&output.stderr)
    );
    let restored = container_named(&engine, &name).await.expect("back under its name");
    assert_eq!(restored.id.as_deref(), Some(id.as_str()));
    assert!(running(&restored));
    assert_eq!(journal_entries(&sandbox), 0);
    containers::remove_container(engine.docker(), &id).await;
}

#[tokio::test]
async fn an_update_pulls_with_the_credentials_a_check_uses() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-basic");
    let basic = lab.basic_registry();
    let (user, password) = (
        lab.var("TIDEWATCH_LAB_BASIC_USER"),
        lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"),
    );
    let image = format!("{basic}/{FIXTURE_PLAIN}:1.0.0");
    pull(&engine, &image, Some((basic, user, password))).await;
    start_plain(&engine, &image, &name).await;
    let sandbox = Sandbox::new();

    // Without credentials the registry answers no one: the check cannot see an update, so
    // preflight refuses and nothing is touched.
    let refused = run_cli(
        &sandbox,
        &lab,
        &["update", &name, "--yes", "--engine", lab.docker_host()],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stdout).contains("refused"), "{}", text(&refused.stdout));

    // With them in the Docker config, the check and then the engine's pull (which gets them from
    // Tidewatch: the engine keeps none) go through.
    sandbox.write_docker_auth(basic, user, password);
    let output = run_cli(
        &sandbox,
        &lab,
        &["update", &name, "--yes", "--engine", lab.docker_host()],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let after = container_named(&engine, &name).await.unwrap();
    assert_eq!(
        after.config.unwrap().image,
        Some(format!("{basic}/{FIXTURE_PLAIN}:1.0.1"))
    );
    containers::remove_container(engine.docker(), &name).await;
}

#[tokio::test]
async fn a_mirror_without_the_new_version_is_named_and_nothing_is_touched() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let sandbox = Sandbox::new();
    let mirror = tidewatch_lab::registry::OwnRegistry::start(&sandbox.dir.path().join("mirror"));
    let name = unique("tw-cli-mirror");
    let open = lab.open_registry();
    // The mirror holds the version the container runs, not the newer one its upstream has.
    let old = format!("{open}/{FIXTURE_PLAIN}:1.0.0");
    pull(&engine, &old, None).await;
    let mirrored = format!("{}/{FIXTURE_PLAIN}:1.0.0", mirror.addr);
    engine
        .tag_image(&old, &format!("{}/{FIXTURE_PLAIN}", mirror.addr), "1.0.0")
        .await
        .unwrap();
    let mut push = engine.docker().push_image(
        &format!("{}/{FIXTURE_PLAIN}", mirror.addr),
        Some(
            bollard::query_parameters::PushImageOptionsBuilder::default()
                .tag("1.0.0")
                .build(),
        ),
        None,
    );
    while let Some(step) = futures_util::StreamExt::next(&mut push).await {
        step.expect("push to the mirror");
    }
    let id = start_plain(&engine, &mirrored, &name).await;
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{}\"\nupstream = \"{open}\"\nquery = \"upstream-first\"\n",
        mirror.addr
    ));

    let output = run_cli(
        &sandbox,
        &lab,
        &["update", &name, "--yes", "--engine", lab.docker_host()],
    );

    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("{}/{FIXTURE_PLAIN}:1.0.1", mirror.addr)),
        "pulled through the mirror's name: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "pulled through the mirror {}, which may not have this version yet",
            mirror.addr
        )),
        "{stdout}"
    );
    let after = container_named(&engine, &name).await.unwrap();
    assert_eq!(after.id.as_deref(), Some(id.as_str()));
    assert!(running(&after));
    containers::remove_container(engine.docker(), &id).await;
}

#[tokio::test]
async fn update_all_plans_every_container_with_an_update() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let name = unique("tw-cli-all");
    let id = start(
        &engine,
        &format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry()),
        &name,
    )
    .await;
    let sandbox = Sandbox::new();

    // A dry run: other tests' containers share the lab engine, and must not be touched.
    let output = run_cli(
        &sandbox,
        &lab,
        &["update", "--all", "--dry-run", "--json", "--engine", lab.docker_host()],
    );
    let document = json_of(&output);
    let planned: Vec<&str> = document["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .filter_map(|p| p["container"].as_str())
        .collect();
    assert!(planned.contains(&name.as_str()), "{planned:?}");
    assert_eq!(
        container_named(&engine, &name).await.unwrap().id.as_deref(),
        Some(id.as_str())
    );
    containers::remove_container(engine.docker(), &id).await;
}
