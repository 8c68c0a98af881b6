//! The command line as a user runs it: exit codes, messages, and what reaches
//! the target, with real nix and a real sshd.

use std::process::{Command, Output};

use camino::Utf8PathBuf;
use fleet_testbed::Fixture;

use crate::common;

use common::{fleet, stderr, stdout, Bed};

fn scratch(test: &str) -> Utf8PathBuf {
    common::scratch("cli", test)
}

/// A fixture flake whose target is a port nothing listens on: enough for
/// commands that must fail before they connect.
fn fixture_with(test: &str, containers: &[(&str, &[&str])]) -> Fixture {
    Fixture::create_with(&scratch(test).join("flake"), "root@127.0.0.1:9", containers).unwrap()
}

fn check_config_error(out: &Output, expect: &str) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
    assert!(stderr(out).contains(expect), "expected `{expect}` in: {}", stderr(out));
}

#[test]
fn every_command_has_help() {
    for command in ["graph", "build", "deploy", "diff", "status", "rollback"] {
        let out = fleet(&[command, "--help"]);
        assert!(out.status.success(), "{command} --help");
        assert!(stdout(&out).contains(&format!("Usage: fleet {command}")), "{command}: {}", stdout(&out));
        assert!(!stdout(&out).contains("xtask"), "{command}: {}", stdout(&out));
    }
    let out = fleet(&["--help"]);
    assert!(out.status.success() && stdout(&out).contains("Usage: fleet <COMMAND>"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("xtask") && !stdout(&out).contains("demo"), "{}", stdout(&out));
    // The developer tasks are not in the shipped binary.
    for command in ["demo", "bench"] {
        let out = fleet(&[command]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(stderr(&out).contains(&format!("unknown command `{command}`")), "{}", stderr(&out));
        assert!(stderr(&out).contains("see `fleet help`"), "{}", stderr(&out));
    }
    let out = fleet(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown command `frobnicate`"));
    let out = fleet(&["deploy", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unexpected argument `--bogus`"));
}

#[test]
fn unknown_container_lists_the_known_ones() {
    let fixture = Fixture::create(&scratch("unknown_container").join("flake"), "root@127.0.0.1:9").unwrap();
    let flake = fixture.flake_ref();
    for command in ["build", "deploy"] {
        let out = fleet(&[command, "--flake", &flake, "--container", "nanuo-bot"]);
        check_config_error(
            &out,
            "error: `nanuo-bot` is not a container (known: bgs-backend, nannuo-bot, test-container)",
        );
    }
}

#[test]
fn dependency_cycle_is_printed() {
    let fixture = fixture_with("cycle", &[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
    let out = fleet(&["graph", "--flake", &fixture.flake_ref()]);
    check_config_error(&out, "error: the dependencies form a cycle, a -> b -> c -> a; remove one of");
    let out = fleet(&["deploy", "--flake", &fixture.flake_ref()]);
    check_config_error(&out, "error: the dependencies form a cycle, a -> b -> c -> a; remove one of");
}

#[test]
fn unknown_dependency_is_named() {
    let fixture = fixture_with("unknown_dependency", &[("a", &["ghost"])]);
    let out = fleet(&["deploy", "--flake", &fixture.flake_ref()]);
    check_config_error(
        &out,
        "error: node `a` depends on `ghost`, which is not a node (known nodes: a, vps-arm)",
    );
}

#[test]
fn invalid_container_name_is_rejected() {
    let fixture = fixture_with("invalid_name", &[("bad_name", &[])]);
    let out = fleet(&["deploy", "--flake", &fixture.flake_ref()]);
    check_config_error(
        &out,
        "error: node `bad_name` is not valid: its name (8 characters) breaks NixOS's rule: a node name is 1 to 63 \
         letters, digits and inner `-` (no `_`",
    );
}

#[test]
fn missing_graph_data_says_where_it_looked() {
    let dir = scratch("missing_graph");
    std::fs::create_dir_all(&dir).unwrap();
    let out = fleet(&["graph", "--flake", dir.as_str()]);
    check_config_error(&out, &format!("error: the graph data file {dir}/nix/fleet.nix does not exist"));
}

#[test]
fn graph_prints_activation_order_and_dot() {
    let fixture = Fixture::create(&scratch("graph").join("flake"), "root@127.0.0.1:9").unwrap();
    let out = fleet(&["graph", "--flake", &fixture.flake_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "WAVE  NODE            KIND       DEPENDS ON\n\
         0     vps-arm         host       -\n\
         1     bgs-backend     container  vps-arm\n\
         1     test-container  container  vps-arm\n\
         2     nannuo-bot      container  vps-arm, bgs-backend\n"
    );
    let out = fleet(&["graph", "--dot", "--flake", &fixture.flake_ref()]);
    assert!(stdout(&out).contains("\"bgs-backend\" -> \"nannuo-bot\";"), "{}", stdout(&out));
}

/// The store path `nix eval` says a node would build to, without building it.
#[test]
fn build_with_container_builds_only_that_node() {
    let mut fixture = Fixture::create(&scratch("build_one").join("flake"), "root@127.0.0.1:9").unwrap();
    // Versions no other test uses, so no earlier run has built these paths.
    let unique = format!("build-one-{}", std::process::id());
    for node in ["vps-arm", "bgs-backend", "nannuo-bot", "test-container"] {
        fixture.set_version(node, &unique).unwrap();
    }
    let flake = fixture.flake_ref();
    let out = fleet(&["build", "--flake", &flake, "--container", "nannuo-bot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wanted = fixture.system_path("nannuo-bot").unwrap();
    assert_eq!(stdout(&out), format!("nannuo-bot {wanted}\n"));
    assert!(std::path::Path::new(&wanted).exists());
    for other in ["vps-arm", "bgs-backend", "test-container"] {
        let path = fixture.system_path(other).unwrap();
        assert!(!std::path::Path::new(&path).exists(), "{other} was built too: {path}");
    }
}

/// A failed build fails its node, in a dry run as in a deploy: exit 1, the
/// build named as the failure (not a probe's `"new": null`), the others
/// still done.
#[test]
fn a_failed_build_exits_1_and_is_named_in_the_dry_run_and_the_summary() {
    let mut bed = Bed::new("cli", "deploy_fails");
    bed.fixture.fail_build("test-container", true).unwrap();

    let out = bed.fleet(&["deploy", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let document: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    let nodes = document["nodes"].as_array().unwrap();
    let failed = nodes.iter().find(|n| n["node"] == "test-container").unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("build test-container: "), "{error}");
    assert!(error.contains("simulated build failure of test-container"), "{error}");
    let others: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["node"] != "test-container").collect();
    assert!(others.iter().all(|n| n["status"] == "new" && n["new"].is_string()), "{others:?}");

    let out = bed.fleet(&["deploy"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("test-container  failed"), "{table}");
    assert!(table.contains("error: failed to build test-container: `"), "{table}");
    assert!(table.contains("` exited with status "), "{table}");
    assert!(table.contains("4 nodes: 3 activated, 1 failed"), "{table}");
    let activated: Vec<String> = bed.testbed.activations().unwrap().into_iter().map(|r| r.node).collect();
    assert_eq!(activated.len(), 3);
    assert!(!activated.contains(&"test-container".to_string()));
}

#[test]
fn bad_target_is_a_usage_error() {
    let fixture = Fixture::create(&scratch("bad_target").join("flake"), "root@127.0.0.1:9").unwrap();
    let out = fleet(&["deploy", "--flake", &fixture.flake_ref(), "--target", "root@host:notaport"]);
    check_config_error(&out, "target `root@host:notaport` has an invalid port `notaport`");
}

/// Pins that a deploying nix older than the flake's nixpkgs asks for is named
/// as such before nixpkgs is evaluated (nixpkgs 26.05 asks for 2.18.0).
#[test]
fn a_nix_older_than_the_flakes_nixpkgs_requires_is_named() {
    // A lock file an earlier run left would pin an older input.
    let _ = std::fs::remove_dir_all(scratch("old_nix"));
    let fixture = fixture_with("old_nix", &[("test-container", &[])]);
    let flake_nix = fixture.dir().join("flake.nix");
    let text = std::fs::read_to_string(&flake_nix).unwrap();
    // The systems go through the nixpkgs input, which fails to evaluate, as
    // nixpkgs 26.05 does deep inside on a nix older than 2.18.
    let with_input = text
        .replacen(
            "  outputs =\n    { self }:",
            &format!(
                "  inputs.nixpkgs = {{ url = \"path:{}/nixpkgs\"; flake = false; }};\n\n  outputs =\n    {{ self, nixpkgs }}:",
                fixture.dir()
            ),
            1,
        )
        .replacen("fleet = import ./nix/fleet.nix;", "fleet = import \"${nixpkgs}/deep.nix\" ./nix/fleet.nix;", 1);
    assert!(
        with_input.contains("{ self, nixpkgs }:") && with_input.contains("deep.nix"),
        "the fixture's flake.nix changed shape:\n{with_input}"
    );
    std::fs::write(&flake_nix, with_input).unwrap();
    std::fs::create_dir_all(fixture.dir().join("nixpkgs/lib")).unwrap();
    std::fs::write(fixture.dir().join("nixpkgs/lib/minver.nix"), "\"99.0\"\n").unwrap();
    std::fs::write(fixture.dir().join("nixpkgs/deep.nix"), "_: throw \"an error deep inside nixpkgs\"\n")
        .unwrap();
    // As a real flake is (flake.lock is committed): evaluation never writes one.
    let lock = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command flakes", "flake", "lock", &fixture.flake_ref()])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    assert!(lock.status.success(), "{}", stderr(&lock));
    let out = fleet(&["build", "--flake", &fixture.flake_ref()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expect = "is older than 99.0, which the flake's nixpkgs requires (its lib/minver.nix): upgrade Nix";
    assert!(stderr(&out).contains(expect), "expected `{expect}` in: {}", stderr(&out));
    assert!(!stderr(&out).contains("deep inside"), "{}", stderr(&out));
}
