//! Where the fleet comes from: the flake to build and the graph data file.

use camino::{Utf8Path, Utf8PathBuf};
use fleet_graph::Fleet;
use fleet_nix::Nix;

use crate::exit::CliError;
use crate::options::Options;

/// The `--flake` and `--graph` options as given.
#[derive(Clone)]
pub(crate) struct SourceArgs {
    flake: Option<String>,
    graph: Option<Utf8PathBuf>,
}

/// The flake reference and graph file of a run.
pub(crate) struct Source {
    pub(crate) flake: String,
    pub(crate) graph: Utf8PathBuf,
}

impl SourceArgs {
    /// `--flake` and `--graph` as given.
    pub(crate) fn of(options: &Options) -> SourceArgs {
        SourceArgs { flake: options.flake.clone(), graph: options.graph.clone() }
    }

    /// Fills in the defaults: the flake found upwards from here, and its
    /// `nix/fleet.nix`.
    pub(crate) fn resolve(self) -> Result<Source, CliError> {
        let flake = match self.flake {
            Some(flake) => flake,
            None => find_flake_upwards()?.to_string(),
        };
        let graph = match self.graph {
            Some(graph) => graph,
            None => local_dir(&flake).map(|dir| dir.join("nix/fleet.nix")).ok_or_else(|| {
                CliError::Usage(format!(
                    "`{flake}` is not a local flake; pass --graph FILE with its graph data"
                ))
            })?,
        };
        Ok(Source { flake, graph })
    }
}

impl Source {
    /// The flake's folder, when it is a local flake.
    pub(crate) fn local_dir(&self) -> Option<Utf8PathBuf> {
        local_dir(&self.flake)
    }

    /// Evaluates and validates the graph data.
    pub(crate) fn load(&self, nix: &Nix) -> Result<Fleet, CliError> {
        nix.check_installed().map_err(|e| CliError::Config(e.to_string()))?;
        if !self.graph.exists() {
            return Err(CliError::Config(format!(
                "the graph data file {} does not exist; pass --graph FILE or a --flake with nix/fleet.nix",
                self.graph
            )));
        }
        let json = nix.eval_json_file(&self.graph).map_err(|e| {
            let hint = if e.is_refused_by_restricted_mode() {
                format!("\nnote: {}", fleet_nix::GRAPH_MAY_READ)
            } else {
                String::new()
            };
            CliError::Config(format!("the graph data in {} does not evaluate: {e}{hint}", self.graph))
        })?;
        Fleet::from_json(&json).map_err(|e| CliError::Config(e.to_string()))
    }
}

/// The folder of a local flake reference (`DIR`, `path:DIR`, `git+file://DIR?...`).
fn local_dir(flake: &str) -> Option<Utf8PathBuf> {
    let rest = flake.strip_prefix("path:").or_else(|| flake.strip_prefix("git+file://")).unwrap_or(flake);
    let dir = Utf8Path::new(rest.split(['?', '#']).next()?);
    dir.is_dir().then(|| dir.to_path_buf())
}

fn find_flake_upwards() -> Result<Utf8PathBuf, CliError> {
    let cwd =
        std::env::current_dir().ok().and_then(|d| Utf8PathBuf::from_path_buf(d).ok()).ok_or_else(|| {
            CliError::Config(
                "the current folder is not a UTF-8 path, so no flake can be found in it; pass --flake REF"
                    .into(),
            )
        })?;
    cwd.ancestors()
        .find(|dir| dir.join("flake.nix").is_file() && dir.join("nix/fleet.nix").is_file())
        .map(Utf8Path::to_path_buf)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no flake with nix/fleet.nix in {cwd} or above; run inside the repository or pass --flake REF"
            ))
        })
}
