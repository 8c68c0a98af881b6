//! Safety from the command line, on the testbed: a deployer killed mid-activation,
//! concurrent deploys, and each kind of bad input (its error,
//! and nothing changed on the target).

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use camino::Utf8Path;
use common::{text, Bed};
use fleet_deploy::AgentSession;
use fleet_testbed::wait_until;

/// How long a test waits for something on the target to happen.
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_deployer_killed_during_activation_leaves_no_node_half_switched_and_a_rerun_converges() {
    let mut bed = Bed::new("safety", "killed");
    assert!(bed.fleet(&["deploy"]).status.success());
    bed.fixture.set_version("test-container", "2-killed").unwrap();
    bed.fixture.set_switch_seconds("test-container", 2).unwrap();

    let mut deployer = bed.command(&["deploy"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid_file = bed.state("jobs/test-container.pid");
    let status_file = bed.state("jobs/test-container.status");
    let status = || std::fs::read_to_string(&status_file).unwrap_or_default().trim().to_string();
    wait_until("test-container's activation job runs", WAIT, || pid_file.exists() && status() == "started");
    deployer.kill().unwrap();
    deployer.wait().unwrap();

    // The job ends without the deployer on one generation or the other: it
    // finishes if it switched before the lock went with its deployer,
    // and changes nothing if it had not (fenced).
    wait_until("the orphaned job finishes", WAIT, || status() != "started");
    let activated = std::fs::read_to_string(bed.state("activated/test-container")).unwrap();
    let finished = status() == "ok";
    assert!(finished || status().starts_with("refused: "), "{}", status());
    assert_eq!(
        Some(activated.trim().to_string()),
        bed.profile_of("test-container"),
        "profile and running system agree"
    );
    assert!(!bed.state("pending/test-container").exists());

    wait_until("the killed deployer's lock is released", WAIT, || !bed.state("deploy.lease").exists());
    let out = bed.fleet(&["deploy"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let expect = if finished { "4 nodes: 4 unchanged" } else { "4 nodes: 1 activated, 3 unchanged" };
    assert!(text(&out.stdout).contains(expect), "{}", text(&out.stdout));
    assert!(bed.profile_of("test-container").unwrap().ends_with("-nixos-system-test-container-2-killed"));
    assert!(!bed.state("pending/test-container").exists());
}

#[test]
fn a_deploy_while_another_holds_the_lock_is_not_started_and_changes_nothing() {
    let bed = Bed::new("safety", "locked");
    let before = bed.snapshot();
    let lock = AgentSession::acquire(&bed.testbed.target()).unwrap();
    let out = bed.fleet(&["deploy"]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(75), "its own exit code: {shown}");
    let holder = format!("(pid {}) since 20", std::process::id());
    let line =
        shown.lines().find(|l| l.starts_with("not started: vps-arm is locked by ")).unwrap_or_default();
    assert!(line.contains(&holder) && line.contains(&format!("(run {})", lock.run())), "{shown}");
    assert!(!shown.contains("error:") && !shown.contains("failed"), "no node is marked failed: {shown}");
    assert!(shown.contains("4 nodes: 4 not started"), "{shown}");
    let json = bed.fleet(&["deploy", "--json"]);
    assert_eq!(json.status.code(), Some(75));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for node in document["nodes"].as_array().unwrap() {
        assert_eq!(node["outcome"], "not started", "{node}");
        assert!(node["error"]["reason"].as_str().unwrap().contains(&holder), "{node}");
    }
    assert_eq!(bed.snapshot(), before);
    drop(lock);
    assert!(bed.fleet(&["deploy"]).status.success(), "released, the lock is free again");
}

#[test]
fn concurrent_deploys_from_two_processes_never_both_activate() {
    let bed = Bed::new("safety", "concurrent");
    let a = bed.command(&["deploy"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let b = bed.command(&["deploy"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() || b.status.success(), "{}\n{}", text(&a.stdout), text(&b.stdout));
    for out in [&a, &b] {
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(75), "{}", text(&out.stdout));
            assert!(text(&out.stdout).contains("not started: vps-arm is locked by"), "{}", text(&out.stdout));
        }
    }
    let mut activated: Vec<String> = bed.testbed.activations().unwrap().into_iter().map(|r| r.node).collect();
    activated.sort();
    assert_eq!(
        activated,
        ["bgs-backend", "nannuo-bot", "test-container", "vps-arm"],
        "each node activated once"
    );
}

/// Runs a deploy that must fail with `expect` (exit `code`) and change nothing.
fn check_refused(bed: &Bed, args: &[&str], code: i32, expect: &str) {
    let before = bed.snapshot();
    let out = bed.fleet(args);
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{shown}");
    assert!(shown.contains(expect), "expected `{expect}` in:\n{shown}");
    assert_eq!(bed.snapshot().0, before.0, "no profile changed");
    assert_eq!(bed.snapshot().1, before.1, "nothing was activated");
}

#[test]
fn a_store_path_that_is_not_a_system_is_refused() {
    let mut bed = Bed::new("safety", "not_a_system");
    assert!(bed.fleet(&["deploy"]).status.success());
    bed.fixture.set_version("test-container", "2-not_a_system").unwrap();
    bed.fixture.make_not_a_system("test-container").unwrap();
    check_refused(
        &bed,
        &["deploy", "--container", "test-container"],
        1,
        "is not a NixOS system (it lacks nixos-version",
    );
}

#[test]
fn malformed_graph_data_is_refused() {
    let mut bed = Bed::new("safety", "malformed");
    bed.fixture.set_node_attrs("test-container", "checks = 5;").unwrap();
    check_refused(
        &bed,
        &["deploy"],
        2,
        "error: node `test-container` is not valid: `checks` must be a list of checks",
    );
    bed.fixture.set_node_attrs("test-container", "checks = [ { tcp = 70000; } ];").unwrap();
    check_refused(&bed, &["deploy"], 2, "`checks` item 1: the port must be a number from 1 to 65535");
}

#[test]
fn a_missing_nix_is_named_on_either_side() {
    let bed = Bed::new("safety", "missing_nix");
    let out = bed.command(&["deploy"]).env("PATH", "/nonexistent").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`nix` is not installed; install Nix"), "{}", text(&out.stderr));

    // Built here, but the target has no nix: the probe says so; nothing changes.
    bed.testbed.hide_nix(true).unwrap();
    check_refused(&bed, &["deploy"], 1, "nix is not installed on the target (no nix-env on PATH)");
    assert!(bed.testbed.store_paths().is_empty());
}

#[test]
fn wrong_ssh_credentials_fail_without_retrying() {
    let bed = Bed::new("safety", "wrong_key");
    let key = bed.testbed.dir().join("stranger");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.as_str()])
        .status()
        .unwrap();
    assert!(status.success());
    let options =
        format!("-i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["deploy", "--flake", &bed.fixture.flake_ref(), "--ssh-option", &options])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("Permission denied"), "{shown}");
    assert!(!shown.contains("gave up after"), "an authentication failure is not retried: {shown}");
    assert!(bed.testbed.store_paths().is_empty());
    assert!(bed.testbed.activations().unwrap().is_empty());
}

#[test]
fn an_unwritable_profile_fails_its_node_and_changes_nothing() {
    let bed = Bed::new("safety", "unwritable");
    // A file where the container's profile folder must go.
    let blocker: &Utf8Path = &bed.testbed.dir().join("nix/var/nix/profiles/per-container/test-container");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(blocker, "not a folder").unwrap();
    let out = bed.fleet(&["deploy"]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("test-container  failed"), "{shown}");
    assert!(
        shown.contains("could not set profile /nix/var/nix/profiles/per-container/test-container/system"),
        "{shown}"
    );
    assert_eq!(std::fs::read_to_string(blocker).unwrap(), "not a folder");
    assert!(bed.testbed.activations().unwrap().iter().all(|r| r.node != "test-container"));
    assert!(!bed.state("pending/test-container").exists());
}
