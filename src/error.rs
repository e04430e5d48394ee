//! # Errors
//!
//! One error type for the whole tool. It carries a human message that already
//! names the file (and line, for parse errors); `main` prints it and exits 1.

use std::fmt;
use std::io;

/// An error with enough context to act on: which file, which line, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// A parse error at a position in a file. `line` and `column` are 1-based.
    pub fn at(file: &str, line: usize, column: Option<usize>, what: impl fmt::Display) -> Error {
        let message = match column {
            Some(col) => format!("{file}:{line}:{col}: {what}"),
            None => format!("{file}:{line}: {what}"),
        };
        Error { message }
    }

    /// An I/O error on a path.
    pub fn io(path: &str, err: io::Error) -> Error {
        Error {
            message: format!("{path}: {err}"),
        }
    }

    /// Adds context in front of the message: "context: message".
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            message: format!("{context}: {}", self.message),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<nix::Error> for Error {
    fn from(err: nix::Error) -> Error {
        Error::msg(err.desc())
    }
}
