//! Tauri commands: parse, call the core, map the error. Nothing else lives here.

use std::str::FromStr;

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_opener::OpenerExt as _;
use tidewatch_core::config::{Config, ConfigStore, EngineConfig};
use tidewatch_core::credentials::Secret;
use tidewatch_core::engine::Engine;
use tidewatch_core::mirror::Endpoint;
use tidewatch_core::monitor::MonitorState;
use tidewatch_core::reference::Reference;
use tidewatch_core::store::{ResultError, SavedLogin};
use tidewatch_core::{engine, login};

use crate::context::AppContext;

/// What the UI receives when a command fails: a stable `code` to act on, a `message` to show.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

impl CommandError {
    fn new(code: &str, message: impl ToString) -> Self {
        CommandError {
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

macro_rules! command_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for CommandError {
            fn from(error: $error) -> Self {
                CommandError::new(error.code(), error)
            }
        }
    )*};
}
command_error_from!(tidewatch_core::config::ConfigError, login::LoginError);

impl From<tidewatch_core::reference::ReferenceError> for CommandError {
    fn from(error: tidewatch_core::reference::ReferenceError) -> Self {
        CommandError::new("invalid_reference", error)
    }
}

impl From<engine::EngineError> for CommandError {
    fn from(error: engine::EngineError) -> Self {
        let ResultError { code, message } = tidewatch_core::checker::engine_error(&error);
        CommandError { code, message }
    }
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
    pub credentials: Vec<SavedLogin>,
    pub config_path: String,
    pub config_error: Option<CommandError>,
    pub autostart: bool,
    /// Whether a launch at login starts in the tray without the window.
    pub start_hidden: bool,
}

fn settings<R: Runtime>(app: &AppHandle<R>, context: &AppContext) -> Result<Settings, CommandError> {
    let loaded = ConfigStore::new(context.paths.config.clone()).load();
    Ok(Settings {
        config: loaded.config,
        credentials: login::saved_logins(&context.paths.database)?,
        config_path: context.paths.config.display().to_string(),
        config_error: loaded.error.map(CommandError::from),
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        start_hidden: crate::context::start_hidden(&context.paths),
    })
}

#[tauri::command]
pub fn get_settings<R: Runtime>(app: AppHandle<R>, context: State<'_, AppContext>) -> Result<Settings, CommandError> {
    settings(&app, &context)
}

#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    config: Config,
) -> Result<Settings, CommandError> {
    let mut store = ConfigStore::new(context.paths.config.clone());
    store.load();
    store.save(&config)?;
    context.monitor.config_changed();
    settings(&app, &context)
}

#[derive(Debug, Serialize)]
pub struct EngineTest {
    pub api_version: String,
}

#[tauri::command]
pub async fn test_engine(engine: EngineConfig) -> Result<EngineTest, CommandError> {
    let connected = Engine::connect(&engine.name, &engine.host).await?;
    Ok(EngineTest {
        api_version: connected.api_version(),
    })
}

#[tauri::command]
pub async fn save_credential<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    registry: String,
    username: String,
    password: String,
) -> Result<Settings, CommandError> {
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
    context.monitor.config_changed(); // drop cached tokens: the next check uses the new login
    settings(&app, &context)
}

#[tauri::command]
pub fn delete_credential<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    registry: String,
) -> Result<Settings, CommandError> {
    login::remove_login(&registry, &context.paths.database)?;
    context.monitor.config_changed();
    settings(&app, &context)
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub upstream: String,
    pub endpoints: Vec<Endpoint>,
    pub steps: Vec<String>,
}

#[tauri::command]
pub fn explain(context: State<'_, AppContext>, reference: String) -> Result<Explanation, CommandError> {
    let config = ConfigStore::new(context.paths.config.clone()).load().config;
    let (parsed, mut steps) = Reference::parse_explained(&reference)?;
    let resolver = config
        .mirror_resolver(&[])
        .map_err(|e| CommandError::new("config_mirror_rule", e))?;
    let resolution = resolver.resolve(&parsed);
    steps.extend(resolution.steps);
    Ok(Explanation {
        upstream: resolution.upstream.to_string(),
        endpoints: resolution.endpoints,
        steps,
    })
}

#[tauri::command]
pub fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> Result<Settings, CommandError> {
    let autolaunch = app.autolaunch();
    let result = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    result.map_err(|e| CommandError::new("autostart", format!("cannot change the login item: {e}")))?;
    settings(&app, &context)
}

#[tauri::command]
pub fn set_start_hidden<R: Runtime>(
    app: AppHandle<R>,
    context: State<'_, AppContext>,
    enabled: bool,
) -> Result<Settings, CommandError> {
    crate::context::set_start_hidden(&context.paths, enabled)
        .map_err(|e| CommandError::new("settings_write", format!("cannot save the start-hidden choice: {e}")))?;
    settings(&app, &context)
}

#[tauri::command]
pub fn open_release_notes<R: Runtime>(app: AppHandle<R>, url: String) -> Result<(), CommandError> {
    let parsed =
        url::Url::from_str(&url).map_err(|e| CommandError::new("invalid_url", format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(CommandError::new("invalid_url", "only http and https links are opened"));
    }
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|e| CommandError::new("open_failed", format!("cannot open the browser: {e}")))
}
