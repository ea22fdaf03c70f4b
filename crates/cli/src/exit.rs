//! Exit statuses (docs/cli.md#exit-status), in one place, and the error every subcommand returns.

use std::process::ExitCode;

use tidewatch_core::error::Coded;

/// `check --exit-code`: an update is available.
pub const EXIT_UPDATES: u8 = 1;

/// `login`: the registry refused the credentials.
pub const EXIT_LOGIN_REFUSED: u8 = 1;

/// Fatal: bad arguments, an unreadable configuration, no engine reachable, …
pub const EXIT_FATAL: u8 = 2;

/// `check --exit-code`: some checks failed (an `unknown` result, or an engine that did not answer).
pub const EXIT_CHECKS_FAILED: u8 = 3;

/// `update`/`rollback`: some container was not updated (refused, failed, rolled back, or the user
/// said no).
pub const EXIT_NOT_ALL: u8 = 1;

/// `update`/`rollback`: an update could neither finish nor be undone (see the message).
pub const EXIT_INTERRUPTED: u8 = 3;

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

    /// Prints the message on standard error and gives the exit status.
    pub fn report(self) -> ExitCode {
        eprintln!("tidewatch: {}", self.message);
        ExitCode::from(self.status)
    }
}

impl<E: Coded> From<E> for CliError {
    fn from(error: E) -> CliError {
        CliError::fatal(error)
    }
}
