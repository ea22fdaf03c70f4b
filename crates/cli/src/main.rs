//! `tidewatch`: the headless command line over Tidewatch's core (no GUI library is linked).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidewatch_core::engine::Engine;

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Knows when the images your containers run have newer versions",
    long_about = "Tidewatch checks the containers on your Docker engines against their registries \
                  (mirror-aware, with OS-keyring credentials) and reports which images have newer versions."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the configured engines and whether they answer
    Engines {
        /// Engine address to try (unix://, tcp://, ssh://); default: DOCKER_HOST, else the local socket
        #[arg(long = "engine", value_name = "URL")]
        engines: Vec<String>,
    },
}

/// Exit status for a fatal error (SPEC §6).
const EXIT_FATAL: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tidewatch_core::init_crypto();
    let cli = Cli::parse();
    match cli.command {
        Command::Engines { engines } => list_engines(engines).await,
    }
}

async fn list_engines(hosts: Vec<String>) -> ExitCode {
    let targets: Vec<(String, String)> = if hosts.is_empty() {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        vec![("local".into(), host)]
    } else {
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("engine-{}", i + 1), h.clone()))
            .collect()
    };
    let mut reachable = 0;
    for (name, host) in &targets {
        match Engine::connect(name, host).await {
            Ok(engine) => {
                reachable += 1;
                println!("{name}\t{host}\tok (API {})", engine.api_version());
            }
            Err(error) => println!("{name}\t{host}\tunreachable: {error}"),
        }
    }
    if reachable == 0 {
        ExitCode::from(EXIT_FATAL)
    } else {
        ExitCode::SUCCESS
    }
}
