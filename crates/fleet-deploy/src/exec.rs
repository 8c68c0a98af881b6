//! `exec`: one command run on a node, as an argument vector, with its output
//! handed on line by line as it comes.

use fleet_graph::Node;
use fleet_nix::{CommandError, Failure, RemoteScript, Target};

use crate::NodeKind;

/// Runs its arguments as the command (see the file).
const EXEC: &str = include_str!("sh/exec.sh");

/// Runs `argv` on `node` (reached through `target`, its host's): directly on
/// a host, inside a container with `nixos-container run` (whatever `kind`
/// runs a declared health check with). Hands each line of its output (stdout
/// and stderr, in order) to `on_line`, and returns its exit status. An error
/// is a command that never ran or never ended with a status: ssh's own failure
/// (exit status 255 over SSH, with ssh's message) or a signal.
pub fn exec_on(
    kind: &dyn NodeKind,
    node: &Node,
    target: &Target,
    argv: &[String],
    on_line: &mut dyn FnMut(&str),
) -> Result<i32, CommandError> {
    let script = RemoteScript::new(EXEC, kind.node_command(node, argv));
    let (stream, lines) = target.open(&script)?;
    for line in lines {
        on_line(&line);
    }
    let ended = stream.ended();
    match ended.failure {
        Failure::Exit { code: Some(255), .. } if matches!(target, Target::Ssh(_)) => Err(ended),
        Failure::Exit { code: Some(code), .. } => Ok(code),
        _ => Err(ended),
    }
}
