//! Checks `parse_drv_name` and `compare_versions` against the real nix on the corpus.
//!
//! The corpus lives in `tests/corpus/`: `names.txt` (one derivation name per line) and
//! `versions.txt` (two versions per line). All expected answers come from one
//! `nix eval --json` call; every pair is compared in both directions.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleet_diff::{compare_versions, parse_drv_name};
use serde_json::{json, Value};

/// The lines of a corpus file, without comments and blank lines.
fn corpus(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// `""` in the versions corpus stands for the empty string.
fn version_token(token: &str) -> String {
    if token == "\"\"" {
        String::new()
    } else {
        token.to_string()
    }
}

fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one `nix eval --json` over the whole corpus.
fn ask_nix(dir: &Path, names: &[String], pairs: &[(String, String)]) -> Value {
    let data = json!({ "names": names, "pairs": pairs });
    let data_file = dir.join("corpus.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let expr = format!(
        "let data = builtins.fromJSON (builtins.readFile {file}); \
             cmp = a: b: builtins.compareVersions a b; in {{ \
           names = map builtins.parseDrvName data.names; \
           forward = map (p: cmp (builtins.elemAt p 0) (builtins.elemAt p 1)) data.pairs; \
           backward = map (p: cmp (builtins.elemAt p 1) (builtins.elemAt p 0)) data.pairs; \
         }}",
        file = fleet_nix::nix_string(data_file.to_str().unwrap())
    );
    let output = Command::new("nix")
        .args(["eval", "--json", "--impure", "--expr", &expr])
        .envs(fleet_testbed::nix_env())
        .output()
        .expect("failed to run nix (is it on PATH?)");
    assert!(output.status.success(), "nix eval failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ordering_number(o: Ordering) -> i64 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

#[test]
fn parser_and_ordering_agree_with_nix() {
    let names = corpus("names.txt");
    let pairs: Vec<(String, String)> = corpus("versions.txt")
        .iter()
        .map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(tokens.len(), 2, "versions.txt: not a pair: {line:?}");
            (version_token(tokens[0]), version_token(tokens[1]))
        })
        .collect();
    assert!(names.len() >= 500, "only {} names", names.len());
    assert!(pairs.len() >= 500, "only {} version pairs", pairs.len());

    let nix = ask_nix(&test_dir("against_nix"), &names, &pairs);
    let mut mismatches = Vec::new();

    let nix_names = nix["names"].as_array().unwrap();
    assert_eq!(nix_names.len(), names.len());
    for (input, expected) in names.iter().zip(nix_names) {
        let ours = parse_drv_name(input);
        let (name, version) = (expected["name"].as_str(), expected["version"].as_str());
        if (Some(ours.name), Some(ours.version)) != (name, version) {
            mismatches.push(format!(
                "parseDrvName {input:?}: nix {name:?} {version:?}, ours {:?} {:?}",
                ours.name, ours.version
            ));
        }
    }

    let directions = [("forward", false), ("backward", true)];
    for (key, swap) in directions {
        let answers = nix[key].as_array().unwrap();
        assert_eq!(answers.len(), pairs.len());
        for ((a, b), expected) in pairs.iter().zip(answers) {
            let (a, b) = if swap { (b, a) } else { (a, b) };
            let ours = ordering_number(compare_versions(a, b));
            if Some(ours) != expected.as_i64() {
                mismatches.push(format!("compareVersions {a:?} {b:?}: nix {expected}, ours {ours}"));
            }
        }
    }

    println!(
        "checked {} names and {} version pairs (both directions) against nix; {} mismatches",
        names.len(),
        pairs.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{} mismatches with nix:\n{}", mismatches.len(), mismatches.join("\n"));
}
