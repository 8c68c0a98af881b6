//! What an evaluation of graph data may read: its own folder, nothing else.
//!
//! The graph may come from a branch someone else pushed, and `fleet status`
//! evaluates it on the operator's machine, so it is evaluated in Nix's
//! restricted mode (`restrict-eval`): files outside the search path and every
//! URI outside `allowed-uris` are refused. The search path is emptied
//! (`nix-path`, which `NIX_PATH` would otherwise fill) and holds only the
//! graph's folder. The flake's node systems are evaluated as flakes are, in
//! pure mode (Nix's default for flakes): only the flake's own source and its
//! locked inputs; restricted mode would also refuse those inputs' URLs.

use camino::{Utf8Path, Utf8PathBuf};

use crate::command::{CommandError, Failure};

/// What Nix says when restricted mode refused a file or a URI (Nix 2.8 and
/// newer alike: "access to absolute path '...' is forbidden in restricted
/// mode", "access to URI '...' is forbidden in restricted mode").
const REFUSED: &str = "forbidden in restricted mode";

/// What graph data may read, for the error when it read more (and the README).
pub const GRAPH_MAY_READ: &str = "graph data is evaluated in Nix's restricted mode: it may read the files \
     in its own folder (the real one, symlinks resolved), and no other file, no URL, no environment variable and no `<...>` search path";

/// A graph file, resolved: the file and the one folder it may read.
pub(crate) struct GraphFile {
    /// The file, symlinks resolved (Nix checks the path as given and as
    /// resolved, so both must lie in the folder).
    file: Utf8PathBuf,
    /// Its folder, the only search path entry.
    folder: Utf8PathBuf,
}

impl GraphFile {
    /// Resolves `file`; fails when it cannot be read.
    pub(crate) fn resolve(file: &Utf8Path) -> Result<GraphFile, CommandError> {
        let failed = |reason: String| CommandError {
            command: format!("resolve graph file {file}"),
            failure: Failure::Output(reason),
        };
        let real = std::fs::canonicalize(file).map_err(|e| failed(e.to_string()))?;
        let file =
            Utf8PathBuf::from_path_buf(real).map_err(|p| failed(format!("{} is not UTF-8", p.display())))?;
        let folder = file.parent().ok_or_else(|| failed("it has no folder".into()))?.to_path_buf();
        Ok(GraphFile { file, folder })
    }

    /// The arguments of `nix eval` that read the file in restricted mode.
    pub(crate) fn eval_args(&self) -> Vec<String> {
        [
            "--option",
            "allow-import-from-derivation",
            "false",
            "--option",
            "restrict-eval",
            "true",
            "--option",
            "allowed-uris",
            "",
            "--option",
            "nix-path",
            "",
            "-I",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .chain([
            format!("fleet-graph={}", self.folder),
            "--json".into(),
            "--file".into(),
            self.file.to_string(),
        ])
        .collect()
    }
}

impl CommandError {
    /// Whether Nix's restricted mode refused a file or a URI: the graph read
    /// what graph data may not (see [`GRAPH_MAY_READ`]).
    pub fn is_refused_by_restricted_mode(&self) -> bool {
        matches!(&self.failure, Failure::Exit { stderr_tail, .. } if stderr_tail.contains(REFUSED))
    }
}
