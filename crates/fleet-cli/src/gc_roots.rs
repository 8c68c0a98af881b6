//! Garbage-collector roots for what a run built (`--out-link DIR`,
//! `--keep-result`), as colmena's `--keep-result` and nh's `--out-link` make
//! them: `DIR/NODE` links to the node's system, registered with Nix.

use camino::Utf8PathBuf;
use fleet_deploy::Summary;
use fleet_nix::Nix;

use crate::exit::CliError;
use crate::options::Options;
use crate::source::Source;

/// The folder `--keep-result` keeps roots in, next to the flake's flake.nix.
const KEEP_RESULT_DIR: &str = ".gcroots";

/// `--out-link` and `--keep-result` as given.
pub(crate) struct RootsArgs {
    out_link: Option<Utf8PathBuf>,
    keep_result: bool,
}

impl RootsArgs {
    /// `--out-link DIR` and `--keep-result` as given.
    pub(crate) fn of(options: &Options) -> RootsArgs {
        RootsArgs { out_link: options.out_link.clone(), keep_result: options.keep_result }
    }

    /// The folder to keep roots in, if any: `--out-link DIR`, else with
    /// `--keep-result` the local flake's `.gcroots`.
    pub(crate) fn dir(&self, source: &Source) -> Result<Option<Utf8PathBuf>, CliError> {
        match (&self.out_link, self.keep_result) {
            (Some(dir), _) => Ok(Some(dir.clone())),
            (None, false) => Ok(None),
            (None, true) => match source.local_dir() {
                Some(flake) => Ok(Some(flake.join(KEEP_RESULT_DIR))),
                None => Err(CliError::Usage(format!(
                    "--keep-result keeps roots next to a local flake, and `{}` is not one; pass --out-link DIR",
                    source.flake
                ))),
            },
        }
    }
}

/// Makes `dir/NODE` a root of every node's built system in `summary`, and
/// says on stderr where they are.
pub(crate) fn keep(nix: &Nix, dir: &Utf8PathBuf, summary: &Summary) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Config(format!("the folder {dir} for garbage-collector roots could not be created: {e}"))
    })?;
    let mut kept = 0;
    for report in &summary.nodes {
        if let Some(path) = &report.new {
            nix.add_root(&dir.join(&report.node), path).map_err(|e| {
                CliError::Config(format!(
                    "{path} could not be kept as a garbage-collector root in {dir}: {e}"
                ))
            })?;
            kept += 1;
        }
    }
    eprintln!("kept {kept} garbage-collector roots in {dir}/");
    Ok(())
}
