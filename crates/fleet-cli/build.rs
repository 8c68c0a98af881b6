//! Build script: records the git revision the binary is built from, for
//! `fleet --version`, when it is built from a git checkout of this
//! repository with `git` on PATH. Without either (the Nix package's source has
//! no `.git`), or inside some other repository, it records nothing and the
//! version line has no revision. Only std.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // This crate is crates/fleet-cli of the repository; a checkout's top is two up.
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let repository = manifest.parent().and_then(Path::parent).and_then(|p| p.canonicalize().ok());
    let top = git(&["rev-parse", "--show-toplevel"]).and_then(|t| Path::new(&t).canonicalize().ok());
    if top.is_none() || top != repository {
        return;
    }
    let Some(revision) = git(&["rev-parse", "--short=12", "HEAD"]) else { return };
    // HEAD moves with every commit and checkout; its log records both.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/logs/HEAD");
    }
    println!("cargo:rustc-env=FLEET_GIT_REVISION={revision}");
}
