//! Exit codes and the mapping from a command's result to them.

use std::io::Write;
use std::process::ExitCode;

use fleet_report::terminal_text;

use crate::args::UsageError;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The run went through, but at least one node failed or was skipped.
pub const NODE_FAILED: u8 = 1;
/// The command line or the configuration is wrong; nothing was changed.
pub const USAGE: u8 = 2;
/// Another deploy holds a host's lock: nothing was started there, and no
/// node failed (sysexits' `EX_TEMPFAIL`: try again later).
pub const LOCKED: u8 = 75;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// Bad command line.
    Usage(String),
    /// Bad configuration, graph data or environment, found before any change.
    Config(String),
    /// Some node failed; the summary has already said which.
    NodesFailed,
    /// Some nodes were not started because another deploy holds their host's
    /// lock, and none failed; the summary has already said who holds it.
    Locked,
    /// Whoever read the output stopped reading (`fleet graph | head -1`): the
    /// program ends quietly, as if the reader had read everything.
    ClosedPipe,
}

impl From<UsageError> for CliError {
    fn from(e: UsageError) -> Self {
        CliError::Usage(e.0)
    }
}

/// Prints the error, if any, and returns the exit code. A usage error ends
/// with where to read more: `PROGRAM help COMMAND` when the command is known.
pub fn report(program: &str, command: Option<&str>, result: Result<(), CliError>) -> ExitCode {
    // Nothing is left to tell if stderr is closed too.
    let mut stderr = std::io::stderr().lock();
    ExitCode::from(match result {
        Ok(()) | Err(CliError::ClosedPipe) => SUCCESS,
        Err(CliError::Usage(message)) => {
            let help = match command {
                Some(command) => format!("{program} help {command}"),
                None => format!("{program} help"),
            };
            let _ = writeln!(stderr, "error: {}\n(see `{help}`)", terminal_text(&message));
            USAGE
        }
        Err(CliError::Config(message)) => {
            // Errors carry what targets and nix printed.
            let _ = writeln!(stderr, "error: failed to {}", terminal_text(&message));
            USAGE
        }
        Err(CliError::NodesFailed) => NODE_FAILED,
        Err(CliError::Locked) => LOCKED,
    })
}
