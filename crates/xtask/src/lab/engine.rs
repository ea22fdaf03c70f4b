//! The lab's Docker engine: an engine that already answers is reused; otherwise `dockerd` runs
//! with its own data root, exec root and socket under the lab directory. The Swarm tests get a
//! single-node Swarm manager: the lab's own engine, or, when the lab reuses someone's engine, a
//! second `dockerd` of the lab's, so nobody's engine is turned into a Swarm manager.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Recorder;
use crate::proc;

/// Containers the tests create carry this label so a reused engine can be cleaned up.
pub const LAB_LABEL: &str = "tidewatch.lab";

pub fn start(dir: &Path, recorder: &mut Recorder) -> Result<String> {
    for candidate in reusable_candidates() {
        if let Some(path) = candidate.strip_prefix("unix://") {
            if answers_ping(Path::new(path)) {
                println!("xtask: reusing the Docker engine at {candidate}");
                recorder.state.reused_engine_host = Some(candidate.clone());
                recorder.save()?;
                return Ok(candidate);
            }
        }
    }
    start_own(dir, "dockerd", recorder)
}

/// Starts a `dockerd` of the lab's under `dir` (data root, exec root, socket, log).
fn start_own(dir: &Path, name: &str, recorder: &mut Recorder) -> Result<String> {
    if crate::setup::which("dockerd").is_none() {
        bail!("no Docker engine answers and dockerd is not installed (package docker.io)");
    }
    std::fs::create_dir_all(dir)?;
    let socket = dir.join("docker.sock");
    let log = dir.join("dockerd.log");
    let child = proc::spawn_daemon(
        Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("docker-data"))
            .arg("--exec-root")
            .arg(dir.join("docker-exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            // Leave the host's bridges and firewall alone. User-defined bridge networks (with static
            // IPs) and published ports (through the userland proxy) still work, which the update
            // tests rely on; only the default `bridge` network is missing.
            // Swarm works with these flags too: its services need no bridge, and the tests
            // publish no ports (Swarm's ingress would need iptables).
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"]),
        &log,
    )?;
    recorder.record(name, child.id())?;
    proc::wait_until(name, Duration::from_secs(60), Some(&log), || answers_ping(&socket))?;
    Ok(format!("unix://{}", socket.display()))
}

/// The engine the Swarm tests use, made a single-node Swarm manager: the lab's own engine, or a
/// second one of the lab's when the lab reuses an engine that is not its own.
pub fn start_swarm(dir: &Path, engine_host: &str, recorder: &mut Recorder) -> Result<String> {
    let host = if recorder.state.reused_engine_host.is_some() {
        start_own(&dir.join("swarm"), "dockerd-swarm", recorder)?
    } else {
        engine_host.to_string()
    };
    // Loopback only, on a port of its own (2377 may be another lab's). Swarm's gossip port (7946)
    // cannot be moved; a second lab on this machine then logs that it is taken, which only
    // overlay networks would need, and the tests use none.
    let port = proc::free_port()?;
    let output = Command::new("docker")
        .args(["-H", &host, "swarm", "init", "--advertise-addr", "127.0.0.1"])
        .arg("--listen-addr")
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .context("run `docker swarm init` (package docker.io)")?;
    if !output.status.success() {
        bail!(
            "`docker swarm init` on the lab engine {host} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(host)
}

fn reusable_candidates() -> Vec<String> {
    let mut candidates = Vec::new();
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        candidates.push(host);
    }
    candidates.push("unix:///var/run/docker.sock".to_string());
    candidates
}

/// A raw `GET /_ping` over the socket: xtask links no HTTP-over-unix client.
fn answers_ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.contains(" 200 ")
}

/// On a reused engine, removes the containers the tests created.
pub fn remove_lab_objects(host: &str) {
    let ids = Command::new("docker")
        .args(["-H", host, "ps", "-aq", "--filter", &format!("label={LAB_LABEL}")])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["-H", host, "rm", "-f"])
            .args(&ids)
            .output();
    }
}

/// After a killed dockerd, overlay mounts under the data root would keep the directory from
/// being removed.
pub fn unmount_leftovers(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).output();
    }
}
