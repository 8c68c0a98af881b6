//! The pipeline against a testbed whose init is real systemd (systemd 252 in
//! systemd-nspawn): container units written like nixpkgs' nixos-containers
//! module's from the repository's mkContainer, the host switch's unit handling
//! as switch-to-configuration-ng does it, real `systemctl` and `systemd-run`.

mod common;

use common::*;
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
