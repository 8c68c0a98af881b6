//! Evaluation as a NixOS system costs it: the fixture's nodes made costly to
//! evaluate, a bounded pool of evaluating workers that take nodes in batches,
//! and no evaluation at all when the flake's content (committed or not) is
//! what an earlier run evaluated.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use camino::Utf8PathBuf;
use common::Bed;
use fleet_deploy::{Event, Kinds, Mode, Plan, Sink, Summary};
use fleet_nix::{CommandError, EvalSettings, EvalStats, Evaluated, Target};
use fleet_testbed::{fixture_nodes, Fixture, Testbed, FIXTURE_CONTAINERS};

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
fn a_clean_commit_reuses_its_evaluation_and_so_does_an_unchanged_dirty_tree() {
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

    // An uncommitted change: new content, so everything is evaluated...
    bed.fixture.set_version("test-container", &unique("dirty")).unwrap();
    let (third, evaluations) = deploy(&bed, &clean, &settings);
    assert!(third.success(), "{third:#?}");
    assert!(evaluations.values().all(|reused| !reused), "{evaluations:?}");
    assert!(bed.profile_of("test-container").is_some_and(|p| p.contains("-dirty-")));
    // ... once: the dirty tree's content is pinned by its hash all the same.
    let (fourth, evaluations) = deploy(&bed, &clean, &settings);
    assert!(fourth.success(), "{fourth:#?}");
    assert!(evaluations.values().all(|reused| *reused), "{evaluations:?}");
    assert!(fourth.nodes.iter().all(|n| n.outcome.label() == "unchanged"), "{fourth:#?}");
}

/// A fixture (no testbed: these only evaluate) committed and then changed,
/// so that its tree is dirty; with its `git+file` reference.
fn dirty_fixture(test: &str) -> (Fixture, String) {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evaluation").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:22").unwrap();
    let flake = fixture.commit().unwrap();
    for node in fixture_nodes() {
        fixture.set_version(node, &unique(test)).unwrap();
    }
    (fixture, flake)
}

type Evaluation = (Vec<Result<Evaluated, CommandError>>, EvalStats);

fn evaluate(flake: &str, nodes: &[&str], settings: &EvalSettings) -> Evaluation {
    let attributes: Vec<String> = nodes.iter().map(|node| attribute(node)).collect();
    Testbed::nix().evaluate(flake, &attributes, settings, &mut |_, _| {}, &mut |_| {})
}

fn derivations(results: &[Result<Evaluated, CommandError>]) -> Vec<String> {
    results.iter().map(|r| r.as_ref().expect("evaluated").drv.clone()).collect()
}

#[test]
fn a_dirty_trees_evaluation_is_reused_until_a_file_it_reads_changes() {
    let (mut fixture, flake) = dirty_fixture("eval_dirty");
    let nodes = fixture_nodes();
    let settings = EvalSettings {
        workers: 2,
        memory_budget: None,
        cache_dir: Some(fixture.dir().with_file_name("eval-cache").into()),
    };
    let (first, stats) = evaluate(&flake, &nodes, &settings);
    assert_eq!((stats.evaluated, stats.reused), (nodes.len(), 0), "{stats:?}");
    // Two workers, four nodes: one node each until a node's memory is
    // known, then the other two in one batch.
    assert_eq!(stats.processes, 3, "{stats:?}");

    let (second, stats) = evaluate(&flake, &nodes, &settings);
    assert_eq!((stats.evaluated, stats.reused, stats.processes), (0, nodes.len(), 0), "{stats:?}");
    assert_eq!(derivations(&first), derivations(&second));

    // A node's settings (`fixture.json`), still uncommitted.
    let version = unique("edited");
    fixture.set_version("test-container", &version).unwrap();
    let (third, stats) = evaluate(&flake, &nodes, &settings);
    assert_eq!(stats.reused, 0, "{stats:?}");
    let test_container = nodes.iter().position(|n| *n == "test-container").unwrap();
    assert!(derivations(&third)[test_container].ends_with(&format!("-{version}.drv")), "{third:?}");

    // The graph file (`nix/fleet.nix`).
    evaluate(&flake, &nodes, &settings);
    fixture.set_tags("bgs-backend", &["edited"]).unwrap();
    let (_, stats) = evaluate(&flake, &nodes, &settings);
    assert_eq!(stats.reused, 0, "{stats:?}");
    let (_, stats) = evaluate(&flake, &nodes, &settings);
    assert_eq!(stats.reused, nodes.len(), "{stats:?}");
}

#[test]
fn a_batch_with_a_failing_node_names_it_and_evaluates_the_others() {
    let (mut fixture, flake) = dirty_fixture("eval_failing");
    let nodes = fixture_nodes();
    // A space is not allowed in a store path's name: evaluating its
    // derivation fails.
    fixture.set_version("nannuo-bot", "not a name").unwrap();
    let settings = EvalSettings { workers: 1, memory_budget: None, cache_dir: None };
    let (results, stats) = evaluate(&flake, &nodes, &settings);
    // The host alone (a node's memory is not known yet), then the three
    // containers in one batch, which fails, then each of them on its own.
    assert_eq!(stats.processes, 1 + 1 + 3, "{stats:?}");
    for (node, result) in nodes.iter().zip(&results) {
        match (*node, result) {
            ("nannuo-bot", Err(error)) => {
                assert!(error.command.contains(&attribute("nannuo-bot").replace('.', "\".\"")), "{error}");
                assert!(!error.command.contains("bgs-backend"), "{error}");
                assert!(error.to_string().contains("not a name"), "{error}");
            }
            ("nannuo-bot", Ok(evaluated)) => panic!("{evaluated:?} evaluated"),
            (_, result) => assert!(result.is_ok(), "{node}: {result:?}"),
        }
    }
}

/// Pins the fix of a hang: the pool read a worker's pipes only after it
/// exited, so one that printed more than a pipe holds waited for ever. The
/// noisy node is in a batch with others (the host goes first, alone).
#[test]
fn a_batch_that_prints_a_megabyte_on_stderr_finishes() {
    let (mut fixture, flake) = dirty_fixture("eval_noisy");
    fixture.set_eval_trace("test-container", 1024 * 1024).unwrap();
    let settings = EvalSettings { workers: 1, memory_budget: None, cache_dir: None };
    let (sender, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(evaluate(&flake, &fixture_nodes(), &settings));
    });
    let mut outcome = None;
    fleet_testbed::wait_until("the noisy evaluation ends", Duration::from_secs(120), || {
        outcome = outcome.take().or_else(|| finished.try_recv().ok());
        outcome.is_some()
    });
    let (results, stats) = outcome.unwrap();
    assert_eq!((stats.evaluated, stats.processes), (fixture_nodes().len(), 2), "{stats:?}");
    for drv in derivations(&results) {
        assert!(drv.starts_with("/nix/store/") && drv.ends_with(".drv"), "{drv}");
    }
}

/// The derivations `nix build --dry-run --json` gives for `nodes` of `flake`
/// as given, in one process: what evaluating them without the pool gives.
fn evaluated_as_given(flake: &str, nodes: &[&str]) -> Vec<String> {
    let mut command = std::process::Command::new("nix");
    fleet_testbed::hermetic(&mut command)
        .args(["--extra-experimental-features", "nix-command flakes", "build", "--dry-run", "--json"])
        .args(nodes.iter().map(|node| format!("{flake}#{}", attribute(node))));
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let built: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    built.iter().map(|b| b["drvPath"].as_str().unwrap().to_string()).collect()
}

#[test]
fn batches_evaluate_the_pinned_flake_as_the_flake_given() {
    // Each batch evaluates the flake pinned to its content (a clean tree's
    // revision, a folder's copy in the store): what a system reads of the
    // flake itself must come out the same as from the reference given.
    let (mut fixture, _) = dirty_fixture("eval_pinned");
    let nodes = fixture_nodes();
    for node in &nodes {
        fixture.set_flake_revision(node).unwrap();
    }
    let settings = EvalSettings { workers: 2, memory_budget: None, cache_dir: None };
    let committed = fixture.commit().unwrap();
    let folder = fixture.flake_ref();
    for flake in [committed, folder] {
        let (results, _) = evaluate(&flake, &nodes, &settings);
        assert_eq!(derivations(&results), evaluated_as_given(&flake, &nodes), "{flake}");
    }
}
