//! `tidewatch`: the headless command line over Tidewatch's core (no GUI library is linked).
//!
//! Every subcommand is a thin adapter over a core function (docs/cli.md): it reads its
//! arguments, calls the core, prints, and maps the error to an exit status.

mod check;
mod exit;
mod inspect;
mod login;
mod output;
mod terminal;
mod update;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use clap_complete::Shell;
use tidewatch_core::config::{config_path, Config};

pub use exit::{CliError, EXIT_FATAL};
use terminal::{ColorChoice, Environment, Terminal};

const EXAMPLES: &str = "\
Examples:
  tidewatch check                               every container of the configured engines (default: the local one)
  tidewatch check -v                            with the line saying how each verdict was reached
  tidewatch check --image nginx:1.25.3 --json   one image, no engine needed, as the JSON document
  tidewatch check --exit-code                   for scripts: see the exit status below
  tidewatch login ghcr.io -u me                 asks for the password, checks it, keeps it in the OS keyring
  tidewatch explain harbor.corp/dockerhub/nginx  which registries a check asks, and why
  tidewatch completion bash > ~/.local/share/bash-completion/completions/tidewatch
";

const EXIT_STATUS: &str = "\
Exit status:
  0  the command did its job (for check: whatever the verdicts, unless --exit-code)
  1  check --exit-code: an update is available; login: the registry refused the credentials;
     update/rollback: some container was not updated (refused, failed, rolled back, declined)
  2  fatal: bad arguments, a configuration that cannot be read, no engine reachable, …
  3  check --exit-code: some checks failed (an unknown result, or an engine that did not answer);
     this wins over 1, since a failed check may hide an update; update/rollback: an update
     could neither finish nor be undone
";

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Knows when the images your containers run have newer versions",
    long_about = "Tidewatch checks the containers on your Docker engines against their registries \
                  (mirror-aware, with OS-keyring credentials), reports which images have newer versions, \
                  and applies updates safely.",
    after_help = format!("{EXAMPLES}\n{EXIT_STATUS}\nDocumentation: docs/cli.md, or `man tidewatch` where the package is installed."),
)]
struct Cli {
    /// Configuration file (default: $TIDEWATCH_CONFIG, else the platform's config dir tidewatch/config.toml)
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// When to colour the output
    #[arg(long, value_enum, value_name = "WHEN", default_value_t, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check containers (or given images) for newer versions
    #[command(after_help = check::EXAMPLES)]
    Check(check::CheckArgs),
    /// Verify credentials for a registry and store them in the OS keyring
    #[command(after_help = login::LOGIN_EXAMPLES)]
    Login(login::LoginArgs),
    /// Remove a registry's credentials from the OS keyring
    #[command(after_help = login::LOGOUT_EXAMPLES)]
    Logout(login::LogoutArgs),
    /// List the engines a check would use and whether they answer
    #[command(after_help = inspect::ENGINES_EXAMPLES)]
    Engines(inspect::EnginesArgs),
    /// Show how an image reference is normalized and which registries a check asks
    #[command(after_help = inspect::EXPLAIN_EXAMPLES)]
    Explain(inspect::ExplainArgs),
    /// Apply updates: pull, recreate with the same configuration, health-gate, roll back on failure
    #[command(after_help = update::UPDATE_EXAMPLES)]
    Update(update::UpdateArgs),
    /// Roll back a container's last update
    #[command(after_help = update::ROLLBACK_EXAMPLES)]
    Rollback(update::RollbackArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff), as the package installs it
    #[command(hide = true)]
    Man,
}

const COMPLETION_EXAMPLES: &str = "\
Examples:
  tidewatch completion bash > ~/.local/share/bash-completion/completions/tidewatch
  tidewatch completion zsh > \"${fpath[1]}/_tidewatch\"
  tidewatch completion fish > ~/.config/fish/completions/tidewatch.fish
  tidewatch completion powershell >> $PROFILE
";

#[tokio::main]
async fn main() -> ExitCode {
    tidewatch_core::init_crypto();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    let terminal = Terminal::new(cli.color, &Environment::read());
    let config_file = cli.config.as_deref();
    let result = match cli.command {
        Command::Check(args) => check::run(config_file, args, terminal).await,
        Command::Login(args) => login::login(config_file, args).await,
        Command::Logout(args) => login::logout(args),
        Command::Engines(args) => inspect::engines(config_file, args, terminal).await,
        Command::Explain(args) => inspect::explain(config_file, args, terminal),
        Command::Update(args) => update::update(config_file, args).await,
        Command::Rollback(args) => update::rollback(config_file, args).await,
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tidewatch", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(|error| CliError::fatal(format!("cannot write the manual page: {error}"))),
    };
    result.unwrap_or_else(|error| error.report())
}

/// Loads the configuration strictly: an unreadable file is fatal for every command.
pub fn load_config(explicit: Option<&Path>) -> Result<Config, CliError> {
    Ok(Config::load(&config_path(explicit)?)?)
}

/// Prints `value` as the one pretty-printed JSON document on standard output (docs/cli.md).
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::fatal(format!("cannot write the JSON document: {error}")))?;
    println!("{json}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_and_flag_has_help_and_every_subcommand_examples() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        for arg in cli.get_arguments() {
            assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
        }
        for command in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = command.get_name();
            assert!(command.get_about().is_some(), "{name} has no help");
            let examples = command.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(examples.contains("Examples:"), "{name} --help shows no examples");
            for arg in command.get_arguments().filter(|a| !a.is_global_set()) {
                assert!(arg.get_help().is_some(), "{name} {} has no help", arg.get_id());
            }
        }
    }
}
