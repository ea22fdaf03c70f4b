//! The checker: containers and Swarm services (per engine) and `--image` references in, one
//! verdict per container or service out (docs/check.md).
//!
//! The pipeline is one plain step per module: [`request`] lists what to check, [`plan`] turns each
//! container into a subject (reference as created → normalized → mirror resolution → local digest
//! → label policy) and groups subjects by (upstream image, tag, platform) so each is asked once;
//! [`verdict`] asks the registries for one group and turns the answers into [`result`]s, which a
//! [`report`] gathers. Groups run concurrently; requests to one registry are paced by its
//! client's limiter.

mod plan;
pub mod report;
pub mod request;
pub mod result;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::config::{Config, Deadlines};
use crate::credentials::{ChainProvider, CredentialProvider};
use crate::engine::EngineError;
use crate::error::{Coded, ErrorInfo};
use crate::mirror::{MirrorError, MirrorResolver, MirrorRule};
use crate::registries_conf::ContainersMirrors;
use crate::registry::RegistryPool;
use crate::version::{TagFilter, TagFilterError};

pub use report::{CheckReport, CheckSummary, EngineReport, EngineStatus};
pub use request::{inventory, CheckRequest, EngineInventory, ImageTarget};
pub use result::{short_digest, CheckFailure, ContainerResult, DeadlineScope, Kind, Status, Update, Via};

/// The checker cannot start: the configuration it was given is unusable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckError {
    #[error("{0}; fix the [[mirrors]] entry in the configuration")]
    Mirror(#[from] MirrorError),
    #[error("{0}; fix [tags] in the configuration")]
    TagFilter(#[from] TagFilterError),
}

impl Coded for CheckError {
    fn code(&self) -> &'static str {
        match self {
            CheckError::Mirror(_) => "config_mirror_rule",
            CheckError::TagFilter(_) => "config_tag_filter",
        }
    }
}

/// Checked `checked` of `total` containers so far (for a progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub checked: usize,
    pub total: usize,
}

/// Runs checks against a shared registry pool (tokens and pings are reused across checks).
pub struct Checker {
    pool: Arc<RegistryPool>,
    rules: Vec<MirrorRule>,
    /// Mirrors of the containers `registries.conf`, read when the checker is built.
    containers: ContainersMirrors,
    tag_filter: TagFilter,
    deadlines: Deadlines,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker over `pool`, with the configuration's mirror rules and tag filters.
    fn new(pool: Arc<RegistryPool>, config: &Config) -> Result<Checker, CheckError> {
        // Validate the rules now: a typo in the config should fail the check, not each image.
        config.mirror_resolver(&[])?;
        Ok(Checker {
            pool,
            rules: config.mirrors.clone(),
            containers: ContainersMirrors::default(),
            tag_filter: config.tags.filter()?,
            deadlines: config.deadlines,
        })
    }

    /// A checker with the standard credential chain (OS keyring, Docker config, Podman's auth
    /// file, anonymous), the configuration's `[[registries]]` settings and mirror rules, and the
    /// mirrors of the containers `registries.conf`.
    pub fn from_config(config: &Config) -> Result<Checker, CheckError> {
        Checker::with_credentials(config, Arc::new(ChainProvider::standard()))
    }

    /// A checker that takes registry credentials from `credentials` instead of the standard chain.
    pub fn with_credentials(config: &Config, credentials: Arc<dyn CredentialProvider>) -> Result<Checker, CheckError> {
        let mut checker = Checker::new(Arc::new(registry_pool(config, credentials)), config)?;
        checker.containers = ContainersMirrors::load();
        Ok(checker)
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
                    // Services that cannot be listed leave the engine's containers checked, and say so.
                    engines.push(EngineReport {
                        name: inventory.name.clone(),
                        endpoint: inventory.endpoint.clone(),
                        status: match inventory.workloads_error {
                            Some(_) => EngineStatus::Partial,
                            None => EngineStatus::Ok,
                        },
                        error: inventory.workloads_error.as_ref().map(ErrorInfo::of),
                    });
                    for container in containers {
                        planner.add_container(&inventory.name, container, &resolver, &self.tag_filter);
                    }
                    for workload in inventory.workloads {
                        planner.add_workload(&inventory.name, workload, &resolver, &self.tag_filter);
                    }
                }
                Err(error) => engines.push(EngineReport {
                    name: inventory.name.clone(),
                    endpoint: inventory.endpoint.clone(),
                    status: match error {
                        EngineError::Request { .. } | EngineError::NotFound { .. } => EngineStatus::Error,
                        _ => EngineStatus::Unreachable,
                    },
                    error: Some(ErrorInfo::of(&error)),
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

        // Deadlines (docs/reliability.md#deadlines): an image that takes longer than its own, or
        // is still waiting when the whole check's runs out, is `unknown` saying so; every other
        // image keeps its verdict.
        let Deadlines { image, check, .. } = self.deadlines;
        let check_deadline = tokio::time::Instant::now() + check;
        let mut unfinished: Vec<Option<ContainerResult>> = vec![None; total];
        let out_of_time = CheckFailure::Deadline {
            scope: DeadlineScope::Check,
            after: check,
        };
        for group in &plan.groups {
            for (position, result) in verdict::failed_results(group, &out_of_time, checked_at) {
                unfinished[position] = Some(result);
            }
        }
        let cache = verdict::CheckCache::default();
        let asking = verdict::Asking {
            resolve_digests: request.resolve_digests,
        };
        // Every group at once: a group waiting for an answer costs a few bytes, and each
        // registry's limiter decides how many requests are really in flight.
        let groups = plan.groups.len().max(1);
        let mut finished = futures_util::stream::iter(plan.groups)
            .map(|group| {
                let cache = &cache;
                async move { run_group_within(&self.pool, cache, &group, asking, checked_at, image).await }
            })
            .buffer_unordered(groups);
        while let Ok(Some(results)) = tokio::time::timeout_at(check_deadline, finished.next()).await {
            for (position, result) in results {
                slots[position] = Some(result);
                checked += 1;
            }
            progress(Progress { checked, total });
        }
        drop(finished);
        let mut late = 0;
        for (slot, fallback) in slots.iter_mut().zip(unfinished) {
            if slot.is_none() {
                *slot = fallback;
                late += 1;
            }
        }
        if late > 0 {
            tracing::warn!(late, ?check, "check deadline passed");
            checked += late;
            progress(Progress { checked, total });
        }

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

    /// The registry clients checks use (credentials, tokens), for asking a registry outside a check.
    pub fn pool(&self) -> &RegistryPool {
        &self.pool
    }

    fn mirror_resolver(&self, engine_mirrors: &[String]) -> Result<MirrorResolver, MirrorError> {
        Ok(MirrorResolver::new(&self.rules, engine_mirrors)?.with_containers(&self.containers))
    }
}

/// One group under the image deadline: past it, its subjects are `unknown` naming the deadline.
async fn run_group_within(
    pool: &RegistryPool,
    cache: &verdict::CheckCache,
    group: &plan::Group,
    asking: verdict::Asking,
    checked_at: SystemTime,
    deadline: Duration,
) -> Vec<(usize, ContainerResult)> {
    match tokio::time::timeout(deadline, verdict::run_group(pool, cache, group, asking, checked_at)).await {
        Ok(results) => results,
        Err(_) => {
            tracing::warn!(image = %group.upstream, ?deadline, "image deadline passed");
            let failure = CheckFailure::Deadline {
                scope: DeadlineScope::Image,
                after: deadline,
            };
            verdict::failed_results(group, &failure, checked_at)
        }
    }
}

/// The registry pool a check uses: per-registry settings from `[[registries]]`, the request
/// deadline from `[deadlines]`, and where credentials come from.
fn registry_pool(config: &Config, credentials: Arc<dyn CredentialProvider>) -> RegistryPool {
    let defaults = config.default_registry_settings();
    let mut pool = RegistryPool::new(defaults.clone()).with_provider(credentials);
    for registry in &config.registries {
        pool = pool.with_registry(&registry.host, registry.settings(&defaults));
    }
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

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
