//! Closure diffs from the command line: `deploy --dry-run` against a testbed, and
//! `diff OLD NEW` against `nix store diff-closures`.

use std::collections::BTreeSet;
use std::process::Command;

use camino::Utf8PathBuf;
use fleet_testbed::{Fixture, Testbed};
use serde_json::Value;

use crate::common;

use common::{fleet, text};

fn scratch(test: &str) -> Utf8PathBuf {
    common::scratch("diff", test)
}

/// Every file under the target's /nix/var/nix/profiles, with link targets.
fn profiles_snapshot(testbed: &Testbed) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match std::fs::read_link(&path) {
                Ok(link) => out.push(format!("{} -> {}", path.display(), link.display())),
                Err(_) if path.is_dir() => walk(&path, out),
                Err(_) => out.push(path.display().to_string()),
            }
        }
    }
    let mut out = Vec::new();
    walk(testbed.dir().join("nix/var/nix/profiles").as_std_path(), &mut out);
    out.sort();
    out
}

#[test]
fn dry_run_names_exactly_the_changes_and_changes_nothing() {
    let dir = scratch("dry_run");
    let testbed = Testbed::start(&dir.join("target")).unwrap();
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    for node in ["vps-arm", "bgs-backend", "nannuo-bot", "test-container"] {
        fixture.set_version(node, "1.0").unwrap();
    }
    fixture.add_package("bgs-backend", "meilisearch-1.8.0").unwrap();
    let flake = fixture.flake_ref();
    let ssh = testbed.ssh_options().join(" ");
    let out = fleet(&["deploy", "--flake", &flake, "--ssh-option", &ssh]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // One version bump (and the system around it), one added package.
    fixture.set_version("bgs-backend", "1.1").unwrap();
    fixture.add_package("nannuo-bot", "libopus-1.5.2").unwrap();
    let store = testbed.store_paths();
    let profiles = profiles_snapshot(&testbed);
    let log = testbed.activations().unwrap();

    let out = fleet(&["deploy", "--dry-run", "--flake", &flake, "--ssh-option", &ssh]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("vps-arm: unchanged ("), "{shown}");
    assert!(shown.contains("test-container: unchanged ("), "{shown}");
    let bgs =
        shown.split("bgs-backend (").nth(1).expect("bgs-backend has a diff").split("\n\n").next().unwrap();
    assert!(bgs.contains("Version changes\n    nixos-system-bgs-backend  1.0 -> 1.1  up"), "{bgs}");
    assert!(!bgs.contains("Added") && !bgs.contains("Removed"), "{bgs}");
    let bot =
        shown.split("nannuo-bot (").nth(1).expect("nannuo-bot has a diff").split("\n\n").next().unwrap();
    assert!(bot.contains("Added\n    libopus"), "{bot}");
    assert!(bot.contains("1.5.2"), "{bot}");
    assert!(!bot.contains("Version changes"), "the system's version did not change: {bot}");
    assert!(shown.contains("4 nodes: 2 would activate, 2 unchanged"), "{shown}");

    let out = fleet(&["diff", "--json", "--flake", &flake, "--ssh-option", &ssh]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document: Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    assert_eq!(document["version"], 1);
    let nodes = document["nodes"].as_array().unwrap();
    let status: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n["node"].as_str().unwrap().into(), n["status"].as_str().unwrap().into()))
        .collect();
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    assert_eq!(
        status,
        pairs(&[
            ("vps-arm", "unchanged"),
            ("bgs-backend", "changed"),
            ("test-container", "unchanged"),
            ("nannuo-bot", "changed")
        ])
    );
    let changes = |node: usize| -> Vec<(String, String)> {
        nodes[node]["diff"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["change"] != "rebuilt")
            .map(|p| (p["name"].as_str().unwrap().into(), p["change"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(changes(1), pairs(&[("nixos-system-bgs-backend", "up")]));
    assert_eq!(changes(3), pairs(&[("libopus", "added")]));
    assert_eq!(nodes[3]["diff"]["totals"]["added_paths"], 2, "libopus and the new system");

    assert_eq!(testbed.store_paths(), store, "a dry run copies nothing");
    assert_eq!(profiles_snapshot(&testbed), profiles, "a dry run sets no profile");
    assert_eq!(testbed.activations().unwrap(), log, "a dry run activates nothing");
}

/// `nix store diff-closures` lines as (package, old versions, new versions).
fn nix_diff_closures(old: &str, new: &str) -> BTreeSet<(String, String, String)> {
    let out = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command flakes", "store", "diff-closures", old, new])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plain: String = {
        let raw = text(&out.stdout);
        let mut plain = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().take_while(|c| *c != 'm').for_each(drop);
            } else {
                plain.push(c);
            }
        }
        plain
    };
    plain
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(": ")?;
            let (old, new) = rest.split_once(" → ")?;
            let new = new.split(", ").next().unwrap_or(new);
            let absent = |v: &str| {
                if v == "∅" {
                    String::new()
                } else {
                    v.to_string()
                }
            };
            Some((name.to_string(), absent(old), absent(new)))
        })
        .filter(|(_, old, new)| old != new)
        .collect()
}

#[test]
fn diff_of_two_local_closures_agrees_with_nix_store_diff_closures() {
    let dir = scratch("local_diff");
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_version("test-container", "3.1").unwrap();
    fixture.add_package("test-container", "ripgrep-14.0.3").unwrap();
    fixture.add_package("test-container", "jq-1.7").unwrap();
    let build = |fixture: &Fixture| {
        let out = fleet(&["build", "--flake", &fixture.flake_ref(), "--container", "test-container"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).split_whitespace().nth(1).unwrap().to_string()
    };
    let old = build(&fixture);
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_version("test-container", "3.2").unwrap();
    fixture.add_package("test-container", "ripgrep-14.1.0").unwrap();
    fixture.add_package("test-container", "fd-9.0.0").unwrap();
    let new = build(&fixture);

    let out = fleet(&["diff", &old, &new, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: BTreeSet<(String, String, String)> = document["diff"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["change"] != "rebuilt")
        .map(|p| {
            let versions = |key: &str| {
                p[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(", ")
            };
            (p["name"].as_str().unwrap().to_string(), versions("old_versions"), versions("new_versions"))
        })
        .collect();
    let theirs = nix_diff_closures(&old, &new);
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 4, "system up, ripgrep up, jq removed, fd added: {ours:?}");

    let out = fleet(&["diff", &old, &new]);
    let shown = text(&out.stdout);
    assert!(shown.contains("ripgrep") && shown.contains("14.0.3 -> 14.1.0"), "{shown}");
}
