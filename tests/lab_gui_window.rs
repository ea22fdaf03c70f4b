//! End to end: the real app under Xvfb, driven by WebDriver (tauri-driver + WebKitWebDriver),
//! against the lab: engine, registries, gnome-keyring and the dbusmock notification server.
//! Saves screenshots (light and dark) under target/screenshots/.

mod webdriver;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidewatch_core::engine::model::ContainerCreateBody;
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_lab::desktop::Display;
use tidewatch_lab::{containers, Lab};
use webdriver::{start_driver, Session};

/// A screenshot of the whole X display. WebKitWebDriver's own screenshot endpoint hangs when
/// compositing is disabled (which Xvfb needs), so ImageMagick's `import` takes it.
/// Taken once the window is on screen: the app shows a new window only after its page has
/// rendered, which can come after the page's elements answer WebDriver; a window just mapped
/// may take a moment to be painted, so a blank capture is taken again, for a few seconds.
fn screenshot(lab: &Lab, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    let path = dir.join(name);
    let display = Display::open(lab.var("TIDEWATCH_LAB_DISPLAY")).expect("open the lab display");
    let deadline = Instant::now() + Duration::from_secs(30);
    while display.visible_windows("Tidewatch").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no Tidewatch window on screen for {name} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = Command::new("import")
            .args(["-display", lab.var("TIDEWATCH_LAB_DISPLAY"), "-window", "root"])
            .arg(&path)
            .status()
            .expect("run `import` (package imagemagick)");
        assert!(status.success(), "import failed to take a screenshot");
        let png = std::fs::read(&path).expect("read the screenshot");
        if png.starts_with(b"\x89PNG") && png.len() > 10_000 {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the screenshot is not a rendered PNG ({} bytes)",
            png.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn start_container(engine: &Engine, image: &str, name: &str) -> String {
    if !image.starts_with("tidewatch-fixtures/") {
        containers::pull(engine.docker(), image, None).await;
    }
    containers::start_container(engine.docker(), image, name, &[]).await
}

fn notify_lines(lab: &Lab) -> Vec<String> {
    std::fs::read_to_string(lab.var("TIDEWATCH_LAB_NOTIFY_LOG"))
        .expect("read the dbusmock log")
        .lines()
        .filter(|l| l.contains(" Notify "))
        .map(str::to_string)
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Removes Tidewatch's keyring entry for `registry` from the lab's keyring, if there is one.
fn forget_login(lab: &Lab, registry: &str) {
    // secret-tool exits 1 when nothing matched, which is fine here.
    Command::new("secret-tool")
        .args(["clear", "service", "tidewatch", "username", registry])
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .status()
        .expect("run secret-tool (package libsecret-tools)");
    let left = Command::new("secret-tool")
        .args(["lookup", "service", "tidewatch", "username", registry])
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .output()
        .expect("run secret-tool");
    assert!(left.stdout.is_empty(), "the keyring still holds a login for {registry}");
}

/// The app's environment: the lab's display and session bus, its own home (config, data).
fn app_environment(command: &mut Command, lab: &Lab, config_home: &std::path::Path) {
    command
        .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .env("DOCKER_HOST", lab.docker_host())
        // WebKitGTK renders blank under Xvfb with compositing on.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("XDG_CONFIG_HOME", config_home.join("config"))
        .env("XDG_DATA_HOME", config_home.join("data"))
        .env("HOME", config_home)
        // A plain log to read.
        .env("NO_COLOR", "1")
        // The lab's display has no accessibility bus of its own (the desktop's is shared between
        // labs on one machine and may not answer, which stalls GTK for 25 s per process).
        .env("NO_AT_BRIDGE", "1")
        .env_remove("TIDEWATCH_CONFIG")
        .env_remove("TIDEWATCH_DATA_DIR");
}

/// The app's own files for one test: a config naming the lab engine (and the lab's Swarm manager
/// when it is another engine), an empty data dir.
fn app_home(lab: &Lab) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(home.path().join("config/tidewatch")).expect("config dir");
    let mut config = format!("[[engines]]\nname = \"lab\"\nhost = \"{}\"\n", lab.docker_host());
    if lab.swarm_docker_host() != lab.docker_host() {
        config.push_str(&format!(
            "\n[[engines]]\nname = \"swarm\"\nhost = \"{}\"\n",
            lab.swarm_docker_host()
        ));
    }
    std::fs::write(home.path().join("config/tidewatch/config.toml"), config).expect("write config");
    home
}

/// A Swarm stack on the lab's Swarm manager, removed when dropped (pass or fail).
struct Stack {
    host: String,
    name: &'static str,
}

impl Stack {
    /// `docker stack deploy` of one service `web` running `image` (on the host network: a stack's
    /// default overlay network is not needed), waiting until it runs.
    fn deploy(lab: &Lab, name: &'static str, image: &str) -> Stack {
        let stack = Stack {
            host: lab.swarm_docker_host().to_string(),
            name,
        };
        // A stack left by an earlier run is removed first, and its service waited out.
        let _ = stack.docker().args(["stack", "rm", name]).output();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = stack
                .docker()
                .args(["service", "ls", "-q", "--filter"])
                .arg(format!("label=com.docker.stack.namespace={name}"))
                .output()
                .expect("run docker service ls (package docker.io)");
            if String::from_utf8_lossy(&listed.stdout).trim().is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "an earlier stack {name} was not removed");
            std::thread::sleep(Duration::from_millis(300));
        }
        let compose = format!(
            "version: \"3.8\"\nservices:\n  web:\n    image: {image}\n    networks: [outside]\n\
             networks:\n  outside:\n    external: true\n    name: host\n"
        );
        let file = std::env::temp_dir().join(format!("{name}.yml"));
        std::fs::write(&file, compose).expect("write the stack file");
        let deployed = stack
            .docker()
            .args(["stack", "deploy", "--compose-file"])
            .arg(&file)
            .arg(name)
            .output()
            .expect("run docker stack deploy (package docker.io)");
        assert!(
            deployed.status.success(),
            "{}",
            String::from_utf8_lossy(&deployed.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = stack
                .docker()
                .args([
                    "service",
                    "ls",
                    "--filter",
                    &format!("name={name}_web"),
                    "--format",
                    "{{.Replicas}}",
                ])
                .output()
                .expect("run docker service ls");
            if String::from_utf8_lossy(&listed.stdout).trim() == "1/1" {
                return stack;
            }
            assert!(Instant::now() < deadline, "the stack {name} did not start");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command.args(["-H", &self.host]).env_remove("DOCKER_HOST");
        command
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.docker().args(["stack", "rm", self.name]).output();
    }
}

#[tokio::test]
async fn window_checks_notifies_once_and_saves_credentials_in_the_keyring() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let open = lab.open_registry();
    let update_id = start_container(&engine, &format!("{open}/fixtures/app:1.25.3"), "gui-app-update").await;
    let current_id = start_container(&engine, &format!("{open}/fixtures/app:1.25.4"), "gui-app-current").await;
    let local_id = start_container(&engine, tidewatch_lab::FIXTURE_LOCAL_ONLY, "gui-app-local").await;
    // From the htpasswd registry: the engine pulled it with a login the app does not have yet.
    let basic = lab.basic_registry().to_string();
    let basic_user = lab.var("TIDEWATCH_LAB_BASIC_USER").to_string();
    let basic_password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD").to_string();
    let private_image = format!("{basic}/fixtures/app:1.25.4");
    forget_login(&lab, &basic); // left by an earlier run that failed half way
    containers::pull(
        engine.docker(),
        &private_image,
        Some((&basic, &basic_user, &basic_password)),
    )
    .await;
    let private_id = containers::start_container(engine.docker(), &private_image, "gui-app-private", &[]).await;
    // A Swarm stack's service: its own kind of entry, listed under its stack.
    // Another image than the containers': a version is announced once, whoever runs it.
    let _stack = Stack::deploy(&lab, "guishop", &format!("{open}/fixtures/web:1.9.0"));
    let notified_before = notify_lines(&lab).len();

    let home = app_home(&lab);
    let driver = start_driver(&lab, home.path(), false);
    let session = Session::start(&driver).await;

    // The first check runs at start: badges per verdict, updates first.
    let state = session.settled_state(None).await;
    let status_of = |id: &str| format!("[data-testid=container-row][data-container-id=\"{id}\"]");
    for (id, status) in [
        (&update_id, "update_available"),
        (&current_id, "up_to_date"),
        (&local_id, "local_only"),
        (&private_id, "unknown"),
    ] {
        let row = session.element(&status_of(id)).await;
        let attribute = session
            .command(
                reqwest::Method::GET,
                &format!("element/{row}/attribute/data-status"),
                None,
            )
            .await;
        assert_eq!(attribute, status, "badge of container {id}");
    }
    let order = session
        .attributes("[data-testid=container-row]", "data-container-id")
        .await;
    let position = |id: &str| order.iter().position(|o| o == id).unwrap_or(usize::MAX);
    assert!(
        position(&update_id) < position(&current_id),
        "updates come first: {order:?}"
    );
    let update_row = session.texts(&status_of(&update_id)).await.join(" ");
    assert!(
        update_row.contains("1.25.3 → 1.25.4"),
        "the new tag is shown: {update_row}"
    );

    // The service is listed as a service, under its stack's heading, not among the containers.
    let stack_group = session.texts("[data-testid=group-stack] .group-head").await.join(" ");
    assert!(
        stack_group.contains("stack guishop") && stack_group.contains("1 service"),
        "the stack's heading: {stack_group}"
    );
    let service_row = session
        .text_contents("[data-testid=group-stack] [data-testid=container-row][data-kind=service]")
        .await
        .join(" ");
    assert!(
        service_row.contains("guishop_web")
            && service_row.contains("service")
            && service_row.contains("1.9.0 → 1.10.0"),
        "the service's row: {service_row}"
    );
    let containers_group = session.text_contents("[data-testid=group-containers]").await.join(" ");
    assert!(
        containers_group.contains("gui-app-update") && !containers_group.contains("guishop_web"),
        "its task is not listed again as a container: {containers_group}"
    );

    // Its details say what it is: a Swarm service of its stack, and its tasks.
    session
        .click("[data-testid=group-stack] [data-testid=container-row][data-kind=service] td:nth-child(2)")
        .await;
    let details = session.wait_for_text("#detail", "Swarm service").await.join(" ");
    assert!(
        details.contains("guishop") && details.contains("1 of 1"),
        "the service's details: {details}"
    );
    session.click("#detail-close").await;

    // The tray follows the result (the tray is not in the DOM; the app's state drives it).
    assert_eq!(state["tray"], "updates", "{state}");
    assert_eq!(state["updates"], 2, "the container's and the service's: {state}");

    // Exactly one notification for the new update …
    let new_notes: Vec<String> = notify_lines(&lab).split_off(notified_before);
    let ours: Vec<&String> = new_notes.iter().filter(|l| l.contains("gui-app-update")).collect();
    assert_eq!(ours.len(), 1, "one Notify call for the new update: {new_notes:?}");
    assert!(
        ours[0].contains("1.25.3 → 1.25.4 (patch)"),
        "it names current and new version and kind: {}",
        ours[0]
    );
    assert_eq!(
        new_notes.iter().filter(|l| l.contains("guishop_web")).count(),
        1,
        "and one for the service's: {new_notes:?}"
    );

    screenshot(&lab, "main-light.png");
    session
        .click(&format!("{} td:nth-child(2)", status_of(&update_id)))
        .await;
    session.wait_for_text("#detail", "1.25.4").await;
    screenshot(&lab, "detail-light.png");

    // … and none when "Check now" finds the same version again.
    let checked_at = state["report"]["checked_at"].as_str().map(str::to_string);
    session.click("#check-now").await;
    let second = session.settled_state(checked_at.as_deref()).await;
    assert_eq!(second["tray"], "updates");
    assert_eq!(
        notify_lines(&lab).len(),
        notified_before + 2,
        "a second check notifies nothing new"
    );

    // Starting a container is an engine event: the app checks again by itself.
    let late_id = start_container(&engine, &format!("{open}/fixtures/web:1.9.0"), "gui-app-late").await;
    let third = session.settled_state(second["report"]["checked_at"].as_str()).await;
    let late = third["report"]["containers"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == late_id.as_str()))
        .unwrap_or_else(|| panic!("the new container was checked without asking: {third}"));
    assert_eq!(late["status"], "update_available", "{late}");
    assert_eq!(late["update"]["tag"], "1.10.0", "{late}");

    // A check that needs a login offers "Log in…" where the error is, in the window's own words.
    session
        .wait_for_text(".banner", &format!("Registry {basic} needs a login"))
        .await;
    session
        .click(&format!("{} td:nth-child(2)", status_of(&private_id)))
        .await;
    let panel = session.wait_for_text("#detail", "Log in…").await.join("\n");
    assert!(
        !panel.contains("tidewatch login"),
        "the window never says to run the CLI: {panel}"
    );
    assert_eq!(
        panel.matches("requires credentials").count(),
        1,
        "the problem is said once in the detail panel: {panel}"
    );
    assert!(panel.contains(&format!("log in to {basic}")), "{panel}");
    screenshot(&lab, "login-needed-light.png");
    session.click("#detail button[data-action=login]").await;
    let prefilled = session.element("#login-registry").await;
    let registry_value = session
        .command(
            reqwest::Method::GET,
            &format!("element/{prefilled}/property/value"),
            None,
        )
        .await;
    assert_eq!(registry_value, basic.as_str(), "the registry is filled in");
    session.type_into("#login-username", &basic_user).await;
    session.type_into("#login-password", &basic_password).await;
    let before_login = session.invoke("get_state").await["report"]["checked_at"]
        .as_str()
        .map(str::to_string);
    session.click("#login-submit").await;
    // No "Check now": saving the login checks again by itself.
    let after_login = session.settled_state(before_login.as_deref()).await;
    let private = after_login["report"]["containers"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == private_id.as_str()))
        .unwrap_or_else(|| panic!("the private container is listed: {after_login}"));
    assert_eq!(
        private["status"], "up_to_date",
        "re-checked with the new login: {private}"
    );
    assert_eq!(private["problem"], Value::Null, "{private}");
    let dialog_open = session
        .command(
            reqwest::Method::POST,
            "execute/sync",
            Some(serde_json::json!({"script": "return document.getElementById('login-dialog').open", "args": []})),
        )
        .await;
    assert_eq!(dialog_open, false, "the dialog closed after the login");

    // A credential saved in settings lands in the keyring, and in no file of the app.
    let password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD").to_string();
    let registry = lab.basic_registry().to_string();
    session.click("#open-settings").await;

    // Settings edit the file in place, and ask when another program changed it meanwhile.
    session.wait_for_text("#config-path", "Saved to").await;
    let config_file = home.path().join("config/tidewatch/config.toml");
    let by_hand = format!(
        "# edited by hand\n[[engines]]\nname = \"lab\"  # the test lab\nhost = \"{}\"\n\n[schedule]\njitter = \"7m\"\n",
        lab.docker_host()
    );
    std::fs::write(&config_file, &by_hand).expect("edit the config by hand");
    session.type_into("#sched-interval", "3h").await;
    session.click("#settings-save").await;
    session
        .wait_for_text("#save-conflict", "changed by another program")
        .await;
    assert_eq!(
        std::fs::read_to_string(&config_file).unwrap(),
        by_hand,
        "nothing was written"
    );
    session.click("#conflict-reload").await;
    session.wait_for_text("#save-status", "Reloaded").await;
    let field_value = |id: &'static str| {
        let session = &session;
        async move {
            let node = session.element(id).await;
            session
                .command(reqwest::Method::GET, &format!("element/{node}/property/value"), None)
                .await
        }
    };
    assert_eq!(
        field_value("#sched-jitter").await,
        "7m",
        "the view shows the file's value"
    );
    session.type_into("#sched-interval", "3h").await;
    session.click("#settings-save").await;
    session.wait_for_text("#save-status", "Saved.").await;
    let saved = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        saved.starts_with("# edited by hand\n[[engines]]\nname = \"lab\"  # the test lab\n"),
        "the user's comments stay: {saved}"
    );
    assert!(
        saved.contains("interval = \"3h\"") && saved.contains("jitter = \"7m\""),
        "{saved}"
    );

    session.type_into("#cred-registry", &registry).await;
    session
        .type_into("#cred-username", lab.var("TIDEWATCH_LAB_BASIC_USER"))
        .await;
    session.type_into("#cred-password", &password).await;
    let before_save = session.invoke("get_state").await["report"]["checked_at"]
        .as_str()
        .map(str::to_string);
    session.click("#cred-save").await;
    // The Log in… dialog saved this registry already: wait for this save's own answer, and for
    // the check it starts by itself.
    session.wait_for_text("#cred-status", "Saved credentials for").await;
    session.wait_for_text("[data-testid=saved-credential]", &registry).await;
    session.settled_state(before_save.as_deref()).await;
    screenshot(&lab, "settings-light.png");
    let secret = Command::new("secret-tool")
        .args(["lookup", "service", "tidewatch", "username", &registry])
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .output()
        .expect("run secret-tool (package libsecret-tools)");
    assert!(
        String::from_utf8_lossy(&secret.stdout).contains(&password),
        "the keyring holds the saved login: {}",
        String::from_utf8_lossy(&secret.stderr)
    );
    for file in files_under(home.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "the password was written to {}",
            file.display()
        );
    }
    let password_field = session.element("#cred-password").await;
    let left = session
        .command(
            reqwest::Method::GET,
            &format!("element/{password_field}/property/value"),
            None,
        )
        .await;
    assert_eq!(left, "", "the password field is cleared after saving");
    session.end().await;
    drop(driver);

    // The same views in the dark theme.
    let driver = start_driver(&lab, home.path(), true);
    let session = Session::start(&driver).await;
    session.settled_state(None).await;
    session.element(&status_of(&update_id)).await;
    screenshot(&lab, "main-dark.png");
    session
        .click(&format!("{} td:nth-child(2)", status_of(&update_id)))
        .await;
    session.wait_for_text("#detail", "1.25.4").await;
    screenshot(&lab, "detail-dark.png");
    session.click("#open-settings").await;
    session.wait_for_text("[data-testid=saved-credential]", &registry).await;
    screenshot(&lab, "settings-dark.png");
    session.end().await;
    drop(driver);

    forget_login(&lab, &registry);
    for id in [update_id, current_id, local_id, late_id, private_id] {
        containers::remove_container(engine.docker(), &id).await;
    }
}

/// Starts a container from `image` as a user would (the image's own command and healthcheck).
async fn run_user_container(engine: &Engine, image: &str, name: &str) -> String {
    containers::remove_container(engine.docker(), name).await;
    containers::pull(engine.docker(), image, None).await;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(std::collections::HashMap::from([(
            containers::LAB_LABEL.to_string(),
            "1".to_string(),
        )])),
        ..Default::default()
    };
    let id = engine.create_container(name, body).await.expect("create the container");
    engine.start_container(&id).await.expect("start the container");
    id
}

/// The latest notification whose Notify call contains `needle`: its ID (dbusmock's notification
/// template numbers them 1, 2, … in the order of its log) and the call as logged (a body's
/// newline continues it on the next lines, up to the actions and hints).
fn latest_notification(lab: &Lab, needle: &str) -> Option<(u32, String)> {
    let log = std::fs::read_to_string(lab.var("TIDEWATCH_LAB_NOTIFY_LOG")).expect("read the dbusmock log");
    let calls: Vec<&str> = log.split('\n').fold(Vec::new(), |mut calls, line| {
        if line.contains(" Notify ") {
            calls.push(line);
        } else if let Some(last) = calls.last_mut() {
            // Keep the continuation with its call: find its span in `log`.
            let start = last.as_ptr() as usize - log.as_ptr() as usize;
            let end = line.as_ptr() as usize - log.as_ptr() as usize + line.len();
            *last = &log[start..end];
        }
        calls
    });
    let at = calls.iter().rposition(|c| c.contains(needle))?;
    Some((u32::try_from(at + 1).ok()?, calls[at].to_string()))
}

/// What a person clicking a notification's action does, through the mock server: it emits
/// `ActionInvoked(id, action)` as a real notification server would.
fn invoke_notification_action(lab: &Lab, id: u32, action: &str) {
    let status = Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--dest",
            "org.freedesktop.Notifications",
            "--object-path",
            "/org/freedesktop/Notifications",
            "--method",
            "org.freedesktop.DBus.Mock.EmitSignal",
            "org.freedesktop.Notifications",
            "ActionInvoked",
            "us",
            &format!("[<uint32 {id}>, <'{action}'>]"),
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .stdout(Stdio::null())
        .status()
        .expect("run gdbus (package libglib2.0-bin)");
    assert!(status.success(), "dbusmock did not emit ActionInvoked");
}

fn row_named(name: &str) -> String {
    format!("[data-testid=container-row][data-name=\"{name}\"]")
}

impl Session<'_> {
    async fn wait_for_content(&self, css: &str, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let texts = self.text_contents(css).await;
            if texts.iter().any(|t| t.contains(needle)) {
                return texts;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} containing {needle:?} appeared; saw {texts:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the row of the container named `name` has the status `status`.
    async fn wait_for_status(&self, name: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = self.attributes(&row_named(name), "data-status").await;
            if seen.iter().any(|s| s == status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not turn {status}; rows say {seen:?}, activity {:?}",
                self.texts(&format!("{} [data-testid=update-activity]", row_named(name)))
                    .await
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Update from the detail panel: open the row, press Update…, read the confirmation.
    async fn confirm_update_from_detail(&self, name: &str, new_version: &str) -> Vec<String> {
        self.click(&format!("{} td:nth-child(2)", row_named(name))).await;
        self.click("#detail-update").await;
        self.wait_for_text("#confirm[open] [data-testid=update-plan]", new_version)
            .await
    }
}

/// Removes every container whose name starts with `prefix` (kept-aside old ones included) and
/// the volumes they mount (an update mounts a once-anonymous volume by name).
async fn remove_test_containers(engine: &Engine, prefix: &str) {
    for summary in engine.container_summaries().await.unwrap_or_default() {
        let ours = summary
            .names
            .unwrap_or_default()
            .iter()
            .any(|n| n.trim_start_matches('/').starts_with(prefix));
        if !ours {
            continue;
        }
        let id = summary.id.unwrap_or_default();
        let volumes: Vec<String> = match engine.find_container(&id).await {
            Ok(Some(inspect)) => inspect
                .mounts
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.name)
                .collect(),
            _ => Vec::new(),
        };
        containers::remove_container(engine.docker(), &id).await;
        for volume in volumes {
            containers::remove_volume(engine.docker(), &volume).await;
        }
    }
}

/// GUI tests share one display, one session bus and the single-instance lock: one at a time.
static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn update_from_the_detail_panel_or_a_notification_confirms_shows_progress_and_turns_the_row_up_to_date() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let open = lab.open_registry();
    let service = format!("{open}/{}", tidewatch_lab::FIXTURE_SERVICE);
    let plain = format!("{open}/{}", tidewatch_lab::FIXTURE_PLAIN);
    remove_test_containers(&engine, "gui-update-").await;
    run_user_container(&engine, &format!("{service}:1.0.0"), "gui-update-service").await;
    run_user_container(&engine, &format!("{plain}:1.0.0"), "gui-update-notified").await;
    let home = app_home(&lab);
    let driver = start_driver(&lab, home.path(), false);
    let session = Session::start(&driver).await;
    session.settled_state(None).await;

    // From the detail panel: the confirmation says old → new, what is recreated, the downtime.
    let plan = session
        .confirm_update_from_detail("gui-update-service", "1.1.0")
        .await
        .join(" ");
    assert!(plan.contains("1.0.0 → 1.1.0"), "{plan}");
    assert!(plan.contains("recreated with the same configuration"), "{plan}");
    assert!(plan.contains("Downtime") && plan.contains("healthcheck"), "{plan}");
    screenshot(&lab, "update-confirm-light.png");
    session.click("#confirm-ok").await;
    session.wait_for_status("gui-update-service", "up_to_date").await;
    let result = session
        .wait_for_content(
            &format!("{} [data-testid=update-activity]", row_named("gui-update-service")),
            "Updated to",
        )
        .await;
    assert!(result.iter().any(|t| t.contains(":1.1.0")), "{result:?}");
    session.wait_for_text("#detail", "Roll back").await;
    let inspect = engine.inspect_container("gui-update-service").await.expect("inspect");
    assert_eq!(
        inspect.config.and_then(|c| c.image).as_deref(),
        Some(format!("{service}:1.1.0").as_str())
    );

    // Roll back, from the detail panel that followed the container to its new ID.
    session.click("#detail-roll-back").await;
    session
        .wait_for_text("#confirm[open]", "Roll back gui-update-service?")
        .await;
    session.click("#confirm-ok").await;
    session
        .wait_for_content(
            &format!("{} [data-testid=update-activity]", row_named("gui-update-service")),
            "Rolled back to",
        )
        .await;
    session.wait_for_status("gui-update-service", "update_available").await;
    let inspect = engine.inspect_container("gui-update-service").await.expect("inspect");
    assert_eq!(
        inspect.config.and_then(|c| c.image).as_deref(),
        Some(format!("{service}:1.0.0").as_str())
    );

    // From the notification: its Update action opens the same confirmation in the window.
    let (id, notified) =
        latest_notification(&lab, "Update for gui-update-notified").expect("a notification for the new version");
    assert!(
        notified.contains(r#""default", "Open", "update", "Update""#),
        "it offers Update beside Open: {notified}"
    );
    session.click("#detail-close").await;
    invoke_notification_action(&lab, id, "update");
    session
        .wait_for_text("#confirm[open] [data-testid=update-plan]", "1.0.1")
        .await;
    session.click("#confirm-ok").await;
    // Without a healthcheck the gate is 10 s of steady running: the row says so meanwhile.
    session
        .wait_for_content(
            &format!("{} [data-testid=update-activity]", row_named("gui-update-notified")),
            "keeps running",
        )
        .await;
    screenshot(&lab, "update-progress-light.png");
    // Done once the gate has passed (a check during the gate already sees the new image run).
    session
        .wait_for_content(
            &format!("{} [data-testid=update-activity]", row_named("gui-update-notified")),
            "Updated to",
        )
        .await;
    session.wait_for_status("gui-update-notified", "up_to_date").await;

    // "Update all" updates the rows the search shows, one at a time on the engine: the second
    // waits its turn, and its row says so.
    run_user_container(&engine, &format!("{plain}:1.0.0"), "gui-update-all-a").await;
    run_user_container(&engine, &format!("{plain}:1.0.0"), "gui-update-all-b").await;
    session.click("#check-now").await;
    session.wait_for_status("gui-update-all-a", "update_available").await;
    session.wait_for_status("gui-update-all-b", "update_available").await;
    session.type_into("#search", "gui-update-all").await;
    session.wait_for_content("#update-all", "Update all (2)").await;
    session.click("#update-all").await;
    let plans = session
        .wait_for_content("#confirm[open]", "gui-update-all-b")
        .await
        .join(" ");
    assert!(
        plans.contains("Update 2 containers?") && plans.contains("gui-update-all-a"),
        "{plans}"
    );
    session.click("#confirm-ok").await;
    session
        .wait_for_content("[data-testid=update-activity]", "Queued: waiting for another update")
        .await;
    for name in ["gui-update-all-a", "gui-update-all-b"] {
        session
            .wait_for_content(
                &format!("{} [data-testid=update-activity]", row_named(name)),
                "Updated to",
            )
            .await;
    }
    session.end().await;
    drop(driver);

    // The confirmation and the progress in the dark theme; then an update cut short.
    run_user_container(&engine, &format!("{plain}:1.0.0"), "gui-update-dark").await;
    let driver = start_driver(&lab, home.path(), true);
    let session = Session::start(&driver).await;
    session.settled_state(None).await;
    session.wait_for_status("gui-update-dark", "update_available").await;
    session.confirm_update_from_detail("gui-update-dark", "1.0.1").await;
    screenshot(&lab, "update-confirm-dark.png");
    session.click("#confirm-ok").await;
    session
        .wait_for_content(
            &format!("{} [data-testid=update-activity]", row_named("gui-update-dark")),
            "keeps running",
        )
        .await;
    screenshot(&lab, "update-progress-dark.png");
    // The app dies in the middle of the health gate, its new container running and the old one
    // kept aside …
    session.end().await;
    drop(driver);
    assert_eq!(
        engine
            .inspect_container("gui-update-dark")
            .await
            .expect("inspect")
            .config
            .and_then(|c| c.image),
        Some(format!("{plain}:1.0.1")),
        "the app was stopped during the update's health gate"
    );

    // … and its next start gives the old container back, and says so in the window.
    let driver = start_driver(&lab, home.path(), true);
    let session = Session::start(&driver).await;
    let said = session
        .wait_for_content("[data-testid=recovered]", "gui-update-dark")
        .await
        .join(" ");
    assert!(said.contains("restored"), "{said}");
    let restored = engine.inspect_container("gui-update-dark").await.expect("inspect");
    assert_eq!(
        restored.config.and_then(|c| c.image),
        Some(format!("{plain}:1.0.0")),
        "the old container runs under its name again"
    );
    assert_eq!(restored.state.and_then(|s| s.running), Some(true));
    session.settled_state(None).await;
    screenshot(&lab, "update-recovered-dark.png");
    session.end().await;
    drop(driver);

    remove_test_containers(&engine, "gui-update-").await;
}

/// Every process descended from `root`: (pid, name).
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut rest = stat[close + 1..].split_whitespace();
        // A zombie is gone as far as memory goes.
        let zombie = rest.next() == Some("Z");
        if let (Some(ppid), false) = (rest.next().and_then(|p| p.parse::<u32>().ok()), zombie) {
            parents.push((pid, ppid, stat[open + 1..close].to_string()));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, name) in &parents {
            if *ppid == parent {
                found.push((*pid, name.clone()));
                frontier.push(*pid);
            }
        }
    }
    found
}

/// The web view's helper processes the app started (web content, network).
fn web_view_processes(app: u32) -> Vec<String> {
    descendants(app)
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| name.starts_with("WebKit"))
        .collect()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lines of the app's log containing `needle`.
fn log_lines(log: &std::path::Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The app started directly (not through WebDriver, whose session ends with the window it
/// drives: closing the last window ends a W3C session), its log in a file; stopped on drop.
struct App {
    child: Child,
    log: PathBuf,
}

impl App {
    fn start(lab: &Lab, home: &std::path::Path) -> App {
        let log = home.join("app.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tidewatch-app"));
        app_environment(&mut command, lab, home);
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the app's log"))
            .process_group(0)
            .spawn()
            .expect("start the app");
        App { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self, needle: &str) -> Vec<String> {
        log_lines(&self.log, needle)
    }

    /// Waits for a log line containing `needle` that `accept`s; fails showing the whole log.
    async fn wait_for(&mut self, needle: &str, accept: impl Fn(&String) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.lines(needle).iter().any(&accept) {
            assert!(
                Instant::now() < deadline,
                "the app did not log {needle:?} within 60 s (exited: {:?}); its log:\n{}",
                self.child.try_wait(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// Removes a container when dropped, so a failing test leaves nothing for the next one to count.
struct RemoveOnDrop<'a> {
    lab: &'a Lab,
    id: String,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", self.lab.docker_host(), "rm", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn a_window_closed_to_the_tray_releases_its_web_view_and_reopens_on_the_same_list() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let id = start_container(
        &engine,
        &format!("{}/fixtures/app:1.25.3", lab.open_registry()),
        "gui-reopen-update",
    )
    .await;
    let _remove = RemoveOnDrop {
        lab: &lab,
        id: id.clone(),
    };
    let home = app_home(&lab);
    let display = Display::open(lab.var("TIDEWATCH_LAB_DISPLAY")).expect("open the lab display");
    let mut app = App::start(&lab, home.path());

    // Shown once the page has listed the check's result (the lab engine may hold other tests'
    // containers, so at least this one).
    app.wait_for("check finished", |_| true).await;
    let listed = |line: &String| {
        line.rsplit("rows=")
            .next()
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_some_and(|rows| rows >= 1)
    };
    app.wait_for("window rendered", listed).await;
    wait_until("the window on screen", || {
        display.visible_windows("Tidewatch").len() == 1
    })
    .await;
    assert!(
        !web_view_processes(app.pid()).is_empty(),
        "a shown window has its web view's processes"
    );
    let rows = app
        .lines("window rendered")
        .into_iter()
        .rfind(listed)
        .and_then(|line| line.rsplit("rows=").next().map(|n| n.trim().to_string()))
        .expect("rows rendered");

    // Closed as a window manager's close button closes it.
    assert_eq!(display.request_close("Tidewatch"), 1, "one Tidewatch window to close");
    wait_until("the window going away with its web view's processes", || {
        display.visible_windows("Tidewatch").is_empty() && web_view_processes(app.pid()).is_empty()
    })
    .await;
    assert!(
        std::path::Path::new(&format!("/proc/{}", app.pid())).exists(),
        "Tidewatch keeps running in the tray"
    );
    let checks = app.lines("check finished").len();
    let rendered_before = app.lines("window rendered").len();

    // Opened again, as the desktop's launcher does: the running app shows a new window.
    let mut again = Command::new(env!("CARGO_BIN_EXE_tidewatch-app"));
    app_environment(&mut again, &lab, home.path());
    let status = again.stderr(Stdio::null()).status().expect("launch the app again");
    assert!(
        status.success(),
        "the second launch hands over to the running app: {status}"
    );
    wait_until("the window showing again", || {
        display.visible_windows("Tidewatch").len() == 1
    })
    .await;
    // Shown only once the new page had rendered the list the app kept: by the time the window
    // is on screen, the page has told the app how many rows it laid out, the same as before.
    let rendered: Vec<String> = app.lines("window rendered").split_off(rendered_before);
    assert!(
        rendered
            .first()
            .is_some_and(|line| line.ends_with(&format!("rows={rows}"))),
        "the reopened window rendered the {rows} containers before showing: {rendered:?}"
    );
    assert_eq!(
        app.lines("check finished").len(),
        checks,
        "the window shows the state the app kept, without checking again"
    );
    assert!(
        !web_view_processes(app.pid()).is_empty(),
        "the new window has a web view again"
    );
    screenshot(&lab, "reopened-light.png");
    drop(app);
    drop(engine);
}
