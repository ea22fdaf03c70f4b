//! `tidewatch engines` and `tidewatch explain`: what a check would use, without checking, as
//! text or (`--json`) as one JSON document (docs/cli.md).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use tidewatch_core::config::config_path;
use tidewatch_core::engine::{engines_to_watch, probe_engines, ProbeStatus};
use tidewatch_core::explain::explain as explain_image;

use crate::terminal::Terminal;
use crate::{load_config, print_json, CliError, EXIT_FATAL};

pub const ENGINES_EXAMPLES: &str = "\
Examples:
  tidewatch engines                                  the configured engines, else the local one
  tidewatch engines --engine ssh://me@build-box      one engine over SSH
  tidewatch engines --json                           as a JSON document (docs/cli.md)

Exits 2 when no engine answers.
";

pub const EXPLAIN_EXAMPLES: &str = "\
Examples:
  tidewatch explain nginx                                  docker.io/library/nginx:latest, asked of Docker Hub
  tidewatch explain docker.m.daocloud.io/library/redis:7   a built-in mirror, mapped to its upstream
  tidewatch explain harbor.corp/dockerhub/nginx --json     with the [[mirrors]] rules of the configuration
";

#[derive(Args)]
pub struct EnginesArgs {
    /// Engine address to try (unix://, tcp://, https://, ssh://); repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Print one JSON document (docs/cli.md) instead of lines
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Image reference as a container names it, e.g. nginx:1.25 or harbor.corp/dockerhub/nginx
    image: String,
    /// Print one JSON document (docs/cli.md) instead of text
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct EnginesDocument<'a> {
    engines: &'a [tidewatch_core::engine::EngineProbe],
}

pub async fn engines(config_file: Option<&Path>, args: EnginesArgs, terminal: Terminal) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let probes = probe_engines(&engines_to_watch(&config, &args.engines)).await;
    if args.json {
        print_json(&EnginesDocument { engines: &probes })?;
    } else {
        for probe in &probes {
            match (&probe.status, &probe.api_version, &probe.error) {
                (ProbeStatus::Ok, Some(api), _) => println!(
                    "{}\t{}\t{}",
                    probe.name,
                    probe.endpoint,
                    terminal.paint("32", &format!("ok (API {api})"))
                ),
                (_, _, error) => println!(
                    "{}\t{}\t{}",
                    probe.name,
                    probe.endpoint,
                    terminal.paint(
                        "31",
                        &format!(
                            "unreachable: {}",
                            error.as_ref().map(|e| e.message.as_str()).unwrap_or("no answer")
                        )
                    )
                ),
            }
        }
    }
    Ok(if probes.iter().any(|p| p.status == ProbeStatus::Ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FATAL)
    })
}

pub fn explain(config_file: Option<&Path>, args: ExplainArgs, terminal: Terminal) -> Result<ExitCode, CliError> {
    let explained = explain_image(&config_path(config_file)?, &args.image)?;
    if args.json {
        print_json(&explained)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", terminal.paint("1", &explained.image));
    println!("{}", terminal.paint("1", "normalization:"));
    for step in &explained.normalization {
        println!("  - {step}");
    }
    println!("{}", terminal.paint("1", "mirror resolution:"));
    for step in &explained.resolution {
        println!("  - {step}");
    }
    println!("platform for --image checks: {}", explained.platform);
    Ok(ExitCode::SUCCESS)
}
