//! Repository-wide checks that run as tests: file headers and lengths,
//! ARCHITECTURE.md's section per crate, its dependency table and the
//! invariants it states that a search can check, shell scripts, and
//! generated files that are current. Formatting and lints are `.ci/run`'s.

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

/// The code of `file` before its test module, without comment lines.
fn code_before_tests(file: &Path) -> String {
    fs::read_to_string(file)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files of `crates/CRATE/src` (before their tests) that contain any of
/// `needles`, relative to the repository.
fn sources_containing(krate: &str, needles: &[&str]) -> Vec<String> {
    let root = repo_root();
    let mut files = Vec::new();
    files_ending(&root.join("crates").join(krate).join("src"), "rs", &mut files);
    files
        .iter()
        .filter(|f| {
            let code = code_before_tests(f);
            needles.iter().any(|n| code.contains(n))
        })
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect()
}

/// The crates under `crates/`.
fn crate_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
        .map(|krate| krate.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// ARCHITECTURE.md, "Invariants a tidy test checks": only fleet-nix starts
/// processes (the testbed too, for the tests): every command goes through
/// its typed, quoted, bounded and retried runners.
#[test]
fn only_fleet_nix_and_the_testbed_start_processes() {
    let starting: Vec<String> = crate_names()
        .iter()
        .filter(|k| *k != "fleet-nix" && *k != "fleet-testbed")
        .flat_map(|k| sources_containing(k, &["process::Command", "Command::new("]))
        .collect();
    assert!(starting.is_empty(), "start processes through fleet-nix instead: {starting:?}");
}

/// ARCHITECTURE.md, "Invariants a tidy test checks": the libraries print
/// nothing (they return values and send events to a sink), and fleet-cli
/// writes stdout only through `output::print`, which turns a closed pipe into
/// a quiet end.
#[test]
fn the_libraries_print_nothing_and_the_cli_prints_through_one_function() {
    let mut printing = Vec::new();
    for krate in ["fleet-deploy", "fleet-graph", "fleet-nix", "fleet-diff"] {
        printing.extend(sources_containing(krate, &["print!(", "println!(", "dbg!("]));
    }
    let stdout =
        sources_containing("fleet-cli", &[" print!(", " println!(", "(print!(", "(println!(", "dbg!("]);
    printing.extend(stdout);
    assert!(printing.is_empty(), "prints outside fleet-report's sinks and output::print: {printing:?}");
}

/// ARCHITECTURE.md, "Invariants a tidy test checks": the layers. fleet-diff,
/// fleet-graph and fleet-nix depend on no crate of ours, and nothing the
/// `fleet` binary is built from depends on the testbed or xtask.
#[test]
fn the_layers_hold() {
    let root = repo_root();
    let deps = |krate: &str| {
        let manifest = fs::read_to_string(root.join("crates").join(krate).join("Cargo.toml")).unwrap();
        workspace_deps(&manifest, "dependencies")
    };
    for bottom in ["fleet-diff", "fleet-graph", "fleet-nix"] {
        assert_eq!(deps(bottom), Vec::<String>::new(), "{bottom} depends on a crate of ours");
    }
    for shipped in ["fleet-cli", "fleet-deploy", "fleet-report"] {
        let deps = deps(shipped);
        assert!(
            !deps.iter().any(|d| d == "fleet-testbed" || d == "xtask"),
            "{shipped} depends on development code: {deps:?}"
        );
    }
}

/// README's Safety table names the test behind each guarantee
/// (`file.rs::test`, and bare `test` names after one that share its file):
/// each must be a test function in a file of that name, or the table
/// promises a test that no longer runs.
#[test]
fn every_test_the_safety_table_names_exists() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let table = readme.split("\n## Safety\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut files = rust_files(&root, &["src", "tests"]);
    files_ending(&root.join("xtask/tests"), "rs", &mut files);
    let defines = |file: &str, test: &str| {
        files.iter().any(|f| {
            f.file_name().is_some_and(|n| n == file)
                && fs::read_to_string(f).unwrap().contains(&format!("fn {test}()"))
        })
    };
    let mut named = 0;
    let mut missing = Vec::new();
    for row in table.lines().filter(|l| l.starts_with('|')) {
        let tested_by = row.trim_end_matches('|').rsplit('|').next().unwrap();
        let mut file = None;
        for quoted in tested_by.split('`').skip(1).step_by(2) {
            let test = match quoted.split_once("::") {
                Some((path, test)) => {
                    file = path.rsplit('/').next().map(String::from);
                    test
                }
                None if quoted.ends_with(".rs") => {
                    file = None;
                    continue;
                }
                None => quoted,
            };
            let is_name = !test.is_empty()
                && test.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if let (Some(file), true) = (&file, is_name) {
                named += 1;
                if !defines(file, test) {
                    missing.push(format!("{file}::{test}"));
                }
            }
        }
    }
    assert!(named > 20, "the Safety table names only {named} tests: is it still there?");
    assert!(missing.is_empty(), "README's Safety table names tests that do not exist: {missing:?}");
}

/// The words fleet-deploy's target scripts read and print, as they open a
/// line or make up one: a job's status words; the agent's requests and
/// reports; the kinds' verb a job passes on; the probe's fields and its
/// last line; `reboot.sh`'s verbs and keys; `exec.sh`'s first line.
#[rustfmt::skip]
const PROTOCOL_WORDS: [&str; 34] = [
    "started", "switched", "ok", "rolled back", "failed", "refused",
    "launch", "release", "watch", "renew",
    "locked", "re-took", "took-over", "expired", "launched", "gone", "log", "status", "bye",
    "restart",
    "node", "end", "pending", "full", "brief",
    "state", "start", "containers", "next", "current", "booted", "active", "inactive",
    "running",
];

/// Where one of those words is another vocabulary's: the summary's outcome
/// labels (`outcome.rs`) say `failed` and `rolled back` of a node.
const NOT_PROTOCOL: [(&str, &str); 2] = [("outcome.rs", "rolled back"), ("outcome.rs", "failed")];

/// ARCHITECTURE.md, "Invariants a tidy test checks": every word of the
/// target protocol is written in `protocol/` (and the scripts), nowhere else
/// in fleet-deploy: no string literal outside it is a protocol word, or
/// starts a line of one (`"WORD "`, `"WORD {`, `"WORD\t`, `"WORD-{`). Test
/// code is not checked (`tests.rs`, `tests/`, a file's test module).
#[test]
fn protocol_words_are_written_only_in_the_protocol_module() {
    let root = repo_root();
    let src = root.join("crates/fleet-deploy/src");
    let mut files = Vec::new();
    files_ending(&src, "rs", &mut files);
    let mut found = Vec::new();
    for file in &files {
        let path = file.strip_prefix(&src).unwrap();
        let is_test = path.file_name().is_some_and(|n| n == "tests.rs")
            || path.components().any(|c| c.as_os_str() == "tests");
        if path.starts_with("protocol") || is_test {
            continue;
        }
        let code = code_before_tests(file);
        let name = path.file_name().unwrap().to_string_lossy();
        for word in PROTOCOL_WORDS {
            if NOT_PROTOCOL.contains(&(&*name, word)) {
                continue;
            }
            let needles = ["\"", " \"", " {", "\\t", "-{"].map(|end| format!("\"{word}{end}"));
            if let Some(needle) = needles.iter().find(|n| code.contains(n.as_str())) {
                found.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(
        files.len() > 20 && found.is_empty(),
        "protocol words outside crates/fleet-deploy/src/protocol/ (encode or decode them there): {found:?}"
    );
}

/// ARCHITECTURE.md, fleet-testbed: a crate's integration tests are one
/// binary. Cargo makes every `.rs` file directly in `tests/` a binary of its
/// own, which runs after the others with threads of its own.
#[test]
fn integration_tests_are_one_binary_a_crate() {
    let root = repo_root();
    let mut crates: Vec<PathBuf> =
        fs::read_dir(root.join("crates")).unwrap().flatten().map(|krate| krate.path()).collect();
    crates.push(root.join("xtask"));
    let mut loose = Vec::new();
    for krate in crates {
        let Ok(entries) = fs::read_dir(krate.join("tests")) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                loose.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(
        loose.is_empty(),
        "move these into their crate's tests/integration/ and name them in its main.rs: {loose:?}"
    );
}
