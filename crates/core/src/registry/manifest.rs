//! Manifests: the digest of a tag (HEAD, GET as fallback), and the manifest an index or manifest
//! list serves for one platform.

use oci_spec::image::{Descriptor, ImageIndex};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::bounds::MAX_MANIFEST_BYTES;
use super::{RegistryClient, RegistryError, Reply, RequestKind};
use crate::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest type we understand, indexes first: without them in `Accept`, registries
/// answer a multi-arch tag with one platform's manifest (or convert to schema 1), whose digest
/// is not the one the engine recorded.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A tag's digest as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestDigest {
    pub digest: String,
    pub media_type: Option<String>,
}

impl ManifestDigest {
    /// Whether the digest is that of an index / manifest list (a multi-arch image).
    pub fn is_index(&self) -> bool {
        self.media_type.as_deref().is_some_and(is_index_media_type)
    }
}

/// A manifest's parsed content.
#[derive(Debug, Clone)]
pub enum ManifestContent {
    /// An OCI index or Docker manifest list.
    Index(Box<ImageIndex>),
    /// A single-platform manifest (or something we do not parse further).
    Single,
}

/// A fetched manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: String,
    pub media_type: Option<String>,
    pub content: ManifestContent,
    pub bytes: Vec<u8>,
}

/// The manifest that serves one platform, and the index it was picked from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformManifest {
    /// The index's digest (what the engine records as RepoDigest), `None` for single manifests.
    pub index_digest: Option<String>,
    /// The platform-specific manifest's digest.
    pub digest: String,
    pub media_type: Option<String>,
}

pub fn is_index_media_type(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or_default().trim();
    base == OCI_INDEX || base == DOCKER_MANIFEST_LIST
}

/// `sha256:<hex>` of the bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether a string looks like `algorithm:hex` (a registry sending junk must not become a digest).
fn is_digest(value: &str) -> bool {
    match value.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && hex.len() >= 32
                && algorithm
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Parses a manifest body, deciding index vs single by media type and by content (some
/// registries omit or mislabel the Content-Type).
pub fn parse_manifest(media_type: Option<&str>, bytes: &[u8]) -> Result<ManifestContent, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let body_type = value.get("mediaType").and_then(|v| v.as_str());
    let is_index = media_type.is_some_and(is_index_media_type)
        || body_type.is_some_and(is_index_media_type)
        || (body_type.is_none() && value.get("manifests").is_some_and(|m| m.is_array()));
    if !is_index {
        return Ok(ManifestContent::Single);
    }
    serde_json::from_value::<ImageIndex>(value)
        .map(|index| ManifestContent::Index(Box::new(index)))
        .map_err(|e| format!("not a valid image index: {e}"))
}

/// The platform of an index entry, normalized; `None` for entries without one.
pub fn descriptor_platform(descriptor: &Descriptor) -> Option<Platform> {
    let platform = descriptor.platform().as_ref()?;
    Some(Platform::new(
        &platform.os().to_string(),
        &platform.architecture().to_string(),
        platform.variant().as_deref(),
    ))
}

/// BuildKit stores provenance/SBOM attestations in the index as `unknown/unknown` entries
/// marked with `vnd.docker.reference.type`; they are never a platform's image.
fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
}

/// The index entry for `wanted`: an exact platform match first, then one that matches with a
/// variant missing on either side (registries often omit it).
pub fn select_platform<'a>(index: &'a ImageIndex, wanted: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<(&Descriptor, Platform)> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .filter_map(|d| descriptor_platform(d).map(|p| (d, p)))
        .collect();
    candidates
        .iter()
        .find(|(_, p)| p == wanted)
        .or_else(|| candidates.iter().find(|(_, p)| wanted.matches(p)))
        .map(|(d, _)| *d)
}

/// The platforms an index serves (for error messages).
pub fn index_platforms(index: &ImageIndex) -> Vec<String> {
    served_platforms(index).iter().map(ToString::to_string).collect()
}

/// The platforms an index serves images for (attestation entries left out).
pub fn served_platforms(index: &ImageIndex) -> Vec<Platform> {
    index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .filter_map(descriptor_platform)
        .filter(|p| p.os != "unknown")
        .collect()
}

impl RegistryClient {
    fn manifest_url(&self, repository: &str, reference: &str) -> Result<url::Url, RegistryError> {
        self.repository_url(repository, &format!("manifests/{reference}"), Some(reference))
    }

    /// The digest `reference` (a tag or digest) points at: one HEAD (which Docker Hub does not
    /// count as a pull), or a GET when HEAD answers 405 or without `Docker-Content-Digest`.
    pub async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<ManifestDigest, RegistryError> {
        let url = self.manifest_url(repository, reference)?;
        let response = self
            .send_authenticated(RequestKind::Head, Method::HEAD, url, repository, Some(ACCEPT))
            .await?;
        let status = response.status();
        if status.is_success() {
            let digest = header_str(&response, "docker-content-digest").filter(|d| is_digest(d));
            if let Some(digest) = digest {
                return Ok(ManifestDigest {
                    digest,
                    media_type: header_str(&response, "content-type"),
                });
            }
            tracing::debug!(registry = %self.registry, repository, reference, "HEAD gave no digest; using GET");
        } else if status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_IMPLEMENTED {
            tracing::debug!(registry = %self.registry, repository, reference, %status, "HEAD refused; using GET");
        } else {
            return Err(self.status_error(&response, repository, Some(reference)).await);
        }
        // Its permit goes back before the GET asks for one.
        drop(response);
        let manifest = self.get_manifest(repository, reference).await?;
        Ok(ManifestDigest {
            digest: manifest.digest,
            media_type: manifest.media_type,
        })
    }

    /// Fetches a manifest; its digest is computed from the body (sha256), as the registry would.
    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let url = self.manifest_url(repository, reference)?;
        let response = self
            .send_authenticated(RequestKind::Get, Method::GET, url, repository, Some(ACCEPT))
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(&response, repository, Some(reference)).await);
        }
        let media_type = header_str(&response, "content-type");
        let header_digest = header_str(&response, "docker-content-digest");
        let invalid = |reason: String| RegistryError::InvalidManifest {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            reference: reference.to_string(),
            reason,
        };
        let what = format!("the manifest of {repository}:{reference}");
        let bytes = response.body(self, MAX_MANIFEST_BYTES, &what).await?;
        let computed = sha256_digest(&bytes);
        // Asked by digest: the content must be that digest, whatever the headers say.
        if reference.starts_with("sha256:") && reference != computed {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                repository: repository.to_string(),
                claimed: reference.to_string(),
                served: computed,
            });
        }
        let digest = match header_digest {
            // A registry may use another algorithm; we can only verify sha256.
            Some(d) if is_digest(&d) && !d.starts_with("sha256:") => d,
            Some(d) if d != computed => {
                tracing::warn!(registry = %self.registry, repository, reference, header = %d, %computed,
                    "Docker-Content-Digest differs from the body's digest; using the body's");
                computed
            }
            _ => computed,
        };
        let content = parse_manifest(media_type.as_deref(), &bytes).map_err(invalid)?;
        Ok(Manifest {
            digest,
            media_type,
            content,
            bytes,
        })
    }

    /// The manifest `reference` serves for `platform`: from an index, the entry for that platform;
    /// a single manifest is its own answer.
    pub async fn platform_manifest(
        &self,
        repository: &str,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        let manifest = self.get_manifest(repository, reference).await?;
        match &manifest.content {
            ManifestContent::Single => Ok(PlatformManifest {
                index_digest: None,
                digest: manifest.digest,
                media_type: manifest.media_type,
            }),
            ManifestContent::Index(index) => match select_platform(index, platform) {
                Some(entry) => Ok(PlatformManifest {
                    index_digest: Some(manifest.digest.clone()),
                    digest: entry.digest().to_string(),
                    media_type: Some(entry.media_type().to_string()),
                }),
                None => Err(RegistryError::PlatformNotFound {
                    registry: self.registry.clone(),
                    repository: repository.to_string(),
                    reference: reference.to_string(),
                    platform: platform.to_string(),
                    available: index_platforms(index),
                }),
            },
        }
    }
}

fn header_str(response: &Reply, name: &str) -> Option<String> {
    response
        .header(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const D4: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    fn index_json() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
            {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{D1}","platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{D2}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{D3}","platform":{{"architecture":"arm","os":"linux","variant":"v6"}}}},
            {{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D4}","platform":{{"architecture":"unknown","os":"unknown"}},
              "annotations":{{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"{D1}"}}}}
        ]}}"#
        )
    }

    fn index() -> ImageIndex {
        match parse_manifest(None, index_json().as_bytes()).unwrap() {
            ManifestContent::Index(index) => *index,
            ManifestContent::Single => panic!("expected an index"),
        }
    }

    #[test]
    fn picks_the_manifest_for_each_platform() {
        let index = index();
        let pick = |p: &str| select_platform(&index, &p.parse().unwrap()).map(|d| d.digest().to_string());
        assert_eq!(pick("linux/amd64").as_deref(), Some(D1));
        assert_eq!(pick("linux/arm64").as_deref(), Some(D2));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some(D2));
        assert_eq!(pick("linux/arm/v6").as_deref(), Some(D3));
        assert_eq!(pick("linux/arm/v7"), None);
        assert_eq!(pick("windows/amd64"), None);
    }

    #[test]
    fn exact_variant_beats_a_missing_variant() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D1}","platform":{{"architecture":"riscv64","os":"linux"}}}},
            {{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D2}","platform":{{"architecture":"riscv64","os":"linux","variant":"rva23"}}}}]}}"#
        );
        let ManifestContent::Index(index) = parse_manifest(Some(OCI_INDEX), json.as_bytes()).unwrap() else {
            panic!("expected an index");
        };
        let wanted = Platform::new("linux", "riscv64", Some("rva23"));
        assert_eq!(select_platform(&index, &wanted).unwrap().digest().to_string(), D2);
    }

    #[test]
    fn attestations_are_not_platforms() {
        assert_eq!(
            index_platforms(&index()),
            ["linux/amd64", "linux/arm64", "linux/arm/v6"]
        );
    }

    #[test]
    fn index_is_recognised_without_content_type_or_media_type() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{D1}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        assert!(matches!(
            parse_manifest(None, json.as_bytes()),
            Ok(ManifestContent::Index(_))
        ));
        assert!(matches!(
            parse_manifest(Some("application/json"), br#"{"schemaVersion":2,"config":{}}"#),
            Ok(ManifestContent::Single)
        ));
    }

    #[test]
    fn malformed_manifests_are_errors_not_panics() {
        assert!(parse_manifest(None, b"<html>").is_err());
        assert!(parse_manifest(Some(OCI_INDEX), br#"{"manifests":"nope"}"#).is_err());
    }

    #[test]
    fn sha256_digest_of_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn digest_shape_is_checked() {
        assert!(is_digest(D1));
        assert!(!is_digest("latest"));
        assert!(!is_digest("sha256:xyz"));
        assert!(!is_digest(":abc"));
    }

    #[test]
    fn accept_lists_every_manifest_type() {
        for media_type in [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST] {
            assert!(ACCEPT.contains(media_type), "{media_type}");
        }
        assert!(is_index_media_type(
            "application/vnd.oci.image.index.v1+json; charset=utf-8"
        ));
    }
}
