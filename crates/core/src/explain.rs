//! How an image name is read and which registries a check asks for it, in order: one answer for
//! `tidewatch explain` and for the settings view's live preview (docs/mirrors.md).

use std::path::Path;

use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::error::Coded;
use crate::mirror::{Endpoint, MirrorError};
use crate::platform::Platform;
use crate::reference::{Reference, ReferenceError};
use crate::registries_conf::ContainersMirrors;

/// The steps from a name to the endpoints a check asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The name as given.
    pub image: String,
    /// The upstream image after normalization and mirror resolution, with its tag written out
    /// (`latest` when none was), as in a check's document.
    pub upstream: Reference,
    /// Where a check asks, in order.
    pub endpoints: Vec<Endpoint>,
    /// How the name was normalized, one line per rule.
    pub normalization: Vec<String>,
    /// How mirror rules mapped it, one line per step.
    pub resolution: Vec<String>,
    /// The platform an `--image` check of it would compare, written `os/arch[/variant]` as in a
    /// check's document.
    #[serde(serialize_with = "serialize_display")]
    pub platform: Platform,
}

/// Why a name cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The configuration's mirror rules are what is explained: a broken file is said, not replaced
    /// by defaults.
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("{0}; fix the [[mirrors]] entry in the configuration")]
    Mirror(#[from] MirrorError),
}

impl Coded for ExplainError {
    fn code(&self) -> &'static str {
        match self {
            ExplainError::Config(e) => e.code(),
            ExplainError::Reference(_) => "invalid_reference",
            ExplainError::Mirror(_) => "config_mirror_rule",
        }
    }
}

/// Explains `image` with the mirror rules of the configuration file `config_file` and those of
/// the containers `registries.conf`, as a check would use them.
pub fn explain(config_file: &Path, image: &str) -> Result<Explanation, ExplainError> {
    explain_with(&Config::load(config_file)?, &ContainersMirrors::load(), image)
}

fn explain_with(config: &Config, containers: &ContainersMirrors, image: &str) -> Result<Explanation, ExplainError> {
    let (reference, normalization) = Reference::parse_explained(image)?;
    let resolution = config
        .mirror_resolver(&[])?
        .with_containers(containers)
        .resolve(&reference);
    Ok(Explanation {
        image: image.to_string(),
        upstream: resolution.upstream.with_tag_written_out(),
        endpoints: resolution.endpoints,
        normalization,
        resolution: resolution.steps,
        platform: Platform::host(),
    })
}

fn serialize_display<S: serde::Serializer>(value: &impl std::fmt::Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::MirrorRule;

    #[test]
    fn a_mirror_name_is_explained_down_to_its_upstream_and_endpoints() {
        let config = Config {
            mirrors: vec![MirrorRule {
                mirror: "harbor.corp/dockerhub".into(),
                upstream: "docker.io".into(),
                query: Default::default(),
            }],
            ..Config::default()
        };
        let explained = explain_with(
            &config,
            &ContainersMirrors::default(),
            "harbor.corp/dockerhub/nginx:1.25",
        )
        .unwrap();
        assert_eq!(explained.upstream.to_string(), "docker.io/library/nginx:1.25");
        let names: Vec<String> = explained.endpoints.iter().map(Endpoint::name).collect();
        assert_eq!(names, ["docker.io/library/nginx", "harbor.corp/dockerhub/nginx"]);
        assert!(!explained.resolution.is_empty());
    }

    #[test]
    fn a_broken_configuration_is_said_not_replaced_by_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[[mirrors]]\nmirror = 3\n").unwrap();
        let error = explain(&file, "nginx").unwrap_err();
        assert!(error.code().starts_with("config_"), "{}", error.code());
        assert!(error.to_string().contains("config.toml"), "{error}");
    }

    #[test]
    fn an_invalid_name_says_which_part_is_wrong() {
        let error = explain_with(&Config::default(), &ContainersMirrors::default(), "Not A Reference").unwrap_err();
        assert_eq!(error.code(), "invalid_reference");
    }
}
