//! End to end: the real app under Xvfb, driven by WebDriver (tauri-driver + WebKitWebDriver),
//! against the lab: engine, registries, gnome-keyring and the dbusmock notification server.
//! Saves screenshots (light and dark) under target/screenshots/.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_lab::{containers, Lab};

/// tauri-driver, the WebKitWebDriver it spawns and the app that one launches, all in one process
/// group that is stopped when the test ends, pass or fail (killing tauri-driver alone would leave
/// the other two running).
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn tauri_driver_path() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("tauri-driver"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    let in_cargo_home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"));
    on_path.or(in_cargo_home.filter(|p| p.is_file())).unwrap_or_else(|| {
        panic!("tauri-driver is not installed: `cargo xtask test` installs it (cargo install tauri-driver --locked)")
    })
}

fn start_driver(lab: &Lab, config_home: &std::path::Path, dark: bool) -> Driver {
    assert!(
        std::path::Path::new("/usr/bin/WebKitWebDriver").exists(),
        "WebKitWebDriver is missing (package webkit2gtk-driver)"
    );
    let port = free_port();
    let native_port = free_port();
    let mut command = Command::new(tauri_driver_path());
    if dark {
        // WebKitGTK answers prefers-color-scheme from the GTK theme's variant.
        command.env("GTK_THEME", "Adwaita:dark");
    }
    let child = command
        .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .env("DOCKER_HOST", lab.docker_host())
        // WebKitGTK renders blank under Xvfb with compositing on.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("XDG_CONFIG_HOME", config_home.join("config"))
        .env("XDG_DATA_HOME", config_home.join("data"))
        .env("HOME", config_home)
        .env_remove("TIDEWATCH_CONFIG")
        .env_remove("TIDEWATCH_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start tauri-driver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tauri-driver did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

/// A minimal W3C WebDriver client: the handful of endpoints these tests need.
struct Session<'a> {
    http: reqwest::Client,
    driver: &'a Driver,
    id: String,
}

impl<'a> Session<'a> {
    async fn start(driver: &'a Driver) -> Session<'a> {
        // A bounded wait: a stuck WebDriver call fails the test instead of hanging CI.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("http client");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": env!("CARGO_BIN_EXE_tidewatch-app")}
        }}});
        let response: Value = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .expect("create a WebDriver session")
            .json()
            .await
            .expect("session JSON");
        let id = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {response}"))
            .to_string();
        Session { http, driver, id }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}/{path}", self.driver.url, self.id);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let value: Value = request
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver JSON");
        value["value"].clone()
    }

    async fn elements(&self, css: &str) -> Vec<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                e.as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }

    async fn element(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(id) = self.elements(css).await.into_iter().next() {
                return id;
            }
            assert!(Instant::now() < deadline, "no element matches {css}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks the element, retrying while the UI replaces it (a stale element answers an error).
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let id = self.element(css).await;
            let answer = self
                .command(reqwest::Method::POST, &format!("element/{id}/click"), Some(json!({})))
                .await;
            if answer.get("error").is_none() {
                return;
            }
            assert!(Instant::now() < deadline, "cannot click {css}: {answer}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("element/{id}/clear"), Some(json!({})))
            .await;
        self.command(
            reqwest::Method::POST,
            &format!("element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// One attribute of every element matching a CSS selector, in document order.
    async fn attributes(&self, css: &str, name: &str) -> Vec<String> {
        let mut values = Vec::new();
        for id in self.elements(css).await {
            let value = self
                .command(reqwest::Method::GET, &format!("element/{id}/attribute/{name}"), None)
                .await;
            values.push(value.as_str().unwrap_or_default().to_string());
        }
        values
    }

    /// Texts of all elements matching a CSS selector.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for id in self.elements(css).await {
            let text = self
                .command(reqwest::Method::GET, &format!("element/{id}/text"), None)
                .await;
            texts.push(text.as_str().unwrap_or_default().to_string());
        }
        texts
    }

    async fn wait_for_text(&self, css: &str, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let texts = self.texts(css).await;
            if texts.iter().any(|t| t.contains(needle)) {
                return texts;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} containing {needle:?} appeared; saw {texts:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Calls one of the app's own commands from the page, as the UI does.
    async fn invoke(&self, command: &str) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             window.__TAURI__.core.invoke('{command}').then(v => done({{ok: v}}), e => done({{err: e}}));"
        );
        let value = self
            .command(
                reqwest::Method::POST,
                "execute/async",
                Some(json!({"script": script, "args": []})),
            )
            .await;
        assert!(value.get("err").is_none(), "{command} failed: {value}");
        value["ok"].clone()
    }

    /// The app's state once no check is running and at least `checks` checks have finished.
    async fn settled_state(&self, after: Option<&str>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = self.invoke("get_state").await;
            let finished = state["phase"] != "checking" && state["last_check_at"].is_string();
            let newer = after.is_none_or(|t| state["report"]["checked_at"].as_str().is_some_and(|c| c != t));
            if finished && newer {
                return state;
            }
            assert!(Instant::now() < deadline, "no check finished; last state: {state}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn end(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.driver.url, self.id))
            .send()
            .await;
    }
}

/// A screenshot of the whole X display. WebKitWebDriver's own screenshot endpoint hangs when
/// compositing is disabled (which Xvfb needs), so ImageMagick's `import` takes it.
fn screenshot(lab: &Lab, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    let path = dir.join(name);
    let status = Command::new("import")
        .args(["-display", lab.var("TIDEWATCH_LAB_DISPLAY"), "-window", "root"])
        .arg(&path)
        .status()
        .expect("run `import` (package imagemagick)");
    assert!(status.success(), "import failed to take a screenshot");
    let png = std::fs::read(&path).expect("read the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "the screenshot is not a rendered PNG"
    );
    path
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

/// The app's own files for one test: a config naming the lab engine, an empty data dir.
fn app_home(lab: &Lab) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(home.path().join("config/tidewatch")).expect("config dir");
    std::fs::write(
        home.path().join("config/tidewatch/config.toml"),
        format!("[[engines]]\nname = \"lab\"\nhost = \"{}\"\n", lab.docker_host()),
    )
    .expect("write config");
    home
}

#[tokio::test]
async fn window_checks_notifies_once_and_saves_credentials_in_the_keyring() {
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let open = lab.open_registry();
    let update_id = start_container(&engine, &format!("{open}/fixtures/app:1.25.3"), "gui-app-update").await;
    let current_id = start_container(&engine, &format!("{open}/fixtures/app:1.25.4"), "gui-app-current").await;
    let local_id = start_container(&engine, tidewatch_lab::FIXTURE_LOCAL_ONLY, "gui-app-local").await;
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

    // The tray follows the result (the tray is not in the DOM; the app's state drives it).
    assert_eq!(state["tray"], "updates", "{state}");
    assert_eq!(state["updates"], 1, "{state}");

    // Exactly one notification for the new update …
    let new_notes: Vec<String> = notify_lines(&lab).split_off(notified_before);
    let ours: Vec<&String> = new_notes.iter().filter(|l| l.contains("gui-app-update")).collect();
    assert_eq!(ours.len(), 1, "one Notify call for the new update: {new_notes:?}");
    assert!(
        ours[0].contains("1.25.3 → 1.25.4 (patch)"),
        "it names current and new version and kind: {}",
        ours[0]
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
        notified_before + 1,
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

    // A credential saved in settings lands in the keyring, and in no file of the app.
    let password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD").to_string();
    let registry = lab.basic_registry().to_string();
    session.click("#open-settings").await;
    session.type_into("#cred-registry", &registry).await;
    session
        .type_into("#cred-username", lab.var("TIDEWATCH_LAB_BASIC_USER"))
        .await;
    session.type_into("#cred-password", &password).await;
    session.click("#cred-save").await;
    session.wait_for_text("[data-testid=saved-credential]", &registry).await;
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

    let _ = tidewatch_core::login::remove_login(&registry, &home.path().join("data/tidewatch/tidewatch.db"));
    for id in [update_id, current_id, local_id, late_id] {
        containers::remove_container(engine.docker(), &id).await;
    }
}
