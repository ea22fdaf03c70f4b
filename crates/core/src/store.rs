//! The embedded SQLite store: check history, the latest results, which versions were already
//! notified, and the journal and history of applied updates.
//!
//! One file in the data dir (`tidewatch/tidewatch.db`). The schema is versioned with
//! `PRAGMA user_version` and migrated forward on open. The database is a cache of what Tidewatch
//! saw, not the user's data, so a corrupt file is moved aside and a new one started rather than
//! blocking the app. The API is synchronous; the app calls it from `spawn_blocking`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::checker::{CheckSummary, ContainerResult};
use crate::config::aside_path;
use crate::error::Coded;

/// Environment variable naming the data directory (the database is `tidewatch.db` inside it).
pub const DATA_DIR_ENV: &str = "TIDEWATCH_DATA_DIR";

pub const DB_FILE_NAME: &str = "tidewatch.db";

/// Checks kept in the history; older ones are pruned as each new one is recorded.
pub const MAX_HISTORY: usize = 500;

/// Databases whose integrity this process has checked: `quick_check` reads the whole file, so it
/// runs once per process (at startup), not on every open.
static INTEGRITY_CHECKED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Whether `path` still needs its integrity check in this process (and marks it done).
fn needs_integrity_check(path: &Path) -> bool {
    let key = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut checked = INTEGRITY_CHECKED.lock().unwrap_or_else(|p| p.into_inner());
    if checked.contains(&key) {
        return false;
    }
    checked.push(key);
    true
}

/// Schema steps, applied in order; step `i` takes `user_version` from `i` to `i + 1`. Append only:
/// a released step is never edited, since databases out there have already run it.
const MIGRATIONS: &[&str] = &[
    // 1: history, latest results, notified versions.
    "CREATE TABLE check_history (
        id          INTEGER PRIMARY KEY,
        started_at  INTEGER NOT NULL, -- unix milliseconds
        duration_ms INTEGER NOT NULL,
        containers  INTEGER NOT NULL,
        images      INTEGER NOT NULL,
        updates     INTEGER NOT NULL,
        errors      INTEGER NOT NULL,
        requests    INTEGER NOT NULL
    );
    CREATE INDEX check_history_started_at ON check_history (started_at);
    CREATE TABLE container_results (
        check_id       INTEGER NOT NULL REFERENCES check_history (id) ON DELETE CASCADE,
        position       INTEGER NOT NULL,
        engine         TEXT,
        container_id   TEXT,
        container_name TEXT,
        image          TEXT NOT NULL,
        upstream       TEXT NOT NULL,
        via            TEXT,
        platform       TEXT,
        local_digest   TEXT,
        status         TEXT NOT NULL,
        update_kind    TEXT,
        update_tag     TEXT,
        update_digest  TEXT,
        explanation    TEXT NOT NULL,
        error_code     TEXT,
        error_message  TEXT,
        checked_at     INTEGER NOT NULL,
        PRIMARY KEY (check_id, position)
    );
    -- Empty strings rather than NULL for an absent tag or digest: NULLs never collide in a key.
    CREATE TABLE notified (
        upstream    TEXT NOT NULL,
        platform    TEXT NOT NULL,
        tag         TEXT NOT NULL,
        digest      TEXT NOT NULL,
        notified_at INTEGER NOT NULL,
        PRIMARY KEY (upstream, platform, tag, digest)
    ) WITHOUT ROWID;",
    // 2: which registries have a login saved in the OS keyring (the keyring cannot be listed);
    // user names only, never a secret.
    "CREATE TABLE saved_logins (
        registry TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        saved_at INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 3: applying updates (docs/updates.md). The journal holds each update in flight, written before
    // every destructive step, so an update cut short can be undone at the next start; `record` is
    // the typed journal record of crate::update::journal as JSON. The history keeps every update
    // and rollback with its outcome.
    "CREATE TABLE update_journal (
        id         INTEGER PRIMARY KEY,
        engine     TEXT NOT NULL,
        container  TEXT NOT NULL,
        step       TEXT NOT NULL,
        record     TEXT NOT NULL,
        started_at INTEGER NOT NULL, -- unix milliseconds
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE update_history (
        id                  INTEGER PRIMARY KEY,
        engine              TEXT NOT NULL,
        container           TEXT NOT NULL,
        action              TEXT NOT NULL, -- update | rollback
        outcome             TEXT NOT NULL, -- updated | unchanged | rolled_back | failed | interrupted
        image_before        TEXT NOT NULL, -- the reference as the container was created with it
        image_after         TEXT NOT NULL,
        image_id_before     TEXT NOT NULL,
        image_id_after      TEXT,
        container_id_before TEXT,
        container_id_after  TEXT,
        compose             TEXT,          -- JSON of the compose service's record, for compose updates
        error_code          TEXT,
        error_message       TEXT,
        started_at          INTEGER NOT NULL,
        finished_at         INTEGER NOT NULL
    );
    CREATE INDEX update_history_container ON update_history (engine, container, id);",
    // 4: Swarm services beside containers: what a result is about, its stack, and every platform
    // compared (comma-separated; a service's nodes can have several).
    "ALTER TABLE container_results ADD COLUMN kind TEXT NOT NULL DEFAULT 'container';
    ALTER TABLE container_results ADD COLUMN stack TEXT;
    ALTER TABLE container_results ADD COLUMN platforms TEXT NOT NULL DEFAULT '';",
];

/// How long to wait for the other process (the CLI while the app runs, or the reverse) to finish writing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store failed; the database path says which file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no data directory is known for this platform; set {DATA_DIR_ENV} to a directory Tidewatch may write")]
    NoDataDir,
    #[error("cannot create the data directory {path}: {reason}")]
    CreateDir { path: PathBuf, reason: String },
    #[error("cannot open the database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "the database {path} is corrupt ({reason}) and could not be moved aside: {move_error}; \
         move or delete it by hand and start Tidewatch again"
    )]
    CannotMoveAside {
        path: PathBuf,
        reason: String,
        move_error: String,
    },
    #[error(
        "the database {path} has schema version {found}, newer than this Tidewatch knows ({known}); \
         update Tidewatch, or set {DATA_DIR_ENV} to another directory"
    )]
    NewerSchema { path: PathBuf, found: u32, known: u32 },
    #[error("cannot upgrade the database {path} to schema version {version}: {reason}")]
    Migration {
        path: PathBuf,
        version: u32,
        reason: String,
    },
    #[error("database {path}: {reason}")]
    Query { path: PathBuf, reason: String },
}

impl Coded for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::NoDataDir => "store_no_dir",
            StoreError::CreateDir { .. } => "store_create_dir",
            StoreError::Open { .. } => "store_open",
            StoreError::CannotMoveAside { .. } => "store_corrupt",
            StoreError::NewerSchema { .. } => "store_newer_schema",
            StoreError::Migration { .. } => "store_migration",
            StoreError::Query { .. } => "store_query",
        }
    }
}

/// Where the database lives: `$TIDEWATCH_DATA_DIR/tidewatch.db`, else the platform data dir's
/// `tidewatch/tidewatch.db`.
pub fn database_path() -> Result<PathBuf, StoreError> {
    resolve_path(std::env::var_os(DATA_DIR_ENV), dirs::data_dir())
}

fn resolve_path(env: Option<std::ffi::OsString>, data_dir: Option<PathBuf>) -> Result<PathBuf, StoreError> {
    // An empty variable is treated as unset, as shells make it easy to export one by accident.
    if let Some(dir) = env.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join(DB_FILE_NAME));
    }
    data_dir
        .map(|dir| dir.join("tidewatch").join(DB_FILE_NAME))
        .ok_or(StoreError::NoDataDir)
}

/// A version the user was told about: the upstream image, the platform, and the new tag and/or
/// digest. The checker decides what goes in: a tag update keys on the new tag, a digest update
/// of a floating tag on the new digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NotifiedKey {
    pub upstream: String,
    pub platform: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// The open database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    moved_aside: Option<PathBuf>,
}

/// Why an open attempt failed: corruption is recovered from, anything else is reported.
enum OpenFailure {
    Corrupt(String),
    Other(StoreError),
}

impl Store {
    /// Opens the database at `database_path()`.
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(&database_path()?)
    }

    /// Opens (creating when absent) the database at `path` and migrates it. A file that is not a
    /// database or is malformed is moved aside as `<name>.corrupt-<timestamp>` and a new one started.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_files::create_dir(dir).map_err(|e| StoreError::CreateDir {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        match Store::try_open(path) {
            Ok(store) => Ok(store),
            Err(OpenFailure::Other(error)) => Err(error),
            Err(OpenFailure::Corrupt(reason)) => {
                let aside = move_aside(path).map_err(|move_error| StoreError::CannotMoveAside {
                    path: path.to_path_buf(),
                    reason: reason.clone(),
                    move_error,
                })?;
                tracing::warn!(
                    "the database {} was corrupt ({reason}); moved it to {} and started a new one \
                     (check history and notified versions start over)",
                    path.display(),
                    aside.display()
                );
                let mut store = Store::try_open(path).map_err(|failure| match failure {
                    OpenFailure::Other(error) => error,
                    OpenFailure::Corrupt(reason) => StoreError::Open {
                        path: path.to_path_buf(),
                        reason,
                    },
                })?;
                store.moved_aside = Some(aside);
                Ok(store)
            }
        }
    }

    fn try_open(path: &Path) -> Result<Store, OpenFailure> {
        let is_busy = |e: &rusqlite::Error| {
            matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            )
        };
        let other = |e: rusqlite::Error| {
            OpenFailure::Other(StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let classify = |e: rusqlite::Error| {
            if is_corruption(&e) {
                OpenFailure::Corrupt(e.to_string())
            } else {
                other(e)
            }
        };
        let conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(other)?;
        // SQLite opens lazily: garbage bytes only show on the first read. quick_check also finds
        // damaged pages; once per process, since it reads every page.
        if needs_integrity_check(path) {
            let check: String = conn
                .query_row("PRAGMA quick_check", [], |row| row.get(0))
                .map_err(classify)?;
            if check != "ok" {
                forget_integrity_check(path);
                return Err(OpenFailure::Corrupt(check));
            }
        } else {
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
                .map_err(classify)?;
        }
        // WAL lets the CLI read while the app writes. Switching a new database to it needs the
        // write lock, and SQLite answers "locked" at once, without its busy handler, while another
        // process is migrating the same new file: wait for it as the busy timeout would.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(classify(e)),
            }
        }
        for file in [path.to_path_buf(), sidecar(path, "-wal"), sidecar(path, "-shm")] {
            crate::private_files::restrict(&file).map_err(|e| {
                OpenFailure::Other(StoreError::Open {
                    path: file.clone(),
                    reason: format!("cannot make it private (0600): {e}"),
                })
            })?;
        }
        conn.pragma_update(None, "foreign_keys", true).map_err(other)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            moved_aside: None,
        };
        store.migrate(MIGRATIONS).map_err(OpenFailure::Other)?;
        Ok(store)
    }

    /// Applies the steps the database has not run yet, each in its own transaction together with
    /// the `user_version` bump, so a crash leaves a consistent version.
    /// The app and the CLI may open a new database at the same moment: each step takes the
    /// write lock first (`BEGIN IMMEDIATE`) and re-reads the version inside, so a step another
    /// process has just applied is never applied twice.
    fn migrate(&mut self, steps: &[&str]) -> Result<(), StoreError> {
        let known = steps.len() as u32;
        let newer = |found: u32| StoreError::NewerSchema {
            path: self.path.clone(),
            found,
            known,
        };
        let found = self.schema_version()?;
        if found > known {
            return Err(newer(found));
        }
        if found == known {
            return Ok(());
        }
        let path = self.path.clone();
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| query_error(&path, e))?;
            let current: u32 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|e| query_error(&path, e))?;
            if current > known {
                return Err(StoreError::NewerSchema {
                    path: path.clone(),
                    found: current,
                    known,
                });
            }
            let Some(sql) = steps.get(current as usize) else {
                return Ok(());
            };
            let version = current + 1;
            let failed = |e: rusqlite::Error| StoreError::Migration {
                path: path.clone(),
                version,
                reason: e.to_string(),
            };
            tx.execute_batch(sql).map_err(failed)?;
            tx.pragma_update(None, "user_version", version).map_err(failed)?;
            tx.commit().map_err(failed)?;
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a corrupt database was moved when this one was opened.
    #[cfg(test)]
    fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// The schema version (`PRAGMA user_version`).
    fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.query_error(e))
    }

    /// Records a finished check: a history row, and `results` as the latest results (replacing
    /// the previous check's). Returns the history row's id.
    pub fn record_check(&mut self, summary: &CheckSummary, results: &[ContainerResult]) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let failed = |e: rusqlite::Error| query_error(&path, e);
        let tx = self.conn.transaction().map_err(failed)?;
        tx.execute(
            "INSERT INTO check_history (started_at, duration_ms, containers, images, updates, errors, requests)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                to_millis(summary.started_at),
                clamp(summary.duration_ms),
                clamp(summary.containers),
                clamp(summary.images),
                clamp(summary.updates),
                clamp(summary.errors),
                clamp(summary.requests),
            ],
        )
        .map_err(failed)?;
        let check_id = tx.last_insert_rowid();
        // Bounded growth: only the most recent checks are kept.
        tx.execute(
            "DELETE FROM check_history WHERE id NOT IN
               (SELECT id FROM check_history ORDER BY started_at DESC, id DESC LIMIT ?1)",
            params![MAX_HISTORY as i64],
        )
        .map_err(failed)?;
        tx.execute("DELETE FROM container_results", []).map_err(failed)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO container_results (check_id, position, engine, container_id, container_name,
                        image, upstream, via, platform, local_digest, status, update_kind, update_tag,
                        update_digest, explanation, error_code, error_message, checked_at, kind, stack, platforms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                        ?20, ?21)",
                )
                .map_err(failed)?;
            for (position, r) in results.iter().enumerate() {
                insert
                    .execute(params![
                        check_id,
                        position as i64,
                        r.engine,
                        r.id,
                        r.name,
                        r.image,
                        r.upstream_text(),
                        r.via.as_ref().map(ToString::to_string),
                        r.platform.as_ref().map(ToString::to_string),
                        r.local_digest,
                        r.status.as_str(),
                        r.update.as_ref().map(|u| u.kind.as_str()),
                        r.update.as_ref().and_then(|u| u.tag.as_deref()),
                        r.update.as_ref().and_then(|u| u.digest.as_deref()),
                        r.explanation,
                        r.error.as_ref().map(|e| e.code.as_str()),
                        r.error.as_ref().map(|e| e.message.as_str()),
                        to_millis(r.checked_at),
                        r.kind.as_str(),
                        r.stack,
                        r.platforms
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ])
                    .map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)?;
        Ok(check_id)
    }

    /// The most recent checks, newest first.
    #[cfg(test)]
    fn history(&self, limit: usize) -> Result<Vec<(i64, CheckSummary)>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, started_at, duration_ms, containers, images, updates, errors, requests
                 FROM check_history ORDER BY started_at DESC, id DESC LIMIT ?1",
            )
            .map_err(|e| self.query_error(e))?;
        let rows = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    row.get(0)?,
                    CheckSummary {
                        started_at: from_millis(row.get(1)?),
                        duration_ms: unclamp(row.get(2)?),
                        containers: unclamp(row.get(3)?),
                        images: unclamp(row.get(4)?),
                        updates: unclamp(row.get(5)?),
                        errors: unclamp(row.get(6)?),
                        requests: unclamp(row.get(7)?),
                    },
                ))
            })
            .map_err(|e| self.query_error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.query_error(e))
    }

    /// The latest check's results, in the order they were recorded (what the window's extras
    /// come from, the labels, is not kept).
    #[cfg(test)]
    fn latest_results(&self) -> Result<Vec<ContainerResult>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT engine, container_id, container_name, image, upstream, via, platform, local_digest,
                    status, update_kind, update_tag, update_digest, explanation, error_code, error_message,
                    checked_at, kind, stack, platforms
                 FROM container_results ORDER BY check_id, position",
            )
            .map_err(|e| self.query_error(e))?;
        let rows = statement
            .query_map([], |row| {
                let status: String = row.get(8)?;
                let status = crate::checker::Status::ALL
                    .into_iter()
                    .find(|s| s.as_str() == status)
                    .ok_or_else(|| unexpected_text(8, "status", &status))?;
                let update_kind: Option<String> = row.get(9)?;
                let update = update_kind
                    .map(|kind| {
                        Ok::<_, rusqlite::Error>(crate::checker::Update {
                            kind: kind_from_db(&kind).ok_or_else(|| unexpected_text(9, "update kind", &kind))?,
                            tag: row.get(10)?,
                            digest: row.get(11)?,
                        })
                    })
                    .transpose()?;
                let error_code: Option<String> = row.get(13)?;
                let kind: String = row.get(16)?;
                Ok(ContainerResult {
                    kind: crate::checker::Kind::parse(&kind).ok_or_else(|| unexpected_text(16, "kind", &kind))?,
                    stack: row.get(17)?,
                    platforms: row
                        .get::<_, String>(18)?
                        .split(',')
                        .filter_map(|p| p.parse().ok())
                        .collect(),
                    replicas: None,
                    rollout: None,
                    engine: row.get(0)?,
                    id: row.get(1)?,
                    name: row.get(2)?,
                    image: row.get(3)?,
                    upstream: row.get::<_, String>(4)?.parse().ok(),
                    via: row.get::<_, Option<String>>(5)?.and_then(|via| {
                        let (registry, repository) = via.split_once('/')?;
                        Some(crate::checker::Via {
                            registry: registry.to_string(),
                            repository: repository.to_string(),
                        })
                    }),
                    platform: row.get::<_, Option<String>>(6)?.and_then(|p| p.parse().ok()),
                    local_digest: row.get(7)?,
                    status,
                    update,
                    explanation: row.get(12)?,
                    error: match error_code {
                        Some(code) => Some(crate::error::ErrorInfo::new(
                            code,
                            row.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        )),
                        None => None,
                    },
                    checked_at: from_millis(row.get(15)?),
                    display_name: None,
                    release_notes: None,
                })
            })
            .map_err(|e| self.query_error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.query_error(e))
    }

    /// Whether the user was already told about this version (in this run or an earlier one).
    #[cfg(test)]
    fn was_notified(&self, key: &NotifiedKey) -> Result<bool, StoreError> {
        use rusqlite::OptionalExtension as _;
        self.conn
            .query_row(
                "SELECT 1 FROM notified WHERE upstream = ?1 AND platform = ?2 AND tag = ?3 AND digest = ?4",
                params![
                    key.upstream,
                    key.platform,
                    key.tag.as_deref().unwrap_or(""),
                    key.digest.as_deref().unwrap_or("")
                ],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.query_error(e))
    }

    /// Remembers that the user was told about this version. Marking twice is harmless; returns
    /// whether the key is new, so `if store.mark_notified(&key)? { notify() }` notifies once.
    pub fn mark_notified(&self, key: &NotifiedKey) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO notified (upstream, platform, tag, digest, notified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.upstream,
                    key.platform,
                    key.tag.as_deref().unwrap_or(""),
                    key.digest.as_deref().unwrap_or(""),
                    to_millis(SystemTime::now()),
                ],
            )
            .map(|inserted| inserted > 0)
            .map_err(|e| self.query_error(e))
    }

    /// Remembers that a login for `registry` was saved in the OS keyring.
    pub fn record_login(&self, registry: &str, username: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO saved_logins (registry, username, saved_at) VALUES (?1, ?2, ?3)",
                params![registry, username, to_millis(SystemTime::now())],
            )
            .map(|_| ())
            .map_err(|e| self.query_error(e))
    }

    pub fn forget_login(&self, registry: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM saved_logins WHERE registry = ?1", params![registry])
            .map(|_| ())
            .map_err(|e| self.query_error(e))
    }

    /// The logins saved through Tidewatch, as (registry, username), by registry.
    pub fn saved_logins(&self) -> Result<Vec<SavedLogin>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT registry, username FROM saved_logins ORDER BY registry")
            .map_err(|e| self.query_error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(SavedLogin {
                    registry: row.get(0)?,
                    username: row.get(1)?,
                })
            })
            .map_err(|e| self.query_error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.query_error(e))
    }

    fn query_error(&self, e: rusqlite::Error) -> StoreError {
        query_error(&self.path, e)
    }
}

/// An update in flight, as the journal holds it (the record's meaning is crate::update::journal's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    pub engine: String,
    pub container: String,
    /// The step about to be taken, or the last one taken.
    pub step: String,
    /// The typed journal record, as JSON.
    pub record: String,
    pub started_at: SystemTime,
}

/// One update, rollback or recovery as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Set by the store when recorded.
    pub id: i64,
    pub engine: String,
    pub container: String,
    /// `update` or `rollback` (a recovery records the action it settled).
    pub action: String,
    /// `updated`, `unchanged`, `rolled_back`, `failed` or `interrupted`.
    pub outcome: String,
    pub image_before: String,
    pub image_after: String,
    pub image_id_before: String,
    pub image_id_after: Option<String>,
    pub container_id_before: Option<String>,
    pub container_id_after: Option<String>,
    /// The compose service's record (JSON), for updates made through the compose CLI.
    pub compose: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
}

impl Store {
    /// Opens a journal entry for an update about to take its first destructive step; returns its id.
    pub fn journal_open(&self, engine: &str, container: &str, step: &str, record: &str) -> Result<i64, StoreError> {
        let now = to_millis(SystemTime::now());
        self.conn
            .execute(
                "INSERT INTO update_journal (engine, container, step, record, started_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![engine, container, step, record, now],
            )
            .map_err(|e| self.query_error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the next step (and what is known so far) before it is taken.
    pub fn journal_step(&self, id: i64, step: &str, record: &str) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE update_journal SET step = ?2, record = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, step, record, to_millis(SystemTime::now())],
            )
            .map_err(|e| self.query_error(e))?;
        if changed == 0 {
            return Err(StoreError::Query {
                path: self.path.clone(),
                reason: format!("the update journal has no entry {id}"),
            });
        }
        Ok(())
    }

    /// Closes a journal entry: the update finished, or was undone.
    pub fn journal_close(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM update_journal WHERE id = ?1", params![id])
            .map(|_| ())
            .map_err(|e| self.query_error(e))
    }

    /// Updates still in the journal (in flight elsewhere, or cut short), oldest first.
    pub fn journal_entries(&self) -> Result<Vec<JournalRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT id, engine, container, step, record, started_at FROM update_journal ORDER BY id")
            .map_err(|e| self.query_error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(JournalRow {
                    id: row.get(0)?,
                    engine: row.get(1)?,
                    container: row.get(2)?,
                    step: row.get(3)?,
                    record: row.get(4)?,
                    started_at: from_millis(row.get(5)?),
                })
            })
            .map_err(|e| self.query_error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.query_error(e))
    }

    /// Adds an update, rollback or recovery to the history; returns its id.
    pub fn record_update(&self, row: &HistoryRow) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO update_history (engine, container, action, outcome, image_before, image_after,
                    image_id_before, image_id_after, container_id_before, container_id_after, compose,
                    error_code, error_message, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    row.engine,
                    row.container,
                    row.action,
                    row.outcome,
                    row.image_before,
                    row.image_after,
                    row.image_id_before,
                    row.image_id_after,
                    row.container_id_before,
                    row.container_id_after,
                    row.compose,
                    row.error_code,
                    row.error_message,
                    to_millis(row.started_at),
                    to_millis(row.finished_at),
                ],
            )
            .map_err(|e| self.query_error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The update history, newest first: of one container of one engine when both are given.
    pub fn update_history(&self, container: Option<(&str, &str)>, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (engine, name) = container.unzip();
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, engine, container, action, outcome, image_before, image_after, image_id_before,
                    image_id_after, container_id_before, container_id_after, compose, error_code, error_message,
                    started_at, finished_at
                 FROM update_history
                 WHERE (?1 IS NULL OR (engine = ?1 AND container = ?2))
                 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(|e| self.query_error(e))?;
        let rows = statement
            .query_map(params![engine, name, limit], |row| {
                Ok(HistoryRow {
                    id: row.get(0)?,
                    engine: row.get(1)?,
                    container: row.get(2)?,
                    action: row.get(3)?,
                    outcome: row.get(4)?,
                    image_before: row.get(5)?,
                    image_after: row.get(6)?,
                    image_id_before: row.get(7)?,
                    image_id_after: row.get(8)?,
                    container_id_before: row.get(9)?,
                    container_id_after: row.get(10)?,
                    compose: row.get(11)?,
                    error_code: row.get(12)?,
                    error_message: row.get(13)?,
                    started_at: from_millis(row.get(14)?),
                    finished_at: from_millis(row.get(15)?),
                })
            })
            .map_err(|e| self.query_error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.query_error(e))
    }
}

/// A registry login kept in the OS keyring; the secret itself is never read back for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLogin {
    pub registry: String,
    pub username: String,
}

fn query_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Query {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

#[cfg(test)]
fn unexpected_text(column: usize, what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unexpected {what} {text:?}").into(),
    )
}

#[cfg(test)]
fn kind_from_db(text: &str) -> Option<crate::version::UpdateKind> {
    use crate::version::UpdateKind::*;
    [Major, Minor, Patch, Build, Prerelease, Digest]
        .into_iter()
        .find(|k| k.as_str() == text)
}

/// Moves the database and its WAL/shared-memory/journal files aside, so a stale WAL can never
/// be replayed into the new database. Returns where the database went.
/// `<path><suffix>`: SQLite's `-wal` and `-shm` files.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn forget_integrity_check(path: &Path) {
    let key = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    INTEGRITY_CHECKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| *p != key);
}

fn move_aside(path: &Path) -> Result<PathBuf, String> {
    let aside = aside_path(path, "corrupt");
    fs::rename(path, &aside).map_err(|e| e.to_string())?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut target = aside.as_os_str().to_owned();
            target.push(suffix);
            // The main file is already aside; a sidecar left behind is removed instead.
            if fs::rename(&side, PathBuf::from(target)).is_err() {
                let _ = fs::remove_file(&side);
            }
        }
    }
    Ok(aside)
}

fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn from_millis(millis: i64) -> SystemTime {
    if millis >= 0 {
        UNIX_EPOCH + Duration::from_millis(millis.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(millis.unsigned_abs())
    }
}

/// SQLite integers are signed 64-bit; counts never get near the limit, but saturate rather than wrap.
fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
fn unclamp(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Kind, Status, Update, Via};
    use crate::error::ErrorInfo;
    use crate::version::UpdateKind;
    use rusqlite::OptionalExtension as _;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + 250)
    }

    fn summary(secs: u64, updates: u64) -> CheckSummary {
        CheckSummary {
            started_at: at(secs),
            duration_ms: 1234,
            containers: 3,
            images: 2,
            updates,
            errors: 1,
            requests: 7,
        }
    }

    fn results() -> Vec<ContainerResult> {
        vec![
            ContainerResult {
                kind: Kind::Container,
                engine: Some("local".into()),
                id: Some("abc123".into()),
                name: Some("web".into()),
                stack: None,
                platforms: vec!["linux/amd64".parse().unwrap()],
                replicas: None,
                rollout: None,
                image: "docker.m.daocloud.io/library/nginx:1.25.3".into(),
                upstream: Some("docker.io/library/nginx:1.25.3".parse().unwrap()),
                via: Some(Via {
                    registry: "docker.m.daocloud.io".into(),
                    repository: "library/nginx".into(),
                }),
                platform: Some("linux/amd64".parse().unwrap()),
                local_digest: Some("sha256:aaa".into()),
                status: Status::UpdateAvailable,
                update: Some(Update {
                    kind: UpdateKind::Patch,
                    tag: Some("1.25.4".into()),
                    digest: Some("sha256:bbb".into()),
                }),
                explanation:
                    "checked docker.io/library/nginx via mirror rule docker.m.daocloud.io; 1.25.4 is newer (patch)"
                        .into(),
                error: None,
                checked_at: at(1_000),
                display_name: None,
                release_notes: None,
            },
            ContainerResult {
                kind: Kind::Service,
                engine: Some("swarm".into()),
                id: Some("k2x9service".into()),
                name: Some("shop_web".into()),
                stack: Some("shop".into()),
                platforms: vec!["linux/amd64".parse().unwrap(), "linux/arm64".parse().unwrap()],
                replicas: None,
                rollout: None,
                image: "registry.invalid/app:1".into(),
                upstream: Some("registry.invalid/app:1".parse().unwrap()),
                via: None,
                platform: None,
                local_digest: None,
                status: Status::Unknown,
                update: None,
                explanation: "registry.invalid did not answer".into(),
                error: Some(ErrorInfo::new(
                    "unreachable",
                    "registry registry.invalid is unreachable",
                )),
                checked_at: at(1_001),
                display_name: None,
                release_notes: None,
            },
        ]
    }

    fn key(tag: &str) -> NotifiedKey {
        NotifiedKey {
            upstream: "docker.io/library/nginx".into(),
            platform: "linux/amd64".into(),
            tag: Some(tag.into()),
            digest: None,
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn migrations_run_on_a_fresh_database_and_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(DB_FILE_NAME);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        assert!(store.moved_aside().is_none());
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        store.record_check(&summary(10, 1), &results()).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.history(10).unwrap().len(), 1);
    }

    #[test]
    fn migrations_apply_only_the_missing_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join(DB_FILE_NAME)).unwrap();
        let base = MIGRATIONS.len();
        let first: Vec<&str> = MIGRATIONS
            .iter()
            .copied()
            .chain(["CREATE TABLE extra (n INTEGER)"])
            .collect();
        store.migrate(&first).unwrap();
        assert_eq!(store.schema_version().unwrap() as usize, base + 1);
        // Re-running step base+1 would fail ("table extra already exists"), so success proves it was skipped.
        let second: Vec<&str> = first.iter().copied().chain(["INSERT INTO extra VALUES (1)"]).collect();
        store.migrate(&second).unwrap();
        assert_eq!(store.schema_version().unwrap() as usize, base + 2);
        let rows: i64 = store
            .conn
            .query_row("SELECT count(*) FROM extra", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_failed_migration_leaves_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join(DB_FILE_NAME)).unwrap();
        let base = MIGRATIONS.len() as u32;
        let steps: Vec<&str> = MIGRATIONS
            .iter()
            .copied()
            .chain(["CREATE TABLE half (n INTEGER); THIS IS NOT SQL"])
            .collect();
        let error = store.migrate(&steps).unwrap_err();
        assert!(
            matches!(error, StoreError::Migration { version, .. } if version == base + 1),
            "{error}"
        );
        assert_eq!(store.schema_version().unwrap(), base);
        let half: Option<String> = store
            .conn
            .query_row("SELECT name FROM sqlite_master WHERE name = 'half'", [], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(half, None, "the step's transaction was rolled back");
    }

    #[test]
    fn a_database_from_a_newer_tidewatch_is_refused_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let store = Store::open(&path).unwrap();
        store.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        let error = Store::open(&path).unwrap_err();
        assert_eq!(error.code(), "store_newer_schema");
        assert!(error.to_string().contains("update Tidewatch"), "{error}");
        assert!(!files_in(dir.path()).iter().any(|n| n.contains("corrupt")));
    }

    #[test]
    fn a_check_is_recorded_and_its_results_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join(DB_FILE_NAME)).unwrap();
        let first = store.record_check(&summary(10, 1), &results()).unwrap();
        assert_eq!(store.latest_results().unwrap(), results());

        // The next check replaces the latest results and adds to the history.
        let only_one = vec![results().remove(1)];
        let second = store.record_check(&summary(20, 0), &only_one).unwrap();
        assert!(second > first);
        assert_eq!(store.latest_results().unwrap(), only_one);
        let history = store.history(10).unwrap();
        assert_eq!(history.iter().map(|r| r.0).collect::<Vec<_>>(), vec![second, first]);
        assert_eq!(history[0].1, summary(20, 0));
        assert_eq!(store.history(1).unwrap().len(), 1);
    }

    #[test]
    fn notified_versions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let store = Store::open(&path).unwrap();
        assert!(!store.was_notified(&key("1.25.4")).unwrap());
        assert!(store.mark_notified(&key("1.25.4")).unwrap(), "first mark is new");
        assert!(!store.mark_notified(&key("1.25.4")).unwrap(), "second mark is not");
        drop(store);

        let store = Store::open(&path).unwrap();
        assert!(store.was_notified(&key("1.25.4")).unwrap());
        assert!(!store.was_notified(&key("1.25.5")).unwrap());
        let other_platform = NotifiedKey {
            platform: "linux/arm64".into(),
            ..key("1.25.4")
        };
        assert!(!store.was_notified(&other_platform).unwrap());
        let digest_only = NotifiedKey {
            tag: None,
            digest: Some("sha256:ccc".into()),
            ..key("latest")
        };
        assert!(!store.was_notified(&digest_only).unwrap());
        store.mark_notified(&digest_only).unwrap();
        assert!(store.was_notified(&digest_only).unwrap());
    }

    #[test]
    fn a_corrupt_database_is_moved_aside_and_a_fresh_one_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let garbage: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(&path, &garbage).unwrap();

        let mut store = Store::open(&path).unwrap();
        let aside = store.moved_aside().expect("the corrupt file was moved").to_path_buf();
        let aside_name = aside.file_name().unwrap().to_string_lossy().into_owned();
        assert!(aside_name.starts_with("tidewatch.db.corrupt-"), "{aside_name}");
        assert_eq!(fs::read(&aside).unwrap(), garbage, "the old bytes are kept");

        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        store.record_check(&summary(10, 1), &results()).unwrap();
        assert!(store.mark_notified(&key("1.25.4")).unwrap());
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.moved_aside().is_none());
        assert!(store.was_notified(&key("1.25.4")).unwrap());
    }

    #[test]
    fn a_database_with_a_damaged_page_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let mut store = Store::open(&path).unwrap();
        let many: Vec<ContainerResult> = (0..200).flat_map(|_| results()).collect();
        store.record_check(&summary(10, 1), &many).unwrap();
        // Fold the WAL into the main file so the damage below hits the real pages.
        store
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        drop(store);
        let mut bytes = fs::read(&path).unwrap();
        assert!(bytes.len() > 4096 * 3);
        // Keep the header (page 1) so SQLite recognises the file, and scribble over page 2 onwards.
        for byte in &mut bytes[4096..4096 * 3] {
            *byte = 0xA5;
        }
        fs::write(&path, &bytes).unwrap();

        // Found at the next start (this process already checked the file once).
        forget_integrity_check(&path);
        let store = Store::open(&path).unwrap();
        assert!(store.moved_aside().is_some());
        assert!(store.latest_results().unwrap().is_empty());
    }

    #[test]
    fn the_integrity_check_runs_once_per_process_not_on_every_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        drop(Store::open(&path).unwrap());
        // Checked at the first open: a later open in the same process skips the full scan.
        assert!(!needs_integrity_check(&path));
        for _ in 0..3 {
            drop(Store::open(&path).unwrap());
        }
        let key = fs::canonicalize(&path).unwrap();
        let checked = INTEGRITY_CHECKED.lock().unwrap();
        assert_eq!(checked.iter().filter(|p| **p == key).count(), 1);
    }

    #[test]
    fn history_is_pruned_to_the_most_recent_checks() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join(DB_FILE_NAME)).unwrap();
        store.conn.pragma_update(None, "synchronous", "OFF").unwrap();
        for i in 0..(MAX_HISTORY + 7) {
            store.record_check(&summary(i as u64, 0), &[]).unwrap();
        }
        let history = store.history(MAX_HISTORY * 2).unwrap();
        assert_eq!(history.len(), MAX_HISTORY);
        assert_eq!(
            history[0].1.started_at,
            at((MAX_HISTORY + 6) as u64),
            "the newest is kept"
        );
        assert_eq!(history.last().unwrap().1.started_at, at(7), "the oldest seven went");
    }

    #[test]
    fn the_app_and_the_cli_opening_a_new_database_at_once_both_succeed() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(DB_FILE_NAME);
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let openers: Vec<_> = (0..2)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).map(|store| store.schema_version().unwrap())
                    })
                })
                .collect();
            for opener in openers {
                let version = opener.join().unwrap().expect("both opens succeed");
                assert_eq!(version, MIGRATIONS.len() as u32);
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_database_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data/tidewatch");
        let path = data.join(DB_FILE_NAME);
        let mut store = Store::open(&path).unwrap();
        store.record_check(&summary(1, 0), &results()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&sidecar(&path, "-wal")), 0o600);
    }

    #[test]
    fn database_path_prefers_the_env_dir() {
        assert_eq!(
            resolve_path(Some("/env/dir".into()), Some("/home/u/.local/share".into())).unwrap(),
            Path::new("/env/dir/tidewatch.db")
        );
        assert_eq!(
            resolve_path(Some("".into()), Some("/home/u/.local/share".into())).unwrap(),
            Path::new("/home/u/.local/share/tidewatch/tidewatch.db")
        );
        assert!(matches!(resolve_path(None, None), Err(StoreError::NoDataDir)));
    }

    #[test]
    fn times_before_and_after_the_epoch_round_trip_through_millis() {
        for time in [at(0), at(1_700_000_000), UNIX_EPOCH - Duration::from_millis(1500)] {
            assert_eq!(from_millis(to_millis(time)), time);
        }
    }

    #[test]
    fn the_update_journal_keeps_entries_until_closed_and_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE_NAME);
        let id = {
            let store = Store::open(&path).unwrap();
            let id = store.journal_open("local", "web", "planned", "{\"a\":1}").unwrap();
            store.journal_step(id, "web: renaming", "{\"a\":2}").unwrap();
            id
        };
        let store = Store::open(&path).unwrap();
        let entries = store.journal_entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (
                entries[0].id,
                entries[0].container.as_str(),
                entries[0].step.as_str(),
                entries[0].record.as_str()
            ),
            (id, "web", "web: renaming", "{\"a\":2}")
        );
        store.journal_close(id).unwrap();
        assert!(store.journal_entries().unwrap().is_empty());
        assert!(
            store.journal_step(id, "x", "{}").is_err(),
            "a closed entry cannot be written"
        );
    }

    #[test]
    fn update_history_is_newest_first_and_per_container() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(DB_FILE_NAME)).unwrap();
        let row = |container: &str, action: &str, outcome: &str, secs: u64| HistoryRow {
            id: 0,
            engine: "local".into(),
            container: container.into(),
            action: action.into(),
            outcome: outcome.into(),
            image_before: "app:1".into(),
            image_after: "app:2".into(),
            image_id_before: "sha256:1".into(),
            image_id_after: Some("sha256:2".into()),
            container_id_before: Some("old".into()),
            container_id_after: Some("new".into()),
            compose: None,
            error_code: None,
            error_message: None,
            started_at: at(secs),
            finished_at: at(secs + 1),
        };
        let first = store.record_update(&row("web", "update", "updated", 10)).unwrap();
        store.record_update(&row("db", "update", "failed", 20)).unwrap();
        let last = store.record_update(&row("web", "rollback", "updated", 30)).unwrap();
        let web = store.update_history(Some(("local", "web")), 10).unwrap();
        assert_eq!(web.iter().map(|r| r.id).collect::<Vec<_>>(), vec![last, first]);
        assert_eq!(
            web[1],
            HistoryRow {
                id: first,
                ..row("web", "update", "updated", 10)
            }
        );
        assert_eq!(store.update_history(None, 10).unwrap().len(), 3);
        assert_eq!(store.update_history(Some(("other", "web")), 10).unwrap().len(), 0);
    }

    #[test]
    fn saved_logins_survive_reopen_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tidewatch.db");
        {
            let store = Store::open(&path).unwrap();
            store.record_login("127.0.0.1:5001", "alice").unwrap();
            store.record_login("ghcr.io", "bob").unwrap();
            store.record_login("127.0.0.1:5001", "carol").unwrap();
        }
        let store = Store::open(&path).unwrap();
        let logins = store.saved_logins().unwrap();
        assert_eq!(
            logins,
            vec![
                SavedLogin {
                    registry: "127.0.0.1:5001".into(),
                    username: "carol".into()
                },
                SavedLogin {
                    registry: "ghcr.io".into(),
                    username: "bob".into()
                },
            ]
        );
        store.forget_login("ghcr.io").unwrap();
        assert_eq!(store.saved_logins().unwrap().len(), 1);
    }
}
