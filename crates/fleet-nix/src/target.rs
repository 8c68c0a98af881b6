//! The machine a deploy changes: reached over SSH, or this machine itself.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use crate::command::{self, CommandError};
use crate::shell_quote;
use crate::sudo::{Sudo, SUDO_SH};

/// Where a deploy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This machine: scripts run here and closures are already in its store
    /// (the GitOps path, run on the host itself).
    Local,
    /// A machine reached with `ssh`.
    Ssh(SshTarget),
}

/// An SSH destination with the options every connection to it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Login user, if not the ssh default.
    pub user: Option<String>,
    /// Host name or address.
    pub host: String,
    /// Port, if not 22.
    pub port: Option<u16>,
    /// Extra `ssh` arguments (`-o Key=Value`, `-i FILE`), also given to `nix copy`.
    pub options: Vec<String>,
    /// Whether connections share one (see [`crate::Connections`]).
    pub sharing: Sharing,
    /// How its commands become root.
    pub sudo: Sudo,
}

/// Whether an SSH target's connections go through one shared master connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sharing {
    /// Whatever the user's ssh configuration says.
    #[default]
    Default,
    /// Through the master connection at this control socket, started on first use.
    Shared(String),
    /// A new connection of its own, never a shared one: for what must prove
    /// that the target still accepts connections.
    Fresh,
}

/// A shell script with its arguments, to run on a target. The script text is
/// fixed by the caller; everything variable travels as a quoted argument
/// (`$1`, `$2`, ...), never spliced into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteScript {
    /// POSIX shell text.
    pub script: &'static str,
    /// Positional arguments.
    pub args: Vec<String>,
    /// What the script reads on its stdin, if anything: lists that may be
    /// long (one argument is capped at 128 KiB by Linux, and ssh sends the
    /// remote command as one).
    pub input: Option<String>,
}

impl RemoteScript {
    /// A script with arguments.
    pub fn new(script: &'static str, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        RemoteScript { script, args: args.into_iter().map(Into::into).collect(), input: None }
    }

    /// The same script, reading `input` on its stdin.
    pub fn with_input(mut self, input: String) -> Self {
        self.input = Some(input);
        self
    }
}

/// Options every SSH connection uses: never prompt (a deploy must not hang on a
/// password question) and give up on an unreachable host in bounded time.
const SSH_BASE_OPTIONS: &[&str] = &[
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
];

impl Target {
    /// Parses `local` or `[USER@]HOST[:PORT]`.
    pub fn parse(text: &str) -> Result<Target, String> {
        if text == "local" {
            return Ok(Target::Local);
        }
        let (user, rest) = match text.split_once('@') {
            Some(("", _)) => {
                return Err(format!("target `{text}` has an empty user; write USER@HOST[:PORT]"))
            }
            Some((user, rest)) => {
                // A user name as useradd accepts it; never an ssh option.
                let valid = user.len() <= 32
                    && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    && !user.starts_with(['-', '.']);
                if !valid {
                    return Err(format!(
                        "target `{}` has an invalid user `{}`; a user is letters, digits, `.`, `_` and inner `-` \
                         (write USER@HOST[:PORT])",
                        text.escape_debug(),
                        user.escape_debug()
                    ));
                }
                (Some(user.to_string()), rest)
            }
            None => (None, text),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!("target `{text}` has an invalid port `{port}`; write USER@HOST[:PORT]")
                })?;
                (host, Some(port))
            }
            None => (rest, None),
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_[]".contains(&b))
            && !host.starts_with(['-', '.']);
        if !valid_host {
            return Err(format!(
                "target `{}` has an invalid host `{}`; write USER@HOST[:PORT] or `local`",
                text.escape_debug(),
                host.escape_debug()
            ));
        }
        Ok(Target::Ssh(SshTarget {
            user,
            host: host.to_string(),
            port,
            options: Vec::new(),
            sharing: Sharing::Default,
            sudo: Sudo::No,
        }))
    }

    /// The same target on a connection of its own, never a shared one.
    pub fn fresh(&self) -> Target {
        match self {
            Target::Local => Target::Local,
            Target::Ssh(ssh) => Target::Ssh(SshTarget { sharing: Sharing::Fresh, ..ssh.clone() }),
        }
    }

    /// The same target with extra ssh arguments (ignored for `Local`).
    pub fn with_ssh_options(mut self, options: impl IntoIterator<Item = String>) -> Target {
        if let Target::Ssh(ssh) = &mut self {
            ssh.options.extend(options);
        }
        self
    }

    /// The same target, its commands becoming root as `sudo` says (ignored
    /// for `Local`, which runs as this process's user).
    pub fn with_sudo(mut self, sudo: Sudo) -> Target {
        if let Target::Ssh(ssh) = &mut self {
            ssh.sudo = sudo;
        }
        self
    }

    /// Runs `script` on the target and returns its stdout.
    pub fn run(&self, script: &RemoteScript) -> Result<String, CommandError> {
        let mut cmd = self.command(script)?;
        command::run_bounded(&mut cmd, self.describe(script), self.stdin(script).as_deref(), None)
    }

    /// [`Target::run`], given up after `limit`: a target that accepted the
    /// connection and then said nothing is an error that names `step`
    /// ([`crate::Failure::TimedOut`]), not a wait for ever.
    pub fn run_within(
        &self,
        script: &RemoteScript,
        step: &str,
        limit: Duration,
    ) -> Result<String, CommandError> {
        command::run_bounded(
            &mut self.command(script)?,
            self.describe(script),
            self.stdin(script).as_deref(),
            Some((step, limit)),
        )
    }

    /// Opens the shared master connection to this target now, without a
    /// session (`ssh -f -N`: no remote shell, no login shell setup), so that
    /// the sessions started next share it instead of each racing to open a
    /// connection of its own. Nothing to do for a target that shares none.
    pub fn connect(&self) -> Result<(), CommandError> {
        let Target::Ssh(ssh) = self else { return Ok(()) };
        if !matches!(ssh.sharing, Sharing::Shared(_)) {
            return Ok(());
        }
        let program = command::find_program("ssh", "install openssh-client")?;
        let mut cmd = Command::new(program);
        // The master goes to the background once connected, its output on
        // /dev/null (ControlPersist), so the pipes close and this returns.
        cmd.args(ssh.connection_args()).args(["-f", "-N"]).arg(ssh.destination());
        command::run(&mut cmd).map(drop)
    }

    /// How a script run on this target appears in errors: the target, then
    /// the script's arguments, with multi-line ones elided; with
    /// [`crate::show_commands`], the `sh -c` and the script's first line
    /// before them.
    pub(crate) fn describe(&self, script: &RemoteScript) -> String {
        let first_line = script.script.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let args: Vec<String> = script
            .args
            .iter()
            .map(|a| match a.lines().count() {
                0 | 1 => shell_quote(a),
                n => format!("<{n}-line script>"),
            })
            .collect();
        if crate::verbose::verbose() {
            format!("on {self}: sh -c '{first_line} ...' {}", args.join(" "))
        } else {
            format!("on {self}: {}", args.join(" "))
        }
    }
    /// What the process of [`Target::command`] reads on its stdin before
    /// anything else: the sudo password, if the target takes one.
    pub(crate) fn stdin_prefix(&self) -> Option<String> {
        match self {
            Target::Local => None,
            Target::Ssh(ssh) => ssh.sudo.stdin_prefix(),
        }
    }

    /// All the process of [`Target::command`] reads on its stdin: the sudo
    /// password, if any, then the script's input.
    fn stdin(&self, script: &RemoteScript) -> Option<String> {
        match (self.stdin_prefix(), &script.input) {
            (None, input) => input.clone(),
            (Some(prefix), input) => Some(prefix + input.as_deref().unwrap_or("")),
        }
    }

    /// The process that runs `script` on this target. On an SSH target that
    /// is not logged in as `root` by name, the script goes through `sudo.sh`,
    /// which checks that it runs as root or becomes root with sudo.
    pub(crate) fn command(&self, script: &RemoteScript) -> Result<Command, CommandError> {
        match self {
            Target::Local => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(script.script).arg("fleet").args(&script.args);
                Ok(cmd)
            }
            Target::Ssh(ssh) => {
                let program = command::find_program("ssh", "install openssh-client")?;
                let as_root = ssh.user.as_deref() == Some("root") && ssh.sudo == Sudo::No;
                let become_root = match as_root {
                    true => Vec::new(),
                    false => vec![
                        "sh".into(),
                        "-c".into(),
                        shell_quote(SUDO_SH),
                        "fleet-sudo".into(),
                        ssh.sudo.mode().into(),
                    ],
                };
                let remote = become_root
                    .into_iter()
                    .chain(["sh", "-c", &shell_quote(script.script), "fleet"].into_iter().map(String::from))
                    .chain(script.args.iter().map(|a| shell_quote(a)))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut cmd = Command::new(program);
                cmd.args(ssh.connection_args()).arg(ssh.destination()).arg(remote);
                Ok(cmd)
            }
        }
    }
}

impl SshTarget {
    /// `USER@HOST` or `HOST`, as ssh and ssh-ng store URIs take it.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// Every ssh argument before the destination.
    pub(crate) fn connection_args(&self) -> Vec<String> {
        let mut args: Vec<String> = SSH_BASE_OPTIONS.iter().map(|s| s.to_string()).collect();
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        match &self.sharing {
            Sharing::Default => {}
            Sharing::Shared(socket) => args.extend(
                [
                    "-o",
                    "ControlMaster=auto",
                    "-o",
                    &format!("ControlPath={socket}"),
                    "-o",
                    "ControlPersist=120",
                ]
                .map(String::from),
            ),
            Sharing::Fresh => {
                args.extend(["-o", "ControlMaster=no", "-o", "ControlPath=none"].map(String::from))
            }
        }
        args.extend(self.options.iter().cloned());
        args
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local"),
            Target::Ssh(ssh) => match ssh.port {
                Some(port) => write!(f, "{}:{port}", ssh.destination()),
                None => f.write_str(&ssh.destination()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &str) {
        let got = match Target::parse(text) {
            Ok(Target::Local) => "local".to_string(),
            Ok(Target::Ssh(s)) => format!("{:?} {} {:?}", s.user, s.host, s.port),
            Err(e) => e,
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn parses_user_host_port() {
        check("local", "local");
        check("root@10.0.0.1:2222", "Some(\"root\") 10.0.0.1 Some(2222)");
        check("vps.example.org", "None vps.example.org None");
        check("root@x:99999", "target `root@x:99999` has an invalid port `99999`; write USER@HOST[:PORT]");
        check("@x", "target `@x` has an empty user; write USER@HOST[:PORT]");
        check(
            "-oProxyCommand=touch /tmp/m@x",
            "target `-oProxyCommand=touch /tmp/m@x` has an invalid user `-oProxyCommand=touch /tmp/m`; \
             a user is letters, digits, `.`, `_` and inner `-` (write USER@HOST[:PORT])",
        );
        check(
            "root@a\nb",
            "target `root@a\\nb` has an invalid host `a\\nb`; write USER@HOST[:PORT] or `local`",
        );
        check(
            "root@-oProxyCommand=x",
            "target `root@-oProxyCommand=x` has an invalid host `-oProxyCommand=x`; write USER@HOST[:PORT] or `local`",
        );
    }

    #[test]
    fn a_script_that_says_nothing_is_given_up_at_its_limit_with_its_step_named() {
        // The sleep is a child of the shell and keeps its pipes open: the
        // limit does not wait for it.
        let silent = RemoteScript::new("echo partial; sleep 60; echo late", ["x"]);
        let err = Target::Local.run_within(&silent, "the nap", Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.failure, crate::Failure::TimedOut { step: "the nap".into(), seconds: 1 });
        assert!(err.to_string().contains("the nap gave no answer within 1s and was given up"), "{err}");
        assert!(!err.is_connection_failure(), "a silent target is not worth retrying");
        let quick = RemoteScript::new("echo \"$1\"", ["fine"]);
        assert_eq!(Target::Local.run_within(&quick, "the echo", Duration::from_secs(30)).unwrap(), "fine\n");
    }

    #[test]
    fn local_scripts_get_their_arguments_verbatim() {
        let script = RemoteScript::new("printf '%s|' \"$@\"", ["a b", "$(x)", ""]);
        assert_eq!(Target::Local.run(&script).unwrap(), "a b|$(x)||");
    }
}
