//! `status`: what each node runs on its host, and whether it matches the build.

use fleet_deploy::Mode;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::CliError;

/// Runs `status`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let request = Request::take(&mut args)?;
    args.finish()?;
    request.run(Mode::Status)
}
