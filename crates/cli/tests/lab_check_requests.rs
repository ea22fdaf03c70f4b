//! Requests only where a verdict needs them (docs/check.md#work-sharing-and-request-bounds):
//! exact request counts, by the checker and by the lab registries' own Prometheus counters (and
//! the token server's count of tokens issued). Its own test binary, and each test holds
//! [`COUNTING`], so no other request reaches the lab's registries while one test counts.

mod common;

use std::sync::Arc;
use std::sync::Mutex;

use common::*;
use tidewatch_core::checker::{CheckReport, CheckRequest, Checker, EngineInventory, ImageTarget, Progress, Status};
use tidewatch_core::config::Config;
use tidewatch_core::credentials::{Credential, CredentialOrigin, StaticProvider};
use tidewatch_core::engine::{EngineSpec, EngineTarget};
use tidewatch_lab::{bulk_repository, containers, Lab, BULK_REPOSITORIES, BULK_REPOSITORIES_ON_TOKEN, BULK_TAGS};

/// One counting test at a time (the counters are the registries', shared by every test here).
static COUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

async fn check(checker: &Checker, engines: Vec<EngineInventory>, images: Vec<ImageTarget>) -> CheckReport {
    let request = CheckRequest {
        engines,
        images,
        resolve_digests: false,
    };
    checker.check(request, &|_| {}).await
}

/// `references` checked as `--image`s, for linux/amd64.
fn image_targets(references: &[String]) -> Vec<ImageTarget> {
    references
        .iter()
        .map(|reference| ImageTarget {
            reference: reference.clone(),
            platform: "linux/amd64".parse().unwrap(),
        })
        .collect()
}

/// `per_repository` version tags of each of the first `repositories` bulk repositories.
fn bulk_references(registry: &str, repositories: usize, per_repository: usize) -> Vec<String> {
    let versions: Vec<&str> = BULK_TAGS.iter().copied().filter(|t| *t != "latest").collect();
    assert!(per_repository <= versions.len() && repositories <= BULK_REPOSITORIES);
    (0..repositories)
        .flat_map(|i| {
            let repository = bulk_repository(i);
            versions[versions.len() - per_repository..]
                .iter()
                .map(move |tag| format!("{registry}/{repository}:{tag}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn tokens_issued(lab: &Lab) -> u64 {
    let stats: serde_json::Value = reqwest::get(lab.var("TIDEWATCH_LAB_TOKEN_STATS"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["issued"].as_u64().unwrap()
}

#[tokio::test]
async fn fifty_containers_on_one_image_cost_the_requests_of_one() {
    let _counting = COUNTING.lock().await;
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
    let report_one = check(&Checker::from_config(&config).unwrap(), vec![one], vec![]).await;
    let seen_one = registry_requests(&lab, "open").await - before;

    // Fifty, again with a fresh pool.
    let fifty = inventory(&lab, &run).await;
    assert_eq!(fifty.containers.as_ref().unwrap().len(), 50);
    let progress = Mutex::new(Vec::new());
    let record = |p: Progress| progress.lock().unwrap().push(p);
    let before = registry_requests(&lab, "open").await;
    let report = Checker::from_config(&config)
        .unwrap()
        .check(
            CheckRequest {
                engines: vec![fifty],
                images: vec![],
                resolve_digests: false,
            },
            &record,
        )
        .await;
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
    // The ping and one tag list: 1.25.4 is newer, so the digest of 1.25.3 changes nothing.
    assert_eq!(report.summary.requests, 2);

    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.first().map(|p| (p.checked, p.total)), Some((0, 50)));
    assert_eq!(progress.last().map(|p| (p.checked, p.total)), Some((50, 50)));

    remove_containers(&engine, &ids).await;
}

#[tokio::test]
async fn sixty_references_over_thirty_repositories_cost_one_tag_list_each() {
    let _counting = COUNTING.lock().await;
    let lab = Lab::require();
    let references = bulk_references(lab.open_registry(), 30, 2);
    assert_eq!(references.len(), 60);

    let before = registry_requests(&lab, "open").await;
    let report = check(
        &Checker::from_config(&Config::default()).unwrap(),
        vec![],
        image_targets(&references),
    )
    .await;
    let seen = registry_requests(&lab, "open").await - before;

    let statuses: Vec<Status> = report.containers.iter().map(|r| r.status).collect();
    assert_eq!(statuses.len(), 60);
    // 1.0.3 has a newer 1.1.0; 1.1.0 is the newest.
    assert!(
        statuses
            .chunks(2)
            .all(|pair| pair == [Status::UpdateAvailable, Status::UpToDate]),
        "{report:#?}"
    );
    assert!(report
        .containers
        .iter()
        .all(|r| r.update.as_ref().is_none_or(|u| u.digest.is_none())));
    // The ping, then one tag list per repository: no manifest is asked.
    assert_eq!(report.summary.requests, 31);
    assert_eq!(seen, 31, "the registry's count");
}

#[tokio::test]
async fn a_thousand_references_over_two_hundred_repositories_cost_201_requests() {
    let _counting = COUNTING.lock().await;
    let lab = Lab::require();
    let references = bulk_references(lab.open_registry(), 200, 5);
    assert_eq!(references.len(), 1000);

    let before = registry_requests(&lab, "open").await;
    let report = check(
        &Checker::from_config(&Config::default()).unwrap(),
        vec![],
        image_targets(&references),
    )
    .await;
    let seen = registry_requests(&lab, "open").await - before;

    assert_eq!(report.summary.containers, 1000);
    assert_eq!(
        report.summary.errors,
        0,
        "{:#?}",
        report.containers.iter().find(|r| r.error.is_some())
    );
    assert_eq!(
        report.summary.updates, 800,
        "four of each five tags have 1.1.0 above them"
    );
    assert_eq!(report.summary.requests, 201);
    assert_eq!(seen, 201, "the registry's count");
}

#[tokio::test]
async fn digests_are_asked_only_with_the_flag_and_once_per_tag() {
    let _counting = COUNTING.lock().await;
    let lab = Lab::require();
    let references = bulk_references(lab.open_registry(), 30, 2);
    let checker = Checker::from_config(&Config::default()).unwrap();
    let request = CheckRequest {
        engines: vec![],
        images: image_targets(&references),
        resolve_digests: true,
    };
    let before = registry_requests(&lab, "open").await;
    let report = checker.check(request, &|_| {}).await;
    let seen = registry_requests(&lab, "open").await - before;

    // 1.1.0 of each repository once, whether as a reference's own tag or as 1.0.3's newer one:
    // the ping, 30 tag lists, 30 HEADs.
    assert_eq!(report.summary.requests, 61);
    assert_eq!(seen, 61, "the registry's count");
    let newest = get_manifest(lab.open_registry(), &bulk_repository(0), "1.1.0")
        .await
        .digest;
    for result in report.containers.iter().filter(|r| r.status == Status::UpdateAvailable) {
        assert_eq!(
            result.update.as_ref().unwrap().digest.as_deref(),
            Some(newest.as_str()),
            "{result:#?}"
        );
    }
}

#[tokio::test]
async fn a_second_check_of_a_hundred_containers_asks_once_per_distinct_tag() {
    let _counting = COUNTING.lock().await;
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    // Thirty images: ten repositories with an old version, the newest and `latest` each.
    let images: Vec<String> = (0..10)
        .flat_map(|i| ["1.0.0", "1.1.0", "latest"].map(|tag| format!("{open}/{}:{tag}", bulk_repository(i))))
        .collect();
    for image in &images {
        pull(&engine, image, None).await;
    }
    let run = unique("hundred");
    let mut ids = Vec::new();
    for n in 0..100 {
        let name = format!("{run}-{n:03}");
        ids.push(containers::create_container(engine.docker(), &images[n % images.len()], &name).await);
    }
    let checker = Checker::from_config(&Config::default()).unwrap();

    let before = registry_requests(&lab, "open").await;
    let first = check(&checker, vec![inventory(&lab, &run).await], vec![]).await;
    let seen_first = registry_requests(&lab, "open").await - before;
    let before = registry_requests(&lab, "open").await;
    let second = check(&checker, vec![inventory(&lab, &run).await], vec![]).await;
    let seen_second = registry_requests(&lab, "open").await - before;
    remove_containers(&engine, &ids).await;

    for report in [&first, &second] {
        assert_eq!(report.summary.containers, 100);
        assert_eq!(report.summary.images, 30, "one group per distinct tag");
        for result in &report.containers {
            let expected = if result.image.ends_with(":1.0.0") {
                Status::UpdateAvailable
            } else {
                Status::UpToDate
            };
            assert_eq!(result.status, expected, "{result:#?}");
        }
    }
    // Ten tag lists (1.0.0 is decided by 1.1.0 alone), a HEAD for each 1.1.0 and each `latest`;
    // the first check also pings.
    assert_eq!(first.summary.requests, 31);
    assert_eq!(seen_first, 31, "the registry's count");
    assert_eq!(second.summary.requests, 30, "one request per distinct tag");
    assert_eq!(seen_second, 30, "the registry's count");
}

#[tokio::test]
async fn a_second_check_in_the_same_process_reuses_the_ping_and_the_tokens() {
    let _counting = COUNTING.lock().await;
    // The TLS stack needs its crypto provider before the counters' HTTP client is built.
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let token = lab.token_registry();
    let references = bulk_references(token, BULK_REPOSITORIES_ON_TOKEN, 2);
    let credentials = StaticProvider::new().with(
        token,
        Credential::password(
            lab.var("TIDEWATCH_LAB_TOKEN_USER"),
            lab.var("TIDEWATCH_LAB_TOKEN_PASSWORD"),
            CredentialOrigin::Explicit,
        ),
    );
    let checker = Checker::with_credentials(&Config::default(), Arc::new(credentials)).unwrap();

    let (before, tokens_before) = (registry_requests(&lab, "token").await, tokens_issued(&lab).await);
    let first = check(&checker, vec![], image_targets(&references)).await;
    let (seen_first, tokens_first) = (
        registry_requests(&lab, "token").await - before,
        tokens_issued(&lab).await - tokens_before,
    );
    let (before, tokens_before) = (registry_requests(&lab, "token").await, tokens_issued(&lab).await);
    let second = check(&checker, vec![], image_targets(&references)).await;
    let (seen_second, tokens_second) = (
        registry_requests(&lab, "token").await - before,
        tokens_issued(&lab).await - tokens_before,
    );

    for report in [&first, &second] {
        assert_eq!(report.summary.containers, 60);
        assert_eq!(report.summary.errors, 0, "{report:#?}");
        assert_eq!(report.summary.updates, 30);
    }
    // The ping, a token per repository (its own scope) and its tag list …
    assert_eq!((first.summary.requests, seen_first, tokens_first), (61, 31, 30));
    // … then only the tag lists: ping and tokens are still good.
    assert_eq!((second.summary.requests, seen_second, tokens_second), (30, 30, 0));
}
