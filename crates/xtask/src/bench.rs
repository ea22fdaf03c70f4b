//! `cargo xtask bench`: how fast a check is and how many registry requests it costs, measured on
//! the lab with the release CLI. Results go to docs/benchmarks.md. Never a timing assert: numbers
//! are for reading and comparing across changes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::lab;
use crate::proc;

/// Containers started for the engine scenario, spread over the fixture images.
const CONTAINERS: usize = 100;
/// Runs per scenario; the median is reported.
const RUNS: usize = 5;

struct Measured {
    scenario: String,
    median: Duration,
    best: Duration,
    requests: u64,
    images: u64,
    containers: u64,
}

pub fn run(root: &Path) -> Result<()> {
    proc::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args(["build", "--release", "--package", "tidewatch-cli"]),
        "build the release CLI",
    )?;
    let cli = root.join("target/release/tidewatch");
    let lab = lab::up(root)?;
    let result = measure_all(root, &cli, &lab);
    let teardown = lab.down_if_started();
    let measured = result?;
    teardown?;
    write_report(root, &measured)
}

fn measure_all(root: &Path, cli: &Path, lab: &lab::LabHandle) -> Result<Vec<Measured>> {
    let vars = lab.vars();
    let host = &vars["TIDEWATCH_LAB_DOCKER_HOST"];
    let open = &vars["TIDEWATCH_LAB_OPEN"];
    let images: Vec<String> = tidewatch_lab::FIXTURE_TAGS
        .iter()
        .flat_map(|(repo, tags)| tags.iter().map(move |tag| format!("{open}/{repo}:{tag}")))
        .collect();
    let data = tempdir(root)?;
    let mut measured = Vec::new();

    let mut by_reference = Command::new(cli);
    by_reference.args(["check", "--json"]);
    for image in &images {
        by_reference.args(["--image", image]);
    }
    measured.push(measure(
        &format!("{} references with --image (tags listed, one HEAD each)", images.len()),
        &mut by_reference,
        &data,
    )?);

    let mut started = Vec::new();
    for image in &images {
        proc::run(
            Command::new("docker")
                .args(["-H", host, "pull", "-q", image])
                .stdout(std::process::Stdio::null()),
            "pull a fixture",
        )?;
    }
    let outcome = (|| -> Result<()> {
        for n in 0..CONTAINERS {
            let image = &images[n % images.len()];
            let name = format!("tidewatch-bench-{n}");
            let _ = Command::new("docker").args(["-H", host, "rm", "-f", &name]).output();
            let out = Command::new("docker")
                .args([
                    "-H",
                    host,
                    "run",
                    "-d",
                    "--label",
                    "tidewatch.lab=1",
                    "--name",
                    &name,
                    image,
                    "sleep",
                    "3600",
                ])
                .output()
                .context("docker run")?;
            if !out.status.success() {
                bail!("cannot start {name}: {}", String::from_utf8_lossy(&out.stderr));
            }
            started.push(name);
        }
        let mut by_engine = Command::new(cli);
        by_engine.args(["check", "--json", "--engine", host]);
        measured.push(measure(
            &format!("{CONTAINERS} containers on {} images, one engine", images.len()),
            &mut by_engine,
            &data,
        )?);
        Ok(())
    })();
    if !started.is_empty() {
        let _ = Command::new("docker")
            .args(["-H", host, "rm", "-f"])
            .args(&started)
            .output();
    }
    outcome?;
    Ok(measured)
}

fn tempdir(root: &Path) -> Result<std::path::PathBuf> {
    let dir = root.join("target/bench-data");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn measure(scenario: &str, command: &mut Command, data: &Path) -> Result<Measured> {
    command
        .env("TIDEWATCH_DATA_DIR", data)
        .env("TIDEWATCH_CONFIG", data.join("config.toml"));
    let mut times = Vec::new();
    let mut last: Value = Value::Null;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = command.output().with_context(|| format!("run {command:?}"))?;
        times.push(start.elapsed());
        if !out.status.success() {
            bail!("{scenario}: the check failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        last = serde_json::from_slice(&out.stdout).context("the check's JSON")?;
    }
    times.sort();
    let summary = &last["summary"];
    let measured = Measured {
        scenario: scenario.to_string(),
        median: times[times.len() / 2],
        best: times[0],
        requests: summary["requests"].as_u64().unwrap_or(0),
        images: summary["images"].as_u64().unwrap_or(0),
        containers: summary["containers"].as_u64().unwrap_or(0),
    };
    print!("{}", measured.table_row());
    Ok(measured)
}

impl Measured {
    /// One row of the report's table (also what the console shows as each scenario finishes).
    fn table_row(&self) -> String {
        format!(
            "| {} | {:.0} ms | {:.0} ms | {} | {} | {} |\n",
            self.scenario,
            self.median.as_secs_f64() * 1000.0,
            self.best.as_secs_f64() * 1000.0,
            self.requests,
            self.containers,
            self.images
        )
    }
}

fn write_report(root: &Path, measured: &[Measured]) -> Result<()> {
    let mut text = String::from(
        "# Benchmarks\n\nWritten by `cargo xtask bench`: the release `tidewatch` CLI against the test lab (real\n\
         dockerd and CNCF distribution registries on loopback), each scenario run 5 times, wall time of the\n\
         whole process (start, engine, registries, JSON). Compare numbers from the same machine only.\n\n\
         | scenario | median | best | requests | containers | images |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for m in measured {
        text.push_str(&m.table_row());
    }
    let path = root.join("docs/benchmarks.md");
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}
