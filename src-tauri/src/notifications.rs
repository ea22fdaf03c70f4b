//! Native notifications (notify-rust, the desktop's notification server over D-Bus): what the
//! core's `announcements` and `outcome_notice` say, text already escaped for markup. Clicking one
//! opens the window at that container where the server supports actions; a new version's
//! "Update" action opens the window at that update's confirmation. The wait for a click ends
//! after `CLICK_WAIT`, so no notification holds a task forever.

use tauri::{AppHandle, Runtime};
use tidewatch_core::monitor::{announcements, outcome_notice, Announcement, NewUpdate, CLICK_WAIT};
use tidewatch_core::update::UpdateOutcome;

use crate::window::{self, Intent};

pub fn announce<R: Runtime>(app: &AppHandle<R>, updates: &[NewUpdate]) {
    for announcement in announcements(updates) {
        show(app, announcement);
    }
}

/// What an automatic update did: applied, or rolled back and why.
pub fn announce_outcome<R: Runtime>(app: &AppHandle<R>, outcome: &UpdateOutcome) {
    show(app, outcome_notice(outcome));
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
        // "Update" opens the window at the confirmation rather than updating from here: it
        // shows what a notification cannot (what is recreated, the downtime) before anything
        // is touched (docs/updates.md#in-the-app).
        if announcement.update_on.is_some() {
            notification.action("update", "Update");
        }
        match notification.show_async().await {
            Ok(handle) => {
                #[cfg(all(unix, not(target_os = "macos")))]
                {
                    let waited = tokio::time::timeout(
                        CLICK_WAIT,
                        handle.wait_for_action_async(|response| match response {
                            notify_rust::NotificationResponse::Default => {
                                open_at(&app, announcement.container_id.as_deref());
                            }
                            notify_rust::NotificationResponse::Action(action) if action == "update" => {
                                if let (Some(engine), Some(id)) = (&announcement.update_on, &announcement.container_id)
                                {
                                    confirm_update(&app, engine, id);
                                }
                            }
                            _ => {}
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
    let intent = match container_id {
        Some(id) => Intent::FocusContainer { id: id.to_string() },
        None => Intent::ShowUpdates,
    };
    window::show(app, Some(intent));
}

/// The notification's "Update": the window, at that update's confirmation.
fn confirm_update<R: Runtime>(app: &AppHandle<R>, engine: &str, container_id: &str) {
    window::show(
        app,
        Some(Intent::ConfirmUpdate {
            engine: engine.to_string(),
            id: container_id.to_string(),
        }),
    );
}
