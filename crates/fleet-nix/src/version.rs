//! The check that this `nix` is as new as the flake's nixpkgs asks, run when
//! an evaluation failed to say why if this is the reason: it reads only the
//! locked nixpkgs input, in pure mode, and runs none of the flake's code.

use crate::command::CommandError;
use crate::nix::{nix_string, Nix};

/// Nix source that stops with a clear message when this `nix` is older than
/// the nixpkgs at `nixpkgs` asks (`lib/minver.nix`, 2.18.0 for nixpkgs
/// 26.05). Followed by the expression to evaluate when the version suffices.
const NIX_VERSION_CHECK: &str = "\
    minver = nixpkgs + \"/lib/minver.nix\"; \
    required = if builtins.pathExists minver then import minver else \"0\"; \
    in if builtins.compareVersions builtins.nixVersion required < 0 \
    then throw \"this machine's nix ${builtins.nixVersion} is older than ${required}, \
    which the flake's nixpkgs requires (its lib/minver.nix): upgrade Nix on the deploying machine\" \
    else";

/// What the message of [`NIX_VERSION_CHECK`] says, whatever the versions.
pub(crate) const NIX_TOO_OLD: &str = "which the flake's nixpkgs requires (its lib/minver.nix)";

/// The locked attributes (as JSON) of the root's input `name` in `nix flake
/// metadata --json`'s lock graph, if it is a node of its own (not a `follows`).
fn locked_input(metadata: &str, name: &str) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(metadata).ok()?;
    let locks = &metadata["locks"];
    let root = locks["root"].as_str()?;
    let node = locks["nodes"][root]["inputs"][name].as_str()?;
    let locked = &locks["nodes"][node]["locked"];
    locked.is_object().then(|| locked.to_string())
}

/// A flake reference with a relative folder made absolute: nix reads a bare
/// `dir` as a name in the flake registry.
fn absolute_flake_ref(flake: &str) -> String {
    if flake.contains(':') || flake.starts_with('/') {
        return flake.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(flake).display().to_string(),
        Err(_) => flake.to_string(),
    }
}

impl Nix {
    /// Fails with a clear message when this `nix` is older than `flake`'s
    /// nixpkgs input requires (see [`CommandError::is_nix_too_old`]); asked
    /// when an evaluation failed, to say why if this is the reason. Only the
    /// input is fetched, as its lock pins it, in pure mode: none of the
    /// flake's code runs (`getFlake` would run its `outputs`, and in impure
    /// mode they could read the operator's files).
    pub fn check_version(&self, flake: &str) -> Result<(), CommandError> {
        let flake = absolute_flake_ref(flake);
        let metadata = self.run(&["flake", "metadata", "--json", &flake])?;
        // A flake without a locked nixpkgs input asks for no version.
        let Some(locked) = locked_input(&metadata, "nixpkgs") else { return Ok(()) };
        let expr = format!(
            "let nixpkgs = (builtins.fetchTree (builtins.fromJSON {})).outPath; {NIX_VERSION_CHECK} null",
            nix_string(&locked)
        );
        self.run(&["eval", "--json", "--expr", &expr]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::locked_input;

    #[test]
    fn the_locked_input_is_read_from_the_lock_graph() {
        let metadata = r#"{"locks":{"root":"root","version":7,"nodes":{
            "root":{"inputs":{"nixpkgs":"nixpkgs_2","utils":["nixpkgs"]}},
            "nixpkgs_2":{"locked":{"type":"github","owner":"NixOS","repo":"nixpkgs","rev":"abc","narHash":"sha256-x"}}}}}"#;
        let locked: serde_json::Value =
            serde_json::from_str(&locked_input(metadata, "nixpkgs").unwrap()).unwrap();
        assert_eq!(locked["rev"], "abc");
        assert_eq!(locked_input(metadata, "utils"), None, "a `follows` is no node of its own");
        assert_eq!(locked_input(r#"{"locks":{"root":"root","nodes":{"root":{}}}}"#, "nixpkgs"), None);
    }
}
