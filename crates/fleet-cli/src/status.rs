//! `status`: what each node runs on its host, and whether it matches the last
//! build of the flake as it is (or, with `--build`, a fresh one).

use fleet_deploy::Mode;

use crate::deploy::Request;
use crate::exit::CliError;
use crate::options::Options;

/// Runs `status`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    Request::new(options)?.run(Mode::Status)
}
