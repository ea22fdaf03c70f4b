//! The progress display on a terminal, against an engine that accepts connections and never
//! answers (a behaviour no real engine shows on demand): the spinner and the elapsed time keep
//! moving while the engines are being connected to.

mod terminal;

use std::time::Duration;

use terminal::{under_pty, Pty};

#[test]
fn the_spinner_and_elapsed_time_tick_while_an_engine_is_connected_to() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().unwrap().port();
    // Accept and hold connections without a byte in reply.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut command = under_pty(&["check", "--engine", &format!("tcp://127.0.0.1:{port}")]);
    command
        .env("TIDEWATCH_CONFIG", dir.path().join("absent.toml"))
        .env("TIDEWATCH_DATA_DIR", dir.path().join("data"))
        .env("CONTAINERS_REGISTRIES_CONF", dir.path().join("absent.conf"))
        .env("REGISTRY_AUTH_FILE", dir.path().join("absent.json"));
    let mut pty = Pty::spawn(command);
    pty.wait_for("connecting to the engines", Duration::from_secs(20));
    pty.watch(Duration::from_millis(2600));
    let shown = pty.text();
    assert!(
        shown.contains("1s") && shown.contains("2s"),
        "the elapsed time moves: {shown:?}"
    );
    let frames: std::collections::BTreeSet<char> = shown.chars().filter(|c| "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏".contains(*c)).collect();
    assert!(
        frames.len() >= 5,
        "the spinner turns between results: {frames:?} in {shown:?}"
    );
}

#[test]
fn no_progress_is_drawn_when_standard_error_is_not_a_terminal() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["check", "--engine", &format!("tcp://127.0.0.1:{port}")])
        .env("TIDEWATCH_CONFIG", dir.path().join("absent.toml"))
        .env("TIDEWATCH_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("connecting"), "{stderr}");
}
