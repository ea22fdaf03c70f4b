//! `tidewatch update SERVICE` and `tidewatch rollback SERVICE`: a Swarm service updated (or rolled
//! back) through Swarm's own rollout by the core's `rollout` module; this file parses, asks, prints.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tidewatch_core::checker::short_digest;
use tidewatch_core::rollout::{self, RolloutOptions, RolloutPlan, RolloutReport};
use tidewatch_core::source::RolloutState;

use crate::{load_config, CliError};

#[derive(Args)]
pub struct UpdateArgs {
    /// The service to update: its name, its ID, or a unique prefix of its ID
    name: String,
    /// Engine (a Swarm manager) to look on; repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Print what would change, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the plan (with --dry-run) or the result as JSON on standard output
    #[arg(long)]
    json: bool,
    /// How long each new task must keep running before Swarm counts it as healthy; a failure within it rolls the update back
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    health_timeout: Duration,
    /// How long to follow the rollout before leaving Swarm to finish it alone
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The service to roll back: its name, its ID, or a unique prefix of its ID
    name: String,
    /// Engine (a Swarm manager) to look on; repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the result as JSON on standard output
    #[arg(long)]
    json: bool,
    /// How long to follow the rollback before leaving Swarm to finish it alone
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30s, 2m)"))
}

pub async fn update(config_file: Option<&Path>, args: UpdateArgs) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let options = RolloutOptions {
        engines: args.engines.clone(),
        monitor: args.health_timeout,
        deadline: args.timeout,
    };
    let plan = rollout::plan_update(&config, &args.name, &options).await?;
    if args.dry_run {
        if args.json {
            print_json(&plan)?;
        } else {
            println!("{}", plan_text(&plan, &options));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        // The plan goes to standard error so that standard output holds only the result.
        eprintln!("{}", plan_text(&plan, &options));
    }
    confirm(args.yes, &format!("Update the service {}?", plan.name))?;
    let report = rollout::apply_update(&config, &plan, &options, &progress).await?;
    finish(&report, args.json)
}

pub async fn rollback(config_file: Option<&Path>, args: RollbackArgs) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let options = RolloutOptions {
        engines: args.engines.clone(),
        deadline: args.timeout,
        ..RolloutOptions::default()
    };
    confirm(
        args.yes,
        &format!("Roll the service {} back to its previous spec?", args.name),
    )?;
    let report = rollout::roll_back(&config, &args.name, &options, &progress).await?;
    finish(&report, args.json)
}

/// Asks on a terminal; elsewhere only `--yes` says yes.
fn confirm(yes: bool, question: &str) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::fatal(format!(
            "{question} Standard input is not a terminal to ask on; add --yes to go ahead"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::fatal(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::with_status(1, "nothing was changed"))
    }
}

/// What the update will do, for people: which service, from what, to what, and how Swarm goes about it.
fn plan_text(plan: &RolloutPlan, options: &RolloutOptions) -> String {
    let stack = plan.stack.as_ref().map(|s| format!(" (stack {s})")).unwrap_or_default();
    let replicas = plan
        .replicas
        .map(|r| format!(", {} of {} tasks running", r.running, r.desired))
        .unwrap_or_default();
    format!(
        "service {}{stack} on {}{replicas}\n  from {}\n  to   {} ({} update)\n  Swarm replaces the tasks as its \
         update config says, and rolls the service back if a new task fails within {}",
        plan.name,
        plan.engine,
        shorten(&plan.from),
        shorten(&plan.to),
        plan.update.kind.as_str(),
        humantime::format_duration(options.monitor)
    )
}

/// `name:tag@sha256:0123456789ab` (the full digest is in the JSON).
fn shorten(image: &str) -> String {
    match image.rsplit_once('@') {
        Some((name, digest)) => format!("{name}@{}", short_digest(digest)),
        None => image.to_string(),
    }
}

fn progress(state: &RolloutState) {
    let message = if state.message.is_empty() {
        String::new()
    } else {
        format!(": {}", state.message)
    };
    eprintln!("Swarm: {}{message}", state.phase.as_str().replace('_', " "));
}

fn finish(report: &RolloutReport, json: bool) -> Result<ExitCode, CliError> {
    if json {
        print_json(report)?;
    } else {
        println!("{}", report.summary());
        for failure in report.failures.iter().skip(1) {
            println!("  also: {failure}");
        }
    }
    for warning in &report.warnings {
        eprintln!("tidewatch: Swarm warned: {warning}");
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::fatal(format!("cannot write the result as JSON: {error}")))?;
    println!("{json}");
    Ok(())
}
