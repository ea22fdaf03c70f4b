//! The main window, which exists only while it is open: closing it to the tray destroys its web
//! view (the web content processes and their memory go with it), and opening it creates a new
//! one, kept hidden until the page has rendered the backend's state, so nothing stale or blank
//! is ever shown (docs/benchmarks.md#the-desktop-app).

use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewWindow, WebviewWindowBuilder};

pub const MAIN: &str = "main";

/// Shown anyway this long after creation if the page never says it rendered (a broken page
/// must not leave the user clicking "Open" with nothing happening).
const REVEAL_FALLBACK: Duration = Duration::from_secs(5);

/// What the window should show when it opens, beyond the list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// The list filtered to updates (the tray's "N updates available", a summary notification).
    ShowUpdates,
    /// One container's details (a notification about it).
    FocusContainer { id: String },
    /// One update's confirmation (a notification's "Update" action).
    ConfirmUpdate { engine: String, id: String },
}

impl Intent {
    /// Tells an open window; a window being created reads it from its initialization script.
    fn emit<R: Runtime>(&self, app: &AppHandle<R>) {
        let _ = match self {
            Intent::ShowUpdates => app.emit("show-updates", ()),
            Intent::FocusContainer { id } => app.emit("focus-container", serde_json::json!({ "id": id })),
            Intent::ConfirmUpdate { engine, id } => {
                app.emit("confirm-update", serde_json::json!({ "engine": engine, "id": id }))
            }
        };
    }
}

/// Shows the window, creating it when it was closed (or never opened), then applies `intent`.
pub fn show<R: Runtime>(app: &AppHandle<R>, intent: Option<Intent>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
        if let Some(intent) = intent {
            intent.emit(app);
        }
        return;
    }
    if let Err(error) = create(app, intent.as_ref()) {
        tracing::error!("cannot open the window: {error}");
    }
}

/// Creates the window hidden; the page calls `window_ready` once it has rendered, which
/// [`reveal`]s it.
fn create<R: Runtime>(app: &AppHandle<R>, intent: Option<&Intent>) -> tauri::Result<()> {
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN).cloned() else {
        return Err(tauri::Error::WindowNotFound);
    };
    let mut builder = WebviewWindowBuilder::from_config(app, &config)?.visible(false);
    if let Some(intent) = intent {
        let json = serde_json::to_string(intent).unwrap_or_else(|_| "null".into());
        builder = builder.initialization_script(format!("window.__TIDEWATCH_INTENT__ = {json};"));
    }
    let window = builder.build()?;
    tracing::info!("window created");
    let fallback = window.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(REVEAL_FALLBACK).await;
        if fallback.is_visible().is_ok_and(|visible| !visible) {
            tracing::warn!("the page did not report rendering; showing the window anyway");
            reveal(&fallback);
        }
    });
    Ok(())
}

/// After the window closed: gives back what its web view left behind. WebKitGTK keeps its
/// network process for the whole life of the app even with no web view left (Tauri keeps the
/// web context alive on Linux), so it is ended here and WebKit starts a new one when the window
/// opens again; the window loads only the app's own assets, so nothing of value lives there
/// (docs/benchmarks.md#the-desktop-app). Then freed heap goes back to the system.
pub fn release_web_helpers<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // The web content process exits on its own once the view is gone; let it go first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !app.webview_windows().is_empty() {
            return;
        }
        #[cfg(target_os = "linux")]
        linux::end_network_process();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free heap pages to the system.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}

#[cfg(target_os = "linux")]
mod linux {
    /// Sends SIGTERM to this process's WebKitNetworkProcess children.
    pub fn end_network_process() {
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = &stat[open + 1..close];
            let ppid = stat[close + 1..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(me) && comm.starts_with("WebKitNetworkPr") {
                tracing::info!(pid, "ending the web view's network process");
                // SAFETY: a signal to our own child process.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }
}

/// Makes a rendered window visible and focused.
pub fn reveal<R: Runtime>(window: &WebviewWindow<R>) {
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}
