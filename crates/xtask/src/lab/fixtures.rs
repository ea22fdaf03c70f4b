//! Fixture images, built here without any network: a busybox-static rootfs as the base layer and
//! a one-file layer naming the repository and tag (so every tag has its own digest), pushed
//! straight to the lab registries through the distribution API. Bytes are deterministic: the
//! same fixtures get the same digests on every machine.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::registries::{PushAuth, Registries, Registry, TOKEN_SERVICE};
use tidewatch_lab::{
    FIXTURE_CRASHES, FIXTURE_LOCAL_ONLY, FIXTURE_MULTI_ARCH, FIXTURE_PLAIN, FIXTURE_SERVICE, FIXTURE_SICKENS,
    FIXTURE_TAGS, UPDATE_FIXTURES,
};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(super) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(super) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(super) const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A fixed timestamp keeps the tars (and so the digests) identical run after run.
const EPOCH: u64 = 1_700_000_000;

pub(super) struct Layer {
    tar: Vec<u8>,
    pub gz: Vec<u8>,
}

impl Layer {
    pub fn new(tar: Vec<u8>) -> Result<Layer> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&tar)?;
        Ok(Layer {
            gz: encoder.finish()?,
            tar,
        })
    }
    pub fn diff_id(&self) -> String {
        sha256(&self.tar)
    }
}

pub(super) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub(super) fn base_rootfs_tar() -> Result<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox").context("read /bin/busybox (package busybox-static)")?;
    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["bin", "etc", "tmp"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(EPOCH);
        header.set_size(0);
        builder.append_data(&mut header, dir, std::io::empty())?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_mtime(EPOCH);
    header.set_size(busybox.len() as u64);
    builder.append_data(&mut header, "bin/busybox", busybox.as_slice())?;
    for applet in ["sh", "sleep", "cat", "ls", "true"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_mtime(EPOCH);
        header.set_size(0);
        builder.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    Ok(builder.into_inner()?)
}

fn marker_tar(text: &str) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_mtime(EPOCH);
    header.set_size(text.len() as u64);
    builder.append_data(&mut header, "etc/tidewatch-fixture", text.as_bytes())?;
    Ok(builder.into_inner()?)
}

/// Pushes every fixture to the open, htpasswd and token registries.
pub fn push_all(registries: &Registries) -> Result<()> {
    let base = Layer::new(base_rootfs_tar()?)?;
    let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
    for registry in registries.pushable() {
        let pusher = Pusher {
            client: &client,
            registry,
        };
        for (repository, tags) in FIXTURE_TAGS {
            for tag in *tags {
                let marker = format!("{repository}:{tag}");
                let config = check_config(&marker);
                let image = pusher.push_image(repository, &base, &marker, ("amd64", None), false, config)?;
                pusher.put_manifest(repository, tag, DOCKER_MANIFEST, &image)?;
            }
        }
        let (repository, tag) = FIXTURE_MULTI_ARCH;
        let mut entries = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let marker = format!("{repository}:{tag}");
            let config = check_config(&marker);
            let manifest = pusher.push_image(repository, &base, &marker, (arch, variant), true, config)?;
            let digest = sha256(&manifest);
            pusher.put_manifest(repository, &digest, OCI_MANIFEST, &manifest)?;
            let mut platform = json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            entries.push(
                json!({"mediaType": OCI_MANIFEST, "size": manifest.len(), "digest": digest, "platform": platform}),
            );
        }
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))?;
        pusher.put_manifest(repository, tag, OCI_INDEX, &index)?;
    }
    for registry in [&registries.open, &registries.basic] {
        let pusher = Pusher {
            client: &client,
            registry,
        };
        for (repository, tags) in UPDATE_FIXTURES {
            for tag in *tags {
                let marker = format!("{repository}:{tag}");
                let config = update_config(repository, tag)?;
                let image = pusher.push_image(repository, &base, &marker, ("amd64", None), false, config)?;
                pusher.put_manifest(repository, tag, DOCKER_MANIFEST, &image)?;
            }
        }
    }
    Ok(())
}

/// The image configuration of the check fixtures: `sleep 3600` and two labels.
fn check_config(marker: &str) -> Value {
    json!({
        "Cmd": ["sleep", "3600"],
        "Labels": {
            "org.opencontainers.image.source": "https://github.com/tidewatch/fixtures",
            "org.opencontainers.image.version": marker.rsplit(':').next().unwrap_or_default(),
        }
    })
}

/// A process that stops within a second of SIGTERM (a shell trap; `sleep` as PID 1 would ignore
/// it and make every stop wait for the engine's timeout), after writing `/tmp/healthy`.
const RUNS_UNTIL_STOPPED: &str = "trap 'exit 0' TERM; echo ok > /tmp/healthy; while :; do sleep 1; done";

/// The image configuration of an update fixture (what each one does is in tidewatch_lab's
/// `UPDATE_FIXTURES`): the older tag is the "first generation", the newer one the second.
fn update_config(repository: &str, tag: &str) -> Result<Value> {
    let (_, tags) = UPDATE_FIXTURES
        .iter()
        .find(|(r, _)| *r == repository)
        .context("not an update fixture")?;
    let newer = tags.last() == Some(&tag);
    let short = repository.rsplit('/').next().unwrap_or(repository);
    let version_key = format!("{}_VERSION", short.to_ascii_uppercase());
    let path = if newer {
        format!("/opt/{short}/bin:/usr/local/bin:/usr/bin:/bin")
    } else {
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
    };
    let mut env = vec![format!("PATH={path}"), format!("{version_key}={tag}")];
    let mut exposed = json!({"8080/tcp": {}});
    let mut workdir = "/";
    if repository == FIXTURE_SERVICE {
        if newer {
            exposed["9090/tcp"] = json!({});
            workdir = "/srv";
        } else {
            env.push("SERVICE_MODE=classic".to_string());
        }
    }
    let generation = if newer { "two" } else { "one" };
    let mut cmd = json!(["sh", "-c", RUNS_UNTIL_STOPPED]);
    // One second between probes keeps the tests' health waits short.
    let probe = |test: &str| json!({"Test": ["CMD-SHELL", test], "Interval": 1_000_000_000u64, "Timeout": 2_000_000_000u64, "Retries": 2});
    let mut healthcheck = Value::Null;
    match repository {
        FIXTURE_SERVICE => healthcheck = probe("test -f /tmp/healthy"),
        FIXTURE_SICKENS if newer => healthcheck = probe("test -f /tmp/never-there"),
        FIXTURE_SICKENS => healthcheck = probe("test -f /tmp/healthy"),
        FIXTURE_CRASHES if newer => {
            cmd = json!(["sh", "-c", format!("echo 'fatal: {short} {tag} cannot start'; exit 3")])
        }
        FIXTURE_PLAIN | FIXTURE_CRASHES => {}
        _ => bail!("no configuration for the update fixture {repository}"),
    }
    let mut config = json!({
        "Env": env,
        "Cmd": cmd,
        "WorkingDir": workdir,
        "Volumes": {"/data": {}},
        "ExposedPorts": exposed,
        "Labels": {
            "org.opencontainers.image.source": "https://github.com/tidewatch/fixtures",
            "org.opencontainers.image.version": tag,
            "fixture.generation": generation,
        }
    });
    if !healthcheck.is_null() {
        config["Healthcheck"] = healthcheck;
    }
    Ok(config)
}

/// Imports the base rootfs into the engine under a name that is never pushed (no RepoDigests).
pub fn import_local_only(engine_host: &str) -> Result<()> {
    let tar = base_rootfs_tar()?;
    let mut child = Command::new("docker")
        .args([
            "-H",
            engine_host,
            "import",
            "--change",
            "CMD [\"sleep\", \"3600\"]",
            "-",
            FIXTURE_LOCAL_ONLY,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("run `docker import` (package docker.io)")?;
    child.stdin.take().expect("piped stdin").write_all(&tar)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "docker import of {FIXTURE_LOCAL_ONLY} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub(super) struct Pusher<'a> {
    pub client: &'a Client,
    pub registry: &'a Registry,
}

impl Pusher<'_> {
    /// Uploads an image's blobs and returns its manifest's bytes (not yet put under a tag).
    fn push_image(
        &self,
        repo: &str,
        base: &Layer,
        marker: &str,
        (arch, variant): (&str, Option<&str>),
        oci: bool,
        image_config: Value,
    ) -> Result<Vec<u8>> {
        let top = Layer::new(marker_tar(&format!("{marker} {arch}\n"))?)?;
        let mut config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": image_config,
            "rootfs": {"type": "layers", "diff_ids": [base.diff_id(), top.diff_id()]},
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = serde_json::to_vec(&config)?;
        let (manifest_type, config_type, layer_type) = if oci {
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        } else {
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        };
        let mut layers = Vec::new();
        for layer in [base, &top] {
            let digest = self.push_blob(repo, &layer.gz)?;
            layers.push(json!({"mediaType": layer_type, "size": layer.gz.len(), "digest": digest}));
        }
        let config_digest = self.push_blob(repo, &config)?;
        Ok(serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "size": config.len(), "digest": config_digest},
            "layers": layers,
        }))?)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/v2/{path}", self.registry.addr)
    }

    fn authorization(&self, repo: &str) -> Result<Option<String>> {
        self.authorization_for(&[format!("repository:{repo}:pull,push")])
    }

    /// The Authorization header for requests needing `scopes` (one token for all of them).
    pub fn authorization_for(&self, scopes: &[String]) -> Result<Option<String>> {
        Ok(match &self.registry.auth {
            PushAuth::Anonymous => None,
            PushAuth::Basic { user, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))))
            }
            PushAuth::Bearer { user, password } => {
                // The registry names its realm in the challenge; read it rather than assume it.
                let challenge = self.client.get(self.url("")).send()?;
                let header = challenge
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .context("the token registry sent no challenge")?
                    .to_string();
                let realm = header
                    .split("realm=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .context("no realm")?;
                let mut query = vec![("service", TOKEN_SERVICE)];
                query.extend(scopes.iter().map(|scope| ("scope", scope.as_str())));
                let response: Value = self
                    .client
                    .get(realm)
                    .query(&query)
                    .basic_auth(user, Some(password))
                    .send()?
                    .error_for_status()?
                    .json()?;
                let token = response["token"]
                    .as_str()
                    .context("the token server answered without a token")?;
                Some(format!("Bearer {token}"))
            }
        })
    }

    fn with_auth(
        &self,
        request: reqwest::blocking::RequestBuilder,
        auth: &Option<String>,
    ) -> reqwest::blocking::RequestBuilder {
        match auth {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// Makes a blob of `from` part of `repo` without uploading it again.
    pub fn mount_blob(&self, auth: &Option<String>, repo: &str, from: &str, digest: &str) -> Result<()> {
        let url = self.url(&format!("{repo}/blobs/uploads/?mount={digest}&from={from}"));
        let response = self.with_auth(self.client.post(url), auth).send()?;
        if response.status().as_u16() != 201 {
            bail!(
                "{}: mounting {digest} from {from} into {repo} answered {}",
                self.registry.name,
                response.status()
            );
        }
        Ok(())
    }

    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256(bytes);
        let auth = self.authorization(repo)?;
        let head = self
            .with_auth(self.client.head(self.url(&format!("{repo}/blobs/{digest}"))), &auth)
            .send()?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let start = self
            .with_auth(self.client.post(self.url(&format!("{repo}/blobs/uploads/"))), &auth)
            .send()?;
        if start.status().as_u16() != 202 {
            bail!(
                "{}: starting a blob upload to {repo} answered {}",
                self.registry.name,
                start.status()
            );
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("upload without Location")?;
        let location = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("http://{}{location}", self.registry.addr)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = self
            .with_auth(self.client.put(format!("{location}{separator}digest={digest}")), &auth)
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()?;
        if put.status().as_u16() != 201 {
            bail!(
                "{}: uploading blob {digest} to {repo} answered {}",
                self.registry.name,
                put.status()
            );
        }
        Ok(digest)
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<()> {
        let auth = self.authorization(repo)?;
        self.put_manifest_as(&auth, repo, reference, media_type, bytes)
    }

    pub fn put_manifest_as(
        &self,
        auth: &Option<String>,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let response = self
            .with_auth(
                self.client.put(self.url(&format!("{repo}/manifests/{reference}"))),
                auth,
            )
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()?;
        if response.status().as_u16() != 201 {
            let status = response.status();
            bail!(
                "{}: putting manifest {repo}:{reference} answered {status}: {}",
                self.registry.name,
                response.text().unwrap_or_default()
            );
        }
        Ok(())
    }
}
