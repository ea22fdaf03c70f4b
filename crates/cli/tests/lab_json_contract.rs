//! The `--json` document is a contract scripts rely on (docs/cli.md): on the lab's fixtures it must
//! stay byte for byte what it was when these golden files were recorded. Only what differs from
//! lab to lab (ports, container IDs and names, times) is replaced by placeholders before the
//! comparison. After a deliberate change of the contract, record again with
//! `TIDEWATCH_BLESS=1 cargo test -p tidewatch-cli --test lab_json_contract` and review the diff.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;
use tidewatch_lab::{Lab, FIXTURE_LOCAL_ONLY};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file, or records it when `TIDEWATCH_BLESS` is set.
fn assert_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("TIDEWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the golden file {}: {e}", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "the --json output differs from {} from line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             whole output:\n{actual}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

/// Replaces what differs between labs and runs (longest first, so a port is never half-replaced).
fn normalize(text: &str, replacements: &[(String, &str)]) -> String {
    let mut pairs: Vec<&(String, &str)> = replacements.iter().collect();
    pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let mut out = text.to_string();
    for (from, to) in pairs {
        out = out.replace(from.as_str(), to);
    }
    // Times and durations change with every run; their shape does not.
    let mut lines = Vec::new();
    for line in out.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let comma = if trimmed.ends_with(',') { "," } else { "" };
        if trimmed.starts_with("\"checked_at\": \"") {
            lines.push(format!("{indent}\"checked_at\": \"<time>\"{comma}"));
        } else if trimmed.starts_with("\"duration_ms\": ") {
            lines.push(format!("{indent}\"duration_ms\": <ms>{comma}"));
        } else {
            lines.push(line.to_string());
        }
    }
    lines.join("\n") + "\n"
}

fn lab_replacements(lab: &Lab, dead: &str) -> Vec<(String, &'static str)> {
    vec![
        (lab.open_registry().to_string(), "<open>"),
        (lab.mirror_registry().to_string(), "<mirror>"),
        (lab.basic_registry().to_string(), "<basic>"),
        (lab.token_registry().to_string(), "<token>"),
        (dead.to_string(), "<dead>"),
    ]
}

fn dead_registry() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `tidewatch check --json --images-from` on every kind of image reference the lab can show,
/// with `extra` flags, normalized for comparison.
async fn check_images(extra: &[&str]) -> String {
    let lab = Lab::require();
    let open = lab.open_registry();
    let mirror = lab.mirror_registry();
    let dead = dead_registry();
    let pinned_digest = get_manifest(open, "fixtures/app", "1.25.3").await.digest;
    let sandbox = Sandbox::new();
    // The mirror's own name resolves to the open registry, so the upstream is asked first.
    sandbox.write_config(&format!(
        "[[mirrors]]\nmirror = \"{mirror}/cached\"\nupstream = \"{open}\"\nquery = \"upstream-first\"\n"
    ));
    let images = [
        format!("{open}/fixtures/app:1.25.3"),
        format!("{open}/fixtures/app:1.25.4"),
        format!("{open}/fixtures/app:1.25.3-alpine"),
        format!("{open}/fixtures/app:latest"),
        format!("{open}/fixtures/web:1.9.0"),
        format!("{open}/fixtures/web:stable"),
        format!("{open}/fixtures/multi:1.0"),
        format!("{open}/fixtures/app@{pinned_digest}"),
        format!("{open}/fixtures/missing:1.0.0"),
        format!("{open}/fixtures/app:9.9.9"),
        format!("{mirror}/fixtures/web:1.9.0"),
        format!("{mirror}/cached/fixtures/app:1.25.3"),
        format!("{dead}/fixtures/app:1.0.0"),
        "Not A Reference!".to_string(),
    ];
    let list = sandbox.dir.path().join("images.txt");
    std::fs::write(&list, images.join("\n")).unwrap();
    let output = sandbox
        .tidewatch(&lab)
        .args([
            "check",
            "--json",
            "--platform",
            "linux/amd64",
            "--images-from",
            path_str(&list),
        ])
        .args(extra)
        .output()
        .expect("run tidewatch check");
    assert!(output.status.success(), "{}", text(&output.stderr));
    normalize(&text(&output.stdout), &lab_replacements(&lab, &dead))
}

#[tokio::test]
async fn image_checks_print_the_same_json_document_as_recorded() {
    assert_golden("check-images.json", &check_images(&[]).await);
}

/// `--digests` asks what no verdict needs: the new tag's digest of each update, and the current
/// digest of each reference (docs/cli.md#tidewatch-check).
#[tokio::test]
async fn image_checks_with_digests_print_the_same_json_document_as_recorded() {
    assert_golden("check-images-digests.json", &check_images(&["--digests"]).await);
}

#[tokio::test]
async fn container_results_keep_the_recorded_fields_and_values() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let run = unique("contract");
    let patch = format!("{open}/fixtures/app:1.25.3");
    let current = format!("{open}/fixtures/web:1.10.0");
    pull(&engine, &patch, None).await;
    pull(&engine, &current, None).await;
    let name = |what: &str| format!("{run}-{what}");
    let ids = vec![
        start_container(
            &engine,
            &patch,
            &name("patch"),
            &[
                ("wud.display.name", "Patchy"),
                ("org.opencontainers.image.source", "https://example.com/app"),
            ],
        )
        .await,
        start_container(&engine, &current, &name("current"), &[]).await,
        start_container(&engine, FIXTURE_LOCAL_ONLY, &name("local"), &[]).await,
        start_container(&engine, &patch, &name("badlabel"), &[("wud.watch", "maybe")]).await,
    ];

    let sandbox = Sandbox::new();
    let output = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--engine", lab.docker_host()])
        .output()
        .expect("run tidewatch check");
    remove_containers(&engine, &ids).await;
    assert!(output.status.success(), "{}", text(&output.stderr));

    // Other tests use the lab engine at the same time: keep only this test's containers, in the
    // order the document lists them, each as the exact text serde_json prints for it.
    let report = json_of(&output);
    let mine: Vec<Value> = report["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(&run)))
        .cloned()
        .collect();
    assert_eq!(mine.len(), ids.len(), "{report:#}");
    let mut replacements = lab_replacements(&lab, "127.0.0.1:1");
    replacements.push((run.clone(), "<run>"));
    replacements.push((lab.docker_host().to_string(), "<engine>"));
    let ids_text: Vec<(String, &str)> = ids.iter().map(|id| (id.clone(), "<id>")).collect();
    replacements.extend(ids_text);
    let mut sorted = mine;
    sorted.sort_by_key(|c| c["name"].as_str().unwrap_or_default().to_string());
    let actual = normalize(&serde_json::to_string_pretty(&sorted).unwrap(), &replacements);
    assert_golden("check-containers.json", &actual);

    // The document's top level and each engine entry keep their fields.
    let top: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["checked_at", "containers", "engines", "summary"]);
    let summary: Vec<&str> = report["summary"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        summary,
        ["containers", "duration_ms", "errors", "images", "requests", "updates"]
    );
}

#[tokio::test]
async fn update_results_keep_the_recorded_fields_and_values() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let run = unique("contract-update");
    let image = format!("{}/{}:1.0.0", lab.open_registry(), tidewatch_lab::FIXTURE_PLAIN);
    pull(&engine, &image, None).await;
    tidewatch_lab::containers::remove_container(engine.docker(), &run).await;
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.clone()),
        labels: Some([(tidewatch_lab::containers::LAB_LABEL.to_string(), "1".to_string())].into()),
        ..Default::default()
    };
    let id = engine.create_container(&run, body).await.expect("create");
    engine.start_container(&id).await.expect("start");

    let sandbox = Sandbox::new();
    let output = sandbox
        .tidewatch(&lab)
        .args(["update", &run, "--yes", "--json", "--engine", lab.docker_host()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tidewatch update");
    tidewatch_lab::containers::remove_container(engine.docker(), &run).await;
    assert!(output.status.success(), "{}", text(&output.stderr));

    let document = json_of(&output);
    let new_id = document["results"][0]["container_id_after"]
        .as_str()
        .expect("a new container")
        .to_string();
    let mut replacements = lab_replacements(&lab, "127.0.0.1:1");
    replacements.push((run.clone(), "<run>"));
    replacements.push((lab.docker_host().to_string(), "<engine>"));
    replacements.push((id.clone(), "<id>"));
    replacements.push((new_id, "<new id>"));
    let actual = normalize(&text(&output.stdout), &replacements)
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("\"started_at\": \"") {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}\"started_at\": \"<time>\",")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_golden("update-results.json", &actual);
}

#[tokio::test]
async fn service_results_keep_the_recorded_fields_and_values() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let stack = unique("contract").replace('-', "");
    let compose = format!(
        r#"version: "3.8"
services:
  patch:
    image: {open}/fixtures/app:1.25.3
    networks: [outside]
    deploy:
      labels:
        wud.display.name: "Patchy"
  current:
    image: {open}/fixtures/web:1.10.0
    networks: [outside]
networks:
  outside:
    external: true
    name: host
"#
    );
    let _stack = common::swarm::deploy_stack(&lab, &stack, &compose, &["patch", "current"]);
    let pinned = format!("{stack}-pinned");
    let digest = get_manifest(open, "fixtures/app", "1.25.4").await.digest;
    let _pinned = common::swarm::create_service(&lab, &pinned, &format!("{open}/fixtures/app@{digest}"), &[]);

    let sandbox = Sandbox::new();
    let output = sandbox
        .tidewatch(&lab)
        .args(["check", "--json", "--engine", lab.swarm_docker_host()])
        .output()
        .expect("run tidewatch check");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = json_of(&output);
    let mut mine: Vec<Value> = report["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(&stack)))
        .cloned()
        .collect();
    assert_eq!(mine.len(), 3, "{report:#}");
    let mut replacements = lab_replacements(&lab, "127.0.0.1:1");
    replacements.push((stack.clone(), "<stack>"));
    replacements.push((lab.swarm_docker_host().to_string(), "<engine>"));
    for service in &mine {
        replacements.push((service["id"].as_str().unwrap().to_string(), "<id>"));
    }
    mine.sort_by_key(|c| c["name"].as_str().unwrap_or_default().to_string());
    let actual = normalize(&serde_json::to_string_pretty(&mine).unwrap(), &replacements);
    assert_golden("check-services.json", &actual);
}

#[tokio::test]
async fn a_service_update_plan_keeps_the_recorded_fields_and_values() {
    let lab = Lab::require();
    let open = lab.open_registry();
    let name = unique("contract-service");
    let _service = common::swarm::create_service(
        &lab,
        &name,
        &format!("{open}/fixtures/app:1.25.3"),
        &["--update-failure-action", "pause"],
    );
    let id = common::swarm::inspect(&lab, &name)["ID"].as_str().unwrap().to_string();

    let sandbox = Sandbox::new();
    let output = sandbox
        .tidewatch(&lab)
        .args([
            "update",
            &name,
            "--dry-run",
            "--json",
            "--engine",
            lab.swarm_docker_host(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tidewatch update --dry-run");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut replacements = lab_replacements(&lab, "127.0.0.1:1");
    replacements.push((name.clone(), "<run>"));
    replacements.push((lab.swarm_docker_host().to_string(), "<engine>"));
    replacements.push((id, "<id>"));
    let actual = normalize(&text(&output.stdout), &replacements)
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("\"started_at\": \"") {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}\"started_at\": \"<time>\",")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    assert_golden("update-service-plan.json", &actual);
}
