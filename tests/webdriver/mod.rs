//! A WebDriver client for the app under the lab's display (tauri-driver + WebKitWebDriver):
//! the driver's process group, and the handful of W3C endpoints the tests need.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tidewatch_lab::Lab;

/// tauri-driver, the WebKitWebDriver it spawns and the app that one launches, all in one process
/// group that is stopped when the test ends, pass or fail (killing tauri-driver alone would leave
/// the other two running).
pub struct Driver {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn tauri_driver_path() -> PathBuf {
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

pub fn start_driver(lab: &Lab, config_home: &Path, dark: bool) -> Driver {
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
pub struct Session<'a> {
    http: reqwest::Client,
    driver: &'a Driver,
    id: String,
}

impl<'a> Session<'a> {
    /// A session on the app built by this workspace.
    pub async fn start(driver: &'a Driver) -> Session<'a> {
        Session::start_app(driver, Path::new(env!("CARGO_BIN_EXE_tidewatch-app"))).await
    }

    /// A session on `application` (the installed app, for the package test).
    pub async fn start_app(driver: &'a Driver, application: &Path) -> Session<'a> {
        // A bounded wait: a stuck WebDriver call fails the test instead of hanging CI.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("http client");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application}
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

    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub async fn elements(&self, css: &str) -> Vec<String> {
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

    pub async fn element(&self, css: &str) -> String {
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
    pub async fn click(&self, css: &str) {
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

    pub async fn type_into(&self, css: &str, text: &str) {
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
    pub async fn attributes(&self, css: &str, name: &str) -> Vec<String> {
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
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for id in self.elements(css).await {
            let text = self
                .command(reqwest::Method::GET, &format!("element/{id}/text"), None)
                .await;
            texts.push(text.as_str().unwrap_or_default().to_string());
        }
        texts
    }

    /// The DOM text of each element matching `css`, clipped or not (WebDriver's element text
    /// leaves out what is cut off by `text-overflow`), read in one script so a list re-rendering
    /// meanwhile cannot leave a stale element half-way.
    pub async fn text_contents(&self, css: &str) -> Vec<String> {
        let value = self
            .command(
                reqwest::Method::POST,
                "execute/sync",
                Some(json!({
                    "script": "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                    "args": [css],
                })),
            )
            .await;
        value
            .as_array()
            .map(|all| all.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub async fn wait_for_text(&self, css: &str, needle: &str) -> Vec<String> {
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
    pub async fn invoke(&self, command: &str) -> Value {
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
    pub async fn settled_state(&self, after: Option<&str>) -> Value {
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

    pub async fn end(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.driver.url, self.id))
            .send()
            .await;
    }
}
