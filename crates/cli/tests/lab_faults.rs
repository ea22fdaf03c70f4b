//! The CLI against the lab's fault-injecting registry (docs/reliability.md): every fault in one
//! check, and the image and check deadlines. For each fault: no panic, the check ends within its
//! deadline, the CLI's peak memory stays bounded, the affected image is `unknown` with a message
//! that says what happened, and every other image in the same check is judged normally.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tidewatch_lab::{Lab, FAULTS};

/// What each fault must end in: the status, the error code, and words the message must hold.
const EXPECTED: &[(&str, &str, Option<&str>, &str)] = &[
    ("delay", "up_to_date", None, "no tag newer than 1.25.4"),
    ("stall-tags", "unknown", Some("stalled"), "stopped sending the tag list"),
    ("stall-manifest", "unknown", Some("timeout"), "did not answer within 3s"),
    ("reset-tags", "unknown", Some("unreachable"), "connection closed"),
    ("reset-manifest", "unknown", Some("unreachable"), "connection closed"),
    (
        "truncate-tags",
        "unknown",
        Some("truncated"),
        "broke off while sending the tag list",
    ),
    (
        "endless-tags",
        "unknown",
        Some("response_too_large"),
        "more than 4096 KiB for the tag list",
    ),
    (
        "huge-manifest",
        "unknown",
        Some("response_too_large"),
        "more than 4096 KiB for the manifest",
    ),
    (
        "tags-page-huge",
        "unknown",
        Some("response_too_large"),
        "more than 4096 KiB for the tag list",
    ),
    ("tags-500", "unknown", Some("unavailable"), "HTTP 500"),
    ("manifest-503", "unknown", Some("unavailable"), "HTTP 503"),
    ("ratelimit-once", "up_to_date", None, "no tag newer than 1.25.4"),
    ("ratelimit-long", "unknown", Some("rate_limited"), "retry after 86400s"),
    ("invalid-manifest", "unknown", Some("invalid_manifest"), "not JSON"),
    (
        "not-json-tags",
        "unknown",
        Some("invalid_response"),
        "not the expected JSON",
    ),
    ("lying-digest", "unknown", Some("digest_mismatch"), "does not match"),
    ("redirect-other-host", "up_to_date", None, "no tag newer than 1.25.4"),
    (
        "redirect-loop",
        "unknown",
        Some("too_many_redirects"),
        "redirected too many times",
    ),
    (
        "link-loop",
        "unknown",
        Some("incomplete_tags"),
        "links back to a page it already sent",
    ),
    ("link-other-host", "unknown", Some("cross_host_link"), "another host"),
    ("many-tags", "up_to_date", None, "no tag newer than 1.25.4"),
    (
        "token-endless",
        "unknown",
        Some("response_too_large"),
        "more than 64 KiB for a token",
    ),
    ("token-stall", "unknown", Some("stalled"), "stopped sending a token"),
    ("token-html", "unknown", Some("token_not_json"), "not JSON"),
    ("token-huge-lifetime", "up_to_date", None, "no tag newer than 1.25.4"),
    ("token-u64-lifetime", "up_to_date", None, "no tag newer than 1.25.4"),
    (
        "token-negative-lifetime",
        "up_to_date",
        None,
        "no tag newer than 1.25.4",
    ),
];

/// Generous: the CLI peaks near 40 MiB on this check; without the body caps it grew to GBs.
const MAX_RSS_BYTES: u64 = 256 * 1024 * 1024;

struct Run {
    status: i32,
    elapsed: Duration,
    max_rss_bytes: u64,
    report: Value,
    stderr: String,
}

/// Runs `tidewatch check --json` with `args` and measures its peak memory with wait4(2).
fn check(sandbox: &Sandbox, lab: &Lab, args: &[String]) -> Run {
    let out_path = sandbox.dir.path().join("out.json");
    let err_path = sandbox.dir.path().join("err.txt");
    let started = Instant::now();
    // Reaped by wait4 below, which std's `wait` cannot do (it gives no rusage).
    #[allow(clippy::zombie_processes)]
    let child = sandbox
        .tidewatch(lab)
        .arg("check")
        .args(args)
        .arg("--json")
        // Most faults are in manifest answers, and an `--image` version tag with no newer one
        // costs only its tag list unless its digest is asked for (docs/check.md#7-ask-the-registries).
        .arg("--digests")
        .env("TIDEWATCH_LOG", "debug")
        .stdout(Stdio::from(File::create(&out_path).unwrap()))
        .stderr(Stdio::from(File::create(&err_path).unwrap()))
        .spawn()
        .expect("start tidewatch");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value, and the pid is our own child, waited once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as libc::pid_t, "wait4 failed");
    let elapsed = started.elapsed();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    Run {
        status: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        elapsed,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
        report,
        stderr,
    }
}

/// Results by image reference.
fn by_image(report: &Value) -> BTreeMap<String, Value> {
    report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["image"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn assert_sound(run: &Run, deadline: Duration) {
    // The figures docs/reliability.md quotes (`-- --nocapture` shows them).
    eprintln!(
        "check took {:.1}s, peak memory {} MiB",
        run.elapsed.as_secs_f64(),
        run.max_rss_bytes / (1024 * 1024)
    );
    assert!(!run.stderr.contains("panicked"), "the CLI panicked:\n{}", run.stderr);
    assert_eq!(run.status, 0, "exit status; stderr:\n{}", run.stderr);
    assert!(
        run.elapsed < deadline + Duration::from_secs(5),
        "the check took {:?}, past its deadline of {deadline:?}",
        run.elapsed
    );
    assert!(
        run.max_rss_bytes < MAX_RSS_BYTES,
        "peak memory {} MiB",
        run.max_rss_bytes / (1024 * 1024)
    );
}

fn assert_normal_neighbours(results: &BTreeMap<String, Value>, lab: &Lab) {
    let open = lab.open_registry();
    let fault = lab.fault_registry();
    for (image, status, offered) in [
        (
            format!("{open}/fixtures/app:1.25.3"),
            "update_available",
            Some("1.25.4"),
        ),
        (format!("{open}/fixtures/web:1.9.0"), "update_available", Some("1.10.0")),
        (format!("{open}/fixtures/app:1.25.4"), "up_to_date", None),
        (format!("{fault}/ok/app:1.25.3"), "update_available", Some("1.25.4")),
    ] {
        let result = &results[&image];
        assert_eq!(result["status"], status, "{image}: {result}");
        assert_eq!(result["update"]["tag"].as_str(), offered, "{image}: {result}");
    }
}

#[tokio::test]
async fn every_fault_ends_unknown_with_its_reason_and_the_rest_of_the_check_is_judged_normally() {
    let lab = Lab::require();
    let fault = lab.fault_registry().to_string();
    let listed: Vec<&str> = FAULTS.iter().map(|(name, _)| *name).collect();
    let expected: Vec<&str> = EXPECTED.iter().map(|(name, ..)| *name).collect();
    assert_eq!(
        listed, expected,
        "every fault the lab injects has an expected outcome here"
    );

    // The lying registry is caught when a digest differs from a container's: it needs one.
    let engine = lab_engine(&lab).await;
    let lying = format!("{fault}/lying-digest/app:1.25.4");
    pull(&engine, &lying, None).await;
    let container = start_container(&engine, &lying, &unique("tw-fault-lying"), &[]).await;

    let sandbox = Sandbox::new();
    sandbox.write_config("[deadlines]\nrequest = \"3s\"\nimage = \"45s\"\ncheck = \"90s\"\n");
    let mut args = vec!["--engine".to_string(), lab.docker_host().to_string()];
    // A `Retry-After` of a day holds the whole registry (docs/registry-auth.md#concurrency-and-backing-off),
    // so that fault is checked on its own below, not beside the others on the same host.
    let alone = "ratelimit-long";
    for (name, ..) in EXPECTED
        .iter()
        .filter(|(name, ..)| *name != "lying-digest" && *name != alone)
    {
        args.extend(["--image".to_string(), format!("{fault}/{name}/app:1.25.4")]);
    }
    let open = lab.open_registry();
    for image in [
        format!("{open}/fixtures/app:1.25.3"),
        format!("{open}/fixtures/web:1.9.0"),
        format!("{open}/fixtures/app:1.25.4"),
        format!("{fault}/ok/app:1.25.3"),
    ] {
        args.extend(["--image".to_string(), image]);
    }
    let run = check(&sandbox, &lab, &args);
    remove_containers(&engine, std::slice::from_ref(&container)).await;
    assert_sound(&run, Duration::from_secs(90));

    let mut results = by_image(&run.report);
    let held = check(
        &sandbox,
        &lab,
        &["--image".to_string(), format!("{fault}/{alone}/app:1.25.4")],
    );
    results.extend(by_image(&held.report));
    let mut failures = Vec::new();
    for (name, status, code, words) in EXPECTED {
        let result = if *name == "lying-digest" {
            run.report["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| {
                    c["id"]
                        .as_str()
                        .is_some_and(|id| container.starts_with(id) || id.starts_with(&container))
                })
                .cloned()
                .unwrap_or(Value::Null)
        } else {
            results[&format!("{fault}/{name}/app:1.25.4")].clone()
        };
        let explanation = result["explanation"].as_str().unwrap_or_default();
        let ok = result["status"] == *status
            && result["error"]["code"].as_str() == *code
            && explanation.contains(words)
            && (code.is_none() || result["error"]["message"].as_str().is_some_and(|m| m.contains(words)));
        if !ok {
            failures.push(format!("{name}: expected {status} {code:?} {words:?}, got {result}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_normal_neighbours(&results, &lab);

    // The redirect reached the other host, without the token.
    let stats: Value = reqwest::get(format!("http://{fault}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["other_host_requests"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["leaked"], 0, "a credential reached another host: {stats}");
    // Debug logs name no token.
    assert!(!run.stderr.contains("fault-token"), "a token in the logs");
}

#[tokio::test]
async fn an_image_past_its_deadline_is_unknown_saying_so_and_the_others_are_judged() {
    let lab = Lab::require();
    let fault = lab.fault_registry();
    let sandbox = Sandbox::new();
    // The request deadline alone would wait an hour: the image deadline ends it.
    sandbox.write_config("[deadlines]\nrequest = \"1h\"\nimage = \"3s\"\ncheck = \"1h\"\n");
    let open = lab.open_registry();
    let mut args = Vec::new();
    for image in [
        format!("{fault}/stall-manifest/app:1.25.4"),
        format!("{fault}/stall-tags/app:1.25.4"),
        format!("{open}/fixtures/app:1.25.3"),
        format!("{open}/fixtures/web:1.9.0"),
        format!("{open}/fixtures/app:1.25.4"),
        format!("{fault}/ok/app:1.25.3"),
    ] {
        args.extend(["--image".to_string(), image]);
    }
    let run = check(&sandbox, &lab, &args);
    assert_sound(&run, Duration::from_secs(3));
    let results = by_image(&run.report);
    for stalled in ["stall-manifest", "stall-tags"] {
        let result = &results[&format!("{fault}/{stalled}/app:1.25.4")];
        assert_eq!(result["status"], "unknown", "{result}");
        assert_eq!(result["error"]["code"], "deadline", "{result}");
        let message = result["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("did not finish within 3s ([deadlines] image)"),
            "{message}"
        );
    }
    assert_normal_neighbours(&results, &lab);
}

#[tokio::test]
async fn a_check_past_its_deadline_reports_what_it_has_and_the_rest_as_unknown() {
    let lab = Lab::require();
    let fault = lab.fault_registry();
    let sandbox = Sandbox::new();
    sandbox.write_config("[deadlines]\nrequest = \"1h\"\nimage = \"1h\"\ncheck = \"4s\"\n");
    let open = lab.open_registry();
    let mut args = Vec::new();
    for image in [
        format!("{fault}/stall-manifest/app:1.25.4"),
        format!("{open}/fixtures/app:1.25.3"),
        format!("{open}/fixtures/web:1.9.0"),
        format!("{open}/fixtures/app:1.25.4"),
        format!("{fault}/ok/app:1.25.3"),
    ] {
        args.extend(["--image".to_string(), image]);
    }
    let run = check(&sandbox, &lab, &args);
    assert_sound(&run, Duration::from_secs(4));
    let results = by_image(&run.report);
    let stalled = &results[&format!("{fault}/stall-manifest/app:1.25.4")];
    assert_eq!(stalled["status"], "unknown", "{stalled}");
    assert_eq!(stalled["error"]["code"], "deadline", "{stalled}");
    let message = stalled["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the check did not finish within 4s ([deadlines] check)"),
        "{message}"
    );
    assert_normal_neighbours(&results, &lab);
}
