//! Work is shared (docs/check.md#work-sharing-and-request-bounds): fifty containers on one image cost the registry requests of one,
//! counted by the checker and by the lab registry's own Prometheus counters. Its own test binary,
//! so no other test talks to the open registry while the counters are read.

mod common;

use std::sync::Mutex;

use common::*;
use tidewatch_core::checker::{CheckRequest, Checker, EngineInventory, Progress, Status};
use tidewatch_core::config::Config;
use tidewatch_core::engine::{EngineSpec, EngineTarget};
use tidewatch_lab::Lab;

/// The lab engine's containers (and services) whose names start with `prefix`, as one engine's
/// inventory.
async fn inventory(lab: &Lab, prefix: &str) -> EngineInventory {
    let target = EngineTarget::Spec(EngineSpec::new("lab", lab.docker_host()));
    let mut inventory = EngineInventory::collect(&target).await;
    let containers = inventory.containers.as_mut().expect("list the lab engine's containers");
    containers.retain(|c| c.name.starts_with(prefix));
    inventory.workloads.retain(|w| w.name.starts_with(prefix));
    inventory
}

#[tokio::test]
async fn fifty_containers_on_one_image_cost_the_requests_of_one() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let image = format!("{}/fixtures/app:1.25.3", lab.open_registry());
    pull(&engine, &image, None).await;
    let run = unique("fifty");
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(start_container(&engine, &image, &format!("{run}-{i:02}"), &[]).await);
    }
    let config = Config::default();

    // One container, with a fresh pool (its own ping, no cached token).
    let one = inventory(&lab, &format!("{run}-00")).await;
    assert_eq!(one.containers.as_ref().unwrap().len(), 1);
    let before = registry_requests(&lab, "open").await;
    let report_one = Checker::from_config(&config)
        .unwrap()
        .check(
            CheckRequest {
                engines: vec![one],
                images: vec![],
            },
            &|_| {},
        )
        .await;
    let seen_one = registry_requests(&lab, "open").await - before;

    // Fifty, again with a fresh pool.
    let fifty = inventory(&lab, &run).await;
    assert_eq!(fifty.containers.as_ref().unwrap().len(), 50);
    let progress = Mutex::new(Vec::new());
    let record = |p: Progress| progress.lock().unwrap().push(p);
    let before = registry_requests(&lab, "open").await;
    let started = std::time::Instant::now();
    let report = Checker::from_config(&config)
        .unwrap()
        .check(
            CheckRequest {
                engines: vec![fifty],
                images: vec![],
            },
            &record,
        )
        .await;
    let elapsed = started.elapsed();
    let seen_fifty = registry_requests(&lab, "open").await - before;

    assert_eq!(report.containers.len(), 50);
    assert!(
        report.containers.iter().all(|r| r.status == Status::UpdateAvailable),
        "{report:#?}"
    );
    assert_eq!(report.summary.images, 1, "one plan group");
    assert_eq!(
        report.summary.requests, report_one.summary.requests,
        "the checker's own count"
    );
    assert_eq!(seen_fifty, seen_one, "the registry's count");
    assert_eq!(
        seen_fifty, report.summary.requests,
        "the checker counts what the registry sees"
    );
    // ping, HEAD of the tag, one tag list.
    assert_eq!(report.summary.requests, 3);
    eprintln!(
        "50 containers: {} requests (1 container: {}), {} ms",
        report.summary.requests,
        report_one.summary.requests,
        elapsed.as_millis()
    );

    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.first().map(|p| (p.checked, p.total)), Some((0, 50)));
    assert_eq!(progress.last().map(|p| (p.checked, p.total)), Some((50, 50)));

    remove_containers(&engine, &ids).await;
}
