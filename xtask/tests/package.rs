//! A stand-in for `nix build .#fleet`, which needs nixpkgs and so cannot run
//! here: the file set that `nix/package.nix` gives the build, copied alone to
//! a fresh folder, builds the `fleet` binary offline; that binary's
//! dependency tree holds no test, demo or benchmark code; and it names itself
//! `fleet`. Pins issue 9's failure: the package's source set lacked files a
//! crate it compiled embedded.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is one level down").to_path_buf()
}

/// The entries of `lib.fileset.unions [ ... ]` in `nix/package.nix`, relative
/// to the repository's root.
fn package_file_set() -> Vec<String> {
    let text = fs::read_to_string(repo_root().join("nix/package.nix")).expect("nix/package.nix exists");
    let list = text.split_once("lib.fileset.unions [").expect("the package's file set").1;
    let list = list.split_once(']').expect("the file set's list ends").0;
    list.split_whitespace()
        .map(|entry| {
            entry.strip_prefix("../").unwrap_or_else(|| panic!("`{entry}` is not under ../")).to_string()
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap().flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-target"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn the_package_file_set_builds_fleet_alone() {
    let root = repo_root();
    let src = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-src");
    let _ = fs::remove_dir_all(&src);
    let files = package_file_set();
    assert!(files.contains(&"Cargo.lock".to_string()), "{files:?}");
    for entry in &files {
        assert!(root.join(entry).exists(), "nix/package.nix names `{entry}`, which does not exist");
        copy_tree(&root.join(entry), &src.join(entry));
    }

    cargo(&src, &["build", "--offline", "--locked", "--quiet", "--package", "fleet-cli", "--bin", "fleet"]);

    let tree =
        cargo(&src, &["tree", "--offline", "--locked", "--package", "fleet-cli", "--edges", "normal,build"]);
    let tree = String::from_utf8_lossy(&tree.stdout);
    for dev_only in ["fleet-testbed", "xtask"] {
        assert!(!tree.contains(dev_only), "the fleet binary depends on {dev_only}:\n{tree}");
    }

    let fleet = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-target/debug/fleet");
    let help = Command::new(&fleet).arg("--help").output().expect("the packaged fleet runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: fleet <COMMAND>") && !help.contains("xtask"), "{help}");
    // The package's source has no .git: the version has no revision, and the
    // build script that looks for one does not fail without it.
    let version = Command::new(&fleet).arg("--version").output().expect("the packaged fleet runs");
    assert_eq!(String::from_utf8_lossy(&version.stdout), format!("fleet {}\n", env!("CARGO_PKG_VERSION")));
}
