//! The tray icon: the status glance (icon and tooltip per state) and its menu, which follows the
//! monitor's state.

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tidewatch_core::monitor::{Monitor, MonitorState, TrayStatus};

use crate::window::{self, Intent};

pub const TRAY_ID: &str = "tidewatch";

/// The menu items whose text or state changes, kept so they can be updated in place.
pub struct TrayMenu<R: Runtime> {
    updates: MenuItem<R>,
    last_check: MenuItem<R>,
    pause: CheckMenuItem<R>,
}

fn icon(status: TrayStatus) -> Image<'static> {
    match status {
        TrayStatus::UpToDate => tauri::include_image!("icons/tray-up_to_date.png"),
        TrayStatus::Updates => tauri::include_image!("icons/tray-updates.png"),
        TrayStatus::Errors => tauri::include_image!("icons/tray-errors.png"),
        TrayStatus::Checking => tauri::include_image!("icons/tray-checking.png"),
        TrayStatus::Paused => tauri::include_image!("icons/tray-paused.png"),
    }
}

pub fn create<R: Runtime>(app: &AppHandle<R>, monitor: &Monitor) -> tauri::Result<()> {
    let updates = MenuItem::with_id(app, "updates", "No updates available", false, None::<&str>)?;
    let check = MenuItem::with_id(app, "check", "Check now", true, None::<&str>)?;
    let last_check = MenuItem::with_id(app, "last-check", "Not checked yet", false, None::<&str>)?;
    let pause = CheckMenuItem::with_id(app, "pause", "Pause checks", true, false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open Tidewatch", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let separator2 = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &updates,
            &check,
            &last_check,
            &separator,
            &pause,
            &open,
            &separator2,
            &quit,
        ],
    )?;
    app.manage(TrayMenu {
        updates,
        last_check,
        pause,
    });

    let monitor = monitor.clone();
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(TrayStatus::UpToDate))
        .tooltip("Tidewatch")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "updates" => window::show(app, Some(Intent::ShowUpdates)),
            "check" => monitor.check_now(),
            "pause" => monitor.set_paused(!monitor.is_paused()),
            "open" => window::show(app, None),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)?;
    Ok(())
}

/// Makes the tray follow the monitor's state (its words come from the core's view).
pub fn show_state<R: Runtime>(app: &AppHandle<R>, state: &MonitorState) {
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_icon(Some(icon(state.tray)));
        let _ = tray.set_tooltip(Some(state.tooltip()));
    }
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        let _ = menu.updates.set_text(state.updates_label());
        let _ = menu.updates.set_enabled(state.updates > 0);
        if let Some(label) = state.last_check_label() {
            let _ = menu.last_check.set_text(label);
        }
        let _ = menu.pause.set_checked(state.is_paused());
    }
}
