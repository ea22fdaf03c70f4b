//! The monitor: the background service behind the desktop app. Scheduled checks (interval plus
//! jitter), "check now", pausing, backing off while offline instead of failing on every tick, and
//! deciding which updates are new enough to notify (remembered in the store across restarts).
//! It knows nothing of Tauri: the shell turns its events into a tray icon, notifications and UI
//! events.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;

use crate::checker::{CheckReport, CheckRequest, Checker, EngineInventory, Progress};
use crate::config::{Config, ConfigStore};
use crate::engine::{watch, Backoff, EngineEvent, EngineSpec, EngineWatch, WatchEvent};
use crate::labels::LabelPolicy;
use crate::reference::Reference;
use crate::store::{ContainerResult, NotifiedKey, ResultError, Status, Store};
use crate::version::UpdateKind;

/// First wait after a check found the network gone; doubles up to [`OFFLINE_MAX_BACKOFF`].
const OFFLINE_FIRST_BACKOFF: Duration = Duration::from_secs(30);
const OFFLINE_MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Quiet time after an engine event (a container started, an image pulled) before the check it
/// triggers, so a `docker compose up` of ten services costs one check, not ten.
const EVENT_SETTLE: Duration = Duration::from_secs(5);
/// More new updates than this in one check get one summary notification instead of one each.
pub const SUMMARY_THRESHOLD: usize = 3;

/// What the service is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Idle,
    Checking,
    Paused,
    /// The last check could reach no registry or engine; retrying with backoff.
    Offline,
}

/// The tray icon's state: one glance says it all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrayStatus {
    UpToDate,
    Updates,
    Errors,
    Checking,
    Paused,
}

/// Everything the window and the tray show, serialized as the app's `AppState`.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorState {
    pub phase: Phase,
    pub tray: TrayStatus,
    pub progress: Option<Progress>,
    pub last_check_at: Option<String>,
    pub next_check_at: Option<String>,
    /// SPEC §6's report, each container with `remote_digest`, `release_notes`, `display_name`.
    pub report: Option<Value>,
    pub updates: u64,
    pub error: Option<ResultError>,
}

/// A newly found update, worth one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUpdate {
    pub container_id: Option<String>,
    /// The container's display name (or its name).
    pub name: String,
    pub image: String,
    pub current: String,
    pub new: String,
    pub kind: UpdateKind,
}

/// Where the monitor reports. Called from the monitor's task; keep implementations quick.
pub trait MonitorEvents: Send + Sync + 'static {
    fn state_changed(&self, state: &MonitorState);
    fn new_updates(&self, updates: &[NewUpdate]);
}

/// Files the monitor works with.
#[derive(Debug, Clone)]
pub struct MonitorPaths {
    pub config: PathBuf,
    pub database: PathBuf,
}

/// The running service's handle; cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
}

struct Shared {
    paths: MonitorPaths,
    events: Arc<dyn MonitorEvents>,
    state: Mutex<MonitorState>,
    wake: Notify,
    check_requested: AtomicBool,
    paused: AtomicBool,
    config_changed: AtomicBool,
}

impl Monitor {
    pub fn new(paths: MonitorPaths, events: Arc<dyn MonitorEvents>) -> Monitor {
        let state = MonitorState {
            phase: Phase::Idle,
            tray: TrayStatus::UpToDate,
            progress: None,
            last_check_at: None,
            next_check_at: None,
            report: None,
            updates: 0,
            error: None,
        };
        Monitor {
            shared: Arc::new(Shared {
                paths,
                events,
                state: Mutex::new(state),
                wake: Notify::new(),
                check_requested: AtomicBool::new(true), // the first check runs at start
                paused: AtomicBool::new(false),
                config_changed: AtomicBool::new(false),
            }),
        }
    }

    pub fn state(&self) -> MonitorState {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs a check as soon as the current one (if any) is done, paused or not.
    pub fn check_now(&self) {
        self.shared.check_requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::SeqCst);
        self.update(|s| {
            if s.phase != Phase::Checking {
                s.phase = if paused { Phase::Paused } else { Phase::Idle };
            }
        });
        self.shared.wake.notify_one();
    }

    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::SeqCst)
    }

    /// The settings were saved: reload them (new engines, registries, schedule) before the next check.
    pub fn config_changed(&self) {
        self.shared.config_changed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    fn update(&self, change: impl FnOnce(&mut MonitorState)) {
        let snapshot = {
            let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut state);
            state.tray = tray_status(&state, self.is_paused());
            state.clone()
        };
        self.shared.events.state_changed(&snapshot);
    }

    /// The service loop; spawn it once on the async runtime. It never returns.
    pub async fn run(self) {
        let mut config_store = ConfigStore::new(self.shared.paths.config.clone());
        let mut loaded = config_store.load();
        let mut checker: Option<Checker> = None;
        let mut offline_backoff: Option<Duration> = None;
        let mut next_due = SystemTime::now();
        let mut watchers = self.watch_engines(&loaded.config);
        loop {
            let forced = self.shared.check_requested.swap(false, Ordering::SeqCst);
            if self.shared.config_changed.swap(false, Ordering::SeqCst) {
                loaded = config_store.load();
                checker = None; // rebuilt with the new registries and mirror rules
                watchers.iter().for_each(|w| w.abort());
                watchers = self.watch_engines(&loaded.config);
            }
            let due = SystemTime::now() >= next_due && !self.is_paused();
            if !(forced || due) {
                let wait = if self.is_paused() {
                    Duration::from_secs(3600)
                } else {
                    next_due.duration_since(SystemTime::now()).unwrap_or_default()
                };
                let _ = tokio::time::timeout(wait, self.shared.wake.notified()).await;
                continue;
            }

            let config = loaded.config.clone();
            let config_error = loaded.error.as_ref().map(|e| ResultError {
                code: e.code().into(),
                message: e.to_string(),
            });
            if checker.is_none() {
                match Checker::from_config(&config) {
                    Ok(built) => checker = Some(built),
                    Err(error) => {
                        self.update(|s| {
                            s.error = Some(ResultError {
                                code: error.code().into(),
                                message: error.to_string(),
                            });
                        });
                        next_due = SystemTime::now() + config.schedule.interval;
                        continue;
                    }
                }
            }
            let Some(active) = checker.as_ref() else { continue };
            let outcome = self.run_check(active, &config).await;

            let offline = outcome.as_ref().map(is_offline).unwrap_or(false);
            let wait = if offline {
                let backoff = offline_backoff
                    .map(|b| (b * 2).min(OFFLINE_MAX_BACKOFF))
                    .unwrap_or(OFFLINE_FIRST_BACKOFF);
                offline_backoff = Some(backoff);
                backoff
            } else {
                offline_backoff = None;
                config.schedule.interval + jitter(config.schedule.jitter)
            };
            next_due = SystemTime::now() + wait;
            let paused = self.is_paused();
            self.update(|s| {
                s.phase = if paused {
                    Phase::Paused
                } else if offline {
                    Phase::Offline
                } else {
                    Phase::Idle
                };
                s.progress = None;
                s.next_check_at = Some(humantime::format_rfc3339_seconds(next_due).to_string());
                if s.error.is_none() {
                    s.error = config_error;
                }
            });
        }
    }

    /// One check: inventory, registries, store, notifications, state.
    async fn run_check(&self, checker: &Checker, config: &Config) -> Option<CheckReport> {
        self.update(|s| {
            s.phase = Phase::Checking;
            s.progress = Some(Progress { checked: 0, total: 0 });
            s.error = None;
        });
        let inventories = if config.engines.is_empty() {
            vec![EngineInventory::local().await]
        } else {
            let specs: Vec<EngineSpec> = config.engines.iter().map(EngineSpec::from).collect();
            futures_util::future::join_all(specs.iter().map(EngineInventory::connect)).await
        };
        let labels = labels_by_container(&inventories);
        let request = CheckRequest {
            engines: inventories,
            images: Vec::new(),
        };
        let progress = |p: Progress| self.update(|s| s.progress = Some(p));
        let report = checker.check(request, &progress).await;

        let new_updates = match self.record(&report, config, &labels) {
            Ok(new_updates) => new_updates,
            Err(error) => {
                tracing::warn!("cannot record the check in the store: {error}");
                self.update(|s| {
                    s.error = Some(ResultError {
                        code: error.code().into(),
                        message: error.to_string(),
                    })
                });
                Vec::new()
            }
        };
        let view = report_view(&report, &labels);
        self.update(|s| {
            s.last_check_at = Some(humantime::format_rfc3339_seconds(report.checked_at).to_string());
            s.updates = report.summary.updates;
            s.report = Some(view);
        });
        if !new_updates.is_empty() {
            self.shared.events.new_updates(&new_updates);
        }
        Some(report)
    }

    /// Follows each engine's events (reconnecting with backoff when it goes away) and asks for a
    /// check once they settle: a new container or a pulled image may change a verdict.
    fn watch_engines(&self, config: &Config) -> Vec<tokio::task::JoinHandle<()>> {
        watched_engines(config)
            .into_iter()
            .map(|spec| {
                let monitor = self.clone();
                tokio::spawn(async move {
                    let mut engine: EngineWatch = watch(spec, Backoff::default());
                    let mut pending = false;
                    loop {
                        let next = if pending {
                            match tokio::time::timeout(EVENT_SETTLE, engine.next()).await {
                                Ok(next) => next,
                                Err(_) => {
                                    pending = false;
                                    monitor.check_now();
                                    continue;
                                }
                            }
                        } else {
                            engine.next().await
                        };
                        match next {
                            Some(WatchEvent::Event(event)) if triggers_check(&event) => pending = true,
                            Some(_) => {}
                            None => break,
                        }
                    }
                })
            })
            .collect()
    }

    fn record(
        &self,
        report: &CheckReport,
        config: &Config,
        labels: &HashMap<(String, String), BTreeMap<String, String>>,
    ) -> Result<Vec<NewUpdate>, crate::store::StoreError> {
        let mut store = Store::open(&self.shared.paths.database)?;
        store.record_check(&report.summary, &report.containers)?;
        let mut new_updates = Vec::new();
        for result in &report.containers {
            let Some(update) = result
                .update
                .as_ref()
                .filter(|_| result.status == Status::UpdateAvailable)
            else {
                continue;
            };
            if !config.notifications.notifies(update.kind) {
                continue;
            }
            if store.mark_notified(&notified_key(result))? {
                let policy = container_labels(labels, result).and_then(|l| LabelPolicy::from_labels(l).ok());
                new_updates.push(NewUpdate {
                    container_id: result.id.clone(),
                    name: policy
                        .and_then(|p| p.display_name)
                        .or_else(|| result.name.clone())
                        .unwrap_or_else(|| result.image.clone()),
                    image: result.image.clone(),
                    current: current_tag(result),
                    new: update
                        .tag
                        .clone()
                        .unwrap_or_else(|| short_digest(update.digest.as_deref())),
                    kind: update.kind,
                });
            }
        }
        Ok(new_updates)
    }
}

/// The engines whose events are followed: the configured ones, else the first local candidate
/// whose socket exists (the same discovery a check uses).
fn watched_engines(config: &Config) -> Vec<EngineSpec> {
    if !config.engines.is_empty() {
        return config.engines.iter().map(EngineSpec::from).collect();
    }
    crate::engine::local_candidates()
        .into_iter()
        .find(|spec| {
            spec.host
                .strip_prefix("unix://")
                .is_none_or(|path| std::path::Path::new(path).exists())
        })
        .into_iter()
        .collect()
}

/// Whether an engine event can change what a check says.
fn triggers_check(event: &EngineEvent) -> bool {
    matches!(
        event,
        EngineEvent::ContainerStarted { .. } | EngineEvent::ImagePulled { .. }
    )
}

fn labels_by_container(inventories: &[EngineInventory]) -> HashMap<(String, String), BTreeMap<String, String>> {
    let mut labels = HashMap::new();
    for inventory in inventories {
        if let Ok(containers) = &inventory.containers {
            for container in containers {
                labels.insert((inventory.name.clone(), container.id.clone()), container.labels.clone());
            }
        }
    }
    labels
}

fn container_labels<'a>(
    labels: &'a HashMap<(String, String), BTreeMap<String, String>>,
    result: &ContainerResult,
) -> Option<&'a BTreeMap<String, String>> {
    labels.get(&(result.engine.clone()?, result.id.clone()?))
}

/// A version is notified once: a tag update keys on the image and the new tag; a digest update
/// of a floating tag on the image, the tag and the new digest.
pub fn notified_key(result: &ContainerResult) -> NotifiedKey {
    let update = result.update.as_ref();
    let reference = Reference::from_str(&result.upstream).ok();
    let name = reference
        .as_ref()
        .map(|r| r.name())
        .unwrap_or_else(|| result.upstream.clone());
    let is_tag_update = update
        .map(|u| u.kind != UpdateKind::Digest && u.tag.is_some())
        .unwrap_or(false);
    NotifiedKey {
        upstream: if is_tag_update { name } else { result.upstream.clone() },
        platform: result.platform.clone().unwrap_or_default(),
        tag: if is_tag_update {
            update.and_then(|u| u.tag.clone())
        } else {
            None
        },
        digest: if is_tag_update {
            None
        } else {
            update.and_then(|u| u.digest.clone())
        },
    }
}

fn current_tag(result: &ContainerResult) -> String {
    Reference::from_str(&result.upstream)
        .map(|r| r.tag_or_latest().to_string())
        .unwrap_or_else(|_| result.image.clone())
}

fn short_digest(digest: Option<&str>) -> String {
    match digest {
        Some(d) => {
            let hex = d.trim_start_matches("sha256:");
            format!("new digest {}", &hex[..hex.len().min(12)])
        }
        None => "a new digest".to_string(),
    }
}

/// Offline: nothing answered. Every engine unreachable, or every registry verdict failed to connect.
fn is_offline(report: &CheckReport) -> bool {
    if report.no_engine_reachable() {
        return true;
    }
    let asked: Vec<&ContainerResult> = report
        .containers
        .iter()
        .filter(|r| !matches!(r.status, Status::Pinned | Status::LocalOnly))
        .collect();
    !asked.is_empty()
        && asked.iter().all(|r| {
            r.status == Status::Unknown
                && r.error
                    .as_ref()
                    .is_some_and(|e| matches!(e.code.as_str(), "unreachable" | "timeout"))
        })
}

fn tray_status(state: &MonitorState, paused: bool) -> TrayStatus {
    if state.phase == Phase::Checking {
        TrayStatus::Checking
    } else if state.updates > 0 {
        TrayStatus::Updates
    } else if paused {
        TrayStatus::Paused
    } else if state.phase == Phase::Offline || state.error.is_some() || report_has_errors(state.report.as_ref()) {
        TrayStatus::Errors
    } else {
        TrayStatus::UpToDate
    }
}

fn report_has_errors(report: Option<&Value>) -> bool {
    let Some(report) = report else { return false };
    let errors = report["summary"]["errors"].as_u64().unwrap_or(0);
    let engines_down = report["engines"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["status"] != "ok"));
    errors > 0 || engines_down
}

/// A random part of `max` (the schedule's jitter), so many machines do not ask at once.
fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    // The clock's nanoseconds are random enough to spread checks; no RNG crate for this.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// The report as the window shows it: SPEC §6's JSON plus per-container extras.
fn report_view(report: &CheckReport, labels: &HashMap<(String, String), BTreeMap<String, String>>) -> Value {
    let mut view = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(containers) = view["containers"].as_array_mut() {
        for (json, result) in containers.iter_mut().zip(&report.containers) {
            let labels = container_labels(labels, result);
            let policy = labels.and_then(|l| LabelPolicy::from_labels(l).ok());
            let remote = match (&result.status, &result.update) {
                (Status::UpdateAvailable, Some(update)) => update.digest.clone(),
                (Status::UpToDate, _) => result.local_digest.clone(),
                _ => None,
            };
            json["remote_digest"] = remote.map(Value::String).unwrap_or(Value::Null);
            json["display_name"] = policy
                .as_ref()
                .and_then(|p| p.display_name.clone())
                .map(Value::String)
                .unwrap_or(Value::Null);
            let new_tag = result
                .update
                .as_ref()
                .and_then(|u| u.tag.clone())
                .unwrap_or_else(|| current_tag(result));
            json["release_notes"] = labels
                .and_then(|l| release_notes_url(l, policy.as_ref().and_then(|p| p.link_template.as_deref()), &new_tag))
                .map(Value::String)
                .unwrap_or(Value::Null);
        }
    }
    view
}

/// Where to read about a version: What's Up Docker's `wud.link.template` (with `${raw}`,
/// `${original}`, `${major}`, `${minor}`, `${patch}`), else the OCI source or URL label. Only
/// http(s) links are offered.
pub fn release_notes_url(labels: &BTreeMap<String, String>, template: Option<&str>, tag: &str) -> Option<String> {
    let link = if let Some(template) = template {
        let numbers: Vec<&str> = tag
            .trim_start_matches('v')
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .collect();
        let part = |i: usize| numbers.get(i).copied().unwrap_or("");
        template
            .replace("${raw}", tag)
            .replace("${original}", tag)
            .replace("${major}", part(0))
            .replace("${minor}", part(1))
            .replace("${patch}", part(2))
    } else {
        let source = labels
            .get("org.opencontainers.image.source")
            .or_else(|| labels.get("org.opencontainers.image.url"))?;
        source.trim_end_matches('/').trim_end_matches(".git").to_string()
    };
    (link.starts_with("https://") || link.starts_with("http://")).then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Update;

    fn result(status: Status, upstream: &str, update: Option<Update>) -> ContainerResult {
        ContainerResult {
            engine: Some("local".into()),
            id: Some("abc".into()),
            name: Some("web".into()),
            image: upstream.into(),
            upstream: upstream.into(),
            via: None,
            platform: Some("linux/amd64".into()),
            local_digest: Some("sha256:aaa".into()),
            status,
            update,
            explanation: String::new(),
            error: None,
            checked_at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_tag_update_is_keyed_by_image_and_new_tag_so_it_is_notified_once() {
        let update = Update {
            kind: UpdateKind::Patch,
            tag: Some("1.25.4".into()),
            digest: Some("sha256:bbb".into()),
        };
        let key = notified_key(&result(
            Status::UpdateAvailable,
            "docker.io/library/nginx:1.25.3",
            Some(update),
        ));
        assert_eq!(key.upstream, "docker.io/library/nginx");
        assert_eq!(key.tag.as_deref(), Some("1.25.4"));
        assert_eq!(key.digest, None);
        assert_eq!(key.platform, "linux/amd64");
    }

    #[test]
    fn a_digest_update_is_keyed_by_tag_and_new_digest() {
        let update = Update {
            kind: UpdateKind::Digest,
            tag: None,
            digest: Some("sha256:ccc".into()),
        };
        let key = notified_key(&result(
            Status::UpdateAvailable,
            "docker.io/library/nginx:latest",
            Some(update),
        ));
        assert_eq!(key.upstream, "docker.io/library/nginx:latest");
        assert_eq!(key.digest.as_deref(), Some("sha256:ccc"));
    }

    #[test]
    fn release_notes_come_from_the_wud_template_or_the_oci_source_label() {
        let mut labels = BTreeMap::new();
        labels.insert(
            "org.opencontainers.image.source".to_string(),
            "https://github.com/o/app.git".to_string(),
        );
        assert_eq!(
            release_notes_url(&labels, None, "1.2.3").as_deref(),
            Some("https://github.com/o/app")
        );
        assert_eq!(
            release_notes_url(
                &labels,
                Some("https://github.com/o/app/releases/tag/v${major}.${minor}.${patch}"),
                "1.25.4"
            )
            .as_deref(),
            Some("https://github.com/o/app/releases/tag/v1.25.4")
        );
        assert_eq!(
            release_notes_url(&labels, Some("javascript:alert(1)"), "1"),
            None,
            "only http(s) links"
        );
        assert_eq!(release_notes_url(&BTreeMap::new(), None, "1"), None);
    }

    #[test]
    fn starting_a_container_or_pulling_an_image_triggers_a_check() {
        let started = EngineEvent::ContainerStarted {
            id: "a".into(),
            name: "web".into(),
            image: "nginx".into(),
        };
        assert!(triggers_check(&started));
        assert!(triggers_check(&EngineEvent::ImagePulled {
            reference: "nginx:1".into()
        }));
        assert!(!triggers_check(&EngineEvent::ContainerDestroyed { id: "a".into() }));
    }

    fn report(engines_ok: bool, containers: Vec<ContainerResult>) -> CheckReport {
        use crate::checker::{EngineReport, EngineStatus};
        CheckReport {
            checked_at: SystemTime::UNIX_EPOCH,
            engines: vec![EngineReport {
                name: "local".into(),
                endpoint: "unix:///var/run/docker.sock".into(),
                status: if engines_ok {
                    EngineStatus::Ok
                } else {
                    EngineStatus::Unreachable
                },
                error: None,
            }],
            summary: crate::store::CheckSummary {
                started_at: SystemTime::UNIX_EPOCH,
                duration_ms: 0,
                containers: containers.len() as u64,
                images: 0,
                updates: 0,
                errors: 0,
                requests: 0,
            },
            containers,
        }
    }

    fn failed(code: &str) -> ContainerResult {
        let mut failed = result(Status::Unknown, "docker.io/library/nginx:1.25.3", None);
        failed.error = Some(ResultError {
            code: code.into(),
            message: "no route".into(),
        });
        failed
    }

    #[test]
    fn offline_means_nothing_answered_not_that_one_registry_failed() {
        assert!(is_offline(&report(false, vec![])), "no engine reachable");
        assert!(is_offline(&report(
            true,
            vec![failed("unreachable"), failed("timeout")]
        )));
        let up = result(Status::UpToDate, "docker.io/library/redis:7", None);
        assert!(
            !is_offline(&report(true, vec![failed("unreachable"), up])),
            "one registry answered"
        );
        assert!(
            !is_offline(&report(true, vec![failed("auth_refused")])),
            "a refusal is an answer"
        );
        let local = result(Status::LocalOnly, "app:dev", None);
        assert!(!is_offline(&report(true, vec![local])), "nothing needed the network");
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(600)) <= Duration::from_secs(600));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_tray_shows_updates_before_errors_and_checking_before_all() {
        let mut state = MonitorState {
            phase: Phase::Idle,
            tray: TrayStatus::UpToDate,
            progress: None,
            last_check_at: None,
            next_check_at: None,
            report: None,
            updates: 0,
            error: None,
        };
        assert_eq!(tray_status(&state, false), TrayStatus::UpToDate);
        state.phase = Phase::Offline;
        assert_eq!(tray_status(&state, false), TrayStatus::Errors);
        state.updates = 2;
        assert_eq!(tray_status(&state, false), TrayStatus::Updates);
        state.phase = Phase::Checking;
        assert_eq!(tray_status(&state, false), TrayStatus::Checking);
        state.phase = Phase::Idle;
        state.updates = 0;
        assert_eq!(tray_status(&state, true), TrayStatus::Paused);
    }
}
