//! The machine a deploy changes: reached over SSH, or this machine itself.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::command::{self, CommandError, Failure};
use crate::shell_quote;

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
    /// Whether connections share one (see [`Connections`]).
    pub sharing: Sharing,
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
}

impl RemoteScript {
    /// A script with arguments.
    pub fn new(script: &'static str, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        RemoteScript { script, args: args.into_iter().map(Into::into).collect() }
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
            Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
            Some(_) => return Err(format!("target `{text}` has an empty user; write USER@HOST[:PORT]")),
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
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_[]".contains(&b))
            && !host.starts_with('-');
        if !valid_host {
            return Err(format!(
                "target `{text}` has an invalid host `{host}`; write USER@HOST[:PORT] or `local`"
            ));
        }
        Ok(Target::Ssh(SshTarget {
            user,
            host: host.to_string(),
            port,
            options: Vec::new(),
            sharing: Sharing::Default,
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

    /// Runs `script` on the target and returns its stdout.
    pub fn run(&self, script: &RemoteScript) -> Result<String, CommandError> {
        command::run_shown(&mut self.command(script)?, self.describe(script))
    }

    /// How a script run on this target appears in errors: the target, then the
    /// script's first line and its arguments, with multi-line ones elided.
    fn describe(&self, script: &RemoteScript) -> String {
        let first_line = script.script.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let args: Vec<String> = script
            .args
            .iter()
            .map(|a| match a.lines().count() {
                0 | 1 => shell_quote(a),
                n => format!("<{n}-line script>"),
            })
            .collect();
        format!("on {self}: sh -c '{first_line} ...' {}", args.join(" "))
    }

    /// Starts `script` on the target and keeps it running, its stdin open, until
    /// the returned [`Held`] is dropped (or this process dies, which closes the
    /// pipe too). Returns once the script prints its first line, which is
    /// returned; a script that exits first is an error with its stderr.
    pub fn hold(&self, script: &RemoteScript) -> Result<(Held, String), CommandError> {
        let mut cmd = self.command(script)?;
        let shown = self.describe(script);
        let spawn_failed = |e: std::io::Error| CommandError {
            command: shown.clone(),
            failure: Failure::Spawn(e.to_string()),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_failed)?;
        let mut first_line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        if BufReader::new(stdout).read_line(&mut first_line).is_ok_and(|n| n > 0) {
            return Ok((Held { child }, first_line.trim_end().to_string()));
        }
        drop(child.stdin.take());
        let output = child.wait_with_output().map_err(spawn_failed)?;
        Err(CommandError {
            command: shown.clone(),
            failure: Failure::Exit {
                code: output.status.code(),
                stderr_tail: command::tail(&String::from_utf8_lossy(&output.stderr)),
            },
        })
    }

    /// The process that runs `script` on this target.
    fn command(&self, script: &RemoteScript) -> Result<Command, CommandError> {
        match self {
            Target::Local => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(script.script).arg("fleet").args(&script.args);
                Ok(cmd)
            }
            Target::Ssh(ssh) => {
                let program = command::find_program("ssh", "install openssh-client")?;
                let remote = ["sh", "-c", &shell_quote(script.script), "fleet"]
                    .into_iter()
                    .map(String::from)
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

/// A script kept running on a target (see [`Target::hold`]); dropping it closes
/// the script's stdin and waits for it to end.
pub struct Held {
    child: Child,
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
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

/// Shared SSH connections for one run: every script, probe and copy to a
/// target goes through one master connection instead of a handshake each.
/// Dropping it closes the masters and removes their sockets.
pub struct Connections {
    dir: std::path::PathBuf,
    shared: std::sync::Mutex<Vec<SshTarget>>,
}

impl Connections {
    /// A fresh folder for the control sockets. Under `/tmp`, since a socket
    /// path must stay short (about 100 bytes).
    pub fn new() -> Result<Connections, CommandError> {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::path::PathBuf::from(format!("/tmp/fleet-ssh-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| CommandError {
            command: format!("mkdir {}", dir.display()),
            failure: Failure::Spawn(e.to_string()),
        })?;
        Ok(Connections { dir, shared: Default::default() })
    }

    /// `target` with its connections shared (a local target is returned as is).
    pub fn share(&self, target: &Target) -> Target {
        let Target::Ssh(ssh) = target else {
            return Target::Local;
        };
        let mut ssh = ssh.clone();
        ssh.sharing = Sharing::Shared(format!("{}/%C", self.dir.display()));
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).push(ssh.clone());
        Target::Ssh(ssh)
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        for ssh in self.shared.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = Command::new("ssh")
                .args(ssh.connection_args())
                .args(["-O", "exit"])
                .arg(ssh.destination())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
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
            "root@-oProxyCommand=x",
            "target `root@-oProxyCommand=x` has an invalid host `-oProxyCommand=x`; write USER@HOST[:PORT] or `local`",
        );
    }

    #[test]
    fn a_held_script_runs_until_released() {
        let dir = std::env::temp_dir().join(format!("fleet-hold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = RemoteScript::new(
            "mkdir \"$1\" && echo holding && cat >/dev/null && rmdir \"$1\"",
            [dir.display().to_string()],
        );
        let (held, line) = Target::Local.hold(&script).unwrap();
        assert_eq!(line, "holding");
        assert!(dir.is_dir(), "the script runs while held");
        drop(held);
        assert!(!dir.exists(), "the script finished when released");
        let failing = RemoteScript::new("echo busy >&2; exit 75", Vec::<String>::new());
        let err = Target::Local.hold(&failing).err().unwrap();
        assert_eq!((err.exit_code(), err.stderr_tail()), (Some(75), "busy"));
    }

    #[test]
    fn local_scripts_get_their_arguments_verbatim() {
        let script = RemoteScript::new("printf '%s|' \"$@\"", ["a b", "$(x)", ""]);
        assert_eq!(Target::Local.run(&script).unwrap(), "a b|$(x)||");
    }
}
