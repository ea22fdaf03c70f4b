//! Swarm services on the lab's single-node Swarm (docs/swarm.md): listed beside containers as their
//! own kind, grouped by stack, checked with Swarm's shape (tag and deploy-time digest), updated and
//! rolled back through Swarm's own rollout by `tidewatch update` / `tidewatch rollback`.

mod common;

use common::swarm::{create_service, deploy_stack, docker, inspect, run, running_images, spec_image, wait_running};
use common::*;
use serde_json::Value;
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_lab::{Lab, FIXTURE_CRASHES};

/// `tidewatch check --json` of the lab's Swarm manager, and the entries whose name starts with `prefix`.
fn check_swarm(lab: &Lab, sandbox: &Sandbox, prefix: &str) -> Vec<Value> {
    let output = sandbox
        .tidewatch(lab)
        .args(["check", "--json", "--engine", lab.swarm_docker_host()])
        .output()
        .expect("run tidewatch check");
    assert!(output.status.success(), "{}", text(&output.stderr));
    json_of(&output)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .cloned()
        .collect()
}

fn entry<'a>(entries: &'a [Value], name: &str) -> &'a Value {
    entries
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the check: {entries:#?}"))
}

#[tokio::test]
async fn a_service_on_an_old_tag_shows_the_update_grouped_by_its_stack_and_its_tasks_are_not_containers() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let mirror = lab.mirror_registry();
    let stack = unique("stack").replace('-', "");
    // The host network: a stack's default network would be an overlay, which this needs not.
    let compose = format!(
        r#"version: "3.8"
services:
  old:
    image: {open}/fixtures/app:1.25.3
    networks: [outside]
    deploy:
      labels:
        wud.display.name: "Old app"
  current:
    image: {open}/fixtures/web:1.10.0
    networks: [outside]
  cached:
    image: {mirror}/fixtures/app:1.25.3
    networks: [outside]
  ignored:
    image: {open}/fixtures/app:1.25.3
    networks: [outside]
    deploy:
      labels:
        tidewatch.enable: "false"
networks:
  outside:
    external: true
    name: host
"#
    );
    let _stack = deploy_stack(&lab, &stack, &compose, &["old", "current", "cached", "ignored"]);
    let sandbox = Sandbox::new();
    sandbox.write_config(&format!("[[mirrors]]\nmirror = \"{mirror}\"\nupstream = \"{open}\"\n"));

    let entries = check_swarm(&lab, &sandbox, &stack);
    let names: Vec<&str> = entries.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        entries.len(),
        3,
        "three services, no task container, nothing for the service a label turned off: {names:?}"
    );

    let old = entry(&entries, &format!("{stack}_old"));
    assert_eq!(old["kind"], "service");
    assert_eq!(old["stack"], stack.as_str());
    assert_eq!(old["status"], "update_available", "{old:#}");
    assert_eq!(old["update"]["kind"], "patch");
    assert_eq!(old["update"]["tag"], "1.25.4");
    let deployed = get_manifest(open, "fixtures/app", "1.25.3").await.digest;
    assert_eq!(
        old["image"],
        format!("{open}/fixtures/app:1.25.3@{deployed}"),
        "the spec's image as Swarm keeps it: the tag and the digest Docker resolved"
    );
    assert_eq!(old["local_digest"], deployed.as_str());
    assert_eq!(
        old["upstream"],
        format!("{open}/fixtures/app:1.25.3"),
        "followed by its tag"
    );
    assert_eq!(old["platforms"], serde_json::json!(["linux/amd64"]));

    let current = entry(&entries, &format!("{stack}_current"));
    assert_eq!(current["status"], "up_to_date", "{current:#}");
    assert!(
        current["explanation"]
            .as_str()
            .unwrap()
            .contains("still points at the local digest"),
        "{current:#}"
    );

    let cached = entry(&entries, &format!("{stack}_cached"));
    assert_eq!(cached["status"], "update_available", "{cached:#}");
    assert_eq!(
        cached["upstream"],
        format!("{open}/fixtures/app:1.25.3"),
        "mirror rules apply"
    );
    assert_eq!(cached["via"], format!("{open}/fixtures/app"));
}

#[tokio::test]
async fn a_service_whose_image_moved_only_on_another_platform_is_up_to_date() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let run_name = unique("platforms");
    let other_repo = format!("tests/{run_name}-other");
    let mine_repo = format!("tests/{run_name}-mine");
    copy_image(open, "fixtures/multi", "1.0", &other_repo, Some("current")).await;
    copy_image(open, "fixtures/multi", "1.0", &mine_repo, Some("current")).await;
    let _other = create_service(
        &lab,
        &format!("{run_name}-other"),
        &format!("{open}/{other_repo}:current"),
        &[],
    );
    let _mine = create_service(
        &lab,
        &format!("{run_name}-mine"),
        &format!("{open}/{mine_repo}:current"),
        &[],
    );
    let deployed = get_manifest(open, &other_repo, "current").await;
    assert!(
        spec_image(&lab, &format!("{run_name}-other")).ends_with(&deployed.digest),
        "Swarm recorded the index's digest"
    );

    // Each tag gets a new index: one where only arm64's entry changed, one where amd64's did
    // (the node this single-node Swarm runs on is amd64).
    let moved = |repo_entry: &str, to: &str| {
        let mut json: Value = serde_json::from_slice(&deployed.bytes).unwrap();
        let entries = json["manifests"].as_array_mut().unwrap();
        let source = entries
            .iter()
            .find(|m| m["platform"]["architecture"] == to)
            .unwrap()
            .clone();
        let target = entries
            .iter_mut()
            .find(|m| m["platform"]["architecture"] == repo_entry)
            .unwrap();
        target["digest"] = source["digest"].clone();
        target["size"] = source["size"].clone();
        serde_json::to_vec(&json).unwrap()
    };
    put_manifest(
        open,
        &other_repo,
        "current",
        &deployed.media_type,
        &moved("arm64", "amd64"),
    )
    .await;
    put_manifest(
        open,
        &mine_repo,
        "current",
        &deployed.media_type,
        &moved("amd64", "arm64"),
    )
    .await;

    let sandbox = Sandbox::new();
    let entries = check_swarm(&lab, &sandbox, &run_name);
    let other = entry(&entries, &format!("{run_name}-other"));
    assert_eq!(other["status"], "up_to_date", "{other:#}");
    assert_eq!(
        other["platforms"],
        serde_json::json!(["linux/amd64"]),
        "the node's platform"
    );
    assert!(
        other["explanation"]
            .as_str()
            .unwrap()
            .contains("only for other platforms: linux/amd64 is still"),
        "{other:#}"
    );
    let mine = entry(&entries, &format!("{run_name}-mine"));
    assert_eq!(mine["status"], "update_available", "{mine:#}");
    assert_eq!(mine["update"]["kind"], "digest");
}

#[tokio::test]
async fn an_update_to_a_new_tag_completes_through_swarm_and_rolls_back_on_request() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("update");
    // A failure action of `pause` that Tidewatch must replace with `rollback`.
    let _service = create_service(
        &lab,
        &name,
        &format!("{open}/fixtures/app:1.25.3"),
        &["--update-failure-action", "pause", "--update-parallelism", "1"],
    );
    let before = spec_image(&lab, &name);
    let version = inspect(&lab, &name)["Version"]["Index"].clone();
    let sandbox = Sandbox::new();
    let new_digest = get_manifest(open, "fixtures/app", "1.25.4").await.digest;
    let expected = format!("{open}/fixtures/app:1.25.4@{new_digest}");

    // The dry run: the same plan as a container's, with the spec fields Swarm would be given.
    let output = sandbox
        .tidewatch(&lab)
        .args([
            "update",
            &name,
            "--engine",
            lab.swarm_docker_host(),
            "--dry-run",
            "--json",
        ])
        .output()
        .expect("run tidewatch update --dry-run");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report = json_of(&output);
    let plan = &report["plans"][0];
    assert_eq!(plan["method"], "swarm", "{plan:#}");
    assert_eq!(plan["container"], name.as_str());
    assert_eq!(plan["image"], before.as_str());
    assert_eq!(plan["target"]["reference"], expected.as_str());
    assert_eq!(plan["target"]["kind"], "patch");
    assert_eq!(plan["service"]["replicas"]["desired"], 1);
    let changes: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["after"].as_str().unwrap_or("")))
        .collect();
    assert!(
        changes.contains(&("TaskTemplate.ContainerSpec.Image", expected.as_str()))
            && changes.contains(&("UpdateConfig.FailureAction", "rollback")),
        "{changes:?}"
    );
    assert_eq!(
        inspect(&lab, &name)["Version"]["Index"],
        version,
        "a dry run changes nothing"
    );

    let output = sandbox
        .tidewatch(&lab)
        .args(["update", &name, "--engine", lab.swarm_docker_host(), "--yes"])
        .output()
        .expect("run tidewatch update");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(&format!("{name}: Swarm: completed")),
        "the rollout is followed: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains(&format!(
            "{name}: update done through Swarm: the service runs {expected}"
        )),
        "{}",
        text(&output.stdout)
    );

    let service = inspect(&lab, &name);
    assert_eq!(
        service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
        expected.as_str()
    );
    assert_eq!(service["Spec"]["UpdateConfig"]["FailureAction"], "rollback");
    assert!(service["Spec"]["UpdateConfig"]["Monitor"].as_u64().unwrap() >= 10_000_000_000);
    assert_eq!(
        service["Spec"]["UpdateConfig"]["Parallelism"], 1,
        "the rest of the user's config stays"
    );
    assert_eq!(service["UpdateStatus"]["State"], "completed");
    wait_running(&lab, &name);
    assert_eq!(running_images(&lab, &name), std::slice::from_ref(&expected));
    let entries = check_swarm(&lab, &sandbox, &name);
    assert_eq!(entry(&entries, &name)["status"], "up_to_date");

    // Rolled back through Swarm: the previous spec comes back.
    let output = sandbox
        .tidewatch(&lab)
        .args([
            "rollback",
            &name,
            "--engine",
            lab.swarm_docker_host(),
            "--yes",
            "--json",
        ])
        .output()
        .expect("run tidewatch rollback");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let result = &json_of(&output)["results"][0];
    assert_eq!(result["action"], "rollback", "{result:#}");
    assert_eq!(result["status"], "updated");
    assert_eq!(result["method"], "swarm");
    assert_eq!(result["image_before"], expected.as_str());
    assert_eq!(result["image_after"], before.as_str());
    assert_eq!(spec_image(&lab, &name), before);
    assert_eq!(inspect(&lab, &name)["UpdateStatus"]["State"], "rollback_completed");
    wait_running(&lab, &name);
    assert_eq!(running_images(&lab, &name), std::slice::from_ref(&before));

    // Both are in the update history, as a container's would be.
    let store = tidewatch_core::store::Store::open(&sandbox.data_dir().join(tidewatch_core::store::DB_FILE_NAME))
        .expect("open the sandbox's database");
    let history = store.update_history(None, 10).expect("read the history");
    let rows: Vec<(&str, &str, &str, &str)> = history
        .iter()
        .filter(|row| row.container == name)
        .map(|row| {
            (
                row.action.as_str(),
                row.outcome.as_str(),
                row.image_before.as_str(),
                row.image_after.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("rollback", "updated", expected.as_str(), before.as_str()),
            ("update", "updated", before.as_str(), expected.as_str()),
        ],
        "newest first"
    );

    // Swarm's rollback of a rollback would bring the update back: refused, nothing changes.
    let output = sandbox
        .tidewatch(&lab)
        .args(["rollback", &name, "--engine", lab.swarm_docker_host(), "--yes"])
        .output()
        .expect("run tidewatch rollback");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains(&format!("{name}: refused: "))
            && text(&output.stdout).contains("already rolled back"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(spec_image(&lab, &name), before);
}

#[tokio::test]
async fn an_update_to_an_image_that_exits_is_rolled_back_by_swarm_and_reported_as_such() {
    let lab = Lab::require();
    let open = lab.open_registry();
    // 1.0.0 runs; 1.0.1 exits with status 3 as it starts.
    let (repository, runs, exits) = (FIXTURE_CRASHES, "1.0.0", "1.0.1");
    let name = unique("exits");
    let _service = create_service(&lab, &name, &format!("{open}/{repository}:{runs}"), &[]);
    let before = spec_image(&lab, &name);

    let sandbox = Sandbox::new();
    let output = sandbox
        .tidewatch(&lab)
        .args(["update", &name, "--engine", lab.swarm_docker_host(), "--yes", "--json"])
        .output()
        .expect("run tidewatch update");
    assert_eq!(output.status.code(), Some(1), "not updated: {}", text(&output.stderr));
    let report = json_of(&output);
    let result = &report["results"][0];
    assert_eq!(result["status"], "rolled_back", "{result:#}");
    assert_eq!(result["method"], "swarm");
    assert_eq!(result["error"]["code"], "update_swarm_rolled_back");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "the update of the service {name} to {open}/{repository}:{exits}@"
        )) && message.contains("failed and Swarm rolled it back to")
            && message.contains("non-zero exit (3)"),
        "{message}"
    );
    assert!(
        result["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("non-zero exit (3)")),
        "the failed tasks' errors: {result:#}"
    );
    assert_eq!(report["summary"]["rolled_back"], 1);
    let store = tidewatch_core::store::Store::open(&sandbox.data_dir().join(tidewatch_core::store::DB_FILE_NAME))
        .expect("open the sandbox's database");
    let history = store.update_history(None, 10).expect("read the history");
    let row = history
        .iter()
        .find(|row| row.container == name)
        .expect("the update is in the history");
    assert_eq!((row.action.as_str(), row.outcome.as_str()), ("update", "rolled_back"));
    assert_eq!(row.error_code.as_deref(), Some("update_swarm_rolled_back"));
    let service = inspect(&lab, &name);
    assert_eq!(service["UpdateStatus"]["State"], "rollback_completed");
    assert_eq!(
        service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
        before.as_str()
    );
    // Swarm calls the rollback done once the old task is scheduled; it then starts.
    wait_running(&lab, &name);
    assert_eq!(running_images(&lab, &name), [before]);
}

#[tokio::test]
async fn a_private_image_is_pulled_by_swarm_with_the_credentials_tidewatch_forwards() {
    let lab = Lab::require();
    let basic = lab.basic_registry();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER");
    let password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD");
    let name = unique("private");
    let repository = format!("tests/{name}");
    copy_image_as(
        basic,
        Some((user, password)),
        "fixtures/app",
        "1.25.3",
        &repository,
        Some("1.0.0"),
    )
    .await;
    copy_image_as(
        basic,
        Some((user, password)),
        "fixtures/app",
        "1.25.4",
        &repository,
        Some("1.0.1"),
    )
    .await;
    // The first version is pulled beforehand and the service is created without credentials:
    // Swarm has none of its own, so the new version can only be pulled with what Tidewatch sends.
    tidewatch_core::init_crypto();
    let engine = Engine::connect_with(&EngineSpec::new("swarm", lab.swarm_docker_host()))
        .await
        .expect("connect to the lab's Swarm manager");
    let first = format!("{basic}/{repository}:1.0.0");
    tidewatch_lab::containers::pull(engine.docker(), &first, Some((basic, user, password))).await;
    let digest = run(docker(&lab).args(["image", "inspect", "--format", "{{index .RepoDigests 0}}", &first]));
    let digest = text(&digest.stdout).trim().rsplit_once('@').unwrap().1.to_string();
    let _service = create_service(&lab, &name, &format!("{first}@{digest}"), &["--no-resolve-image"]);

    let sandbox = Sandbox::new();
    sandbox.write_docker_auth(basic, user, password);
    let output = sandbox
        .tidewatch(&lab)
        .args(["update", &name, "--engine", lab.swarm_docker_host(), "--yes"])
        .output()
        .expect("run tidewatch update");
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(!all.contains(password), "the password never reaches the output");
    wait_running(&lab, &name);
    let images = running_images(&lab, &name);
    assert_eq!(images.len(), 1, "{images:?}");
    assert!(
        images[0].starts_with(&format!("{basic}/{repository}:1.0.1@")),
        "{images:?}"
    );
}

#[tokio::test]
async fn updating_a_service_that_is_up_to_date_pinned_or_missing_changes_nothing() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("current");
    let pinned = format!("{name}-pinned");
    let digest = get_manifest(open, "fixtures/app", "1.25.3").await.digest;
    let _service = create_service(&lab, &name, &format!("{open}/fixtures/app:1.25.4"), &[]);
    let _pinned = create_service(&lab, &pinned, &format!("{open}/fixtures/app@{digest}"), &[]);
    let before = [inspect(&lab, &name), inspect(&lab, &pinned)];
    let sandbox = Sandbox::new();

    let output = sandbox
        .tidewatch(&lab)
        .args([
            "update",
            &name,
            &pinned,
            "--engine",
            lab.swarm_docker_host(),
            "--yes",
            "--json",
        ])
        .output()
        .expect("run tidewatch update");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = json_of(&output);
    let refusals: Vec<(&str, &str, &str)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["container"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["error"]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        refusals,
        [
            (name.as_str(), "refused", "update_up_to_date"),
            (pinned.as_str(), "refused", "update_pinned")
        ],
        "the same refusals as a container's: {report:#}"
    );
    assert_eq!(
        [
            inspect(&lab, &name)["Version"].clone(),
            inspect(&lab, &pinned)["Version"].clone()
        ],
        [before[0]["Version"].clone(), before[1]["Version"].clone()],
        "the services are untouched"
    );

    let output = sandbox
        .tidewatch(&lab)
        .args([
            "update",
            "no-such-service",
            "--engine",
            lab.swarm_docker_host(),
            "--yes",
        ])
        .output()
        .expect("run tidewatch update");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(
            "no container named or with the ID \"no-such-service\" (nor, if it is a Swarm manager, a service)"
        ),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test]
async fn a_service_deployed_without_a_digest_is_unknown_unless_a_newer_tag_exists() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let run_name = unique("nodigest");
    let _current = create_service(
        &lab,
        &format!("{run_name}-current"),
        &format!("{open}/fixtures/app:1.25.4"),
        &["--no-resolve-image"],
    );
    let _old = create_service(
        &lab,
        &format!("{run_name}-old"),
        &format!("{open}/fixtures/app:1.25.3"),
        &["--no-resolve-image"],
    );
    let entries = check_swarm(&lab, &Sandbox::new(), &run_name);
    let current = entry(&entries, &format!("{run_name}-current"));
    assert_eq!(
        current["status"], "unknown",
        "a moved tag could not be told: {current:#}"
    );
    assert_eq!(current["error"]["code"], "no_deployed_digest");
    assert!(
        current["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-resolve-image"),
        "{current:#}"
    );
    let old = entry(&entries, &format!("{run_name}-old"));
    assert_eq!(
        old["status"], "update_available",
        "a newer tag needs no digest: {old:#}"
    );
    assert_eq!(old["update"]["tag"], "1.25.4");
}

#[tokio::test]
async fn updating_a_task_container_of_a_service_is_refused_and_names_the_service_to_update() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("task");
    let _service = create_service(&lab, &name, &format!("{open}/fixtures/app:1.25.3"), &[]);
    wait_running(&lab, &name);
    let listed = run(docker(&lab).args([
        "ps",
        "--filter",
        &format!("label=com.docker.swarm.service.name={name}"),
        "--format",
        "{{.Names}}",
    ]));
    let task = text(&listed.stdout)
        .lines()
        .next()
        .expect("the service's task container")
        .to_string();
    let version = inspect(&lab, &name)["Version"]["Index"].clone();

    let output = Sandbox::new()
        .tidewatch(&lab)
        .args(["update", &task, "--engine", lab.swarm_docker_host(), "--yes", "--json"])
        .output()
        .expect("run tidewatch update");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let result = &json_of(&output)["results"][0];
    assert_eq!(result["status"], "refused", "{result:#}");
    assert_eq!(result["error"]["code"], "update_swarm");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("`tidewatch update {name} --engine MANAGER`")),
        "{result:#}"
    );
    assert_eq!(
        inspect(&lab, &name)["Version"]["Index"],
        version,
        "the service is untouched"
    );
    assert_eq!(running_images(&lab, &name).len(), 1, "its task still runs");
}

#[tokio::test]
async fn a_recent_service_verdict_is_planned_as_it_is_and_a_stale_one_is_checked_again() {
    use tidewatch_core::checker::{inventory, CheckRequest, Checker, Kind};
    use tidewatch_core::config::Config;
    use tidewatch_core::engine::engines_to_watch;
    use tidewatch_core::update::{Method, UpdateProgress, Updater, RECHECK_AFTER};

    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("verdict");
    let _service = create_service(&lab, &name, &format!("{open}/fixtures/app:1.25.3"), &[]);
    tidewatch_core::init_crypto();

    // What the app holds after a check: the service's verdict.
    let config = Config::default();
    let targets = engines_to_watch(&config, &[lab.swarm_docker_host().to_string()]);
    let report = Checker::from_config(&config)
        .expect("a checker")
        .check(
            CheckRequest {
                engines: inventory(&targets).await,
                images: Vec::new(),
                resolve_digests: false,
            },
            &|_| {},
        )
        .await;
    let verdict = report
        .containers
        .into_iter()
        .find(|r| r.name.as_deref() == Some(name.as_str()))
        .expect("the service is checked");
    assert_eq!(verdict.kind, Kind::Service);

    let engine = targets[0].connect().await.expect("connect to the Swarm manager");
    let sandbox = Sandbox::new();
    let updater =
        Updater::new(&config, sandbox.data_dir().join(tidewatch_core::store::DB_FILE_NAME)).expect("an updater");
    let phases = std::sync::Mutex::new(Vec::new());
    let record = |p: UpdateProgress| phases.lock().unwrap().push(format!("{:?}", p.phase));

    let plan = updater
        .plan(&engine, &name, Some(&verdict), &record)
        .await
        .expect("a plan");
    assert_eq!(plan.method, Method::Swarm);
    assert!(
        plan.target
            .reference
            .starts_with(&format!("{open}/fixtures/app:1.25.4@sha256:")),
        "{plan:#?}"
    );
    assert!(
        phases.lock().unwrap().is_empty(),
        "a recent verdict is not checked again: {:?}",
        phases.lock().unwrap()
    );

    let mut stale = verdict.clone();
    stale.checked_at -= RECHECK_AFTER + std::time::Duration::from_secs(60);
    let again = updater
        .plan(&engine, &name, Some(&stale), &record)
        .await
        .expect("a plan");
    assert_eq!(phases.lock().unwrap().as_slice(), ["Checking"]);
    assert_eq!(again.target.reference, plan.target.reference);
}

#[tokio::test]
async fn update_all_plans_the_services_with_an_update_beside_the_containers() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("all");
    let service = format!("{name}-service");
    let container = format!("{name}-container");
    let _service = create_service(&lab, &service, &format!("{open}/fixtures/app:1.25.3"), &[]);
    tidewatch_core::init_crypto();
    let engine = Engine::connect_with(&EngineSpec::new("swarm", lab.swarm_docker_host()))
        .await
        .expect("connect to the lab's Swarm manager");
    let image = format!("{open}/fixtures/web:1.9.0");
    tidewatch_lab::containers::pull(engine.docker(), &image, None).await;
    tidewatch_lab::containers::start_container(engine.docker(), &image, &container, &[]).await;

    // A dry run: other tests' containers and services may be planned too, and none is touched.
    let output = Sandbox::new()
        .tidewatch(&lab)
        .args([
            "update",
            "--all",
            "--dry-run",
            "--json",
            "--engine",
            lab.swarm_docker_host(),
        ])
        .output()
        .expect("run tidewatch update --all --dry-run");
    tidewatch_lab::containers::remove_container(engine.docker(), &container).await;
    // Another test's service caught mid-rollout may be refused (exit 1); these two are not.
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", text(&output.stderr));
    let report = json_of(&output);
    let planned = |who: &str| {
        report["plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["container"] == who)
            .unwrap_or_else(|| panic!("{who} is not planned: {report:#}"))
            .clone()
    };
    let service_plan = planned(&service);
    assert_eq!(service_plan["method"], "swarm");
    assert!(
        service_plan["target"]["reference"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{open}/fixtures/app:1.25.4@sha256:")),
        "{service_plan:#}"
    );
    let container_plan = planned(&container);
    assert_eq!(container_plan["method"], "recreate");
    assert_eq!(
        container_plan["target"]["reference"],
        format!("{open}/fixtures/web:1.10.0")
    );
    assert!(
        report["plans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["container"].as_str().unwrap().starts_with(&format!("{service}."))),
        "the service's task is not planned as a container: {report:#}"
    );
}
