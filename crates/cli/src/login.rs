//! `tidewatch login` and `tidewatch logout`: the credential comes from standard input or, on a
//! terminal, from a prompt that does not echo it; the core verifies and stores it.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use tidewatch_core::credentials::Secret;
use tidewatch_core::login::{self, LoginError};
use tidewatch_core::registry::RegistryError;
use tidewatch_core::store::database_path;

use crate::exit::EXIT_LOGIN_REFUSED;
use crate::{load_config, CliError};

pub const LOGIN_EXAMPLES: &str = "\
Examples:
  tidewatch login ghcr.io -u me                          asks for the password (not echoed)
  echo \"$TOKEN\" | tidewatch login ghcr.io -u me --password-stdin   in scripts
  tidewatch login registry.corp.example:5000             asks for the user name and the password
";

pub const LOGOUT_EXAMPLES: &str = "\
Examples:
  tidewatch logout ghcr.io
";

#[derive(Args)]
pub struct LoginArgs {
    /// Registry host as image references name it (ghcr.io, registry.corp:5000, docker.io)
    registry: String,
    /// User name (asked for on a terminal when not given)
    #[arg(long, short = 'u', value_name = "USER")]
    username: Option<String>,
    /// Read the password (or token) from standard input; it is never taken as an argument
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// Registry host whose stored credentials are removed
    registry: String,
}

pub async fn login(config_file: Option<&Path>, args: LoginArgs) -> Result<ExitCode, CliError> {
    let LoginArgs {
        registry,
        username,
        password_stdin,
    } = args;
    let interactive = std::io::stdin().is_terminal();
    if !password_stdin && !interactive {
        return Err(CliError::fatal(format!(
            "standard input is not a terminal, so the password cannot be asked for; give it on standard \
             input: `echo \"$PASSWORD\" | tidewatch login {registry} --username USER --password-stdin`"
        )));
    }
    let config = load_config(config_file)?;
    let username = match username {
        Some(username) => username,
        None if interactive && !password_stdin => prompt_line("Username: ")?,
        None => return Err(CliError::fatal("give the user name with --username USER")),
    };
    let password = if password_stdin {
        let mut password = String::new();
        std::io::stdin()
            .read_to_string(&mut password)
            .map_err(|error| CliError::fatal(format!("cannot read the password from standard input: {error}")))?;
        // `echo` adds a newline; passwords never end with one.
        Secret::new(password.trim_end_matches(['\n', '\r']))
    } else {
        // rpassword reads from the terminal with echo off.
        Secret::new(
            rpassword::prompt_password("Password: ")
                .map_err(|error| CliError::fatal(format!("cannot read the password from the terminal: {error}")))?,
        )
    };
    if password.expose().is_empty() {
        return Err(CliError::fatal("the password is empty"));
    }
    let database = database_path()?;
    // Verified against the registry before anything is stored; the store keeps the user name so
    // the app's settings list this login too.
    match login::save_login(
        &registry,
        config.registry_settings(&registry),
        &username,
        password,
        &database,
    )
    .await
    {
        Ok(()) => {
            println!(
                "Login succeeded: {} at {registry}, stored in the OS keyring",
                username.trim()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ LoginError::Registry(RegistryError::AuthRefused { .. })) => Err(CliError::with_status(
            EXIT_LOGIN_REFUSED,
            format!("{error}; nothing was stored"),
        )),
        Err(error @ LoginError::Registry(_)) => Err(CliError::fatal(format!("{error}; nothing was stored"))),
        Err(error) => Err(error.into()),
    }
}

/// One line typed on the terminal, echoed (a user name is no secret).
fn prompt_line(prompt: &str) -> Result<String, CliError> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| CliError::fatal(format!("cannot read from the terminal: {error}")))?;
    let line = line.trim().to_string();
    if line.is_empty() {
        return Err(CliError::fatal("the user name is empty"));
    }
    Ok(line)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode, CliError> {
    let registry = args.registry;
    if login::remove_login(&registry, &database_path()?)? {
        println!("Removed the credentials for {registry} from the OS keyring");
    } else {
        println!("No credentials for {registry} were stored by tidewatch");
    }
    Ok(ExitCode::SUCCESS)
}
