//! `exec`: one command run on a node, as an argument vector, with its output
//! handed on line by line as it comes.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use fleet_graph::Node;
use fleet_nix::{CommandError, Failure, RemoteScript, Target};

use crate::NodeKind;

/// Says that the session is up, then runs its arguments as the command (see
/// the file and `protocol/exec.rs`).
const EXEC: &str = include_str!("sh/exec.sh");

/// Runs `argv` on `node` (reached through `target`, its host's): directly on
/// a host, inside a container with `nixos-container run` (whatever `kind`
/// runs a declared health check with). Hands each line of its output (stdout
/// and stderr, in order) to `on_line`, and returns its exit status. An error
/// is a command that never ran or never ended with a status: ssh's own failure
/// (exit status 255 over SSH, with ssh's message), a signal, or a session
/// that said nothing within `answer_within` of its start (given up, named).
/// The command itself may then run, silent or not, as long as it takes.
pub fn exec_on(
    kind: &dyn NodeKind,
    node: &Node,
    target: &Target,
    argv: &[String],
    answer_within: Duration,
    on_line: &mut dyn FnMut(&str),
) -> Result<i32, CommandError> {
    let script = RemoteScript::new(EXEC, kind.node_command(node, argv));
    let (stream, lines) = target.open(&script)?;
    match lines.recv_timeout(answer_within) {
        Ok(line) => {
            if let Err(why) = crate::protocol::session_started(&line) {
                return Err(CommandError {
                    command: format!("on {target}: exec on {}", node.name),
                    failure: Failure::Output(why),
                });
            }
        }
        Err(RecvTimeoutError::Disconnected) => return exit_status(target, stream.ended()),
        // Dropping the stream ends the session.
        Err(RecvTimeoutError::Timeout) => {
            return Err(CommandError {
                command: format!("on {target}: exec on {}", node.name),
                failure: Failure::TimedOut {
                    step: "the exec session's first line".into(),
                    seconds: answer_within.as_secs(),
                },
            })
        }
    }
    for line in lines {
        on_line(&line);
    }
    exit_status(target, stream.ended())
}

/// The command's exit status, out of how its session ended.
fn exit_status(target: &Target, ended: CommandError) -> Result<i32, CommandError> {
    match ended.failure {
        Failure::Exit { code: Some(255), .. } if matches!(target, Target::Ssh(_)) => Err(ended),
        Failure::Exit { code: Some(code), .. } => Ok(code),
        _ => Err(ended),
    }
}
