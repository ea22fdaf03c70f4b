//! `cargo xtask`: the README's two commands (`run`, `test`), the test lab (`lab up|down|env`) and
//! benchmarks. It depends on no system library, so it builds on a fresh machine before anything
//! is installed.

mod bench;
mod bundle;
mod fuzz;
mod lab;
mod proc;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

  run              install what is missing, build and start the app on the local engine
  test             install what is missing, start the lab, run fmt, clippy and every test, stop the lab
  fuzz [--seconds N] [TARGET…]
                   run every fuzz target N seconds (default 60) with cargo-fuzz on nightly
  bundle [--debug] build the Debian package (app and CLI) into target/release/bundle/deb
                   (--debug: of the debug build, into target/debug/bundle/deb, as the tests do)
  bench            measure checks behind a latency proxy (release CLI) and the app's weight (release
                   app) on the lab; writes docs/benchmarks.md. Options: --rtt MS (default 50),
                   --runs N (default 5), --no-app, --max-in-flight N (every registry's limit)
  lab up           start the test lab and write target/lab/lab.env (then run single tests)
  lab down         stop everything `lab up` started
  lab env          print the lab's variables as `export` lines (eval \"$(cargo xtask lab env)\")
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["run", rest @ ..] => run_app(rest),
        ["test", rest @ ..] => run_tests(rest),
        ["bench", rest @ ..] => bench::Options::parse(rest).and_then(|options| bench::run(&workspace_root(), &options)),
        ["fuzz", rest @ ..] => fuzz::run(&workspace_root(), rest),
        ["bundle"] => bundle::run(&workspace_root(), bundle::Profile::Release).map(|_| ()),
        ["bundle", "--debug"] => bundle::run(&workspace_root(), bundle::Profile::Debug).map(|_| ()),
        ["lab", "up"] => lab::up(&workspace_root()).map(|lab| {
            println!("lab is up; variables in {}", lab.env_file.display());
        }),
        ["lab", "down"] => lab::down(&workspace_root()),
        ["lab", "env"] => lab::print_env(&workspace_root()),
        ["lab", "token-server", rest @ ..] => lab::token_server::serve_from_args(rest),
        ["lab", "fault-registry", rest @ ..] => lab::fault_registry::serve_from_args(rest),
        ["help" | "--help" | "-h"] | [] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("unknown command {:?}\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives in crates/xtask).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask is two levels down")
        .to_path_buf()
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo xtask run`: packages, build, start the app against the local engine.
fn run_app(extra: &[&str]) -> Result<()> {
    setup::ensure_packages(setup::Purpose::Run)?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the window cannot open.\n\
             hint: on a headless machine run it under a virtual display: xvfb-run -a cargo xtask run"
        );
    }
    let root = workspace_root();
    proc::run(
        cargo().current_dir(&root).args(["build", "--package", "tidewatch-app"]),
        "build the app",
    )?;
    let binary = root.join("target/debug/tidewatch-app");
    println!("starting {}", binary.display());
    let status = Command::new(&binary)
        .args(extra)
        .status()
        .with_context(|| format!("start {}", binary.display()))?;
    if !status.success() {
        bail!("the app exited with {status}");
    }
    Ok(())
}

/// `cargo xtask test`: packages, static checks, the lab, every test, then the lab down again.
fn run_tests(extra: &[&str]) -> Result<()> {
    let root = workspace_root();
    setup::ensure_packages(setup::Purpose::Test)?;
    setup::ensure_tauri_driver()?;
    proc::run(
        cargo().current_dir(&root).args(["fmt", "--all", "--", "--check"]),
        "check formatting (cargo fmt)",
    )?;
    proc::run(
        cargo()
            .current_dir(&root)
            .args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        "lint (cargo clippy)",
    )?;
    // Build everything first so the lab is not up while the compiler holds both cores; the
    // package is built too, for the test that installs it (tests/lab_package.rs).
    proc::run(
        cargo().current_dir(&root).args(["test", "--workspace", "--no-run"]),
        "build the tests",
    )?;
    bundle::run(&root, bundle::Profile::Debug)?;

    let interrupted = proc::install_interrupt_flag()?;
    let lab = lab::up(&root)?;
    let mut command = cargo();
    // Every test binary runs even after one fails: one CI run shows every failure.
    command
        .current_dir(&root)
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(extra);
    lab.apply_env(&mut command);
    let outcome = proc::run(&mut command, "run the tests");
    let teardown = lab.down_if_started();
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        bail!("interrupted; the lab was stopped");
    }
    outcome?;
    teardown
}
