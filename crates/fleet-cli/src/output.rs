//! Everything the commands print on stdout goes through [`print`], so that a
//! reader who stops reading (`fleet graph --dot | head -1`) ends the program
//! quietly instead of a panic.

use std::io::{ErrorKind, Write};

use crate::exit::CliError;

/// Writes `text` to stdout. A closed pipe is [`CliError::ClosedPipe`], which
/// ends the program quietly with success; other write errors are reported.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(CliError::ClosedPipe),
        Err(e) => Err(CliError::Config(format!("the output could not be written to stdout: {e}"))),
    }
}
