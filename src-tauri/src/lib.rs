//! The desktop shell: window (only while open), tray, notifications and thin commands over
//! `tidewatch-core`'s monitor (the background service) and settings.

mod commands;
mod context;
mod notifications;
mod tray;
mod window;

use std::sync::Arc;

use tauri::{Emitter, Manager, RunEvent, WindowEvent};
use tauri_plugin_autostart::MacosLauncher;
use tidewatch_core::monitor::{Monitor, MonitorEvents, MonitorState, NewUpdate};
use tidewatch_core::update::UpdateOutcome;

pub use context::AppContext;

/// Passed by the login item: start in the tray without showing the window.
pub const HIDDEN_FLAG: &str = "--hidden";

/// Registers the app's commands and the plugins they use, so tests (`tauri::test`'s mock
/// builder) get the same IPC surface as `run`.
pub fn with_commands<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_FLAG]),
        ))
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::get_state,
            commands::check_now,
            commands::set_paused,
            commands::get_settings,
            commands::save_settings,
            commands::test_engine,
            commands::save_credential,
            commands::delete_credential,
            commands::explain,
            commands::set_autostart,
            commands::set_start_hidden,
            commands::open_release_notes,
            commands::plan_update,
            commands::start_update,
            commands::roll_back,
            commands::window_ready,
        ])
}

/// Forwards the monitor's events to the window, the tray and the notification server.
struct ShellEvents<R: tauri::Runtime> {
    app: tauri::AppHandle<R>,
}

impl<R: tauri::Runtime> MonitorEvents for ShellEvents<R> {
    fn state_changed(&self, state: &MonitorState) {
        tray::show_state(&self.app, state);
        let _ = self.app.emit("state-changed", state);
    }

    fn new_updates(&self, updates: &[NewUpdate]) {
        notifications::announce(&self.app, updates);
    }

    fn update_finished(&self, outcome: &UpdateOutcome, automatic: bool) {
        // The user watched the ones they started in the window; the automatic ones are said.
        if automatic {
            notifications::announce_outcome(&self.app, outcome);
        }
    }
}

pub fn run() {
    tidewatch_core::init_crypto();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let start_hidden = std::env::args().any(|a| a == HIDDEN_FLAG);
    // A second launch shows the running instance's window instead of starting another.
    let single_instance = tauri_plugin_single_instance::init(|app, _args, _cwd| window::show(app, None));
    let app = with_commands(tauri::Builder::<tauri::Wry>::default().plugin(single_instance))
        .setup(move |app| {
            let handle = app.handle().clone();
            let paths = match context::default_paths() {
                Ok(paths) => paths,
                Err(message) => {
                    eprintln!("tidewatch: {message}");
                    std::process::exit(1);
                }
            };
            let monitor = Monitor::new(paths.clone(), Arc::new(ShellEvents { app: handle.clone() }));
            app.manage(AppContext::new(paths.clone(), monitor.clone()));
            tray::create(&handle, &monitor)?;
            tracing::info!("tray icon ready");
            tauri::async_runtime::spawn(monitor.run());
            // Started at login to sit in the tray: no window, so no web view, until it is opened.
            if !(start_hidden && context::start_hidden(&paths)) {
                window::show(&handle, None);
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window destroys it and its web view; Tidewatch keeps watching from the
            // tray (the exit this would cause is refused below). Quit is in the tray menu.
            if let WindowEvent::Destroyed = event {
                tracing::info!(window = window.label(), "window closed; its web view is released");
                window::release_web_helpers(window.app_handle());
            }
        })
        .build(tauri::generate_context!())
        .unwrap_or_else(|error| {
            eprintln!("tidewatch: the app could not start: {error}");
            std::process::exit(1);
        });
    app.run(|app, event| {
        // The last window closing asks to exit (without a code); with a tray icon to come back
        // from, stay. Quit (`app.exit(0)`) carries a code and ends the app.
        if let RunEvent::ExitRequested { code: None, api, .. } = event {
            if app.tray_by_id(tray::TRAY_ID).is_some() {
                api.prevent_exit();
            }
        }
    });
}
