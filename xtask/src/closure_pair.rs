//! Two large, realistic closures for the closure-diff benchmark (`bench
//! diff`), and the `nix store diff-closures` run that it times against ours.
//!
//! Names and versions come from fixed lists (`closure_pair/*.txt`) and a fixed
//! seed (no randomness crate, no clock), so the same path count always gives
//! the same two store paths on a given system. Every package is a
//! `builtins.derivation` with `/bin/sh` as its builder (no nixpkgs, no
//! network); packages reference a few others and a toplevel references every
//! output, so both tools walk a real closure. The new closure bumps about 10%
//! of the packages (most up, a quarter down), adds about 2% and removes about
//! 2%; every other store path is identical, because changed packages are never
//! the dependency of another package.

mod generate;

use std::fs;
use std::process::{Command, Stdio};

use camino::Utf8Path;
use fleet_cli::CliError;

use generate::{generate, Spec};

/// The smallest pair [`ClosurePair::build`] makes: enough for at least one
/// package of each kind of change.
pub(crate) const MIN_PAIR_PATHS: usize = 20;

/// The Nix side: a closure from a JSON spec (see `Spec`).
const CLOSURE_NIX: &str = include_str!("closure_pair/closure.nix");

/// Both closures, as attributes `old` and `new`, so one `nix build` makes both.
const PAIR_NIX: &str = include_str!("closure_pair/pair.nix");

/// What the new closure changes, by design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PairDesign {
    /// Store paths in each closure, the toplevel included; both have exactly this many.
    pub(crate) paths: usize,
    /// Packages (distinct names) in the old closure, the toplevel not counted.
    pub(crate) packages: usize,
    /// Packages whose version goes up.
    pub(crate) up: usize,
    /// Packages whose version goes down.
    pub(crate) down: usize,
    /// Store paths of the bumped packages (all their outputs), on each side.
    pub(crate) bumped_paths: usize,
    /// Packages only in the new closure, one output each.
    pub(crate) added: usize,
    /// Packages only in the old closure, one output each.
    pub(crate) removed: usize,
}

impl PairDesign {
    /// Packages that differ, the toplevel (whose version changes too) included.
    pub(crate) fn changed_packages(&self) -> usize {
        self.up + self.down + self.added + self.removed + 1
    }
}

/// Two built closures of the same size that differ as [`PairDesign`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosurePair {
    /// The old toplevel's store path.
    pub(crate) old: String,
    /// The new toplevel's store path.
    pub(crate) new: String,
    /// What differs between them.
    pub(crate) design: PairDesign,
}

impl ClosurePair {
    /// Writes the Nix expression and the two specs into `dir` (replacing it) and
    /// builds both closures of `paths` store paths each with the local `nix`.
    ///
    /// Building is idempotent: a second call with the same `paths` finds every
    /// path already in the store and builds nothing.
    pub(crate) fn build(dir: &Utf8Path, paths: usize) -> Result<ClosurePair, CliError> {
        if paths < MIN_PAIR_PATHS {
            return Err(CliError::Usage(format!(
                "a closure pair of {paths} paths is too small; it takes at least {MIN_PAIR_PATHS}"
            )));
        }
        let generated = generate(paths);
        if dir.exists() {
            fs::remove_dir_all(dir)
                .map_err(|e| CliError::Config(format!("{dir} could not be cleared: {e}")))?;
        }
        fs::create_dir_all(dir).map_err(|e| CliError::Config(format!("{dir} could not be created: {e}")))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| CliError::Config(format!("{path} could not be written: {e}")))
        };
        let json = |spec: &Spec| {
            serde_json::to_string(spec)
                .map_err(|e| CliError::Config(format!("a closure spec could not be written as JSON: {e}")))
        };
        write("closure.nix", CLOSURE_NIX)?;
        write("pair.nix", PAIR_NIX)?;
        write("old.json", &json(&generated.old)?)?;
        write("new.json", &json(&generated.new)?)?;

        let pair = dir.join("pair.nix");
        // The packages are tiny shell scripts: running several at once hides
        // nix's per-build overhead even on two cores. But not more than there
        // are build users (Debian's nix-bin makes 10): a build waiting for a
        // free user polls in seconds, which made 300 paths take 26 s, not 2 s.
        let stdout =
            nix(&["build", "--json", "--no-link", "--max-jobs", "8", "--file", pair.as_str(), "old", "new"])?;
        let outputs = built_outputs(&stdout).map_err(|e| {
            CliError::Config(format!("the output of nix build is not what was expected: {e}"))
        })?;
        match outputs.as_slice() {
            [old, new] => Ok(ClosurePair { old: old.clone(), new: new.clone(), design: generated.design }),
            _ => Err(CliError::Config(format!(
                "the output of nix build is not what was expected: two results, and it gave {}",
                outputs.len()
            ))),
        }
    }
}

/// Runs `nix store diff-closures OLD NEW` with the project's Nix configuration and
/// returns what it printed.
pub(crate) fn diff_closures(old: &str, new: &str) -> Result<String, CliError> {
    nix(&["store", "diff-closures", old, new])
}

/// `nix --version`, e.g. `nix (Nix) 2.8.0`.
pub(crate) fn nix_version() -> Result<String, CliError> {
    nix(&["--version"]).map(|v| v.trim().to_string())
}

fn nix(args: &[&str]) -> Result<String, CliError> {
    let step = || format!("`nix {}`", args.join(" "));
    let output = Command::new("nix")
        .args(args)
        .envs(fleet_testbed::nix_env())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CliError::Config(format!("{} could not be started: {e}", step())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(CliError::Config(format!("{} ended with {}\n{tail}", step(), output.status)));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| CliError::Config(format!("{} printed what is not UTF-8", step())))
}

/// The `out` paths from `nix build --json`, in the order of the installables.
fn built_outputs(json: &str) -> Result<Vec<String>, String> {
    let results: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    results
        .iter()
        .map(|r| {
            r["outputs"]["out"].as_str().map(str::to_string).ok_or_else(|| format!("no `out` output in {r}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_pair_has_the_requested_size_and_designed_changes() {
        fleet_testbed::ensure_programs(&[("nix", "nix-bin")], true, &mut |line| eprintln!("{line}")).unwrap();
        let paths = 60;
        let dir = camino::Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/closure-pair");
        let pair = ClosurePair::build(&dir, paths).unwrap();
        let d = &pair.design;
        assert_eq!(d.paths, paths);
        let nix = fleet_testbed::Testbed::nix();
        let closure = |path: &str| nix.closure(&fleet_nix::Target::Local, path).unwrap();
        let (old, new) = (closure(&pair.old), closure(&pair.new));
        assert_eq!((old.len(), new.len()), (paths, paths));

        let diff = fleet_deploy::closure_diff(&old, &new);
        let count = |change| diff.with_change(change).count();
        use fleet_diff::Change;
        // The toplevel's version changes too (20240601 -> 20240615).
        assert_eq!(count(Change::Up), d.up + 1, "{diff:#?}");
        assert_eq!(count(Change::Down), d.down);
        assert_eq!(count(Change::Added), d.added);
        assert_eq!(count(Change::Removed), d.removed);
        assert_eq!(count(Change::Changed) + count(Change::Rebuilt), 0);
        assert_eq!(diff.packages.len(), d.changed_packages());
        // Everything else is the very same store path.
        // The old paths the new closure lacks: bumped outputs, removed packages, the toplevel.
        assert_eq!(diff.totals.removed_paths, d.bumped_paths + d.removed + 1);
        assert_eq!(diff.totals.added_paths, d.bumped_paths + d.added + 1);

        // The tool we time against sees the same packages change.
        let theirs = diff_closures(&pair.old, &pair.new).unwrap();
        let lines = theirs.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(lines, d.changed_packages(), "{theirs}");

        // Building again is a no-op that yields the same pair.
        assert_eq!(ClosurePair::build(&dir, paths).unwrap(), pair);
    }
}
