//! The lab is real: a container runs on the lab engine from a fixture image, its RepoDigests come
//! through bollard (API version negotiated), and the open registry answers a HEAD with the same
//! digest.

use std::collections::HashMap;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use futures_util::StreamExt;
use tidewatch_core::engine::Engine;
use tidewatch_lab::Lab;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

async fn pull(engine: &Engine, image: &str) {
    let (name, tag) = image.rsplit_once(':').expect("image has a tag");
    let options = CreateImageOptionsBuilder::default().from_image(name).tag(tag).build();
    let mut progress = engine.docker().create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        step.unwrap_or_else(|e| panic!("pulling {image} into the lab engine failed: {e}"));
    }
}

/// Starts a labelled container (the lab removes labelled containers from a reused engine).
async fn start_container(engine: &Engine, image: &str, name: &str) -> String {
    let _ = engine
        .docker()
        .remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([("tidewatch.lab".to_string(), "1".to_string())])),
        ..Default::default()
    };
    let created = engine
        .docker()
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .expect("create the container");
    engine
        .docker()
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .expect("start the container");
    created.id
}

#[tokio::test]
async fn container_digest_from_the_engine_matches_the_registry() {
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect("lab", lab.docker_host())
        .await
        .expect("connect to the lab engine");

    // Negotiation settled on what the engine speaks, not bollard's newer default.
    let version = engine.docker().version().await.expect("engine version");
    assert_eq!(
        engine.api_version(),
        version.api_version.expect("engine reports its API version")
    );

    let image = format!("{}/fixtures/app:1.25.3", lab.open_registry());
    pull(&engine, &image).await;
    let id = start_container(&engine, &image, "tidewatch-lab-engine-digest").await;

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

    engine
        .docker()
        .remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .expect("remove the container");
}

#[tokio::test]
async fn a_locally_imported_image_has_no_repo_digests() {
    let lab = Lab::require();
    let engine = Engine::connect("lab", lab.docker_host())
        .await
        .expect("connect to the lab engine");
    let id = start_container(&engine, tidewatch_lab::FIXTURE_LOCAL_ONLY, "tidewatch-lab-local-only").await;
    let containers = engine.containers().await.expect("list containers");
    let container = containers.iter().find(|c| c.id == id).expect("listed");
    assert!(container.repo_digests.is_empty(), "{:?}", container.repo_digests);
    assert_eq!(container.repo_tags, vec![tidewatch_lab::FIXTURE_LOCAL_ONLY.to_string()]);
    engine
        .docker()
        .remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .expect("remove the container");
}
