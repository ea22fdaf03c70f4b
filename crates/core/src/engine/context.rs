//! Docker contexts: the engines `docker context create` registered, read from the Docker config
//! dir's `contexts/meta/<id>/meta.json` and `contexts/tls/<id>/docker/*.pem` (bollard has no
//! context support).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::host::{EngineOrigin, EngineSpec};

/// `meta.json` as the docker CLI writes it; only what an engine needs is read.
#[derive(Debug, Deserialize)]
struct ContextMeta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints", default)]
    endpoints: HashMap<String, EndpointMeta>,
}

#[derive(Debug, Deserialize)]
struct EndpointMeta {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The Docker config dir: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => dirs::home_dir().map(|home| home.join(".docker")),
    }
}

/// Every context under `docker_config_dir` with a Docker endpoint, sorted by name, with the TLS
/// files the context stored. A context that cannot be read is logged and skipped: one broken
/// context must not hide the others. The implicit `default` context is not on disk and is not
/// listed (local discovery covers it).
pub fn discover_contexts(docker_config_dir: &Path) -> Vec<EngineSpec> {
    let meta_dir = docker_config_dir.join("contexts").join("meta");
    let Ok(entries) = std::fs::read_dir(&meta_dir) else {
        return Vec::new();
    };
    let mut specs: Vec<EngineSpec> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let id = entry.file_name().to_string_lossy().into_owned();
            let file = entry.path().join("meta.json");
            let text = std::fs::read_to_string(&file).ok()?;
            context_from_meta(&text, &id, docker_config_dir).unwrap_or_else(|e| {
                tracing::warn!(file = %file.display(), "skipping a Docker context whose meta.json is invalid: {e}");
                None
            })
        })
        .collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    specs
}

/// The engine a context's `meta.json` text names (`None` without a Docker endpoint), with the TLS
/// files stored under `id`.
pub(crate) fn context_from_meta(
    text: &str,
    id: &str,
    docker_config_dir: &Path,
) -> Result<Option<EngineSpec>, serde_json::Error> {
    let meta: ContextMeta = serde_json::from_str(text)?;
    let Some(endpoint) = meta.endpoints.get("docker") else {
        return Ok(None);
    };
    let Some(host) = endpoint.host.clone().filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    if endpoint.skip_tls_verify {
        // bollard always verifies the engine's certificate; say so rather than fail later unexplained.
        tracing::warn!(context = %meta.name, "Docker context asks to skip TLS verification; Tidewatch verifies anyway");
    }
    let tls_dir = docker_config_dir.join("contexts").join("tls").join(id).join("docker");
    let existing = |file: &str| Some(tls_dir.join(file)).filter(|p| p.is_file());
    Ok(Some(EngineSpec {
        name: meta.name,
        host,
        tls_ca: existing("ca.pem"),
        tls_cert: existing("cert.pem"),
        tls_key: existing("key.pem"),
        origin: EngineOrigin::DockerContext,
    }))
}

/// The context the docker CLI would use (`DOCKER_CONTEXT`, else `currentContext` in
/// `config.json`), unless it is the implicit `default` one.
pub fn current_context(docker_config_dir: &Path) -> Option<EngineSpec> {
    current_context_in(docker_config_dir, std::env::var("DOCKER_CONTEXT").ok().as_deref())
}

fn current_context_in(docker_config_dir: &Path, from_env: Option<&str>) -> Option<EngineSpec> {
    #[derive(Deserialize)]
    struct DockerConfig {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let name = match from_env.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_string(),
        None => {
            let text = std::fs::read_to_string(docker_config_dir.join("config.json")).ok()?;
            // A config.json the CLI cannot read either is not ours to report; no context then.
            serde_json::from_str::<DockerConfig>(&text).ok()?.current_context?
        }
    };
    if name == "default" {
        return None;
    }
    discover_contexts(docker_config_dir)
        .into_iter()
        .find(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;

    use super::*;

    /// Writes a context the way `docker context create` lays it out (id = sha256 of the name).
    fn write_context(config_dir: &Path, name: &str, meta: &str, tls: &[&str]) -> String {
        let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        let meta_dir = config_dir.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta_dir).expect("meta dir");
        std::fs::write(meta_dir.join("meta.json"), meta).expect("meta.json");
        if !tls.is_empty() {
            let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&tls_dir).expect("tls dir");
            for file in tls {
                std::fs::write(tls_dir.join(file), "pem").expect("pem");
            }
        }
        id
    }

    #[test]
    fn contexts_are_discovered_with_their_tls_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path();
        let tls_id = write_context(
            config,
            "prod",
            r#"{"Name":"prod","Metadata":{"Description":"prod box"},
               "Endpoints":{"docker":{"Host":"tcp://prod.lan:2376","SkipTLSVerify":false}}}"#,
            &["ca.pem", "cert.pem", "key.pem"],
        );
        write_context(
            config,
            "builder",
            r#"{"Name":"builder","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://alice@build.lan"}}}"#,
            &[],
        );
        // Not engines: no docker endpoint, an empty host, broken JSON, a stray file.
        write_context(
            config,
            "k8s",
            r#"{"Name":"k8s","Endpoints":{"kubernetes":{"Host":"https://k"}}}"#,
            &[],
        );
        write_context(
            config,
            "empty",
            r#"{"Name":"empty","Endpoints":{"docker":{"Host":""}}}"#,
            &[],
        );
        write_context(config, "broken", r#"{"Name": "#, &[]);
        std::fs::write(config.join("contexts/meta/README"), "not a context").expect("stray file");

        let specs = discover_contexts(config);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["builder", "prod"]);

        let builder = &specs[0];
        assert_eq!(builder.host, "ssh://alice@build.lan");
        assert_eq!(
            (&builder.tls_ca, &builder.tls_cert, &builder.tls_key),
            (&None, &None, &None)
        );
        assert_eq!(builder.origin, EngineOrigin::DockerContext);

        let prod = &specs[1];
        let tls_dir = config.join("contexts/tls").join(tls_id).join("docker");
        assert_eq!(prod.host, "tcp://prod.lan:2376");
        assert_eq!(prod.tls_ca.as_deref(), Some(tls_dir.join("ca.pem").as_path()));
        assert_eq!(prod.tls_cert.as_deref(), Some(tls_dir.join("cert.pem").as_path()));
        assert_eq!(prod.tls_key.as_deref(), Some(tls_dir.join("key.pem").as_path()));
    }

    #[test]
    fn the_current_context_comes_from_the_environment_then_config_json() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path();
        let meta =
            |name: &str, host: &str| format!(r#"{{"Name":"{name}","Endpoints":{{"docker":{{"Host":"{host}"}}}}}}"#);
        write_context(
            config,
            "desktop-linux",
            &meta("desktop-linux", "unix:///home/a/.docker/desktop/docker.sock"),
            &[],
        );
        write_context(config, "prod", &meta("prod", "ssh://alice@prod.lan"), &[]);
        assert_eq!(
            current_context_in(config, None),
            None,
            "no config.json: the default context"
        );

        std::fs::write(
            config.join("config.json"),
            r#"{"auths":{},"currentContext":"desktop-linux"}"#,
        )
        .expect("config");
        let current = current_context_in(config, None).expect("a current context");
        assert_eq!(current.host, "unix:///home/a/.docker/desktop/docker.sock");
        assert_eq!(
            current_context_in(config, Some("prod")).map(|s| s.host).as_deref(),
            Some("ssh://alice@prod.lan")
        );
        assert_eq!(current_context_in(config, Some("default")), None);
        assert_eq!(current_context_in(config, Some("missing")), None);
    }

    #[test]
    fn a_config_dir_without_contexts_has_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(discover_contexts(dir.path()).is_empty());
        assert!(discover_contexts(&dir.path().join("missing")).is_empty());
    }
}
