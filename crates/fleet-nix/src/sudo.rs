//! Becoming root on a target reached as another user: `--sudo` and
//! `--ask-sudo-password`, the password kept out of argv, the environment,
//! files and logs, and asked on the terminal without echo.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The script every command on an SSH target goes through unless it logs in
/// as `root` by name: it checks it runs as root, or becomes root with sudo.
pub(crate) const SUDO_SH: &str = include_str!("sudo.sh");

/// How a target's commands become root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sudo {
    /// They run as the login user, which must be root.
    #[default]
    No,
    /// Through `sudo -n`: sudo must not ask for a password.
    NoPassword,
    /// Through `sudo -S`, given this password on stdin.
    Password(SudoPassword),
}

impl Sudo {
    /// The word `sudo.sh` takes as its first argument.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Sudo::No => "root",
            Sudo::NoPassword => "sudo",
            Sudo::Password(_) => "password",
        }
    }

    /// What goes on the command's stdin before its own input: the password,
    /// twice (see `sudo.sh`), or nothing.
    pub(crate) fn stdin_prefix(&self) -> Option<String> {
        match self {
            Sudo::Password(password) => Some(format!("{0}\n{0}\n", password.0)),
            _ => None,
        }
    }
}

/// A sudo password. It never shows: it has no `Display`, and `Debug` prints
/// a placeholder, so no error or log can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct SudoPassword(Arc<str>);

impl SudoPassword {
    /// A password read elsewhere; one line, without its line break.
    pub fn new(text: &str) -> Result<SudoPassword, String> {
        if text.contains(['\n', '\r', '\0']) {
            return Err("a sudo password is one line".into());
        }
        Ok(SudoPassword(text.into()))
    }

    /// Asks for the password once: on the terminal without echo, or, when
    /// stdin is not a terminal (CI, a password manager's pipe), reads its first
    /// line. An empty answer or an empty stdin is an error.
    pub fn ask(prompt: &str) -> Result<SudoPassword, String> {
        let line = if std::io::stdin().is_terminal() {
            ask_on_terminal(prompt)?
        } else {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("read the sudo password from stdin: {e}"))?;
            line
        };
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err("no sudo password was given (--ask-sudo-password reads it from the terminal, \
                 or from the first line of stdin when stdin is not a terminal)"
                .into());
        }
        SudoPassword::new(line)
    }
}

impl fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SudoPassword(<hidden>)")
    }
}

/// Reads one line on the controlling terminal with its echo off (`stty`
/// saves and restores the terminal's settings).
fn ask_on_terminal(prompt: &str) -> Result<String, String> {
    let tty = |write: bool| {
        File::options()
            .read(true)
            .write(write)
            .open("/dev/tty")
            .map_err(|e| format!("open the terminal: {e}"))
    };
    let stty = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("stty")
            .args(args)
            .stdin(tty(false)?)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("run stty: {e}"))?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            false => Err(format!("stty {} failed with {}", args.join(" "), out.status)),
        }
    };
    let saved = stty(&["-g"])?;
    // Echo off before the prompt shows: what is typed after it never echoes.
    stty(&["-echo"])?;
    let mut terminal = tty(true)?;
    let _ = write!(terminal, "{prompt}");
    let _ = terminal.flush();
    let mut line = String::new();
    let read = BufReader::new(&terminal).read_line(&mut line);
    let restored = stty(&[saved.as_str()]);
    let _ = writeln!(terminal);
    read.map_err(|e| format!("read the sudo password from the terminal: {e}"))?;
    restored?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let sudo = Sudo::Password(SudoPassword::new("hunter2").unwrap());
        let shown = format!("{sudo:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(sudo.stdin_prefix().as_deref(), Some("hunter2\nhunter2\n"));
        assert_eq!(Sudo::NoPassword.stdin_prefix(), None);
        assert!(SudoPassword::new("a\nb").is_err(), "a second line would reach the command");
    }
}
