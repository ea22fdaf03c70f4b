//! Tauri commands: parse, call the core, map the error. Nothing else lives here.

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_opener::OpenerExt as _;
use tidewatch_core::config::{Config, ConfigStore, EngineConfig, Revision};
use tidewatch_core::credentials::Secret;
use tidewatch_core::engine::EngineInfo;
use tidewatch_core::error::{Coded, ErrorInfo};
use tidewatch_core::explain::Explanation;
use tidewatch_core::monitor::{MonitorPaths, MonitorState};
use tidewatch_core::registries_conf::ContainersMirrors;
use tidewatch_core::store::SavedLogin;
use tidewatch_core::update::UpdatePlan;
use tidewatch_core::{engine, explain, login};

use crate::context::AppContext;

/// What only the shell can get wrong: the login item, its own preference file, the browser.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot change the login item: {0}")]
    Autostart(String),
    #[error("cannot save the start-hidden choice: {0}")]
    SettingsWrite(std::io::Error),
    #[error("cannot open the browser: {0}")]
    OpenFailed(String),
    #[error("a background task failed: {0}")]
    Worker(String),
}

impl Coded for ShellError {
    fn code(&self) -> &'static str {
        match self {
            ShellError::Autostart(_) => "autostart",
            ShellError::SettingsWrite(_) => "settings_write",
            ShellError::OpenFailed(_) => "open_failed",
            ShellError::Worker(_) => "worker_failed",
        }
    }
}

/// Every command's error: `{code, message}` (the core's one convention).
type CommandResult<T> = Result<T, ErrorInfo>;

/// Runs blocking work (the keyring over D-Bus, SQLite, files) off the main thread and the async
/// runtime's workers, so the window and the tray menu never freeze (docs/reliability.md#the-app).
async fn off_main_thread<T: Send + 'static>(
    work: impl FnOnce() -> CommandResult<T> + Send + 'static,
) -> CommandResult<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ErrorInfo::of(&ShellError::Worker(e.to_string()))))
}

#[derive(Debug, Serialize)]
pub struct AppInfo {
    pub version: &'static str,
}

#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[tauri::command]
pub fn get_state(context: State<'_, AppContext>) -> MonitorState {
    context.monitor.state()
}

#[tauri::command]
pub fn check_now(context: State<'_, AppContext>) -> MonitorState {
    context.monitor.check_now();
    context.monitor.state()
}

#[tauri::command]
pub fn set_paused(context: State<'_, AppContext>, paused: bool) -> MonitorState {
    context.monitor.set_paused(paused);
    context.monitor.state()
}

/// The settings view: the configuration, saved logins (never a secret) and login-item state.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub config: Config,
    /// The version of the file `config` was read from; saving names it (docs/config.md#reading-and-writing).
    pub config_revision: Revision,
    /// Mirror rules of the containers `registries.conf`, shown read-only.
    pub containers_mirrors: ContainersMirrors,
    pub credentials: Vec<SavedLogin>,
    pub config_path: String,
    pub config_error: Option<ErrorInfo>,
    pub autostart: bool,
    /// Whether a launch at login starts in the tray without the window.
    pub start_hidden: bool,
}

fn settings<R: Runtime>(app: &AppHandle<R>, paths: &MonitorPaths) -> CommandResult<Settings> {
    let loaded = ConfigStore::new(paths.config.clone()).load();
    Ok(Settings {
        config: loaded.config,
        config_revision: loaded.revision,
        containers_mirrors: ContainersMirrors::load(),
        credentials: login::saved_logins(&paths.database)?,
        config_path: paths.config.display().to_string(),
        config_error: loaded.error.map(ErrorInfo::from),
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        start_hidden: crate::context::start_hidden(paths),
    })
}

#[tauri::command]
pub async fn get_settings<R: Runtime>(app: AppHandle<R>, context: State<'_, AppContext>) -> CommandResult<Settings> {
    let paths = context.paths.clone();
    off_main_thread(move || settings(&app, &paths)).await
}

/// Saves `config` over the file read at `revision`; without a revision (the user chose to replace
/// another program's change), over whatever the file holds now.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    config: Config,
    revision: Option<Revision>,
) -> CommandResult<Settings> {
    let (paths, monitor) = (context.paths.clone(), context.monitor.clone());
    off_main_thread(move || {
        ConfigStore::new(paths.config.clone()).save(&config, revision.as_ref())?;
        monitor.config_changed();
        settings(&app, &paths)
    })
    .await
}

#[tauri::command]
pub async fn test_engine(engine: EngineConfig) -> CommandResult<EngineInfo> {
    Ok(engine::test_engine(&engine).await?)
}

#[tauri::command]
pub async fn save_credential<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    registry: String,
    username: String,
    password: String,
) -> CommandResult<Settings> {
    let paths = context.paths.clone();
    let config_path = paths.config.clone();
    let config = off_main_thread(move || Ok(ConfigStore::new(config_path).load().config)).await?;
    let registry_settings = config.registry_settings(&registry);
    login::save_login(
        &registry,
        registry_settings,
        &username,
        Secret::new(password),
        &paths.database,
    )
    .await?;
    context.monitor.credentials_changed(); // drop cached tokens and re-check with the new login
    off_main_thread(move || settings(&app, &paths)).await
}

#[tauri::command]
pub async fn delete_credential<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    registry: String,
) -> CommandResult<Settings> {
    let (paths, monitor) = (context.paths.clone(), context.monitor.clone());
    off_main_thread(move || {
        login::remove_login(&registry, &paths.database)?;
        monitor.credentials_changed();
        settings(&app, &paths)
    })
    .await
}

#[tauri::command]
pub async fn explain(context: State<'_, AppContext>, reference: String) -> CommandResult<Explanation> {
    let config = context.paths.config.clone();
    off_main_thread(move || Ok(explain::explain(&config, &reference)?)).await
}

#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> CommandResult<Settings> {
    let paths = context.paths.clone();
    off_main_thread(move || {
        let autolaunch = app.autolaunch();
        let result = if enabled {
            autolaunch.enable()
        } else {
            autolaunch.disable()
        };
        result.map_err(|e| ShellError::Autostart(e.to_string()))?;
        settings(&app, &paths)
    })
    .await
}

#[tauri::command]
pub async fn set_start_hidden<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> CommandResult<Settings> {
    let paths = context.paths.clone();
    off_main_thread(move || {
        crate::context::set_start_hidden(&paths, enabled).map_err(ShellError::SettingsWrite)?;
        settings(&app, &paths)
    })
    .await
}

/// The page has rendered the backend's state (`rows` containers listed): show the window, which
/// was kept hidden until then so no blank or stale page is ever seen.
#[tauri::command]
pub fn window_ready<R: Runtime>(window: tauri::WebviewWindow<R>, rows: usize) {
    tracing::info!(rows, "window rendered");
    crate::window::reveal(&window);
}

/// Opens a release-notes link: only an https URL that a container of the current report carries
/// (the core decides; docs/reliability.md#the-app).
#[tauri::command]
pub fn open_release_notes<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    url: String,
) -> CommandResult<()> {
    let link = context.monitor.state().release_notes_link(&url)?;
    app.opener()
        .open_url(link.as_str(), None::<&str>)
        .map_err(|e| ShellError::OpenFailed(e.to_string()))?;
    Ok(())
}

/// What updating `container` (an ID or name) on `engine` would do: the confirmation's content.
#[tauri::command]
pub async fn plan_update(
    context: State<'_, AppContext>,
    engine: String,
    container: String,
) -> CommandResult<UpdatePlan> {
    Ok(context.monitor.plan_update(&engine, &container).await?)
}

/// Applies the confirmed plan of `container` (the plan's container ID); progress follows in the state.
#[tauri::command]
pub async fn start_update(
    context: State<'_, AppContext>,
    engine: String,
    container: String,
) -> CommandResult<MonitorState> {
    context.monitor.start_update(&engine, &container).await?;
    Ok(context.monitor.state())
}

/// Rolls back the last update of `container` (an ID or name); progress follows in the state.
#[tauri::command]
pub async fn roll_back(
    context: State<'_, AppContext>,
    engine: String,
    container: String,
) -> CommandResult<MonitorState> {
    context.monitor.start_rollback(&engine, &container).await?;
    Ok(context.monitor.state())
}
