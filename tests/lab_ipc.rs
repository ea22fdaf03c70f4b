//! Every command over real IPC (`tauri::test`'s mock runtime), success and error shapes: what the
//! window receives. Registry and keyring calls go to the lab.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};
use tidewatch_app::AppContext;
use tidewatch_core::engine::model::ContainerCreateBody;
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_core::monitor::{Monitor, MonitorEvents, MonitorPaths, MonitorState, NewUpdate};
use tidewatch_lab::{containers, Lab};

struct Quiet;

impl MonitorEvents for Quiet {
    fn state_changed(&self, _: &MonitorState) {}
    fn new_updates(&self, _: &[NewUpdate]) {}
}

struct TestApp {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    home: tempfile::TempDir,
}

fn app() -> TestApp {
    let home = tempfile::tempdir().expect("temp dir");
    let paths = MonitorPaths {
        config: home.path().join("config.toml"),
        database: home.path().join("tidewatch.db"),
    };
    let app = tidewatch_app::with_commands(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("build the app");
    let monitor = Monitor::new(paths.clone(), Arc::new(Quiet));
    app.manage(AppContext::new(paths, monitor));
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("window");
    TestApp {
        _app: app,
        window,
        home,
    }
}

fn invoke(app: &TestApp, cmd: &str, args: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: "tauri://localhost".parse().expect("url"),
        body: tauri::ipc::InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(&app.window, request).map(|body| body.deserialize::<Value>().expect("JSON response"))
}

/// An error as the UI sees it: a stable code and a message to show.
fn error_shape(error: Value) -> (String, String) {
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error without a code: {error}"))
        .to_string();
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without a message: {error}"))
        .to_string();
    assert!(!message.is_empty());
    (code, message)
}

#[test]
fn app_info_names_the_version() {
    let app = app();
    assert_eq!(
        invoke(&app, "app_info", json!({})).unwrap()["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn state_pause_and_check_now_report_the_monitor_state() {
    let app = app();
    let state = invoke(&app, "get_state", json!({})).unwrap();
    assert_eq!(state["phase"], "idle");
    assert_eq!(state["report"], Value::Null);
    let paused = invoke(&app, "set_paused", json!({"paused": true})).unwrap();
    assert_eq!(paused["phase"], "paused");
    assert_eq!(paused["tray"], "paused");
    let resumed = invoke(&app, "set_paused", json!({"paused": false})).unwrap();
    assert_eq!(resumed["phase"], "idle");
    assert!(invoke(&app, "check_now", json!({})).unwrap()["phase"].is_string());
    let (code, _) = error_shape(invoke(&app, "set_paused", json!({})).unwrap_err_json());
    assert!(!code.is_empty());
}

trait ErrJson {
    fn unwrap_err_json(self) -> Value;
}

impl ErrJson for Result<Value, Value> {
    /// Tauri reports argument errors as a bare string; commands report `{code, message}`.
    fn unwrap_err_json(self) -> Value {
        match self.expect_err("the command should fail") {
            Value::String(message) => json!({"code": "invalid_arguments", "message": message}),
            other => other,
        }
    }
}

#[test]
fn settings_round_trip_and_invalid_settings_are_refused_with_a_message() {
    let app = app();
    let settings = invoke(&app, "get_settings", json!({})).unwrap();
    assert_eq!(settings["config"]["schedule"]["interval"], "6h");
    assert_eq!(settings["credentials"], json!([]));
    assert_eq!(settings["config_error"], Value::Null);

    let mut config = settings["config"].clone();
    config["engines"] = json!([{"name": "lab", "host": "unix:///var/run/docker.sock"}]);
    config["schedule"]["interval"] = json!("2h");
    let saved = invoke(
        &app,
        "save_settings",
        json!({"config": config, "revision": settings["config_revision"]}),
    )
    .unwrap();
    assert_eq!(saved["config"]["schedule"]["interval"], "2h");
    let text = std::fs::read_to_string(app.home.path().join("config.toml")).expect("config written");
    assert!(text.contains("interval = \"2h\""), "{text}");

    let mut bad = saved["config"].clone();
    bad["engines"] = json!([{"name": "x", "host": "ftp://nowhere"}]);
    let (code, message) = error_shape(invoke(&app, "save_settings", json!({"config": bad})).unwrap_err_json());
    assert_eq!(code, "config_invalid", "{message}");
    assert!(message.contains("ftp://"), "{message}");
    let kept = std::fs::read_to_string(app.home.path().join("config.toml")).unwrap();
    assert_eq!(kept, text, "a refused save leaves the file as it was");
}

#[test]
fn saving_settings_keeps_the_users_comments_and_refuses_a_file_changed_since_it_was_read() {
    let app = app();
    let path = app.home.path().join("config.toml");
    let original = "# my engines\n[[engines]]\nname = \"lab\"   # the lab's\nhost = \"unix:///var/run/docker.sock\"\n\n[schedule]\ninterval = \"360m\" # often enough\njitter = \"10m\"\n";
    std::fs::write(&path, original).unwrap();
    let settings = invoke(&app, "get_settings", json!({})).unwrap();
    let revision = settings["config_revision"].clone();
    assert!(revision.is_string(), "{settings}");

    let mut config = settings["config"].clone();
    config["schedule"]["jitter"] = json!("5m");
    let saved = invoke(&app, "save_settings", json!({"config": config, "revision": revision})).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        original.replace("jitter = \"10m\"", "jitter = \"5m\""),
        "only the changed key is edited"
    );

    // Another program edits the file: a save with the old revision writes nothing.
    let elsewhere = text.replace("360m", "2h");
    std::fs::write(&path, &elsewhere).unwrap();
    let mut mine = saved["config"].clone();
    mine["notifications"]["enabled"] = json!(false);
    let (code, message) = error_shape(
        invoke(
            &app,
            "save_settings",
            json!({"config": mine, "revision": saved["config_revision"]}),
        )
        .unwrap_err_json(),
    );
    assert_eq!(code, "config_changed", "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), elsewhere);

    // Saving over it is the user's choice (no revision); still an edit in place.
    invoke(&app, "save_settings", json!({"config": mine, "revision": null})).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# my engines\n[[engines]]\nname = \"lab\"   # the lab's\n"),
        "{text}"
    );
    assert!(text.contains("enabled = false"), "{text}");
}

#[test]
fn settings_list_the_mirrors_of_registries_conf() {
    let app = app();
    let conf = app.home.path().join("registries.conf");
    std::fs::write(
        &conf,
        "[[registry]]\nprefix = \"registry.podman-ipc.example\"\nlocation = \"registry.podman-ipc.example\"\n[[registry.mirror]]\nlocation = \"cache.podman-ipc.example/hub\"\n",
    )
    .unwrap();
    // Only this test's names are in the file, so other tests reading it meanwhile are unaffected.
    std::env::set_var("CONTAINERS_REGISTRIES_CONF", &conf);
    let settings = invoke(&app, "get_settings", json!({})).unwrap();
    let mirrors = &settings["containers_mirrors"]["mirrors"];
    assert_eq!(mirrors[0]["mirror"], "cache.podman-ipc.example/hub", "{settings}");
    assert_eq!(mirrors[0]["upstream"], "registry.podman-ipc.example");
    assert_eq!(mirrors[0]["kind"], "mirror");
    assert_eq!(mirrors[0]["source"], conf.display().to_string());
    let explained = invoke(
        &app,
        "explain",
        json!({"reference": "registry.podman-ipc.example/team/app:1"}),
    )
    .unwrap();
    assert_eq!(
        explained["endpoints"][0]["registry"], "cache.podman-ipc.example",
        "{explained}"
    );
    assert_eq!(explained["endpoints"][1]["role"], "upstream");
}

#[test]
fn explain_shows_the_resolution_and_refuses_bad_references() {
    let app = app();
    let explained = invoke(
        &app,
        "explain",
        json!({"reference": "docker.m.daocloud.io/library/nginx:1.25"}),
    )
    .unwrap();
    assert_eq!(explained["upstream"], "docker.io/library/nginx:1.25");
    assert!(explained["normalization"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(explained["resolution"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(explained["endpoints"].as_array().is_some_and(|e| !e.is_empty()));
    let (code, message) =
        error_shape(invoke(&app, "explain", json!({"reference": "Not A Reference"})).unwrap_err_json());
    assert_eq!(code, "invalid_reference", "{message}");

    // The preview explains the configuration's rules: a broken file is said, never replaced by defaults.
    std::fs::write(app.home.path().join("config.toml"), "[[mirrors]]\nmirror = 3\n").unwrap();
    let (code, message) = error_shape(invoke(&app, "explain", json!({"reference": "nginx"})).unwrap_err_json());
    assert!(code.starts_with("config_"), "{code}: {message}");
    assert!(message.contains("config.toml"), "{message}");
}

#[test]
fn test_engine_reports_the_api_version_or_why_it_failed() {
    let lab = Lab::require();
    let app = app();
    let ok = invoke(
        &app,
        "test_engine",
        json!({"engine": {"name": "lab", "host": lab.docker_host()}}),
    )
    .unwrap();
    assert!(ok["api_version"].as_str().is_some_and(|v| v.starts_with("1.")), "{ok}");
    let (code, message) = error_shape(
        invoke(
            &app,
            "test_engine",
            json!({"engine": {"name": "gone", "host": "unix:///nonexistent.sock"}}),
        )
        .unwrap_err_json(),
    );
    assert!(code.starts_with("engine_"), "{code}: {message}");
    assert!(message.contains("gone"), "{message}");

    // A TLS engine is tried with the files the form sends, as a check would use them.
    let tls = app.home.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("ca.pem"), "pem").unwrap();
    std::fs::write(tls.join("cert.pem"), "pem").unwrap();
    let key = tls.join("key.pem");
    let (_, message) = error_shape(
        invoke(
            &app,
            "test_engine",
            json!({"engine": {
                "name": "remote",
                "host": "https://127.0.0.1:1",
                "tls_ca": tls.join("ca.pem"),
                "tls_cert": tls.join("cert.pem"),
                "tls_key": key,
            }}),
        )
        .unwrap_err_json(),
    );
    assert!(
        message.contains(&key.display().to_string()) && message.contains("tls_key"),
        "{message}"
    );
}

#[test]
fn credentials_are_verified_saved_listed_without_secret_and_deleted() {
    let lab = Lab::require();
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"));
    let app = app();
    let registry = lab.basic_registry();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER");
    let password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD");

    let wrong = "sentinel-wrong-password-7f3a";
    let (code, message) = error_shape(
        invoke(
            &app,
            "save_credential",
            json!({"registry": registry, "username": user, "password": wrong}),
        )
        .unwrap_err_json(),
    );
    assert_eq!(code, "auth_refused", "{message}");
    assert!(message.contains(user) && message.contains(registry), "{message}");
    assert!(!message.contains(wrong), "the password never appears in an error");

    let saved = invoke(
        &app,
        "save_credential",
        json!({"registry": registry, "username": user, "password": password}),
    )
    .unwrap();
    assert_eq!(saved["credentials"], json!([{"registry": registry, "username": user}]));
    assert!(
        !saved.to_string().contains(password),
        "the settings never carry the secret"
    );

    // The secrets audit, the app's side: no IPC answer and no file of the app holds the password.
    let state = invoke(&app, "get_state", json!({})).unwrap();
    let settings = invoke(&app, "get_settings", json!({})).unwrap();
    for answer in [&state, &settings] {
        assert!(
            !answer.to_string().contains(password),
            "an IPC answer holds the password"
        );
    }
    for entry in std::fs::read_dir(app.home.path()).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for secret in [password, wrong] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a password",
                entry.path().display()
            );
        }
    }

    let deleted = invoke(&app, "delete_credential", json!({"registry": registry})).unwrap();
    assert_eq!(deleted["credentials"], json!([]));
}

#[test]
fn start_hidden_and_autostart_are_saved() {
    let app = app();
    assert_eq!(invoke(&app, "get_settings", json!({})).unwrap()["start_hidden"], true);
    assert_eq!(
        invoke(&app, "set_start_hidden", json!({"enabled": false})).unwrap()["start_hidden"],
        false
    );
    assert_eq!(
        invoke(&app, "set_start_hidden", json!({"enabled": true})).unwrap()["start_hidden"],
        true
    );

    // The login item is an XDG autostart entry under $HOME; a temporary HOME keeps the
    // developer's session untouched (no other test here reads HOME).
    let home = tempfile::tempdir().expect("temp home");
    std::env::set_var("HOME", home.path());
    let enabled = invoke(&app, "set_autostart", json!({"enabled": true})).unwrap();
    assert_eq!(enabled["autostart"], true, "{enabled}");
    let entries: Vec<_> = std::fs::read_dir(home.path().join(".config/autostart"))
        .expect("an autostart entry was written")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        entries.iter().any(|e| e.contains("--hidden")),
        "the login item starts hidden: {entries:?}"
    );
    let disabled = invoke(&app, "set_autostart", json!({"enabled": false})).unwrap();
    assert_eq!(disabled["autostart"], false, "{disabled}");
    let (code, _) = error_shape(invoke(&app, "set_autostart", json!({})).unwrap_err_json());
    assert_eq!(code, "invalid_arguments");
}

#[test]
fn release_notes_open_only_links_of_the_report() {
    let app = app();
    for url in [
        "file:///etc/passwd",
        "not a url",
        "http://example.com/notes",
        "javascript:alert(1)",
    ] {
        let (code, message) = error_shape(invoke(&app, "open_release_notes", json!({ "url": url })).unwrap_err_json());
        assert_eq!(code, "invalid_url", "{url}: {message}");
    }
    // An https link no container of the current check carries is refused too: the window cannot
    // make the app open an arbitrary page.
    let (code, message) =
        error_shape(invoke(&app, "open_release_notes", json!({"url": "https://evil.example/notes"})).unwrap_err_json());
    assert_eq!(code, "link_not_in_report", "{message}");
}

// ---- Applying updates (docs/updates.md#in-the-app) ----

/// An app whose monitor runs (its first check starts at once) with the lab engine as `lab`.
fn app_on_lab(lab: &Lab) -> TestApp {
    // Its checks look credentials up in the lab's keyring (never the developer's session's).
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"));
    let app = app();
    std::fs::write(
        app.home.path().join("config.toml"),
        format!("[[engines]]\nname = \"lab\"\nhost = \"{}\"\n", lab.docker_host()),
    )
    .expect("write the config");
    let context = app.window.state::<AppContext>();
    tauri::async_runtime::spawn(context.monitor.clone().run());
    app
}

/// Starts a container from `image` as the user would (no command override, so the image's own
/// process and healthcheck run); returns its ID.
fn run_container(lab: &Lab, image: &str, name: &str) -> String {
    tauri::async_runtime::block_on(async {
        tidewatch_core::init_crypto();
        let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
            .await
            .expect("connect to the lab engine");
        containers::remove_container(engine.docker(), name).await;
        containers::pull(engine.docker(), image, None).await;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(HashMap::from([(containers::LAB_LABEL.to_string(), "1".to_string())])),
            ..Default::default()
        };
        let id = engine.create_container(name, body).await.expect("create the container");
        engine.start_container(&id).await.expect("start the container");
        id
    })
}

fn remove_container(lab: &Lab, name: &str) {
    tauri::async_runtime::block_on(async {
        let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
            .await
            .expect("connect to the lab engine");
        for summary in engine.container_summaries().await.unwrap_or_default() {
            let ours = summary
                .names
                .unwrap_or_default()
                .iter()
                .any(|n| n.trim_start_matches('/').starts_with(name));
            if ours {
                containers::remove_container(engine.docker(), &summary.id.unwrap_or_default()).await;
            }
        }
    })
}

fn image_of(lab: &Lab, name: &str) -> String {
    tauri::async_runtime::block_on(async {
        let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
            .await
            .expect("connect to the lab engine");
        let inspect = engine.inspect_container(name).await.expect("inspect the container");
        inspect.config.and_then(|c| c.image).unwrap_or_default()
    })
}

/// Polls the state until `found` returns something (at most `seconds`).
fn wait_for<T>(app: &TestApp, seconds: u64, what: &str, found: impl Fn(&Value) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let state = invoke(app, "get_state", json!({})).expect("get_state");
        if let Some(value) = found(&state) {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen; last state: {state}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// The container's row in the last check's report.
fn row(state: &Value, name: &str) -> Option<Value> {
    state["report"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

/// How the container's last update or rollback ended, once it has (from the state's own list,
/// which also holds containers the last check did not see).
fn ended(state: &Value, name: &str, action: &str) -> Option<Value> {
    state["activity"]
        .as_array()?
        .iter()
        .find(|a| a["container"] == name && a["running"].is_null() && a["outcome"]["action"] == action)
        .map(|a| a["outcome"].clone())
}

#[test]
fn an_update_is_planned_confirmed_applied_shown_in_the_row_and_rolled_back() {
    let lab = Lab::require();
    let name = format!("ipc-update-{}", std::process::id());
    let old = format!("{}/{}:1.0.0", lab.open_registry(), tidewatch_lab::FIXTURE_SERVICE);
    let id = run_container(&lab, &old, &name);
    let app = app_on_lab(&lab);
    let listed = wait_for(&app, 90, "a check listing the container", |s| {
        row(s, &name).filter(|r| r["status"] == "update_available")
    });
    assert_eq!(listed["can_update"], true, "{listed}");
    assert_eq!(listed["can_roll_back"], false, "{listed}");

    let plan = invoke(&app, "plan_update", json!({"engine": "lab", "container": id})).unwrap();
    assert_eq!(plan["container"], name.as_str(), "{plan}");
    assert_eq!(plan["container_id"], id.as_str(), "{plan}");
    assert_eq!(plan["current_version"], "1.0.0", "{plan}");
    assert_eq!(plan["target"]["version"], "1.1.0", "{plan}");
    assert_eq!(plan["method"], "recreate", "{plan}");
    assert_eq!(plan["dependents"], json!([]), "{plan}");
    assert_eq!(plan["downtime"]["healthcheck"], true, "{plan}");
    assert!(plan["downtime"]["stop_timeout_s"].as_u64().is_some(), "{plan}");
    assert_eq!(image_of(&lab, &name), old, "planning touches nothing");

    let started = invoke(&app, "start_update", json!({"engine": "lab", "container": id})).unwrap();
    let running = started["activity"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["container"] == name.as_str()).cloned())
        .unwrap_or_else(|| panic!("the update shows at once: {started}"));
    assert_eq!(running["running"], "update", "{running}");
    let (code, message) =
        error_shape(invoke(&app, "start_update", json!({"engine": "lab", "container": id})).unwrap_err_json());
    assert_eq!(
        code, "update_not_planned",
        "a confirmation starts one update: {message}"
    );

    let outcome = wait_for(&app, 180, "the update's end", |s| ended(s, &name, "update"));
    assert_eq!(outcome["status"], "updated", "{outcome}");
    assert_eq!(
        outcome["image_after"],
        format!("{}/{}:1.1.0", lab.open_registry(), tidewatch_lab::FIXTURE_SERVICE)
    );
    assert_eq!(image_of(&lab, &name), outcome["image_after"].as_str().unwrap());
    // The check that follows turns the row up to date, with Roll back offered.
    let updated = wait_for(&app, 90, "the row turning up to date", |s| {
        row(s, &name).filter(|r| r["status"] == "up_to_date" && r["can_roll_back"] == true)
    });
    assert_eq!(updated["activity"]["outcome"]["status"], "updated", "{updated}");
    assert_eq!(updated["can_update"], false, "{updated}");

    invoke(&app, "roll_back", json!({"engine": "lab", "container": name})).unwrap();
    let rolled = wait_for(&app, 180, "the rollback's end", |s| ended(s, &name, "rollback"));
    assert_eq!(rolled["status"], "updated", "{rolled}");
    assert_eq!(image_of(&lab, &name), old, "the rollback runs the old version again");
    wait_for(&app, 90, "the row showing the update again", |s| {
        row(s, &name).filter(|r| r["status"] == "update_available" && r["can_roll_back"] == false)
    });

    // A second rollback has nothing to go back to: said in the row, nothing touched.
    invoke(&app, "roll_back", json!({"engine": "lab", "container": name})).unwrap();
    let refused = wait_for(&app, 60, "the second rollback's refusal", |s| {
        ended(s, &name, "rollback").filter(|o| o["status"] != "updated")
    });
    assert_eq!(refused["status"], "refused", "{refused}");
    assert_eq!(refused["error"]["code"], "update_no_rollback", "{refused}");
    assert_eq!(image_of(&lab, &name), old);
    remove_container(&lab, &name);
}

#[test]
fn update_commands_refuse_unknown_containers_engines_and_unconfirmed_updates() {
    let lab = Lab::require();
    let app = app_on_lab(&lab);
    let ask = |cmd: &str, engine: &str, container: &str| {
        error_shape(invoke(&app, cmd, json!({"engine": engine, "container": container})).unwrap_err_json())
    };
    let (code, message) = ask("plan_update", "lab", "0123456789abcdef-no-such-container");
    assert_eq!(code, "update_no_such_container", "{message}");
    assert!(message.contains("0123456789abcdef-no-such-container"), "{message}");
    let (code, message) = ask("plan_update", "nowhere", "web");
    assert_eq!(code, "update_unknown_engine", "{message}");
    assert!(message.contains("nowhere"), "{message}");
    let (code, message) = ask("start_update", "lab", "0123456789abcdef");
    assert_eq!(
        code, "update_not_planned",
        "nothing runs without a confirmed plan: {message}"
    );
    let (code, message) = ask("roll_back", "lab", "no-such-container-here");
    assert_eq!(code, "update_no_such_container", "{message}");
    let (code, _) = error_shape(invoke(&app, "plan_update", json!({"engine": "lab"})).unwrap_err_json());
    assert_eq!(code, "invalid_arguments");

    // An engine gone between the confirmation and the start: said, nothing started.
    let name = format!("ipc-engine-gone-{}", std::process::id());
    let id = run_container(
        &lab,
        &format!("{}/{}:1.0.0", lab.open_registry(), tidewatch_lab::FIXTURE_PLAIN),
        &name,
    );
    invoke(&app, "plan_update", json!({"engine": "lab", "container": id})).unwrap();
    std::fs::write(
        app.home.path().join("config.toml"),
        "[[engines]]\nname = \"lab\"\nhost = \"unix:///nonexistent/docker.sock\"\n",
    )
    .unwrap();
    let (code, message) = ask("start_update", "lab", &id);
    assert!(code.starts_with("engine_"), "{code}: {message}");
    let state = invoke(&app, "get_state", json!({})).unwrap();
    assert!(
        !state["activity"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["container"] == name.as_str())),
        "nothing started: {state}"
    );
    assert_eq!(
        image_of(&lab, &name),
        format!("{}/{}:1.0.0", lab.open_registry(), tidewatch_lab::FIXTURE_PLAIN)
    );
    remove_container(&lab, &name);

    // An engine that does not answer is said as such, naming it.
    std::fs::write(
        app.home.path().join("config.toml"),
        "[[engines]]\nname = \"gone\"\nhost = \"unix:///nonexistent/docker.sock\"\n",
    )
    .unwrap();
    let (code, message) = ask("plan_update", "gone", "web");
    assert!(code.starts_with("engine_"), "{code}: {message}");
    assert!(message.contains("gone") || message.contains("nonexistent"), "{message}");
}

#[test]
fn a_container_removed_between_confirmation_and_update_ends_with_nothing_changed_and_a_clean_journal() {
    let lab = Lab::require();
    let name = format!("ipc-removed-{}", std::process::id());
    let id = run_container(
        &lab,
        &format!("{}/{}:1.0.0", lab.open_registry(), tidewatch_lab::FIXTURE_PLAIN),
        &name,
    );
    let app = app_on_lab(&lab);
    let plan = invoke(&app, "plan_update", json!({"engine": "lab", "container": name})).unwrap();
    assert_eq!(plan["container_id"], id.as_str(), "{plan}");
    remove_container(&lab, &name);

    invoke(&app, "start_update", json!({"engine": "lab", "container": id})).unwrap();
    let outcome = wait_for(&app, 90, "the update's end", |s| ended(s, &name, "update"));
    assert_eq!(outcome["status"], "failed", "{outcome}");
    let (code, message) = error_shape(outcome["error"].clone());
    assert!(
        code == "update_no_such_container" || code == "update_changed_since_plan",
        "{code}: {message}"
    );
    let store = tidewatch_core::store::Store::open(&app.home.path().join("tidewatch.db")).expect("open the store");
    assert_eq!(
        store.journal_entries().expect("read the journal"),
        vec![],
        "nothing left to recover"
    );
}

#[test]
fn the_automatic_update_default_is_off_and_saved_from_settings() {
    let app = app();
    let settings = invoke(&app, "get_settings", json!({})).unwrap();
    // The defaults (`off`, 2 minutes) are left out of the document, as out of the file.
    assert_eq!(settings["config"]["updates"], Value::Null, "{settings}");
    let mut config = settings["config"].clone();
    config["updates"] = json!({"auto": "patch", "health_timeout": "2m"});
    let saved = invoke(&app, "save_settings", json!({"config": config})).unwrap();
    assert_eq!(saved["config"]["updates"]["auto"], "patch");
    let text = std::fs::read_to_string(app.home.path().join("config.toml")).expect("config written");
    assert!(text.contains("auto = \"patch\""), "{text}");

    let mut bad = saved["config"].clone();
    bad["updates"]["auto"] = json!("sometimes");
    let (code, message) = error_shape(invoke(&app, "save_settings", json!({"config": bad})).unwrap_err_json());
    assert_eq!(code, "invalid_arguments", "{message}");
}
