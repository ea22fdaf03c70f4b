//! The lab is real: a container runs on the lab engine from a fixture image, its RepoDigests come
//! through bollard (API version negotiated), and the open registry answers a HEAD with the same
//! digest.

use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_lab::{containers, Lab};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

#[tokio::test]
async fn container_digest_from_the_engine_matches_the_registry() {
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");

    // Negotiation settled on what the engine speaks, not bollard's newer default.
    let version = engine.docker().version().await.expect("engine version");
    assert_eq!(
        engine.api_version(),
        version.api_version.expect("engine reports its API version")
    );

    let image = format!("{}/fixtures/app:1.25.3", lab.open_registry());
    containers::pull(engine.docker(), &image, None).await;
    let id = containers::start_container(engine.docker(), &image, "tidewatch-lab-engine-digest", &[]).await;

    let containers = engine.containers().await.expect("list containers");
    let container = containers
        .iter()
        .find(|c| c.id == id)
        .expect("the new container is listed");
    assert_eq!(container.image, image, "the reference as created");
    assert!(container.running);
    assert_eq!(
        container.platform.as_ref().map(|p| p.to_string()).as_deref(),
        Some("linux/amd64")
    );
    let repo_digest = container
        .repo_digests
        .iter()
        .find(|d| d.starts_with(&format!("{}/fixtures/app@", lab.open_registry())))
        .unwrap_or_else(|| panic!("no RepoDigest for the open registry in {:?}", container.repo_digests));
    let local_digest = repo_digest.split_once('@').expect("name@digest").1;

    let url = format!("http://{}/v2/fixtures/app/manifests/1.25.3", lab.open_registry());
    let response = reqwest::Client::new()
        .head(&url)
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(response.status(), 200);
    let registry_digest = response.headers()["docker-content-digest"]
        .to_str()
        .expect("ascii digest");
    assert_eq!(local_digest, registry_digest);

    containers::remove_container(engine.docker(), &id).await;
}

#[tokio::test]
async fn a_locally_imported_image_has_no_repo_digests() {
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let id = containers::start_container(
        engine.docker(),
        tidewatch_lab::FIXTURE_LOCAL_ONLY,
        "tidewatch-lab-local-only",
        &[],
    )
    .await;
    let containers = engine.containers().await.expect("list containers");
    let container = containers.iter().find(|c| c.id == id).expect("listed");
    assert!(container.repo_digests.is_empty(), "{:?}", container.repo_digests);
    assert_eq!(container.repo_tags, vec![tidewatch_lab::FIXTURE_LOCAL_ONLY.to_string()]);
    containers::remove_container(engine.docker(), &id).await;
}
