//! Mirrors declared the containers way (Podman, Buildah, CRI-O): `[[registry]]` entries of
//! `registries.conf` with their `[[registry.mirror]]`s, read as mirror rules (docs/mirrors.md#registriesconf).
//!
//! Tidewatch does not own these files, so reading them is lenient: keys it does not use are
//! ignored, and a file that cannot be read is reported in the explanation and in Settings, never
//! a reason to stop checking.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The system-wide file, used when the user has none.
pub const SYSTEM_FILE: &str = "/etc/containers/registries.conf";

/// Names one file to read instead of the system and user ones (the containers tools' own variable).
pub const FILE_ENV: &str = "CONTAINERS_REGISTRIES_CONF";

/// One `[[registry.mirror]]` (or a `location` other than the `prefix`), as a rule: names under
/// `mirror` are copies of names under `upstream`, and Podman pulls `upstream` names from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainersMirror {
    /// `host[/path]` of the mirror (or of the `location` the prefix is pulled from).
    pub mirror: String,
    /// The `prefix` it serves.
    pub upstream: String,
    /// `mirror` for a `[[registry.mirror]]`, `location` for a `location` that differs from the prefix.
    pub kind: MirrorKind,
    /// The file it was read from.
    pub source: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MirrorKind {
    /// Asked before the location, in the file's order.
    Mirror,
    /// Where names under the prefix are pulled from instead of the prefix's own host.
    Location,
}

/// What the containers configuration says: its mirror rules, and what could not be used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainersMirrors {
    pub mirrors: Vec<ContainersMirror>,
    /// One line per file or entry that was skipped, and why.
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Registry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Registry {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    pull_from_mirror: Option<String>,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Mirror {
    location: String,
    #[serde(default)]
    pull_from_mirror: Option<String>,
}

impl ContainersMirrors {
    /// The files the containers tools read: `$CONTAINERS_REGISTRIES_CONF` alone when set, else
    /// the user's `$XDG_CONFIG_HOME/containers/registries.conf` when it exists, else the system's.
    pub fn load() -> ContainersMirrors {
        let file = std::env::var_os(FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                dirs::config_dir()
                    .map(|dir| dir.join("containers/registries.conf"))
                    .filter(|p| p.exists())
            })
            .unwrap_or_else(|| PathBuf::from(SYSTEM_FILE));
        ContainersMirrors::load_file(&file)
    }

    /// Reads one file; a missing one holds no rules.
    pub fn load_file(path: &Path) -> ContainersMirrors {
        match std::fs::read_to_string(path) {
            Ok(text) => ContainersMirrors::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ContainersMirrors::default(),
            Err(e) => ContainersMirrors {
                mirrors: Vec::new(),
                problems: vec![format!("{} ignored: cannot read it: {e}", path.display())],
            },
        }
    }

    fn parse(text: &str, path: &Path) -> ContainersMirrors {
        let file: File = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                let line = e
                    .span()
                    .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
                return ContainersMirrors {
                    mirrors: Vec::new(),
                    problems: vec![format!(
                        "{} ignored: it is not a registries.conf Tidewatch can read{}: {}",
                        path.display(),
                        line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                        e.message().lines().next().unwrap_or_default()
                    )],
                };
            }
        };
        let mut out = ContainersMirrors::default();
        for registry in file.registry {
            let Some(prefix) = registry.prefix.as_deref().or(registry.location.as_deref()).map(clean) else {
                out.problems.push(format!(
                    "{}: a [[registry]] without prefix or location is ignored",
                    path.display()
                ));
                continue;
            };
            if prefix.starts_with("*.") {
                out.problems.push(format!(
                    "{}: [[registry]] {prefix}: wildcard prefixes are not used as mirror rules",
                    path.display()
                ));
                continue;
            }
            if registry.blocked {
                continue;
            }
            let digest_only = |own: &Option<String>| {
                registry.mirror_by_digest_only
                    || own.as_deref().or(registry.pull_from_mirror.as_deref()) == Some("digest-only")
            };
            for mirror in &registry.mirror {
                // Such a mirror never serves a tag, and a check is about tags.
                if digest_only(&mirror.pull_from_mirror) {
                    out.problems.push(format!(
                        "{}: mirror {} of {prefix} is used for digests only, so not for checks",
                        path.display(),
                        clean(&mirror.location)
                    ));
                    continue;
                }
                out.mirrors.push(ContainersMirror {
                    mirror: clean(&mirror.location),
                    upstream: prefix.clone(),
                    kind: MirrorKind::Mirror,
                    source: path.to_path_buf(),
                });
            }
            if let Some(location) = registry.location.as_deref().map(clean) {
                if location != prefix {
                    out.mirrors.push(ContainersMirror {
                        mirror: location,
                        upstream: prefix.clone(),
                        kind: MirrorKind::Location,
                        source: path.to_path_buf(),
                    });
                }
            }
        }
        out
    }
}

/// `docker://host/path/` → `host/path`: the prefixes as mirror rules write them.
fn clean(text: &str) -> String {
    let text = text.trim();
    let text = text.strip_prefix("docker://").unwrap_or(text);
    text.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODMAN_STYLE: &str = r#"
unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.corp.example:5000/hub"

[[registry.mirror]]
location = "digests.corp.example"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/team"
location = "quay-cache.corp.example/team"

[[registry]]
location = "blocked.example"
blocked = true

[[registry]]
prefix = "*.internal.example"
location = "cache.internal.example"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"#;

    #[test]
    fn mirrors_and_relocations_become_rules_in_file_order() {
        let read = ContainersMirrors::parse(PODMAN_STYLE, Path::new("/etc/containers/registries.conf"));
        let rules: Vec<(&str, &str, MirrorKind)> = read
            .mirrors
            .iter()
            .map(|m| (m.mirror.as_str(), m.upstream.as_str(), m.kind))
            .collect();
        assert_eq!(
            rules,
            [
                ("mirror.corp.example:5000/hub", "docker.io", MirrorKind::Mirror),
                ("quay-cache.corp.example/team", "quay.io/team", MirrorKind::Location),
            ]
        );
        assert_eq!(read.problems.len(), 2, "{:?}", read.problems);
        assert!(read.problems[0].contains("digests only"), "{:?}", read.problems);
        assert!(read.problems[1].contains("wildcard"), "{:?}", read.problems);
    }

    #[test]
    fn a_file_that_is_not_toml_is_reported_not_fatal() {
        let read = ContainersMirrors::parse("[[registry]\nprefix =", Path::new("/x/registries.conf"));
        assert!(read.mirrors.is_empty());
        assert!(
            read.problems[0].starts_with("/x/registries.conf ignored"),
            "{:?}",
            read.problems
        );
        assert!(read.problems[0].contains("line 1"), "{:?}", read.problems);
    }

    #[test]
    fn a_missing_file_holds_no_rules() {
        let read = ContainersMirrors::load_file(Path::new("/nonexistent/registries.conf"));
        assert_eq!(read, ContainersMirrors::default());
    }
}
