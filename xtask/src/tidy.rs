//! Repository-wide checks that run as tests: file headers, formatting, and an
//! ARCHITECTURE.md section for every crate, and generated files that are current.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is one level down").to_path_buf()
}

/// Every file under `dir` whose name ends with `.EXTENSION`, recursively
/// (build output excluded).
fn files_ending(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("source folders are readable").flatten() {
        let path = entry.path();
        if path.is_dir() && entry.file_name() != "target" {
            files_ending(&path, extension, found);
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

/// Every Rust file of xtask's sources and of each crate's `folders`.
fn rust_files(root: &Path, folders: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_ending(&root.join("xtask/src"), "rs", &mut files);
    for krate in fs::read_dir(root.join("crates")).unwrap().flatten() {
        for sub in folders {
            if krate.path().join(sub).is_dir() {
                files_ending(&krate.path().join(sub), "rs", &mut files);
            }
        }
    }
    files
}

#[test]
fn every_rust_file_starts_with_a_doc_line() {
    let root = repo_root();
    let files = rust_files(&root, &["src", "tests", "benches"]);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a leading `//!` line: {missing:?}");
}

/// A source file is read more than written: past this many lines before its
/// test module, split it by what its parts do (data goes in data files).
const MOST_LINES_BEFORE_TESTS: usize = 400;

#[test]
fn no_source_file_is_over_400_lines_before_its_tests() {
    let root = repo_root();
    let long: Vec<String> = rust_files(&root, &["src"])
        .iter()
        .filter_map(|f| {
            let text = fs::read_to_string(f).unwrap();
            let lines = text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).count();
            (lines > MOST_LINES_BEFORE_TESTS)
                .then(|| format!("{} ({lines})", f.strip_prefix(&root).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MOST_LINES_BEFORE_TESTS} lines before the tests: {long:?}");
}

#[test]
fn architecture_md_has_a_section_per_crate() {
    let root = repo_root();
    let architecture = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    let mut crates: Vec<String> = vec!["xtask".into()];
    for krate in fs::read_dir(root.join("crates")).unwrap().flatten() {
        crates.push(krate.file_name().to_string_lossy().into_owned());
    }
    for name in crates {
        if !architecture.lines().any(|l| l.starts_with("### ") && l.contains(&format!("`{name}`"))) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md lacks a `### ` section naming: {missing:?}");
}

#[test]
fn code_is_formatted() {
    let out = Command::new(env!("CARGO"))
        .args(["fmt", "--all", "--check"])
        .current_dir(repo_root())
        .output()
        .expect("cargo fmt runs");
    assert!(out.status.success(), "cargo fmt --check:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn clippy_is_clean() {
    let out = Command::new(env!("CARGO"))
        .args(["clippy", "--quiet", "--workspace", "--all-targets", "--", "-D", "warnings"])
        .current_dir(repo_root())
        .output()
        .expect("cargo clippy runs");
    assert!(out.status.success(), "cargo clippy:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The workspace crates a manifest section names (`fleet-*` and `xtask`), sorted.
fn workspace_deps(manifest: &str, section: &str) -> Vec<String> {
    let header = format!("[{section}]");
    let mut deps: Vec<String> = manifest
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split(['=', '.']).next().map(str::trim))
        .filter(|name| name.starts_with("fleet-") || *name == "xtask")
        .map(String::from)
        .collect();
    deps.sort();
    deps
}

/// ARCHITECTURE.md's dependency table: crate -> (depends on, dev-depends on).
fn architecture_dependency_table(
    text: &str,
) -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
    let list = |cell: &str| -> Vec<String> {
        let mut names: Vec<String> =
            cell.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "-").map(String::from).collect();
        names.sort();
        names
    };
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().strip_prefix('|')?.strip_suffix('|')?.split('|').collect();
            let [name, deps, dev] = cells.as_slice() else { return None };
            let name = name.trim().strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), (list(deps), list(dev))))
        })
        .collect()
}

#[test]
fn architecture_md_dependency_table_matches_every_manifest() {
    let root = repo_root();
    let table = architecture_dependency_table(&fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap());
    let mut manifests = vec![("xtask".to_string(), root.join("xtask/Cargo.toml"))];
    for krate in fs::read_dir(root.join("crates")).unwrap().flatten() {
        manifests.push((krate.file_name().to_string_lossy().into_owned(), krate.path().join("Cargo.toml")));
    }
    let mut wrong = Vec::new();
    for (name, path) in &manifests {
        let manifest = fs::read_to_string(path).unwrap();
        let actual =
            (workspace_deps(&manifest, "dependencies"), workspace_deps(&manifest, "dev-dependencies"));
        match table.get(name) {
            Some(row) if *row == actual => {}
            row => wrong.push(format!("{name}: Cargo.toml has {actual:?}, ARCHITECTURE.md has {row:?}")),
        }
    }
    for name in table.keys() {
        if !manifests.iter().any(|(n, _)| n == name) {
            wrong.push(format!("{name}: in ARCHITECTURE.md's table but not a workspace crate"));
        }
    }
    assert!(wrong.is_empty(), "update ARCHITECTURE.md's dependency table:\n{}", wrong.join("\n"));
}

/// Shell is code too: every script in `crates/` and `scripts/` (what runs on a
/// target, the testbed's stand-ins, the checks and benchmarks) passes
/// ShellCheck. Scripts without a shebang say their shell in a
/// `# shellcheck shell=` line.
#[test]
fn every_shell_script_passes_shellcheck() {
    let root = repo_root();
    let mut files = Vec::new();
    files_ending(&root.join("crates"), "sh", &mut files);
    files_ending(&root.join("scripts"), "sh", &mut files);
    assert!(files.len() > 5, "found the scripts: {files:?}");
    // .shellcheckrc at the root lets it follow `source "$(dirname "$0")/lib.sh"`,
    // for this test and for shellcheck run by hand alike.
    let out = Command::new("shellcheck")
        .args(&files)
        .current_dir(&root)
        .output()
        .expect("shellcheck runs (apt-get install shellcheck)");
    assert!(out.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_manual_page_is_current() {
    let path = repo_root().join(crate::man::MAN_PAGE);
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == fleet_cli::man_page(),
        "{} is not what the command table makes; run `cargo xtask man`",
        path.display()
    );
}

/// Every file that ARCHITECTURE.md names in backquotes (`a/b.rs`, or a bare
/// `b.rs`, or a path from inside a crate such as `pipeline/build.rs`) exists
/// in the tree. Absolute paths are the target's, and a few name files of other
/// projects.
#[test]
fn architecture_md_names_only_files_that_exist() {
    /// nixpkgs' file that the nix version check reads.
    const ELSEWHERE: &[&str] = &["lib/minver.nix"];
    let root = repo_root();
    let text = fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let extensions = [".rs", ".nix", ".sh", ".md", ".toml", ".txt", ".yml", ".conf"];
    let missing: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| !quoted.contains([' ', '*', '{', '<', '$']) && !quoted.starts_with('/'))
        .filter(|quoted| extensions.iter().any(|e| quoted.ends_with(e)) && !ELSEWHERE.contains(quoted))
        .filter(|path| !root.join(path).exists() && !ends_some_path(&root, path))
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names files that do not exist: {missing:?}");
}

/// Whether some file in the tree (outside `target` and `.git`) ends with
/// `/path`.
fn ends_some_path(dir: &Path, path: &str) -> bool {
    fs::read_dir(dir).into_iter().flatten().flatten().any(|entry| {
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            return false;
        }
        let p = entry.path();
        p.to_string_lossy().ends_with(&format!("/{path}")) || (p.is_dir() && ends_some_path(&p, path))
    })
}
