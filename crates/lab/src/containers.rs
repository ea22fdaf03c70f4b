//! Containers on the lab engine for tests (feature `containers`): pull, create or start labelled
//! for the lab's cleanup, remove. Over bollard's client, so the lab depends on nothing of Tidewatch's.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt as _;

/// Every container a test starts carries this label; `cargo xtask lab down` removes labelled
/// containers from an engine the lab reused.
pub const LAB_LABEL: &str = "tidewatch.lab";

/// Pulls `image` (`name:tag` or `name@digest`), with `(server, user, password)` when the
/// registry needs them.
pub async fn pull(docker: &Docker, image: &str, credentials: Option<(&str, &str, &str)>) {
    let builder = CreateImageOptionsBuilder::default();
    let options = match image.split_once('@') {
        Some(_) => builder.from_image(image).build(),
        None => {
            let (name, tag) = image.rsplit_once(':').expect("image has a tag");
            builder.from_image(name).tag(tag).build()
        }
    };
    let credentials = credentials.map(|(server, user, password)| DockerCredentials {
        username: Some(user.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(server.to_string()),
        ..Default::default()
    });
    let mut progress = docker.create_image(Some(options), None, credentials);
    while let Some(step) = progress.next().await {
        step.unwrap_or_else(|e| panic!("pulling {image} into the lab engine failed: {e}"));
    }
}

/// Creates and starts `sleep 3600` from `image` as `name` (replacing a leftover of that name),
/// labelled for the lab's cleanup plus `labels`; returns the container's ID.
pub async fn start_container(docker: &Docker, image: &str, name: &str, labels: &[(&str, &str)]) -> String {
    remove_container(docker, name).await;
    let mut all_labels = HashMap::from([(LAB_LABEL.to_string(), "1".to_string())]);
    all_labels.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(all_labels),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .unwrap_or_else(|e| panic!("create container {name} from {image}: {e}"));
    docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .unwrap_or_else(|e| panic!("start container {name}: {e}"));
    created.id
}

/// Creates `name` from `image` without starting it (no process, nothing held but the record:
/// what a check lists is the same), labelled for the lab's cleanup; returns its ID.
pub async fn create_container(docker: &Docker, image: &str, name: &str) -> String {
    remove_container(docker, name).await;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([(LAB_LABEL.to_string(), "1".to_string())])),
        ..Default::default()
    };
    docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .unwrap_or_else(|e| panic!("create container {name} from {image}: {e}"))
        .id
}

/// Removes a container by ID or name, running or not, with its anonymous volumes (the update
/// fixtures declare one); a missing one is fine.
pub async fn remove_container(docker: &Docker, id_or_name: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    let _ = docker.remove_container(id_or_name, Some(options)).await;
}

/// Removes a volume by name (an update mounts a once-anonymous volume by name, so removing its
/// container no longer removes it); a missing one is fine.
pub async fn remove_volume(docker: &Docker, name: &str) {
    let _ = docker
        .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
        .await;
}
