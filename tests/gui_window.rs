//! End to end: the real app under Xvfb, driven by WebDriver (tauri-driver + WebKitWebDriver),
//! against the lab engine. Saves a screenshot under target/screenshots/.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tidewatch_core::engine::Engine;
use tidewatch_lab::Lab;

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

fn start_driver(lab: &Lab, config_home: &std::path::Path) -> Driver {
    assert!(
        std::path::Path::new("/usr/bin/WebKitWebDriver").exists(),
        "WebKitWebDriver is missing (package webkit2gtk-driver)"
    );
    let port = free_port();
    let native_port = free_port();
    let child = Command::new(tauri_driver_path())
        .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .env("DOCKER_HOST", lab.docker_host())
        // WebKitGTK renders blank under Xvfb with compositing on.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("XDG_CONFIG_HOME", config_home.join("config"))
        .env("XDG_DATA_HOME", config_home.join("data"))
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

/// A minimal W3C WebDriver client: the handful of endpoints this test needs.
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

    /// Texts of all elements matching a CSS selector.
    async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let mut texts = Vec::new();
        for element in found.as_array().cloned().unwrap_or_default() {
            let Some(id) = element
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
            else {
                continue;
            };
            let text = self
                .command(reqwest::Method::GET, &format!("element/{id}/text"), None)
                .await;
            texts.push(text.as_str().unwrap_or_default().to_string());
        }
        texts
    }

    async fn wait_for_text(&self, css: &str, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
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

async fn start_fixture_container(engine: &Engine, image: &str, name: &str) -> String {
    let (from, tag) = image.rsplit_once(':').expect("tagged");
    let mut pull = engine.docker().create_image(
        Some(CreateImageOptionsBuilder::default().from_image(from).tag(tag).build()),
        None,
        None,
    );
    while let Some(step) = pull.next().await {
        step.expect("pull the fixture");
    }
    let _ = engine
        .docker()
        .remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([("tidewatch.lab".to_string(), "1".to_string())])),
        ..Default::default()
    };
    let id = engine
        .docker()
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .expect("create")
        .id;
    engine
        .docker()
        .start_container(&id, None::<StartContainerOptions>)
        .await
        .expect("start");
    id
}

#[tokio::test]
async fn window_lists_the_lab_engines_containers() {
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let engine = Engine::connect("lab", lab.docker_host())
        .await
        .expect("connect to the lab engine");
    let image = format!("{}/fixtures/web:1.9.0", lab.open_registry());
    let id = start_fixture_container(&engine, &image, "tidewatch-gui-web").await;

    let home = tempfile::tempdir().expect("temp dir");
    let driver = start_driver(&lab, home.path());
    let session = Session::start(&driver).await;
    let rows = session
        .wait_for_text("[data-testid=container-row]", "tidewatch-gui-web")
        .await;
    let row = rows.iter().find(|r| r.contains("tidewatch-gui-web")).expect("row");
    assert!(row.contains(&image), "the row names the image as created: {row}");
    assert!(row.contains("running"), "{row}");
    let status = session.texts("#engine-status").await.join(" ");
    assert!(
        status.contains("API 1."),
        "the header shows the negotiated API version: {status}"
    );
    let shot = screenshot(&lab, "main-window.png");
    eprintln!("screenshot: {}", shot.display());
    session.end().await;

    engine
        .docker()
        .remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .expect("remove");
}
