//! A host with many containers (stand-in systems that cost little to build):
//! deployed whole, every container after what it depends on, and then probed
//! again by a deploy that finds every node current and changes nothing. The
//! node list reaches the target on stdin, every read is capped and every
//! lookup indexed, so that size is no limit but time.
//!
//! The size is [`CONTAINERS`]: 3,000 on one host. With one `nix eval` per
//! node (each loading the 3,001-node flake again) the first deploy's
//! evaluation alone took about 19 minutes; evaluated in batches, the whole
//! test takes about 3.5 minutes on 2 cores.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use fleet_deploy::{Kinds, Mode, Outcome, Plan, Sink, Summary};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{Fixture, Testbed, FIXTURE_HOST};

/// How many containers the host has.
const CONTAINERS: usize = 3000;

/// Ignores events.
struct Quiet;

impl Sink for Quiet {
    fn event(&self, _: fleet_deploy::Event<'_>) {}
}

fn deploy(fixture: &Fixture, testbed: &Testbed) -> Summary {
    let json = Testbed::nix().eval_json_file(&fixture.dir().join("nix/fleet.nix")).unwrap();
    let fleet = Fleet::from_json(&json).unwrap();
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &[], &[], &fixture.flake_ref()).unwrap();
    let targets: BTreeMap<String, Target> =
        plan.targets(Some(&testbed.target())).unwrap().into_iter().collect();
    plan.run(&Testbed::nix(), Mode::Deploy, &targets, &Quiet)
}

/// How many nodes ended with each outcome.
fn counts(summary: &Summary) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for report in &summary.nodes {
        *counts.entry(report.outcome.label()).or_default() += 1;
    }
    counts
}

#[test]
fn a_host_with_thousands_of_containers_is_deployed_and_then_found_current() {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("size");
    let testbed = Testbed::start(&dir.join("target")).unwrap();
    // Every fifth container depends on the one before it.
    let names: Vec<String> = (1..=CONTAINERS).map(|i| format!("ct-{i:04}")).collect();
    let deps: Vec<Vec<&str>> =
        (1..=CONTAINERS).map(|i| if i % 5 == 2 { vec![names[i - 2].as_str()] } else { vec![] }).collect();
    let spec: Vec<(&str, &[&str])> =
        names.iter().map(String::as_str).zip(deps.iter().map(Vec::as_slice)).collect();
    let mut fixture = Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec).unwrap();
    let nodes: Vec<&str> = std::iter::once(FIXTURE_HOST).chain(names.iter().map(String::as_str)).collect();
    // A version of this test's own keeps its store paths apart from others'.
    fixture.set_all(&nodes, "version", "1-size".into()).unwrap();

    let summary = deploy(&fixture, &testbed);
    assert_eq!(counts(&summary), BTreeMap::from([("activated", CONTAINERS + 1)]), "{:?}", errors(&summary));
    let activated: Vec<String> = testbed.activations().unwrap().into_iter().map(|r| r.node).collect();
    assert_eq!(activated.len(), CONTAINERS + 1);
    assert_eq!(activated[0], FIXTURE_HOST, "the host first");
    let position: BTreeMap<&str, usize> =
        activated.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    for (name, deps) in &spec {
        for dep in *deps {
            assert!(position[dep] < position[name], "{dep} before {name}");
        }
    }
    for name in &names {
        let profile = testbed.profile(&format!("/nix/var/nix/profiles/per-container/{name}/system"));
        assert!(profile.is_some_and(|p| p.ends_with(&format!("-nixos-system-{name}-1-size"))), "{name}");
    }

    // Nothing changed: the probe finds every node current.
    let summary = deploy(&fixture, &testbed);
    assert_eq!(counts(&summary), BTreeMap::from([("unchanged", CONTAINERS + 1)]), "{:?}", errors(&summary));
    assert_eq!(testbed.activations().unwrap().len(), CONTAINERS + 1, "nothing more was activated");
}

/// The first few nodes' errors, for a failed assertion.
fn errors(summary: &Summary) -> Vec<String> {
    let failed = |n: &fleet_deploy::NodeReport| match &n.outcome {
        Outcome::Failed(error) | Outcome::RolledBack(error) => Some(format!("{}: {error}", n.node)),
        _ => None,
    };
    summary.nodes.iter().filter_map(failed).take(5).collect()
}
