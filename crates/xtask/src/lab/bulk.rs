//! The bulk fixtures: many small repositories (`bulk/r000` …) for request counts and the
//! benchmark. A tag is one image (the fixtures' base layer and a config naming the tag), the same
//! in every repository, so a repository costs only blob mounts and manifest PUTs; repositories
//! are pushed side by side. Each tag has its own image (not one image under several manifests):
//! an engine then records one digest per repository for each image it pulled.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::blocking::Client;
use serde_json::json;

use super::fixtures::{self, Layer, Pusher, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};
use super::registries::Registry;
use tidewatch_lab::{bulk_repository, BULK_TAGS, FIXTURE_TAGS};

/// Pushes side by side: the registry, not the lab, is the bottleneck.
const WORKERS: usize = 6;

/// One tag's image: its config blob and its manifest.
struct TagImage {
    tag: &'static str,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn tag_images(base: &Layer) -> Result<Vec<TagImage>> {
    BULK_TAGS
        .iter()
        .map(|tag| {
            let config = serde_json::to_vec(&json!({
                "architecture": "amd64",
                "os": "linux",
                "created": "2023-11-14T22:13:20Z",
                "config": {
                    "Cmd": ["sleep", "3600"],
                    "Labels": {"org.opencontainers.image.version": tag},
                },
                "rootfs": {"type": "layers", "diff_ids": [base.diff_id()]},
            }))?;
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "size": config.len(), "digest": fixtures::sha256(&config)},
                "layers": [{"mediaType": OCI_LAYER, "size": base.gz.len(), "digest": fixtures::sha256(&base.gz)}],
            }))?;
            Ok(TagImage { tag, config, manifest })
        })
        .collect()
}

/// Pushes `count` bulk repositories to `registry`, whose fixtures (hence the base layer in
/// `fixtures/app`) are already there.
pub fn push(registry: &Registry, count: usize) -> Result<()> {
    let base = Layer::new(fixtures::base_rootfs_tar()?)?;
    let images = tag_images(&base)?;
    let base_digest = fixtures::sha256(&base.gz);
    let base_repository = FIXTURE_TAGS[0].0;
    let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
    let pusher = Pusher {
        client: &client,
        registry,
    };
    // The first repository receives the config blobs; the others mount them from there.
    let first = bulk_repository(0);
    for image in &images {
        pusher.push_blob(&first, &image.config)?;
    }
    let push_one = |index: usize| -> Result<()> {
        let repository = bulk_repository(index);
        let auth = pusher.authorization_for(&[
            format!("repository:{repository}:pull,push"),
            format!("repository:{base_repository}:pull"),
            format!("repository:{first}:pull"),
        ])?;
        pusher.mount_blob(&auth, &repository, base_repository, &base_digest)?;
        for image in &images {
            if index != 0 {
                pusher.mount_blob(&auth, &repository, &first, &fixtures::sha256(&image.config))?;
            }
            pusher.put_manifest_as(&auth, &repository, image.tag, OCI_MANIFEST, &image.manifest)?;
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let push_one = &push_one;
                scope.spawn(move || -> Result<()> {
                    for index in (worker..count).step_by(WORKERS) {
                        push_one(index).with_context(|| format!("push {}", bulk_repository(index)))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| anyhow::bail!("a push worker panicked"))
        })
    })
}
