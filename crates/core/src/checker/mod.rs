//! The checker: containers (per engine) and `--image` references in, one verdict per container (SPEC §2) out.
//!
//! The pipeline follows STYLE.md's data flow, one plain step per module: [`plan`] turns each
//! container into a subject (reference as created → normalized → mirror resolution → local
//! digest) and groups subjects by (upstream image, tag, platform) so each is asked once;
//! [`verdict`] asks the registries for one group and turns the answers into results. Requests to
//! one registry are bounded by the pool's per-registry limit; groups run concurrently.

mod plan;
mod verdict;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures_util::StreamExt as _;
use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};

use crate::config::Config;
use crate::credentials::ChainProvider;
use crate::engine::{ContainerImage, Engine, EngineError, EngineSpec};
use crate::mirror::{MirrorError, MirrorRule};
use crate::platform::Platform;
use crate::registry::{RegistryPool, RegistrySettings};
use crate::store::{CheckSummary, ContainerResult, ResultError, Status};
use crate::version::{TagFilter, TagFilterError};

/// Plan groups (distinct upstream images) in flight at once; each registry bounds its own share.
const DEFAULT_CONCURRENCY: usize = 16;

/// The checker cannot start: the configuration it was given is unusable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckError {
    #[error("{0}; fix the [[mirrors]] entry in the configuration")]
    Mirror(#[from] MirrorError),
    #[error("{0}; fix [tags] in the configuration")]
    TagFilter(#[from] TagFilterError),
}

impl CheckError {
    /// A stable identifier for the app and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::Mirror(_) => "config_mirror_rule",
            CheckError::TagFilter(_) => "config_tag_filter",
        }
    }
}

/// One engine's containers as listed for a check, or why they could not be.
#[derive(Debug)]
pub struct EngineInventory {
    pub name: String,
    /// The engine's address as configured (`unix:///var/run/docker.sock`, `ssh://…`).
    pub endpoint: String,
    pub containers: Result<Vec<ContainerImage>, EngineError>,
    /// The engine's own `registry-mirrors` (fallback endpoints for Docker Hub images).
    pub registry_mirrors: Vec<String>,
}

impl EngineInventory {
    /// Connects to `host` and lists its containers; a failure is kept, not returned, so one
    /// engine that does not answer never stops the others.
    pub async fn collect(name: &str, host: &str) -> EngineInventory {
        EngineInventory::connect(&EngineSpec::new(name, host)).await
    }

    /// Connects to `spec` (TLS files included) and lists its containers and registry mirrors.
    pub async fn connect(spec: &EngineSpec) -> EngineInventory {
        match Engine::connect_with(spec).await {
            Ok(engine) => EngineInventory::from_engine(&engine).await,
            Err(error) => EngineInventory::failed(&spec.name, &spec.display_host(), error),
        }
    }

    /// The local engine found by discovery (`DOCKER_HOST`, the usual sockets, Podman).
    pub async fn local() -> EngineInventory {
        match Engine::connect_local().await {
            Ok(engine) => EngineInventory::from_engine(&engine).await,
            Err(error) => {
                let endpoint = match &error {
                    EngineError::Unreachable { host, .. } => host.clone(),
                    _ => String::new(),
                };
                EngineInventory::failed("local", &endpoint, error)
            }
        }
    }

    /// Lists the containers and registry mirrors of an engine already connected.
    pub async fn from_engine(engine: &Engine) -> EngineInventory {
        let registry_mirrors = match engine.registry_mirrors().await {
            Ok(mirrors) => mirrors,
            // Mirrors are only fallbacks; the check goes on without them.
            Err(error) => {
                tracing::warn!(engine = engine.name(), %error, "cannot read the engine's registry mirrors");
                Vec::new()
            }
        };
        EngineInventory {
            name: engine.name().to_string(),
            endpoint: engine.spec().display_host(),
            containers: engine.containers().await,
            registry_mirrors,
        }
    }

    /// An engine that could not be used, reported as such in the check.
    pub fn failed(name: &str, endpoint: &str, error: EngineError) -> EngineInventory {
        EngineInventory {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            containers: Err(error),
            registry_mirrors: Vec::new(),
        }
    }
}

/// An image to check without any engine (`tidewatch check --image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    /// The reference as the user wrote it; kept verbatim in the result's `image`.
    pub reference: String,
    pub platform: Platform,
}

/// What to check: engines' containers, then loose images (results come in that order).
#[derive(Debug, Default)]
pub struct CheckRequest {
    pub engines: Vec<EngineInventory>,
    pub images: Vec<ImageTarget>,
}

/// Checked `checked` of `total` containers so far (for a progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub checked: usize,
    pub total: usize,
}

/// Whether an engine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineStatus {
    Ok,
    /// It could not be reached (or its address is unusable).
    Unreachable,
    /// It answered, but listing its containers failed.
    Error,
}

/// SPEC §6's `engines[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineReport {
    pub name: String,
    pub endpoint: String,
    pub status: EngineStatus,
    pub error: Option<ResultError>,
}

/// A finished check. `serde_json` of it is SPEC §6's JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub checked_at: SystemTime,
    pub engines: Vec<EngineReport>,
    pub containers: Vec<ContainerResult>,
    /// Totals; `started_at` equals `checked_at`.
    pub summary: CheckSummary,
}

impl CheckReport {
    pub fn has_updates(&self) -> bool {
        self.summary.updates > 0
    }

    /// Whether no engine answered although some were asked (the CLI's fatal case).
    pub fn no_engine_reachable(&self) -> bool {
        !self.engines.is_empty() && self.engines.iter().all(|e| e.status != EngineStatus::Ok)
    }
}

impl Serialize for CheckReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The store's types carry a per-result `checked_at` and the summary's `started_at`;
        // SPEC §6 has one `checked_at` for the document, so those two are left out here.
        #[derive(Serialize)]
        struct ContainerView<'a> {
            engine: &'a Option<String>,
            id: &'a Option<String>,
            name: &'a Option<String>,
            image: &'a str,
            upstream: &'a str,
            via: &'a Option<String>,
            platform: &'a Option<String>,
            local_digest: &'a Option<String>,
            status: Status,
            update: &'a Option<crate::store::Update>,
            explanation: &'a str,
            error: &'a Option<ResultError>,
        }
        #[derive(Serialize)]
        struct SummaryView {
            containers: u64,
            images: u64,
            updates: u64,
            errors: u64,
            requests: u64,
            duration_ms: u64,
        }
        let containers: Vec<ContainerView<'_>> = self
            .containers
            .iter()
            .map(|r| ContainerView {
                engine: &r.engine,
                id: &r.id,
                name: &r.name,
                image: &r.image,
                upstream: &r.upstream,
                via: &r.via,
                platform: &r.platform,
                local_digest: &r.local_digest,
                status: r.status,
                update: &r.update,
                explanation: &r.explanation,
                error: &r.error,
            })
            .collect();
        let s = &self.summary;
        let summary = SummaryView {
            containers: s.containers,
            images: s.images,
            updates: s.updates,
            errors: s.errors,
            requests: s.requests,
            duration_ms: s.duration_ms,
        };
        let mut state = serializer.serialize_struct("CheckReport", 4)?;
        state.serialize_field(
            "checked_at",
            &humantime::format_rfc3339_millis(self.checked_at).to_string(),
        )?;
        state.serialize_field("engines", &self.engines)?;
        state.serialize_field("containers", &containers)?;
        state.serialize_field("summary", &summary)?;
        state.end()
    }
}

/// Runs checks against a shared registry pool (tokens and pings are reused across checks).
pub struct Checker {
    pool: Arc<RegistryPool>,
    rules: Vec<MirrorRule>,
    tag_filter: TagFilter,
    concurrency: usize,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("rules", &self.rules)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker over `pool`, with the configuration's mirror rules and tag filters.
    pub fn new(pool: Arc<RegistryPool>, config: &Config) -> Result<Checker, CheckError> {
        // Validate the rules now: a typo in the config should fail the check, not each image.
        config.mirror_resolver(&[])?;
        Ok(Checker {
            pool,
            rules: config.mirrors.clone(),
            tag_filter: config.tags.filter()?,
            concurrency: DEFAULT_CONCURRENCY,
        })
    }

    /// A checker with the standard credential chain (OS keyring, Docker config, anonymous) and
    /// the configuration's `[[registries]]` settings.
    pub fn from_config(config: &Config) -> Result<Checker, CheckError> {
        Checker::new(Arc::new(registry_pool(config)), config)
    }

    /// Plan groups run at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn pool(&self) -> &Arc<RegistryPool> {
        &self.pool
    }

    /// Checks everything in `request`. Never fails as a whole: an engine or registry that fails
    /// becomes an engine error or `unknown` verdicts. `progress` is called as containers finish.
    pub async fn check(&self, request: CheckRequest, progress: &(dyn Fn(Progress) + Sync)) -> CheckReport {
        let checked_at = SystemTime::now();
        let started = Instant::now();
        let requests_before = self.pool.request_counts().total();

        let mut engines = Vec::with_capacity(request.engines.len());
        let mut planner = plan::Planner::new(checked_at);
        for inventory in request.engines {
            let resolver = self.mirror_resolver(&inventory.registry_mirrors).unwrap_or_default();
            match inventory.containers {
                Ok(containers) => {
                    engines.push(EngineReport {
                        name: inventory.name.clone(),
                        endpoint: inventory.endpoint.clone(),
                        status: EngineStatus::Ok,
                        error: None,
                    });
                    for container in containers {
                        planner.add_container(&inventory.name, container, &resolver, &self.tag_filter);
                    }
                }
                Err(error) => engines.push(EngineReport {
                    name: inventory.name.clone(),
                    endpoint: inventory.endpoint.clone(),
                    status: match error {
                        EngineError::Request { .. } => EngineStatus::Error,
                        _ => EngineStatus::Unreachable,
                    },
                    error: Some(engine_error(&error)),
                }),
            }
        }
        if !request.images.is_empty() {
            let resolver = self.mirror_resolver(&[]).unwrap_or_default();
            for image in request.images {
                planner.add_image(image, &resolver, &self.tag_filter);
            }
        }

        let plan = planner.finish();
        let total = plan.slots.len();
        let images = plan.groups.len() as u64;
        let mut slots = plan.slots;
        let mut checked = slots.iter().filter(|s| s.is_some()).count();
        progress(Progress { checked, total });

        let tags = verdict::TagCache::default();
        let mut finished = futures_util::stream::iter(plan.groups)
            .map(|group| {
                let tags = &tags;
                async move { verdict::run_group(&self.pool, tags, group, checked_at).await }
            })
            .buffer_unordered(self.concurrency);
        while let Some(results) = finished.next().await {
            for (position, result) in results {
                slots[position] = Some(result);
                checked += 1;
            }
            progress(Progress { checked, total });
        }
        drop(finished);

        let containers: Vec<ContainerResult> = slots.into_iter().flatten().collect();
        let count = |status: Status| containers.iter().filter(|r| r.status == status).count() as u64;
        let summary = CheckSummary {
            started_at: checked_at,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            containers: containers.len() as u64,
            images,
            updates: count(Status::UpdateAvailable),
            errors: count(Status::Unknown),
            requests: self.pool.request_counts().total().saturating_sub(requests_before),
        };
        CheckReport {
            checked_at,
            engines,
            containers,
            summary,
        }
    }

    fn mirror_resolver(&self, engine_mirrors: &[String]) -> Result<crate::mirror::MirrorResolver, MirrorError> {
        crate::mirror::MirrorResolver::new(&self.rules, engine_mirrors)
    }
}

/// The registry pool a check uses: per-registry settings from `[[registries]]` and the standard
/// credential chain.
pub fn registry_pool(config: &Config) -> RegistryPool {
    let mut pool = RegistryPool::new(RegistrySettings::default()).with_provider(Arc::new(ChainProvider::standard()));
    for registry in &config.registries {
        pool = pool.with_registry(&registry.host, registry.settings());
    }
    pool
}

/// An engine failure as `{code, message}`.
pub fn engine_error(error: &EngineError) -> ResultError {
    ResultError {
        code: error.code().to_string(),
        message: error.to_string(),
    }
}

/// Counts results by status (for the CLI's summary line and the app's badge).
pub fn count_by_status(results: &[ContainerResult]) -> HashMap<Status, usize> {
    let mut counts = HashMap::new();
    for result in results {
        *counts.entry(result.status).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Update;
    use crate::version::UpdateKind;

    fn report() -> CheckReport {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        CheckReport {
            checked_at: at,
            engines: vec![EngineReport {
                name: "local".into(),
                endpoint: "unix:///var/run/docker.sock".into(),
                status: EngineStatus::Ok,
                error: None,
            }],
            containers: vec![ContainerResult {
                engine: Some("local".into()),
                id: Some("abc".into()),
                name: Some("web".into()),
                image: "nginx:1.25.3".into(),
                upstream: "docker.io/library/nginx:1.25.3".into(),
                via: Some("docker.io/library/nginx".into()),
                platform: Some("linux/amd64".into()),
                local_digest: Some("sha256:aaa".into()),
                status: Status::UpdateAvailable,
                update: Some(Update {
                    kind: UpdateKind::Patch,
                    tag: Some("1.25.4".into()),
                    digest: None,
                }),
                explanation: "checked docker.io/library/nginx; 1.25.4 is newer (patch)".into(),
                error: None,
                checked_at: at,
            }],
            summary: CheckSummary {
                started_at: at,
                duration_ms: 12,
                containers: 1,
                images: 1,
                updates: 1,
                errors: 0,
                requests: 3,
            },
        }
    }

    #[test]
    fn report_serializes_as_exactly_the_cli_json_document() {
        let json = serde_json::to_value(report()).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&json), ["checked_at", "containers", "engines", "summary"]);
        assert_eq!(keys(&json["engines"][0]), ["endpoint", "error", "name", "status"]);
        assert_eq!(
            keys(&json["containers"][0]),
            [
                "engine",
                "error",
                "explanation",
                "id",
                "image",
                "local_digest",
                "name",
                "platform",
                "status",
                "update",
                "upstream",
                "via"
            ]
        );
        assert_eq!(
            keys(&json["summary"]),
            ["containers", "duration_ms", "errors", "images", "requests", "updates"]
        );
        assert_eq!(json["containers"][0]["update"]["kind"], "patch");
        assert_eq!(json["containers"][0]["status"], "update_available");
        assert_eq!(json["engines"][0]["status"], "ok");
        assert!(json["checked_at"].as_str().unwrap().ends_with(".123Z"));
    }

    #[test]
    fn no_engine_reachable_only_when_engines_were_asked_and_none_answered() {
        let mut report = report();
        assert!(!report.no_engine_reachable());
        report.engines[0].status = EngineStatus::Unreachable;
        assert!(report.no_engine_reachable());
        report.engines.clear();
        assert!(!report.no_engine_reachable(), "--image checks use no engine");
    }

    /// The app runs checks on a spawned task, which needs a `Send` future.
    #[test]
    fn a_check_can_run_on_a_spawned_task() {
        fn assert_send<T: Send>(_: &T) {}
        let checker = Checker::new(Arc::new(RegistryPool::default()), &Config::default()).unwrap();
        let progress = |_: Progress| {};
        let future = checker.check(CheckRequest::default(), &progress);
        assert_send(&future);
    }

    #[tokio::test]
    async fn an_empty_check_reports_nothing_and_makes_no_request() {
        let checker = Checker::new(Arc::new(RegistryPool::default()), &Config::default()).unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let report = checker
            .check(CheckRequest::default(), &|p| seen.lock().unwrap().push(p))
            .await;
        assert!(report.containers.is_empty() && report.engines.is_empty());
        assert_eq!(report.summary.requests, 0);
        assert_eq!(*seen.lock().unwrap(), [Progress { checked: 0, total: 0 }]);
    }
}
