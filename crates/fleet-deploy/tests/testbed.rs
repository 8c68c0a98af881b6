//! The pipeline against a simulated VPS: real nix, real sshd, real profiles;
//! every assertion reads the target's activation log, profiles or store.

mod common;

use common::*;
use fleet_deploy::{Outcome, Stage};
use fleet_nix::Target;
use fleet_testbed::{FIXTURE_CONTAINERS, FIXTURE_HOST};

#[test]
fn first_deploy_activates_host_first_and_containers_after_their_dependencies() {
    let bed = Bed::new("first_deploy");
    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );

    let order = bed.activation_order();
    assert_eq!(order.len(), 4, "one activation per node: {order:?}");
    assert_eq!(order[0], FIXTURE_HOST, "the host activates before any container: {order:?}");
    let position = |node: &str| order.iter().position(|n| n == node).unwrap();
    for (container, deps) in FIXTURE_CONTAINERS {
        for dep in *deps {
            assert!(position(dep) < position(container), "{dep} activates before {container}: {order:?}");
        }
    }

    for report in &summary.nodes {
        let profile = if report.node == FIXTURE_HOST {
            HOST_PROFILE.to_string()
        } else {
            container_profile(&report.node)
        };
        assert_eq!(bed.testbed.profile(&profile), report.new, "{profile} points at the new system");
        assert_eq!(bed.testbed.generations(&profile), 1);
    }
    let records = bed.testbed.activations().unwrap();
    assert_eq!(records[0].action, "switch");
    assert!(records[1..].iter().all(|r| r.action == "start"), "containers were not running, so they start");
}

#[test]
fn second_deploy_pushes_nothing_and_activates_nothing() {
    let bed = Bed::new("second_deploy");
    bed.deploy(&[]);
    let store = bed.testbed.store_paths();
    let log = bed.activation_order();

    let (summary, events) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=unchanged", "bgs-backend=unchanged", "test-container=unchanged", "nannuo-bot=unchanged"]
    );
    assert!(stages(&events, Stage::Push).is_empty(), "{events:?}");
    assert!(stages(&events, Stage::Activate).is_empty(), "{events:?}");
    assert_eq!(bed.testbed.store_paths(), store, "the target's store is unchanged");
    assert_eq!(bed.activation_order(), log, "nothing was activated");
    assert_eq!(bed.testbed.generations(HOST_PROFILE), 1, "no new generation");
}

#[test]
fn changing_one_container_pushes_and_activates_only_that_container() {
    let mut bed = Bed::new("one_changed");
    bed.deploy(&[]);
    let store = bed.testbed.store_paths();
    let log_length = bed.activation_order().len();
    let profiles_before: Vec<Option<String>> = ["bgs-backend", "test-container"]
        .iter()
        .map(|c| bed.testbed.profile(&container_profile(c)))
        .collect();

    bed.fixture.set_version("nannuo-bot", "2-one_changed").unwrap();
    let (summary, events) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=unchanged", "bgs-backend=unchanged", "test-container=unchanged", "nannuo-bot=activated"]
    );
    assert_eq!(stages(&events, Stage::Push), names(&["nannuo-bot"]));
    assert_eq!(stages(&events, Stage::Activate), names(&["nannuo-bot"]));

    let added: Vec<String> = bed.testbed.store_paths().difference(&store).cloned().collect();
    assert_eq!(added.len(), 1, "only the new container system was copied: {added:?}");
    assert!(added[0].ends_with("-nixos-system-nannuo-bot-2-one_changed"), "{added:?}");

    let new_records: Vec<_> = bed.testbed.activations().unwrap().split_off(log_length);
    assert_eq!(new_records.len(), 1, "{new_records:?}");
    assert_eq!((new_records[0].node.as_str(), new_records[0].action.as_str()), ("nannuo-bot", "test"));
    assert_eq!(Some(&new_records[0].path), summary.nodes[3].new.as_ref());
    assert_eq!(bed.testbed.profile(&container_profile("nannuo-bot")), summary.nodes[3].new);
    assert_eq!(bed.testbed.generations(&container_profile("nannuo-bot")), 2);
    let profiles_after: Vec<Option<String>> = ["bgs-backend", "test-container"]
        .iter()
        .map(|c| bed.testbed.profile(&container_profile(c)))
        .collect();
    assert_eq!(profiles_after, profiles_before);
}

#[test]
fn a_failed_build_skips_its_dependents_and_deploys_independent_nodes() {
    let mut bed = Bed::new("failed_build");
    bed.fixture.fail_build("bgs-backend", true).unwrap();
    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=failed", "test-container=activated", "nannuo-bot=skipped"]
    );
    assert!(!summary.success());
    let Outcome::Failed(error) = &summary.nodes[1].outcome else { unreachable!() };
    assert_eq!((error.node.as_str(), error.stage), ("bgs-backend", Stage::Build));
    let message = error.to_string();
    assert!(message.starts_with("build bgs-backend: run `"), "{message}");
    assert!(message.contains("nix") && message.contains(" build "), "names the command: {message}");
    assert!(message.contains("simulated build failure of bgs-backend"), "carries the stderr tail: {message}");
    assert_eq!(summary.nodes[3].outcome, Outcome::Skipped("dependency `bgs-backend` failed".into()));

    assert_eq!(bed.activation_order(), ["vps-arm", "test-container"]);
    assert_eq!(bed.testbed.profile(&container_profile("bgs-backend")), None);
    assert_eq!(bed.testbed.profile(&container_profile("nannuo-bot")), None);
}

#[test]
fn an_unreachable_target_fails_every_node_after_bounded_retries_and_changes_nothing() {
    let bed = Bed::new("unreachable");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("root@127.0.0.1:{closed_port}");
    let target = Target::parse(&address).unwrap().with_ssh_options(bed.testbed.ssh_options());
    let (summary, events) = bed.deploy_to(&[], &target);
    for report in &summary.nodes {
        let Outcome::Failed(error) = &report.outcome else { panic!("{report:?}") };
        assert_eq!((error.stage, error.tries), (Stage::Lock, 4), "{error}");
        let message = error.to_string();
        assert!(message.contains(&address) && message.contains("Connection refused"), "{message}");
        assert!(message.contains("gave up after 4 tries"), "{message}");
    }
    assert!(stages(&events, Stage::Push).is_empty());
    assert!(bed.testbed.store_paths().is_empty(), "nothing reached the target's store");
    assert!(bed.activation_order().is_empty());
}

#[test]
fn deploying_one_container_touches_only_that_container() {
    let mut bed = Bed::new("one_selected");
    bed.deploy(&[]);
    bed.fixture.set_version("test-container", "2-one_selected").unwrap();
    bed.fixture.set_version("bgs-backend", "2-one_selected").unwrap();
    let log_length = bed.activation_order().len();
    let (summary, events) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&summary), ["test-container=activated"]);
    assert_eq!(stages(&events, Stage::Build), names(&["test-container"]));
    assert_eq!(bed.activation_order()[log_length..], ["test-container"]);
}

#[test]
fn build_on_target_builds_with_the_targets_nix_and_pushes_nothing() {
    use std::collections::BTreeMap;
    let bed = Bed::new("build_on_target");
    let fleet = bed.fleet();
    let kinds = fleet_deploy::Kinds::standard();
    let plan = fleet_deploy::Plan::new(&fleet, &kinds, &[], &[], &bed.fixture.flake_ref())
        .unwrap()
        .with_build_on_target(true);
    let targets: BTreeMap<String, Target> = plan.targets(Some(&bed.testbed.target())).unwrap();
    let events = Recorder::default();
    let summary = plan.run(&fleet_testbed::Testbed::nix(), fleet_deploy::Mode::Deploy, &targets, &events);
    assert!(summary.success(), "{:?}", outcomes(&summary));
    let events = events.0.into_inner().unwrap();
    assert!(stages(&events, Stage::Push).is_empty(), "nothing to push: {events:?}");
    for report in &summary.nodes {
        let path = report.new.clone().unwrap();
        assert!(bed.testbed.store_paths().contains(&path), "{path} is in the target's store");
        assert!(!std::path::Path::new(&path).exists(), "{path} was not built here");
        assert_eq!(bed.profile_of(&report.node), report.new);
    }
}
