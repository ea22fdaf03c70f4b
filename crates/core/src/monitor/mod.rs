//! The monitor: the background service behind the desktop app. It runs checks when they are due
//! ([`schedule`]), when asked, and when a watched engine changes ([`engine_watch`]); remembers
//! which updates were announced ([`notifications`]); applies the updates the window confirms or
//! the automatic policy allows ([`updates`]); and keeps the state the window and the tray show
//! ([`view`]). It knows nothing of Tauri: the shell turns its events into a tray icon,
//! notifications and UI events.

mod engine_watch;
mod notifications;
mod schedule;
mod updates;
mod view;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use crate::checker::{inventory, CheckReport, CheckRequest, Checker, Progress};
use crate::config::{Config, ConfigStore};
use crate::engine::engines_to_watch;
use crate::error::ErrorInfo;
use crate::store::Store;
use crate::update::UpdateOutcome;

pub use notifications::{
    announcements, escape_markup, outcome_notice, Announcement, NewUpdate, CLICK_WAIT, SUMMARY_THRESHOLD,
};
pub use updates::UpdateRequestError;
pub use view::{ContainerKey, LinkRefused, MonitorState, Phase, TrayStatus, UpdateActivity};

/// Least time between the end of one check and a check an engine event triggers: a container
/// in a restart loop must not cost a registry check every minute (docs/reliability.md#the-app).
pub const EVENT_CHECK_GAP: Duration = Duration::from_secs(10 * 60);

/// How long an engine event's check must wait: until [`EVENT_CHECK_GAP`] has passed since the
/// last check ended (zero when it has, or when there was none).
pub fn event_check_delay(last_check: Option<Instant>, now: Instant) -> Duration {
    match last_check {
        Some(last) => EVENT_CHECK_GAP.saturating_sub(now.saturating_duration_since(last)),
        None => Duration::ZERO,
    }
}

/// Where the monitor reports. Called from the monitor's task; keep implementations quick.
pub trait MonitorEvents: Send + Sync + 'static {
    fn state_changed(&self, state: &MonitorState);
    fn new_updates(&self, updates: &[NewUpdate]);
    /// An update or rollback the monitor ran has ended; `automatic` when the policy started it
    /// (the user was not there to see it: worth a notification).
    fn update_finished(&self, _outcome: &UpdateOutcome, _automatic: bool) {}
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
    /// A watched engine changed; a check runs when Pause and the event gap allow.
    event_requested: AtomicBool,
    /// One of those changes is news (a container on an image the last report did not judge):
    /// its check does not wait for the gap.
    news_requested: AtomicBool,
    paused: AtomicBool,
    config_changed: AtomicBool,
    updates: updates::Updates,
}

impl Monitor {
    pub fn new(paths: MonitorPaths, events: Arc<dyn MonitorEvents>) -> Monitor {
        Monitor {
            shared: Arc::new(Shared {
                paths,
                events,
                state: Mutex::new(MonitorState::default()),
                wake: Notify::new(),
                check_requested: AtomicBool::new(true), // the first check runs at start
                event_requested: AtomicBool::new(false),
                news_requested: AtomicBool::new(false),
                paused: AtomicBool::new(false),
                config_changed: AtomicBool::new(false),
                updates: updates::Updates::default(),
            }),
        }
    }

    /// Whether the last report judged a container running `image` (as the engine names it).
    pub(crate) fn judged_image(&self, image: &str) -> bool {
        let state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .report
            .as_ref()
            .is_some_and(|report| report.containers.iter().any(|c| c.image == image))
    }

    pub fn state(&self) -> MonitorState {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs a check as soon as the current one (if any) is done, paused or not.
    pub fn check_now(&self) {
        self.shared.check_requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// A watched engine changed (a container started, an image was pulled). Unlike
    /// [`Monitor::check_now`] this respects Pause and is rate-limited ([`event_check_delay`]),
    /// unless it is `news`: a container on an image the last report did not judge, which the user
    /// expects to see judged now (a restart loop or a repeated `docker run` of a known image is not).
    pub(crate) fn engine_changed(&self, news: bool) {
        if self.is_paused() {
            return;
        }
        if news {
            self.shared.news_requested.store(true, Ordering::SeqCst);
        }
        self.shared.event_requested.store(true, Ordering::SeqCst);
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
        self.shared.updates.config_changed();
        self.shared.config_changed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// A login was saved or removed: forget cached credentials and tokens and check again, so
    /// the containers that needed it are re-checked without "Check now".
    pub fn credentials_changed(&self) {
        self.config_changed();
        self.check_now();
    }

    fn update(&self, change: impl FnOnce(&mut MonitorState)) {
        let snapshot = {
            let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut state);
            state.tray = state.tray_status(self.is_paused());
            state.clone()
        };
        self.shared.events.state_changed(&snapshot);
    }

    /// The service loop; spawn it once on the async runtime. It never returns.
    pub async fn run(self) {
        // Updates an earlier run left unfinished are settled before anything else touches engines.
        self.recover().await;
        let mut config_store = ConfigStore::new(self.shared.paths.config.clone());
        let mut loaded = config_store.load();
        let mut checker: Option<Checker> = None;
        let mut schedule = schedule::Schedule::default();
        let mut next_due = SystemTime::now();
        let mut watchers = engine_watch::watch_engines(&self, &loaded.config);
        let mut last_check: Option<Instant> = None;
        loop {
            let forced = self.shared.check_requested.swap(false, Ordering::SeqCst);
            // Engine events never bypass Pause, and trigger a check at most once per gap.
            if self.is_paused() {
                self.shared.event_requested.store(false, Ordering::SeqCst);
                self.shared.news_requested.store(false, Ordering::SeqCst);
            }
            let news = self.shared.news_requested.load(Ordering::SeqCst);
            let event_wait = self.shared.event_requested.load(Ordering::SeqCst).then(|| {
                if news {
                    Duration::ZERO
                } else {
                    event_check_delay(last_check, Instant::now())
                }
            });
            let event_due = event_wait == Some(Duration::ZERO);
            if event_due {
                self.shared.event_requested.store(false, Ordering::SeqCst);
                self.shared.news_requested.store(false, Ordering::SeqCst);
            }
            if self.shared.config_changed.swap(false, Ordering::SeqCst) {
                loaded = config_store.load();
                checker = None; // rebuilt with the new registries and mirror rules
                watchers.iter().for_each(|w| w.abort());
                watchers = engine_watch::watch_engines(&self, &loaded.config);
            }
            let due = SystemTime::now() >= next_due && !self.is_paused();
            if !(forced || due || event_due) {
                let wait = if self.is_paused() {
                    Duration::from_secs(3600)
                } else {
                    next_due.duration_since(SystemTime::now()).unwrap_or_default()
                };
                let wait = event_wait.map_or(wait, |event| event.min(wait));
                let _ = tokio::time::timeout(wait, self.shared.wake.notified()).await;
                continue;
            }

            let config = loaded.config.clone();
            let config_error = loaded.error.as_ref().map(ErrorInfo::of);
            if checker.is_none() {
                match Checker::from_config(&config) {
                    Ok(built) => checker = Some(built),
                    Err(error) => {
                        self.update(|s| s.error = Some(ErrorInfo::of(&error)));
                        next_due = SystemTime::now() + config.schedule.interval;
                        continue;
                    }
                }
            }
            let Some(active) = checker.as_ref() else { continue };
            let report = self.run_check(active, &config).await;
            last_check = Some(Instant::now());

            let offline = report.is_offline();
            next_due = SystemTime::now() + schedule.wait_after(offline, &config.schedule);
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
                s.next_check_at = Some(next_due);
                if s.error.is_none() {
                    s.error = config_error;
                }
            });
        }
    }

    /// One check: inventory, registries, store, notifications, state.
    async fn run_check(&self, checker: &Checker, config: &Config) -> Arc<CheckReport> {
        self.update(|s| {
            s.phase = Phase::Checking;
            s.progress = Some(Progress { checked: 0, total: 0 });
            s.error = None;
        });
        let request = CheckRequest {
            engines: inventory(&engines_to_watch(config, &[])).await,
            images: Vec::new(),
            resolve_digests: false,
        };
        let labels: updates::LabelsByContainer = request
            .engines
            .iter()
            .flat_map(|e| {
                let containers = e.containers.as_deref().unwrap_or_default();
                containers
                    .iter()
                    .map(|c| ((e.name.clone(), c.name.clone()), c.labels.clone()))
            })
            .collect();
        let progress = |p: Progress| self.update(|s| s.progress = Some(p));
        let report = Arc::new(checker.check(request, &progress).await);
        let summary = &report.summary;
        tracing::info!(
            containers = summary.containers,
            updates = summary.updates,
            errors = summary.errors,
            requests = summary.requests,
            duration_ms = summary.duration_ms,
            "check finished"
        );

        let rollbacks = self.read_rollbacks().await;
        let new_updates = match self.record(&report, config) {
            Ok(new_updates) => new_updates,
            Err(error) => {
                tracing::warn!("cannot record the check in the store: {error}");
                self.update(|s| s.error = Some(ErrorInfo::of(&error)));
                Vec::new()
            }
        };
        self.update(|s| {
            s.last_check_at = Some(report.checked_at);
            s.updates = report.summary.updates;
            s.report = Some(report.clone());
            if let Some(rollbacks) = rollbacks {
                s.rollbacks = Arc::new(rollbacks);
            }
        });
        if !new_updates.is_empty() {
            self.shared.events.new_updates(&new_updates);
        }
        self.apply_automatic(&report, &labels, config);
        report
    }

    fn record(&self, report: &CheckReport, config: &Config) -> Result<Vec<NewUpdate>, crate::store::StoreError> {
        let mut store = Store::open(&self.shared.paths.database)?;
        store.record_check(&report.summary, &report.containers)?;
        notifications::new_updates(&store, report, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Silent;

    impl MonitorEvents for Silent {
        fn state_changed(&self, _: &MonitorState) {}
        fn new_updates(&self, _: &[NewUpdate]) {}
    }

    fn monitor() -> Monitor {
        let dir = std::env::temp_dir();
        Monitor::new(
            MonitorPaths {
                config: dir.join("tidewatch-monitor-test.toml"),
                database: dir.join("tidewatch-monitor-test.db"),
            },
            Arc::new(Silent),
        )
    }

    #[test]
    fn engine_events_while_paused_ask_for_no_check() {
        let monitor = monitor();
        monitor.set_paused(true);
        monitor.engine_changed(true);
        assert!(!monitor.shared.event_requested.load(Ordering::SeqCst));
        assert!(!monitor.shared.news_requested.load(Ordering::SeqCst));
        monitor.set_paused(false);
        monitor.engine_changed(false);
        assert!(monitor.shared.event_requested.load(Ordering::SeqCst));
        assert!(!monitor.shared.news_requested.load(Ordering::SeqCst));
        monitor.engine_changed(true);
        assert!(monitor.shared.news_requested.load(Ordering::SeqCst));
    }

    #[test]
    fn a_container_in_a_restart_loop_costs_at_most_one_check_per_gap() {
        // An event every 30 s for two hours; each check takes 5 s.
        let start = Instant::now();
        let mut last_check: Option<Instant> = None;
        let mut checks = 0;
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(2 * 3600) {
            let now = start + t;
            if event_check_delay(last_check, now).is_zero() {
                checks += 1;
                last_check = Some(now + Duration::from_secs(5));
            }
            t += Duration::from_secs(30);
        }
        assert!(checks <= 12, "{checks} checks in two hours");
        assert!(checks >= 11, "events still trigger checks ({checks})");
        assert_eq!(
            event_check_delay(None, start),
            Duration::ZERO,
            "the first event checks at once"
        );
    }
}
