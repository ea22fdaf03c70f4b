//! One plan group asked of its registries and the answers turned into verdicts. Only what a
//! verdict needs is asked (docs/check.md#7-ask-the-registries): the tag list once per repository
//! for a version-like tag, the tag's digest only when a container has one to compare (or the
//! tag is not a version), index manifests only when a digest changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::plan::{Group, Subject};
use super::result::{short_digest as short, CheckFailure, ContainerResult, Kind, Status, Update, Via};
use crate::error::{Coded, ErrorInfo, ErrorKind};
use crate::mirror::{Endpoint, EndpointRole};
use crate::platform::Platform;
use crate::registry::{ManifestDigest, PlatformManifest, RegistryClient, RegistryError, RegistryPool, TagList};
use crate::version::{is_version_like, newest_candidate, Candidate, UpdateKind};

type Shared<T> = Arc<tokio::sync::OnceCell<Result<T, RegistryError>>>;

/// Answers one check shares between its groups, each asked once however many groups need it,
/// even concurrently: tag lists by endpoint (`registry/repository`), digests by endpoint and tag.
#[derive(Default)]
pub(super) struct CheckCache {
    tags: Mutex<HashMap<String, Shared<Arc<TagList>>>>,
    digests: Mutex<HashMap<(String, String), Shared<ManifestDigest>>>,
}

fn cell<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Shared<T>>>, key: K) -> Shared<T> {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key).or_default().clone()
}

impl CheckCache {
    async fn tags(&self, client: &RegistryClient, endpoint: &Endpoint) -> Result<Arc<TagList>, RegistryError> {
        cell(&self.tags, endpoint.name())
            .get_or_init(|| async { client.list_tags(&endpoint.repository).await.map(Arc::new) })
            .await
            .clone()
    }

    async fn digest(
        &self,
        client: &RegistryClient,
        endpoint: &Endpoint,
        tag: &str,
    ) -> Result<ManifestDigest, RegistryError> {
        cell(&self.digests, (endpoint.name(), tag.to_string()))
            .get_or_init(|| async { client.manifest_digest(&endpoint.repository, tag).await })
            .await
            .clone()
    }
}

/// How a check asks: whether digests nobody's verdict needs are asked for anyway (`--digests`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Asking {
    pub resolve_digests: bool,
}

fn client_for(pool: &RegistryPool, endpoint: &Endpoint) -> Result<Arc<RegistryClient>, RegistryError> {
    // An engine's `http://` registry-mirrors entry keeps its scheme; the pool keys by host either way.
    if endpoint.plain_http {
        pool.client(&format!("http://{}", endpoint.registry))
    } else {
        pool.client(&endpoint.registry)
    }
}

/// A version tag's candidates: the listed tags the configuration allows, and why the list may be
/// incomplete (a page cap or a link loop), which forbids concluding that nothing is newer.
struct Tags {
    tags: Vec<String>,
    incomplete: Option<RegistryError>,
}

/// The tags a version-like tag is compared with, or why they could not be listed.
type Listed = Result<Tags, RegistryError>;

/// What the first endpoint that answered said about the tag.
struct Answer<'a> {
    endpoint: &'a Endpoint,
    client: Arc<RegistryClient>,
    /// The tag's digest, when a verdict needs it or `--digests` asked for it.
    remote: Option<ManifestDigest>,
    /// For a version-like tag: its repository's tags.
    tags: Option<Listed>,
    /// Endpoints asked before it that failed.
    failed: Vec<(&'a Endpoint, RegistryError)>,
}

/// The newer tag a subject is offered, if any: the newest compatible one its filters allow.
fn candidate(tag: &str, subject: &Subject, tags: Option<&Listed>) -> Option<Candidate> {
    match tags {
        Some(Ok(tags)) => newest_candidate(tag, &tags.tags, subject.label_filter()),
        _ => None,
    }
}

/// Whether `subject`'s verdict rests on the tag's digest: it has a local digest, no newer tag
/// decides first, and digest changes are watched for it.
fn needs_digest(tag: &str, subject: &Subject, tags: Option<&Listed>) -> bool {
    subject.local.is_some() && candidate(tag, subject, tags).is_none() && (tags.is_none() || subject.watch_digest())
}

/// Asks one endpoint about the group's tag: the tag list first for a version-like tag (it says
/// whether the tag exists and what is newer), then the digest when a verdict needs it. An error
/// means this endpoint did not answer, and the next one is asked.
async fn ask(
    cache: &CheckCache,
    client: &RegistryClient,
    endpoint: &Endpoint,
    group: &Group,
    asking: Asking,
) -> Result<(Option<Listed>, Option<ManifestDigest>), RegistryError> {
    let tag = group.tag();
    let mut tag_is_listed = false;
    let tags = if is_version_like(tag) {
        match cache.tags(client, endpoint).await {
            Ok(list) => {
                tag_is_listed = list.tags.iter().any(|t| t == tag);
                // A complete list without the tag answers what a HEAD would: not found.
                if !tag_is_listed && list.cut.is_none() {
                    return Err(client.not_found(&endpoint.repository, tag));
                }
                let allowed = list.tags.iter().filter(|t| group.config_filter.allows(t)).cloned();
                Some(Ok(Tags {
                    tags: allowed.collect(),
                    incomplete: list.cut.as_ref().map(|reason| RegistryError::IncompleteTags {
                        registry: endpoint.registry.clone(),
                        repository: endpoint.repository.clone(),
                        reason: reason.clone(),
                    }),
                }))
            }
            // No repository: the manifest is not there either.
            Err(RegistryError::NotFound { .. }) => return Err(client.not_found(&endpoint.repository, tag)),
            Err(error) if error.kind() == ErrorKind::NoAnswer => return Err(error),
            // Listing refused or broken: the verdict is `unknown` (docs/check.md#what-a-verdict-depends-on).
            Err(error) => Some(Err(error)),
        }
    } else {
        None
    };
    // `--digests` names the digest of a tag with no newer one; an update carries the new tag's.
    // An unreadable list decides every verdict (`unknown`) without a digest.
    let wanted = !matches!(tags, Some(Err(_)))
        && (!tag_is_listed
            || group.subjects.iter().any(|s| {
                needs_digest(tag, s, tags.as_ref())
                    || (asking.resolve_digests && candidate(tag, s, tags.as_ref()).is_none())
            }));
    let remote = if wanted {
        Some(cache.digest(client, endpoint, tag).await?)
    } else {
        None
    };
    Ok((tags, remote))
}

/// Asks the registries for `group` and returns each subject's result with its position.
pub(super) async fn run_group(
    pool: &RegistryPool,
    cache: &CheckCache,
    group: &Group,
    asking: Asking,
    checked_at: SystemTime,
) -> Vec<(usize, ContainerResult)> {
    let mut failed: Vec<(&Endpoint, RegistryError)> = Vec::new();
    let mut answer = None;
    // The endpoints in the resolution's order: the next one is asked only when the previous did
    // not answer (upstream-first falls back to mirrors).
    for endpoint in &group.endpoints {
        let client = match client_for(pool, endpoint) {
            Ok(client) => client,
            Err(error) => {
                failed.push((endpoint, error));
                continue;
            }
        };
        match ask(cache, &client, endpoint, group, asking).await {
            Ok((tags, remote)) => {
                answer = Some(Answer {
                    endpoint,
                    client,
                    remote,
                    tags,
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

    let mut lookups = Lookups::default();
    let mut results = Vec::with_capacity(group.subjects.len());
    for subject in &group.subjects {
        let result = judge(pool, cache, group, subject, &answer, asking, &mut lookups, checked_at).await;
        results.push((subject.position, subject.identity.finish(result)));
    }
    results
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

#[allow(clippy::too_many_arguments)]
async fn judge(
    pool: &RegistryPool,
    cache: &CheckCache,
    group: &Group,
    subject: &Subject,
    answer: &Answer<'_>,
    asking: Asking,
    lookups: &mut Lookups,
    checked_at: SystemTime,
) -> ContainerResult {
    let tag = group.tag();
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
    if let Some(Err(error)) = &answer.tags {
        unreadable(&mut out, error);
        return out;
    }
    let candidate = candidate(tag, subject, answer.tags.as_ref());
    if candidate.is_none() {
        if let Some(Ok(Tags {
            incomplete: Some(error),
            ..
        })) = &answer.tags
        {
            unreadable(&mut out, error);
            return out;
        }
    }
    if let Some(candidate) = candidate {
        // The new tag's digest only when asked for: the verdict does not need it.
        let (digest, digest_note) = if asking.resolve_digests {
            match cache.digest(&answer.client, answer.endpoint, &candidate.tag).await {
                Ok(found) => (Some(found.digest), String::new()),
                Err(error) => (None, format!(" (its digest could not be read: {error})")),
            }
        } else {
            (None, String::new())
        };
        out.status = Status::UpdateAvailable;
        out.explanation = format!(
            "{checked}; {} is newer ({}){digest_note}",
            candidate.tag,
            candidate.kind.as_str()
        );
        out.update = Some(Update {
            kind: candidate.kind,
            tag: Some(candidate.tag),
            digest,
        });
        return out;
    }
    let no_newer_tag = if answer.tags.is_some() {
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
        out.explanation = match &answer.remote {
            Some(remote) => format!("{checked}; {no_newer_tag}; {tag} is {}", short(&remote.digest)),
            None => format!("{checked}; {no_newer_tag}"),
        };
        return out;
    };

    if answer.tags.is_some() && !subject.watch_digest() {
        out.status = Status::UpToDate;
        out.explanation =
            format!("{checked}; {no_newer_tag}; digest changes of {tag} are not watched (wud.watch.digest=false)");
        return out;
    }
    // `ask` fetched the digest for every subject that needs it; this only covers a subject it
    // did not foresee, from the same endpoint.
    let remote = match &answer.remote {
        Some(remote) => remote.clone(),
        None => match cache.digest(&answer.client, answer.endpoint, tag).await {
            Ok(remote) => remote,
            Err(error) => {
                let error = ErrorInfo::of(&CheckFailure::from(error));
                out.explanation = format!(
                    "{checked}; {no_newer_tag}; its digest could not be read: {}",
                    error.message
                );
                out.error = Some(error);
                return out;
            }
        },
    };
    let remote_digest = &remote.digest;

    if &local.digest == remote_digest {
        out.status = Status::UpToDate;
        out.explanation = format!(
            "{checked}; {no_newer_tag}; {tag} still points at the local digest {}",
            short(remote_digest)
        );
        return out;
    }

    let source = group.endpoints.iter().find(|e| e.name() == local.source);
    // Multi-arch: the local RepoDigest is the index's. Compare the manifests for each platform
    // compared (a container's one, the nodes' of a service), old index against new, so a change
    // for other platforms only is no update (docs/check.md).
    let mut old_index_gone = false;
    if remote.is_index() {
        let mut unchanged = Vec::new();
        let mut changed = false;
        for platform in &subject.identity.platforms {
            let new = lookups
                .platform_manifest(pool, answer, source, remote_digest, platform)
                .await;
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
                        short(remote_digest),
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
                short(remote_digest),
                still.join(", ")
            );
            return out;
        }
    }

    // Pulled through a mirror that still serves the old digest: re-pulling would not update,
    // and the upstream's newer digest is the mirror lagging, not an update to offer.
    if let Some(mirror) = source.filter(|s| !s.is_upstream() && s.name() != answer.endpoint.name()) {
        let on_mirror = match client_for(pool, mirror) {
            Ok(client) => cache.digest(&client, mirror, tag).await,
            Err(error) => Err(error),
        };
        if let Ok(on_mirror) = on_mirror {
            if on_mirror.digest == local.digest {
                let failure = CheckFailure::MirrorBehind {
                    mirror: mirror.name(),
                    tag: tag.to_string(),
                    local: local.digest.clone(),
                    upstream: answer.endpoint.name(),
                    remote: remote_digest.clone(),
                };
                out.explanation = format!("{checked}; {failure}");
                out.error = Some(ErrorInfo::of(&failure));
                return out;
            }
        }
    }

    // A digest from a HEAD is only a header: before offering it as an update, the registry must
    // serve content that hashes to it (an index was already fetched by digest above).
    if !remote.is_index() {
        if let Err(error) = lookups.confirm(answer, remote_digest).await {
            let error = ErrorInfo::of(&CheckFailure::from(error));
            out.explanation = format!(
                "{checked}; {tag} is reported to point at {} (local {}), but that could not be confirmed: {}",
                short(remote_digest),
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
        short(remote_digest),
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
        digest: Some(remote_digest.clone()),
    });
    out
}
