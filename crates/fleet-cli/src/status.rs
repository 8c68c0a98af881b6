//! `status`: what each node runs on its host, and whether it matches the build.

use fleet_deploy::Mode;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::Failure;
use crate::source::OPTIONS_HELP;

const HELP: &str = "\
Show what each node runs on its host and whether it matches the local build

Usage: {prog} status [--host NAME]... [--container NAME]... [--target TARGET] [--ssh-option OPT]...
                          [--jobs N] [--flake REF] [--graph FILE]

Builds the selected nodes (a no-op when nothing changed) and reads their profiles on the
target in one SSH round trip: the running system, its generation number and date, and
whether it is the system the build produced. Changes nothing on the target.

Options:
  --host NAME        Only this host and its containers (repeatable)
  --container NAME   Only this container (repeatable)
  --target TARGET    USER@HOST[:PORT], or `local` (default: the host's `target` in the graph data)
  --ssh-option OPT   Extra ssh arguments (repeatable)
  --jobs N           Builds to run at once (default: 8)
";

/// Runs `status`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let request = Request::take(&mut args)?;
    args.finish()?;
    request.run(Mode::Status, false)
}
