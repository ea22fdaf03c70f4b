//! The desktop shell: window, tray and thin commands over `tidewatch-core`.

mod commands;
mod tray;

use tauri::{Manager, WindowEvent};

/// The app with its commands registered, so tests (`tauri::test`) build the same app as `run`.
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new().invoke_handler(tauri::generate_handler![commands::app_info, commands::list_containers])
}

pub fn run() {
    tidewatch_core::init_crypto();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tidewatch=info".into()),
        )
        .init();
    builder::<tauri::Wry>()
        .setup(|app| {
            tray::create(app.handle())?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Tidewatch watching from the tray; Quit is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.app_handle().tray_by_id(tray::TRAY_ID).is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .run(tauri::generate_context!())
        .unwrap_or_else(|error| {
            eprintln!("tidewatch: the app could not start: {error}");
            std::process::exit(1);
        });
}
