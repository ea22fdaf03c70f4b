//! Which image an update pulls: the name the container uses (a mirror stays a mirror) with the new
//! tag, or the same tag again for a digest update.

use serde::Serialize;

use crate::checker::{short_digest, ContainerResult, Update};
use crate::reference::Reference;
use crate::version::UpdateKind;

/// The image an update moves a container to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetImage {
    /// What is pulled and what the new container is created from: the container's own name with
    /// the new tag (or the same tag, for a digest update).
    pub reference: String,
    pub kind: UpdateKind,
    /// The version as people read it: the new tag, or the short new digest of a digest update.
    pub version: String,
    /// The mirror the name pulls through, when it is not the upstream's own name.
    pub mirror: Option<String>,
}

impl TargetImage {
    /// The target for a container created as `image_as_created` whose check found `update`.
    pub fn new(image_as_created: &str, update: &Update, result: &ContainerResult) -> TargetImage {
        let (name, current_tag) = split_tag(image_as_created);
        let (reference, version) = match (&update.tag, update.kind) {
            (Some(tag), kind) if kind != UpdateKind::Digest => (format!("{name}:{tag}"), tag.clone()),
            _ => {
                let tag = current_tag.unwrap_or("latest");
                let version = update
                    .digest
                    .as_deref()
                    .map(|d| format!("{tag} ({})", short_digest(d)))
                    .unwrap_or_else(|| tag.to_string());
                (format!("{name}:{tag}"), version)
            }
        };
        TargetImage {
            reference,
            kind: update.kind,
            version,
            mirror: mirror_of(name, result),
        }
    }
}

/// `name` and its tag, without any digest: `host:5000/app:1.2@sha256:…` → (`host:5000/app`, `1.2`).
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&without_digest[..at], Some(&without_digest[at + 1..]))
        }
        None => (without_digest, None),
    }
}

/// The registry host of `name` when it is a mirror's name rather than the upstream's: the check
/// resolved it to an upstream under another name.
fn mirror_of(name: &str, result: &ContainerResult) -> Option<String> {
    let created: Reference = name.parse().ok()?;
    let upstream = result.upstream.as_ref()?;
    (created.name() != upstream.name()).then(|| created.registry().to_string())
}

/// The version a reference names, as people read it: its tag, else `latest`.
pub fn version_of(reference: &str) -> String {
    split_tag(reference).1.unwrap_or("latest").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_off_names_with_ports_and_digests() {
        let cases = [
            ("nginx", ("nginx", None)),
            ("nginx:1.25", ("nginx", Some("1.25"))),
            ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", None)),
            ("127.0.0.1:5000/app:1.0.0", ("127.0.0.1:5000/app", Some("1.0.0"))),
            ("ghcr.io/o/app:v2@sha256:abc", ("ghcr.io/o/app", Some("v2"))),
            ("ghcr.io/o/app@sha256:abc", ("ghcr.io/o/app", None)),
        ];
        for (input, expected) in cases {
            assert_eq!(split_tag(input), expected, "{input}");
        }
    }

    fn result(upstream: &str) -> ContainerResult {
        ContainerResult {
            kind: crate::checker::Kind::Container,
            stack: None,
            platforms: Vec::new(),
            replicas: None,
            rollout: None,
            engine: Some("local".into()),
            id: Some("c".into()),
            name: Some("web".into()),
            image: String::new(),
            upstream: upstream.parse().ok(),
            via: None,
            platform: None,
            local_digest: None,
            status: crate::checker::Status::UpdateAvailable,
            update: None,
            explanation: String::new(),
            error: None,
            checked_at: std::time::SystemTime::UNIX_EPOCH,
            display_name: None,
            release_notes: None,
        }
    }

    #[test]
    fn a_tag_update_keeps_the_name_the_container_uses() {
        let update = Update {
            kind: UpdateKind::Patch,
            tag: Some("1.25.4".into()),
            digest: None,
        };
        let target = TargetImage::new(
            "mirror.lan/library/nginx:1.25.3",
            &update,
            &result("docker.io/library/nginx:1.25.3"),
        );
        assert_eq!(target.reference, "mirror.lan/library/nginx:1.25.4");
        assert_eq!(target.version, "1.25.4");
        assert_eq!(target.mirror.as_deref(), Some("mirror.lan"));

        let direct = TargetImage::new("nginx:1.25.3", &update, &result("docker.io/library/nginx:1.25.3"));
        assert_eq!(direct.reference, "nginx:1.25.4");
        assert_eq!(direct.mirror, None);
    }

    #[test]
    fn a_digest_update_pulls_the_same_tag_again() {
        let update = Update {
            kind: UpdateKind::Digest,
            tag: Some("latest".into()),
            digest: Some("sha256:0123456789abcdef0123".into()),
        };
        let target = TargetImage::new("127.0.0.1:5000/app", &update, &result("127.0.0.1:5000/app:latest"));
        assert_eq!(target.reference, "127.0.0.1:5000/app:latest");
        assert_eq!(target.version, "latest (sha256:0123456789ab)");
    }
}
