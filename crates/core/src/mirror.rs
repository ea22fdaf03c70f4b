//! Mirror resolution (docs/mirrors.md): from the name a container was pulled by to the upstream image and the endpoints to ask.
//!
//! Containers are often created from a mirror's name (`docker.m.daocloud.io/library/nginx`,
//! `harbor.corp/dockerhub/nginx`). Updates are a property of the upstream image, so the check
//! works on the upstream reference and asks the mirrors only as the query policy says.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::docker_hub::NAME as DOCKER_HUB;
use crate::reference::{looks_like_registry_host, normalize_registry, Reference, ReferenceError};
use crate::registries_conf::{ContainersMirrors, MirrorKind};

/// More hops than any real cache hierarchy has; a longer chain is a loop in the rules.
const MAX_HOPS: usize = 8;

/// Which endpoints to ask, and in what order, for images behind a mirror rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueryPolicy {
    /// Ask the upstream; fall back to the mirror when the upstream does not answer.
    #[default]
    UpstreamFirst,
    /// Ask the mirror; fall back to the upstream.
    MirrorFirst,
    /// Ask only the mirror: for networks where the upstream is unreachable.
    MirrorOnly,
}

impl fmt::Display for QueryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueryPolicy::UpstreamFirst => "upstream-first",
            QueryPolicy::MirrorFirst => "mirror-first",
            QueryPolicy::MirrorOnly => "mirror-only",
        })
    }
}

/// A `[[mirrors]]` rule of the configuration: names under `mirror` are copies of names under `upstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorRule {
    /// Host or `host/path` prefix as containers name it: `harbor.corp/dockerhub`.
    pub mirror: String,
    /// Host or `host/path` prefix it caches: `docker.io`, `ghcr.io/org`.
    pub upstream: String,
    #[serde(default)]
    pub query: QueryPolicy,
}

/// A mirror rule that cannot be used, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("mirror rule {mirror:?} -> {upstream:?}: {reason}")]
    InvalidRule {
        mirror: String,
        upstream: String,
        reason: String,
    },
}

/// Whether an endpoint is the image's home or a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum EndpointRole {
    Upstream,
    /// A mirror, with the rule that made it one (`built-in: DaoCloud`, `config: harbor.corp/dockerhub -> docker.io`).
    Mirror {
        rule: String,
    },
}

/// One place to ask for the image: a registry host and the repository path there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `host[:port]`, normalized like [`Reference::registry`].
    pub registry: String,
    pub repository: String,
    #[serde(flatten)]
    pub role: EndpointRole,
    /// The endpoint was configured with an `http://` URL (an engine's `registry-mirrors` entry).
    pub plain_http: bool,
}

impl Endpoint {
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn is_upstream(&self) -> bool {
        self.role == EndpointRole::Upstream
    }

    fn describe(&self) -> String {
        match &self.role {
            EndpointRole::Upstream => format!("{} (upstream)", self.name()),
            EndpointRole::Mirror { rule } => format!("{} (mirror, {rule})", self.name()),
        }
    }
}

/// The outcome of mirror resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The upstream image, with the tag and digest of the reference resolved.
    pub upstream: Reference,
    /// Where to ask, in order; never empty.
    pub endpoints: Vec<Endpoint>,
    /// How the resolution was reached, one human line per step (`tidewatch explain`).
    pub steps: Vec<String>,
}

/// A `host` or `host/path` prefix, validated and normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    host: String,
    /// Path segments under the host; empty for a host-only prefix.
    path: Vec<String>,
}

impl Prefix {
    fn parse(text: &str) -> Result<Prefix, String> {
        let trimmed = text.trim();
        let trimmed = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed)
            .trim_end_matches('/');
        let (host, path) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if host.is_empty() {
            return Err("the prefix is empty".into());
        }
        if !looks_like_registry_host(&host.to_ascii_lowercase()) {
            return Err(format!(
                "{host:?} is not a registry host; start with one, e.g. docker.io, ghcr.io or harbor.corp/dockerhub"
            ));
        }
        // Validate the host and the path with the reference grammar, on a placeholder repository.
        let probe = if path.is_empty() {
            format!("{host}/x")
        } else {
            format!("{host}/{path}/x")
        };
        let parsed: Reference = probe.parse().map_err(|e: ReferenceError| prefix_error(trimmed, &e))?;
        let path: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Ok(Prefix {
            host: parsed.registry().to_string(),
            path,
        })
    }

    /// The rest of `reference`'s repository under this prefix, if it is under it and something remains.
    fn strip<'a>(&self, reference: &'a Reference) -> Option<&'a str> {
        if reference.registry() != self.host {
            return None;
        }
        let mut rest = reference.repository();
        for segment in &self.path {
            rest = rest.strip_prefix(segment.as_str())?.strip_prefix('/')?;
        }
        (!rest.is_empty()).then_some(rest)
    }

    fn join(&self, rest: &str) -> String {
        let mut path = self.path.join("/");
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(rest);
        path
    }
}

/// Says what is wrong with a prefix without the placeholder repository it was checked with.
fn prefix_error(prefix: &str, error: &ReferenceError) -> String {
    match error {
        ReferenceError::InvalidHost { host, .. } => format!("{host:?} is not a valid host name or IP address"),
        ReferenceError::InvalidPort { port, .. } => format!("port {port:?} is not a number between 1 and 65535"),
        ReferenceError::Uppercase { component, .. } => format!("path {component:?} must be lowercase"),
        ReferenceError::InvalidPathComponent { component, .. } => format!(
            "path component {component:?} may only hold lowercase letters, digits and '.', '_' or '-' between them"
        ),
        _ => format!("{prefix:?} is not a host[:port][/path] prefix"),
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        for segment in &self.path {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct UserRule {
    mirror: Prefix,
    upstream: Prefix,
    query: QueryPolicy,
}

/// A mirror from the containers `registries.conf` (docs/mirrors.md#registriesconf).
#[derive(Debug, Clone)]
struct ContainersRule {
    mirror: Prefix,
    upstream: Prefix,
    /// `registries.conf /etc/containers/registries.conf`, for the endpoint's rule and the steps.
    source: String,
}

/// A public accelerator that swaps the host and keeps the path.
struct HostSwap {
    host: &'static str,
    upstream: &'static str,
    provider: &'static str,
}

#[rustfmt::skip]
const HOST_SWAPS: &[HostSwap] = &[
    HostSwap { host: "docker.m.daocloud.io", upstream: "docker.io", provider: "DaoCloud" },
    HostSwap { host: "ghcr.m.daocloud.io", upstream: "ghcr.io", provider: "DaoCloud" },
    HostSwap { host: "k8s.m.daocloud.io", upstream: "registry.k8s.io", provider: "DaoCloud" },
    HostSwap { host: "gcr.m.daocloud.io", upstream: "gcr.io", provider: "DaoCloud" },
    HostSwap { host: "mcr.m.daocloud.io", upstream: "mcr.microsoft.com", provider: "DaoCloud" },
    HostSwap { host: "nvcr.m.daocloud.io", upstream: "nvcr.io", provider: "DaoCloud" },
    HostSwap { host: "elastic.m.daocloud.io", upstream: "docker.elastic.co", provider: "DaoCloud" },
    HostSwap { host: "quay.m.daocloud.io", upstream: "quay.io", provider: "DaoCloud" },
    HostSwap { host: "docker.nju.edu.cn", upstream: "docker.io", provider: "Nanjing University" },
    HostSwap { host: "ghcr.nju.edu.cn", upstream: "ghcr.io", provider: "Nanjing University" },
    HostSwap { host: "quay.nju.edu.cn", upstream: "quay.io", provider: "Nanjing University" },
    HostSwap { host: "docker.1ms.run", upstream: "docker.io", provider: "1ms.run" },
    HostSwap { host: "docker.1panel.live", upstream: "docker.io", provider: "1Panel" },
    HostSwap { host: "dockerproxy.com", upstream: "docker.io", provider: "dockerproxy.com" },
    HostSwap { host: "ghcr.dockerproxy.com", upstream: "ghcr.io", provider: "dockerproxy.com" },
    HostSwap { host: "k8s.dockerproxy.com", upstream: "registry.k8s.io", provider: "dockerproxy.com" },
    HostSwap { host: "hub-mirror.c.163.com", upstream: "docker.io", provider: "NetEase" },
    HostSwap { host: "mirror.ccs.tencentyun.com", upstream: "docker.io", provider: "Tencent Cloud" },
    HostSwap { host: "mirror.baidubce.com", upstream: "docker.io", provider: "Baidu Cloud" },
    HostSwap { host: "docker.mirrors.sjtug.sjtu.edu.cn", upstream: "docker.io", provider: "SJTUG" },
];

/// Alibaba Cloud's per-account Docker Hub accelerators: `<id>.mirror.aliyuncs.com`.
const ALIYUN_MIRROR_SUFFIX: &str = ".mirror.aliyuncs.com";

/// DaoCloud's path-prefix style: `m.daocloud.io/<upstream host>/<path>`.
const PATH_PREFIX_HOSTS: &[(&str, &str)] = &[("m.daocloud.io", "DaoCloud")];

/// Registries that live on cloud hosts but are registries of their own; said in `explain` so a
/// user who expects them to be mirrors learns why they are not.
fn cloud_registry(host: &str) -> Option<&'static str> {
    let host = host.split(':').next().unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let ends = |suffix: &str| host.ends_with(suffix);
    if ends(".aliyuncs.com") && labels.first().is_some_and(|l| l.starts_with("registry")) {
        Some("Alibaba Cloud Container Registry")
    } else if ends(".amazonaws.com") && labels.get(1..3) == Some(&["dkr", "ecr"][..]) {
        Some("Amazon ECR")
    } else if ends(".azurecr.io") {
        Some("Azure Container Registry")
    } else if ends(".pkg.dev") {
        Some("Google Artifact Registry")
    } else if host == "ccr.ccs.tencentyun.com" || ends(".tencentcloudcr.com") {
        Some("Tencent Container Registry")
    } else if ends(".myhuaweicloud.com") && labels.first() == Some(&"swr") {
        Some("Huawei Cloud SWR")
    } else {
        None
    }
}

/// One rewrite from a mirror's name to the name one level closer to the upstream.
struct Hop {
    to: Reference,
    rule: String,
    query: QueryPolicy,
    explanation: String,
}

/// An engine `registry-mirrors` entry usable as a Docker Hub endpoint.
#[derive(Debug, Clone)]
struct EngineMirror {
    host: String,
    plain_http: bool,
    url: String,
}

/// Resolves references to their upstream and the endpoints to ask. Pure: no I/O. The default
/// knows the built-in accelerators only.
#[derive(Debug, Clone, Default)]
pub struct MirrorResolver {
    rules: Vec<UserRule>,
    engine_mirrors: Vec<EngineMirror>,
    /// Engine mirror entries that could not be used, explained in every resolution of a Hub image.
    ignored_engine_mirrors: Vec<String>,
    /// Mirrors of the containers `registries.conf`, in the file's order.
    containers: Vec<ContainersRule>,
    /// What of the containers configuration could not be used, said in every resolution.
    containers_problems: Vec<String>,
}

impl MirrorResolver {
    /// `rules` from the configuration; `engine_mirrors` as the engine's info endpoint reports them
    /// (`https://mirror.gcr.io`, `http://127.0.0.1:5000`). A bad rule is an error (the user wrote
    /// it); a bad engine mirror is skipped and mentioned in the steps (the user may not control it).
    pub fn new(rules: &[MirrorRule], engine_mirrors: &[String]) -> Result<Self, MirrorError> {
        let mut parsed = Vec::with_capacity(rules.len());
        for rule in rules {
            let invalid = |reason: String| MirrorError::InvalidRule {
                mirror: rule.mirror.clone(),
                upstream: rule.upstream.clone(),
                reason,
            };
            let mirror = Prefix::parse(&rule.mirror).map_err(|e| invalid(format!("mirror: {e}")))?;
            let upstream = Prefix::parse(&rule.upstream).map_err(|e| invalid(format!("upstream: {e}")))?;
            if mirror.host == DOCKER_HUB {
                return Err(invalid(
                    "docker.io is an upstream, not a mirror; `mirror` is the prefix containers are created with, \
                     e.g. harbor.corp/dockerhub"
                        .into(),
                ));
            }
            if mirror == upstream {
                return Err(invalid("mirror and upstream are the same prefix".into()));
            }
            parsed.push(UserRule {
                mirror,
                upstream,
                query: rule.query,
            });
        }
        let mut resolver = MirrorResolver {
            rules: parsed,
            engine_mirrors: Vec::new(),
            ignored_engine_mirrors: Vec::new(),
            containers: Vec::new(),
            containers_problems: Vec::new(),
        };
        for url in engine_mirrors {
            match parse_engine_mirror(url) {
                Ok(mirror) => resolver.engine_mirrors.push(mirror),
                Err(reason) => resolver
                    .ignored_engine_mirrors
                    .push(format!("engine mirror {url:?} ignored: {reason}")),
            }
        }
        Ok(resolver)
    }

    /// Adds the mirrors of the containers `registries.conf`: a name under one of them resolves to
    /// the prefix it serves, and names under that prefix are asked of its mirrors first, as
    /// Podman pulls them. An entry that is not a usable prefix is skipped and said.
    pub fn with_containers(mut self, containers: &ContainersMirrors) -> Self {
        self.containers_problems.extend(containers.problems.iter().cloned());
        for entry in &containers.mirrors {
            let source = format!("registries.conf {}", entry.source.display());
            match (Prefix::parse(&entry.mirror), Prefix::parse(&entry.upstream)) {
                (Ok(mirror), Ok(upstream)) if mirror != upstream => self.containers.push(ContainersRule {
                    mirror,
                    upstream,
                    source: match entry.kind {
                        MirrorKind::Mirror => source,
                        MirrorKind::Location => format!("{source}, location"),
                    },
                }),
                (Err(reason), _) | (_, Err(reason)) => self.containers_problems.push(format!(
                    "{source}: {} -> {} ignored: {reason}",
                    entry.mirror, entry.upstream
                )),
                _ => {}
            }
        }
        self
    }

    /// Maps `reference` to its upstream and the ordered endpoints to ask. Resolving an upstream
    /// reference gives it back unchanged.
    pub fn resolve(&self, reference: &Reference) -> Resolution {
        let mut steps = vec![format!("reference: {reference}")];
        let mut names = vec![reference.clone()];
        let mut hops: Vec<Hop> = Vec::new();
        let mut seen: HashSet<String> = HashSet::from([reference.name()]);
        let mut current = reference.clone();
        while let Some(hop) = self.next_hop(&current) {
            if hops.len() == MAX_HOPS || !seen.insert(hop.to.name()) {
                steps.push(format!(
                    "mirror rules loop at {} -> {}; stopping there: check the [[mirrors]] rules",
                    current.name(),
                    hop.to.name()
                ));
                break;
            }
            steps.push(hop.explanation.clone());
            current = hop.to.clone();
            names.push(hop.to.clone());
            hops.push(hop);
        }
        if hops.is_empty() {
            match cloud_registry(reference.registry()) {
                Some(kind) => steps.push(format!(
                    "{} is a registry of its own ({kind}), not a mirror: it is the upstream",
                    reference.registry()
                )),
                None => steps.push(format!(
                    "{} matches no mirror rule: it is the upstream",
                    reference.registry()
                )),
            }
        }
        let upstream = current;
        steps.push(format!("upstream: {upstream}"));

        // Build the order from the upstream outwards: each rule places its mirror relative to
        // everything closer to the upstream, so policies compose along a chain.
        let endpoint = |r: &Reference, role: EndpointRole| Endpoint {
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
            role,
            plain_http: false,
        };
        let mut endpoints = vec![endpoint(&upstream, EndpointRole::Upstream)];
        for (name, hop) in names.iter().zip(&hops).rev() {
            let mirror = endpoint(name, EndpointRole::Mirror { rule: hop.rule.clone() });
            match hop.query {
                QueryPolicy::UpstreamFirst => endpoints.push(mirror),
                QueryPolicy::MirrorFirst => endpoints.insert(0, mirror),
                QueryPolicy::MirrorOnly => endpoints = vec![mirror],
            }
        }

        steps.extend(self.containers_problems.iter().cloned());
        self.add_containers_mirrors(&upstream, &mut endpoints, &mut steps);

        if upstream.is_docker_hub() {
            steps.extend(self.ignored_engine_mirrors.iter().cloned());
            if endpoints.iter().any(Endpoint::is_upstream) {
                for mirror in &self.engine_mirrors {
                    if endpoints.iter().any(|e| e.registry == mirror.host) {
                        continue;
                    }
                    endpoints.push(Endpoint {
                        registry: mirror.host.clone(),
                        repository: upstream.repository().to_string(),
                        role: EndpointRole::Mirror {
                            rule: format!("engine registry-mirrors: {}", mirror.url),
                        },
                        plain_http: mirror.plain_http,
                    });
                }
            } else if !self.engine_mirrors.is_empty() {
                steps.push("engine registry-mirrors not used: a mirror-only rule applies".to_string());
            }
        }

        for (i, e) in endpoints.iter().enumerate() {
            steps.push(format!("ask {}: {}", i + 1, e.describe()));
        }
        Resolution {
            upstream,
            endpoints,
            steps,
        }
    }

    /// Podman asks the mirrors of the longest `registries.conf` prefix that names `upstream`, in
    /// the file's order, before the upstream itself; so does a check.
    fn add_containers_mirrors(&self, upstream: &Reference, endpoints: &mut Vec<Endpoint>, steps: &mut Vec<String>) {
        let Some(longest) = self
            .containers
            .iter()
            .filter(|rule| rule.upstream.strip(upstream).is_some())
            .map(|rule| rule.upstream.path.len())
            .max()
        else {
            return;
        };
        let Some(at) = endpoints.iter().position(Endpoint::is_upstream) else {
            steps.push("registries.conf mirrors not used: a mirror-only rule applies".to_string());
            return;
        };
        let mut added = Vec::new();
        for rule in self.containers.iter().filter(|r| r.upstream.path.len() == longest) {
            let Some(rest) = rule.upstream.strip(upstream) else {
                continue;
            };
            let endpoint = Endpoint {
                registry: rule.mirror.host.clone(),
                repository: rule.mirror.join(rest),
                role: EndpointRole::Mirror {
                    rule: format!("{}: {} -> {}", rule.source, rule.mirror, rule.upstream),
                },
                plain_http: false,
            };
            if endpoints
                .iter()
                .chain(&added)
                .any(|e: &Endpoint| e.name() == endpoint.name())
            {
                continue;
            }
            steps.push(format!(
                "{} is pulled through {} first ({})",
                upstream.name(),
                endpoint.name(),
                rule.source
            ));
            added.push(endpoint);
        }
        endpoints.splice(at..at, added);
    }

    /// The rule that applies to `reference`: the user's longest matching prefix, else one of the
    /// containers `registries.conf`, else a built-in.
    fn next_hop(&self, reference: &Reference) -> Option<Hop> {
        let user = self
            .rules
            .iter()
            .filter_map(|rule| rule.mirror.strip(reference).map(|rest| (rule, rest)))
            .max_by_key(|(rule, _)| rule.mirror.path.len());
        if let Some((rule, rest)) = user {
            let to = reference
                .with_name(&rule.upstream.host, &rule.upstream.join(rest))
                .ok()?;
            let name = format!("config: {} -> {}", rule.mirror, rule.upstream);
            return Some(Hop {
                explanation: format!(
                    "{} -> {} (config rule {} -> {}, query = {})",
                    reference.name(),
                    to.name(),
                    rule.mirror,
                    rule.upstream,
                    rule.query
                ),
                to,
                rule: name,
                query: rule.query,
            });
        }
        let containers = self
            .containers
            .iter()
            .filter_map(|rule| rule.mirror.strip(reference).map(|rest| (rule, rest)))
            .max_by_key(|(rule, _)| rule.mirror.path.len());
        if let Some((rule, rest)) = containers {
            let to = reference
                .with_name(&rule.upstream.host, &rule.upstream.join(rest))
                .ok()?;
            return Some(Hop {
                explanation: format!(
                    "{} -> {} ({} mirror {} of {}, query = mirror-first as Podman pulls)",
                    reference.name(),
                    to.name(),
                    rule.source,
                    rule.mirror,
                    rule.upstream
                ),
                to,
                rule: format!("{}: {} -> {}", rule.source, rule.mirror, rule.upstream),
                query: QueryPolicy::MirrorFirst,
            });
        }
        builtin_hop(reference)
    }
}

fn builtin_hop(reference: &Reference) -> Option<Hop> {
    let host = reference.registry();
    let swap = HOST_SWAPS
        .iter()
        .find(|s| s.host == host)
        .map(|s| (s.upstream, s.provider))
        .or_else(|| {
            let id = host.strip_suffix(ALIYUN_MIRROR_SUFFIX)?;
            (!id.is_empty() && !id.contains('.')).then_some((DOCKER_HUB, "Alibaba Cloud accelerator"))
        });
    let (to, provider, style) = if let Some((upstream, provider)) = swap {
        (
            reference.with_name(upstream, reference.repository()).ok()?,
            provider,
            "host swap",
        )
    } else {
        let (_, provider) = PATH_PREFIX_HOSTS.iter().find(|(h, _)| *h == host)?;
        let (first, rest) = reference.repository().split_once('/')?;
        if !looks_like_registry_host(first) {
            return None;
        }
        (
            reference.with_name(&normalize_registry(first), rest).ok()?,
            *provider,
            "path prefix",
        )
    };
    Some(Hop {
        explanation: format!(
            "{} -> {} (built-in: {host} is {provider}'s public mirror of {}, {style})",
            reference.name(),
            to.name(),
            to.registry()
        ),
        rule: format!("built-in: {provider} {host}"),
        query: QueryPolicy::UpstreamFirst,
        to,
    })
}

fn parse_engine_mirror(url: &str) -> Result<EngineMirror, String> {
    let trimmed = url.trim();
    let (plain_http, rest) = match trimmed.strip_prefix("http://") {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix("https://").unwrap_or(trimmed)),
    };
    if rest.contains("://") {
        return Err("only http:// and https:// URLs name registry mirrors".into());
    }
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '?', '#']) {
        // Docker refuses mirror URLs with a path as well.
        return Err("a registry mirror URL may not have a path".into());
    }
    let probe: Reference = format!("{rest}/x")
        .parse()
        .map_err(|e: ReferenceError| prefix_error(rest, &e))?;
    if !looks_like_registry_host(rest) {
        return Err("not a registry host".into());
    }
    if probe.is_docker_hub() {
        return Err("it is Docker Hub itself".into());
    }
    Ok(EngineMirror {
        host: probe.registry().to_string(),
        plain_http,
        url: trimmed.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn rule(mirror: &str, upstream: &str, query: QueryPolicy) -> MirrorRule {
        MirrorRule {
            mirror: mirror.into(),
            upstream: upstream.into(),
            query,
        }
    }

    fn with_registries_conf(text: &str) -> MirrorResolver {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.conf");
        std::fs::write(&path, text).unwrap();
        MirrorResolver::default().with_containers(&ContainersMirrors::load_file(&path))
    }

    const REGISTRIES_CONF: &str = r#"
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.corp.example:5000/hub"
[[registry.mirror]]
location = "second.corp.example"

[[registry]]
prefix = "quay.io/team"
location = "quay-cache.corp.example/team"
"#;

    #[test]
    fn registries_conf_mirrors_are_asked_first_for_names_under_their_prefix() {
        let resolver = with_registries_conf(REGISTRIES_CONF);
        let res = resolver.resolve(&r("nginx:1.25"));
        assert_eq!(res.upstream.to_string(), "docker.io/library/nginx:1.25");
        assert_eq!(
            names(&res),
            [
                "mirror.corp.example:5000/hub/library/nginx",
                "second.corp.example/library/nginx",
                "docker.io/library/nginx"
            ]
        );
        let EndpointRole::Mirror { rule } = &res.endpoints[0].role else {
            panic!("{res:?}")
        };
        assert!(rule.starts_with("registries.conf "), "{rule}");
        assert!(
            res.steps
                .iter()
                .any(|s| s.contains("is pulled through mirror.corp.example:5000/hub/library/nginx first")),
            "{:?}",
            res.steps
        );
    }

    #[test]
    fn a_name_under_a_registries_conf_mirror_resolves_to_its_prefix() {
        let resolver = with_registries_conf(REGISTRIES_CONF);
        let res = resolver.resolve(&r("quay-cache.corp.example/team/app:2"));
        assert_eq!(res.upstream.to_string(), "quay.io/team/app:2");
        assert_eq!(names(&res), ["quay-cache.corp.example/team/app", "quay.io/team/app"]);
        let res = resolver.resolve(&r("second.corp.example/library/redis:7"));
        assert_eq!(res.upstream.to_string(), "docker.io/library/redis:7");
        assert_eq!(
            names(&res),
            [
                "second.corp.example/library/redis",
                "mirror.corp.example:5000/hub/library/redis",
                "docker.io/library/redis"
            ]
        );
    }

    #[test]
    fn a_config_rule_wins_over_registries_conf() {
        let resolver = MirrorResolver::new(&[rule("second.corp.example", "ghcr.io", QueryPolicy::MirrorOnly)], &[])
            .unwrap()
            .with_containers(&{
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("registries.conf");
                std::fs::write(&path, REGISTRIES_CONF).unwrap();
                ContainersMirrors::load_file(&path)
            });
        let res = resolver.resolve(&r("second.corp.example/o/i:1"));
        assert_eq!(res.upstream.to_string(), "ghcr.io/o/i:1");
        assert_eq!(names(&res), ["second.corp.example/o/i"]);
    }

    fn builtins_only() -> MirrorResolver {
        MirrorResolver::default()
    }

    fn names(res: &Resolution) -> Vec<String> {
        res.endpoints.iter().map(Endpoint::name).collect()
    }

    #[test]
    fn every_builtin_accelerator_maps_to_its_upstream() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("docker.m.daocloud.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("docker.m.daocloud.io/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("docker.m.daocloud.io/bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("ghcr.m.daocloud.io/o/i:1", "ghcr.io/o/i:1"),
            ("k8s.m.daocloud.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("gcr.m.daocloud.io/distroless/static:nonroot", "gcr.io/distroless/static:nonroot"),
            ("mcr.m.daocloud.io/dotnet/aspnet:8.0", "mcr.microsoft.com/dotnet/aspnet:8.0"),
            ("nvcr.m.daocloud.io/nvidia/cuda:12.3.1-base-ubuntu22.04", "nvcr.io/nvidia/cuda:12.3.1-base-ubuntu22.04"),
            ("elastic.m.daocloud.io/elasticsearch/elasticsearch:8.12.0", "docker.elastic.co/elasticsearch/elasticsearch:8.12.0"),
            ("quay.m.daocloud.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter:v1.7.0"),
            ("m.daocloud.io/ghcr.io/o/i:1", "ghcr.io/o/i:1"),
            ("m.daocloud.io/docker.io/library/nginx", "docker.io/library/nginx"),
            ("m.daocloud.io/docker.io/nginx", "docker.io/library/nginx"),
            ("m.daocloud.io/index.docker.io/nginx", "docker.io/library/nginx"),
            ("m.daocloud.io/registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("docker.nju.edu.cn/library/redis:7", "docker.io/library/redis:7"),
            ("ghcr.nju.edu.cn/o/i", "ghcr.io/o/i"),
            ("quay.nju.edu.cn/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"),
            ("docker.1ms.run/library/postgres:16", "docker.io/library/postgres:16"),
            ("docker.1ms.run/postgres:16", "docker.io/library/postgres:16"),
            ("docker.1panel.live/grafana/grafana:10.2.3", "docker.io/grafana/grafana:10.2.3"),
            ("dockerproxy.com/library/node:20", "docker.io/library/node:20"),
            ("ghcr.dockerproxy.com/home-assistant/home-assistant:2024.1.5", "ghcr.io/home-assistant/home-assistant:2024.1.5"),
            ("k8s.dockerproxy.com/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("hub-mirror.c.163.com/library/mariadb:11", "docker.io/library/mariadb:11"),
            ("mirror.ccs.tencentyun.com/library/python:3.12", "docker.io/library/python:3.12"),
            ("abc123xyz.mirror.aliyuncs.com/library/nginx", "docker.io/library/nginx"),
            ("mirror.baidubce.com/library/traefik:v3.0", "docker.io/library/traefik:v3.0"),
            ("docker.mirrors.sjtug.sjtu.edu.cn/linuxserver/plex", "docker.io/linuxserver/plex"),
        ];
        let resolver = builtins_only();
        for (input, expected) in cases {
            let res = resolver.resolve(&r(input));
            assert_eq!(res.upstream.to_string(), *expected, "{input}");
            assert_eq!(
                res.endpoints[0].name(),
                res.upstream.name(),
                "{input}: upstream asked first"
            );
            assert_eq!(res.endpoints[1].name(), r(input).name(), "{input}: mirror as fallback");
            assert!(
                res.steps.iter().any(|s| s.contains("built-in")),
                "{input}: {:?}",
                res.steps
            );
        }
        // Every entry of the table is covered above.
        for swap in HOST_SWAPS {
            assert!(
                cases
                    .iter()
                    .any(|(input, _)| input.starts_with(&format!("{}/", swap.host))),
                "{}",
                swap.host
            );
        }
    }

    #[test]
    fn non_mirrors_are_left_unchanged() {
        #[rustfmt::skip]
        let cases: &[&str] = &[
            "nginx:1.25",
            "docker.io/bitnami/redis:7",
            "ghcr.io/o/i:1",
            "quay.io/prometheus/node-exporter:v1.7.0",
            "registry.cn-hangzhou.aliyuncs.com/team/app:1.0",
            "registry-vpc.cn-shanghai.aliyuncs.com/team/app",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v2",
            "corp.azurecr.io/app:1",
            "ccr.ccs.tencentyun.com/team/app:1",
            "localhost:5000/app",
            "[::1]:5000/x",
            "m.daocloud.io/nginx",           // path-prefix host without an upstream host in the path
            "mirror.aliyuncs.com/library/x", // no account id: not an accelerator
            "a.b.mirror.aliyuncs.com/x",
        ];
        let resolver = builtins_only();
        for input in cases {
            let reference = r(input);
            let res = resolver.resolve(&reference);
            assert_eq!(res.upstream, reference, "{input}");
            assert_eq!(res.endpoints.len(), 1, "{input}");
            assert!(res.endpoints[0].is_upstream());
        }
    }

    #[test]
    fn cloud_registries_are_explained_as_registries_not_mirrors() {
        let res = builtins_only().resolve(&r("registry.cn-hangzhou.aliyuncs.com/team/app:1"));
        assert!(
            res.steps.iter().any(|s| s.contains("Alibaba Cloud Container Registry")),
            "{:?}",
            res.steps
        );
        let ecr = builtins_only().resolve(&r("1234.dkr.ecr.eu-west-1.amazonaws.com/app"));
        assert!(ecr.steps.iter().any(|s| s.contains("Amazon ECR")));
        let acr = builtins_only().resolve(&r("corp.azurecr.io/app"));
        assert!(acr.steps.iter().any(|s| s.contains("Azure Container Registry")));
    }

    #[test]
    fn library_is_added_only_for_docker_hub() {
        let resolver = MirrorResolver::new(
            &[
                rule("harbor.corp/ghcr", "ghcr.io", QueryPolicy::UpstreamFirst),
                rule("harbor.corp/quay", "quay.io", QueryPolicy::UpstreamFirst),
                rule("harbor.corp/dockerhub", "docker.io", QueryPolicy::UpstreamFirst),
            ],
            &[],
        )
        .unwrap();
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("ghcr.nju.edu.cn/single", "ghcr.io/single"),
            ("ghcr.m.daocloud.io/single:1", "ghcr.io/single:1"),
            ("m.daocloud.io/quay.io/single", "quay.io/single"),
            ("k8s.m.daocloud.io/pause", "registry.k8s.io/pause"),
            ("harbor.corp/ghcr/single", "ghcr.io/single"),
            ("harbor.corp/quay/single", "quay.io/single"),
            ("harbor.corp/dockerhub/single", "docker.io/library/single"),
            ("harbor.corp/dockerhub/org/two", "docker.io/org/two"),
            ("harbor.corp/dockerhub/library/nginx", "docker.io/library/nginx"),
        ];
        for (input, expected) in cases {
            assert_eq!(resolver.resolve(&r(input)).upstream.to_string(), *expected, "{input}");
        }
    }

    #[test]
    fn user_rules_longest_prefix_wins() {
        let resolver = MirrorResolver::new(
            &[
                rule("nexus.corp:8443", "docker.io", QueryPolicy::UpstreamFirst),
                rule("nexus.corp:8443/ghcr", "ghcr.io", QueryPolicy::UpstreamFirst),
                rule(
                    "nexus.corp:8443/ghcr/team",
                    "ghcr.io/corp-team",
                    QueryPolicy::UpstreamFirst,
                ),
            ],
            &[],
        )
        .unwrap();
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("nexus.corp:8443/nginx:1", "docker.io/library/nginx:1"),
            ("nexus.corp:8443/bitnami/redis", "docker.io/bitnami/redis"),
            ("nexus.corp:8443/ghcr/o/i", "ghcr.io/o/i"),
            ("nexus.corp:8443/ghcr/team/app:2", "ghcr.io/corp-team/app:2"),
            // A prefix matches whole path segments only.
            ("nexus.corp:8443/ghcrx/o", "docker.io/ghcrx/o"),
        ];
        for (input, expected) in cases {
            assert_eq!(resolver.resolve(&r(input)).upstream.to_string(), *expected, "{input}");
        }
    }

    #[test]
    fn user_rule_overrides_a_builtin_for_the_same_host() {
        let resolver = MirrorResolver::new(
            &[rule("docker.m.daocloud.io", "docker.io", QueryPolicy::MirrorOnly)],
            &[],
        )
        .unwrap();
        let res = resolver.resolve(&r("docker.m.daocloud.io/library/nginx:1"));
        assert_eq!(res.upstream.to_string(), "docker.io/library/nginx:1");
        assert_eq!(names(&res), ["docker.m.daocloud.io/library/nginx"]);
    }

    #[test]
    fn query_policies_order_the_endpoints() {
        let cases = [
            (
                QueryPolicy::UpstreamFirst,
                vec!["docker.io/library/nginx", "harbor.corp/dockerhub/nginx"],
            ),
            (
                QueryPolicy::MirrorFirst,
                vec!["harbor.corp/dockerhub/nginx", "docker.io/library/nginx"],
            ),
            (QueryPolicy::MirrorOnly, vec!["harbor.corp/dockerhub/nginx"]),
        ];
        for (query, expected) in cases {
            let resolver = MirrorResolver::new(&[rule("harbor.corp/dockerhub", "docker.io", query)], &[]).unwrap();
            let res = resolver.resolve(&r("harbor.corp/dockerhub/nginx:1.25"));
            assert_eq!(names(&res), expected, "{query}");
            assert_eq!(res.upstream.to_string(), "docker.io/library/nginx:1.25");
        }
    }

    #[test]
    fn rules_chain_through_multi_level_caches() {
        // Harbor proxies DaoCloud, which mirrors Docker Hub.
        let chain = |query| {
            MirrorResolver::new(&[rule("harbor.corp/daocloud", "docker.m.daocloud.io", query)], &[])
                .unwrap()
                .resolve(&r("harbor.corp/daocloud/library/nginx:1.25"))
        };
        let up = chain(QueryPolicy::UpstreamFirst);
        assert_eq!(up.upstream.to_string(), "docker.io/library/nginx:1.25");
        assert_eq!(
            names(&up),
            [
                "docker.io/library/nginx",
                "docker.m.daocloud.io/library/nginx",
                "harbor.corp/daocloud/library/nginx"
            ]
        );
        let first = chain(QueryPolicy::MirrorFirst);
        assert_eq!(
            names(&first),
            [
                "harbor.corp/daocloud/library/nginx",
                "docker.io/library/nginx",
                "docker.m.daocloud.io/library/nginx"
            ]
        );
        let only = chain(QueryPolicy::MirrorOnly);
        assert_eq!(only.upstream.to_string(), "docker.io/library/nginx:1.25");
        assert_eq!(names(&only), ["harbor.corp/daocloud/library/nginx"]);

        // Two user rules: a Nexus group in front of a Harbor project.
        let resolver = MirrorResolver::new(
            &[
                rule("nexus.corp/hub", "harbor.corp/dockerhub", QueryPolicy::MirrorFirst),
                rule("harbor.corp/dockerhub", "docker.io", QueryPolicy::MirrorFirst),
            ],
            &[],
        )
        .unwrap();
        let res = resolver.resolve(&r("nexus.corp/hub/redis:7"));
        assert_eq!(res.upstream.to_string(), "docker.io/library/redis:7");
        assert_eq!(
            names(&res),
            [
                "nexus.corp/hub/redis",
                "harbor.corp/dockerhub/redis",
                "docker.io/library/redis"
            ]
        );
    }

    #[test]
    fn rule_loops_stop_with_an_explanation() {
        let resolver = MirrorResolver::new(
            &[
                rule("a.corp/x", "b.corp/y", QueryPolicy::UpstreamFirst),
                rule("b.corp/y", "a.corp/x", QueryPolicy::UpstreamFirst),
            ],
            &[],
        )
        .unwrap();
        let res = resolver.resolve(&r("a.corp/x/app:1"));
        assert_eq!(res.upstream.to_string(), "b.corp/y/app:1");
        assert!(res.steps.iter().any(|s| s.contains("loop")), "{:?}", res.steps);
    }

    #[test]
    fn engine_mirrors_are_fallbacks_for_docker_hub_only() {
        let resolver = MirrorResolver::new(
            &[],
            &[
                "https://mirror.gcr.io".into(),
                "http://127.0.0.1:5000/".into(),
                "https://bad/path/x".into(),
            ],
        )
        .unwrap();
        let hub = resolver.resolve(&r("nginx:1.25"));
        assert_eq!(
            names(&hub),
            [
                "docker.io/library/nginx",
                "mirror.gcr.io/library/nginx",
                "127.0.0.1:5000/library/nginx"
            ]
        );
        assert!(!hub.endpoints[1].plain_http);
        assert!(hub.endpoints[2].plain_http);
        assert!(hub.steps.iter().any(|s| s.contains("ignored")), "{:?}", hub.steps);
        let ghcr = resolver.resolve(&r("ghcr.io/o/i:1"));
        assert_eq!(names(&ghcr), ["ghcr.io/o/i"]);
        let via_mirror = resolver.resolve(&r("docker.m.daocloud.io/library/nginx:1.25"));
        assert_eq!(
            names(&via_mirror),
            [
                "docker.io/library/nginx",
                "docker.m.daocloud.io/library/nginx",
                "mirror.gcr.io/library/nginx",
                "127.0.0.1:5000/library/nginx"
            ]
        );
    }

    #[test]
    fn engine_mirrors_are_not_added_under_a_mirror_only_rule() {
        let resolver = MirrorResolver::new(
            &[rule("harbor.corp/hub", "docker.io", QueryPolicy::MirrorOnly)],
            &["https://mirror.gcr.io".into()],
        )
        .unwrap();
        assert_eq!(
            names(&resolver.resolve(&r("harbor.corp/hub/nginx"))),
            ["harbor.corp/hub/nginx"]
        );
    }

    #[test]
    fn tag_and_digest_survive_resolution() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let res = builtins_only().resolve(&r(&format!("docker.m.daocloud.io/nginx:1.25@{digest}")));
        assert_eq!(res.upstream.tag(), Some("1.25"));
        assert_eq!(res.upstream.digest(), Some(digest.as_str()));
    }

    #[test]
    fn invalid_rules_are_errors_that_name_the_rule() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("", "docker.io", "empty"),
            ("harbor", "docker.io", "not a registry host"),
            ("MyHarbor/x", "docker.io", "not a registry host"),
            ("harbor.corp:0/x", "docker.io", "port \"0\""),
            ("harbor.corp/a..b", "docker.io", "path component \"a..b\""),
            ("bad_host.corp", "docker.io", "not a valid host name"),
            ("harbor.corp/dockerhub", "library", "not a registry host"),
            ("docker.io", "harbor.corp", "upstream, not a mirror"),
            ("harbor.corp/x", "harbor.corp/x/", "same prefix"),
            ("harbor.corp/Bad", "docker.io", "lowercase"),
        ];
        for (mirror, upstream, needle) in cases {
            let err = match MirrorResolver::new(&[rule(mirror, upstream, QueryPolicy::UpstreamFirst)], &[]) {
                Ok(_) => panic!("{mirror} -> {upstream} accepted"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
            assert!(err.contains(&format!("{mirror:?}")), "{err:?} should name the rule");
        }
    }

    #[test]
    fn rule_prefixes_accept_urls_and_trailing_slashes() {
        let resolver = MirrorResolver::new(
            &[rule(
                "https://Harbor.Corp/dockerhub/",
                "docker.io/",
                QueryPolicy::UpstreamFirst,
            )],
            &[],
        )
        .unwrap();
        assert_eq!(
            resolver.resolve(&r("harbor.corp/dockerhub/nginx")).upstream.to_string(),
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn rules_deserialize_from_the_config_shape() {
        #[derive(Debug, Deserialize)]
        struct Config {
            mirrors: Vec<MirrorRule>,
        }
        let config: Config = toml::from_str(
            r#"
            [[mirrors]]
            mirror = "harbor.corp.example/dockerhub"
            upstream = "docker.io"
            query = "mirror-first"

            [[mirrors]]
            mirror = "nexus.corp:8443"
            upstream = "docker.io"
            "#,
        )
        .unwrap();
        assert_eq!(config.mirrors[0].query, QueryPolicy::MirrorFirst);
        assert_eq!(config.mirrors[1].query, QueryPolicy::UpstreamFirst);
        let unknown =
            toml::from_str::<Config>("[[mirrors]]\nmirror = \"a.b\"\nupstream = \"docker.io\"\nmode = \"x\"\n");
        assert!(unknown.unwrap_err().to_string().contains("mode"));
        let bad_policy =
            toml::from_str::<Config>("[[mirrors]]\nmirror = \"a.b\"\nupstream = \"docker.io\"\nquery = \"x\"\n");
        assert!(bad_policy.is_err());
        assert_eq!(
            serde_json::to_string(&QueryPolicy::MirrorOnly).unwrap(),
            "\"mirror-only\""
        );
    }

    #[test]
    fn steps_explain_each_hop() {
        let res = builtins_only().resolve(&r("docker.m.daocloud.io/nginx:1.25"));
        assert_eq!(res.steps[0], "reference: docker.m.daocloud.io/nginx:1.25");
        assert!(res.steps[1].contains("DaoCloud"), "{:?}", res.steps);
        assert!(res
            .steps
            .contains(&"upstream: docker.io/library/nginx:1.25".to_string()));
        assert!(res
            .steps
            .iter()
            .any(|s| s.starts_with("ask 1: docker.io/library/nginx (upstream)")));
    }

    fn upstream_reference() -> impl Strategy<Value = Reference> {
        (
            prop::sample::select(vec![
                "docker.io",
                "ghcr.io",
                "quay.io",
                "registry.k8s.io",
                "gcr.io",
                "mcr.microsoft.com",
                "registry.cn-hangzhou.aliyuncs.com",
                "localhost:5000",
            ]),
            prop::collection::vec("[a-z0-9]{1,6}", 1..4),
            prop::option::of("[a-z0-9][a-z0-9.-]{0,10}"),
        )
            .prop_filter_map("valid reference", |(host, path, tag)| {
                Reference::new(host, &path.join("/"), tag.as_deref(), None).ok()
            })
    }

    fn resolver_with_rules() -> MirrorResolver {
        MirrorResolver::new(
            &[
                rule("harbor.corp/dockerhub", "docker.io", QueryPolicy::MirrorFirst),
                rule(
                    "harbor.corp/daocloud",
                    "docker.m.daocloud.io",
                    QueryPolicy::UpstreamFirst,
                ),
                rule("nexus.corp:8443", "ghcr.io", QueryPolicy::MirrorOnly),
            ],
            &["https://mirror.gcr.io".into()],
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn resolution_is_idempotent_on_an_upstream_reference(reference in upstream_reference()) {
            let resolver = resolver_with_rules();
            let res = resolver.resolve(&reference);
            prop_assert_eq!(&res.upstream, &reference);
            prop_assert!(res.endpoints[0].is_upstream());
            let again = resolver.resolve(&res.upstream);
            prop_assert_eq!(again, res);
        }

        #[test]
        fn resolving_the_upstream_of_a_mirror_name_gives_it_back(
            host in prop::sample::select(HOST_SWAPS.iter().map(|s| s.host).collect::<Vec<_>>()),
            path in prop::collection::vec("[a-z0-9]{1,6}", 1..3),
        ) {
            let resolver = resolver_with_rules();
            let reference = Reference::new(host, &path.join("/"), Some("1"), None)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let res = resolver.resolve(&reference);
            prop_assert_ne!(res.upstream.registry(), host);
            prop_assert_eq!(resolver.resolve(&res.upstream).upstream, res.upstream);
        }

        #[test]
        fn arbitrary_rules_and_mirrors_never_panic(
            mirror in "\\PC{0,30}", upstream in "\\PC{0,30}", engine in "\\PC{0,30}",
            reference in "[a-z0-9./:-]{1,40}",
        ) {
            if let Ok(resolver) = MirrorResolver::new(&[rule(&mirror, &upstream, QueryPolicy::MirrorFirst)], &[engine]) {
                if let Ok(reference) = reference.parse::<Reference>() {
                    let res = resolver.resolve(&reference);
                    prop_assert!(!res.endpoints.is_empty());
                }
            }
        }

        #[test]
        fn plausible_rules_never_panic(
            mirror in "[a-z]{1,4}\\.[a-z]{2}(/[a-z0-9]{1,4}){0,2}/?",
            upstream in "[a-z]{1,4}\\.[a-z]{2}(/[a-z0-9]{1,4}){0,2}",
            path in "[a-z0-9]{1,4}(/[a-z0-9]{1,4}){0,3}",
        ) {
            if let Ok(resolver) = MirrorResolver::new(&[rule(&mirror, &upstream, QueryPolicy::UpstreamFirst)], &[]) {
                let host = mirror.split('/').next().unwrap_or_default();
                if let Ok(reference) = format!("{host}/{path}").parse::<Reference>() {
                    let res = resolver.resolve(&reference);
                    prop_assert!(!res.endpoints.is_empty());
                }
            }
        }
    }
}
