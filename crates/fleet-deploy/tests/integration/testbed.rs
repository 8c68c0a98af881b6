//! The pipeline against a simulated VPS: real nix, real sshd, real profiles;
//! every assertion reads the target's activation log, profiles or store.

use crate::common;

use common::*;
use fleet_deploy::{Outcome, Stage};
use fleet_nix::Target;
use fleet_testbed::{container_profile, fixture_profile, FIXTURE_CONTAINERS, FIXTURE_HOST, HOST_PROFILE};

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
        let profile = fixture_profile(&report.node);
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

/// A refused first contact would be refused again: it is not retried
/// (a refusal later in a run, sshd restarting, is: faults.rs).
#[test]
fn a_refused_target_fails_every_node_at_once_and_changes_nothing() {
    let bed = Bed::new("unreachable");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("root@127.0.0.1:{closed_port}");
    let target = Target::parse(&address).unwrap().with_ssh_options(bed.testbed.ssh_options());
    let (summary, events) = bed.deploy_to(&[], &target);
    for report in &summary.nodes {
        let Outcome::Failed(error) = &report.outcome else { panic!("{report:?}") };
        assert_eq!((error.stage, error.tries), (Stage::Lock, 1), "{error}");
        let message = error.to_string();
        assert!(message.contains(&format!("127.0.0.1 port {closed_port}: Connection refused")), "{message}");
        assert!(
            message.contains("the target refused the connection, so it was not tried again"),
            "{message}"
        );
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
    assert!(summary.success(), "{:#?}", summary.nodes);
    let events = events.0.into_inner().unwrap();
    assert!(stages(&events, Stage::Push).is_empty(), "nothing to push: {events:?}");
    for report in &summary.nodes {
        let path = report.new.clone().unwrap();
        assert!(bed.testbed.store_paths().contains(&path), "{path} is in the target's store");
        assert!(!std::path::Path::new(&path).exists(), "{path} was not built here");
        assert_eq!(bed.profile_of(&report.node), report.new);
    }
}

/// A host switch that changes containers' host-side units leaves them running
/// (their units say `restartIfChanged = false`); the run then restarts each,
/// after the host and in dependency order, health-checked like any activation.
/// A container whose unit did not change is not restarted.
#[test]
fn a_host_switch_that_changes_container_units_restarts_them_in_graph_order() {
    let mut bed = Bed::new("unit_restarts");
    bed.deploy(&[]);
    let log = bed.testbed.dir().join("checks.log");
    for node in ["bgs-backend", "nannuo-bot", "test-container"] {
        let check = format!(r#"checks = [ {{ command = [ "sh" "-c" "echo {node} >> {log}" ]; }} ];"#);
        bed.fixture.set_node_attrs(node, &check).unwrap();
    }
    // bgs-backend: a new unit, the same system; nannuo-bot: a new unit and a
    // new system; test-container: a new system, the same unit.
    bed.fixture.set_unit_revision("bgs-backend", 2).unwrap();
    bed.fixture.set_unit_revision("nannuo-bot", 2).unwrap();
    bed.fixture.set_version("nannuo-bot", "2-unit_restarts").unwrap();
    bed.fixture.set_version("test-container", "2-unit_restarts").unwrap();
    let before = bed.testbed.activations().unwrap().len();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=restarted", "test-container=activated", "nannuo-bot=activated"]
    );
    let records = bed.testbed.activations().unwrap().split_off(before);
    let actions: Vec<String> = records.iter().map(|r| format!("{} {}", r.node, r.action)).collect();
    let position = |action: &str| {
        actions.iter().position(|a| a == action).unwrap_or_else(|| panic!("{action} in {actions:?}"))
    };
    assert_eq!(position("vps-arm switch"), 0, "{actions:?}");
    assert!(position("bgs-backend restart") < position("nannuo-bot restart"), "{actions:?}");
    assert!(actions.contains(&"test-container test".to_string()), "reloaded, not restarted: {actions:?}");
    assert_eq!(actions.len(), 4, "{actions:?}");
    let nannuo = &summary.nodes[3];
    let restarted_on = &records[position("nannuo-bot restart")].path;
    assert_eq!(Some(restarted_on), nannuo.new.as_ref(), "nannuo-bot restarts on its new system");
    assert_eq!(bed.profile_of("nannuo-bot"), nannuo.new);

    let checked = std::fs::read_to_string(&log).unwrap();
    let checked: Vec<&str> = checked.lines().collect();
    let at = |node: &str| {
        checked.iter().position(|n| *n == node).unwrap_or_else(|| panic!("{node} checked: {checked:?}"))
    };
    assert!(at("bgs-backend") < at("nannuo-bot"), "each restart is checked, in order: {checked:?}");
    assert!(checked.contains(&"test-container"), "{checked:?}");
}

/// Records stage and finish events, and opens a build gate when a node
/// finishes.
struct GateOpener {
    events: std::sync::Mutex<Vec<String>>,
    opens_when: &'static str,
    gate: camino::Utf8PathBuf,
}

impl fleet_deploy::Sink for GateOpener {
    fn event(&self, event: fleet_deploy::Event<'_>) {
        let line = match event {
            fleet_deploy::Event::Stage { node, stage } => format!("{node}:{stage}"),
            fleet_deploy::Event::Finished(report) => {
                if report.node == self.opens_when {
                    std::fs::write(&self.gate, "").unwrap();
                }
                format!("{}={}", report.node, report.outcome.label())
            }
            _ => return,
        };
        self.events.lock().unwrap().push(line);
    }
}

/// Pipelining: test-container's build ends only once bgs-backend has been
/// activated, which can happen only if bgs-backend's activation does not wait
/// for a build it does not depend on. nannuo-bot, which depends on
/// bgs-backend, is activated after it.
#[test]
fn an_independent_node_is_activated_while_another_still_builds() {
    let mut bed = Bed::new("pipelined");
    // A path new to every run: it is part of the derivation, which must not
    // be in the store from an earlier run.
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let gate = bed.testbed.dir().join(format!("test-container-may-finish-building-{nonce}"));
    bed.fixture.gate_build("test-container", &gate).unwrap();
    let sink = GateOpener { events: Default::default(), opens_when: "bgs-backend", gate };
    let summary = bed.run(
        fleet_deploy::Mode::Deploy,
        &[],
        &bed.testbed.target(),
        Some(std::time::Duration::from_secs(30)),
        &sink,
    );
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );
    let events = sink.events.into_inner().unwrap();
    let at =
        |event: &str| events.iter().position(|e| e == event).unwrap_or_else(|| panic!("{event}: {events:?}"));
    assert!(at("bgs-backend=activated") < at("test-container:push"), "{events:?}");
    assert!(at("bgs-backend=activated") < at("nannuo-bot:activate"), "{events:?}");
    assert!(at("vps-arm=activated") < at("bgs-backend:activate"), "{events:?}");
}

#[test]
fn a_deploy_leaves_no_process_of_its_own_on_the_target() {
    // What a run starts there ends with it: the agent, its watcher and the
    // watcher's clock, each job, and a host job's clock while it waits for its
    // confirmation (a clock that kept the fifo it writes to open for reading
    // never ended).
    let bed = Bed::new("no_leftovers");
    let (summary, _) = bed.deploy(&[]);
    assert!(outcomes(&summary).iter().all(|o| o.ends_with("=activated")), "{:?}", outcomes(&summary));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = bed.testbed.processes_using(fleet_deploy::STATE_DIR);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running on the target 10 s after the deploy: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
