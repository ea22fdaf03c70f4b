//! Native notifications (notify-rust, the desktop's notification server over D-Bus): one per
//! newly found update, or one summary when a check finds many. Clicking one opens the window at
//! that container where the server supports actions.

use tauri::{AppHandle, Emitter, Runtime};
use tidewatch_core::monitor::{NewUpdate, SUMMARY_THRESHOLD};

use crate::tray::show_main_window;

pub fn announce<R: Runtime>(app: &AppHandle<R>, updates: &[NewUpdate]) {
    if updates.len() > SUMMARY_THRESHOLD {
        let names: Vec<&str> = updates.iter().take(5).map(|u| u.name.as_str()).collect();
        let more = updates.len().saturating_sub(names.len());
        let body = if more > 0 {
            format!("{} and {more} more", names.join(", "))
        } else {
            names.join(", ")
        };
        show(app, format!("{} updates available", updates.len()), body, None);
    } else {
        for update in updates {
            show(
                app,
                format!("Update for {}", update.name),
                format!(
                    "{} → {} ({})\n{}",
                    update.current, update.new, update.kind, update.image
                ),
                update.container_id.clone(),
            );
        }
    }
}

fn show<R: Runtime>(app: &AppHandle<R>, summary: String, body: String, container_id: Option<String>) {
    let app = app.clone();
    // Showing and waiting for a click block on D-Bus: keep them off the async runtime.
    std::thread::spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Tidewatch")
            .summary(&summary)
            .body(&body)
            .icon("software-update-available");
        notification.action("default", "Open");
        match notification.show() {
            Ok(handle) => {
                #[cfg(all(unix, not(target_os = "macos")))]
                handle.wait_for_action(|action| {
                    if action == "default" {
                        show_main_window(&app);
                        match &container_id {
                            Some(id) => {
                                let _ = app.emit("focus-container", serde_json::json!({ "id": id }));
                            }
                            None => {
                                let _ = app.emit("show-updates", ());
                            }
                        }
                    }
                });
                #[cfg(not(all(unix, not(target_os = "macos"))))]
                let _ = (handle, &app, &container_id);
            }
            Err(error) => tracing::warn!("cannot show a notification (is a notification server running?): {error}"),
        }
    });
}
