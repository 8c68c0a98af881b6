//! `deploy --ask`: the dry run's diffs of every selected node first, then one
//! question on the terminal, and the deploy only after a yes; and that one
//! question (`ask_once`) for the other commands that ask.

use std::io::{BufRead, IsTerminal, Write};

use fleet_deploy::Mode;

use crate::deploy::Request;
use crate::exit::CliError;
use crate::format::Format;

/// Runs `deploy --ask` (`--yes`: answered already). Everything that can be
/// refused is refused before anything is built or changed.
pub(crate) fn run(request: Request, dry_run: bool, yes: bool) -> Result<(), CliError> {
    if dry_run {
        return Err(CliError::Usage(
            "--ask asks before changing anything, and --dry-run changes nothing; give one of them".into(),
        ));
    }
    if request.format() != Format::Text {
        return Err(CliError::Usage(
            "--ask shows the diffs as text and asks on the terminal; for JSON, run `deploy --dry-run --json` \
             and then `deploy`"
                .into(),
        ));
    }
    let refused =
        "--ask needs a terminal to ask on, and stdin is not one; pass --yes to deploy without asking";
    terminal_or_yes(yes, refused)?;
    request.run(Mode::DryRun)?;
    if !ask_once("Deploy these changes?", yes, refused)? {
        eprintln!("Not deployed: nothing was changed.");
        return Ok(());
    }
    request.run(Mode::Deploy)
}

/// Fails with `refused` when there is no terminal to ask on and `yes` did
/// not answer already.
pub(crate) fn terminal_or_yes(yes: bool, refused: &str) -> Result<(), CliError> {
    match yes || std::io::stdin().is_terminal() {
        true => Ok(()),
        false => Err(CliError::Usage(refused.to_string())),
    }
}

/// `question` once on the terminal, unless `yes` answered it; refused
/// (`refused`, a usage error) without a terminal.
pub(crate) fn ask_once(question: &str, yes: bool, refused: &str) -> Result<bool, CliError> {
    terminal_or_yes(yes, refused)?;
    Ok(yes || confirmed(question, &mut std::io::stdin().lock())?)
}

/// Asks once on stderr and reads the answer: only `y` or `yes` (any case) is a yes.
fn confirmed(question: &str, input: &mut dyn BufRead) -> Result<bool, CliError> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "\n{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    input
        .read_line(&mut answer)
        .map_err(|e| CliError::Usage(format!("--ask could not read the answer: {e}")))?;
    Ok(is_yes(&answer))
}

/// Whether an answer is a yes.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_and_yes_are_yes() {
        for answer in ["y\n", "Y\n", "yes\n", " YES \n"] {
            assert!(is_yes(answer), "{answer:?}");
        }
        for answer in ["", "\n", "n\n", "no\n", "yess\n", "sure\n"] {
            assert!(!is_yes(answer), "{answer:?}");
        }
    }
}
