//! The test lab's contract: which `TIDEWATCH_LAB_*` variables `cargo xtask lab up` exports and
//! what the fixture images are. xtask writes these; tests read them through [`Lab::require`].

#[cfg(feature = "containers")]
pub mod containers;
#[cfg(feature = "desktop")]
pub mod desktop;
#[cfg(feature = "containers")]
pub mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file `cargo xtask lab up` writes (KEY=VALUE lines) under the workspace's `target/`.
pub const ENV_FILE: &str = "target/lab/lab.env";

/// Every variable the lab exports, with what it holds. The README lists the same table.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "TIDEWATCH_LAB_DIR",
        "the lab's runtime directory (sockets, logs, configs)",
    ),
    (
        "TIDEWATCH_LAB_DOCKER_HOST",
        "the lab engine, e.g. unix:///tmp/tidewatch-lab-…/docker.sock",
    ),
    (
        "TIDEWATCH_LAB_SWARM_DOCKER_HOST",
        "a single-node Swarm manager: the lab engine itself, or a second engine of the lab's when it reuses one",
    ),
    ("TIDEWATCH_LAB_OPEN", "open registry (plain HTTP, anonymous), host:port"),
    (
        "TIDEWATCH_LAB_TLS",
        "TLS registry (HTTPS, HTTP/2) serving the open registry's storage, host:port",
    ),
    (
        "TIDEWATCH_LAB_CA",
        "the lab CA's certificate (PEM) that signed the TLS registry's certificate",
    ),
    ("TIDEWATCH_LAB_BASIC", "htpasswd (Basic auth) registry, host:port"),
    ("TIDEWATCH_LAB_BASIC_USER", "user the htpasswd registry accepts"),
    ("TIDEWATCH_LAB_BASIC_PASSWORD", "that user's password"),
    ("TIDEWATCH_LAB_TOKEN", "token-auth (Bearer) registry, host:port"),
    ("TIDEWATCH_LAB_TOKEN_REALM", "the token server's realm URL"),
    (
        "TIDEWATCH_LAB_TOKEN_SERVICE",
        "the service name the token registry announces",
    ),
    ("TIDEWATCH_LAB_TOKEN_USER", "user the token server accepts"),
    ("TIDEWATCH_LAB_TOKEN_PASSWORD", "that user's password"),
    (
        "TIDEWATCH_LAB_TOKEN_STATS",
        "URL answering {\"issued\": N} (tokens issued so far)",
    ),
    (
        "TIDEWATCH_LAB_TOKEN_TTL",
        "seconds a token from the token server lives (expires_in)",
    ),
    (
        "TIDEWATCH_LAB_MIRROR",
        "pull-through cache of the open registry, host:port",
    ),
    (
        "TIDEWATCH_LAB_FAULT",
        "fault-injecting registry in front of the open one (repository <fault>/app), host:port; /stats counts credentials that reached \"another host\"",
    ),
    (
        "TIDEWATCH_LAB_METRICS",
        "space-separated NAME=URL of each registry's Prometheus /metrics (request counts)",
    ),
    (
        "TIDEWATCH_LAB_DBUS_ADDRESS",
        "the lab's session D-Bus (gnome-keyring and the notification server live there)",
    ),
    (
        "TIDEWATCH_LAB_NOTIFY_LOG",
        "file where the dbusmock notification server logs each Notify call",
    ),
    ("TIDEWATCH_LAB_DISPLAY", "the Xvfb display, e.g. :99"),
];

/// Repositories and tags the lab pushes to every registry (open, basic, token; the mirror serves
/// the open registry's). Each tag has its own content, hence its own digest.
pub const FIXTURE_TAGS: &[(&str, &[&str])] = &[
    ("fixtures/app", &["1.25.3", "1.25.4", "1.25.3-alpine", "latest"]),
    ("fixtures/web", &["1.9.0", "1.10.0", "stable"]),
];

/// The faults the lab's fault registry injects: repository `<name>/app` serves `fixtures/app`
/// with the fault applied, for Tidewatch only (the lab engine pulls them faithfully). The
/// expected outcome of each is in docs/reliability.md and `crates/cli/tests/lab_faults.rs`.
pub const FAULTS: &[(&str, &str)] = &[
    ("delay", "every request answered a second late"),
    ("stall-tags", "the tag list's headers, half a body, then nothing"),
    ("stall-manifest", "the manifest request never answered"),
    ("reset-tags", "the connection closed on the tag-list request"),
    ("reset-manifest", "the connection closed on the manifest request"),
    ("truncate-tags", "a tag list shorter than its Content-Length"),
    ("endless-tags", "a chunked tag list that never ends"),
    (
        "huge-manifest",
        "HEAD without a digest, then a chunked manifest that never ends",
    ),
    ("tags-page-huge", "one 5 MiB tag-list page"),
    ("tags-500", "HTTP 500 for the tag list"),
    (
        "manifest-503",
        "HTTP 503 with Retry-After: 1 for every manifest request",
    ),
    ("ratelimit-once", "HTTP 429 with Retry-After: 1 once, then normal"),
    ("ratelimit-long", "HTTP 429 with Retry-After: 86400"),
    (
        "invalid-manifest",
        "HEAD without a digest, then a manifest that is not JSON",
    ),
    ("not-json-tags", "an HTML page for the tag list"),
    ("lying-digest", "a Docker-Content-Digest that is not the content's"),
    (
        "redirect-other-host",
        "manifests redirected to another host (127.0.0.2)",
    ),
    ("redirect-loop", "manifests redirected to themselves"),
    ("link-loop", "a tag list whose next page is itself"),
    ("link-other-host", "a tag list whose next page is on another host"),
    ("many-tags", "100,000 tags in pages"),
    ("token-endless", "a token response that never ends"),
    ("token-stall", "a token response that stops half-way"),
    ("token-html", "an HTML page for a token"),
    ("token-huge-lifetime", "a token with expires_in 1e30"),
    ("token-u64-lifetime", "a token with expires_in 2^64-1 issued in year 1"),
    ("token-negative-lifetime", "a token with expires_in -3600"),
];

/// A multi-arch index (linux/amd64 + linux/arm64) pushed to every registry.
pub const FIXTURE_MULTI_ARCH: (&str, &str) = ("fixtures/multi", "1.0");

/// Many small repositories for request counts and the benchmark: `bulk/r000` … `bulk/r199` on the
/// open registry (and so on the TLS registry, which serves the open one's storage), each with
/// [`BULK_TAGS`]. Each tag is its own image, the same in every repository (so the same digest).
pub const BULK_REPOSITORIES: usize = 200;

/// How many of the bulk repositories the token-auth registry has.
pub const BULK_REPOSITORIES_ON_TOKEN: usize = 30;

/// The tags of every bulk repository, oldest version first; `1.1.0` is the newest.
pub const BULK_TAGS: &[&str] = &["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.1.0", "latest"];

/// The name of bulk repository `index` (`bulk/r007`).
pub fn bulk_repository(index: usize) -> String {
    format!("bulk/r{index:03}")
}

/// An image imported into the lab engine and never pushed: it has no RepoDigests.
pub const FIXTURE_LOCAL_ONLY: &str = "tidewatch-fixtures/local:dev";

/// Images for applying updates (docs/updates.md), pushed to the open and the htpasswd registry.
/// Each has an older tag that runs and a newer one; every one declares `VOLUME /data`, and their
/// `PATH`, labels and exposed ports differ between the two tags, so a test can tell the new
/// image's defaults from the old ones. Their processes stop on SIGTERM within a second.
pub const UPDATE_FIXTURES: &[(&str, &[&str])] = &[
    (FIXTURE_SERVICE, &["1.0.0", "1.1.0"]),
    (FIXTURE_PLAIN, &["1.0.0", "1.0.1"]),
    (FIXTURE_CRASHES, &["1.0.0", "1.0.1"]),
    (FIXTURE_SICKENS, &["1.0.0", "1.0.1"]),
];

/// With a HEALTHCHECK (healthy about a second after start) in both tags; 1.1.0 changes `PATH`,
/// drops `SERVICE_MODE`, sets `SERVICE_VERSION=1.1.0`, works in `/srv` and also exposes 9090/tcp.
pub const FIXTURE_SERVICE: &str = "fixtures/service";
/// Without a HEALTHCHECK; 1.0.1 changes `PATH` and `PLAIN_VERSION`.
pub const FIXTURE_PLAIN: &str = "fixtures/plain";
/// Without a HEALTHCHECK; 1.0.1 prints `fatal: crashes 1.0.1 cannot start` and exits with status 3.
pub const FIXTURE_CRASHES: &str = "fixtures/crashes";
/// With a HEALTHCHECK; 1.0.1 runs but its healthcheck always fails, so it turns unhealthy.
pub const FIXTURE_SICKENS: &str = "fixtures/sickens";

/// The lab as a test sees it.
#[derive(Debug, Clone)]
pub struct Lab {
    vars: BTreeMap<String, String>,
}

impl Lab {
    /// The running lab, from the environment or, failing that, from the env file that
    /// `cargo xtask lab up` wrote. Panics with what to do when there is no lab: a test that needs
    /// a real dependency must fail, never skip, when it is missing.
    pub fn require() -> Lab {
        match Lab::find() {
            Ok(lab) => lab,
            Err(missing) => panic!(
                "this test needs the Tidewatch test lab, and {missing} is not set. \
                 Run it through `cargo xtask test`, or start the lab with `cargo xtask lab up` \
                 (it writes {ENV_FILE}, which tests read when the variables are not exported)."
            ),
        }
    }

    /// The lab, or the name of the first variable that is missing.
    pub fn find() -> Result<Lab, String> {
        let mut vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TIDEWATCH_LAB_"))
            .collect();
        if !vars.contains_key("TIDEWATCH_LAB_DIR") {
            if let Some(file) = find_env_file() {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    vars.extend(parse_env_file(&text));
                }
            }
        }
        for (name, _) in VARIABLES {
            if !vars.contains_key(*name) {
                return Err((*name).to_string());
            }
        }
        Ok(Lab { vars })
    }

    /// A lab variable; panics naming it when absent (only after `find` checked them all).
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("lab variable {name} is not set"))
    }

    pub fn docker_host(&self) -> &str {
        self.var("TIDEWATCH_LAB_DOCKER_HOST")
    }
    /// The single-node Swarm manager for the Swarm tests.
    pub fn swarm_docker_host(&self) -> &str {
        self.var("TIDEWATCH_LAB_SWARM_DOCKER_HOST")
    }
    pub fn open_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_OPEN")
    }
    pub fn basic_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_BASIC")
    }
    pub fn token_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_TOKEN")
    }
    pub fn fault_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_FAULT")
    }
    pub fn mirror_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_MIRROR")
    }
    pub fn tls_registry(&self) -> &str {
        self.var("TIDEWATCH_LAB_TLS")
    }
    /// The lab CA's certificate, to trust the TLS registry (`ca_cert` in `[[registries]]`).
    pub fn ca_cert(&self) -> PathBuf {
        PathBuf::from(self.var("TIDEWATCH_LAB_CA"))
    }
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.var("TIDEWATCH_LAB_DIR"))
    }

    /// The Prometheus metrics URL of a registry by lab name (open, tls, basic, token, mirror).
    pub fn metrics_url(&self, registry: &str) -> Option<String> {
        self.var("TIDEWATCH_LAB_METRICS")
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == registry)
            .map(|(_, url)| url.to_string())
    }

    /// Every lab variable, e.g. to hand to a child process.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
}

/// Parses KEY=VALUE lines; blank lines and `#` comments are ignored.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Looks for `target/lab/lab.env` from the current directory upwards (tests run in their
/// crate's directory, the file lives at the workspace root).
fn find_env_file() -> Option<PathBuf> {
    let start = std::env::current_dir().ok()?;
    let mut dir: Option<&Path> = Some(&start);
    while let Some(d) = dir {
        let candidate = d.join(ENV_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_become_variables() {
        let vars = parse_env_file("# lab\nTIDEWATCH_LAB_OPEN=127.0.0.1:5000\n\n TIDEWATCH_LAB_DISPLAY = :99 \n");
        assert_eq!(vars["TIDEWATCH_LAB_OPEN"], "127.0.0.1:5000");
        assert_eq!(vars["TIDEWATCH_LAB_DISPLAY"], ":99");
        assert_eq!(vars.len(), 2);
    }
}
