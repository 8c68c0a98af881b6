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
    /// Bad configuration, graph data or environment, found before any change:
    /// a message that reads whole, naming the thing and the fix.
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
    let (code, text) = outcome(program, command, result);
    if let Some(text) = text {
        // Nothing is left to tell if stderr is closed too.
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
    ExitCode::from(code)
}

/// The exit code of `result` and what [`report`] prints on stderr for it.
fn outcome(program: &str, command: Option<&str>, result: Result<(), CliError>) -> (u8, Option<String>) {
    match result {
        Ok(()) | Err(CliError::ClosedPipe) => (SUCCESS, None),
        Err(CliError::Usage(message)) => {
            let help = match command {
                Some(command) => format!("{program} help {command}"),
                None => format!("{program} help"),
            };
            (USAGE, Some(format!("error: {}\n(see `{help}`)", terminal_text(&message))))
        }
        // Errors carry what targets and nix printed.
        Err(CliError::Config(message)) => (USAGE, Some(format!("error: {}", terminal_text(&message)))),
        Err(CliError::NodesFailed) => (NODE_FAILED, None),
        Err(CliError::Locked) => (LOCKED, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins that a configuration error is printed as it reads, with nothing
    /// glued in front (it used to be "failed to {message}"), and a usage
    /// error with where to read more.
    #[test]
    fn errors_print_their_message_whole() {
        let config = CliError::Config("the graph data file x.nix does not exist; pass --graph FILE".into());
        assert_eq!(
            outcome("fleet", Some("deploy"), Err(config)),
            (USAGE, Some("error: the graph data file x.nix does not exist; pass --graph FILE".into()))
        );
        let usage = CliError::Usage("--goal takes switch, boot, test or dry-activate".into());
        assert_eq!(
            outcome("fleet", Some("deploy"), Err(usage)),
            (
                USAGE,
                Some(
                    "error: --goal takes switch, boot, test or dry-activate\n(see `fleet help deploy`)"
                        .into()
                )
            )
        );
        assert_eq!(outcome("fleet", None, Err(CliError::NodesFailed)), (NODE_FAILED, None));
    }
}
