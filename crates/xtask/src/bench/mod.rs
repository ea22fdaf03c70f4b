//! `cargo xtask bench`: how fast a check is at a real network's latency and how many requests and
//! connections it costs, measured on the lab with the release builds, and how much the desktop
//! app weighs in the tray. A latency-injecting, counting proxy sits in front of the lab's
//! registries (and the token server). Results go to docs/benchmarks.md between its markers.
//! Never a timing assert: numbers are for reading and comparing across changes.

mod app;
mod cli;
mod proxy;
mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::lab;
use crate::proc;

/// What `cargo xtask bench` was asked.
pub struct Options {
    /// Round trip time the proxy adds.
    pub rtt: Duration,
    /// Runs per CLI scenario; the median and the spread are reported.
    pub runs: usize,
    /// Also measure the desktop app (needs its release build).
    pub app: bool,
    /// `max_in_flight` for every registry the checks ask, instead of the default.
    pub max_in_flight: Option<usize>,
}

impl Options {
    pub fn parse(args: &[&str]) -> Result<Options> {
        let mut options = Options {
            rtt: Duration::from_millis(50),
            runs: 5,
            app: true,
            max_in_flight: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut number = || -> Result<u64> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("{arg} needs a number"))
            };
            match *arg {
                "--rtt" => options.rtt = Duration::from_millis(number()?),
                "--runs" => options.runs = number()?.max(1) as usize,
                "--no-app" => options.app = false,
                "--max-in-flight" => options.max_in_flight = Some(number()?.max(1) as usize),
                other => bail!("unknown bench option {other:?} (--rtt MS, --runs N, --no-app, --max-in-flight N)"),
            }
        }
        Ok(options)
    }
}

/// Where the benchmark keeps its files (configs, reference lists, the app's home).
fn work_dir(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn run(root: &Path, options: &Options) -> Result<()> {
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.current_dir(root).args([
        "build",
        "--release",
        "--package",
        "tidewatch-cli",
        "--bin",
        "tidewatch",
        "--example",
        "second_check",
    ]);
    if options.app {
        // In one build, so shared dependencies are built once; the app as `tauri build` builds
        // it, its web assets served from the binary.
        build.args([
            "--package",
            "tidewatch-app",
            "--bin",
            "tidewatch-app",
            "--features",
            "tauri/custom-protocol",
        ]);
    }
    proc::run(&mut build, "build the release CLI and app")?;
    let lab = lab::up(root)?;
    let result = measure_all(root, &lab, options);
    let teardown = lab.down_if_started();
    let measured = result?;
    teardown?;
    report::write(root, options, &measured)
}

/// Everything measured in one run of the benchmark.
pub struct Measured {
    pub machine: report::Machine,
    pub cli: Vec<cli::Row>,
    pub app: Option<app::AppNumbers>,
}

fn measure_all(root: &Path, lab: &lab::LabHandle, options: &Options) -> Result<Measured> {
    let machine = report::Machine::describe();
    let work = work_dir(root)?;
    let cli = cli::measure(root, lab, options, &work)?;
    let app = if options.app {
        Some(app::measure(root, lab, &work)?)
    } else {
        None
    };
    Ok(Measured { machine, cli, app })
}
