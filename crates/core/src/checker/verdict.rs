//! One plan group asked of its registries (one HEAD for the tag, the tag list once per
//! repository, index manifests only when a digest changed) and the answers turned into verdicts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::plan::{Group, Subject};
use super::result::{short_digest as short, CheckFailure, ContainerResult, Kind, Status, Update, Via};
use crate::error::{Coded, ErrorInfo};
use crate::mirror::{Endpoint, EndpointRole};
use crate::platform::Platform;
use crate::registry::{ManifestDigest, PlatformManifest, RegistryClient, RegistryError, RegistryPool, TagList};
use crate::version::{is_version_like, newest_candidate, UpdateKind};

type TagsCell = Arc<tokio::sync::OnceCell<Result<Arc<TagList>, RegistryError>>>;

/// Tag lists fetched during one check, by endpoint (`registry/repository`): every tag of a
/// repository is listed once per check however many groups need it, even concurrently.
#[derive(Default)]
pub(super) struct TagCache {
    lists: Mutex<HashMap<String, TagsCell>>,
}

impl TagCache {
    async fn tags(&self, client: &RegistryClient, endpoint: &Endpoint) -> Result<Arc<TagList>, RegistryError> {
        let cell = {
            let mut lists = self.lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            lists.entry(endpoint.name()).or_default().clone()
        };
        cell.get_or_init(|| async { client.list_tags(&endpoint.repository).await.map(Arc::new) })
            .await
            .clone()
    }
}

fn client_for(pool: &RegistryPool, endpoint: &Endpoint) -> Result<Arc<RegistryClient>, RegistryError> {
    // An engine's `http://` registry-mirrors entry keeps its scheme; the pool keys by host either way.
    if endpoint.plain_http {
        pool.client(&format!("http://{}", endpoint.registry))
    } else {
        pool.client(&endpoint.registry)
    }
}

/// What the first endpoint that answered said about the tag.
struct Answer<'a> {
    endpoint: &'a Endpoint,
    client: Arc<RegistryClient>,
    remote: ManifestDigest,
    /// Endpoints asked before it that failed.
    failed: Vec<(&'a Endpoint, RegistryError)>,
}

/// Asks the registries for `group` and returns each subject's result with its position.
pub(super) async fn run_group(
    pool: &RegistryPool,
    tags: &TagCache,
    group: &Group,
    checked_at: SystemTime,
) -> Vec<(usize, ContainerResult)> {
    let tag = group.tag().to_string();
    let mut failed: Vec<(&Endpoint, RegistryError)> = Vec::new();
    let mut answer = None;
    // One HEAD per floating tag, at the endpoints in the resolution's order: the next one is
    // asked only when the previous did not answer (upstream-first falls back to mirrors).
    for endpoint in &group.endpoints {
        let client = match client_for(pool, endpoint) {
            Ok(client) => client,
            Err(error) => {
                failed.push((endpoint, error));
                continue;
            }
        };
        match client.manifest_digest(&endpoint.repository, &tag).await {
            Ok(remote) => {
                answer = Some(Answer {
                    endpoint,
                    client,
                    remote,
                    failed: std::mem::take(&mut failed),
                });
                break;
            }
            Err(error) => failed.push((endpoint, error)),
        }
    }
    let Some(answer) = answer else {
        return group
            .subjects
            .iter()
            .map(|subject| {
                let result = unreachable_result(group, subject, &failed, checked_at);
                (subject.position, subject.identity.finish(result))
            })
            .collect();
    };

    let tag_list = if is_version_like(&tag) {
        Some(tags.tags(&answer.client, answer.endpoint).await.map(|list| {
            Tags {
                tags: list
                    .tags
                    .iter()
                    .filter(|t| group.config_filter.allows(t))
                    .cloned()
                    .collect(),
                incomplete: list.cut.as_ref().map(|reason| RegistryError::IncompleteTags {
                    registry: answer.endpoint.registry.clone(),
                    repository: answer.endpoint.repository.clone(),
                    reason: reason.clone(),
                }),
            }
        }))
    } else {
        None
    };

    let mut lookups = Lookups::default();
    let mut results = Vec::with_capacity(group.subjects.len());
    for subject in &group.subjects {
        let result = judge(
            pool,
            group,
            subject,
            &answer,
            tag_list.as_ref(),
            &mut lookups,
            checked_at,
        )
        .await;
        results.push((subject.position, subject.identity.finish(result)));
    }
    results
}

/// A version tag's candidates: the listed tags the configuration allows, and why the list may be
/// incomplete (a page cap or a link loop), which forbids concluding that nothing is newer.
struct Tags {
    tags: Vec<String>,
    incomplete: Option<RegistryError>,
}

/// Every subject of `group` as `unknown` because `failure` stopped it (a deadline).
pub(super) fn failed_results(
    group: &Group,
    failure: &CheckFailure,
    checked_at: SystemTime,
) -> Vec<(usize, ContainerResult)> {
    group
        .subjects
        .iter()
        .map(|subject| {
            let mut out = result(group, subject, None, checked_at);
            let error = ErrorInfo::of(failure);
            out.explanation = format!("could not check {}: {}", group.upstream, error.message);
            out.error = Some(error);
            (subject.position, subject.identity.finish(out))
        })
        .collect()
}

/// Answers shared by the subjects of one group (several containers with the same old digest).
#[derive(Default)]
struct Lookups {
    /// Platform manifests by (index digest, platform).
    platform: HashMap<(String, Platform), Result<PlatformManifest, RegistryError>>,
    /// The tag's digest on a mirror, by endpoint name.
    mirror: HashMap<String, Result<ManifestDigest, RegistryError>>,
    /// Whether the registry serves content for the digest its HEAD reported.
    confirmed: Option<Result<(), RegistryError>>,
}

impl Lookups {
    async fn confirm(&mut self, answer: &Answer<'_>, digest: &str) -> Result<(), RegistryError> {
        if let Some(done) = &self.confirmed {
            return done.clone();
        }
        let result = answer
            .client
            .get_manifest(&answer.endpoint.repository, digest)
            .await
            .map(|_| ());
        self.confirmed = Some(result.clone());
        result
    }

    /// The manifest `digest` serves for the group's platform: at the endpoint that answered, then
    /// at the one the image was pulled from (an old index may only be left on the mirror).
    async fn platform_manifest(
        &mut self,
        pool: &RegistryPool,
        answer: &Answer<'_>,
        source: Option<&Endpoint>,
        digest: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        let key = (digest.to_string(), platform.clone());
        if let Some(found) = self.platform.get(&key) {
            return found.clone();
        }
        let mut result = answer
            .client
            .platform_manifest(&answer.endpoint.repository, digest, platform)
            .await;
        if let (Err(RegistryError::NotFound { .. }), Some(source)) = (&result, source) {
            if source.name() != answer.endpoint.name() {
                if let Ok(client) = client_for(pool, source) {
                    result = client.platform_manifest(&source.repository, digest, platform).await;
                }
            }
        }
        self.platform.insert(key, result.clone());
        result
    }

    async fn mirror_digest(
        &mut self,
        pool: &RegistryPool,
        mirror: &Endpoint,
        tag: &str,
    ) -> Result<ManifestDigest, RegistryError> {
        if let Some(found) = self.mirror.get(&mirror.name()) {
            return found.clone();
        }
        let result = match client_for(pool, mirror) {
            Ok(client) => client.manifest_digest(&mirror.repository, tag).await,
            Err(error) => Err(error),
        };
        self.mirror.insert(mirror.name(), result.clone());
        result
    }
}

/// A result for `subject` with the fields every verdict shares filled in.
fn result(group: &Group, subject: &Subject, via: Option<&Endpoint>, checked_at: SystemTime) -> ContainerResult {
    let mut result = subject.identity.result(Some(group.upstream.clone()), checked_at);
    result.via = via.map(Via::from);
    result.local_digest = subject.local.as_ref().map(|l| l.digest.clone());
    result
}

fn unreachable_result(
    group: &Group,
    subject: &Subject,
    failed: &[(&Endpoint, RegistryError)],
    checked_at: SystemTime,
) -> ContainerResult {
    let mut out = result(group, subject, None, checked_at);
    let asked: Vec<String> = failed.iter().map(|(e, _)| e.name()).collect();
    // The first endpoint's error is the one that matters: fallbacks are only fallbacks.
    let error = match failed.first() {
        Some((_, error)) => ErrorInfo::of(&CheckFailure::from(error.clone())),
        None => ErrorInfo::of(&CheckFailure::NoEndpoint),
    };
    out.explanation = format!(
        "could not check {} (asked {}): {}",
        group.upstream,
        asked.join(", "),
        error.message
    );
    out.error = Some(error);
    out
}

/// "checked <upstream> …": which endpoint answered and why it was that one.
fn checked_phrase(group: &Group, subject: &Subject, answer: &Answer<'_>) -> String {
    let upstream = group.upstream.name();
    let mut phrase = match &answer.endpoint.role {
        EndpointRole::Mirror { rule } => {
            format!("checked {upstream} via mirror {} ({rule})", answer.endpoint.registry)
        }
        EndpointRole::Upstream if subject.created_as.name() != upstream => {
            let rule = group
                .endpoints
                .iter()
                .find(|e| e.name() == subject.created_as.name())
                .and_then(|e| match &e.role {
                    EndpointRole::Mirror { rule } => Some(rule.clone()),
                    EndpointRole::Upstream => None,
                })
                .unwrap_or_else(|| "mirror rule".to_string());
            format!(
                "checked {upstream}, the upstream of {} ({rule})",
                subject.created_as.name()
            )
        }
        EndpointRole::Upstream => format!("checked {upstream}"),
    };
    if let Some((endpoint, error)) = answer.failed.first() {
        phrase.push_str(&format!(" after {} did not answer ({})", endpoint.name(), error.code()));
    }
    phrase
}

async fn judge(
    pool: &RegistryPool,
    group: &Group,
    subject: &Subject,
    answer: &Answer<'_>,
    tag_list: Option<&Result<Tags, RegistryError>>,
    lookups: &mut Lookups,
    checked_at: SystemTime,
) -> ContainerResult {
    let tag = group.tag();
    let remote = &answer.remote.digest;
    let checked = checked_phrase(group, subject, answer);
    let mut out = result(group, subject, Some(answer.endpoint), checked_at);

    // A version tag's verdict depends on its tag list: one that could not be read in full is
    // `unknown`, never "nothing newer" (docs/check.md#what-a-verdict-depends-on).
    let unreadable = |out: &mut ContainerResult, error: &RegistryError| {
        let error = ErrorInfo::of(&CheckFailure::from(error.clone()));
        out.explanation = format!(
            "{checked}; cannot tell whether a newer version exists: {}",
            error.message
        );
        out.error = Some(error);
    };
    let candidate = match tag_list {
        None => None,
        Some(Ok(tags)) => newest_candidate(tag, &tags.tags, subject.label_filter()),
        Some(Err(error)) => {
            unreadable(&mut out, error);
            return out;
        }
    };
    if candidate.is_none() {
        if let Some(Ok(Tags {
            incomplete: Some(error),
            ..
        })) = tag_list
        {
            unreadable(&mut out, error);
            return out;
        }
    }
    if let Some(candidate) = candidate {
        out.status = Status::UpdateAvailable;
        out.explanation = format!("{checked}; {} is newer ({})", candidate.tag, candidate.kind.as_str());
        out.update = Some(Update {
            kind: candidate.kind,
            tag: Some(candidate.tag),
            digest: None,
        });
        return out;
    }
    let no_newer_tag = if tag_list.is_some() {
        format!("no tag newer than {tag}")
    } else {
        format!("{tag} is not a version, so only its digest is compared")
    };

    let Some(local) = &subject.local else {
        if subject.identity.kind == Kind::Service {
            let failure = CheckFailure::NoDeployedDigest {
                kind: subject.identity.kind.as_str(),
                image: subject.identity.image.clone(),
            };
            out.explanation = format!("{checked}; {no_newer_tag}; cannot compare digests: {failure}");
            out.error = Some(ErrorInfo::of(&failure));
            return out;
        }
        if !subject.repo_digests.is_empty() {
            let failure = CheckFailure::NoMatchingRepoDigest {
                repo_digests: subject.repo_digests.clone(),
                created_as: subject.created_as.name(),
                upstream: group.upstream.name(),
            };
            out.explanation = format!("{checked}; cannot compare: {failure}");
            out.error = Some(ErrorInfo::of(&failure));
            return out;
        }
        // `--image`: no local image, only tags are compared (docs/check.md).
        out.status = Status::UpToDate;
        out.explanation = format!("{checked}; {no_newer_tag}; {tag} is {}", short(remote));
        return out;
    };

    if &local.digest == remote {
        out.status = Status::UpToDate;
        out.explanation = format!(
            "{checked}; {no_newer_tag}; {tag} still points at the local digest {}",
            short(remote)
        );
        return out;
    }
    if !subject.watch_digest() && tag_list.is_some() {
        out.status = Status::UpToDate;
        out.explanation =
            format!("{checked}; {no_newer_tag}; digest changes of {tag} are not watched (wud.watch.digest=false)");
        return out;
    }

    let source = group.endpoints.iter().find(|e| e.name() == local.source);
    // Multi-arch: the local RepoDigest is the index's. Compare the manifests for each platform
    // compared (a container's one, the nodes' of a service), old index against new, so a change
    // for other platforms only is no update (docs/check.md).
    let mut old_index_gone = false;
    if answer.remote.is_index() {
        let mut unchanged = Vec::new();
        let mut changed = false;
        for platform in &subject.identity.platforms {
            let new = lookups.platform_manifest(pool, answer, source, remote, platform).await;
            let old = lookups
                .platform_manifest(pool, answer, source, &local.digest, platform)
                .await;
            match (new, old) {
                (Ok(new), Ok(old)) if new.digest == old.digest => unchanged.push((platform, new.digest)),
                (Ok(_), Ok(_)) => changed = true,
                (Ok(_), Err(RegistryError::NotFound { .. })) => {
                    old_index_gone = true;
                    changed = true;
                }
                (Err(error), _) | (_, Err(error)) => {
                    let error = ErrorInfo::of(&CheckFailure::from(error));
                    out.explanation = format!(
                        "{checked}; {tag} points at another index ({}), but the {platform} manifests could not be \
                         compared: {}",
                        short(remote),
                        error.message
                    );
                    out.error = Some(error);
                    return out;
                }
            }
        }
        if !changed {
            let still: Vec<String> = unchanged
                .iter()
                .map(|(platform, digest)| format!("{platform} is still {}", short(digest)))
                .collect();
            out.status = Status::UpToDate;
            out.explanation = format!(
                "{checked}; {no_newer_tag}; the index of {tag} changed ({} -> {}) but only for other platforms: {}",
                short(&local.digest),
                short(remote),
                still.join(", ")
            );
            return out;
        }
    }

    // Pulled through a mirror that still serves the old digest: re-pulling would not update,
    // and the upstream's newer digest is the mirror lagging, not an update to offer.
    if let Some(mirror) = source.filter(|s| !s.is_upstream() && s.name() != answer.endpoint.name()) {
        if let Ok(on_mirror) = lookups.mirror_digest(pool, mirror, tag).await {
            if on_mirror.digest == local.digest {
                let failure = CheckFailure::MirrorBehind {
                    mirror: mirror.name(),
                    tag: tag.to_string(),
                    local: local.digest.clone(),
                    upstream: answer.endpoint.name(),
                    remote: remote.clone(),
                };
                out.explanation = format!("{checked}; {failure}");
                out.error = Some(ErrorInfo::of(&failure));
                return out;
            }
        }
    }

    // A digest from a HEAD is only a header: before offering it as an update, the registry must
    // serve content that hashes to it (an index was already fetched by digest above).
    if !answer.remote.is_index() {
        if let Err(error) = lookups.confirm(answer, remote).await {
            let error = ErrorInfo::of(&CheckFailure::from(error));
            out.explanation = format!(
                "{checked}; {tag} is reported to point at {} (local {}), but that could not be confirmed: {}",
                short(remote),
                short(&local.digest),
                error.message
            );
            out.error = Some(error);
            return out;
        }
    }

    out.status = Status::UpdateAvailable;
    out.explanation = format!(
        "{checked}; {no_newer_tag}; {tag} now points at {} (local {}){}",
        short(remote),
        short(&local.digest),
        if old_index_gone {
            ", and the local index is no longer in the registry"
        } else {
            ""
        }
    );
    out.update = Some(Update {
        kind: UpdateKind::Digest,
        tag: Some(tag.to_string()),
        digest: Some(remote.clone()),
    });
    out
}
