//! The desktop app's weight and start-up, release build, on the lab display: start to tray icon,
//! start to the first rendered list, memory (PSS of the app and every process it started) hidden
//! in the tray after a scheduled check, shown with 1,000 containers, and closed to the tray
//! again; CPU while it waits. The 1,000 containers are real ones on the lab engine, created and
//! never started: a check lists stopped containers like running ones, and a thousand sleeping
//! processes (and their shims) would cost the shared machine gigabytes for nothing the app sees.
//! The moments are the app's own log lines, read as they are written.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tidewatch_lab::bulk_repository;
use tidewatch_lab::desktop::Display;

use super::cli::{create_containers, remove_containers};
use crate::lab;

/// Containers the app lists, over `IMAGES` images (twenty repositories, five versions each).
pub const CONTAINERS: usize = 1000;
const IMAGES: usize = 100;
/// Launches measured for start-up times.
const LAUNCHES: usize = 3;
/// How long the app is left alone before its memory is read, and how long its CPU is watched.
const SETTLE: Duration = Duration::from_secs(5);
const IDLE_WATCH: Duration = Duration::from_secs(30);

/// Memory of the app's processes at one moment.
pub struct Memory {
    /// PSS per process (name, KiB), the app first.
    pub processes: Vec<(String, u64)>,
}

impl Memory {
    pub fn total_kib(&self) -> u64 {
        self.processes.iter().map(|(_, kib)| kib).sum()
    }
}

pub struct AppNumbers {
    pub containers: usize,
    pub start_to_tray: Vec<Duration>,
    /// Start to the window showing its first rendering (the list, or "checking" before the first check).
    pub start_to_window: Vec<Duration>,
    /// Start to the list of every container rendered (after the first check).
    pub start_to_list: Vec<Duration>,
    /// From asking a running app (hidden) to open, to its list rendered.
    pub open_to_list: Duration,
    /// The app's check of the containers, as it logged it.
    pub check_ms: Vec<u64>,
    pub hidden_after_check: Memory,
    pub shown: Memory,
    pub closed_to_tray: Memory,
    /// CPU time of all its processes while hidden and waiting for the next check.
    pub idle_cpu: Duration,
}

/// A launched app and its log lines, each with when it arrived.
struct Running {
    child: Child,
    started: Instant,
    lines: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl Running {
    fn launch(binary: &Path, env: &[(String, String)], args: &[&str]) -> Result<Running> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = child.stderr.take().context("stderr")?;
        let lines: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((started.elapsed(), strip_ansi(&line)));
            }
        });
        Ok(Running { child, started, lines })
    }

    /// When the first line containing `needle` (and passing `accept`) arrived, after `after`.
    fn wait_for(&self, needle: &str, after: Duration, accept: impl Fn(&str) -> bool) -> Result<(Duration, String)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(found) = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(at, line)| *at >= after && line.contains(needle) && accept(line))
                .cloned()
            {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("the app did not log {needle:?} within 2 minutes");
            }
            if !crate::proc::alive(self.child.id()) {
                bail!("the app exited before logging {needle:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(mut self) {
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field(line: &str, name: &str) -> Option<u64> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    line[start..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Every process descended from `root` (itself first), by pid.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: HashMap<u32, u32> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some(close) = stat.rfind(')') {
                if let Some(ppid) = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                    parents.insert(pid, ppid);
                }
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, p)| **p == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    tree
}

fn memory(root: u32) -> Memory {
    let processes = process_tree(root)
        .into_iter()
        .filter_map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()?
                .trim()
                .to_string();
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let pss = rollup
                .lines()
                .find(|l| l.starts_with("Pss:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((name, pss))
        })
        .collect();
    Memory { processes }
}

/// User and system CPU time of the process tree so far.
fn cpu_time(root: u32) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let total: u64 = process_tree(root)
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
            // After `pid (comm)`: state is field 3, utime 14 and stime 15 (1-based, man proc).
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_millis(total * 1000 / ticks)
}

pub fn measure(root: &Path, lab: &lab::LabHandle, work: &Path) -> Result<AppNumbers> {
    let vars = lab.vars();
    let host = vars["TIDEWATCH_LAB_DOCKER_HOST"].clone();
    let open = vars["TIDEWATCH_LAB_OPEN"].clone();
    let images: Vec<String> = (0..IMAGES / 5)
        .flat_map(|i| {
            ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.1.0"].map(|tag| format!("{open}/{}:{tag}", bulk_repository(i)))
        })
        .collect();
    for image in &images {
        crate::proc::run(
            Command::new("docker")
                .args(["-H", &host, "pull", "-q", image])
                .stdout(Stdio::null()),
            &format!("pull {image}"),
        )?;
    }
    let names: Vec<String> = (0..CONTAINERS).map(|n| format!("tidewatch-bench-app-{n:04}")).collect();
    println!("bench: creating {CONTAINERS} containers on the lab engine");
    let outcome = create_containers(&host, &names, |n| images[n % images.len()].clone())
        .and_then(|()| measure_app(root, lab, work, &host));
    remove_containers(&host, &names);
    outcome
}

fn measure_app(root: &Path, lab: &lab::LabHandle, work: &Path, host: &str) -> Result<AppNumbers> {
    let vars = lab.vars();
    let binary = root.join("target/release/tidewatch-app");
    let home: PathBuf = work.join("app-home");
    std::fs::create_dir_all(home.join("config/tidewatch"))?;
    std::fs::write(
        home.join("config/tidewatch/config.toml"),
        format!("[[engines]]\nname = \"lab\"\nhost = \"{host}\"\n"),
    )?;
    let display_name = vars["TIDEWATCH_LAB_DISPLAY"].clone();
    let env: Vec<(String, String)> = [
        ("DISPLAY", display_name.as_str()),
        ("DBUS_SESSION_BUS_ADDRESS", vars["TIDEWATCH_LAB_DBUS_ADDRESS"].as_str()),
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        ("HOME", &home.display().to_string()),
        ("XDG_CONFIG_HOME", &home.join("config").display().to_string()),
        ("XDG_DATA_HOME", &home.join("data").display().to_string()),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let display = Display::open(&display_name).map_err(anyhow::Error::msg)?;
    let window_count = || display.visible_windows("Tidewatch").len();
    if window_count() != 0 {
        bail!("a Tidewatch window is already on the lab display; close it first");
    }
    let listed = |line: &str| field(line, "rows").is_some_and(|rows| rows > 0);

    // Hidden in the tray, as started at login: a scheduled check, then nothing to do.
    println!("bench: the app started hidden");
    let app = Running::launch(&binary, &env, &["--hidden"])?;
    let outcome = (|| -> Result<(Duration, u64, Memory, Duration, Duration, Memory, Memory)> {
        let (tray, _) = app.wait_for("tray icon ready", Duration::ZERO, |_| true)?;
        let (_, check) = app.wait_for("check finished", Duration::ZERO, |_| true)?;
        std::thread::sleep(SETTLE);
        if window_count() != 0 {
            bail!("the app started with --hidden shows a window");
        }
        let hidden = memory(app.child.id());
        let cpu_before = cpu_time(app.child.id());
        std::thread::sleep(IDLE_WATCH);
        let idle_cpu = cpu_time(app.child.id()).saturating_sub(cpu_before);

        // Opened from a second launch (as from the menu or the desktop's launcher).
        println!("bench: the window opened and closed again");
        let asked = app.started.elapsed();
        let opened = Instant::now();
        let mut second = Command::new(&binary)
            .envs(env.iter().cloned())
            .stderr(Stdio::null())
            .spawn()?;
        let (_, _) = app.wait_for("window rendered", asked, listed)?;
        let open_to_list = opened.elapsed();
        let _ = second.wait();
        std::thread::sleep(SETTLE);
        let shown = memory(app.child.id());
        let closing = app.started.elapsed();
        if display.request_close("Tidewatch") != 1 {
            bail!("the window to close is not on the display");
        }
        app.wait_for("window closed", closing, |_| true)?;
        std::thread::sleep(SETTLE);
        let closed = memory(app.child.id());
        Ok((
            tray,
            field(&check, "duration_ms").unwrap_or(0),
            hidden,
            idle_cpu,
            open_to_list,
            shown,
            closed,
        ))
    })();
    app.stop();
    let (hidden_tray, hidden_check, hidden_after_check, idle_cpu, open_to_list, shown, closed_to_tray) = outcome?;

    // Started with the window, a few times: the moments a user waits for.
    let mut start_to_tray = vec![hidden_tray];
    let mut start_to_window = Vec::new();
    let mut start_to_list = Vec::new();
    let mut check_ms = vec![hidden_check];
    for launch in 0..LAUNCHES {
        println!("bench: the app started with its window ({}/{LAUNCHES})", launch + 1);
        let app = Running::launch(&binary, &env, &[])?;
        let measured = (|| -> Result<()> {
            start_to_tray.push(app.wait_for("tray icon ready", Duration::ZERO, |_| true)?.0);
            start_to_window.push(app.wait_for("window rendered", Duration::ZERO, |_| true)?.0);
            start_to_list.push(app.wait_for("window rendered", Duration::ZERO, listed)?.0);
            let (_, check) = app.wait_for("check finished", Duration::ZERO, |_| true)?;
            check_ms.push(field(&check, "duration_ms").unwrap_or(0));
            Ok(())
        })();
        app.stop();
        measured?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while window_count() != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for times in [&mut start_to_tray, &mut start_to_window, &mut start_to_list] {
        times.sort();
    }
    check_ms.sort();
    Ok(AppNumbers {
        containers: CONTAINERS,
        start_to_tray,
        start_to_window,
        start_to_list,
        open_to_list,
        check_ms,
        hidden_after_check,
        shown,
        closed_to_tray,
        idle_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_are_read_without_colours() {
        let line =
            strip_ansi("\u{1b}[2m2026\u{1b}[0m INFO window rendered \u{1b}[3mrows\u{1b}[0m\u{1b}[2m=\u{1b}[0m1000");
        assert!(line.contains("window rendered"));
        assert_eq!(field(&line, "rows"), Some(1000));
        assert_eq!(field("check finished duration_ms=812 x", "duration_ms"), Some(812));
    }
}
