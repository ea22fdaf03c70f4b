//! `tidewatch`: the headless command line over Tidewatch's core (no GUI library is linked).
//!
//! Every subcommand is a thin adapter over a core function (SPEC §6); the only logic here is
//! reading arguments and printing.

mod check;
mod output;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidewatch_core::config::{config_path, Config};
use tidewatch_core::credentials::Secret;
use tidewatch_core::engine::{Engine, EngineSpec};
use tidewatch_core::login::{self, LoginError};
use tidewatch_core::platform::Platform;
use tidewatch_core::reference::Reference;
use tidewatch_core::registry::RegistryError;
use tidewatch_core::store::database_path;

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Knows when the images your containers run have newer versions",
    long_about = "Tidewatch checks the containers on your Docker engines against their registries \
                  (mirror-aware, with OS-keyring credentials) and reports which images have newer versions."
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
}

/// Exit status for a fatal error (SPEC §6).
pub const EXIT_FATAL: u8 = 2;

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
    match cli.command {
        Command::Check(args) => check::run(config_file, args).await,
        Command::Login {
            registry,
            username,
            password_stdin,
        } => login(config_file, &registry, &username, password_stdin).await,
        Command::Logout { registry } => logout(&registry),
        Command::Engines { engines } => list_engines(config_file, engines).await,
        Command::Explain { image } => explain(config_file, &image),
    }
}

/// Loads the configuration, or says why it cannot (a fatal error for every command).
pub fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    let path = config_path(explicit).map_err(|e| e.to_string())?;
    Config::load(&path).map_err(|e| e.to_string())
}

fn fatal(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("tidewatch: {message}");
    ExitCode::from(EXIT_FATAL)
}

/// An engine to check or list.
pub enum Target {
    /// Given with `--engine` or configured in `[[engines]]`.
    Spec(EngineSpec),
    /// The local engine, found by discovery (`DOCKER_HOST`, the usual sockets, Podman).
    Local,
}

/// The engines to use: `--engine` URLs (named and with TLS files as a configured engine with
/// that host, else named after the URL), else the configured engines, else the local one.
pub fn engine_targets(config: &Config, urls: &[String]) -> Vec<Target> {
    if !urls.is_empty() {
        return urls
            .iter()
            .map(|url| {
                let spec = config
                    .engines
                    .iter()
                    .find(|e| &e.host == url)
                    .map_or_else(|| EngineSpec::new(url.clone(), url.clone()), EngineSpec::from);
                Target::Spec(spec)
            })
            .collect();
    }
    if !config.engines.is_empty() {
        return config
            .engines
            .iter()
            .map(|e| Target::Spec(EngineSpec::from(e)))
            .collect();
    }
    vec![Target::Local]
}

async fn list_engines(config_file: Option<&Path>, urls: Vec<String>) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(config) => config,
        Err(message) => return fatal(message),
    };
    let mut reachable = 0;
    for target in engine_targets(&config, &urls) {
        let (name, host, connected) = match target {
            Target::Spec(spec) => (
                spec.name.clone(),
                spec.display_host(),
                Engine::connect_with(&spec).await,
            ),
            Target::Local => (
                "local".to_string(),
                "local discovery".to_string(),
                Engine::connect_local().await,
            ),
        };
        match connected {
            Ok(engine) => {
                reachable += 1;
                println!(
                    "{name}\t{}\tok (API {})",
                    engine.spec().display_host(),
                    engine.api_version()
                );
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

async fn login(config_file: Option<&Path>, registry: &str, username: &str, password_stdin: bool) -> ExitCode {
    if !password_stdin {
        return fatal(format!(
            "give the password on standard input: `echo \"$PASSWORD\" | tidewatch login {registry} --username \
             {username} --password-stdin` (a password argument would end up in the shell history)"
        ));
    }
    let config = match load_config(config_file) {
        Ok(config) => config,
        Err(message) => return fatal(message),
    };
    let mut password = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut password) {
        return fatal(format!("cannot read the password from standard input: {error}"));
    }
    // `echo` adds a newline; passwords never end with one.
    let password = Secret::new(password.trim_end_matches(['\n', '\r']));
    if password.expose().is_empty() {
        return fatal("the password on standard input is empty");
    }
    let database = match database_path() {
        Ok(path) => path,
        Err(error) => return fatal(error),
    };
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
            ExitCode::SUCCESS
        }
        Err(error @ LoginError::Registry(RegistryError::AuthRefused { .. })) => {
            eprintln!("tidewatch: {error}; nothing was stored");
            ExitCode::from(1)
        }
        Err(LoginError::Registry(error)) => fatal(format!("{error}; nothing was stored")),
        Err(error) => fatal(error),
    }
}

fn logout(registry: &str) -> ExitCode {
    let database = match database_path() {
        Ok(path) => path,
        Err(error) => return fatal(error),
    };
    match login::remove_login(registry, &database) {
        Ok(true) => {
            println!("Removed the credentials for {registry} from the OS keyring");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("No credentials for {registry} were stored by tidewatch");
            ExitCode::SUCCESS
        }
        Err(error) => fatal(error),
    }
}

fn explain(config_file: Option<&Path>, image: &str) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(config) => config,
        Err(message) => return fatal(message),
    };
    let (reference, steps) = match Reference::parse_explained(image) {
        Ok(parsed) => parsed,
        Err(error) => return fatal(error),
    };
    let resolver = match config.mirror_resolver(&[]) {
        Ok(resolver) => resolver,
        Err(error) => return fatal(format!("{error}; fix the [[mirrors]] entry in the configuration")),
    };
    let resolution = resolver.resolve(&reference);
    println!("{image}");
    println!("normalization:");
    for step in steps {
        println!("  - {step}");
    }
    println!("mirror resolution:");
    for step in &resolution.steps {
        println!("  - {step}");
    }
    println!("platform for --image checks: {}", Platform::host());
    ExitCode::SUCCESS
}
