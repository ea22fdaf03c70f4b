//! `tidewatch update` and `tidewatch rollback`: pick the containers, ask the core for plans, ask the
//! user, apply, and print the outcomes (docs/cli.md#tidewatch-update).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tidewatch_core::checker::{inventory, CheckRequest, Checker, ContainerResult, Status};
use tidewatch_core::config::Config;
use tidewatch_core::engine::{engines_to_watch, Engine};
use tidewatch_core::store::database_path;
use tidewatch_core::update::{
    self, locate, Action, Method, OutcomeStatus, Phase, PlannedUpdate, UpdateOutcome, UpdatePlan, UpdateProgress,
    UpdateReport, Updater,
};

use crate::exit::{EXIT_INTERRUPTED, EXIT_NOT_ALL};
use crate::{load_config, CliError};

pub const UPDATE_EXAMPLES: &str = "\
Examples:
  tidewatch update web               update one container, after showing the plan and asking
  tidewatch update web --dry-run     show the plan (image change, every field that changes) only
  tidewatch update --all --yes       update every container with an update, without asking
  tidewatch update prod/web --json   one JSON document (docs/cli.md)
";

pub const ROLLBACK_EXAMPLES: &str = "\
Examples:
  tidewatch rollback web             put back the image web ran before its last update
  tidewatch rollback web --yes       without asking
";

#[derive(Args)]
pub struct UpdateArgs {
    /// Containers to update: a name or ID, or ENGINE/NAME when several engines are used
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
    /// Update every container that has an update available
    #[arg(long, conflicts_with = "containers")]
    all: bool,
    /// Engine to use (unix://, tcp://, ssh://); repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Print the plan (the image change and every field that changes) and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation (needed when standard input is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print one JSON document (docs/cli.md) instead of text
    #[arg(long)]
    json: bool,
    /// How long a new container with a healthcheck may take to turn healthy (default: [updates] health_timeout, 120s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    health_timeout: Option<Duration>,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The container whose last update to roll back: a name or ID, or ENGINE/NAME
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Engine to use (unix://, tcp://, ssh://); repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Do not ask for confirmation (needed when standard input is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print one JSON document (docs/cli.md) instead of text
    #[arg(long)]
    json: bool,
    /// How long a container with a healthcheck may take to turn healthy (default: [updates] health_timeout, 120s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    health_timeout: Option<Duration>,
}

/// A duration written as in the configuration (docs/config.md#durations), between 1 s and 1 h.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = tidewatch_core::config::parse_duration(text)?;
    if duration < Duration::from_secs(1) || duration > Duration::from_secs(3600) {
        return Err("give a duration between 1s and 1h, e.g. 90s or 5m".into());
    }
    Ok(duration)
}

pub async fn update(config_file: Option<&Path>, args: UpdateArgs) -> Result<ExitCode, CliError> {
    if args.containers.is_empty() && !args.all {
        return Err(CliError::fatal(
            "name the containers to update (`tidewatch update web`), or pass --all",
        ));
    }
    require_confirmation_possible(args.yes || args.dry_run, "update")?;
    let config = load_config(config_file)?;
    let updater = updater(&config, args.health_timeout)?;
    let mut report = UpdateReport::new(args.dry_run);
    report.recovered = recover().await;
    let engines = connect(&config, &args.engines).await?;
    let progress = ProgressLines::new(args.json);

    // What to update: the containers named, or every one with an update.
    let mut targets: Vec<(usize, String, Option<ContainerResult>)> = Vec::new();
    if args.all {
        let checker = Checker::from_config(&config)?;
        let targets_all = engines_to_watch(&config, &args.engines);
        let check = checker
            .check(
                CheckRequest {
                    engines: inventory(&targets_all).await,
                    images: Vec::new(),
                    resolve_digests: false,
                },
                &|_| {},
            )
            .await;
        for result in check
            .containers
            .into_iter()
            .filter(|r| r.status == Status::UpdateAvailable)
        {
            let engine = engines.iter().position(|e| Some(e.name()) == result.engine.as_deref());
            if let (Some(engine), Some(name)) = (engine, result.name.clone()) {
                targets.push((engine, name, Some(result)));
            }
        }
    } else {
        for wanted in &args.containers {
            let (engine, name) = locate(&engines, wanted).await.map_err(CliError::fatal)?;
            targets.push((engine, name, None));
        }
    }

    let mut plans: Vec<(usize, UpdatePlan)> = Vec::new();
    for (engine, name, known) in &targets {
        match updater
            .plan(&engines[*engine], name, known.as_ref(), &|p| progress.show(&p))
            .await
        {
            Ok(plan) => plans.push((*engine, plan)),
            Err(error) => report.results.push(UpdateOutcome::not_done(
                engines[*engine].name(),
                name,
                Action::Update,
                &error,
            )),
        }
    }
    progress.clear();
    for (engine, plan) in &plans {
        let changes = if args.dry_run {
            match updater
                .field_changes(&engines[*engine], plan, &|p| progress.show(&p))
                .await
            {
                Ok(changes) => Some(changes),
                Err(error) => {
                    progress.clear();
                    eprintln!("tidewatch: {}: cannot list the changes: {error}", plan.container);
                    None
                }
            }
        } else {
            None
        };
        report.plans.push(PlannedUpdate {
            plan: plan.clone(),
            changes,
        });
    }
    progress.clear();
    if !args.json {
        print_plans(&report, engines.len() > 1);
    }

    if !args.dry_run && !plans.is_empty() {
        let services = plans.iter().filter(|(_, p)| p.method == Method::Swarm).count();
        let question = match (plans.len() - services, services) {
            (containers, 0) => format!("Update {containers} container(s)?"),
            (0, services) => format!("Update {services} Swarm service(s)?"),
            (containers, services) => format!("Update {containers} container(s) and {services} Swarm service(s)?"),
        };
        if !args.yes && !confirm(&question)? {
            if args.json {
                report.finish();
                print_json(&report)?;
            }
            println!("Nothing was changed.");
            return Ok(ExitCode::from(EXIT_NOT_ALL));
        }
        let _guard = CtrlCGuard::start();
        for (engine, plan) in &plans {
            let outcome = updater.apply(&engines[*engine], plan, &|p| progress.show(&p)).await;
            progress.clear();
            if !args.json {
                print_outcome(&outcome);
            }
            report.results.push(outcome);
        }
    } else if !args.json {
        for outcome in &report.results {
            print_outcome(outcome);
        }
    }
    report.finish();
    if args.json {
        print_json(&report)?;
    }
    Ok(exit_status(&report))
}

pub async fn rollback(config_file: Option<&Path>, args: RollbackArgs) -> Result<ExitCode, CliError> {
    require_confirmation_possible(args.yes, "rollback")?;
    let config = load_config(config_file)?;
    let updater = updater(&config, args.health_timeout)?;
    let mut report = UpdateReport::new(false);
    report.recovered = recover().await;
    let engines = connect(&config, &args.engines).await?;
    let (engine, name) = locate(&engines, &args.container).await.map_err(CliError::fatal)?;
    if !args.yes && !confirm(&format!("Roll back the last update of {name}?"))? {
        println!("Nothing was changed.");
        return Ok(ExitCode::from(EXIT_NOT_ALL));
    }
    let progress = ProgressLines::new(args.json);
    let _guard = CtrlCGuard::start();
    let outcome = updater.rollback(&engines[engine], &name, &|p| progress.show(&p)).await;
    progress.clear();
    if !args.json {
        print_outcome(&outcome);
    }
    report.results.push(outcome);
    report.finish();
    if args.json {
        print_json(&report)?;
    }
    Ok(exit_status(&report))
}

/// Settles updates an earlier run left unfinished, saying so on standard error. Run at the start
/// of every command that touches engines.
pub async fn recover() -> Vec<update::Recovery> {
    let database = match database_path() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("tidewatch: warning: cannot look for interrupted updates: {error}");
            return Vec::new();
        }
    };
    match update::recover_interrupted(&database).await {
        Ok(recoveries) => {
            for recovery in &recoveries {
                eprintln!("tidewatch: {}", recovery.message);
            }
            recoveries
        }
        Err(error) => {
            eprintln!("tidewatch: warning: cannot look for interrupted updates: {error}");
            Vec::new()
        }
    }
}

fn updater(config: &Config, health_timeout: Option<Duration>) -> Result<Updater, CliError> {
    let updater = Updater::new(config, database_path()?)?;
    Ok(match health_timeout {
        Some(timeout) => updater.with_health_timeout(timeout),
        None => updater,
    })
}

/// The engines to use, connected; those that do not answer are reported and left out.
async fn connect(config: &Config, urls: &[String]) -> Result<Vec<Engine>, CliError> {
    let mut engines = Vec::new();
    for target in engines_to_watch(config, urls) {
        match target.connect().await {
            Ok(engine) => engines.push(engine),
            Err(error) => eprintln!("tidewatch: engine {}: {error}", target.name()),
        }
    }
    if engines.is_empty() {
        return Err(CliError::fatal("no engine answered; see the messages above"));
    }
    Ok(engines)
}

/// Changing containers needs a yes: from `--yes`, or from a person at a terminal.
fn require_confirmation_possible(given: bool, what: &str) -> Result<(), CliError> {
    if given || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(CliError::fatal(format!(
        "refusing to {what} without confirmation: standard input is not a terminal, so nobody can be asked; pass \
         --yes to {what} without asking (or --dry-run to see the plan)"
    )))
}

fn confirm(question: &str) -> Result<bool, CliError> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::fatal(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn exit_status(report: &UpdateReport) -> ExitCode {
    let summary = &report.summary;
    if summary.interrupted > 0 {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if summary.refused + summary.failed + summary.rolled_back > 0 {
        ExitCode::from(EXIT_NOT_ALL)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_json(report: &UpdateReport) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|error| CliError::fatal(format!("cannot write the report as JSON: {error}")))?;
    println!("{json}");
    Ok(())
}

fn print_plans(report: &UpdateReport, several_engines: bool) {
    for planned in &report.plans {
        let plan = &planned.plan;
        let who = if several_engines {
            format!("{}/{}", plan.engine, plan.container)
        } else {
            plan.container.clone()
        };
        println!(
            "{who}: {} -> {} ({})",
            plan.image,
            plan.target.reference,
            plan.target.kind.as_str()
        );
        match &plan.method {
            Method::Recreate => {
                println!("  recreated from its configuration; the old container is kept until the new one is healthy")
            }
            Method::Swarm => {
                let service = plan.service.as_ref();
                let stack = service
                    .and_then(|s| s.stack.as_deref())
                    .map(|s| format!(" (stack {s})"))
                    .unwrap_or_default();
                let tasks = service
                    .and_then(|s| s.replicas)
                    .map(|r| format!(", {} of {} tasks running", r.running, r.desired))
                    .unwrap_or_default();
                println!("  a Swarm service{stack}{tasks}: Swarm replaces its tasks as its update config says");
            }
            Method::Compose(compose) => {
                println!(
                    "  through the compose CLI: project {}, service {} (up -d --no-deps)",
                    compose.service.project, compose.service.service
                );
                if let Some(edit) = &compose.edit {
                    println!(
                        "  edits line {} of {}: {} -> {} (a backup is kept beside it)",
                        edit.line,
                        edit.file.display(),
                        edit.old_value,
                        edit.new_value
                    );
                }
            }
        }
        if !plan.dependents.is_empty() {
            println!(
                "  also recreated (they share its network): {}",
                plan.dependents.join(", ")
            );
        }
        if let Some(mirror) = &plan.target.mirror {
            println!("  pulled through the mirror {mirror}");
        }
        let gate = if plan.downtime.healthcheck {
            format!("until healthy, up to {} s", plan.downtime.health_gate_s)
        } else {
            format!("{} s of steady running", plan.downtime.health_gate_s)
        };
        if plan.method == Method::Swarm {
            println!(
                "  each new task must run {} s; a failure within it and Swarm rolls the service back",
                plan.downtime.health_gate_s
            );
        } else {
            println!(
                "  down from its stop (up to {} s) until the new container starts; then the health gate: {gate}",
                plan.downtime.stop_timeout_s
            );
        }
        if let Some(changes) = &planned.changes {
            if changes.is_empty() {
                println!("  no field changes");
            }
            for change in changes {
                println!(
                    "  {}: {} -> {}  ({})",
                    change.field,
                    change.before.as_deref().unwrap_or("(not set)"),
                    change.after.as_deref().unwrap_or("(not set)"),
                    reason_text(change.reason)
                );
            }
        }
    }
}

fn reason_text(reason: update::ChangeReason) -> &'static str {
    match reason {
        update::ChangeReason::Image => "the new image",
        update::ChangeReason::NewImageDefault => "the new image's default",
        update::ChangeReason::Generated => "generated by the engine",
        update::ChangeReason::CarriedVolume => "anonymous volume kept by name",
        update::ChangeReason::ProviderName => "the provider by name",
        update::ChangeReason::Rollout => "how Swarm rolls it out",
    }
}

fn print_outcome(outcome: &UpdateOutcome) {
    let what = match outcome.action {
        Action::Update => "update",
        Action::Rollback => "rollback",
    };
    let swarm = outcome.method == "swarm";
    let line = match outcome.status {
        OutcomeStatus::Updated if swarm => format!(
            "{}: {what} done through Swarm: the service runs {} ({:.1} s)",
            outcome.container,
            outcome.image_after,
            outcome.duration_ms as f64 / 1000.0
        ),
        OutcomeStatus::Updated => format!(
            "{}: {what} done: runs {} (new container {}) in {:.1} s",
            outcome.container,
            outcome.image_after,
            outcome.container_id_after.as_deref().map(short_id).unwrap_or("?"),
            outcome.duration_ms as f64 / 1000.0
        ),
        OutcomeStatus::Unchanged => format!(
            "{}: nothing to do: the pulled image is the one it runs{}",
            outcome.container,
            outcome
                .error
                .as_ref()
                .map(|e| format!(" ({})", e.message))
                .unwrap_or_default()
        ),
        status => format!(
            "{}: {}: {}",
            outcome.container,
            status.as_str().replace('_', " "),
            outcome.error.as_ref().map(|e| e.message.as_str()).unwrap_or("")
        ),
    };
    println!("{line}");
    if !outcome.logs.is_empty() {
        println!(
            "  {}",
            if swarm {
                "why its new tasks failed:"
            } else {
                "its last lines of output:"
            }
        );
        for log in &outcome.logs {
            println!("    {log}");
        }
    }
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Progress on standard error: a spinner line on a terminal, one line per phase otherwise (none
/// with `--json`, whose standard error stays for messages).
struct ProgressLines {
    bar: Option<ProgressBar>,
    plain: bool,
    last: Mutex<String>,
}

impl ProgressLines {
    fn new(json: bool) -> ProgressLines {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ProgressLines {
            bar,
            plain: !terminal && !json,
            last: Mutex::new(String::new()),
        }
    }

    fn show(&self, progress: &UpdateProgress) {
        let text = format!("{}: {}", progress.container, phase_text(&progress.phase));
        if let Some(bar) = &self.bar {
            bar.set_message(text);
            return;
        }
        if !self.plain {
            return;
        }
        // One line per phase, not per byte pulled.
        let kind = match &progress.phase {
            // Each of Swarm's states once.
            Phase::Swarm { state, .. } => format!("{}:swarm:{state}", progress.container),
            phase => format!("{}:{}", progress.container, phase_kind(phase)),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last != kind {
            eprintln!("{text}");
            *last = kind;
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message("");
            bar.tick();
            bar.finish_and_clear();
        }
    }
}

fn phase_kind(phase: &Phase) -> &'static str {
    match phase {
        Phase::Queued => "queued",
        Phase::Checking => "checking",
        Phase::Pulling { .. } => "pulling",
        Phase::Stopping { .. } => "stopping",
        Phase::Recreating { .. } => "recreating",
        Phase::Starting { .. } => "starting",
        Phase::WaitingHealthy { .. } => "waiting",
        Phase::Compose { .. } => "compose",
        Phase::RollingBack { .. } => "rolling back",
        Phase::RemovingOld { .. } => "removing",
        Phase::Swarm { .. } => "swarm",
    }
}

fn phase_text(phase: &Phase) -> String {
    match phase {
        Phase::Queued => "waiting for another update of this engine to finish".into(),
        Phase::Checking => "checking its image against the registry first".into(),
        Phase::Pulling {
            reference,
            layers_total: 0,
            ..
        } => format!("pulling {reference}"),
        Phase::Pulling {
            reference,
            layers_done,
            layers_total,
            bytes_done,
            bytes_total,
        } => format!(
            "pulling {reference}: {layers_done}/{layers_total} layers, {} of {}",
            megabytes(*bytes_done),
            megabytes(*bytes_total)
        ),
        Phase::Stopping { container } => format!("stopping {container}"),
        Phase::Recreating { container } => format!("recreating {container}"),
        Phase::Starting { container } => format!("starting the new {container}"),
        Phase::WaitingHealthy {
            container,
            elapsed_ms,
            timeout_ms,
            health,
        } => match health {
            Some(health) => format!(
                "waiting for {container} to turn healthy ({health}, {} of {} s)",
                elapsed_ms / 1000,
                timeout_ms / 1000
            ),
            None => format!(
                "watching {container} run ({} of {} s without exiting)",
                elapsed_ms / 1000,
                timeout_ms / 1000
            ),
        },
        Phase::Compose { command } => format!("running {command}"),
        Phase::RollingBack { reason } => format!("rolling back: {reason}"),
        Phase::RemovingOld { container } => format!("removing the old {container} (its volumes stay)"),
        Phase::Swarm { state, message } if message.is_empty() => format!("Swarm: {}", state.replace('_', " ")),
        Phase::Swarm { state, message } => format!("Swarm: {}: {message}", state.replace('_', " ")),
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// While containers are changed, a first Ctrl-C does not kill the CLI halfway: the update ends
/// on its own (done or rolled back). A second one stops it anyway; the next start restores.
struct CtrlCGuard {
    task: tokio::task::JoinHandle<()>,
}

impl CtrlCGuard {
    fn start() -> CtrlCGuard {
        let task = tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!(
                "\ntidewatch: an update is under way and ends on its own (updated, or rolled back); press Ctrl-C again \
                 to stop now (the next start of Tidewatch then restores the container)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                // 128 + SIGINT, as shells report a process stopped by Ctrl-C.
                std::process::exit(130);
            }
        });
        CtrlCGuard { task }
    }
}

impl Drop for CtrlCGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
