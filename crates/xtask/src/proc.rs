//! Running commands and daemons: clear errors naming what failed, daemons detached from the
//! terminal so Ctrl-C reaches only the foreground and the lab can be torn down in order.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Runs a command to completion, failing with `what` when it does not succeed.
pub fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start the command to {what}: {command:?}"))?;
    if !status.success() {
        bail!("failed to {what} ({status})");
    }
    Ok(())
}

/// Starts a daemon in its own process group with its output in `log`.
pub fn spawn_daemon(command: &mut Command, log: &Path) -> Result<Child> {
    spawn_daemon_with_input(command, log, None)
}

/// Starts a daemon like [`spawn_daemon`], writing `input` to its standard input, then closing it.
pub fn spawn_daemon_with_input(command: &mut Command, log: &Path, input: Option<&[u8]>) -> Result<Child> {
    let file = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let err = file.try_clone()?;
    let mut child = command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {command:?} (log: {})", log.display()))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .with_context(|| format!("write to the standard input of {command:?}"))?;
    }
    Ok(child)
}

/// Polls `ready` until it returns true, or fails after `timeout` naming what it waited for.
pub fn wait_until(what: &str, timeout: Duration, log: Option<&Path>, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let tail = log
        .and_then(|l| std::fs::read_to_string(l).ok())
        .map(|t| last_lines(&t, 15))
        .unwrap_or_default();
    bail!(
        "{what} did not become ready within {}s{}",
        timeout.as_secs(),
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends:\n{tail}")
        }
    )
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether a process is alive.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
            .unwrap_or(false)
}

/// Stops a process group politely (SIGTERM), then firmly (SIGKILL) after `grace`.
pub fn stop_group(pid: u32, grace: Duration) {
    let group = format!("-{pid}");
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let start = Instant::now();
    while alive(pid) && start.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

/// Keeps Ctrl-C (and SIGTERM) from killing xtask before it has stopped the lab; the flag says
/// whether it happened. The foreground child (cargo test) still receives the signal and stops.
pub fn install_interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    ctrlc::set_handler(move || {
        eprintln!("xtask: interrupted, stopping the lab…");
        handler_flag.store(true, Ordering::SeqCst);
    })
    .context("install the Ctrl-C handler")?;
    Ok(flag)
}

/// A free TCP port on loopback (bound and released; the lab starts its servers right after).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}
