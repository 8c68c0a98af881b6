//! Batched builds with real nix, on the testbed's fixture flake (no target is
//! involved): each node of one `nix build` is told done when its own build is,
//! and each failure is told the error of its own build.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use camino::Utf8PathBuf;
use fleet_graph::Fleet;
use fleet_nix::{EvalSettings, Target};
use fleet_testbed::{Fixture, Testbed, FIXTURE_HOST};

use crate::build_progress::BuildProgress;
use crate::{Event, Kinds, Plan, Sink};

/// A sink that hears nothing.
struct Quiet;

impl Sink for Quiet {
    fn event(&self, _: Event<'_>) {}
}

#[test]
fn nodes_built_together_are_each_done_when_their_own_build_is_and_fail_with_their_own_error() {
    // A unit test has no `CARGO_TARGET_TMPDIR`: a folder of its own in the
    // system's, removed at the end.
    let dir = std::env::temp_dir().join(format!("fleet-deploy-build-batch-{}", std::process::id()));
    let dir = Utf8PathBuf::from_path_buf(dir).unwrap();
    // No target is reached: the address only fills the fixture's fleet file.
    let mut fixture = Fixture::create(&dir, "root@127.0.0.1:1").unwrap();
    // A version no earlier run built, or there would be nothing to build.
    let unique = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    for node in [FIXTURE_HOST, "bgs-backend", "nannuo-bot", "test-container"] {
        fixture.set_version(node, &format!("batch-{unique}")).unwrap();
    }
    fixture.set_build_seconds("nannuo-bot", 4).unwrap();
    fixture.fail_build("bgs-backend", true).unwrap();
    fixture.fail_build("test-container", true).unwrap();
    let slow_system = fixture.system_path("nannuo-bot").unwrap();

    let nix = Testbed::nix();
    let fleet = Fleet::from_json(&nix.eval_json_file(&fixture.dir().join("nix/fleet.nix")).unwrap()).unwrap();
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &[], &[], &fixture.flake_ref())
        .unwrap()
        .with_evaluation(EvalSettings { workers: 1, memory_budget: None, cache_dir: None });
    let names = plan.selection.names();
    let mut drvs = vec![String::new(); names.len()];
    plan.evaluate(&nix, &Quiet, &mut |i, evaluated| drvs[i] = evaluated.unwrap().drv);
    let batch: Vec<(&str, &str)> =
        names.iter().map(String::as_str).zip(drvs.iter().map(String::as_str)).collect();

    // Each node as it was told: built or not, and whether the slow node's
    // system was in the store by then.
    let mut told = Vec::new();
    let progress = Mutex::new(BuildProgress::new(false));
    plan.build_batch(&nix, &batch, &Target::Local, &progress, &Quiet, &mut |k, built| {
        told.push((batch[k].0.to_string(), built, Path::new(&slow_system).exists()));
    });
    let order: Vec<(&str, bool, bool)> =
        told.iter().map(|(n, b, slow)| (n.as_str(), b.is_ok(), *slow)).collect();
    assert_eq!(order.len(), 4, "{told:#?}");
    // The quick host goes on while the slow node still builds.
    assert_eq!(order[0], (FIXTURE_HOST, true, false), "{told:#?}");
    assert!(order.contains(&("nannuo-bot", true, true)), "{told:#?}");
    for (node, other) in [("bgs-backend", "test-container"), ("test-container", "bgs-backend")] {
        let (_, built, _) = told.iter().find(|(n, _, _)| n == node).unwrap();
        let error = built.as_ref().unwrap_err().to_string();
        assert!(error.contains(node) && !error.contains(other), "{node}'s error: {error}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
