//! Which engines to use, decided once for the CLI, the app's checks and its engine watching: the
//! engines named on the command line, else the configured ones, else the local one.

use serde::Serialize;

use super::{local_candidates, Engine, EngineError, EngineSpec, LOCAL_NAME};
use crate::config::{Config, EngineConfig};
use crate::error::ErrorInfo;

/// An engine to check or follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTarget {
    /// Given with `--engine`, or configured in `[[engines]]`.
    Spec(EngineSpec),
    /// The local engine, found by discovery (`DOCKER_HOST`, the current context, the usual sockets, Podman).
    Local,
}

/// What an engine said when it was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    pub name: String,
    /// Its address, passwords redacted.
    pub endpoint: String,
    /// The API version agreed with it, e.g. "1.41".
    pub api_version: String,
}

/// Whether an engine answered when it was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    Ok,
    Unreachable,
}

/// One engine tried (`tidewatch engines`): the `engines[]` entry of a check's document, plus the
/// API version agreed with it (docs/cli.md#tidewatch-engines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineProbe {
    pub name: String,
    /// Its address, passwords redacted.
    pub endpoint: String,
    pub status: ProbeStatus,
    /// Set when it answered.
    pub api_version: Option<String>,
    /// Set when it did not.
    pub error: Option<ErrorInfo>,
}

/// Tries every engine, concurrently; the answers come back in the order given.
pub async fn probe_engines(targets: &[EngineTarget]) -> Vec<EngineProbe> {
    futures_util::future::join_all(targets.iter().map(|target| async move {
        match target.test().await {
            Ok(info) => EngineProbe {
                name: info.name,
                endpoint: info.endpoint,
                status: ProbeStatus::Ok,
                api_version: Some(info.api_version),
                error: None,
            },
            Err(error) => EngineProbe {
                name: target.name().to_string(),
                endpoint: target.display_host(),
                status: ProbeStatus::Unreachable,
                api_version: None,
                error: Some(ErrorInfo::of(&error)),
            },
        }
    }))
    .await
}

/// The engines to use: each `--engine` URL (with the name and TLS files of a configured engine of
/// that host, else named after the URL), else every `[[engines]]` entry, else the local engine.
pub fn engines_to_watch(config: &Config, urls: &[String]) -> Vec<EngineTarget> {
    if !urls.is_empty() {
        return urls
            .iter()
            .map(|url| {
                let spec = config
                    .engines
                    .iter()
                    .find(|e| &e.host == url)
                    .map_or_else(|| EngineSpec::new(url.clone(), url.clone()), EngineSpec::from);
                EngineTarget::Spec(spec)
            })
            .collect();
    }
    if !config.engines.is_empty() {
        return config
            .engines
            .iter()
            .map(|e| EngineTarget::Spec(EngineSpec::from(e)))
            .collect();
    }
    vec![EngineTarget::Local]
}

/// Tries an engine as the settings form describes it (TLS files included), the way a check
/// would connect to it.
pub async fn test_engine(config: &EngineConfig) -> Result<EngineInfo, EngineError> {
    EngineTarget::Spec(EngineSpec::from(config)).test().await
}

impl EngineTarget {
    pub fn name(&self) -> &str {
        match self {
            EngineTarget::Spec(spec) => &spec.name,
            EngineTarget::Local => LOCAL_NAME,
        }
    }

    /// Its address for messages; "local discovery" before discovery ran.
    pub fn display_host(&self) -> String {
        match self {
            EngineTarget::Spec(spec) => spec.display_host(),
            EngineTarget::Local => "local discovery".to_string(),
        }
    }

    pub async fn connect(&self) -> Result<Engine, EngineError> {
        match self {
            EngineTarget::Spec(spec) => Engine::connect_with(spec).await,
            EngineTarget::Local => Engine::connect_local().await,
        }
    }

    /// Connects and says what answered.
    pub async fn test(&self) -> Result<EngineInfo, EngineError> {
        let engine = self.connect().await?;
        Ok(EngineInfo {
            name: engine.name().to_string(),
            endpoint: engine.spec().display_host(),
            api_version: engine.api_version(),
        })
    }

    /// The address to follow events at. Local discovery picks the first candidate whose socket
    /// exists: the watcher reconnects by itself, so the engine need not answer yet.
    pub fn watch_spec(&self) -> Option<EngineSpec> {
        match self {
            EngineTarget::Spec(spec) => Some(spec.clone()),
            EngineTarget::Local => local_candidates().into_iter().find(|spec| {
                spec.host
                    .strip_prefix("unix://")
                    .is_none_or(|path| std::path::Path::new(path).exists())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;

    fn engine(name: &str, host: &str) -> EngineConfig {
        EngineConfig {
            name: name.into(),
            host: host.into(),
            tls_ca: Some("/tls/ca.pem".into()),
            tls_cert: Some("/tls/cert.pem".into()),
            tls_key: Some("/tls/key.pem".into()),
        }
    }

    #[test]
    fn urls_given_win_then_configured_engines_then_the_local_one() {
        let mut config = Config::default();
        assert_eq!(engines_to_watch(&config, &[]), [EngineTarget::Local]);

        config.engines = vec![engine("prod", "https://prod:2376")];
        let configured = engines_to_watch(&config, &[]);
        assert_eq!(configured.len(), 1);
        assert_eq!(configured[0].name(), "prod");

        let given = engines_to_watch(&config, &["https://prod:2376".into(), "tcp://other:2375".into()]);
        let EngineTarget::Spec(known) = &given[0] else {
            panic!("a spec")
        };
        assert_eq!(known.name, "prod", "a URL of a configured engine keeps its name");
        assert!(known.tls_key.is_some(), "and its TLS files");
        assert_eq!(given[1].name(), "tcp://other:2375");
    }

    /// The settings form's Test button must try the engine with the TLS files it was given: a
    /// missing client key is named, where an engine built without TLS files would fail otherwise.
    #[tokio::test]
    async fn an_engine_test_uses_the_tls_files_of_the_form() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), "pem").expect("ca");
        std::fs::write(dir.path().join("cert.pem"), "pem").expect("cert");
        let key = dir.path().join("key.pem");
        let config = EngineConfig {
            name: "remote".into(),
            host: "https://127.0.0.1:1".into(),
            tls_ca: Some(dir.path().join("ca.pem")),
            tls_cert: Some(dir.path().join("cert.pem")),
            tls_key: Some(key.clone()),
        };
        let message = test_engine(&config).await.unwrap_err().to_string();
        assert!(
            message.contains(&key.display().to_string()) && message.contains("tls_key"),
            "{message}"
        );
    }
}
