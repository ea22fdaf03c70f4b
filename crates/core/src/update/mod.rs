//! Applying updates safely (docs/updates.md): pull, recreate with the same configuration,
//! health-gate, roll back on failure; never lose a container.
//!
//! The recipe, one job per module: [`preflight`] decides what would happen or refuses (re-checking
//! a stale verdict), [`pull`] fetches the new image through the container's own name, [`blueprint`]
//! builds the new container from `inspect`, [`swap`] replaces the old one behind a [`health`] gate
//! with every step in the [`journal`] first, [`compose`] does the same through the compose CLI for
//! compose services, [`service`] hands a Swarm service to Swarm's own rollout (`crate::rollout`),
//! [`rollback`] undoes a container's last update, [`recovery`] settles updates cut short, and [`policy`] says which updates may be applied without asking. [`lock`] keeps to
//! one update per engine at a time, across the CLI and the app.
//!
//! Both front ends call [`Updater`]: `plan` (the confirmation), `field_changes` (the dry run),
//! `apply`, `rollback`, `recover`, `history`.

mod apply;
pub mod blueprint;
pub mod changes;
pub mod compose;
mod error;
pub mod health;
pub mod journal;
mod lock;
mod outcome;
pub mod policy;
mod preflight;
mod progress;
mod pull;
mod recovery;
pub mod report;
mod rollback;
mod service;
mod swap;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::checker::{CheckError, Checker, ContainerResult, Kind};
use crate::config::Config;
use crate::engine::Engine;
use crate::store::{HistoryRow, Store};

pub use apply::is_kept_aside;
pub use changes::{ChangeReason, FieldChange};
pub use error::UpdateError;
pub use health::{GateFailure, GateSettings};
pub use journal::{Action, PAUSE_AFTER_ENV, PAUSE_FILE_ENV};
pub use outcome::{OutcomeStatus, UpdateOutcome};
pub use policy::{auto_update_decision, AutoDecision, AutoUpdate, PolicySource};
pub use preflight::{locate, Downtime, Method, UpdatePlan, RECHECK_AFTER};
pub use progress::{Phase, ProgressFn, UpdateProgress};
pub use recovery::{Recovery, RecoveryOutcome};
pub use report::{PlannedUpdate, UpdateReport, UpdateSummary};
pub use rollback::{rollback_point, rollback_points};
pub use service::ServicePlan;
pub use target::TargetImage;

/// The one entry point for updates, shared by the CLI and the app. Cheap to share behind an `Arc`;
/// every method may run concurrently (updates of one engine queue on its lock).
pub struct Updater {
    checker: Arc<Checker>,
    database: PathBuf,
    data_dir: PathBuf,
    gate: GateSettings,
}

impl std::fmt::Debug for Updater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updater")
            .field("database", &self.database)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl Updater {
    /// An updater with the configuration's registries, mirrors and `[updates]` settings, keeping its
    /// journal and history in the database at `database` (its directory also holds the engine
    /// locks).
    pub fn new(config: &Config, database: impl Into<PathBuf>) -> Result<Updater, CheckError> {
        Ok(Updater::with_checker(
            Arc::new(Checker::from_config(config)?),
            config,
            database,
        ))
    }

    /// The same, re-using a checker (the app's, whose registry tokens are warm).
    pub fn with_checker(checker: Arc<Checker>, config: &Config, database: impl Into<PathBuf>) -> Updater {
        let database = database.into();
        let data_dir = database
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Updater {
            checker,
            database,
            data_dir,
            gate: GateSettings {
                health_timeout: config.updates.health_timeout,
                ..GateSettings::default()
            },
        }
    }

    /// How long the health gate waits for a healthcheck to pass (the CLI's `--health-timeout`).
    pub fn with_health_timeout(mut self, timeout: Duration) -> Updater {
        self.gate.health_timeout = timeout;
        self
    }

    /// Plans the update of `container` (a name, an ID or an ID prefix) on `engine`, touching
    /// nothing: what it runs, what it would run, how (recreate or compose), which dependents go
    /// with it, the expected downtime. `Err` is a refusal (pinned, local only, Swarm, …) or a
    /// failure to ask. `known` is the caller's verdict for it, used when recent (else it is
    /// checked again). A name no container has is looked for among the engine's Swarm services
    /// (when it is a manager); a service's plan has the method `swarm` and is applied through
    /// Swarm's own rollout (docs/swarm.md#updating-a-service).
    pub async fn plan(
        &self,
        engine: &Engine,
        container: &str,
        known: Option<&ContainerResult>,
        progress: &ProgressFn<'_>,
    ) -> Result<UpdatePlan, UpdateError> {
        let report = |phase: Phase| {
            progress(UpdateProgress {
                engine: engine.name().to_string(),
                container: container.to_string(),
                phase,
            })
        };
        // A Swarm service the caller's verdict names, or a name no container has: Swarm's way.
        if known.is_none_or(|k| k.kind != Kind::Service) {
            match preflight::plan(engine, &self.checker, container, known, self.gate, &report).await {
                Err(UpdateError::NoSuchContainer { .. }) => {}
                planned => return planned,
            }
        }
        match service::find(engine, container).await? {
            Some(located) => service::plan(&self.checker, &located, known, self.gate, &report).await,
            None => Err(UpdateError::NoSuchContainer {
                engine: engine.name().to_string(),
                container: container.to_string(),
            }),
        }
    }

    /// Every field the update would change in the container (the dry run), from the new image's
    /// configuration as the engine has it: the image is pulled when it is not there yet (a pull
    /// changes no container).
    pub async fn field_changes(
        &self,
        engine: &Engine,
        plan: &UpdatePlan,
        progress: &ProgressFn<'_>,
    ) -> Result<Vec<FieldChange>, UpdateError> {
        if plan.method == Method::Swarm {
            return service::field_changes(engine, plan, self.gate).await;
        }
        let old = apply::still_as_planned(engine, plan).await?;
        let new_image = match engine.find_image(&plan.target.reference).await? {
            Some(image) => image,
            None => {
                let report = |phase: Phase| {
                    progress(UpdateProgress {
                        engine: engine.name().to_string(),
                        container: plan.container.clone(),
                        phase,
                    })
                };
                pull::pull(engine, &plan.target.reference, plan.target.mirror.as_deref(), &report).await?
            }
        };
        let replacement = apply::replacement(engine, &old, &plan.target.reference, &Default::default()).await?;
        Ok(changes::field_changes(
            &old,
            &replacement.blueprint,
            &new_image.config.unwrap_or_default(),
        ))
    }

    /// Applies a plan: waits for the engine's turn, pulls, swaps behind the health gate, rolls back
    /// on failure. Never fails as a whole; the outcome says how it ended, and the history keeps it.
    pub async fn apply(&self, engine: &Engine, plan: &UpdatePlan, progress: &ProgressFn<'_>) -> UpdateOutcome {
        let ctx = self.context(engine, &plan.container, progress);
        apply::apply(&ctx, engine, plan).await
    }

    /// Rolls back the last update Tidewatch made to `container` (a name or ID) on `engine`, to the
    /// image it ran before, through the same swap and health gate.
    pub async fn rollback(&self, engine: &Engine, container: &str, progress: &ProgressFn<'_>) -> UpdateOutcome {
        let ctx = self.context(engine, container, progress);
        // A Swarm service is rolled back by Swarm, to its previous spec.
        if let Err(UpdateError::NoSuchContainer { .. }) = preflight::find(engine, container).await {
            match service::find(engine, container).await {
                Ok(Some(located)) => return service::rollback(&ctx, &located).await,
                Ok(None) => {}
                Err(error) => return UpdateOutcome::not_done(engine.name(), container, Action::Rollback, &error),
            }
        }
        rollback::rollback(&ctx, engine, container).await
    }

    /// Settles the updates a crash or a lost engine left unfinished; see [`recover_interrupted`].
    pub async fn recover(&self) -> Result<Vec<Recovery>, UpdateError> {
        recover_interrupted(&self.database).await
    }

    /// The update history, newest first: of one container of one engine when given.
    pub async fn history(&self, container: Option<(&str, &str)>, limit: usize) -> Result<Vec<HistoryRow>, UpdateError> {
        let database = self.database.clone();
        let container = container.map(|(e, c)| (e.to_string(), c.to_string()));
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&database)?;
            store.update_history(container.as_ref().map(|(e, c)| (e.as_str(), c.as_str())), limit)
        })
        .await
        .map_err(|e| UpdateError::Journal { reason: e.to_string() })?
        .map_err(UpdateError::from)
    }

    fn context<'a>(&'a self, engine: &Engine, container: &str, progress: &'a ProgressFn<'a>) -> Context<'a> {
        Context {
            database: &self.database,
            data_dir: &self.data_dir,
            gate: self.gate,
            engine: engine.name().to_string(),
            container: container.to_string(),
            progress,
        }
    }
}

/// Settles the updates a crash or a lost engine left unfinished in the journal of the database at
/// `database`; the CLI and the app call it when they start. Each old container is given back (or
/// the update finished, when its new container had passed the health gate); an update another
/// live process is still running is left alone, and one whose engine does not answer is left for
/// the next start. Each recovery says what it did, for the user.
pub async fn recover_interrupted(database: &Path) -> Result<Vec<Recovery>, UpdateError> {
    let data_dir = database.parent().unwrap_or_else(|| Path::new("."));
    recovery::recover(database, data_dir).await
}

/// What every step of one update shares: where the journal and locks live, the gate, and where
/// progress goes.
struct Context<'a> {
    database: &'a Path,
    data_dir: &'a Path,
    gate: GateSettings,
    engine: String,
    container: String,
    progress: &'a ProgressFn<'a>,
}

impl Context<'_> {
    fn report(&self, phase: Phase) {
        (self.progress)(UpdateProgress {
            engine: self.engine.clone(),
            container: self.container.clone(),
            phase,
        });
    }

    /// Closes a journal entry; a store that fails now only leaves an entry recovery will find
    /// settled already.
    async fn close(&self, journal: journal::Journal) {
        if let Err(error) = journal.close().await {
            tracing::warn!("the update journal entry could not be closed: {error}");
        }
    }

    /// Adds the outcome to the history; failing to is a warning, the update itself is done.
    async fn record_history(&self, outcome: &UpdateOutcome, compose: Option<&compose::ComposeRecord>) {
        let compose = compose.and_then(|c| serde_json::to_string(c).ok());
        let Some(row) = outcome.history_row(compose) else {
            return;
        };
        let database = self.database.to_path_buf();
        let result = tokio::task::spawn_blocking(move || Store::open(&database)?.record_update(&row)).await;
        if !matches!(result, Ok(Ok(_))) {
            tracing::warn!(
                container = outcome.container,
                "the update was not recorded in the history"
            );
        }
    }
}
