//! Several hosts at once: two testbed targets, each deployed in its own
//! dependency order, `--host` selecting one of them, and dependencies across
//! hosts (a container after a container of another host).

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use fleet_deploy::{Kinds, Mode, Plan, Sink};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{container_profile, Fixture, Testbed, HOST_PROFILE};

/// Ignores events.
struct Quiet;

impl Sink for Quiet {
    fn event(&self, _: fleet_deploy::Event<'_>) {}
}

fn deploy(fixture: &Fixture, ssh_options: &[String], hosts: &[&str]) -> fleet_deploy::Summary {
    deploy_to(fixture, ssh_options, hosts, &Quiet)
}

fn deploy_to(
    fixture: &Fixture,
    ssh_options: &[String],
    hosts: &[&str],
    sink: &dyn Sink,
) -> fleet_deploy::Summary {
    let json = Testbed::nix().eval_json_file(&fixture.dir().join("nix/fleet.nix")).unwrap();
    let fleet = Fleet::from_json(&json).unwrap();
    let kinds = Kinds::standard();
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let plan = Plan::new(&fleet, &kinds, &hosts, &[], &fixture.flake_ref()).unwrap();
    let targets: BTreeMap<String, Target> = plan
        .targets(None)
        .unwrap()
        .into_iter()
        .map(|(host, target)| (host, target.with_ssh_options(ssh_options.iter().cloned())))
        .collect();
    plan.run(&Testbed::nix(), Mode::Deploy, &targets, sink)
}

fn order(testbed: &Testbed) -> Vec<String> {
    testbed.activations().unwrap().into_iter().map(|r| r.node).collect()
}

#[test]
fn two_hosts_deploy_each_in_its_own_order_and_host_selects_one() {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hosts");
    let east = Testbed::start(&dir.join("east")).unwrap();
    let west = Testbed::start(&dir.join("west")).unwrap();
    let mut fixture = Fixture::create_hosts(
        &dir.join("flake"),
        &[
            ("vps-east", &east.address(), &[("e-db", &[]), ("e-app", &["e-db"]), ("e-web", &["e-app"])]),
            ("vps-west", &west.address(), &[("w-db", &[]), ("w-app", &["w-db"])]),
        ],
    )
    .unwrap();
    for node in ["vps-east", "e-db", "e-app", "e-web", "vps-west", "w-db", "w-app"] {
        fixture.set_version(node, "1-hosts").unwrap();
    }
    // Each testbed has its own key; ssh offers both.
    let ssh_options: Vec<String> = east.ssh_options().into_iter().chain(west.ssh_options()).collect();

    let summary = deploy(&fixture, &ssh_options, &[]);
    assert!(summary.success(), "{:?}", summary.nodes.iter().map(|n| n.outcome.label()).collect::<Vec<_>>());
    assert_eq!(order(&east), ["vps-east", "e-db", "e-app", "e-web"]);
    assert_eq!(order(&west), ["vps-west", "w-db", "w-app"]);
    for report in &summary.nodes {
        let (testbed, profile) = match report.node.as_str() {
            "vps-east" => (&east, HOST_PROFILE.to_string()),
            "vps-west" => (&west, HOST_PROFILE.to_string()),
            node => (if node.starts_with("e-") { &east } else { &west }, container_profile(node)),
        };
        assert_eq!(testbed.profile(&profile), report.new, "{}", report.node);
    }
    assert!(east.store_paths().iter().all(|p| !p.contains("-w-")), "west's closures stay off east");

    fixture.set_version("e-app", "2-hosts").unwrap();
    fixture.set_version("w-app", "2-hosts").unwrap();
    let summary = deploy(&fixture, &ssh_options, &["vps-west"]);
    let outcomes: Vec<String> =
        summary.nodes.iter().map(|n| format!("{}={}", n.node, n.outcome.label())).collect();
    assert_eq!(outcomes, ["vps-west=unchanged", "w-db=unchanged", "w-app=activated"]);
    assert_eq!(order(&east), ["vps-east", "e-db", "e-app", "e-web"], "east was not touched");
    assert_eq!(order(&west), ["vps-west", "w-db", "w-app", "w-app"]);
}

/// Records, in order, when each node's activation started and when it ended.
#[derive(Default)]
struct Timeline(std::sync::Mutex<Vec<String>>);

impl Sink for Timeline {
    fn event(&self, event: fleet_deploy::Event<'_>) {
        let entry = match event {
            fleet_deploy::Event::Stage { node, stage: fleet_deploy::Stage::Activate } => {
                format!("start {node}")
            }
            fleet_deploy::Event::Finished(report) => format!("end {}", report.node),
            _ => return,
        };
        self.0.lock().unwrap().push(entry);
    }
}

#[test]
fn a_container_that_depends_on_another_hosts_container_is_activated_after_it() {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hosts-across");
    let (router, server) =
        (Testbed::start(&dir.join("router")).unwrap(), Testbed::start(&dir.join("server")).unwrap());
    let mut fixture = Fixture::create_hosts(
        &dir.join("flake"),
        &[
            ("vps-router", &router.address(), &[("r-gw", &[])]),
            ("vps-server", &server.address(), &[("s-db", &[]), ("s-app", &["s-db", "r-gw"])]),
        ],
    )
    .unwrap();
    for node in ["vps-router", "r-gw", "vps-server", "s-db", "s-app"] {
        fixture.set_version(node, "1-across").unwrap();
    }
    // The router's container is slow to switch: without the edge, s-app
    // would be done long before it.
    fixture.set_switch_seconds("r-gw", 2).unwrap();
    let ssh_options: Vec<String> = router.ssh_options().into_iter().chain(server.ssh_options()).collect();
    let timeline = Timeline::default();
    let summary = deploy_to(&fixture, &ssh_options, &[], &timeline);
    assert!(summary.success(), "{:?}", summary.nodes.iter().map(|n| n.outcome.label()).collect::<Vec<_>>());
    let events = timeline.0.into_inner().unwrap();
    let at =
        |entry: &str| events.iter().position(|e| e == entry).unwrap_or_else(|| panic!("{entry}: {events:?}"));
    assert!(at("end r-gw") < at("start s-app"), "{events:?}");
    assert!(at("end s-db") < at("start s-app"), "{events:?}");
    assert_eq!(order(&router), ["vps-router", "r-gw"]);
    assert_eq!(order(&server), ["vps-server", "s-db", "s-app"]);
}
