//! Lab helpers shared by the check tests: containers on the lab engine, test-only repositories
//! on the lab registries (copied from the fixtures by digest), the CLI run in a sandbox.

#![allow(dead_code)]

pub mod swarm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_lab::{containers, Lab};

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Pulls `image` into the lab engine (see [`tidewatch_lab::containers::pull`]).
pub async fn pull(engine: &Engine, image: &str, credentials: Option<(&str, &str, &str)>) {
    containers::pull(engine.docker(), image, credentials).await;
}

/// Creates and starts a container labelled for the lab's cleanup; returns its id.
pub async fn start_container(engine: &Engine, image: &str, name: &str, labels: &[(&str, &str)]) -> String {
    containers::start_container(engine.docker(), image, name, labels).await
}

pub async fn remove_containers(engine: &Engine, ids: &[String]) {
    for id in ids {
        containers::remove_container(engine.docker(), id).await;
    }
}

pub async fn lab_engine(lab: &Lab) -> Engine {
    tidewatch_core::init_crypto();
    Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine")
}

/// A client for the lab's registries; the crypto provider first, whichever test asks first.
fn http() -> reqwest::Client {
    tidewatch_core::init_crypto();
    reqwest::Client::new()
}

/// A manifest as the registry serves it.
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

pub async fn get_manifest(registry: &str, repository: &str, reference: &str) -> RawManifest {
    let url = format!("http://{registry}/v2/{repository}/manifests/{reference}");
    let response = http()
        .get(&url)
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    let media_type = response.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = response.bytes().await.unwrap().to_vec();
    RawManifest {
        digest: digest_of(&bytes),
        bytes,
        media_type,
    }
}

pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// PUTs manifest bytes under `reference` (a tag or its digest) on an anonymous-push registry.
pub async fn put_manifest(registry: &str, repository: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let url = format!("http://{registry}/v2/{repository}/manifests/{reference}");
    let response = http()
        .put(&url)
        .header("Content-Type", media_type)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    let status = response.status();
    assert!(
        status.is_success(),
        "PUT {url}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// Copies `from_repository:reference` (recursively for an index) into `to_repository`, mounting
/// blobs instead of uploading them, and tags it `to_tag`. Test-only repositories keep the
/// fixtures' own tag lists untouched.
pub async fn copy_image(
    registry: &str,
    from_repository: &str,
    reference: &str,
    to_repository: &str,
    to_tag: Option<&str>,
) {
    copy_image_as(registry, None, from_repository, reference, to_repository, to_tag).await
}

/// [`copy_image`] on a registry that wants `(user, password)` (Basic auth) for every request.
pub async fn copy_image_as(
    registry: &str,
    basic: Option<(&str, &str)>,
    from_repository: &str,
    reference: &str,
    to_repository: &str,
    to_tag: Option<&str>,
) {
    let with_auth = |request: reqwest::RequestBuilder| match basic {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    let url = format!("http://{registry}/v2/{from_repository}/manifests/{reference}");
    let response = with_auth(http().get(&url).header("Accept", MANIFEST_ACCEPT))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    let media_type = response.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = response.bytes().await.unwrap().to_vec();
    let manifest = RawManifest {
        digest: digest_of(&bytes),
        bytes,
        media_type,
    };
    let json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    if let Some(children) = json["manifests"].as_array() {
        for child in children {
            let digest = child["digest"].as_str().unwrap();
            Box::pin(copy_image_as(
                registry,
                basic,
                from_repository,
                digest,
                to_repository,
                None,
            ))
            .await;
        }
    } else {
        let mut blobs: Vec<&str> = vec![json["config"]["digest"].as_str().unwrap()];
        blobs.extend(
            json["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap()),
        );
        for blob in blobs {
            let url =
                format!("http://{registry}/v2/{to_repository}/blobs/uploads/?mount={blob}&from={from_repository}");
            let response = with_auth(http().post(&url)).send().await.unwrap();
            assert_eq!(
                response.status(),
                201,
                "mount {blob}: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    let target = to_tag.unwrap_or(&manifest.digest).to_string();
    let url = format!("http://{registry}/v2/{to_repository}/manifests/{target}");
    let response = with_auth(http().put(&url))
        .header("Content-Type", &manifest.media_type)
        .body(manifest.bytes.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    assert!(response.status().is_success(), "PUT {url}: {}", response.status());
}

/// The sum of a lab registry's `registry_http_requests_total` counters.
pub async fn registry_requests(lab: &Lab, registry: &str) -> u64 {
    let url = lab.metrics_url(registry).expect("metrics URL");
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("registry_http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, value)| value.trim().parse::<f64>().unwrap() as u64)
        .sum()
}

/// A sandbox for running the CLI: its own config file, data dir and Docker config dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(sandbox.docker_config_dir()).unwrap();
        std::fs::create_dir_all(sandbox.data_dir()).unwrap();
        sandbox
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn docker_config_dir(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// A `config.json` with `auths` for one registry.
    pub fn write_docker_auth(&self, registry: &str, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let json = serde_json::json!({ "auths": { registry: { "auth": auth } } });
        std::fs::write(self.docker_config_dir().join("config.json"), json.to_string()).unwrap();
    }

    /// `tidewatch` with the sandbox's environment; the lab's session bus for the keyring.
    pub fn tidewatch(&self, lab: &Lab) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tidewatch"));
        command
            .env("TIDEWATCH_CONFIG", self.config_path())
            .env("TIDEWATCH_DATA_DIR", self.data_dir())
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
            // Podman's files of this machine stay out of the test: the sandbox's (absent unless written).
            .env("REGISTRY_AUTH_FILE", self.containers_auth_path())
            .env("CONTAINERS_REGISTRIES_CONF", self.registries_conf_path())
            .env_remove("DOCKER_HOST")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        command
    }

    pub fn containers_auth_path(&self) -> PathBuf {
        self.dir.path().join("containers-auth.json")
    }

    pub fn registries_conf_path(&self) -> PathBuf {
        self.dir.path().join("registries.conf")
    }

    /// A containers `auth.json` (Podman's) with `auths` for one registry.
    pub fn write_containers_auth(&self, registry: &str, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let json = serde_json::json!({ "auths": { registry: { "auth": auth } } });
        std::fs::write(self.containers_auth_path(), json.to_string()).unwrap();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and parses `--json` output, failing with stderr when it is not JSON.
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): status {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
