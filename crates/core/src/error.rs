//! The one error convention of the core: every error has a stable `code` (the UI and scripts branch
//! on it) and a message a person can act on; [`ErrorInfo`] is how any of them is serialized.

use serde::Serialize;

/// Whether anyone answered: the monitor tells "offline" from "a registry said no" by this, never
/// by reading codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing answered in time (connection refused, no route, DNS, timeout).
    NoAnswer,
    /// Something answered, and what it said is the problem.
    #[default]
    Answered,
}

/// An error of the core. Each module's `thiserror` enum implements it; nothing else serializes errors.
pub trait Coded: std::fmt::Display {
    /// A stable identifier (`auth_refused`, `engine_unreachable`, …), listed in docs/cli.md.
    fn code(&self) -> &'static str;

    fn kind(&self) -> ErrorKind {
        ErrorKind::Answered
    }
}

/// Any [`Coded`] error as data: `{"code", "message"}` in JSON, for the CLI's document, the app's
/// IPC and the store alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    /// Not part of the JSON contract; read by the monitor's offline detection.
    #[serde(skip)]
    pub kind: ErrorKind,
}

impl ErrorInfo {
    /// An error known only by its code and message (read back from the store).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            code: code.into(),
            message: message.into(),
            kind: ErrorKind::Answered,
        }
    }

    /// The conversion every front end uses: `ErrorInfo::of(&error)`, or `?` through `From`.
    pub fn of(error: &(impl Coded + ?Sized)) -> ErrorInfo {
        ErrorInfo {
            code: error.code().to_string(),
            message: error.to_string(),
            kind: error.kind(),
        }
    }
}

impl<E: Coded> From<E> for ErrorInfo {
    fn from(error: E) -> ErrorInfo {
        ErrorInfo::of(&error)
    }
}

/// What to do about an error that a front end can do for the user, worded once per front end:
/// the CLI's messages say which command to run; the window, which can do it itself, says so in
/// its own words and offers the action (docs/cli.md#error-codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Remedy {
    /// Log in to `registry`.
    Login { registry: String },
}

/// Codes whose remedy is a login (the registry's credentials are missing, refused or not enough).
const LOGIN_CODES: &[&str] = &["auth_required", "auth_refused", "denied"];

impl Remedy {
    /// The remedy of an error with this `code`, for this `registry` (the one the failed check asked).
    pub fn for_code(code: &str, registry: Option<&str>) -> Option<Remedy> {
        let registry = registry?;
        LOGIN_CODES.contains(&code).then(|| Remedy::Login {
            registry: registry.to_string(),
        })
    }

    /// The clause the CLI's messages end with.
    pub fn cli_words(&self) -> String {
        match self {
            Remedy::Login { registry } => format!("run `tidewatch login {registry}`"),
        }
    }

    /// The same advice in the window, which has a "Log in…" action for it.
    pub fn window_words(&self, code: &str) -> String {
        match self {
            Remedy::Login { registry } => match code {
                "auth_refused" => format!("log in to {registry} again with the right user name and password"),
                "denied" => format!("log in to {registry} as a user allowed to read it"),
                _ => format!("log in to {registry}"),
            },
        }
    }

    /// `message` (a core error's, in CLI words) as the window says it: the CLI's clause replaced
    /// by the window's words, or the window's words added when the message has no clause.
    pub fn window_message(&self, code: &str, message: &str) -> String {
        let cli = self.cli_words();
        match message.find(&cli) {
            Some(at) => format!(
                "{}{}{}",
                &message[..at],
                self.window_words(code),
                &message[at + cli.len()..]
            ),
            None => format!("{message}; {}", self.window_words(code)),
        }
    }
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cli_words())
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("registry r.example did not answer")]
    struct Silent;

    impl Coded for Silent {
        fn code(&self) -> &'static str {
            "timeout"
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::NoAnswer
        }
    }

    #[test]
    fn a_login_remedy_is_worded_for_the_window_without_the_cli_command() {
        let remedy = Remedy::for_code("auth_required", Some("ghcr.io")).unwrap();
        let cli = format!("registry ghcr.io requires credentials to read o/app; {remedy}");
        assert_eq!(
            cli,
            "registry ghcr.io requires credentials to read o/app; run `tidewatch login ghcr.io`"
        );
        let window = remedy.window_message("auth_required", &cli);
        assert_eq!(
            window,
            "registry ghcr.io requires credentials to read o/app; log in to ghcr.io"
        );
        let denied = remedy.window_message("denied", "registry ghcr.io denied access to o/app");
        assert_eq!(
            denied,
            "registry ghcr.io denied access to o/app; log in to ghcr.io as a user allowed to read it"
        );
        assert_eq!(Remedy::for_code("timeout", Some("ghcr.io")), None);
        assert_eq!(Remedy::for_code("auth_required", None), None);
    }

    #[test]
    fn any_coded_error_serializes_as_code_and_message_only() {
        let info = ErrorInfo::from(Silent);
        assert_eq!(info.kind, ErrorKind::NoAnswer);
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"code":"timeout","message":"registry r.example did not answer"}"#
        );
    }
}
