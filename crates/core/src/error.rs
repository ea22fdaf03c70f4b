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
    fn any_coded_error_serializes_as_code_and_message_only() {
        let info = ErrorInfo::from(Silent);
        assert_eq!(info.kind, ErrorKind::NoAnswer);
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"code":"timeout","message":"registry r.example did not answer"}"#
        );
    }
}
