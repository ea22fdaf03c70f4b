//! Swarm services on the lab's Swarm manager, deployed the way users deploy them (the docker CLI,
//! which resolves the tag to a digest and records both), and removed when the test ends, even
//! when it fails.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidewatch_lab::containers::LAB_LABEL;
use tidewatch_lab::Lab;

use super::text;

/// `docker` against the lab's Swarm manager.
pub fn docker(lab: &Lab) -> Command {
    let mut command = Command::new("docker");
    command
        .arg("-H")
        .arg(lab.swarm_docker_host())
        .env_remove("DOCKER_HOST")
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("tidewatch-tests-no-docker-config"),
        );
    command
}

pub fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?} (package docker.io): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// A service (or a stack's services) a test deployed; removed when dropped.
pub struct Deployed {
    host: String,
    /// `service rm NAME` or `stack rm NAME`.
    what: &'static str,
    pub name: String,
}

impl Drop for Deployed {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &self.host, self.what, "rm", &self.name])
            .output();
    }
}

/// `docker service create --detach --name NAME [args] IMAGE`, labelled for the lab's cleanup; waits
/// until its one task runs.
pub fn create_service(lab: &Lab, name: &str, image: &str, args: &[&str]) -> Deployed {
    run(docker(lab)
        .args(["service", "create", "--detach", "--name", name])
        .args(["--label", &format!("{LAB_LABEL}=1")])
        .args(args)
        .arg(image));
    let deployed = Deployed {
        host: lab.swarm_docker_host().to_string(),
        what: "service",
        name: name.to_string(),
    };
    wait_running(lab, name);
    deployed
}

/// `docker stack deploy` of `compose` (a stack file) as `stack`; waits until every service runs.
pub fn deploy_stack(lab: &Lab, stack: &str, compose: &str, services: &[&str]) -> Deployed {
    let file = std::env::temp_dir().join(format!("{stack}.yml"));
    std::fs::write(&file, compose).unwrap();
    run(docker(lab)
        .args(["stack", "deploy", "--compose-file"])
        .arg(&file)
        .arg(stack));
    let deployed = Deployed {
        host: lab.swarm_docker_host().to_string(),
        what: "stack",
        name: stack.to_string(),
    };
    for service in services {
        wait_running(lab, &format!("{stack}_{service}"));
    }
    deployed
}

/// Waits until the service's running tasks are all it wants (at most a minute).
pub fn wait_running(lab: &Lab, name: &str) {
    let started = Instant::now();
    loop {
        let output = run(docker(lab).args([
            "service",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Name}} {{.Replicas}}",
        ]));
        let listed = text(&output.stdout);
        let replicas = listed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_default()
            .to_string();
        if let Some((running, desired)) = replicas.split_once('/') {
            if running == desired && running != "0" {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the service {name} did not start within a minute ({replicas}): {}",
            text(&run(docker(lab).args(["service", "ps", "--no-trunc", name])).stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `docker service inspect NAME`, as Docker prints it.
pub fn inspect(lab: &Lab, name: &str) -> Value {
    let output = run(docker(lab).args(["service", "inspect", name]));
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    list[0].clone()
}

/// The image the service's spec names now.
pub fn spec_image(lab: &Lab, name: &str) -> String {
    inspect(lab, name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The images of the service's tasks that run now.
pub fn running_images(lab: &Lab, name: &str) -> Vec<String> {
    let output = run(docker(lab).args([
        "service",
        "ps",
        "--no-trunc",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
        name,
    ]));
    text(&output.stdout)
        .lines()
        .filter(|line| line.contains("Running"))
        .map(|line| line.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}
