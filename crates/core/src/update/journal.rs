//! The update journal (docs/updates.md#crash-safety): before each destructive step, what is about
//! to happen and everything needed to undo it is written to the store. If the process dies or the
//! engine goes away, the next start reads it back and gives the old container back.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::UpdateError;
use crate::engine::model::EndpointSettings;
use crate::engine::EngineSpec;
use crate::store::Store;

/// Test-only: the step after which an update pauses (e.g. `renaming`), so a test can kill the
/// process or cut the engine off at a known point. Inert unless both variables are set.
pub const PAUSE_AFTER_ENV: &str = "TIDEWATCH_TEST_PAUSE_AFTER";
/// Test-only: the file the paused update creates, then waits for a test to delete.
pub const PAUSE_FILE_ENV: &str = "TIDEWATCH_TEST_PAUSE_FILE";

/// Everything an update in flight needs undone or finished by another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// How to reach the engine again.
    pub engine: EngineSpec,
    pub action: Action,
    /// The container the update is for (the first of `swaps`, or the compose service's container).
    pub container: String,
    pub image_before: String,
    pub image_after: String,
    pub image_id_before: String,
    pub image_id_after: Option<String>,
    /// The container replaced, then its dependents, in order.
    pub swaps: Vec<SwapRecord>,
    /// Set for a compose service's update.
    pub compose: Option<super::compose::ComposeRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Update,
    Rollback,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Update => "update",
            Action::Rollback => "rollback",
        }
    }
}

/// One container being replaced: the old one as it was, and how far the swap got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapRecord {
    /// The name it had and gives back (or hands to the new container).
    pub name: String,
    pub old_id: String,
    /// The name it carries while put aside.
    pub temp_name: String,
    pub was_running: bool,
    /// Its network endpoints as the user set them (aliases, static IPs, links, driver options).
    pub endpoints: Vec<(String, EndpointSettings)>,
    /// Networks it was disconnected from to free its static IPs.
    pub freed: Vec<String>,
    /// The image the new container is created from: a container found under `name` is only
    /// taken for the new one (and removed on undo) when it runs this.
    pub new_image: String,
    pub new_id: Option<String>,
    /// The furthest step reached (journaled before it was taken).
    pub step: SwapStep,
    /// Set when the swap is being undone; `step` still says how far it had got.
    #[serde(default)]
    pub undoing: bool,
}

/// The steps of one container's swap, in order. A step is journaled before it is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwapStep {
    Planned,
    Stopping,
    Renaming,
    Freeing,
    Creating,
    Connecting,
    Starting,
    WaitingHealthy,
    /// Passed the gate: from here on, finishing the update beats undoing it.
    Healthy,
    RemovingOld,
    Removed,
}

impl SwapStep {
    pub fn as_str(self) -> &'static str {
        match self {
            SwapStep::Planned => "planned",
            SwapStep::Stopping => "stopping",
            SwapStep::Renaming => "renaming",
            SwapStep::Freeing => "freeing",
            SwapStep::Creating => "creating",
            SwapStep::Connecting => "connecting",
            SwapStep::Starting => "starting",
            SwapStep::WaitingHealthy => "waiting_healthy",
            SwapStep::Healthy => "healthy",
            SwapStep::RemovingOld => "removing_old",
            SwapStep::Removed => "removed",
        }
    }

    /// Whether the new container had passed the health gate: finishing the swap then beats
    /// undoing it.
    pub fn passed_gate(self) -> bool {
        matches!(self, SwapStep::Healthy | SwapStep::RemovingOld | SwapStep::Removed)
    }
}

/// An open journal entry, written through on every change.
#[derive(Debug)]
pub struct Journal {
    store: Arc<Mutex<Store>>,
    id: i64,
    pub record: JournalRecord,
}

impl Journal {
    /// Opens an entry for `record` (nothing has been touched yet).
    pub async fn open(database: &Path, record: JournalRecord) -> Result<Journal, UpdateError> {
        let database = database.to_path_buf();
        let text = encode(&record)?;
        let (engine, container) = (record.engine.name.clone(), record.container.clone());
        let (store, id) = blocking(move || {
            let store = Store::open(&database)?;
            let id = store.journal_open(&engine, &container, "planned", &text)?;
            Ok((store, id))
        })
        .await?;
        Ok(Journal {
            store: Arc::new(Mutex::new(store)),
            id,
            record,
        })
    }

    /// An entry read back from the store (crash recovery).
    pub fn resume(store: Store, id: i64, record: JournalRecord) -> Journal {
        Journal {
            store: Arc::new(Mutex::new(store)),
            id,
            record,
        }
    }

    /// Journals that swap `slot` is about to take `step`.
    pub async fn step(&mut self, slot: usize, step: SwapStep) -> Result<(), UpdateError> {
        if let Some(swap) = self.record.swaps.get_mut(slot) {
            swap.step = step;
        }
        let summary = match self.record.swaps.get(slot) {
            Some(swap) => format!("{}: {}", swap.name, step.as_str()),
            None => step.as_str().to_string(),
        };
        self.write(summary).await
    }

    /// Journals that swap `slot` is being undone (before the first undo step).
    pub async fn undoing(&mut self, slot: usize) -> Result<(), UpdateError> {
        let summary = match self.record.swaps.get_mut(slot) {
            Some(swap) => {
                swap.undoing = true;
                format!("{}: undoing after {}", swap.name, swap.step.as_str())
            }
            None => "undoing".to_string(),
        };
        self.write(summary).await
    }

    /// Writes the record as it is now (after learning a new container's ID, say).
    pub async fn save(&mut self, summary: &str) -> Result<(), UpdateError> {
        self.write(summary.to_string()).await
    }

    async fn write(&self, summary: String) -> Result<(), UpdateError> {
        let text = encode(&self.record)?;
        let (store, id) = (self.store.clone(), self.id);
        blocking(move || {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            store.journal_step(id, &summary, &text)
        })
        .await
    }

    /// Closes the entry: the update finished or was undone.
    pub async fn close(self) -> Result<(), UpdateError> {
        let (store, id) = (self.store.clone(), self.id);
        blocking(move || {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            store.journal_close(id)
        })
        .await
    }

    /// The store, for the history row written when the journal closes.
    pub fn store(&self) -> Arc<Mutex<Store>> {
        self.store.clone()
    }
}

/// Pauses after `step` was taken when a test asked for it (see [`PAUSE_AFTER_ENV`]).
pub async fn pause_point(step: &str) {
    let (Some(wanted), Some(file)) = (std::env::var_os(PAUSE_AFTER_ENV), std::env::var_os(PAUSE_FILE_ENV)) else {
        return;
    };
    if wanted != step {
        return;
    }
    let file = std::path::PathBuf::from(file);
    if std::fs::write(&file, step).is_err() {
        return;
    }
    eprintln!(
        "tidewatch: paused after {step} ({PAUSE_AFTER_ENV}); delete {} to go on",
        file.display()
    );
    while file.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn encode(record: &JournalRecord) -> Result<String, UpdateError> {
    serde_json::to_string(record).map_err(|e| UpdateError::Journal {
        reason: format!("cannot encode the record: {e}"),
    })
}

/// Reads a journal record back; `None` when it is not one this Tidewatch can read.
pub fn decode(text: &str) -> Option<JournalRecord> {
    serde_json::from_str(text).ok()
}

/// Runs a store call off the async threads (SQLite may wait up to 5 s for the other process).
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, UpdateError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| UpdateError::Journal { reason: e.to_string() })?
        .map_err(UpdateError::Store)
}
