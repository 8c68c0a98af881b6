//! The machine a deploy changes: reached over SSH, or this machine itself.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

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

    /// Starts `script` on the target as a two-way stream: lines written with
    /// [`Stream::send`] reach its stdin, and each line it prints arrives on the
    /// returned receiver. The receiver ends when the script (or the
    /// connection) ends; [`Stream::ended`] then says how.
    pub fn open(&self, script: &RemoteScript) -> Result<(Stream, Receiver<String>), CommandError> {
        let mut cmd = self.command(script)?;
        let shown = self.describe(script);
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
                CommandError { command: shown.clone(), failure: Failure::Spawn(e.to_string()) }
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (lines, receiver) = mpsc::channel();
        let errors = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&errors);
        let stderr_done = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            collected.lock().unwrap_or_else(|p| p.into_inner()).push_str(&text);
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("stdin is piped");
        Ok((
            Stream {
                command: shown,
                stdin: Mutex::new(Some(stdin)),
                child: Mutex::new(child),
                stderr: errors,
                stderr_done: Mutex::new(Some(stderr_done)),
            },
            receiver,
        ))
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

/// A script running on a target with its stdin and stdout open (see
/// [`Target::open`]). Dropping it closes its stdin, waits a moment for it to
/// end, and ends the local side if it does not.
pub struct Stream {
    command: String,
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
    stderr: Arc<Mutex<String>>,
    stderr_done: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Stream {
    /// Writes `lines` to the script's stdin at once, each ending with a
    /// newline; no other writer's lines come between them.
    pub fn send(&self, lines: &[&str]) -> Result<(), CommandError> {
        let mut text = String::new();
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        let written = match stdin.as_mut() {
            Some(pipe) => pipe.write_all(text.as_bytes()).and_then(|()| pipe.flush()),
            None => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed")),
        };
        written.map_err(|e| CommandError {
            command: self.command.clone(),
            failure: Failure::Exit { code: None, stderr_tail: format!("Broken pipe: {e}") },
        })
    }

    /// Once the receiver has ended: how the script ended, as an error with its
    /// exit code and stderr tail (an exit code of 0 is an error too: the
    /// stream was not meant to end).
    pub fn ended(&self) -> CommandError {
        drop(self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take());
        let code = self.child.lock().unwrap_or_else(|p| p.into_inner()).wait().ok().and_then(|s| s.code());
        if let Some(handle) = self.stderr_done.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
        let stderr = self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut stderr_tail = command::tail(&stderr);
        if stderr_tail.is_empty() {
            stderr_tail = "Connection closed: the session ended".into();
        }
        CommandError { command: self.command.clone(), failure: Failure::Exit { code, stderr_tail } }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        drop(self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take());
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        // A script that reads its stdin ends on its own; a connection lost in
        // a partition would keep ssh waiting for its keep-alives to fail.
        for _ in 0..STREAM_END_POLLS {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(STREAM_END_POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// How long dropping a [`Stream`] waits for the script to end: polls of this length...
const STREAM_END_POLL: std::time::Duration = std::time::Duration::from_millis(20);
/// ...this many times (2 s).
const STREAM_END_POLLS: u32 = 100;

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
///
/// The control sockets live in a private folder made for the run: a random
/// name, mode 0700, its owner checked. A watchdog process closes the masters
/// and removes the folder when the run ends, however it ends (dropping this,
/// a signal, or SIGKILL: its stdin is a pipe from this process).
pub struct Connections {
    dir: PathBuf,
    shared: Mutex<Vec<SshTarget>>,
    watchdog: Mutex<Option<Child>>,
}

/// The watchdog that cleans up a run's socket folder (see [`Connections`]).
const CLEANUP: &str = include_str!("cleanup.sh");

impl Connections {
    /// A new private folder for the control sockets, in the temporary folder
    /// (`TMPDIR`) when its path is short enough for a socket (about 100
    /// bytes), else in `/tmp`.
    pub fn new() -> Result<Connections, CommandError> {
        let base = std::env::temp_dir();
        let base = if base.as_os_str().len() <= 40 { base } else { PathBuf::from("/tmp") };
        Connections::new_in(&base)
    }

    /// [`Connections::new`] in `base`.
    pub fn new_in(base: &Path) -> Result<Connections, CommandError> {
        let dir = base.join(format!("fleet-ssh-{}", random_hex()?));
        let failed = |what: &str, e: String| CommandError {
            command: format!("{what} {}", dir.display()),
            failure: Failure::Spawn(e),
        };
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| failed("mkdir", e.to_string()))?;
        private_folder(&dir).map_err(|e| failed("check", e))?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(CLEANUP)
            .arg("fleet-cleanup")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed("start the cleanup of", e.to_string()))?;
        Ok(Connections { dir, shared: Default::default(), watchdog: Mutex::new(Some(watchdog)) })
    }

    /// The folder that holds the control sockets.
    pub fn dir(&self) -> &Path {
        &self.dir
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

/// Eight random bytes from the kernel, in hex.
fn random_hex() -> Result<String, CommandError> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(|e| {
        CommandError { command: "read /dev/urandom".into(), failure: Failure::Spawn(e.to_string()) }
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that `dir` is a real folder (not a link), owned by this process's
/// user, that no one else may enter.
pub(crate) fn private_folder(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    // /proc/self belongs to this process's effective user.
    let me = std::fs::metadata("/proc/self").map_err(|e| format!("read /proc/self: {e}"))?.uid();
    if !meta.is_dir() {
        return Err("not a folder".into());
    }
    if meta.uid() != me {
        return Err(format!("owned by uid {}, not by this user (uid {me})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!("mode {:o}: others may enter it", meta.mode() & 0o777));
    }
    Ok(())
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
        if let Some(mut watchdog) = self.watchdog.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
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
    use std::os::unix::fs::PermissionsExt;

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
    fn socket_folders_are_private_random_and_removed() {
        let base = std::env::temp_dir().join(format!("fleet-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let (a, b) = (Connections::new_in(&base).unwrap(), Connections::new_in(&base).unwrap());
        assert_ne!(a.dir(), b.dir(), "a random name per run");
        let meta = std::fs::symlink_metadata(a.dir()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let dir = a.dir().to_path_buf();
        drop(a);
        assert!(!dir.exists(), "removed when the run ends");

        // A folder someone else made (or made open) is refused.
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(private_folder(&open), Err("mode 777: others may enter it".into()));
        std::os::unix::fs::symlink(&open, base.join("link")).unwrap();
        assert_eq!(private_folder(&base.join("link")), Err("not a folder".into()));
        drop(b);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn local_scripts_get_their_arguments_verbatim() {
        let script = RemoteScript::new("printf '%s|' \"$@\"", ["a b", "$(x)", ""]);
        assert_eq!(Target::Local.run(&script).unwrap(), "a b|$(x)||");
    }
}
