//! The pipeline against a testbed whose init is real systemd (systemd 252 in
//! systemd-nspawn): container units written like nixpkgs' nixos-containers
//! module's from the repository's mkContainer, the host switch's unit handling
//! as switch-to-configuration-ng does it, real `systemctl` and `systemd-run`.

mod common;

use common::*;
use std::time::Duration;

use fleet_testbed::FIXTURE_HOST;

/// Item 1 of issue 21: a host switch starts `machines.target`, which wants
/// every new container's unit; the per-container profile is set only after
/// the host, so that start must be skipped (ConditionPathExists), not fail
/// and roll the host back.
#[test]
fn adding_containers_to_the_host_does_not_roll_it_back() {
    let bed = Bed::new_systemd("systemd_first_deploy");
    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"],
        "{summary:#?}"
    );
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );
    let records = bed.testbed.activations().unwrap();
    let actions: Vec<String> = records.iter().map(|r| format!("{} {}", r.node, r.action)).collect();
    assert_eq!(actions[0], format!("{FIXTURE_HOST} switch"), "{actions:?}");
    assert_eq!(
        actions.len(),
        4,
        "one switch, then each container started once, by the orchestrator: {actions:?}"
    );
    for report in &summary.nodes[1..] {
        let unit = format!("container@{}.service", report.node);
        let state = bed.testbed.in_target(&["systemctl", "is-active", &unit]).unwrap();
        assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "active", "{unit}");
    }
}

/// Item 2 of issue 21: the job's timeout kills only the `systemd-run`
/// client; the switch's unit is PID 1's and would go on beside the rollback.
/// It must be stopped, and be gone, before the rollback's switch starts.
#[test]
fn a_switch_past_its_timeout_is_stopped_before_the_rollback() {
    let mut bed = Bed::new_systemd("systemd_switch_timeout");
    bed.deploy(&[]);
    let before = bed.testbed.activations().unwrap();
    bed.fixture.set_version(FIXTURE_HOST, "2-systemd_switch_timeout").unwrap();
    bed.fixture.set_switch_seconds(FIXTURE_HOST, 120).unwrap();
    bed.switch_timeout = Some(Duration::from_secs(3));

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(outcomes(&summary)[0], "vps-arm=rolled back", "{summary:#?}");
    let units =
        bed.testbed.in_target(&["systemctl", "list-units", "--plain", "--no-legend", "fleet-*"]).unwrap();
    let units = String::from_utf8_lossy(&units.stdout).into_owned();
    let left: Vec<&str> = units.lines().filter(|l| !l.starts_with("fleet-testbed-sshd")).collect();
    assert!(left.is_empty(), "the timed-out switch's unit is gone once the job ends: {left:?}");

    let records = bed.testbed.activations().unwrap().split_off(before.len());
    let report = &summary.nodes[0];
    let switched: Vec<(&str, Option<&String>)> =
        records.iter().map(|r| (r.action.as_str(), Some(&r.path))).collect();
    assert_eq!(switched, [("switch", report.new.as_ref()), ("switch", report.old.as_ref())], "{records:?}");
    let log = std::fs::read_to_string(bed.testbed.dir().join("nix/var/fleet/jobs/vps-arm.log")).unwrap();
    let job = &log[log.rfind(" job: ").unwrap()..];
    let stopped = job.find("it was stopped").unwrap_or_else(|| panic!("the job stopped the switch: {job}"));
    let rolling_back = job.find("rolling back to").unwrap_or_else(|| panic!("the job rolled back: {job}"));
    assert!(stopped < rolling_back, "stopped before the rollback: {job}");
}
