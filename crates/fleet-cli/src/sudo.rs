//! `--sudo` and `--ask-sudo-password`: how the target's commands become root
//! when its SSH user is not root; the password is asked once, when first
//! needed, after the command line was checked.

use std::cell::OnceCell;

use fleet_nix::{Sudo, SudoPassword, Target};

use crate::exit::CliError;
use crate::options::Options;

/// The prompt `--ask-sudo-password` shows on the terminal.
const PROMPT: &str = "[fleet] sudo password for the target's user: ";

/// The two options, as given, and the password once asked.
pub(crate) struct SudoArgs {
    sudo: bool,
    ask: bool,
    asked: OnceCell<Sudo>,
}

impl SudoArgs {
    /// Takes `--sudo` and `--ask-sudo-password` (which implies `--sudo`);
    /// refused with `--target local`, which runs as this process's user.
    pub(crate) fn of(options: &Options) -> Result<SudoArgs, CliError> {
        let ask = options.ask_sudo_password;
        let sudo = options.sudo || ask;
        if sudo && options.target == Some(Target::Local) {
            return Err(CliError::Usage(
                "--sudo is for a target reached over SSH as a user that is not root; with `--target local`, \
                 run fleet itself as root (e.g. `sudo fleet ...`)"
                    .into(),
            ));
        }
        Ok(SudoArgs { sudo, ask, asked: OnceCell::new() })
    }

    /// How the targets' commands become root, asking for the password the
    /// first time (on the terminal without echo, or the first line of stdin
    /// when stdin is not a terminal).
    pub(crate) fn resolve(&self) -> Result<Sudo, CliError> {
        if let Some(sudo) = self.asked.get() {
            return Ok(sudo.clone());
        }
        let sudo = match (self.sudo, self.ask) {
            (_, true) => Sudo::Password(
                SudoPassword::ask(PROMPT)
                    .map_err(|e| CliError::Usage(format!("--ask-sudo-password: {e}")))?,
            ),
            (true, false) => Sudo::NoPassword,
            (false, false) => Sudo::No,
        };
        Ok(self.asked.get_or_init(|| sudo).clone())
    }
}
