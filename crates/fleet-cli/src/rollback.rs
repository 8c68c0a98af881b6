//! `rollback`: put the selected nodes back on their previous generation.

use fleet_deploy::Mode;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::CliError;

/// Runs `rollback`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let request = Request::take(&mut args)?;
    args.finish()?;
    request.run(Mode::Rollback)
}
