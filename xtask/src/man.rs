//! `man`: writes the manual page of `fleet`, made from fleet-cli's command
//! table, into the repository (a tidy test checks that it is current).

use std::path::PathBuf;

use fleet_cli::{Args, CliError};

/// Where the manual page lives, relative to the repository's root.
pub(crate) const MAN_PAGE: &str = "crates/fleet-cli/fleet.1";

/// The repository's root, where xtask was built from.
pub(crate) fn repo_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map_or(xtask.clone(), PathBuf::from)
}

/// Runs `man`.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    args.finish()?;
    let path = repo_root().join(MAN_PAGE);
    std::fs::write(&path, fleet_cli::man_page())
        .map_err(|e| CliError::Config(format!("{} could not be written: {e}", path.display())))?;
    eprintln!("man: wrote {}", path.display());
    Ok(())
}
