//! Exit codes and the mapping from a command's result to them.

use std::process::ExitCode;

use crate::args::UsageError;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The run went through, but at least one node failed or was skipped.
pub const NODE_FAILED: u8 = 1;
/// The command line or the configuration is wrong; nothing was changed.
pub const USAGE: u8 = 2;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Bad command line.
    Usage(String),
    /// Bad configuration, graph data or environment, found before any change.
    Config(String),
    /// Some node failed; the summary has already said which.
    NodesFailed,
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

/// Prints the error, if any, and returns the exit code.
pub fn report(program: &str, result: Result<(), Failure>) -> ExitCode {
    ExitCode::from(match result {
        Ok(()) => SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n(see `{program} help`, or `--help` after a command)");
            USAGE
        }
        Err(Failure::Config(message)) => {
            eprintln!("error: failed to {message}");
            USAGE
        }
        Err(Failure::NodesFailed) => NODE_FAILED,
    })
}
