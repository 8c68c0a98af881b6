//! Reboots after a deploy (`--reboot`), on the testbed: its
//! `systemctl reboot` stand-in takes the target's sshd away and brings it
//! back booted into the profile's system; and `--node`, one node by name.

use crate::common;

use common::{stderr, stdout, Bed};
use fleet_testbed::Fixture;

/// What `fleet exec --node NODE -- readlink -e LINK` prints on the target.
fn link_on_target(bed: &Bed, link: &str) -> String {
    let out =
        bed.command(&["exec", "--node", "vps-arm"]).args(["--", "readlink", "-e", link]).output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn a_host_reboots_only_when_needed_and_comes_back_on_its_new_system() {
    let mut bed = Bed::new("reboot", "when_needed");
    bed.fixture.set_kernel("vps-arm", "6.6").unwrap();
    // The testbed starts with no /run/booted-system: a reboot cannot be
    // ruled out, so the first one happens.
    let out = bed.testbed.serving_reboots(|| bed.fleet(&["deploy", "--reboot"])).unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(bed.testbed.reboots(), 1);
    assert!(stderr(&out).contains("rebooting: no /run/booted-system to compare with"), "{}", stderr(&out));
    assert!(stdout(&out).contains("rebooted"), "{}", stdout(&out));
    let profile = bed.profile_of("vps-arm").unwrap();
    assert!(link_on_target(&bed, "/run/booted-system").contains(&profile));

    // A new package, the same kernel: a switch is enough.
    bed.fixture.add_package("vps-arm", "hello-2.12").unwrap();
    let out = bed.testbed.serving_reboots(|| bed.fleet(&["deploy", "--reboot"])).unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(bed.testbed.reboots(), 1, "no reboot: {}", stderr(&out));
    assert!(stderr(&out).contains("needs no reboot"), "{}", stderr(&out));

    // A new kernel set for boot: status says a reboot is needed, and why.
    bed.fixture.set_kernel("vps-arm", "6.7").unwrap();
    let out = bed.fleet(&["deploy", "--goal", "boot", "--node", "vps-arm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = bed.fleet(&["status", "--node", "vps-arm"]);
    assert!(
        stderr(&status).contains("reboot needed: its profile's system is not running yet, kernel changed"),
        "{}",
        stderr(&status)
    );
    let out = bed.testbed.serving_reboots(|| bed.fleet(&["deploy", "--goal", "boot", "--reboot"])).unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(bed.testbed.reboots(), 2);
    let profile = bed.profile_of("vps-arm").unwrap();
    assert!(link_on_target(&bed, "/run/current-system").contains(&profile));
    let status = bed.fleet(&["status", "--node", "vps-arm"]);
    assert!(!stderr(&status).contains("reboot needed"), "{}", stderr(&status));
}

#[test]
fn a_host_that_never_comes_back_fails_the_deploy_at_its_deadline() {
    let bed = Bed::new("reboot", "never_back");
    bed.testbed.set_fault("reboot", true).unwrap();
    let out = bed
        .testbed
        .serving_reboots(|| bed.fleet(&["deploy", "--reboot-always", "--reboot-timeout", "3"]))
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(bed.testbed.reboots(), 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("failed to reboot vps-arm"), "{all}");
    assert!(all.contains("did not come back within 3 s (--reboot-timeout)"), "{all}");
    assert!(!all.contains("# shellcheck"), "no internal script is shown: {all}");
}

#[test]
fn a_container_that_does_not_start_after_the_reboot_fails_its_host() {
    let bed = Bed::new("reboot", "container_down");
    let out = bed.fleet(&["deploy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Nothing changes, so nothing activates: only the boot starts the unit.
    bed.testbed.set_fault("container@nannuo-bot", true).unwrap();
    let out = bed.testbed.serving_reboots(|| bed.fleet(&["deploy", "--reboot-always"])).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(bed.testbed.reboots(), 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("failed to reboot vps-arm"), "{all}");
    assert!(all.contains("not running: nannuo-bot"), "{all}");
}

#[test]
fn reboot_options_that_cannot_work_are_refused_with_a_hint() {
    let fixture =
        Fixture::create(&common::scratch("reboot", "refused").join("flake"), "root@127.0.0.1:9").unwrap();
    let flake = fixture.flake_ref();
    let refused = |args: &[&str], expect: &str| {
        let mut all = vec!["deploy", "--flake", &flake];
        all.extend(args);
        let out = common::fleet(&all);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{}", stderr(&out));
    };
    refused(&["--goal", "reboot"], "to reboot after the deploy, add --reboot");
    refused(&["--goal", "test", "--reboot"], "--reboot follows --goal switch or boot");
    refused(&["--reboot", "--reboot-always"], "give one of them");
    refused(&["--reboot-timeout", "5"], "--reboot-timeout goes with --reboot");
    refused(&["--reboot", "--target", "local"], "would reboot this machine");
    refused(&["--node", "vps-*"], "--node `vps-*` is not a node name (known: bgs-backend, ");
    refused(&["--node", "vps-arm", "--container", "nannuo-bot"], "--node selects exactly one node");
}

#[test]
fn node_selects_one_host_alone_or_one_container() {
    let fixture =
        Fixture::create(&common::scratch("reboot", "node").join("flake"), "root@127.0.0.1:9").unwrap();
    let flake = fixture.flake_ref();
    let would_run = |node: &str| {
        let out = common::fleet(&["exec", "--flake", &flake, "--node", node, "--dry-run", "--", "true"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(would_run("vps-arm"), "would run `true` on 1 nodes: vps-arm\n");
    assert_eq!(would_run("nannuo-bot"), "would run `true` on 1 nodes: nannuo-bot\n");
}
