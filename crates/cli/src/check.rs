//! `tidewatch check`: gathers engines and images, runs the core's checker, records and prints the report.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tidewatch_core::checker::{inventory, CheckReport, CheckRequest, Checker, ImageTarget, Progress};
use tidewatch_core::engine::engines_to_watch;
use tidewatch_core::platform::Platform;
use tidewatch_core::store::Store;

use crate::{load_config, output, CliError};

/// A check shows a progress bar only once it has run this long (and only on a terminal).
const PROGRESS_AFTER: Duration = Duration::from_millis(700);

#[derive(Args)]
pub struct CheckArgs {
    /// Engine to check (unix://, tcp://, ssh://); repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Image reference to check without any engine; repeatable
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    /// File with one image reference per line (# comments allowed; - for standard input)
    #[arg(long, value_name = "FILE")]
    images_from: Option<PathBuf>,
    /// Print one JSON document (docs/cli.md) instead of a table
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when any update is available
    #[arg(long)]
    exit_code: bool,
    /// Platform for --image checks (default: this machine's), e.g. linux/arm64 or linux/arm/v7
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
}

pub async fn run(config_file: Option<&Path>, args: CheckArgs) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let mut images = args.images.clone();
    if let Some(file) = &args.images_from {
        images.extend(read_images(file).map_err(CliError::fatal)?);
    }
    let checker = Checker::from_config(&config)?;

    // With only images given, no engine is needed (docs/cli.md).
    let engines = if images.is_empty() || !args.engines.is_empty() {
        // An update an earlier run left unfinished is settled before the engines are listed.
        crate::update::recover().await;
        inventory(&engines_to_watch(&config, &args.engines)).await
    } else {
        Vec::new()
    };
    let platform = args.platform.clone().unwrap_or_else(Platform::host);
    let request = CheckRequest {
        engines,
        images: images
            .into_iter()
            .map(|reference| ImageTarget {
                reference,
                platform: platform.clone(),
            })
            .collect(),
    };

    let report = run_with_progress(&checker, request).await;
    record(&report);

    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|error| CliError::fatal(format!("cannot write the report as JSON: {error}")))?;
        println!("{json}");
    } else {
        output::print_report(&report, output::Style::detect());
    }
    for engine in &report.engines {
        if let Some(error) = &engine.error {
            eprintln!(
                "tidewatch: engine {} ({}): {}",
                engine.name, engine.endpoint, error.message
            );
        }
    }

    if report.no_engine_reachable() {
        return Err(CliError::fatal("no engine answered; see the messages above"));
    }
    if args.exit_code && report.has_updates() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the check, drawing a progress bar on stderr when it is a terminal and the check is slow.
async fn run_with_progress(checker: &Checker, request: CheckRequest) -> CheckReport {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} checked {pos}/{len} containers {wide_bar} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let interactive = std::io::stderr().is_terminal();
    let shown = AtomicBool::new(false);
    let started = Instant::now();
    let progress = |p: Progress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.checked as u64);
        if interactive && !shown.load(Ordering::Relaxed) && started.elapsed() >= PROGRESS_AFTER {
            shown.store(true, Ordering::Relaxed);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    };
    let report = checker.check(request, &progress).await;
    bar.finish_and_clear();
    report
}

/// Records the check in the store; a store problem is a warning, the check itself succeeded.
fn record(report: &CheckReport) {
    let result = Store::open_default().and_then(|mut store| store.record_check(&report.summary, &report.containers));
    if let Err(error) = result {
        eprintln!("tidewatch: warning: the check was not recorded in the history: {error}");
    }
}

fn read_images(file: &Path) -> Result<Vec<String>, String> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read images from standard input: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read the image list {}: {e}", file.display()))?
    };
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect())
}
