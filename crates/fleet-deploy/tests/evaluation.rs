//! Evaluation as a NixOS system costs it: the fixture's nodes made costly to
//! evaluate, a bounded pool of `nix eval` workers, and no evaluation at all
//! when the flake's content is what an earlier run evaluated.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use common::Bed;
use fleet_deploy::{Event, Kinds, Mode, Plan, Sink, Summary};
use fleet_nix::{EvalSettings, Target};
use fleet_testbed::{Testbed, FIXTURE_CONTAINERS};

/// A version no earlier run evaluated or built.
fn unique(label: &str) -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    format!("{label}-{nanos}")
}

/// Records which nodes were evaluated and which reused.
#[derive(Default)]
struct Evaluations(Mutex<BTreeMap<String, bool>>);

impl Sink for Evaluations {
    fn event(&self, event: Event<'_>) {
        if let Event::Evaluated { node, reused } = event {
            self.0.lock().unwrap().insert(node.to_string(), reused);
        }
    }
}

fn deploy(bed: &Bed, flake: &str, settings: &EvalSettings) -> (Summary, BTreeMap<String, bool>) {
    let fleet = bed.fleet();
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &[], &[], flake)
        .unwrap()
        .with_confirm_timeout(Some(Duration::from_secs(30)))
        .with_evaluation(settings.clone());
    let targets: BTreeMap<String, Target> =
        plan.targets(Some(&bed.testbed.target())).unwrap().into_iter().collect();
    let events = Evaluations::default();
    let summary = plan.run(&Testbed::nix(), Mode::Deploy, &targets, &events);
    (summary, events.0.into_inner().unwrap())
}

fn attribute(node: &str) -> String {
    format!("nixosConfigurations.{node}.config.system.build.toplevel")
}

#[test]
fn a_worker_over_the_memory_budget_is_replaced_and_the_deploy_succeeds() {
    let mut bed = Bed::new("eval_budget");
    let version = unique("budget");
    for (node, _) in FIXTURE_CONTAINERS {
        bed.fixture.set_version(node, &version).unwrap();
        // About 40 MB each: far more than the budget below.
        bed.fixture.set_eval_cost(node, 200_000).unwrap();
    }
    let budget = EvalSettings { workers: 2, memory_budget: Some(1024 * 1024), cache_dir: None };
    let attributes: Vec<String> = FIXTURE_CONTAINERS.iter().map(|(node, _)| attribute(node)).collect();
    let (results, stats) =
        Testbed::nix().evaluate(&bed.fixture.flake_ref(), &attributes, &budget, &mut |_, _| {}, &mut |_| {});
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(stats.evaluated, FIXTURE_CONTAINERS.len());
    // Every worker grew past its share; each next node got a new one.
    assert_eq!(stats.over_budget, FIXTURE_CONTAINERS.len(), "{stats:?}");

    let unbounded = EvalSettings { memory_budget: None, ..budget.clone() };
    let (_, stats) = Testbed::nix().evaluate(
        &bed.fixture.flake_ref(),
        &attributes,
        &unbounded,
        &mut |_, _| {},
        &mut |_| {},
    );
    assert_eq!(stats.most_at_once, 2, "{stats:?}");

    let (summary, _) = deploy(&bed, &bed.fixture.flake_ref(), &budget);
    assert!(summary.success(), "{summary:#?}");
    for (node, _) in FIXTURE_CONTAINERS {
        assert!(bed.profile_of(node).is_some_and(|p| p.ends_with(&version)), "{node}");
    }
}

#[test]
fn a_clean_commit_reuses_its_evaluation_and_a_dirty_tree_does_not() {
    let mut bed = Bed::new("eval_reuse");
    let cache = bed.testbed.dir().with_file_name("eval-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let settings = EvalSettings { cache_dir: Some(cache.into()), ..EvalSettings::default() };
    bed.fixture.set_version("test-container", &unique("reuse")).unwrap();
    let clean = bed.fixture.commit().unwrap();

    let (first, evaluations) = deploy(&bed, &clean, &settings);
    assert!(first.success(), "{first:#?}");
    assert!(evaluations.values().all(|reused| !reused), "{evaluations:?}");
    assert!(first.nodes.iter().all(|n| !n.reused_evaluation));

    let (second, evaluations) = deploy(&bed, &clean, &settings);
    assert!(second.success(), "{second:#?}");
    assert_eq!(evaluations.len(), 4);
    assert!(evaluations.values().all(|reused| *reused), "{evaluations:?}");
    assert!(second.nodes.iter().all(|n| n.reused_evaluation && n.outcome.label() == "unchanged"));

    // An uncommitted change: the tree is dirty, so everything is evaluated.
    bed.fixture.set_version("test-container", &unique("dirty")).unwrap();
    let (third, evaluations) = deploy(&bed, &clean, &settings);
    assert!(third.success(), "{third:#?}");
    assert!(evaluations.values().all(|reused| !reused), "{evaluations:?}");
    assert!(bed.profile_of("test-container").is_some_and(|p| p.contains("-dirty-")));
}

/// Pins the fix of a hang: the pool read a worker's pipes only after it
/// exited, so one that printed more than a pipe holds waited for ever.
#[test]
fn an_evaluation_that_prints_a_megabyte_on_stderr_finishes() {
    let mut bed = Bed::new("eval_noisy");
    bed.fixture.set_version("test-container", &unique("noisy")).unwrap();
    bed.fixture.set_eval_trace("test-container", 1024 * 1024).unwrap();
    let flake = bed.fixture.flake_ref();
    let settings = EvalSettings { workers: 1, memory_budget: None, cache_dir: None };
    let (sender, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let attributes = [attribute("test-container")];
        let _ =
            sender.send(Testbed::nix().evaluate(&flake, &attributes, &settings, &mut |_, _| {}, &mut |_| {}));
    });
    let mut outcome = None;
    fleet_testbed::wait_until("the noisy evaluation ends", Duration::from_secs(120), || {
        outcome = outcome.take().or_else(|| finished.try_recv().ok());
        outcome.is_some()
    });
    let (results, stats) = outcome.unwrap();
    assert_eq!(stats.evaluated, 1);
    let drv = &results[0].as_ref().unwrap().drv;
    assert!(drv.starts_with("/nix/store/") && drv.ends_with(".drv"), "{drv}");
}
