//! The app's updates (docs/updates.md#in-the-app): plans the window confirmed, applied on spawned
//! tasks through the core's `Updater` (one at a time per engine: its engine lock queues the rest),
//! their progress and outcome kept for the rows; automatic updates after a check; recovery at start.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::view::{ContainerKey, UpdateActivity};
use super::Monitor;
use crate::checker::{CheckError, CheckReport, ContainerResult, Status};
use crate::config::{Config, ConfigStore};
use crate::engine::{engines_to_watch, Engine, EngineError};
use crate::error::{Coded, ErrorInfo, ErrorKind};
use crate::store::Store;
use crate::update::{self, Action, OutcomeStatus, UpdateError, UpdateOutcome, UpdatePlan, UpdateProgress, Updater};

/// The least time between two progress ticks of the same phase sent to the window.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Why the app could not start an update or a rollback.
#[derive(Debug, thiserror::Error)]
pub enum UpdateRequestError {
    #[error("no watched engine is named {engine:?}; check the engines in Settings")]
    UnknownEngine { engine: String },
    #[error("the update of {container} was not confirmed yet (or was started already); open its confirmation again")]
    NotPlanned { container: String },
    #[error("an update or rollback of {container} is already running or waiting its turn")]
    Busy { container: String },
    #[error("{0}")]
    Checker(#[from] CheckError),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Update(#[from] UpdateError),
}

impl Coded for UpdateRequestError {
    fn code(&self) -> &'static str {
        match self {
            UpdateRequestError::UnknownEngine { .. } => "update_unknown_engine",
            UpdateRequestError::NotPlanned { .. } => "update_not_planned",
            UpdateRequestError::Busy { .. } => "update_busy",
            UpdateRequestError::Checker(error) => error.code(),
            UpdateRequestError::Engine(error) => error.code(),
            UpdateRequestError::Update(error) => error.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            UpdateRequestError::Engine(error) => error.kind(),
            UpdateRequestError::Update(error) => error.kind(),
            _ => ErrorKind::Answered,
        }
    }
}

/// The monitor's update bookkeeping (the view's part lives in `MonitorState`).
#[derive(Default)]
pub(super) struct Updates {
    /// Plans shown in a confirmation, by (engine, container ID), until started.
    plans: Mutex<HashMap<(String, String), UpdatePlan>>,
    /// Built on first use from the configuration; dropped when the settings change.
    updater: Mutex<Option<Arc<Updater>>>,
    /// Updates the automatic policy already tried in this run (engine, name, new tag, new digest):
    /// one that was rolled back is not tried again at every check.
    tried_automatically: Mutex<HashSet<TriedVersion>>,
}

/// An available version of one container: (engine, name, new tag, new digest).
type TriedVersion = (String, String, Option<String>, Option<String>);

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Updates {
    pub(super) fn config_changed(&self) {
        *locked(&self.updater) = None;
    }
}

/// Each container's labels, by (engine, container name), read from a check's inventory: the
/// automatic-update policy reads them.
pub(super) type LabelsByContainer = HashMap<ContainerKey, BTreeMap<String, String>>;

impl Monitor {
    /// Plans the update of `container` (its ID or name) on `engine`, touching nothing: what the
    /// confirmation shows. The plan is kept until [`Monitor::start_update`] applies it.
    pub async fn plan_update(&self, engine: &str, container: &str) -> Result<UpdatePlan, UpdateRequestError> {
        let (updater, engine) = self.updater_and_engine(engine).await?;
        let known = self.known_result(engine.name(), container);
        let plan = updater.plan(&engine, container, known.as_ref(), &|_| {}).await?;
        locked(&self.shared.updates.plans).insert((plan.engine.clone(), plan.container_id.clone()), plan.clone());
        Ok(plan)
    }

    /// Applies the plan the user confirmed for `container_id` on `engine`, on a task of its own;
    /// its progress and outcome show in the container's row.
    pub async fn start_update(&self, engine: &str, container_id: &str) -> Result<(), UpdateRequestError> {
        let plan_key = (engine.to_string(), container_id.to_string());
        let plan = locked(&self.shared.updates.plans)
            .get(&plan_key)
            .cloned()
            .ok_or_else(|| UpdateRequestError::NotPlanned {
                container: self
                    .known_result(engine, container_id)
                    .and_then(|r| r.name)
                    .unwrap_or_else(|| container_id.to_string()),
            })?;
        let (updater, connected) = self.updater_and_engine(engine).await?;
        self.begin(&(plan.engine.clone(), plan.container.clone()), Action::Update, false)?;
        locked(&self.shared.updates.plans).remove(&plan_key);
        let monitor = self.clone();
        tokio::spawn(async move {
            let key = (plan.engine.clone(), plan.container.clone());
            let outcome = updater.apply(&connected, &plan, &monitor.progress_of(&key)).await;
            monitor.finish(&key, outcome, false).await;
        });
        Ok(())
    }

    /// Rolls back the last update of `container` (its ID or name) on `engine`, on a task of its own.
    pub async fn start_rollback(&self, engine: &str, container: &str) -> Result<(), UpdateRequestError> {
        let (updater, connected) = self.updater_and_engine(engine).await?;
        let name = match self.known_result(engine, container).and_then(|r| r.name) {
            Some(name) => name,
            None => update::locate(std::slice::from_ref(&connected), container)
                .await
                .map(|(_, name)| name)?,
        };
        let key = (engine.to_string(), name.clone());
        self.begin(&key, Action::Rollback, false)?;
        let monitor = self.clone();
        tokio::spawn(async move {
            let outcome = updater.rollback(&connected, &name, &monitor.progress_of(&key)).await;
            monitor.finish(&key, outcome, false).await;
        });
        Ok(())
    }

    /// After a check: applies, one at a time per engine, the updates the automatic policy allows
    /// (each container's labels, else `[updates] auto`), each available version at most once per run.
    pub(super) fn apply_automatic(&self, report: &CheckReport, labels: &LabelsByContainer, config: &Config) {
        // A check during an update sees its engine mid-swap (the old container kept aside, the new
        // one not yet proved): nothing more starts there until it ends and the next check runs.
        let busy_engines: HashSet<String> = {
            let state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state
                .activity
                .iter()
                .filter(|(_, a)| a.running.is_some())
                .map(|((engine, _), _)| engine.clone())
                .collect()
        };
        for result in &report.containers {
            let (Some(engine), Some(name), Some(found)) = (&result.engine, &result.name, &result.update) else {
                continue;
            };
            if result.status != Status::UpdateAvailable || busy_engines.contains(engine) || update::is_kept_aside(name)
            {
                continue;
            }
            let key = (engine.clone(), name.clone());
            let no_labels = BTreeMap::new();
            let decision =
                update::auto_update_decision(result, labels.get(&key).unwrap_or(&no_labels), config.updates.auto);
            if !decision.allowed {
                continue;
            }
            let tried = (engine.clone(), name.clone(), found.tag.clone(), found.digest.clone());
            if !locked(&self.shared.updates.tried_automatically).insert(tried) {
                continue;
            }
            if self.begin(&key, Action::Update, true).is_err() {
                continue;
            }
            tracing::info!(engine, container = name, "automatic update: {}", decision.reason);
            let monitor = self.clone();
            let result = result.clone();
            tokio::spawn(async move {
                let outcome = monitor.automatic_update(&key, &result).await;
                monitor.finish(&key, outcome, true).await;
            });
        }
    }

    async fn automatic_update(&self, key: &ContainerKey, result: &ContainerResult) -> UpdateOutcome {
        let (engine, name) = key;
        let (updater, connected) = match self.updater_and_engine(engine).await {
            Ok(both) => both,
            Err(error) => {
                return UpdateOutcome::new(engine, name, Action::Update, &result.image, "")
                    .with_error(OutcomeStatus::Failed, ErrorInfo::of(&error))
            }
        };
        let progress = self.progress_of(key);
        match updater.plan(&connected, name, Some(result), &progress).await {
            Ok(plan) => updater.apply(&connected, &plan, &progress).await,
            Err(error) => UpdateOutcome::not_done(engine, name, Action::Update, &error),
        }
    }

    /// Marks `key` as running `action`; refused when something already runs for it.
    fn begin(&self, key: &ContainerKey, action: Action, automatic: bool) -> Result<(), UpdateRequestError> {
        let mut busy = false;
        self.update(|s| {
            let activity = s.activity.entry(key.clone()).or_insert(UpdateActivity {
                running: None,
                progress: None,
                outcome: None,
                automatic,
            });
            if activity.running.is_some() {
                busy = true;
                return;
            }
            activity.running = Some(action);
            activity.progress = None;
            activity.automatic = automatic;
        });
        if busy {
            return Err(UpdateRequestError::Busy {
                container: key.1.clone(),
            });
        }
        Ok(())
    }

    /// Where an update's progress goes: the container's row. A pull reports every chunk of every
    /// layer; the window gets a new phase at once and the same phase's ticks at most every
    /// [`PROGRESS_INTERVAL`] (each one sends the whole state).
    fn progress_of(&self, key: &ContainerKey) -> impl Fn(UpdateProgress) + Send + Sync + 'static {
        let monitor = self.clone();
        let key = key.clone();
        let last: Mutex<Option<(std::mem::Discriminant<update::Phase>, Instant)>> = Mutex::new(None);
        move |progress: UpdateProgress| {
            let phase = std::mem::discriminant(&progress.phase);
            {
                let mut last = locked(&last);
                if last.is_some_and(|(p, at)| p == phase && at.elapsed() < PROGRESS_INTERVAL) {
                    return;
                }
                *last = Some((phase, Instant::now()));
            }
            monitor.update(|s| {
                if let Some(activity) = s.activity.get_mut(&key) {
                    activity.progress = Some(progress.clone());
                }
            })
        }
    }

    /// An update or rollback ended: its outcome in the row, the rollback points read again, the
    /// shell told, and a check so the row shows what now runs.
    async fn finish(&self, key: &ContainerKey, outcome: UpdateOutcome, automatic: bool) {
        let rollbacks = self.read_rollbacks().await;
        self.update(|s| {
            if let Some(activity) = s.activity.get_mut(key) {
                activity.running = None;
                activity.progress = None;
                activity.outcome = Some(outcome.clone());
                activity.automatic = automatic;
            }
            if let Some(rollbacks) = rollbacks {
                s.rollbacks = Arc::new(rollbacks);
            }
        });
        self.shared.events.update_finished(&outcome, automatic);
        self.check_now();
    }

    /// Which containers can be rolled back, from the history; `None` when the store cannot say.
    pub(super) async fn read_rollbacks(&self) -> Option<HashMap<ContainerKey, String>> {
        let database = self.shared.paths.database.clone();
        let read = tokio::task::spawn_blocking(move || update::rollback_points(&Store::open(&database)?)).await;
        match read {
            Ok(Ok(points)) => Some(points),
            Ok(Err(error)) => {
                tracing::warn!("cannot read the update history: {error}");
                None
            }
            Err(_) => None,
        }
    }

    /// Settles the updates an earlier run left unfinished, for the window to say.
    pub(super) async fn recover(&self) {
        match update::recover_interrupted(&self.shared.paths.database).await {
            Ok(recovered) if !recovered.is_empty() => {
                for recovery in &recovered {
                    tracing::warn!("{}", recovery.message);
                }
                self.update(|s| s.recovered = recovered);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!("cannot look for interrupted updates: {error}");
                self.update(|s| s.error = Some(ErrorInfo::of(&error)));
            }
        }
    }

    /// The verdict the last check gave `container` (an ID, an ID prefix or a name) on `engine`.
    fn known_result(&self, engine: &str, container: &str) -> Option<ContainerResult> {
        let state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let report = state.report.as_ref()?;
        let matches = |r: &&ContainerResult| {
            r.engine.as_deref() == Some(engine)
                && (r.name.as_deref() == Some(container)
                    || r.id.as_deref() == Some(container)
                    || (container.len() >= 12 && r.id.as_deref().is_some_and(|id| id.starts_with(container))))
        };
        report.containers.iter().find(matches).cloned()
    }

    /// The updater (built once per configuration) and `engine`, connected.
    async fn updater_and_engine(&self, engine: &str) -> Result<(Arc<Updater>, Engine), UpdateRequestError> {
        let config = ConfigStore::new(self.shared.paths.config.clone()).load().config;
        let target = engines_to_watch(&config, &[])
            .into_iter()
            .find(|t| t.name() == engine)
            .ok_or_else(|| UpdateRequestError::UnknownEngine {
                engine: engine.to_string(),
            })?;
        let updater = {
            let mut cached = locked(&self.shared.updates.updater);
            match cached.as_ref() {
                Some(updater) => updater.clone(),
                None => {
                    let built = Arc::new(Updater::new(&config, self.shared.paths.database.clone())?);
                    *cached = Some(built.clone());
                    built
                }
            }
        };
        Ok((updater, target.connect().await?))
    }
}
