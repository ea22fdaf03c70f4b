//! Native notifications (notify-rust, the desktop's notification server over D-Bus): what the
//! core's `announcements` say, text already escaped for markup. Clicking one opens the window at
//! that container where the server supports actions; the wait for that click ends after
//! `CLICK_WAIT`, so no notification holds a task forever.

use tauri::{AppHandle, Emitter, Runtime};
use tidewatch_core::monitor::{announcements, Announcement, NewUpdate, CLICK_WAIT};

use crate::tray::show_main_window;

pub fn announce<R: Runtime>(app: &AppHandle<R>, updates: &[NewUpdate]) {
    for announcement in announcements(updates) {
        show(app, announcement);
    }
}

fn show<R: Runtime>(app: &AppHandle<R>, announcement: Announcement) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Tidewatch")
            .summary(&announcement.summary)
            .body(&announcement.body)
            .icon("software-update-available");
        notification.action("default", "Open");
        match notification.show_async().await {
            Ok(handle) => {
                #[cfg(all(unix, not(target_os = "macos")))]
                {
                    let waited = tokio::time::timeout(
                        CLICK_WAIT,
                        handle.wait_for_action_async(|response| {
                            if matches!(response, notify_rust::NotificationResponse::Default) {
                                open_at(&app, announcement.container_id.as_deref());
                            }
                        }),
                    )
                    .await;
                    if waited.is_err() {
                        tracing::debug!("stopped waiting for a click on a notification");
                    }
                }
                #[cfg(not(all(unix, not(target_os = "macos"))))]
                let _ = (handle, &app);
            }
            Err(error) => tracing::warn!("cannot show a notification (is a notification server running?): {error}"),
        }
    });
}

/// A click: the window, at the container the notification was about (or the updates list).
fn open_at<R: Runtime>(app: &AppHandle<R>, container_id: Option<&str>) {
    show_main_window(app);
    match container_id {
        Some(id) => {
            let _ = app.emit("focus-container", serde_json::json!({ "id": id }));
        }
        None => {
            let _ = app.emit("show-updates", ());
        }
    }
}
