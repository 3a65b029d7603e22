//! The one error type every fallible path returns.
//!
//! A panic inside wasm is a trap that poisons the shared instance, so nothing reachable from an RPC
//! call may panic: every failure becomes an [`Error`], which the wasm layer turns into a JS `Error`
//! whose message the caller sees verbatim (Durable Object RPC forwards it).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The caller passed something we refuse to store. Nothing was written.
    InvalidArgument {
        argument: &'static str,
        problem: String,
    },
    /// SQLite or the runtime refused an operation. The transaction it ran in was rolled back.
    Storage(String),
}

impl Error {
    pub fn invalid(argument: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument,
            problem: problem.into(),
        }
    }

    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument { argument, problem } => {
                write!(f, "Invalid argument `{argument}`: {problem}")
            }
            Error::Storage(message) => write!(f, "ChatStateDO storage error: {message}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
