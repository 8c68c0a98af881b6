//! A real network partition during activation: the
//! target's sshd runs in a network namespace of its own, and the test drops
//! every packet that reaches it with iptables. The agent on the target stops
//! hearing from the deployer and releases the lock by itself; once the
//! network heals, the deployer re-attaches, and what it reports is what the
//! target did.

use crate::common;

use std::time::Duration;

use common::*;
use fleet_deploy::{Mode, Outcome};
use fleet_testbed::{wait_until, FIXTURE_CONTAINERS};

/// How long this file's waits may take.
const WAIT: Duration = Duration::from_secs(120);

#[test]
fn a_partition_during_activation_releases_the_lock_and_the_report_matches_the_target() {
    let mut bed = Bed::partitionable("partition");
    let deploy = |bed: &Bed| bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &Recorder::default());
    let first = deploy(&bed);
    assert!(first.success(), "{:?}", outcomes(&first));

    for (node, _) in FIXTURE_CONTAINERS {
        bed.fixture.set_version(node, "2-partition").unwrap();
    }
    bed.fixture.set_switch_seconds("test-container", 2).unwrap();
    let status = |node: &str| {
        std::fs::read_to_string(state(&bed.testbed, &format!("jobs/{node}.status"))).unwrap_or_default()
    };
    let lease = state(&bed.testbed, "deploy.lease");
    let summary = std::thread::scope(|scope| {
        let deployer = scope.spawn(|| deploy(&bed));
        wait_until("test-container's activation runs", WAIT, || status("test-container").trim() == "started");
        bed.testbed.partition(true).unwrap();
        // The deployer cannot renew the lease: the agent gives up the lock.
        wait_until("the agent releases the lock by itself", WAIT, || !lease.exists());
        wait_until("the job finishes on its own", WAIT, || status("test-container").trim() != "started");
        bed.testbed.partition(false).unwrap();
        deployer.join().unwrap()
    });

    eprintln!("after the partition: {:?}", outcomes(&summary));
    for report in &summary.nodes {
        let on_target = bed.profile_of(&report.node);
        match &report.outcome {
            Outcome::Activated | Outcome::Unchanged => {
                assert_eq!(on_target, report.new, "{} is on the system reported", report.node)
            }
            Outcome::RolledBack(_) => assert_eq!(on_target, report.old, "{} rolled back", report.node),
            Outcome::Failed(error) => {
                let message = error.to_string();
                assert!(!message.contains("rolled back"), "a failure that is not a rollback: {message}");
            }
            Outcome::Skipped(_) => assert_eq!(on_target, report.old, "{} was not touched", report.node),
            other => panic!("{}: {other:?}", report.node),
        }
    }
    // The network healed and nothing was killed by hand: the target is not
    // locked, and a new deploy brings every node to its new system.
    let second = deploy(&bed);
    assert!(second.success(), "{:?}", outcomes(&second));
    for report in &second.nodes {
        assert!(report.new.as_deref().unwrap_or_default().ends_with(if report.node == "vps-arm" {
            "-1-partition"
        } else {
            "-2-partition"
        }));
        assert_eq!(bed.profile_of(&report.node), report.new);
    }
}
