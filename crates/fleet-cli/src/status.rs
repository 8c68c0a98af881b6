//! `status`: what each node runs on its host, and whether it matches the last
//! build of the flake as it is (or, with `--build`, a fresh one).

use fleet_deploy::Mode;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::CliError;

/// Runs `status`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let build = args.flag("--build");
    let request = Request::take(&mut args)?.with_status_build(build);
    args.finish()?;
    request.run(Mode::Status)
}
