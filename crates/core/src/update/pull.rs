//! Pulling the new image before anything is touched: through the name the container uses (a mirror
//! stays a mirror), with the credentials a check uses (OS keyring, Docker config and its helpers),
//! reporting layer progress, under deadlines.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use super::progress::Phase;
use super::target::split_tag;
use super::UpdateError;
use crate::credentials::{ChainProvider, CredentialProvider as _, SecretKind};
use crate::docker_hub;
use crate::engine::model::{DockerCredentials, ImageInspect};
use crate::engine::{Engine, EngineError};
use crate::reference::Reference;

/// A pull that stays silent this long is given up (the engine sends progress every second or so).
const SILENCE_LIMIT: Duration = Duration::from_secs(300);
/// No pull may take longer than this in total.
const PULL_LIMIT: Duration = Duration::from_secs(3600);

/// Pulls `reference` and returns the image the engine now has under it. `mirror` is the mirror the
/// name pulls through, to say so when it fails.
pub async fn pull(
    engine: &Engine,
    reference: &str,
    mirror: Option<&str>,
    report: &(dyn Fn(Phase) + Send + Sync),
) -> Result<ImageInspect, UpdateError> {
    let (name, tag) = split_tag(reference);
    let tag = tag.unwrap_or("latest");
    let failed = |reason: String| UpdateError::Pull {
        reference: reference.to_string(),
        reason,
        mirror: mirror.map(str::to_string),
    };
    let credentials = credentials_for(reference).await.map_err(failed)?;

    let mut layers: HashMap<String, Layer> = HashMap::new();
    let mut last_reported = None;
    let started = Instant::now();
    let mut stream = Box::pin(engine.pull(name, tag, credentials));
    report(progress(reference, &layers));
    loop {
        let remaining = PULL_LIMIT.saturating_sub(started.elapsed());
        let next = tokio::time::timeout(SILENCE_LIMIT.min(remaining), stream.next()).await;
        let item = match next {
            Err(_) => {
                return Err(failed(format!(
                    "the engine reported no progress for {} s",
                    SILENCE_LIMIT.min(remaining).as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(item)) => item,
        };
        match item {
            Ok(info) => {
                if let Some(id) = info.id.clone().filter(|id| id.len() == 12) {
                    let layer = layers.entry(id).or_default();
                    layer.update(
                        info.status.as_deref().unwrap_or_default(),
                        info.progress_detail.as_ref(),
                    );
                }
                let now = progress(reference, &layers);
                if last_reported.as_ref() != Some(&now) {
                    report(now.clone());
                    last_reported = Some(now);
                }
            }
            // The registry's answer, passed on by the engine (a missing tag is a 404 from the engine).
            Err(EngineError::Request { reason, .. } | EngineError::NotFound { reason, .. }) => {
                return Err(failed(reason))
            }
            Err(error) => return Err(UpdateError::Engine(error)),
        }
    }
    match engine.find_image(reference).await? {
        Some(image) => Ok(image),
        None => Err(failed(
            "the engine finished the pull but has no image under that name".into(),
        )),
    }
}

/// One layer's download as the engine reports it.
#[derive(Debug, Default)]
struct Layer {
    current: u64,
    total: u64,
    done: bool,
}

impl Layer {
    fn update(&mut self, status: &str, detail: Option<&crate::engine::model::ProgressDetail>) {
        match status {
            "Downloading" => {
                if let Some(detail) = detail {
                    self.current = u64::try_from(detail.current.unwrap_or(0)).unwrap_or(0);
                    self.total = u64::try_from(detail.total.unwrap_or(0)).unwrap_or(0).max(self.total);
                }
            }
            "Download complete" | "Pull complete" | "Already exists" => {
                self.done = true;
                self.current = self.total;
            }
            _ => {}
        }
    }
}

fn progress(reference: &str, layers: &HashMap<String, Layer>) -> Phase {
    let count = |f: fn(&Layer) -> bool| u32::try_from(layers.values().filter(|l| f(l)).count()).unwrap_or(u32::MAX);
    Phase::Pulling {
        reference: reference.to_string(),
        layers_done: count(|l| l.done),
        layers_total: count(|_| true),
        bytes_done: layers.values().map(|l| l.current).sum(),
        bytes_total: layers.values().map(|l| l.total).sum(),
    }
}

/// The credential a check would use for the registry `reference` names, as the engine wants it.
async fn credentials_for(reference: &str) -> Result<Option<DockerCredentials>, String> {
    let registry = match reference.parse::<Reference>() {
        Ok(parsed) => parsed.registry().to_string(),
        Err(error) => return Err(error.to_string()),
    };
    // The keyring is asked over D-Bus, synchronously.
    let lookup = registry.clone();
    let found = tokio::task::spawn_blocking(move || ChainProvider::standard().credential_for(&lookup))
        .await
        .map_err(|e| e.to_string())?;
    let credential = match found {
        Ok(credential) => credential,
        Err(error) => {
            tracing::warn!(registry, "no credential for the pull: {error}");
            None
        }
    };
    Ok(credential.map(|credential| {
        let server = if docker_hub::is_docker_hub(&registry) {
            "https://index.docker.io/v1/".to_string()
        } else {
            registry.clone()
        };
        match credential.kind {
            SecretKind::Password => DockerCredentials {
                username: Some(credential.username.clone()),
                password: Some(credential.secret.expose().to_string()),
                serveraddress: Some(server),
                ..Default::default()
            },
            SecretKind::IdentityToken => DockerCredentials {
                identitytoken: Some(credential.secret.expose().to_string()),
                serveraddress: Some(server),
                ..Default::default()
            },
        }
    }))
}
