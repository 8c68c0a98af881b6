//! Running one external program and turning its failure into an error value
//! that says what ran and what it printed.

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::capture::{
    human_bytes, read_line_capped, Captured, Drain, Keep, LINE_CAP, STDERR_CAP, STDOUT_CAP,
};

/// How many trailing lines of a failed command's stderr an error keeps.
const STDERR_TAIL_LINES: usize = 15;

/// The most of one line of stderr an error shows.
const TAIL_LINE_CAP: usize = 2000;

/// An external program that did not do its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// The command line, for a human to rerun.
    pub command: String,
    /// What went wrong.
    pub failure: Failure,
}

/// The ways a command can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The program is not installed; the text says what to install.
    NotFound {
        /// The missing program.
        program: String,
        /// How to get it.
        hint: String,
    },
    /// The program could not be started.
    Spawn(String),
    /// The program exited unsuccessfully.
    Exit {
        /// Its exit code, `None` if a signal ended it.
        code: Option<i32>,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The program succeeded but printed something unexpected.
    Output(String),
    /// The connection to a program that was meant to keep running was lost:
    /// a write to it failed, or it ended without a word on stderr. The text
    /// says which.
    Disconnected(String),
    /// The program gave no answer within its step's limit and was stopped.
    TimedOut {
        /// The step, as a person names it (`the probe`, `units.sh`).
        step: String,
        /// Its limit, in seconds.
        seconds: u64,
    },
}

/// What ssh and nix print when the connection itself failed, as opposed to a
/// refusal or a failure of the remote command.
const CONNECTION_FAILURES: &[&str] = &[
    "Connection refused",
    "Connection timed out",
    "Connection reset",
    "Connection closed",
    "connection closed",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "kex_exchange_identification",
    "unexpected end-of-file",
];

impl CommandError {
    /// Whether the failure looks like a lost or refused connection, worth
    /// trying again; an authentication failure is not.
    pub fn is_connection_failure(&self) -> bool {
        if matches!(self.failure, Failure::Disconnected(_)) {
            return true;
        }
        let tail = self.stderr_tail();
        !tail.contains("Permission denied") && CONNECTION_FAILURES.iter().any(|sign| tail.contains(sign))
    }

    /// Whether an evaluation stopped because this `nix` is older than the
    /// flake's nixpkgs requires: no node of that flake can build here.
    pub fn is_nix_too_old(&self) -> bool {
        self.stderr_tail().contains(crate::nix::NIX_TOO_OLD)
    }

    /// The exit code, when the program ran and failed with one.
    pub fn exit_code(&self) -> Option<i32> {
        match self.failure {
            Failure::Exit { code, .. } => code,
            _ => None,
        }
    }

    /// The tail of stderr, when the program ran and failed.
    pub fn stderr_tail(&self) -> &str {
        match &self.failure {
            Failure::Exit { stderr_tail, .. } => stderr_tail,
            _ => "",
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::NotFound { program, hint } => write!(f, "`{program}` is not installed; {hint}"),
            Failure::Spawn(reason) => write!(f, "`{}` could not be started: {reason}", self.command),
            Failure::Exit { code, stderr_tail } => {
                match code {
                    Some(code) => write!(f, "`{}` exited with status {code}", self.command)?,
                    None => write!(f, "`{}` was killed by a signal", self.command)?,
                }
                if !stderr_tail.is_empty() {
                    write!(f, "\n{}", indent(stderr_tail))?;
                }
                Ok(())
            }
            Failure::Output(reason) => {
                write!(f, "the output of `{}` is not what was expected: {reason}", self.command)
            }
            Failure::Disconnected(how) => {
                write!(f, "the connection to `{}` was lost: {how}", self.command)
            }
            Failure::TimedOut { step, seconds } => write!(
                f,
                "{step} gave no answer within {seconds}s and was given up (`{}`: the target accepted the \
                 connection, then said nothing)",
                self.command
            ),
        }
    }
}

impl std::error::Error for CommandError {}

pub(crate) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
}

/// Runs `cmd` to completion with stdin closed; returns its stdout.
pub(crate) fn run(cmd: &mut Command) -> Result<String, CommandError> {
    let shown = display(cmd);
    run_shown(cmd, shown)
}

/// [`run`], with `shown` as the command line in errors.
pub(crate) fn run_shown(cmd: &mut Command, shown: String) -> Result<String, CommandError> {
    run_bounded(cmd, shown, None, None)
}

/// [`run_shown`], with `input` (if any) on its stdin, stopped (killed) if it
/// has not ended within `limit`: an error that names the step.
pub(crate) fn run_bounded(
    cmd: &mut Command,
    shown: String,
    input: Option<&str>,
    limit: Option<(&str, Duration)>,
) -> Result<String, CommandError> {
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child = spawn_piped(cmd, stdin, &shown)?;
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        let input = input.to_string();
        // From a thread of its own, so that a command that writes before it
        // reads cannot block; a script that exits before reading all of it
        // closes the pipe, and its exit status says what went wrong.
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut pipe, input.as_bytes());
        });
    }
    let stdout = Drain::start(child.stdout.take().expect("stdout is piped"), Keep::Head, STDOUT_CAP);
    let stderr = Drain::start(child.stderr.take().expect("stderr is piped"), Keep::Tail, STDERR_CAP);
    let (status, stdout, stderr) = match limit {
        None => {
            let status = child.wait();
            (status, stdout.finish(), stderr.finish())
        }
        Some((step, limit)) => {
            let deadline = Instant::now() + limit;
            let ended = stdout.finish_by(deadline).and_then(|out| Some((out, stderr.finish_by(deadline)?)));
            let Some((stdout, stderr)) = ended else {
                // Its pipes may stay open in what it started; they are not
                // waited for.
                let _ = child.kill();
                let _ = child.wait();
                let failure = Failure::TimedOut { step: step.to_string(), seconds: limit.as_secs() };
                return Err(CommandError { command: shown, failure });
            };
            (child.wait(), stdout, stderr)
        }
    };
    let status = status
        .map_err(|e| CommandError { command: shown.clone(), failure: Failure::Spawn(e.to_string()) })?;
    if !status.success() {
        return Err(CommandError {
            command: shown,
            failure: Failure::Exit { code: status.code(), stderr_tail: tail(&stderr.tail_text()) },
        });
    }
    stdout_text(stdout, shown)
}

/// A successful command's stdout as text: all of it, or an error that says
/// how much more than the cap there was.
fn stdout_text(stdout: Captured, shown: String) -> Result<String, CommandError> {
    if stdout.more > 0 {
        let reason = format!(
            "it printed {} more than the {} read of it",
            human_bytes(stdout.more),
            human_bytes(STDOUT_CAP as u64)
        );
        return Err(CommandError { command: shown, failure: Failure::Output(reason) });
    }
    String::from_utf8(stdout.bytes)
        .map_err(|_| CommandError { command: shown, failure: Failure::Output("not UTF-8".into()) })
}

/// Runs `cmd` to completion with stdin closed, handing each line of its
/// stderr (each cut at [`LINE_CAP`]) to `on_line` as it comes; returns its
/// stdout. `on_line` returns the human text of a line, if any: a failure's
/// stderr tail is made of those.
pub(crate) fn run_streaming(
    cmd: &mut Command,
    on_line: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, CommandError> {
    let shown = display(cmd);
    let mut child = spawn_piped(cmd, Stdio::null(), &shown)?;
    let stdout = Drain::start(child.stdout.take().expect("stdout is piped"), Keep::Head, STDOUT_CAP);
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut text = Vec::new();
    while let Ok(Some(line)) = read_line_capped(&mut stderr, LINE_CAP) {
        if let Some(human) = on_line(&line) {
            text.push(human);
            if text.len() > 4 * STDERR_TAIL_LINES {
                text.drain(..text.len() - STDERR_TAIL_LINES);
            }
        }
    }
    // Whatever follows a read error is still read, so the child never blocks.
    std::io::copy(&mut stderr, &mut std::io::sink()).ok();
    let status = child.wait();
    let stdout = stdout.finish();
    let status = status
        .map_err(|e| CommandError { command: shown.clone(), failure: Failure::Spawn(e.to_string()) })?;
    if !status.success() {
        return Err(CommandError {
            command: shown,
            failure: Failure::Exit { code: status.code(), stderr_tail: tail(&text.join("\n")) },
        });
    }
    stdout_text(stdout, shown)
}

/// Starts `cmd` with `stdin` and its stdout and stderr piped; failing to start
/// it is an error that shows it as `shown`.
pub(crate) fn spawn_piped(cmd: &mut Command, stdin: Stdio, shown: &str) -> Result<Child, CommandError> {
    crate::verbose::started(shown);
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CommandError { command: shown.to_string(), failure: Failure::Spawn(e.to_string()) })
}

/// Resolves `program` on PATH, or says what to install.
pub(crate) fn find_program(program: &str, hint: &str) -> Result<std::path::PathBuf, CommandError> {
    which::which(program).map_err(|_| CommandError {
        command: program.to_string(),
        failure: Failure::NotFound { program: program.to_string(), hint: hint.to_string() },
    })
}

/// The command line as a human would type it.
pub(crate) fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| crate::shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last lines of `stderr` that are not blank, each cut at
/// [`TAIL_LINE_CAP`] bytes: what an error shows of a command's stderr.
pub(crate) fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..]
        .iter()
        .map(|line| crate::capture::shorten(line, TAIL_LINE_CAP))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_command_and_stderr_tail() {
        let script = "for i in $(seq 1 40); do echo line$i >&2; done; exit 7";
        let err = run(Command::new("sh").arg("-c").arg(script)).unwrap_err();
        assert_eq!(err.exit_code(), Some(7));
        assert!(err.command.starts_with("sh -c 'for i in"), "{}", err.command);
        let tail = err.stderr_tail();
        assert!(tail.starts_with("line26\n") && tail.ends_with("line40"), "{tail}");
        assert!(err.to_string().contains("exited with status 7\n    | line26"), "{err}");
    }

    #[test]
    fn streaming_hands_over_each_line_and_keeps_the_human_tail() {
        let script =
            "echo out; for i in $(seq 1 30); do echo \"@json $i\" >&2; echo text$i >&2; done; exit 4";
        let mut seen = 0;
        let err = run_streaming(Command::new("sh").arg("-c").arg(script), &mut |line| {
            seen += 1;
            (!line.starts_with("@json")).then(|| line.to_string())
        })
        .unwrap_err();
        assert_eq!(seen, 60);
        assert_eq!(err.exit_code(), Some(4));
        assert!(err.stderr_tail().starts_with("text16\n") && err.stderr_tail().ends_with("text30"), "{err}");
        let out = run_streaming(Command::new("sh").arg("-c").arg("echo hello; echo x >&2"), &mut |_| None);
        assert_eq!(out.unwrap(), "hello\n");
    }

    #[test]
    fn output_past_its_cap_is_an_error_that_says_how_much_more() {
        let script = "head -c 1000000 /dev/zero >&2; head -c 67208864 /dev/zero; echo done >&2";
        let err = run(Command::new("sh").arg("-c").arg(script)).unwrap_err();
        assert_eq!(
            err.failure,
            Failure::Output("it printed 100.0 kB more than the 67.1 MB read of it".into())
        );
        let err = run(Command::new("sh").arg("-c").arg("head -c 1000000 /dev/zero | tr '\\0' x >&2; exit 3"))
            .unwrap_err();
        let expected = format!("... 934.5 kB more before this\n{} ... 63.5 kB more", "x".repeat(2000));
        assert_eq!(err.stderr_tail(), expected);
    }

    #[test]
    fn missing_program_names_the_fix() {
        let err = find_program("surely-not-a-program-xyz", "install it").unwrap_err();
        assert_eq!(err.to_string(), "`surely-not-a-program-xyz` is not installed; install it");
    }
}
