//! `tidewatch check` end to end on the lab (docs/check.md#verdicts, docs/cli.md#the-json-document): containers on the lab engine cover every
//! verdict and the JSON reports each one correctly; exit codes; login, logout and explain.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use tidewatch_lab::{Lab, FIXTURE_LOCAL_ONLY};

fn result_named<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["containers"]
        .as_array()
        .expect("containers array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no result for container {name} in {report:#}"))
}

fn assert_verdict(report: &Value, name: &str, status: &str) -> Value {
    let result = result_named(report, name).clone();
    assert_eq!(result["status"], status, "{name}: {result:#}");
    assert!(
        !result["explanation"].as_str().unwrap_or_default().is_empty(),
        "{name} has no explanation: {result:#}"
    );
    result
}

/// Stores the htpasswd registry's credentials in the lab keyring through `tidewatch login`.
fn login_basic(lab: &Lab, sandbox: &Sandbox, password: &str) -> std::process::Output {
    let mut child = sandbox
        .tidewatch(lab)
        .args([
            "login",
            lab.basic_registry(),
            "--username",
            lab.var("TIDEWATCH_LAB_BASIC_USER"),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tidewatch login");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn check_reports_every_verdict_of_the_lab_containers() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let run = unique("verdicts");

    // Test-only repositories, so tags pushed here never change the fixtures' tag lists.
    let rolling_repo = format!("tests/{run}-rolling");
    let multi_repo = format!("tests/{run}-multi");
    copy_image(open, "fixtures/app", "1.25.3", &rolling_repo, Some("rolling")).await;
    copy_image(open, "fixtures/app", "1.25.4", &rolling_repo, None).await;
    copy_image(open, "fixtures/multi", "1.0", &multi_repo, Some("current")).await;

    let basic = lab.basic_registry();
    let token = lab.token_registry();
    let basic_auth = (
        basic,
        lab.var("TIDEWATCH_LAB_BASIC_USER"),
        lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"),
    );
    let token_auth = (
        token,
        lab.var("TIDEWATCH_LAB_TOKEN_USER"),
        lab.var("TIDEWATCH_LAB_TOKEN_PASSWORD"),
    );
    let patch = format!("{open}/fixtures/app:1.25.3");
    let current = format!("{open}/fixtures/app:1.25.4");
    let rolling = format!("{open}/{rolling_repo}:rolling");
    let multi = format!("{open}/{multi_repo}:current");
    let mirrored = format!("{}/fixtures/app:1.25.3", lab.mirror_registry());
    let on_basic = format!("{basic}/fixtures/app:1.25.4");
    let on_token = format!("{token}/fixtures/app:1.25.3");
    for image in [&patch, &current, &rolling, &multi, &mirrored] {
        pull(&engine, image, None).await;
    }
    pull(&engine, &on_basic, Some(basic_auth)).await;
    pull(&engine, &on_token, Some(token_auth)).await;
    let pinned_digest = get_manifest(open, "fixtures/app", "1.25.3").await.digest;
    let pinned = format!("{open}/fixtures/app@{pinned_digest}");
    pull(&engine, &pinned, None).await;
    // A registry nobody listens on: the image is only tagged locally under its name.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("127.0.0.1:{dead_port}/fixtures/app:1.25.4");
    let (dead_repo, dead_tag) = unreachable.rsplit_once(':').unwrap();
    engine
        .docker()
        .tag_image(
            &current,
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(dead_repo)
                    .tag(dead_tag)
                    .build(),
            ),
        )
        .await
        .expect("tag the image under the unreachable registry's name");

    let name = |what: &str| format!("{run}-{what}");
    let mut ids = Vec::new();
    for (what, image) in [
        ("patch", &patch),
        ("current", &current),
        ("rolling", &rolling),
        ("multi", &multi),
        ("mirrored", &mirrored),
        ("basic", &on_basic),
        ("token", &on_token),
        ("pinned", &pinned),
        ("local", &FIXTURE_LOCAL_ONLY.to_string()),
        ("unreachable", &unreachable),
    ] {
        ids.push(start_container(&engine, image, &name(what), &[]).await);
    }
    ids.push(start_container(&engine, &patch, &name("disabled"), &[("tidewatch.enable", "false")]).await);
    // What's Up Docker's label keeps 1.25.4 from being offered; nothing else is newer.
    ids.push(
        start_container(
            &engine,
            &patch,
            &name("excluded"),
            &[("wud.tag.exclude", r"^1\.25\.4$")],
        )
        .await,
    );

    // Now the registry moves on: the floating tag gets 1.25.4's manifest; the multi-arch tag
    // gets an index whose amd64 entry is unchanged and whose arm64 entry now differs.
    let newer = get_manifest(open, "fixtures/app", "1.25.4").await;
    put_manifest(open, &rolling_repo, "rolling", &newer.media_type, &newer.bytes).await;
    let index = get_manifest(open, &multi_repo, "current").await;
    let mut json: Value = serde_json::from_slice(&index.bytes).unwrap();
    let entries = json["manifests"].as_array_mut().unwrap();
    let amd64 = entries
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()
        .clone();
    let arm64 = entries
        .iter_mut()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap();
    assert_ne!(arm64["digest"], amd64["digest"]);
    arm64["digest"] = amd64["digest"].clone();
    arm64["size"] = amd64["size"].clone();
    let new_index = serde_json::to_vec(&json).unwrap();
    put_manifest(open, &multi_repo, "current", &index.media_type, &new_index).await;

    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{}\"\nupstream = \"{open}\"\n",
        lab.mirror_registry()
    ));
    sandbox.write_docker_auth(token, token_auth.1, token_auth.2);
    let login = login_basic(&lab, &sandbox, basic_auth.2);
    assert!(login.status.success(), "login failed: {}", text(&login.stderr));
    assert!(!text(&login.stdout).contains(basic_auth.2) && !text(&login.stderr).contains(basic_auth.2));

    let output = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--exit-code", "--engine", lab.docker_host()])
        .output()
        .expect("run tidewatch check");
    let report = json_of(&output);
    // Updates, and containers that cannot be checked (an invalid label, …): a failed check wins.
    assert!(report["summary"]["updates"].as_u64() > Some(0), "{}", report["summary"]);
    assert!(report["summary"]["errors"].as_u64() > Some(0), "{}", report["summary"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "--exit-code with updates and failed checks: {}",
        text(&output.stderr)
    );
    eprintln!("check of the lab engine: {}", report["summary"]);

    let r = assert_verdict(&report, &name("patch"), "update_available");
    assert_eq!(r["update"]["kind"], "patch");
    assert_eq!(r["update"]["tag"], "1.25.4");
    assert_eq!(r["image"], patch.as_str());
    assert_eq!(r["upstream"], patch.as_str());
    assert_eq!(r["engine"], lab.docker_host());
    assert!(r["local_digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        r["explanation"].as_str().unwrap().contains("1.25.4 is newer (patch)"),
        "{r:#}"
    );

    let r = assert_verdict(&report, &name("excluded"), "up_to_date");
    assert_eq!(r["update"], Value::Null);
    let r = assert_verdict(&report, &name("current"), "up_to_date");
    assert_eq!(r["update"], Value::Null);

    let r = assert_verdict(&report, &name("rolling"), "update_available");
    assert_eq!(r["update"]["kind"], "digest");
    assert_eq!(r["update"]["tag"], "rolling");
    assert_eq!(r["update"]["digest"], newer.digest.as_str());

    let r = assert_verdict(&report, &name("multi"), "up_to_date");
    assert_eq!(
        r["local_digest"],
        index.digest.as_str(),
        "the local RepoDigest is the index's"
    );
    assert!(
        r["explanation"].as_str().unwrap().contains("only for other platforms"),
        "{r:#}"
    );

    let r = assert_verdict(&report, &name("mirrored"), "update_available");
    assert_eq!(r["image"], mirrored.as_str(), "image is never rewritten");
    assert_eq!(r["upstream"], patch.as_str(), "resolved to the upstream");
    assert_eq!(
        r["via"],
        format!("{open}/fixtures/app"),
        "upstream-first asks the upstream"
    );
    assert!(
        r["explanation"].as_str().unwrap().contains(lab.mirror_registry()),
        "{r:#}"
    );

    let r = assert_verdict(&report, &name("basic"), "up_to_date");
    assert_eq!(r["via"], format!("{basic}/fixtures/app"));
    let r = assert_verdict(&report, &name("token"), "update_available");
    assert_eq!(r["update"]["tag"], "1.25.4");

    let r = assert_verdict(&report, &name("pinned"), "pinned");
    assert_eq!(r["local_digest"], pinned_digest.as_str());
    assert_eq!(r["upstream"], pinned.as_str());

    let r = assert_verdict(&report, &name("local"), "local_only");
    assert_eq!(r["update"], Value::Null);
    assert_eq!(r["image"], FIXTURE_LOCAL_ONLY);

    let r = assert_verdict(&report, &name("unreachable"), "unknown");
    assert_eq!(r["error"]["code"], "unreachable");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{dead_port}")) && message.contains("reachable"),
        "{message}"
    );

    assert!(
        report["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != name("disabled").as_str()),
        "a container with tidewatch.enable=false is not checked"
    );
    let engines = report["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 1);
    assert_eq!(engines[0]["status"], "ok");
    assert_eq!(engines[0]["error"], Value::Null);
    for key in ["containers", "images", "updates", "errors", "requests", "duration_ms"] {
        assert!(report["summary"][key].is_u64(), "summary.{key}: {report:#}");
    }
    assert!(report["checked_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        sandbox.data_dir().join("tidewatch.db").is_file(),
        "the check is recorded in the store"
    );

    // Without the keyring entry the htpasswd image cannot be checked, and says how to fix it.
    let logout = sandbox.tidewatch(&lab).args(["logout", basic]).output().unwrap();
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    let output = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--engine", lab.docker_host()])
        .output()
        .unwrap();
    let r = assert_verdict(&json_of(&output), &name("basic"), "unknown");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("tidewatch login"),
        "{r:#}"
    );

    remove_containers(&engine, &ids).await;
    let _ = engine
        .docker()
        .remove_image(
            &unreachable,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}

#[test]
fn exit_code_is_0_without_updates_1_with_3_when_checks_failed_and_2_when_fatal() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let run = |args: &[&str]| sandbox.tidewatch(&lab).args(args).output().unwrap();

    let current = format!("{open}/fixtures/app:1.25.4");
    let out = run(&["check", "--exit-code", "--image", &current]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = run(&[
        "check",
        "--exit-code",
        "--image",
        &format!("{open}/fixtures/app:1.25.3"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    // Without --exit-code an update is not a failure.
    let out = run(&["check", "--image", &format!("{open}/fixtures/app:1.25.3")]);
    assert_eq!(out.status.code(), Some(0));

    // A check that failed (here: a registry that needs a login) is 3, even next to an update.
    // Without the keyring: another test of this file keeps a login for that registry there meanwhile.
    let run = |args: &[&str]| {
        sandbox
            .tidewatch(&lab)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .output()
            .unwrap()
    };
    let private = format!("{}/fixtures/app:1.25.3", lab.basic_registry());
    let out = run(&["check", "--exit-code", "--image", &private]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = run(&[
        "check",
        "--exit-code",
        "--image",
        &private,
        "--image",
        &format!("{open}/fixtures/app:1.25.3"),
    ]);
    assert_eq!(out.status.code(), Some(3), "a failed check may hide an update");
    let out = run(&["check", "--image", &private]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "without --exit-code verdicts do not change the status"
    );

    let out = run(&["check", "--exit-code", "--engine", "unix:///nonexistent/docker.sock"]);
    assert_eq!(out.status.code(), Some(2), "no engine reachable: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).to_lowercase().contains("is the engine running"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["check", "--image", &current, "--platform", "linux"]);
    assert_eq!(out.status.code(), Some(2), "bad --platform");
    let out = run(&["check", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "bad argument");
    sandbox.write_config("[[engines]]\nname = \"x\"\nhots = \"unix:///x\"\n");
    let out = run(&["check", "--image", &current]);
    assert_eq!(out.status.code(), Some(2), "unreadable config");
    assert!(
        text(&out.stderr).contains("hots"),
        "the config error names the key: {}",
        text(&out.stderr)
    );
}

#[test]
fn image_checks_come_in_the_order_given_with_null_engine_fields() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let list = sandbox.dir.path().join("images.txt");
    std::fs::write(
        &list,
        format!("# images\n{open}/fixtures/web:1.9.0\n\n{open}/fixtures/app:1.25.4  # current\n"),
    )
    .unwrap();
    let first = format!("{open}/fixtures/app:1.25.3");
    let out = sandbox
        .tidewatch(&lab)
        .args([
            "check",
            "--json",
            "--image",
            &first,
            "--images-from",
            path_str(&list),
            "--platform",
            "linux/arm64",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = json_of(&out);
    let containers = report["containers"].as_array().unwrap();
    let images: Vec<&str> = containers.iter().map(|c| c["image"].as_str().unwrap()).collect();
    assert_eq!(
        images,
        [
            first.as_str(),
            &format!("{open}/fixtures/web:1.9.0"),
            &format!("{open}/fixtures/app:1.25.4")
        ]
    );
    let statuses: Vec<&str> = containers.iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["update_available", "update_available", "up_to_date"]);
    assert_eq!(containers[1]["update"]["tag"], "1.10.0");
    assert_eq!(containers[1]["update"]["kind"], "minor");
    for c in containers {
        assert_eq!(c["engine"], Value::Null);
        assert_eq!(c["id"], Value::Null);
        assert_eq!(c["name"], Value::Null);
        assert_eq!(c["local_digest"], Value::Null);
        assert_eq!(c["platform"], "linux/arm64");
        assert_eq!(c["kind"], "image");
        assert_eq!(c["stack"], Value::Null);
    }
    assert_eq!(report["engines"], serde_json::json!([]), "--image alone uses no engine");
    let keys: Vec<&String> = containers[0].as_object().unwrap().keys().collect();
    let mut expected = vec![
        "engine",
        "kind",
        "id",
        "name",
        "stack",
        "image",
        "upstream",
        "via",
        "platform",
        "platforms",
        "local_digest",
        "status",
        "update",
        "explanation",
        "error",
    ];
    expected.sort();
    let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, expected, "exactly the fields of docs/cli.md#containers");
}

#[test]
fn human_output_is_a_plain_table_when_piped() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "--image", &format!("{open}/fixtures/app:1.25.3")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains('\x1b'), "no escape codes when piped: {stdout:?}");
    assert!(
        stdout.contains("STATUS") && stdout.contains("update") && stdout.contains("1.25.4 (patch)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 update"), "{stdout}");
}

#[test]
fn login_refuses_a_wrong_password_without_storing_or_echoing_it() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let wrong = "wrong-Pa55word-never-shown";
    let out = login_basic(&lab, &sandbox, wrong);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("refused") && all.contains(lab.var("TIDEWATCH_LAB_BASIC_USER")),
        "{all}"
    );
    assert!(!all.contains(wrong), "the password was echoed: {all}");
    let out = sandbox
        .tidewatch(&lab)
        .args(["login", lab.basic_registry(), "--username", "u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a password must come from stdin");
}

#[test]
fn explain_shows_normalization_and_the_mirror_rule() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let mirror = lab.mirror_registry();
    sandbox.write_config(&format!("[[mirrors]]\nmirror = \"{mirror}\"\nupstream = \"{open}\"\n"));
    let out = sandbox
        .tidewatch(&lab)
        .args(["explain", &format!("{mirror}/fixtures/app")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("latest is assumed"), "{stdout}");
    assert!(stdout.contains(&format!("upstream: {open}/fixtures/app")), "{stdout}");
    assert!(
        stdout.contains(&format!("ask 1: {open}/fixtures/app (upstream)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ask 2: {mirror}/fixtures/app (mirror")),
        "{stdout}"
    );

    let out = sandbox
        .tidewatch(&lab)
        .args(["explain", "Not An Image"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn upstream_first_falls_back_to_the_mirror_when_the_upstream_is_unreachable() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The open registry plays a mirror of an upstream that does not answer.
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{open}\"\nupstream = \"127.0.0.1:{dead_port}\"\n"
    ));
    let image = format!("{open}/fixtures/app:1.25.3");
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--image", &image])
        .output()
        .unwrap();
    let report = json_of(&out);
    let r = &report["containers"][0];
    assert_eq!(r["status"], "update_available", "{r:#}");
    assert_eq!(r["image"], image.as_str());
    assert_eq!(r["upstream"], format!("127.0.0.1:{dead_port}/fixtures/app:1.25.3"));
    assert_eq!(r["via"], format!("{open}/fixtures/app"), "the mirror answered");
    let explanation = r["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("via mirror") && explanation.contains("did not answer"),
        "{explanation}"
    );
}

#[test]
fn mirror_only_never_asks_the_upstream() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{open}\"\nupstream = \"127.0.0.1:{dead_port}\"\nquery = \"mirror-only\"\n"
    ));
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--image", &format!("{open}/fixtures/app:1.25.4")])
        .output()
        .unwrap();
    let report = json_of(&out);
    let r = &report["containers"][0];
    assert_eq!(r["status"], "up_to_date", "{r:#}");
    assert_eq!(r["via"], format!("{open}/fixtures/app"));
    assert!(!r["explanation"].as_str().unwrap().contains("did not answer"), "{r:#}");
}

/// docs/check.md#a-mirror-that-is-behind: when the mirror a container was pulled through still serves the old digest while
/// the upstream has a new one, the mirror is behind; that is reported, not an update. Two
/// repositories of the open registry play mirror and upstream (a `host/path` prefix rule).
#[tokio::test]
async fn a_mirror_behind_its_upstream_is_not_reported_as_an_update() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let run = unique("behind");
    let mirror_repo = format!("tests/{run}-mirror/app");
    let upstream_repo = format!("tests/{run}-upstream/app");
    for repo in [&mirror_repo, &upstream_repo] {
        copy_image(open, "fixtures/app", "1.25.3", repo, Some("rolling")).await;
        copy_image(open, "fixtures/app", "1.25.4", repo, None).await;
    }
    let image = format!("{open}/{mirror_repo}:rolling");
    pull(&engine, &image, None).await;
    let container = format!("{run}-app");
    let id = start_container(&engine, &image, &container, &[]).await;

    let newer = get_manifest(open, "fixtures/app", "1.25.4").await;
    put_manifest(open, &upstream_repo, "rolling", &newer.media_type, &newer.bytes).await;

    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{open}/tests/{run}-mirror\"\nupstream = \"{open}/tests/{run}-upstream\"\n"
    ));
    let check = || {
        let out = sandbox
            .tidewatch(&lab)
            .args(["check", "--json", "--exit-code", "--engine", lab.docker_host()])
            .output()
            .unwrap();
        result_named(&json_of(&out), &container).clone()
    };
    let r = check();
    assert_eq!(r["status"], "unknown", "{r:#}");
    assert_eq!(r["update"], Value::Null);
    assert_eq!(r["error"]["code"], "mirror_behind", "{r:#}");
    assert!(r["error"]["message"].as_str().unwrap().contains("behind"), "{r:#}");
    assert_eq!(r["upstream"], format!("{open}/{upstream_repo}:rolling"));

    // Once the mirror has caught up, the new digest is an update.
    put_manifest(open, &mirror_repo, "rolling", &newer.media_type, &newer.bytes).await;
    let r = check();
    assert_eq!(r["status"], "update_available", "{r:#}");
    assert_eq!(r["update"]["kind"], "digest");
    assert_eq!(r["update"]["digest"], newer.digest.as_str());

    remove_containers(&engine, &[id]).await;
}

#[test]
fn an_unreachable_engine_does_not_stop_the_others() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let dead = "unix:///nonexistent/docker.sock";
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--engine", dead, "--engine", lab.docker_host()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "one engine answered: {}", text(&out.stderr));
    let report = json_of(&out);
    let engines = report["engines"].as_array().unwrap();
    assert_eq!(engines[0]["name"], dead);
    assert_eq!(engines[0]["status"], "unreachable");
    assert!(engines[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/docker.sock"));
    assert_eq!(engines[1]["status"], "ok");
    assert_eq!(engines[1]["error"], Value::Null);
    assert!(report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["engine"] == lab.docker_host()));
}

#[test]
fn engines_json_has_the_check_documents_engine_fields_and_the_api_version() {
    let lab = Lab::require();
    let out = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["engines", "--json", "--engine", lab.docker_host()])
        .args(["--engine", "unix:///nonexistent/docker.sock"])
        .output()
        .expect("run tidewatch engines --json");
    assert!(out.status.success(), "one engine answered: {}", text(&out.stderr));
    let document = json_of(&out);
    let engines = document["engines"].as_array().expect("engines[]");
    assert_eq!(engines.len(), 2, "{document}");
    assert_eq!(engines[0]["name"], lab.docker_host());
    assert_eq!(engines[0]["status"], "ok");
    assert!(
        engines[0]["api_version"].as_str().is_some_and(|v| v.starts_with("1.")),
        "{document}"
    );
    assert_eq!(engines[0]["error"], Value::Null);
    assert_eq!(engines[1]["status"], "unreachable");
    assert_eq!(engines[1]["api_version"], Value::Null);
    assert_eq!(engines[1]["error"]["code"], "engine_unreachable");
}

#[test]
fn verbose_check_prints_how_each_verdict_was_reached_under_it() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "-v", "--image", &format!("{open}/fixtures/app:1.25.3")])
        .output()
        .unwrap();
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.contains("1.25.4 (patch)"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        lines[row + 1].trim_start().starts_with("↳ checked") && lines[row + 1].contains("1.25.4 is newer (patch)"),
        "{table}"
    );
    let plain = sandbox
        .tidewatch(&lab)
        .args(["check", "--image", &format!("{open}/fixtures/app:1.25.3")])
        .output()
        .unwrap();
    assert!(!text(&plain.stdout).contains('↳'), "{}", text(&plain.stdout));
}

#[test]
fn podmans_auth_file_is_read_after_the_keyring_and_docker_config() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let registry = lab.basic_registry();
    // Without the keyring, which comes first: another test of this file keeps a login for that
    // registry there meanwhile.
    let tidewatch = || {
        let mut command = sandbox.tidewatch(&lab);
        command.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        command
    };
    sandbox.write_containers_auth(
        registry,
        lab.var("TIDEWATCH_LAB_BASIC_USER"),
        lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"),
    );
    let out = tidewatch()
        .args(["check", "--json", "--image", &format!("{registry}/fixtures/app:1.25.4")])
        .output()
        .unwrap();
    let report = json_of(&out);
    assert_eq!(report["containers"][0]["status"], "up_to_date", "{report}");

    // A wrong password there is named as coming from the containers auth file.
    sandbox.write_containers_auth(registry, lab.var("TIDEWATCH_LAB_BASIC_USER"), "wrong");
    let out = tidewatch()
        .args(["check", "--json", "--image", &format!("{registry}/fixtures/app:1.25.4")])
        .output()
        .unwrap();
    let report = json_of(&out);
    assert_eq!(report["containers"][0]["error"]["code"], "auth_refused", "{report}");
    let message = report["containers"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("from the containers auth.json"), "{message}");

    // Docker's config comes first.
    sandbox.write_docker_auth(
        registry,
        lab.var("TIDEWATCH_LAB_BASIC_USER"),
        lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"),
    );
    let out = tidewatch()
        .args(["check", "--json", "--image", &format!("{registry}/fixtures/app:1.25.4")])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["containers"][0]["status"], "up_to_date");
}

#[test]
fn registries_conf_mirrors_are_asked_first_and_explained() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let open = lab.open_registry();
    let mirror = lab.var("TIDEWATCH_LAB_MIRROR");
    std::fs::write(
        sandbox.registries_conf_path(),
        format!(
            "unqualified-search-registries = [\"docker.io\"]\n\n[[registry]]\nprefix = \"{open}\"\nlocation = \"{open}\"\n\n[[registry.mirror]]\nlocation = \"{mirror}\"\n"
        ),
    )
    .unwrap();
    let image = format!("{open}/fixtures/app:1.25.3");
    let out = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--image", &image])
        .output()
        .unwrap();
    let report = json_of(&out);
    let result = &report["containers"][0];
    assert_eq!(result["status"], "update_available", "{report}");
    assert_eq!(
        result["via"],
        format!("{mirror}/fixtures/app"),
        "the mirror answered first: {report}"
    );
    assert_eq!(result["upstream"], format!("{open}/fixtures/app:1.25.3"));

    let out = sandbox
        .tidewatch(&lab)
        .args(["explain", "--json", &image])
        .output()
        .unwrap();
    let explained = json_of(&out);
    let endpoints = explained["endpoints"].as_array().unwrap();
    assert_eq!(endpoints[0]["registry"], mirror, "{explained}");
    assert_eq!(endpoints[0]["role"], "mirror");
    let rule = endpoints[0]["rule"].as_str().unwrap();
    assert!(
        rule.starts_with("registries.conf ") && rule.contains("registries.conf"),
        "{rule}"
    );
    assert_eq!(endpoints[1]["registry"], open);
    assert_eq!(endpoints[1]["role"], "upstream");
    let out = sandbox.tidewatch(&lab).args(["explain", &image]).output().unwrap();
    assert!(text(&out.stdout).contains("is pulled through"), "{}", text(&out.stdout));
}

#[test]
fn engines_lists_the_lab_engine_with_its_negotiated_api_version() {
    let lab = Lab::require();
    let out = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["engines", "--engine", lab.docker_host()])
        .output()
        .expect("run tidewatch engines");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok (API 1."), "{text}");
}
