//! One update per engine at a time, across processes: the CLI and the app take the same lock, a
//! file lock in the data directory (one file per engine address). The operating system releases
//! it when its holder dies, so a held lock also tells crash recovery that an update is alive.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::UpdateError;

/// How often a queued update looks whether its turn has come.
const POLL: std::time::Duration = std::time::Duration::from_millis(250);
/// A queued update gives up after this long: an update's own steps are bounded well within it
/// (a pull by an hour, the health gate by an hour).
pub const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(3 * 3600);

/// The lock of one engine, held until dropped.
#[derive(Debug)]
pub struct EngineLock {
    _file: File,
}

/// The lock file of the engine at `host`, in `dir`.
fn lock_path(dir: &Path, host: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(host.as_bytes()));
    dir.join("locks").join(format!("engine-{}.lock", &hash[..16]))
}

fn open(dir: &Path, host: &str) -> Result<(File, PathBuf), UpdateError> {
    let path = lock_path(dir, host);
    let failed = |e: std::io::Error| UpdateError::Lock {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    // For a person wondering what the file is; the lock itself is what counts.
    let _ = file.write_all(format!("update lock of the engine {host}\n").as_bytes());
    Ok((file, path))
}

impl EngineLock {
    /// The lock if it is free right now, `None` if another update holds it.
    pub fn try_acquire(dir: &Path, host: &str) -> Result<Option<EngineLock>, UpdateError> {
        let (file, path) = open(dir, host)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(EngineLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(UpdateError::Lock {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Waits for the lock, at most [`WAIT_LIMIT`]; `queued` is called once when another update
    /// holds it. Polled rather than blocked on, so a waiting update can be dropped at any time.
    pub async fn acquire(dir: &Path, host: &str, queued: impl FnOnce()) -> Result<EngineLock, UpdateError> {
        if let Some(lock) = EngineLock::try_acquire(dir, host)? {
            return Ok(lock);
        }
        queued();
        let started = std::time::Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
            if let Some(lock) = EngineLock::try_acquire(dir, host)? {
                return Ok(lock);
            }
            if started.elapsed() >= WAIT_LIMIT {
                return Err(UpdateError::Lock {
                    path: lock_path(dir, host).display().to_string(),
                    reason: format!(
                        "another update of the engine {host} has held it for {} minutes; let it finish, or stop the \
                         process that holds it",
                        WAIT_LIMIT.as_secs() / 60
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_update_of_the_same_engine_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = EngineLock::try_acquire(dir.path(), "unix:///a.sock").unwrap().unwrap();
        assert!(EngineLock::try_acquire(dir.path(), "unix:///a.sock").unwrap().is_none());
        assert!(
            EngineLock::try_acquire(dir.path(), "unix:///b.sock").unwrap().is_some(),
            "other engines are not held up"
        );
        let queued = std::sync::atomic::AtomicBool::new(false);
        let waiting = EngineLock::acquire(dir.path(), "unix:///a.sock", || {
            queued.store(true, std::sync::atomic::Ordering::SeqCst)
        });
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            drop(first);
        };
        let (second, ()) = tokio::join!(waiting, release);
        assert!(second.is_ok());
        assert!(queued.load(std::sync::atomic::Ordering::SeqCst));
    }
}
