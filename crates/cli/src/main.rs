//! `tidewatch`: the headless command line over Tidewatch's core (no GUI library is linked).
//!
//! Every subcommand is a thin adapter over a core function (docs/cli.md): it reads its
//! arguments, calls the core, prints, and maps the error to an exit status.

mod check;
mod output;
mod update;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidewatch_core::config::{config_path, Config};
use tidewatch_core::credentials::Secret;
use tidewatch_core::engine::engines_to_watch;
use tidewatch_core::error::Coded;
use tidewatch_core::explain::explain;
use tidewatch_core::login::{self, LoginError};
use tidewatch_core::registry::RegistryError;
use tidewatch_core::store::database_path;

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Knows when the images your containers run have newer versions",
    long_about = "Tidewatch checks the containers on your Docker engines against their registries \
                  (mirror-aware, with OS-keyring credentials), reports which images have newer versions, \
                  and applies updates safely."
)]
struct Cli {
    /// Configuration file (default: $TIDEWATCH_CONFIG, else the platform's config dir tidewatch/config.toml)
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check containers (or given images) for newer versions
    Check(check::CheckArgs),
    /// Verify credentials for a registry and store them in the OS keyring
    Login {
        /// Registry host as image references name it (ghcr.io, registry.corp:5000, docker.io)
        registry: String,
        #[arg(long, short = 'u')]
        username: String,
        /// Read the password (or token) from standard input; it is never taken as an argument
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a registry's credentials from the OS keyring
    Logout { registry: String },
    /// List the configured engines and whether they answer
    Engines {
        /// Engine address to try (unix://, tcp://, ssh://); default: the configured engines, else the local one
        #[arg(long = "engine", value_name = "URL")]
        engines: Vec<String>,
    },
    /// Show how an image reference is normalized and which registries a check asks
    Explain { image: String },
    /// Apply updates: pull, recreate with the same configuration, health-gate, roll back on failure
    Update(update::UpdateArgs),
    /// Roll back a container's last update
    Rollback(update::RollbackArgs),
}

/// Exit status for a fatal error (docs/cli.md#exit-status).
pub const EXIT_FATAL: u8 = 2;

/// Why a command failed: the message for stderr and the exit status.
#[derive(Debug)]
pub struct CliError {
    message: String,
    status: u8,
}

impl CliError {
    /// A fatal error (exit status 2).
    pub fn fatal(message: impl std::fmt::Display) -> CliError {
        CliError::with_status(EXIT_FATAL, message)
    }

    pub fn with_status(status: u8, message: impl std::fmt::Display) -> CliError {
        CliError {
            message: message.to_string(),
            status,
        }
    }
}

impl<E: Coded> From<E> for CliError {
    fn from(error: E) -> CliError {
        CliError::fatal(error)
    }
}

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
    let config_file = cli.config.as_deref();
    let result = match cli.command {
        Command::Check(args) => check::run(config_file, args).await,
        Command::Login {
            registry,
            username,
            password_stdin,
        } => login(config_file, &registry, &username, password_stdin).await,
        Command::Logout { registry } => logout(&registry),
        Command::Engines { engines } => list_engines(config_file, &engines).await,
        Command::Explain { image } => explain_image(config_file, &image),
        Command::Update(args) => update::update(config_file, args).await,
        Command::Rollback(args) => update::rollback(config_file, args).await,
    };
    result.unwrap_or_else(|error| {
        eprintln!("tidewatch: {}", error.message);
        ExitCode::from(error.status)
    })
}

/// Loads the configuration strictly: an unreadable file is fatal for every command.
pub fn load_config(explicit: Option<&Path>) -> Result<Config, CliError> {
    Ok(Config::load(&config_path(explicit)?)?)
}

async fn list_engines(config_file: Option<&Path>, urls: &[String]) -> Result<ExitCode, CliError> {
    let config = load_config(config_file)?;
    let mut reachable = 0;
    for target in engines_to_watch(&config, urls) {
        match target.test().await {
            Ok(info) => {
                reachable += 1;
                println!("{}\t{}\tok (API {})", info.name, info.endpoint, info.api_version);
            }
            Err(error) => println!("{}\t{}\tunreachable: {error}", target.name(), target.display_host()),
        }
    }
    Ok(if reachable == 0 {
        ExitCode::from(EXIT_FATAL)
    } else {
        ExitCode::SUCCESS
    })
}

async fn login(
    config_file: Option<&Path>,
    registry: &str,
    username: &str,
    password_stdin: bool,
) -> Result<ExitCode, CliError> {
    if !password_stdin {
        return Err(CliError::fatal(format!(
            "give the password on standard input: `echo \"$PASSWORD\" | tidewatch login {registry} --username \
             {username} --password-stdin` (a password argument would end up in the shell history)"
        )));
    }
    let config = load_config(config_file)?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|error| CliError::fatal(format!("cannot read the password from standard input: {error}")))?;
    // `echo` adds a newline; passwords never end with one.
    let password = Secret::new(password.trim_end_matches(['\n', '\r']));
    if password.expose().is_empty() {
        return Err(CliError::fatal("the password on standard input is empty"));
    }
    let database = database_path()?;
    // Verified against the registry before anything is stored; the store keeps the user name so
    // the app's settings list this login too.
    match login::save_login(
        registry,
        config.registry_settings(registry),
        username,
        password,
        &database,
    )
    .await
    {
        Ok(()) => {
            println!("Login succeeded: {username} at {registry}, stored in the OS keyring");
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ LoginError::Registry(RegistryError::AuthRefused { .. })) => {
            Err(CliError::with_status(1, format!("{error}; nothing was stored")))
        }
        Err(error @ LoginError::Registry(_)) => Err(CliError::fatal(format!("{error}; nothing was stored"))),
        Err(error) => Err(error.into()),
    }
}

fn logout(registry: &str) -> Result<ExitCode, CliError> {
    if login::remove_login(registry, &database_path()?)? {
        println!("Removed the credentials for {registry} from the OS keyring");
    } else {
        println!("No credentials for {registry} were stored by tidewatch");
    }
    Ok(ExitCode::SUCCESS)
}

fn explain_image(config_file: Option<&Path>, image: &str) -> Result<ExitCode, CliError> {
    let explained = explain(&config_path(config_file)?, image)?;
    println!("{}", explained.image);
    println!("normalization:");
    for step in &explained.normalization {
        println!("  - {step}");
    }
    println!("mirror resolution:");
    for step in &explained.resolution {
        println!("  - {step}");
    }
    println!("platform for --image checks: {}", explained.platform);
    Ok(ExitCode::SUCCESS)
}
