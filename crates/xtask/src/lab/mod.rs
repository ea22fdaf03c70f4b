//! The test lab: a Docker engine, real CNCF distribution registries (open, TLS, htpasswd, token
//! auth, pull-through mirror) with fixture images, a session D-Bus with gnome-keyring and a dbusmock
//! notification server, and Xvfb. `up` records every process it starts so `down` (or a failed
//! `up`) stops exactly those.

mod bulk;
mod desktop;
mod engine;
pub mod fault_registry;
mod fixtures;
mod registries;
pub mod token_server;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::proc;

pub use registries::spawn_token_view;

/// Processes the lab started, in start order, persisted so `lab down` works from another process.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    processes: Vec<(String, u32)>,
    /// Set when the lab reused an engine that was already running: `down` then only removes
    /// the lab's containers and images from it.
    reused_engine_host: Option<String>,
}

pub struct LabHandle {
    pub env_file: PathBuf,
    vars: BTreeMap<String, String>,
    root: PathBuf,
    started_here: bool,
}

impl LabHandle {
    /// Exports the lab to a command: the TIDEWATCH_LAB_* variables plus what the desktop tests
    /// need (the session bus, the display).
    pub fn apply_env(&self, command: &mut Command) {
        command.envs(&self.vars);
        command.env("DBUS_SESSION_BUS_ADDRESS", &self.vars["TIDEWATCH_LAB_DBUS_ADDRESS"]);
        command.env("DISPLAY", &self.vars["TIDEWATCH_LAB_DISPLAY"]);
    }

    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// Stops the lab if this process started it (a lab a developer brought up stays up).
    pub fn down_if_started(&self) -> Result<()> {
        if self.started_here {
            down(&self.root)
        } else {
            println!(
                "xtask: the lab was already up before this run; leaving it running (cargo xtask lab down stops it)"
            );
            Ok(())
        }
    }
}

/// Where the lab keeps sockets, configs and logs: short (unix socket paths are limited to 108
/// bytes) and specific to this checkout.
pub fn lab_dir(root: &Path) -> PathBuf {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(root.to_string_lossy().as_bytes()));
    PathBuf::from(format!("/tmp/tidewatch-lab-{}", &hash[..10]))
}

fn env_file(root: &Path) -> PathBuf {
    root.join("target/lab/lab.env")
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

fn read_state(dir: &Path) -> Option<State> {
    serde_json::from_str(&fs::read_to_string(state_file(dir)).ok()?).ok()
}

struct Recorder {
    dir: PathBuf,
    state: State,
}

impl Recorder {
    fn record(&mut self, name: &str, pid: u32) -> Result<()> {
        self.state.processes.push((name.to_string(), pid));
        self.save()
    }
    fn save(&self) -> Result<()> {
        fs::write(state_file(&self.dir), serde_json::to_string_pretty(&self.state)?).context("write the lab state")
    }
}

pub fn up(root: &Path) -> Result<LabHandle> {
    let dir = lab_dir(root);
    let env_path = env_file(root);
    if let Some(state) = read_state(&dir) {
        let all_alive = !state.processes.is_empty() && state.processes.iter().all(|(_, pid)| proc::alive(*pid));
        if all_alive && env_path.is_file() {
            let vars = tidewatch_lab_vars(&fs::read_to_string(&env_path)?);
            println!("xtask: the lab is already up ({})", dir.display());
            return Ok(LabHandle {
                env_file: env_path,
                vars,
                root: root.to_path_buf(),
                started_here: false,
            });
        }
        println!("xtask: a previous lab did not stop cleanly; clearing it");
        down(root)?;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut recorder = Recorder {
        dir: dir.clone(),
        state: State::default(),
    };
    recorder.save()?;

    let started = std::time::Instant::now();
    match start_everything(&dir, &mut recorder) {
        Ok(vars) => {
            fs::create_dir_all(env_path.parent().expect("env file has a parent"))?;
            let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            fs::write(
                &env_path,
                format!("# written by `cargo xtask lab up`; removed by `cargo xtask lab down`\n{text}"),
            )?;
            println!(
                "xtask: lab up in {:.1}s ({})",
                started.elapsed().as_secs_f64(),
                dir.display()
            );
            Ok(LabHandle {
                env_file: env_path,
                vars,
                root: root.to_path_buf(),
                started_here: true,
            })
        }
        Err(error) => {
            eprintln!("xtask: the lab failed to start; stopping what was started");
            let _ = down(root);
            Err(error)
        }
    }
}

fn start_everything(dir: &Path, recorder: &mut Recorder) -> Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    vars.insert("TIDEWATCH_LAB_DIR".to_string(), dir.display().to_string());

    let engine_host = engine::start(dir, recorder)?;
    vars.insert("TIDEWATCH_LAB_DOCKER_HOST".into(), engine_host.clone());
    let swarm_host = engine::start_swarm(dir, &engine_host, recorder)?;
    vars.insert("TIDEWATCH_LAB_SWARM_DOCKER_HOST".into(), swarm_host);

    let registries = registries::start(dir, recorder)?;
    vars.extend(registries.vars());

    fixtures::push_all(&registries)?;
    let bulk_started = std::time::Instant::now();
    bulk::push(&registries.open, tidewatch_lab::BULK_REPOSITORIES)?;
    bulk::push(&registries.token, tidewatch_lab::BULK_REPOSITORIES_ON_TOKEN)?;
    println!(
        "xtask: bulk fixtures pushed in {:.1}s",
        bulk_started.elapsed().as_secs_f64()
    );
    fixtures::import_local_only(&engine_host)?;

    vars.extend(desktop::start(dir, recorder)?);
    Ok(vars)
}

pub fn down(root: &Path) -> Result<()> {
    let dir = lab_dir(root);
    let Some(state) = read_state(&dir) else {
        println!("xtask: no lab is running");
        let _ = fs::remove_file(env_file(root));
        return Ok(());
    };
    if let Some(host) = &state.reused_engine_host {
        engine::remove_lab_objects(host);
    }
    // Reverse start order: the desktop services first, the engine (slowest to stop) last.
    for (name, pid) in state.processes.iter().rev() {
        if proc::alive(*pid) {
            let grace = if name.starts_with("dockerd") {
                Duration::from_secs(20)
            } else {
                Duration::from_secs(5)
            };
            proc::stop_group(*pid, grace);
        }
    }
    engine::unmount_leftovers(&dir);
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_file(env_file(root));
    println!("xtask: lab stopped");
    Ok(())
}

pub fn print_env(root: &Path) -> Result<()> {
    let text = fs::read_to_string(env_file(root)).context("the lab is not up: run `cargo xtask lab up` first")?;
    for (k, v) in tidewatch_lab_vars(&text) {
        println!("export {k}='{v}'");
    }
    Ok(())
}

fn tidewatch_lab_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
