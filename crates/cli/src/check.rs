//! `tidewatch check`: gathers engines and images, runs the core's checker, records and prints the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tidewatch_core::checker::{inventory, CheckReport, CheckRequest, Checker, ImageTarget, Progress};
use tidewatch_core::engine::engines_to_watch;
use tidewatch_core::platform::Platform;
use tidewatch_core::store::Store;

use crate::exit::{EXIT_CHECKS_FAILED, EXIT_UPDATES};
use crate::terminal::Terminal;
use crate::{load_config, output, print_json, CliError};

/// A check shows its progress only once it has run this long, so quick ones do not flicker.
const PROGRESS_AFTER: Duration = Duration::from_millis(700);

/// How often the spinner and the elapsed time move, whether or not a result came in.
const TICK: Duration = Duration::from_millis(100);

pub const EXAMPLES: &str = "\
Examples:
  tidewatch check                                     the configured engines, else the local one
  tidewatch check -v                                  each result with the line saying how it was reached
  tidewatch check --engine ssh://me@build-box         another engine, over SSH
  tidewatch check --image nginx:1.25.3 --image ghcr.io/o/app:2 --platform linux/arm64
  tidewatch check --images-from images.txt --json     one reference per line; the JSON document on stdout
  tidewatch check --exit-code                         0 up to date, 1 an update, 3 some checks failed, 2 fatal
";

#[derive(Args)]
pub struct CheckArgs {
    /// Engine to check (unix://, tcp://, https://, ssh://); repeatable. Default: the configured engines, else the local one
    #[arg(long = "engine", value_name = "URL")]
    engines: Vec<String>,
    /// Image reference to check without any engine; repeatable
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    /// File with one image reference per line (# comments allowed; - for standard input)
    #[arg(long, value_name = "FILE")]
    images_from: Option<PathBuf>,
    /// Platform for --image checks (default: this machine's), e.g. linux/arm64 or linux/arm/v7
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Print one JSON document (docs/cli.md) instead of a table
    #[arg(long)]
    json: bool,
    /// Exit with 1 when an update is available, 3 when some checks failed (see the exit status in --help)
    #[arg(long)]
    exit_code: bool,
    /// Print under each result the line saying how its verdict was reached
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Also ask the digests no verdict needs: update.digest of tag updates, the current digest of --image references
    #[arg(long)]
    digests: bool,
}

pub async fn run(config_file: Option<&Path>, args: CheckArgs, terminal: Terminal) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let mut images = args.images.clone();
    if let Some(file) = &args.images_from {
        images.extend(read_images(file).map_err(CliError::fatal)?);
    }
    let checker = Checker::from_config(&config)?;
    // With only images given, no engine is needed (docs/cli.md).
    let ask_engines = images.is_empty() || !args.engines.is_empty();
    let platform = args.platform.clone().unwrap_or_else(Platform::host);
    let images = images
        .into_iter()
        .map(|reference| ImageTarget {
            reference,
            platform: platform.clone(),
        })
        .collect();

    let progress = CheckProgress::start(terminal.progress);
    let engines = if ask_engines {
        // An update an earlier run left unfinished is settled before the engines are listed.
        crate::update::recover().await;
        progress.connecting();
        inventory(&engines_to_watch(&config, &args.engines)).await
    } else {
        Vec::new()
    };
    let request = CheckRequest {
        engines,
        images,
        resolve_digests: args.digests,
    };
    let report = checker.check(request, &|p| progress.checked(p)).await;
    progress.finish();
    record(&report);

    if args.json {
        print_json(&report)?;
    } else {
        output::print_report(&report, terminal, args.verbose);
    }
    for engine in &report.engines {
        if let Some(error) = &engine.error {
            eprintln!(
                "tidewatch: engine {} ({}): {}",
                engine.name, engine.endpoint, error.message
            );
        }
    }
    exit_status(&report, args.exit_code)
}

/// docs/cli.md#exit-status: no engine reachable is fatal; with `--exit-code`, a failed check (3)
/// wins over an update (1), since the check that failed may hide one.
fn exit_status(report: &CheckReport, exit_code: bool) -> Result<ExitCode, CliError> {
    if report.no_engine_reachable() {
        return Err(CliError::fatal("no engine answered; see the messages above"));
    }
    if exit_code && report.has_errors() {
        return Ok(ExitCode::from(EXIT_CHECKS_FAILED));
    }
    if exit_code && report.has_updates() {
        return Ok(ExitCode::from(EXIT_UPDATES));
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress display on standard error: a spinner and the elapsed time that tick steadily from
/// the start (connecting to engines included), then the count of containers checked. Drawn only
/// on a terminal, and only once the check has taken longer than [`PROGRESS_AFTER`].
struct CheckProgress {
    bar: ProgressBar,
    reveal: Option<tokio::task::JoinHandle<()>>,
}

impl CheckProgress {
    fn start(enabled: bool) -> CheckProgress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(spinner_style("{spinner} {msg} {elapsed}"));
        bar.set_message("starting");
        bar.enable_steady_tick(TICK);
        let reveal = enabled.then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                tokio::time::sleep(PROGRESS_AFTER).await;
                if !bar.is_finished() {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
            })
        });
        CheckProgress { bar, reveal }
    }

    fn connecting(&self) {
        self.bar.set_message("connecting to the engines and listing containers");
    }

    fn checked(&self, progress: Progress) {
        if self.bar.length() != Some(progress.total as u64) {
            self.bar.set_style(spinner_style(
                "{spinner} checked {pos}/{len} containers {wide_bar} {elapsed}",
            ));
            self.bar.set_length(progress.total as u64);
        }
        self.bar.set_position(progress.checked as u64);
    }

    fn finish(self) {
        if let Some(reveal) = self.reveal {
            reveal.abort();
        }
        self.bar.finish_and_clear();
    }
}

fn spinner_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
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
