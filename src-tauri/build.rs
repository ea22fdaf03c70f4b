/// The app's own commands are declared so that capabilities must grant each one by name: the
/// window gets exactly these and the event listening it needs, nothing else.
const COMMANDS: &[&str] = &[
    "app_info",
    "get_state",
    "check_now",
    "set_paused",
    "get_settings",
    "save_settings",
    "test_engine",
    "save_credential",
    "delete_credential",
    "explain",
    "set_autostart",
    "set_start_hidden",
    "open_release_notes",
    "plan_update",
    "start_update",
    "roll_back",
    "window_ready",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build configuration");
}
