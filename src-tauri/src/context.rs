//! What the commands share: the monitor and the files it works with.

use tidewatch_core::config::config_path;
use tidewatch_core::monitor::{Monitor, MonitorPaths};
use tidewatch_core::store::database_path;

pub struct AppContext {
    pub paths: MonitorPaths,
    pub monitor: Monitor,
}

impl AppContext {
    pub fn new(paths: MonitorPaths, monitor: Monitor) -> AppContext {
        AppContext { paths, monitor }
    }
}

/// The config file (`TIDEWATCH_CONFIG` or the platform's config dir) and the database
/// (`TIDEWATCH_DATA_DIR` or the platform's data dir).
pub fn default_paths() -> Result<MonitorPaths, String> {
    Ok(MonitorPaths {
        config: config_path(None).map_err(|e| e.to_string())?,
        database: database_path().map_err(|e| e.to_string())?,
    })
}

/// The window stays hidden when launched at login, unless the user turned that off. Kept as a
/// marker beside the database: it is the app's own preference, not part of the shared config.
pub fn start_hidden(paths: &MonitorPaths) -> bool {
    !show_at_login_marker(paths).exists()
}

pub fn set_start_hidden(paths: &MonitorPaths, hidden: bool) -> std::io::Result<()> {
    let marker = show_at_login_marker(paths);
    if hidden {
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    } else {
        if let Some(dir) = marker.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(marker, b"")
    }
}

fn show_at_login_marker(paths: &MonitorPaths) -> std::path::PathBuf {
    paths.database.with_file_name("show-window-at-login")
}
