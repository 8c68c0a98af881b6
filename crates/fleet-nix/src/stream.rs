//! Scripts that keep running on a target, spoken to line by line
//! (`Target::open`, for the deploy agent).

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;

use crate::capture::{self, Drain, Keep, LINE_CAP, STDERR_CAP};
use crate::command::{self, CommandError, Failure};
use crate::target::{RemoteScript, Target};

impl Target {
    /// Starts `script` on the target as a two-way stream: lines written with
    /// [`Stream::send`] reach its stdin, and each line it prints (cut at 64
    /// KiB, the rest named) arrives on the returned receiver, which holds at
    /// most 64 unread lines: a script that prints faster
    /// than its reader takes waits for it. The receiver ends when the script
    /// (or the connection) ends; [`Stream::ended`] then says how.
    pub fn open(&self, script: &RemoteScript) -> Result<(Stream, Receiver<String>), CommandError> {
        let shown = self.describe(script);
        let mut child = command::spawn_piped(&mut self.command(script)?, Stdio::piped(), &shown)?;
        self.send_stdin_prefix(&mut child);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let stderr = Drain::start(child.stderr.take().expect("stderr is piped"), Keep::Tail, STDERR_CAP);
        let (lines, receiver) = mpsc::sync_channel(LINES_IN_FLIGHT);
        std::thread::spawn(move || {
            while let Ok(Some(line)) = capture::read_line_capped(&mut stdout, LINE_CAP) {
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
                stderr: Mutex::new(Stderr::Reading(stderr)),
            },
            receiver,
        ))
    }

    /// Writes what the target's commands read before their own input (the
    /// sudo password) to `child`'s stdin. A failed write shows as the
    /// script's own failure: it ended before reading its stdin.
    fn send_stdin_prefix(&self, child: &mut Child) {
        if let (Some(prefix), Some(stdin)) = (self.stdin_prefix(), child.stdin.as_mut()) {
            let _ = stdin.write_all(prefix.as_bytes()).and_then(|()| stdin.flush());
        }
    }
}

/// How many lines a [`Stream`] holds that its reader has not taken yet.
const LINES_IN_FLIGHT: usize = 64;

/// A script running on a target with its stdin and stdout open (see
/// [`Target::open`]). Dropping it closes its stdin, waits a moment for it to
/// end, and ends the local side if it does not.
pub struct Stream {
    command: String,
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
    stderr: Mutex<Stderr>,
}

/// A stream's stderr: read while the script runs, kept once it has ended.
enum Stderr {
    Reading(Drain),
    Read(String),
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
            failure: Failure::Disconnected(format!("a write to it failed ({e})")),
        })
    }

    /// Once the receiver has ended: how the script ended, as an error with its
    /// exit code and stderr tail (an exit code of 0 is an error too: the
    /// stream was not meant to end).
    pub fn ended(&self) -> CommandError {
        drop(self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take());
        let code = self.child.lock().unwrap_or_else(|p| p.into_inner()).wait().ok().and_then(|s| s.code());
        let mut stderr = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let text = match std::mem::replace(&mut *stderr, Stderr::Read(String::new())) {
            Stderr::Reading(drain) => drain.finish().tail_text(),
            Stderr::Read(text) => text,
        };
        *stderr = Stderr::Read(text.clone());
        drop(stderr);
        CommandError {
            command: self.command.clone(),
            failure: Failure::Exit { code, stderr_tail: command::tail(&text) },
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_runs_until_dropped_and_says_how_it_ended() {
        let dir = std::env::temp_dir().join(format!("fleet-stream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = RemoteScript::new(
            "mkdir \"$1\" && echo running && cat >/dev/null && rmdir \"$1\"",
            [dir.display().to_string()],
        );
        let (stream, lines) = Target::Local.open(&script).unwrap();
        assert_eq!(lines.recv().unwrap(), "running");
        assert!(dir.is_dir(), "the script runs while the stream is open");
        drop(stream);
        assert!(!dir.exists(), "the script finished when the stream was dropped");
        let failing = RemoteScript::new("echo busy >&2; exit 75", Vec::<String>::new());
        let (stream, lines) = Target::Local.open(&failing).unwrap();
        assert!(lines.recv().is_err(), "it printed nothing on stdout");
        let err = stream.ended();
        assert_eq!((err.exit_code(), err.stderr_tail()), (Some(75), "busy"));
        assert!(matches!(stream.send(&["x"]).unwrap_err().failure, Failure::Disconnected(_)));
    }
}
