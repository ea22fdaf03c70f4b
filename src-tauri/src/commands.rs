//! Tauri commands: parse, call the core, map the error. Nothing else lives here.

use std::str::FromStr;

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_opener::OpenerExt as _;
use tidewatch_core::config::{Config, ConfigStore, EngineConfig, Revision};
use tidewatch_core::credentials::Secret;
use tidewatch_core::engine::EngineInfo;
use tidewatch_core::error::{Coded, ErrorInfo};
use tidewatch_core::explain::Explanation;
use tidewatch_core::monitor::MonitorState;
use tidewatch_core::registries_conf::ContainersMirrors;
use tidewatch_core::store::SavedLogin;
use tidewatch_core::{engine, explain, login};

use crate::context::AppContext;

/// What only the shell can get wrong: the login item, its own preference file, the browser.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot change the login item: {0}")]
    Autostart(String),
    #[error("cannot save the start-hidden choice: {0}")]
    SettingsWrite(std::io::Error),
    #[error("{0}")]
    InvalidUrl(String),
    #[error("cannot open the browser: {0}")]
    OpenFailed(String),
}

impl Coded for ShellError {
    fn code(&self) -> &'static str {
        match self {
            ShellError::Autostart(_) => "autostart",
            ShellError::SettingsWrite(_) => "settings_write",
            ShellError::InvalidUrl(_) => "invalid_url",
            ShellError::OpenFailed(_) => "open_failed",
        }
    }
}

/// Every command's error: `{code, message}` (the core's one convention).
type CommandResult<T> = Result<T, ErrorInfo>;

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

fn settings<R: Runtime>(app: &AppHandle<R>, context: &AppContext) -> CommandResult<Settings> {
    let loaded = ConfigStore::new(context.paths.config.clone()).load();
    Ok(Settings {
        config: loaded.config,
        config_revision: loaded.revision,
        containers_mirrors: ContainersMirrors::load(),
        credentials: login::saved_logins(&context.paths.database)?,
        config_path: context.paths.config.display().to_string(),
        config_error: loaded.error.map(ErrorInfo::from),
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        start_hidden: crate::context::start_hidden(&context.paths),
    })
}

#[tauri::command]
pub fn get_settings<R: Runtime>(app: AppHandle<R>, context: State<'_, AppContext>) -> CommandResult<Settings> {
    settings(&app, &context)
}

/// Saves `config` over the file read at `revision`; without a revision (the user chose to replace
/// another program's change), over whatever the file holds now.
#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    config: Config,
    revision: Option<Revision>,
) -> CommandResult<Settings> {
    let mut store = ConfigStore::new(context.paths.config.clone());
    store.save(&config, revision.as_ref())?;
    context.monitor.config_changed();
    settings(&app, &context)
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
    let config = ConfigStore::new(context.paths.config.clone()).load().config;
    let registry_settings = config.registry_settings(&registry);
    login::save_login(
        &registry,
        registry_settings,
        &username,
        Secret::new(password),
        &context.paths.database,
    )
    .await?;
    context.monitor.credentials_changed();
    settings(&app, &context)
}

#[tauri::command]
pub fn delete_credential<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    registry: String,
) -> CommandResult<Settings> {
    login::remove_login(&registry, &context.paths.database)?;
    context.monitor.credentials_changed();
    settings(&app, &context)
}

#[tauri::command]
pub fn explain(context: State<'_, AppContext>, reference: String) -> CommandResult<Explanation> {
    Ok(explain::explain(&context.paths.config, &reference)?)
}

#[tauri::command]
pub fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> CommandResult<Settings> {
    let autolaunch = app.autolaunch();
    let result = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    result.map_err(|e| ShellError::Autostart(e.to_string()))?;
    settings(&app, &context)
}

#[tauri::command]
pub fn set_start_hidden<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> CommandResult<Settings> {
    crate::context::set_start_hidden(&context.paths, enabled).map_err(ShellError::SettingsWrite)?;
    settings(&app, &context)
}

#[tauri::command]
pub fn open_release_notes<R: Runtime>(app: AppHandle<R>, url: String) -> CommandResult<()> {
    let parsed = url::Url::from_str(&url).map_err(|e| ShellError::InvalidUrl(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(ShellError::InvalidUrl("only http and https links are opened".into()).into());
    }
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|e| ShellError::OpenFailed(e.to_string()))?;
    Ok(())
}
