//! `deploy --ask`: the dry run's diffs of every selected node first, then one
//! question on the terminal, and the deploy only after a yes.

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
    let stdin = std::io::stdin();
    if !yes && !stdin.is_terminal() {
        return Err(CliError::Usage(
            "--ask needs a terminal to ask on, and stdin is not one; pass --yes to deploy without asking"
                .into(),
        ));
    }
    request.run(Mode::DryRun)?;
    if !yes && !confirmed(&mut stdin.lock())? {
        eprintln!("Not deployed: nothing was changed.");
        return Ok(());
    }
    request.run(Mode::Deploy)
}

/// Asks once on stderr and reads the answer: only `y` or `yes` (any case) is a yes.
fn confirmed(input: &mut dyn BufRead) -> Result<bool, CliError> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "\nDeploy these changes? [y/N] ");
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
