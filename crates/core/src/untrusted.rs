//! Every parser of outside input, one function each taking raw bytes: what the fuzz targets
//! (`fuzz/`, `cargo xtask fuzz`) and their corpus replay (`tests/fuzz_corpus.rs`) call, so both
//! exercise the same code a check runs (docs/reliability.md#fuzzing). None may panic.

use std::path::Path;
use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::credentials::DockerConfigProvider;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::auth::{choose, parse_challenges};
use crate::registry::manifest::{index_platforms, parse_manifest, select_platform, ManifestContent, OCI_INDEX};
use crate::registry::tags::next_link;
use crate::version::{is_version_like, newest_candidate, TagFilter, Version};

/// One parser of outside input, taking raw bytes.
pub type Parser = fn(&[u8]);

/// The fuzz targets by name, each with its parser (the names of `fuzz/fuzz_targets/*.rs` and of
/// the corpus folders `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Parser)] = &[
    ("www_authenticate", www_authenticate),
    ("image_reference", image_reference),
    ("tags_versions", tags_versions),
    ("manifest", manifest),
    ("link_header", link_header),
    ("token_response", token_response),
    ("config_file", config_file),
    ("docker_config", docker_config),
    ("docker_context", docker_context),
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `WWW-Authenticate` values, one a line: parsed and one chosen.
pub fn www_authenticate(data: &[u8]) {
    let text = text(data);
    let challenges = parse_challenges(text.lines());
    if let Some(challenge) = choose(&challenges) {
        let _ = (challenge.is_bearer(), challenge.param("realm"), challenge.error());
    }
}

/// An image reference as a container or `--image` names it, with its explanation.
pub fn image_reference(data: &[u8]) {
    if let Ok((reference, _steps)) = Reference::parse_explained(&text(data)) {
        let _ = (reference.name(), reference.manifest_reference(), reference.to_string());
    }
}

/// The first line is the running tag, the rest a registry's tag list.
pub fn tags_versions(data: &[u8]) {
    let text = text(data);
    let mut lines = text.lines();
    let current = lines.next().unwrap_or_default();
    let tags: Vec<String> = lines.map(str::to_string).collect();
    for tag in tags.iter().map(String::as_str).chain([current]) {
        let _ = (is_version_like(tag), Version::parse(tag));
    }
    let _ = newest_candidate(current, &tags, &TagFilter::default());
}

/// A manifest or index body, read as the registry's Content-Type would have it and without one.
pub fn manifest(data: &[u8]) {
    let wanted = Platform::new("linux", "arm", Some("v7"));
    for media_type in [None, Some(OCI_INDEX)] {
        if let Ok(ManifestContent::Index(index)) = parse_manifest(media_type, data) {
            let _ = select_platform(&index, &wanted);
            let _ = index_platforms(&index);
        }
    }
}

/// A `Link` header value.
pub fn link_header(data: &[u8]) {
    if let Some(link) = next_link(&text(data)) {
        let base = url::Url::parse("https://registry.example/v2/x/tags/list?n=100").expect("a valid URL");
        let _ = base.join(&link);
    }
}

/// A token server's body.
pub fn token_response(data: &[u8]) {
    let _ = crate::registry::auth::parse_token_body(data, Instant::now(), SystemTime::now());
}

/// The configuration file.
pub fn config_file(data: &[u8]) {
    if let Ok(config) = Config::parse(&text(data), Path::new("config.toml")) {
        let _ = config.to_toml_string();
        let _ = config.registry_settings("registry.example");
    }
}

/// Docker's `config.json`, its inline `auths` looked up for two registries (helpers never run).
pub fn docker_config(data: &[u8]) {
    let provider = DockerConfigProvider::new("/nonexistent/config.json");
    for registry in ["docker.io", "registry.example:5000"] {
        let _ = provider.inline_credential(&text(data), registry);
    }
}

/// A Docker context's `meta.json`.
pub fn docker_context(data: &[u8]) {
    let _ = crate::engine::context::context_from_meta(&text(data), "0123abcd", Path::new("/nonexistent"));
}
