//! The check plan: each container or service read into a subject (normalized reference, mirror
//! resolution, local digest, label policy), verdicts that need no registry given at once, and the
//! rest grouped by (upstream image, tag, platforms, first endpoint) so each group is asked once.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::result::{CheckFailure, ContainerResult, Kind, Status};
use super::ImageTarget;
use crate::engine::ContainerImage;
use crate::error::ErrorInfo;
use crate::labels::LabelPolicy;
use crate::mirror::{Endpoint, MirrorResolver, Resolution};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::source::{Replicas, RolloutState, Workload};
use crate::version::TagFilter;

/// The digest the engine recorded for the image, and under which name it was pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalDigest {
    pub digest: String,
    /// `registry/repository` of the RepoDigest (a mirror's name when pulled through one).
    pub source: String,
}

/// Who a result is about: the fields every result for one container (or image) shares.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    pub kind: Kind,
    pub engine: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub stack: Option<String>,
    /// The reference exactly as the container (or service spec) names it.
    pub image: String,
    /// The platforms to compare, never empty: a container's one, the nodes' of a service.
    pub platforms: Vec<Platform>,
    /// What the labels ask (the default for `--image` checks): filters, display name, links.
    pub policy: LabelPolicy,
    pub replicas: Option<Replicas>,
    pub rollout: Option<RolloutState>,
}

impl Identity {
    /// The platform a result names first.
    pub fn platform(&self) -> Platform {
        self.platforms.first().cloned().unwrap_or_else(Platform::host)
    }

    /// A result with the identity's fields filled in; the verdict's fields are left to the caller,
    /// then [`Identity::finish`] adds what the labels say about it.
    pub fn result(&self, upstream: Option<Reference>, checked_at: SystemTime) -> ContainerResult {
        ContainerResult {
            kind: self.kind,
            engine: self.engine.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            stack: self.stack.clone(),
            image: self.image.clone(),
            upstream,
            via: None,
            platform: Some(self.platform()),
            platforms: self.platforms.clone(),
            local_digest: None,
            status: Status::Unknown,
            update: None,
            explanation: String::new(),
            error: None,
            checked_at,
            display_name: self.policy.display_name.clone(),
            release_notes: None,
            replicas: self.replicas,
            rollout: self.rollout.clone(),
        }
    }

    /// The release notes for the version offered, else the one running.
    pub fn finish(&self, mut result: ContainerResult) -> ContainerResult {
        let tag = result
            .update
            .as_ref()
            .and_then(|u| u.tag.clone())
            .or_else(|| result.upstream.as_ref().map(|u| u.tag_or_latest().to_string()));
        result.release_notes = tag.and_then(|tag| self.policy.release_notes(&tag));
        result
    }
}

/// One container (or `--image`) waiting for its registry answers.
#[derive(Debug, Clone)]
pub(super) struct Subject {
    /// Where its result goes in the report.
    pub position: usize,
    pub identity: Identity,
    pub created_as: Reference,
    /// `None` for `--image` checks: there is no local image.
    pub local: Option<LocalDigest>,
    /// The container's RepoDigests, for a message when none matches.
    pub repo_digests: Vec<String>,
}

impl Subject {
    /// Label filters on candidate tags (the config's `[tags]` is applied to the list first).
    pub fn label_filter(&self) -> &TagFilter {
        &self.identity.policy.tag_filter
    }

    /// `wud.watch.digest=false` turns off digest comparison of version-like tags.
    pub fn watch_digest(&self) -> bool {
        self.identity.policy.watch_digest.unwrap_or(true)
    }
}

/// Subjects that share the same registry questions.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// The upstream reference with its tag (never a digest: pinned containers are not planned).
    pub upstream: Reference,
    /// Where to ask, in order (merged over the group's subjects).
    pub endpoints: Vec<Endpoint>,
    /// The config's `[tags]` filter.
    pub config_filter: TagFilter,
    pub subjects: Vec<Subject>,
}

impl Group {
    pub fn tag(&self) -> &str {
        self.upstream.tag_or_latest()
    }
}

pub(super) struct Plan {
    /// Results by position; `Some` for verdicts reached without a registry.
    pub slots: Vec<Option<ContainerResult>>,
    pub groups: Vec<Group>,
}

/// Builds a [`Plan`] one container at a time.
pub(super) struct Planner {
    checked_at: SystemTime,
    slots: Vec<Option<ContainerResult>>,
    groups: Vec<Group>,
    index: HashMap<(String, String, String, String), usize>,
}

/// A verdict reached without asking a registry.
struct Immediate {
    upstream: Option<Reference>,
    local_digest: Option<String>,
    status: Status,
    explanation: String,
    error: Option<CheckFailure>,
}

impl Planner {
    pub fn new(checked_at: SystemTime) -> Planner {
        Planner {
            checked_at,
            slots: Vec::new(),
            groups: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn add_container(
        &mut self,
        engine: &str,
        container: ContainerImage,
        resolver: &MirrorResolver,
        config_filter: &TagFilter,
    ) {
        let Some(policy) = self.label_policy(&container.labels, |policy| {
            container_identity(engine, &container, policy)
        }) else {
            return;
        };
        let identity = container_identity(engine, &container, policy);
        // A container created from an image ID is checked by its image's only tag; `image`
        // in the result stays as created.
        let Some(named) = container.named_reference() else {
            if container.repo_digests.is_empty() {
                let explanation = "the image has no RepoDigests (built or loaded locally) and the container was \
                                   created from its ID: there is nothing in a registry to compare it with"
                    .to_string();
                self.immediate(
                    &identity,
                    Immediate {
                        upstream: None,
                        local_digest: None,
                        status: Status::LocalOnly,
                        explanation,
                        error: None,
                    },
                );
                return;
            }
            let failure = CheckFailure::CreatedFromImageId {
                image: container.image.clone(),
                tags: if container.repo_tags.is_empty() {
                    "no"
                } else {
                    "more than one"
                },
            };
            self.immediate(
                &identity,
                Immediate {
                    upstream: None,
                    local_digest: None,
                    status: Status::Unknown,
                    explanation: format!("could not check: {failure}"),
                    error: Some(failure),
                },
            );
            return;
        };
        let reference: Reference = match named.parse() {
            Ok(reference) => reference,
            Err(error) => {
                let failure = CheckFailure::from(error);
                self.immediate(
                    &identity,
                    Immediate {
                        upstream: None,
                        local_digest: None,
                        status: Status::Unknown,
                        explanation: format!("could not check: {failure}"),
                        error: Some(failure),
                    },
                );
                return;
            }
        };
        let resolution = resolver.resolve(&reference);
        let upstream = with_tag(&resolution.upstream);
        if let Some(digest) = reference.digest() {
            let explanation = format!("pinned by digest {digest}: what runs cannot change, so no update is looked for");
            self.immediate(
                &identity,
                Immediate {
                    upstream: Some(upstream),
                    local_digest: Some(digest.to_string()),
                    status: Status::Pinned,
                    explanation,
                    error: None,
                },
            );
            return;
        }
        if container.repo_digests.is_empty() {
            let explanation =
                "the image has no RepoDigests (built or loaded locally): there is nothing in a registry to \
                               compare it with"
                    .to_string();
            self.immediate(
                &identity,
                Immediate {
                    upstream: Some(upstream),
                    local_digest: None,
                    status: Status::LocalOnly,
                    explanation,
                    error: None,
                },
            );
            return;
        }
        let local = match_repo_digest(&container.repo_digests, &reference, &resolution);
        let subject = Subject {
            position: self.slots.len(),
            identity,
            created_as: reference,
            local,
            repo_digests: container.repo_digests,
        };
        self.slots.push(None);
        self.plan(subject, resolution, config_filter);
    }

    /// A Swarm service (or, later, another orchestrated workload). Its spec's image carries the
    /// tag the user deployed and the digest resolved then (`name:tag@sha256:…`): that is not
    /// pinned; the digest is what runs, the tag what is followed (docs/check.md#swarm-services).
    /// Only a spec with a digest and no tag is pinned.
    pub fn add_workload(
        &mut self,
        engine: &str,
        workload: Workload,
        resolver: &MirrorResolver,
        config_filter: &TagFilter,
    ) {
        let Some(policy) = self.label_policy(&workload.labels, |policy| workload_identity(engine, &workload, policy))
        else {
            return;
        };
        let identity = workload_identity(engine, &workload, policy);
        let reference: Reference = match workload.image.parse() {
            Ok(reference) => reference,
            Err(error) => {
                let failure = CheckFailure::from(error);
                self.immediate(
                    &identity,
                    Immediate {
                        upstream: None,
                        local_digest: None,
                        status: Status::Unknown,
                        explanation: format!("could not check: {failure}"),
                        error: Some(failure),
                    },
                );
                return;
            }
        };
        let followed = match (reference.tag(), reference.digest()) {
            (Some(tag), Some(_)) => reference.with_tag(tag).unwrap_or_else(|_| reference.clone()),
            (None, Some(digest)) => {
                let upstream = with_tag(&resolver.resolve(&reference).upstream);
                let explanation =
                    format!("pinned by digest {digest}: what runs cannot change, so no update is looked for");
                self.immediate(
                    &identity,
                    Immediate {
                        upstream: Some(upstream),
                        local_digest: Some(digest.to_string()),
                        status: Status::Pinned,
                        explanation,
                        error: None,
                    },
                );
                return;
            }
            _ => reference.clone(),
        };
        let resolution = resolver.resolve(&followed);
        let local = workload.running_digest.as_ref().map(|digest| LocalDigest {
            digest: digest.clone(),
            // A digest is content-addressed: it is what the name the service pulls by serves.
            source: followed.name(),
        });
        let subject = Subject {
            position: self.slots.len(),
            identity,
            created_as: followed,
            local,
            repo_digests: Vec::new(),
        };
        self.slots.push(None);
        self.plan(subject, resolution, config_filter);
    }

    pub fn add_image(&mut self, image: ImageTarget, resolver: &MirrorResolver, config_filter: &TagFilter) {
        let identity = Identity {
            kind: Kind::Image,
            engine: None,
            id: None,
            name: None,
            stack: None,
            image: image.reference.clone(),
            platforms: vec![image.platform],
            policy: LabelPolicy::default(),
            replicas: None,
            rollout: None,
        };
        let reference: Reference = match image.reference.parse() {
            Ok(reference) => reference,
            Err(error) => {
                let failure = CheckFailure::from(error);
                self.immediate(
                    &identity,
                    Immediate {
                        upstream: None,
                        local_digest: None,
                        status: Status::Unknown,
                        explanation: format!("could not check: {failure}"),
                        error: Some(failure),
                    },
                );
                return;
            }
        };
        let resolution = resolver.resolve(&reference);
        let upstream = with_tag(&resolution.upstream);
        if let Some(digest) = reference.digest() {
            let explanation = format!("pinned by digest {digest}: it cannot change, so no update is looked for");
            self.immediate(
                &identity,
                Immediate {
                    upstream: Some(upstream),
                    local_digest: None,
                    status: Status::Pinned,
                    explanation,
                    error: None,
                },
            );
            return;
        }
        let subject = Subject {
            position: self.slots.len(),
            identity,
            created_as: reference,
            local: None,
            repo_digests: Vec::new(),
        };
        self.slots.push(None);
        self.plan(subject, resolution, config_filter);
    }

    pub fn finish(self) -> Plan {
        Plan {
            slots: self.slots,
            groups: self.groups,
        }
    }

    fn plan(&mut self, subject: Subject, resolution: Resolution, config_filter: &TagFilter) {
        let upstream = with_tag(&resolution.upstream);
        // The first endpoint is part of the key: a mirror-only or mirror-first rule must not be
        // answered by the upstream. Fallbacks of containers that share the first endpoint are
        // merged, so a container created through a mirror's name and one created with the
        // upstream's share one request.
        let first = resolution.endpoints.first().map(Endpoint::name).unwrap_or_default();
        let platforms: Vec<String> = subject.identity.platforms.iter().map(ToString::to_string).collect();
        let key = (
            upstream.name(),
            upstream.tag_or_latest().to_string(),
            platforms.join(","),
            first,
        );
        match self.index.get(&key) {
            Some(&i) => {
                let group = &mut self.groups[i];
                for endpoint in resolution.endpoints {
                    if !group.endpoints.iter().any(|e| e.name() == endpoint.name()) {
                        group.endpoints.push(endpoint);
                    }
                }
                group.subjects.push(subject);
            }
            None => {
                self.index.insert(key, self.groups.len());
                self.groups.push(Group {
                    upstream,
                    endpoints: resolution.endpoints,
                    config_filter: config_filter.clone(),
                    subjects: vec![subject],
                });
            }
        }
    }

    /// The entry's label policy, or `None` when it is not to be checked: its labels turn checks
    /// off, or cannot be read (then it gets an `unknown` result that says why). Containers and
    /// Swarm workloads read their labels alike.
    fn label_policy(
        &mut self,
        labels: &BTreeMap<String, String>,
        identity: impl Fn(LabelPolicy) -> Identity,
    ) -> Option<LabelPolicy> {
        let policy = match LabelPolicy::from_labels(labels) {
            Ok(policy) => policy,
            Err(error) => {
                let failure = CheckFailure::from(error);
                self.immediate(
                    &identity(LabelPolicy::default()),
                    Immediate {
                        upstream: None,
                        local_digest: None,
                        status: Status::Unknown,
                        explanation: failure.to_string(),
                        error: Some(failure),
                    },
                );
                return None;
            }
        };
        policy.is_enabled(true).then_some(policy)
    }

    fn immediate(&mut self, identity: &Identity, verdict: Immediate) {
        let mut result = identity.result(verdict.upstream, self.checked_at);
        result.local_digest = verdict.local_digest;
        result.status = verdict.status;
        result.explanation = verdict.explanation;
        result.error = verdict.error.as_ref().map(ErrorInfo::of);
        self.slots.push(Some(identity.finish(result)));
    }
}

fn container_identity(engine: &str, container: &ContainerImage, policy: LabelPolicy) -> Identity {
    Identity {
        kind: Kind::Container,
        engine: Some(engine.to_string()),
        id: Some(container.id.clone()),
        name: Some(container.name.clone()),
        stack: None,
        image: container.image.clone(),
        platforms: vec![container.platform.clone().unwrap_or_else(Platform::host)],
        policy,
        replicas: None,
        rollout: None,
    }
}

fn workload_identity(engine: &str, workload: &Workload, policy: LabelPolicy) -> Identity {
    let mut platforms = workload.platforms.clone();
    if platforms.is_empty() {
        platforms.push(Platform::host());
    }
    Identity {
        kind: workload.kind.into(),
        engine: Some(engine.to_string()),
        id: Some(workload.id.clone()),
        name: Some(workload.name.clone()),
        stack: workload.stack.clone(),
        image: workload.image.clone(),
        platforms,
        policy,
        replicas: workload.replicas,
        rollout: workload.rollout.clone(),
    }
}

/// The upstream with its tag written out (`latest` when the reference had neither tag nor
/// digest), as the document's `upstream` always carries a tag or a digest (docs/cli.md#containers).
pub(super) fn with_tag(reference: &Reference) -> Reference {
    reference.with_tag_written_out()
}

/// The RepoDigest that belongs to this image's names: the name the container was created with
/// first (that is where it was pulled from), then the upstream, then any endpoint. A digest is
/// content-addressed, so one recorded for a mirror equals the upstream's for the same manifest.
/// RepoDigests of other names (a `docker tag` of another image) are not comparable and ignored.
pub(super) fn match_repo_digest(
    repo_digests: &[String],
    created_as: &Reference,
    resolution: &Resolution,
) -> Option<LocalDigest> {
    let parsed: Vec<(String, String)> = repo_digests
        .iter()
        .filter_map(|text| {
            let reference: Reference = text.parse().ok()?;
            Some((reference.name(), reference.digest()?.to_string()))
        })
        .collect();
    let mut names = vec![created_as.name(), resolution.upstream.name()];
    names.extend(resolution.endpoints.iter().map(Endpoint::name));
    names.iter().find_map(|name| {
        parsed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(source, digest)| LocalDigest {
                digest: digest.clone(),
                source: source.clone(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::MirrorRule;

    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn resolver() -> MirrorResolver {
        MirrorResolver::new(
            &[MirrorRule {
                mirror: "mirror.corp:5000".into(),
                upstream: "registry.corp:5000".into(),
                query: Default::default(),
            }],
            &[],
        )
        .unwrap()
    }

    #[test]
    fn repo_digest_of_the_name_pulled_by_wins() {
        let created: Reference = "mirror.corp:5000/app:1".parse().unwrap();
        let resolution = resolver().resolve(&created);
        let digests = vec![
            format!("registry.corp:5000/app@{NEW}"),
            format!("mirror.corp:5000/app@{OLD}"),
        ];
        let local = match_repo_digest(&digests, &created, &resolution).unwrap();
        assert_eq!(local.digest, OLD);
        assert_eq!(local.source, "mirror.corp:5000/app");
    }

    #[test]
    fn repo_digest_of_the_upstream_counts_for_a_mirror_name() {
        let created: Reference = "mirror.corp:5000/app:1".parse().unwrap();
        let resolution = resolver().resolve(&created);
        let digests = vec![format!("registry.corp:5000/app@{NEW}")];
        assert_eq!(match_repo_digest(&digests, &created, &resolution).unwrap().digest, NEW);
    }

    #[test]
    fn repo_digests_of_unrelated_names_are_not_compared() {
        let created: Reference = "registry.corp:5000/app:1".parse().unwrap();
        let resolution = resolver().resolve(&created);
        let digests = vec![format!("other.corp/app@{NEW}"), "garbage".to_string()];
        assert_eq!(match_repo_digest(&digests, &created, &resolution), None);
    }

    #[test]
    fn docker_hub_short_repo_digests_match_normalized_names() {
        let created: Reference = "nginx:1.25".parse().unwrap();
        let resolution = MirrorResolver::default().resolve(&created);
        let digests = vec![format!("nginx@{OLD}")];
        assert_eq!(
            match_repo_digest(&digests, &created, &resolution).unwrap().source,
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn upstream_always_carries_a_tag_or_a_digest() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            (
                &format!("nginx@{OLD}") as &str,
                &format!("docker.io/library/nginx@{OLD}") as &str,
            ),
        ];
        for (input, expected) in cases {
            let reference: Reference = input.parse().unwrap();
            assert_eq!(with_tag(&reference).to_string(), expected, "{input}");
        }
    }

    fn container(name: &str, image: &str, digests: &[String], labels: &[(&str, &str)]) -> ContainerImage {
        ContainerImage {
            id: format!("id-{name}"),
            name: name.to_string(),
            image: image.to_string(),
            image_id: "sha256:abc".into(),
            repo_digests: digests.to_vec(),
            repo_tags: Vec::new(),
            platform: Some("linux/amd64".parse().unwrap()),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            running: true,
        }
    }

    #[test]
    fn containers_on_the_same_image_share_one_group_and_verdicts_without_registry_come_first() {
        let mut planner = Planner::new(SystemTime::now());
        let digests = vec![format!("registry.corp:5000/app@{OLD}")];
        let filter = TagFilter::default();
        for i in 0..50 {
            planner.add_container(
                "e",
                container(&format!("c{i}"), "registry.corp:5000/app:1", &digests, &[]),
                &resolver(),
                &filter,
            );
        }
        planner.add_container(
            "e",
            container("m", "mirror.corp:5000/app:1", &digests, &[]),
            &resolver(),
            &filter,
        );
        planner.add_container(
            "e",
            container("p", &format!("registry.corp:5000/app:1@{OLD}"), &digests, &[]),
            &resolver(),
            &filter,
        );
        planner.add_container("e", container("l", "app:dev", &[], &[]), &resolver(), &filter);
        planner.add_container(
            "e",
            container("off", "app:dev", &[], &[("tidewatch.enable", "false")]),
            &resolver(),
            &filter,
        );
        planner.add_container(
            "e",
            container("bad", "app:dev", &[], &[("wud.watch", "maybe")]),
            &resolver(),
            &filter,
        );
        let plan = planner.finish();
        // The disabled container is skipped entirely.
        assert_eq!(plan.slots.len(), 54);
        let statuses: Vec<Status> = plan.slots[51..].iter().map(|s| s.as_ref().unwrap().status).collect();
        assert_eq!(statuses, [Status::Pinned, Status::LocalOnly, Status::Unknown]);
        assert_eq!(
            plan.slots[53].as_ref().unwrap().error.as_ref().unwrap().code,
            "invalid_label"
        );
        // Created through the mirror's name or the upstream's: upstream-first asks the upstream
        // first either way, so they share one group, with the mirror as the fallback.
        assert_eq!(plan.groups.len(), 1);
        assert_eq!(plan.groups[0].subjects.len(), 51);
        assert_eq!(plan.groups[0].upstream.to_string(), "registry.corp:5000/app:1");
        let endpoints: Vec<String> = plan.groups[0].endpoints.iter().map(Endpoint::name).collect();
        assert_eq!(endpoints, ["registry.corp:5000/app", "mirror.corp:5000/app"]);
    }

    #[test]
    fn a_container_created_from_an_image_id_is_checked_by_its_only_tag() {
        let id = "sha256:4f2a6b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
        let digests = vec![format!("registry.corp:5000/app@{OLD}")];
        let by_id = |tags: &[&str], digests: &[String]| ContainerImage {
            image: id.to_string(),
            image_id: id.to_string(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            ..container("c", id, digests, &[])
        };
        let mut planner = Planner::new(SystemTime::now());
        let filter = TagFilter::default();
        planner.add_container(
            "e",
            by_id(&["registry.corp:5000/app:1"], &digests),
            &resolver(),
            &filter,
        );
        planner.add_container("e", by_id(&[], &digests), &resolver(), &filter);
        planner.add_container("e", by_id(&[], &[]), &resolver(), &filter);
        let plan = planner.finish();
        assert_eq!(plan.groups.len(), 1);
        assert_eq!(plan.groups[0].upstream.to_string(), "registry.corp:5000/app:1");
        assert_eq!(plan.groups[0].subjects[0].identity.image, id, "image stays as created");
        let untagged = plan.slots[1].as_ref().unwrap();
        assert_eq!(untagged.status, Status::Unknown);
        assert_eq!(untagged.error.as_ref().unwrap().code, "created_from_image_id");
        assert_eq!(plan.slots[2].as_ref().unwrap().status, Status::LocalOnly);
    }

    fn service(name: &str, image: &str, platforms: &[&str], labels: &[(&str, &str)]) -> Workload {
        Workload {
            kind: crate::source::WorkloadKind::Service,
            id: format!("id-{name}"),
            name: name.to_string(),
            stack: Some("shop".into()),
            image: image.to_string(),
            running_digest: image.split_once('@').map(|(_, d)| d.to_string()),
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            replicas: None,
            rollout: None,
        }
    }

    #[test]
    fn a_service_deployed_by_tag_is_followed_by_its_tag_and_compared_by_its_digest() {
        let mut planner = Planner::new(SystemTime::now());
        let filter = TagFilter::default();
        planner.add_workload(
            "e",
            service("web", &format!("registry.corp:5000/app:1@{OLD}"), &["linux/amd64"], &[]),
            &resolver(),
            &filter,
        );
        // Deployed through the mirror's name: the same upstream group as a container on the tag.
        planner.add_workload(
            "e",
            service(
                "cached",
                &format!("mirror.corp:5000/app:1@{OLD}"),
                &["linux/amd64"],
                &[],
            ),
            &resolver(),
            &filter,
        );
        planner.add_container(
            "e",
            container(
                "c",
                "registry.corp:5000/app:1",
                &[format!("registry.corp:5000/app@{OLD}")],
                &[],
            ),
            &resolver(),
            &filter,
        );
        let plan = planner.finish();
        assert!(
            plan.slots.iter().all(Option::is_none),
            "nothing is decided without a registry"
        );
        assert_eq!(plan.groups.len(), 1);
        let group = &plan.groups[0];
        assert_eq!(
            group.upstream.to_string(),
            "registry.corp:5000/app:1",
            "the tag, not the digest"
        );
        let web = &group.subjects[0];
        assert_eq!(web.identity.kind, Kind::Service);
        assert_eq!(web.identity.stack.as_deref(), Some("shop"));
        assert_eq!(web.identity.image, format!("registry.corp:5000/app:1@{OLD}"));
        assert_eq!(web.created_as.to_string(), "registry.corp:5000/app:1");
        let local = web.local.as_ref().unwrap();
        assert_eq!(
            (local.digest.as_str(), local.source.as_str()),
            (OLD, "registry.corp:5000/app")
        );
        assert_eq!(group.subjects[1].local.as_ref().unwrap().source, "mirror.corp:5000/app");
    }

    #[test]
    fn only_a_service_given_by_digest_alone_is_pinned() {
        let mut planner = Planner::new(SystemTime::now());
        let filter = TagFilter::default();
        planner.add_workload(
            "e",
            service(
                "pinned",
                &format!("registry.corp:5000/app@{OLD}"),
                &["linux/amd64"],
                &[],
            ),
            &resolver(),
            &filter,
        );
        planner.add_workload(
            "e",
            service(
                "off",
                "registry.corp:5000/app:1",
                &["linux/amd64"],
                &[("diun.enable", "false")],
            ),
            &resolver(),
            &filter,
        );
        planner.add_workload(
            "e",
            service(
                "bad",
                "registry.corp:5000/app:1",
                &["linux/amd64"],
                &[("tidewatch.enable", "perhaps")],
            ),
            &resolver(),
            &filter,
        );
        planner.add_workload(
            "e",
            service("tagonly", "registry.corp:5000/app:1", &["linux/amd64"], &[]),
            &resolver(),
            &filter,
        );
        let plan = planner.finish();
        assert_eq!(plan.slots.len(), 3, "the service disabled by its label is left out");
        let pinned = plan.slots[0].as_ref().unwrap();
        assert_eq!((pinned.status, pinned.kind), (Status::Pinned, Kind::Service));
        assert_eq!(pinned.local_digest.as_deref(), Some(OLD));
        assert_eq!(
            plan.slots[1].as_ref().unwrap().error.as_ref().unwrap().code,
            "invalid_label"
        );
        assert_eq!(
            plan.groups[0].subjects[0].local, None,
            "a tag-only spec has no digest to compare"
        );
    }

    #[test]
    fn services_on_other_platforms_ask_in_their_own_group() {
        let mut planner = Planner::new(SystemTime::now());
        let filter = TagFilter::default();
        let image = format!("registry.corp:5000/app:1@{OLD}");
        planner.add_workload("e", service("a", &image, &["linux/amd64"], &[]), &resolver(), &filter);
        planner.add_workload(
            "e",
            service("b", &image, &["linux/amd64", "linux/arm64"], &[]),
            &resolver(),
            &filter,
        );
        planner.add_workload(
            "e",
            service("c", &image, &["linux/amd64", "linux/arm64"], &[]),
            &resolver(),
            &filter,
        );
        let plan = planner.finish();
        let sizes: Vec<usize> = plan.groups.iter().map(|g| g.subjects.len()).collect();
        assert_eq!(sizes, [1, 2]);
        assert_eq!(plan.groups[1].subjects[0].identity.platforms.len(), 2);
    }
}
