//! Image references (`nginx:1.25`, `ghcr.io/o/i@sha256:…`) parsed and normalized the way Docker does.
//!
//! The grammar follows Docker's `distribution/reference` package: `[host[:port]/]path[:tag][@digest]`,
//! lowercase path components, Docker Hub as the default registry with `library/` for its official
//! images. Parsing never panics and every rejection says which part is wrong.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::docker_hub::{self, NAME as DOCKER_HUB, OFFICIAL_NAMESPACE};

/// Docker's limit on the length of `registry/repository`.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalized image reference. Both a tag and a digest may be present (`nginx:1.25@sha256:…`):
/// the digest is what gets pulled, the tag is kept because it says what the user meant to follow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("the image reference is empty")]
    Empty,
    #[error("invalid image reference {input:?}: it contains whitespace or a control character")]
    Whitespace { input: String },
    #[error("invalid image reference {input:?}: the repository name is missing (expected e.g. nginx or ghcr.io/owner/image)")]
    MissingRepository { input: String },
    #[error("invalid image reference {input:?}: repository names must be lowercase ({component:?})")]
    Uppercase { input: String, component: String },
    #[error(
        "invalid image reference {input:?}: path component {component:?} may only hold lowercase letters, digits \
         and single '.', '_', '__' or '-' separators between them"
    )]
    InvalidPathComponent { input: String, component: String },
    #[error("invalid image reference {input:?}: registry host {host:?} is not a valid host name or IP address")]
    InvalidHost { input: String, host: String },
    #[error("invalid image reference {input:?}: registry port {port:?} is not a number between 1 and 65535")]
    InvalidPort { input: String, port: String },
    #[error(
        "invalid image reference {input:?}: tag {tag:?} must be 1 to 128 letters, digits, '_', '.' or '-' \
         and must not start with '.' or '-'"
    )]
    InvalidTag { input: String, tag: String },
    #[error("invalid image reference {input:?}: digest {digest:?} is not valid: {reason}")]
    InvalidDigest {
        input: String,
        digest: String,
        reason: &'static str,
    },
    #[error("invalid image reference {input:?}: the name is {len} characters long; Docker allows at most 255")]
    NameTooLong { input: String, len: usize },
    #[error(
        "{input:?} is an image ID, not an image reference: it names one local image and no registry \
         to check; use the image's name (e.g. nginx:1.25)"
    )]
    LooksLikeImageId { input: String },
}

impl Reference {
    /// Builds a reference from parts, validating and normalizing them exactly as parsing does.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        let mut text = format!("{registry}/{repository}");
        if let Some(tag) = tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = digest {
            text.push('@');
            text.push_str(digest);
        }
        text.parse()
    }

    /// The registry as `host[:port]`, lowercase; `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/nginx`, `owner/image`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<hex>`) when the reference is pinned.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The tag, or `latest` when none was written (what `docker pull` assumes). Callers that must
    /// tell a digest-only reference apart check [`Reference::digest`] first.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one (it is what
    /// `docker pull` fetches, whatever the tag says), else the tag or `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest.as_deref().unwrap_or_else(|| self.tag_or_latest())
    }

    /// Parses like [`FromStr`] and says, one line per rule, how the input was normalized
    /// (for `tidewatch explain`).
    pub fn parse_explained(input: &str) -> Result<(Reference, Vec<String>), ReferenceError> {
        let reference: Reference = input.parse()?;
        let mut steps = Vec::new();
        let first = input.split('/').next().unwrap_or_default();
        let written_host = input.contains('/') && looks_like_registry_host(first);
        if !written_host {
            steps.push(format!(
                "no registry in {input:?}: Docker Hub ({DOCKER_HUB}) is the default"
            ));
        } else if !first.eq_ignore_ascii_case(&reference.registry) {
            steps.push(format!("{first} is Docker Hub: normalized to {DOCKER_HUB}"));
        } else if first != reference.registry {
            steps.push(format!(
                "host names are case-insensitive: {first} is {}",
                reference.registry
            ));
        }
        if reference.is_docker_hub() && !input.contains(&reference.repository) {
            steps.push(format!(
                "single-segment Docker Hub names are official images: {}",
                reference.repository
            ));
        }
        match (&reference.tag, &reference.digest) {
            (None, None) => steps.push("no tag: latest is assumed".to_string()),
            (Some(tag), Some(digest)) => steps.push(format!(
                "pinned by digest {digest}: it is what runs; the tag {tag} is kept to say what to follow"
            )),
            (None, Some(digest)) => steps.push(format!("pinned by digest {digest}: no tag to follow")),
            (Some(_), None) => {}
        }
        steps.push(format!("normalized: {reference}"));
        Ok((reference, steps))
    }

    /// This reference with its tag written out: `latest` when it has neither tag nor digest, as
    /// a check's document always names one (docs/cli.md#containers).
    pub fn with_tag_written_out(&self) -> Reference {
        if self.tag().is_some() || self.digest().is_some() {
            return self.clone();
        }
        self.with_tag("latest").unwrap_or_else(|_| self.clone())
    }

    /// Whether the reference names a digest, so what runs cannot change under it.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image with another tag and no digest (a digest belongs to the old tag).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag {
                input: format!("{}:{tag}", self.name()),
                tag: tag.to_string(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same image pinned to `digest`, keeping the tag.
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        let input = format!("{}@{digest}", self.name());
        validate_digest(&input, digest)?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// The same image at `registry/repository` elsewhere (a mirror or the upstream), keeping tag and
    /// digest. Used by mirror resolution, which has already validated both parts.
    pub fn with_name(&self, registry: &str, repository: &str) -> Result<Self, ReferenceError> {
        Reference::new(registry, repository, self.tag.as_deref(), self.digest.as_deref())
    }

    /// The short name as `docker images`, RepoTags and RepoDigests show it: `nginx:1.25`,
    /// `bitnami/redis@sha256:…`, `ghcr.io/o/i:1`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_tag_and_digest(&mut out);
        out
    }

    /// The short name without tag or digest: `nginx`, `bitnami/redis`, `ghcr.io/o/i`.
    pub fn familiar_name(&self) -> String {
        if self.is_docker_hub() {
            match self
                .repository
                .strip_prefix(OFFICIAL_NAMESPACE)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                // `library/a/b` is not an official image; Docker keeps the prefix there.
                Some(rest) if !rest.contains('/') => rest.to_string(),
                // Keep the registry when the short form would read as a host (`a.b/c`).
                _ if self.repository.split('/').next().is_some_and(looks_like_registry_host) => self.name(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        }
    }

    fn push_tag_and_digest(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

/// The full normalized form: `docker.io/library/nginx:1.25`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_tag_and_digest(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Maps Docker Hub's alias hosts to `docker.io` and lowercases the host (host names are
/// case-insensitive). Other registries are returned as given.
pub fn normalize_registry(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    if docker_hub::is_docker_hub(&lower) {
        DOCKER_HUB.to_string()
    } else {
        lower
    }
}

/// Whether the first path segment of a name is a registry host rather than a Docker Hub namespace.
/// Docker's rule: it contains a `.` or a `:`, is `localhost`, or has an uppercase letter (which a
/// repository path may not have).
pub fn looks_like_registry_host(segment: &str) -> bool {
    segment.contains(['.', ':'])
        || segment == "localhost"
        || segment.starts_with('[')
        || segment.chars().any(|c| c.is_ascii_uppercase())
}

fn parse(input: &str) -> Result<Reference, ReferenceError> {
    let err_input = || input.to_string();
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ReferenceError::Whitespace { input: err_input() });
    }

    // The digest is everything after the first '@'; nothing before it may contain one.
    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => {
            validate_digest(input, digest)?;
            (rest, Some(digest.to_string()))
        }
        None => (input, None),
    };

    // The tag follows the last ':' after the last '/', so a registry port is never taken for one.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let colon = last_slash + i;
            let tag = &rest[colon + 1..];
            if !is_valid_tag(tag) {
                return Err(ReferenceError::InvalidTag {
                    input: err_input(),
                    tag: tag.to_string(),
                });
            }
            (&rest[..colon], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(ReferenceError::MissingRepository { input: err_input() });
    }

    let (registry, path) = match name.split_once('/') {
        // Docker takes `MyOrg/app` as a host `MyOrg`; it is almost always a mistyped namespace,
        // and a lowercased host would read back as one, so say what is most likely wrong.
        Some((first, _)) if !looks_like_registry_host(&first.to_ascii_lowercase()) && !first.starts_with('[') => {
            if first.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(ReferenceError::Uppercase {
                    input: err_input(),
                    component: first.to_string(),
                });
            }
            (DOCKER_HUB.to_string(), name)
        }
        Some((first, path)) if looks_like_registry_host(first) => {
            (normalize_registry(validate_host(input, first)?), path)
        }
        _ => (DOCKER_HUB.to_string(), name),
    };
    if path.is_empty() {
        return Err(ReferenceError::MissingRepository { input: err_input() });
    }
    for component in path.split('/') {
        validate_path_component(input, component)?;
    }
    let is_hex64 = |s: &str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
    // `sha256:<id>` is how engines name a container's image when it was created by ID; read as a
    // reference it would be an image `sha256` on Docker Hub with a tag, and be checked as one.
    let image_id = path == "sha256" && tag.as_deref().is_some_and(is_hex64) && digest.is_none();
    if registry == DOCKER_HUB && (is_hex64(path) || image_id) {
        return Err(ReferenceError::LooksLikeImageId { input: err_input() });
    }
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{path}")
    } else {
        path.to_string()
    };
    let len = registry.len() + 1 + repository.len();
    if len > MAX_NAME_LEN {
        return Err(ReferenceError::NameTooLong {
            input: err_input(),
            len,
        });
    }
    Ok(Reference {
        registry,
        repository,
        tag,
        digest,
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, Docker's tag grammar.
pub(crate) fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
        _ => return false,
    }
    tag.len() <= MAX_TAG_LEN && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `algorithm:encoded` per the OCI image spec, with sha256/sha512 lengths checked since those are
/// the only algorithms registries serve.
fn validate_digest(input: &str, digest: &str) -> Result<(), ReferenceError> {
    let fail = |reason| {
        Err(ReferenceError::InvalidDigest {
            input: input.to_string(),
            digest: digest.to_string(),
            reason,
        })
    };
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return fail("expected algorithm:hex, e.g. sha256:<64 hex digits>");
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
        part.starts_with(|c: char| c.is_ascii_lowercase())
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !algorithm_ok {
        return fail("the algorithm must be lowercase letters and digits, e.g. sha256");
    }
    let expected = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    if let Some(expected) = expected {
        if encoded.len() != expected || !encoded.chars().all(|c| c.is_ascii_hexdigit()) {
            return fail(if expected == 64 {
                "a sha256 digest has exactly 64 lowercase hexadecimal digits"
            } else {
                "a sha512 digest has exactly 128 lowercase hexadecimal digits"
            });
        }
        if encoded.chars().any(|c| c.is_ascii_uppercase()) {
            return fail("hexadecimal digits must be lowercase");
        }
    }
    if encoded.len() < 32 || !encoded.chars().all(|c| c.is_ascii_hexdigit()) {
        return fail("the encoded part must be at least 32 hexadecimal digits");
    }
    Ok(())
}

/// `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 literal.
fn validate_host<'a>(input: &str, host_port: &'a str) -> Result<&'a str, ReferenceError> {
    let bad_host = |host: &str| ReferenceError::InvalidHost {
        input: input.to_string(),
        host: host.to_string(),
    };
    let (host, port) = if let Some(after_bracket) = host_port.strip_prefix('[') {
        let Some((literal, after)) = after_bracket.split_once(']') else {
            return Err(bad_host(host_port));
        };
        // Zones (`%eth0`) are not allowed in references, as in Docker.
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad_host(host_port));
        }
        match after {
            "" => (host_port, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (&host_port[..host_port.len() - after.len()], Some(port)),
                None => return Err(bad_host(host_port)),
            },
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if let Some(port) = port {
        let valid = !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit());
        if !valid || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(ReferenceError::InvalidPort {
                input: input.to_string(),
                port: port.to_string(),
            });
        }
    }
    if !host.starts_with('[') {
        let label_ok = |label: &str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !host.split('.').all(label_ok) {
            return Err(bad_host(host));
        }
    }
    Ok(host_port)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, Docker's path component grammar.
fn validate_path_component(input: &str, component: &str) -> Result<(), ReferenceError> {
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            input: input.to_string(),
            component: component.to_string(),
        });
    }
    let bad = || ReferenceError::InvalidPathComponent {
        input: input.to_string(),
        component: component.to_string(),
    };
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', two '_', or any number of '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<&str>) {
        (r.registry(), r.repository(), r.tag(), r.digest())
    }

    #[test]
    fn valid_references_normalize_like_docker() {
        let with_digest = |s: &str| s.replace("{D}", D);
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, Option<&str>, bool)] = &[
            // input, registry, repository, tag, has digest
            ("nginx", "docker.io", "library/nginx", None, false),
            ("nginx:1.25", "docker.io", "library/nginx", Some("1.25"), false),
            ("nginx:latest", "docker.io", "library/nginx", Some("latest"), false),
            ("library/nginx:1.25", "docker.io", "library/nginx", Some("1.25"), false),
            ("docker.io/nginx", "docker.io", "library/nginx", None, false),
            ("docker.io/library/nginx:1", "docker.io", "library/nginx", Some("1"), false),
            ("index.docker.io/nginx", "docker.io", "library/nginx", None, false),
            ("index.docker.io/library/redis:7", "docker.io", "library/redis", Some("7"), false),
            ("registry-1.docker.io/bitnami/redis:7.2", "docker.io", "bitnami/redis", Some("7.2"), false),
            ("Docker.IO/nginx", "docker.io", "library/nginx", None, false),
            ("bitnami/redis", "docker.io", "bitnami/redis", None, false),
            ("linuxserver/plex:1.40.1.8227-c0dd5a73e-ls221", "docker.io", "linuxserver/plex", Some("1.40.1.8227-c0dd5a73e-ls221"), false),
            ("ghcr.io/home-assistant/home-assistant:2024.1.5", "ghcr.io", "home-assistant/home-assistant", Some("2024.1.5"), false),
            ("ghcr.io/o/i", "ghcr.io", "o/i", None, false),
            ("quay.io/prometheus/node-exporter:v1.7.0", "quay.io", "prometheus/node-exporter", Some("v1.7.0"), false),
            ("localhost/app", "localhost", "app", None, false),
            ("localhost:5000/app:dev", "localhost:5000", "app", Some("dev"), false),
            ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", Some("1.0"), false),
            ("[::1]:5000/x", "[::1]:5000", "x", None, false),
            ("[fe80::1]/x:1", "[fe80::1]", "x", Some("1"), false),
            ("registry.corp.example:5000/a/b/c:1.2.3-alpine", "registry.corp.example:5000", "a/b/c", Some("1.2.3-alpine"), false),
            ("Registry.Corp.Example/app", "registry.corp.example", "app", None, false),
            ("nginx@{D}", "docker.io", "library/nginx", None, true),
            ("nginx:1.25@{D}", "docker.io", "library/nginx", Some("1.25"), true),
            ("localhost:5000/app:1@{D}", "localhost:5000", "app", Some("1"), true),
            ("docker.m.daocloud.io/library/nginx:1.25", "docker.m.daocloud.io", "library/nginx", Some("1.25"), false),
            ("docker.m.daocloud.io/nginx", "docker.m.daocloud.io", "nginx", None, false),
            ("a__b/c-d---e/f.g_h:Tag_1.x-Y", "docker.io", "a__b/c-d---e/f.g_h", Some("Tag_1.x-Y"), false),
            ("my-registry/app", "docker.io", "my-registry/app", None, false),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v2", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app", Some("v2"), false),
            ("mcr.microsoft.com/dotnet/aspnet:8.0", "mcr.microsoft.com", "dotnet/aspnet", Some("8.0"), false),
        ];
        for (input, registry, repository, tag, has_digest) in cases {
            let input = with_digest(input);
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            let digest = has_digest.then_some(D);
            assert_eq!(parts(&r), (*registry, *repository, *tag, digest), "{input}");
        }
    }

    #[test]
    fn invalid_references_say_what_is_wrong() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("nginx 1.25", "whitespace"),
            ("Nginx", "lowercase"),
            ("MyOrg/app", "lowercase"),
            ("ghcr.io/Owner/image", "lowercase"),
            ("nginx:", "tag"),
            ("nginx:-x", "tag"),
            ("nginx:.x", "tag"),
            (":1.25", "missing"),
            ("ghcr.io/", "missing"),
            ("nginx@sha256:abc", "exactly 64"),
            ("nginx@md5", "algorithm:hex"),
            ("nginx@SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "algorithm"),
            ("localhost:0/x", "port"),
            ("localhost:99999/x", "port"),
            ("localhost:/x", "port"),
            ("[::1/x", "host"),
            ("[zz::1]:5000/x", "host"),
            ("bad_host.example/x", "host"),
            ("-bad.example/x", "host"),
            ("a//b", "path component"),
            ("a/-b", "path component"),
            ("a/b./c", "path component"),
            ("a...b", "path component"),
            ("a___b", "path component"),
            ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image ID"),
            ("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image ID"),
            ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef@x", "digest"),
        ];
        for (input, needle) in cases {
            let message = match input.parse::<Reference>() {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => e.to_string(),
            };
            assert!(
                message.contains(needle),
                "{input:?}: {message:?} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn name_longer_than_255_is_rejected() {
        let long = format!("ghcr.io/{}", "a".repeat(250));
        assert!(matches!(
            long.parse::<Reference>(),
            Err(ReferenceError::NameTooLong { .. })
        ));
    }

    #[test]
    fn tag_longer_than_128_is_rejected() {
        let long = format!("nginx:{}", "a".repeat(129));
        assert!(matches!(
            long.parse::<Reference>(),
            Err(ReferenceError::InvalidTag { .. })
        ));
    }

    #[test]
    fn display_is_the_full_normalized_form() {
        let cases = [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("index.docker.io/bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("[::1]:5000/x:1", "[::1]:5000/x:1"),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Reference>().unwrap().to_string(), expected);
        }
    }

    #[test]
    fn familiar_names_match_repotags_and_repodigests() {
        let cases = [
            ("docker.io/library/nginx:1.25", "nginx:1.25"),
            ("nginx", "nginx"),
            ("docker.io/bitnami/redis:7", "bitnami/redis:7"),
            ("docker.io/library/a/b:1", "library/a/b:1"),
            ("ghcr.io/o/i:1", "ghcr.io/o/i:1"),
            ("localhost:5000/app", "localhost:5000/app"),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Reference>().unwrap().familiar(), expected, "{input}");
        }
        let pinned: Reference = format!("nginx@{D}").parse().unwrap();
        assert_eq!(pinned.familiar(), format!("nginx@{D}"));
    }

    #[test]
    fn digest_wins_over_tag_but_both_are_kept() {
        let r: Reference = format!("nginx:1.25@{D}").parse().unwrap();
        assert!(r.is_pinned());
        assert_eq!(r.tag(), Some("1.25"));
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.to_string(), format!("docker.io/library/nginx:1.25@{D}"));
    }

    #[test]
    fn digest_wins_over_tag_for_the_manifest_to_fetch() {
        let pinned: Reference = format!("nginx:1.25@{D}").parse().unwrap();
        assert_eq!(pinned.manifest_reference(), D);
        assert_eq!("nginx:1.25".parse::<Reference>().unwrap().manifest_reference(), "1.25");
        assert_eq!("nginx".parse::<Reference>().unwrap().manifest_reference(), "latest");
    }

    #[test]
    fn explained_parse_says_each_normalization() {
        let (r, steps) = Reference::parse_explained("nginx").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx");
        assert_eq!(
            steps,
            [
                "no registry in \"nginx\": Docker Hub (docker.io) is the default",
                "single-segment Docker Hub names are official images: library/nginx",
                "no tag: latest is assumed",
                "normalized: docker.io/library/nginx",
            ]
        );
        let (_, steps) = Reference::parse_explained("index.docker.io/bitnami/redis:7").unwrap();
        assert_eq!(
            steps,
            [
                "index.docker.io is Docker Hub: normalized to docker.io",
                "normalized: docker.io/bitnami/redis:7"
            ]
        );
        let (_, steps) = Reference::parse_explained("ghcr.io/o/i:1").unwrap();
        assert_eq!(steps, ["normalized: ghcr.io/o/i:1"]);
        let (_, steps) = Reference::parse_explained(&format!("ghcr.io/o/i:1@{D}")).unwrap();
        assert!(steps[0].contains("the tag 1 is kept"), "{steps:?}");
        assert!(Reference::parse_explained("Bad").is_err());
    }

    #[test]
    fn tag_or_latest_defaults_to_latest() {
        assert_eq!("nginx".parse::<Reference>().unwrap().tag_or_latest(), "latest");
        assert_eq!("nginx:1".parse::<Reference>().unwrap().tag_or_latest(), "1");
    }

    #[test]
    fn with_tag_drops_the_digest_of_the_old_tag() {
        let r: Reference = format!("nginx:1.25@{D}").parse().unwrap();
        let next = r.with_tag("1.26").unwrap();
        assert_eq!(next.to_string(), "docker.io/library/nginx:1.26");
        assert!(r.with_tag("bad tag").is_err());
    }

    #[test]
    fn with_name_keeps_tag_and_digest_and_adds_nothing_for_other_registries() {
        let r: Reference = format!("docker.m.daocloud.io/nginx:1@{D}").parse().unwrap();
        let hub = r.with_name("docker.io", "nginx").unwrap();
        assert_eq!(hub.to_string(), format!("docker.io/library/nginx:1@{D}"));
        let ghcr = r.with_name("ghcr.io", "nginx").unwrap();
        assert_eq!(ghcr.repository(), "nginx");
    }

    #[test]
    fn serde_uses_the_normalized_string() {
        let r: Reference = "nginx:1".parse().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/library/nginx:1\"");
        let back: Reference = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Reference>("\"Bad\"").is_err());
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,2})[a-z0-9]{1,5}){0,2}"
    }

    prop_compose! {
        fn reference()(
            registry in prop_oneof![
                Just(String::new()),
                Just("docker.io".to_string()),
                Just("ghcr.io".to_string()),
                Just("localhost:5000".to_string()),
                Just("[::1]:5000".to_string()),
                "[a-z]([a-z0-9-]{0,6}[a-z0-9])?\\.[a-z]{2,5}(:[1-9][0-9]{0,3})?",
            ],
            path in prop::collection::vec(component(), 1..4),
            tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in prop::option::of("[0-9a-f]{64}"),
        ) -> String {
            let mut path = path;
            // Without a registry, a first segment with a '.' would be read as a host, as in Docker.
            if registry.is_empty() {
                path[0] = path[0].replace('.', "-");
            }
            let mut s = if registry.is_empty() { path.join("/") } else { format!("{registry}/{}", path.join("/")) };
            if let Some(tag) = tag { s.push(':'); s.push_str(&tag); }
            if let Some(d) = digest { s.push_str("@sha256:"); s.push_str(&d); }
            s
        }
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(input in reference()) {
            let parsed: Reference = input.parse().map_err(|e: ReferenceError| TestCaseError::fail(format!("{input}: {e}")))?;
            let again: Reference = parsed.to_string().parse().map_err(|e: ReferenceError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&again, &parsed);
            let familiar: Reference = parsed.familiar().parse().map_err(|e: ReferenceError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(familiar, parsed);
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(input in "\\PC{0,80}") {
            if let Ok(r) = input.parse::<Reference>() {
                prop_assert_eq!(r.to_string().parse::<Reference>(), Ok(r.clone()));
            }
        }

        #[test]
        fn parsing_reference_like_noise_never_panics(input in "[a-zA-Z0-9:/@.\\[\\]_-]{0,60}") {
            if let Ok(r) = input.parse::<Reference>() {
                prop_assert_eq!(r.to_string().parse::<Reference>(), Ok(r.clone()));
            }
        }
    }
}
