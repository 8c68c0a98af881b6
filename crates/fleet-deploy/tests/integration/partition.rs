//! A real network partition during activation: the
//! target's sshd runs in a network namespace of its own, and the test drops
//! every packet that reaches it with iptables. The agent on the target stops
//! hearing from the deployer and releases the lock by itself; once the
//! network heals, the deployer re-attaches, and what it reports is what the
//! target did.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use camino::Utf8PathBuf;
use common::*;
use fleet_deploy::{Kinds, Mode, Outcome, Plan, STATE_DIR};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{wait_until, Fixture, Testbed, FIXTURE_CONTAINERS};

/// How long this file's waits may take.
const WAIT: Duration = Duration::from_secs(120);

#[test]
fn a_partition_during_activation_releases_the_lock_and_the_report_matches_the_target() {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy").join("partition");
    let testbed = Testbed::start_partitionable(&dir.join("target")).unwrap();
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    for node in all_nodes() {
        fixture.set_version(node, "1-partition").unwrap();
    }
    let state =
        |path: &str| testbed.dir().join(format!("nix{}/{path}", STATE_DIR.trim_start_matches("/nix")));
    let deploy = |fixture: &Fixture| {
        let json = Testbed::nix().eval_json_file(&fixture.dir().join("nix/fleet.nix")).unwrap();
        let fleet = Fleet::from_json(&json).unwrap();
        let kinds = Kinds::standard();
        let plan =
            Plan::new(&fleet, &kinds, &[], &[], &fixture.flake_ref()).unwrap().with_confirm_timeout(None);
        let targets: BTreeMap<String, Target> = plan.targets(Some(&testbed.target())).unwrap();
        plan.run(&Testbed::nix(), Mode::Deploy, &targets, &Recorder::default())
    };
    let first = deploy(&fixture);
    assert!(first.success(), "{:?}", outcomes(&first));

    for (node, _) in FIXTURE_CONTAINERS {
        fixture.set_version(node, "2-partition").unwrap();
    }
    fixture.set_switch_seconds("test-container", 2).unwrap();
    let status =
        |node: &str| std::fs::read_to_string(state(&format!("jobs/{node}.status"))).unwrap_or_default();
    let lease = state("deploy.lease");
    let summary = std::thread::scope(|scope| {
        let deployer = scope.spawn(|| deploy(&fixture));
        wait_until("test-container's activation runs", WAIT, || status("test-container").trim() == "started");
        testbed.partition(true).unwrap();
        // The deployer cannot renew the lease: the agent gives up the lock.
        wait_until("the agent releases the lock by itself", WAIT, || !lease.exists());
        wait_until("the job finishes on its own", WAIT, || status("test-container").trim() != "started");
        testbed.partition(false).unwrap();
        deployer.join().unwrap()
    });

    eprintln!("after the partition: {:?}", outcomes(&summary));
    for report in &summary.nodes {
        let on_target = testbed.profile(&if report.node == "vps-arm" {
            HOST_PROFILE.to_string()
        } else {
            container_profile(&report.node)
        });
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
    let second = deploy(&fixture);
    assert!(second.success(), "{:?}", outcomes(&second));
    for report in &second.nodes {
        assert!(report.new.as_deref().unwrap_or_default().ends_with(if report.node == "vps-arm" {
            "-1-partition"
        } else {
            "-2-partition"
        }));
        assert_eq!(
            testbed.profile(&if report.node == "vps-arm" {
                HOST_PROFILE.to_string()
            } else {
                container_profile(&report.node)
            }),
            report.new
        );
    }
}
