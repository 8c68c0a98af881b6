//! `rollback`: put the selected nodes back on their previous generation.

use fleet_deploy::Mode;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::Failure;
use crate::source::OPTIONS_HELP;

const HELP: &str = "\
Activate each selected node's previous generation on its host

Usage: {prog} rollback [--host NAME]... [--container NAME]... [--target TARGET] [--ssh-option OPT]...
                            [--no-confirm] [--confirm-timeout SECS] [--flake REF] [--graph FILE]

Nothing is built. For each node, the generation before the profile's current one becomes
a new generation and is activated like a deploy would (health checks, confirmation for the
host, rollback if that fails too), in dependency order, under the target's deploy lock.

Options:
  --host NAME        Only this host and its containers (repeatable)
  --container NAME   Roll back only this container (repeatable; default: the host and every container)
  --target TARGET    USER@HOST[:PORT], or `local` (default: the host's `target` in the graph data)
  --ssh-option OPT   Extra ssh arguments (repeatable)
  --no-confirm       Keep the host's switch without confirmation
  --confirm-timeout SECS
                     How long the host waits for confirmation before undoing the rollback (default: 30)
";

/// Runs `rollback`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let request = Request::take(&mut args)?;
    args.finish()?;
    request.run(Mode::Rollback, false)
}
