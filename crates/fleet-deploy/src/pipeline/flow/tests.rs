//! The scheduler's rules, run with fake stages (`tests/fake.rs`): no nix, no
//! sshd, no target. A test reads its rule from the order the fake stages
//! ran in, the outcomes and the events.

mod fake;
mod gate;

use std::collections::{HashMap, HashSet};

use fake::{current, deploy, rules, run_on, Fake, Gate, Ran, DEPLOY};

use super::advance::ACTIVATIONS_PER_HOST;
use super::{Finale, Flow, Probe, Rules};
use crate::{Outcome, Stage};

/// A host `h` with containers `a` <- `b` <- `c` (each needs the one before)
/// and `d`, which needs nothing but its host. Their activation order (the
/// summary's) is h, a, d, b, c.
const CHAIN: &str = "h:host a:container:h b:container:h:a c:container:h:b d:container:h";

#[test]
fn a_deploy_locks_probes_pushes_and_activates_each_node_after_its_dependencies() {
    let ran = deploy(CHAIN, Fake::default());
    assert_eq!(ran.outcomes(), ["h=activated", "a=activated", "d=activated", "b=activated", "c=activated"]);
    // Nothing changes on the target before its lock is held and it is probed.
    assert!(ran.at("lock h") < ran.at("probe h") && ran.at("probe h") < ran.at("push h"), "{:#?}", ran.log);
    for node in ["h", "a", "b", "c", "d"] {
        let pushed =
            ran.log.iter().position(|l| l.starts_with("push h") && l.contains(&format!("new-{node}")));
        assert!(
            pushed.unwrap() < ran.at(&format!("activate {node}")),
            "{node} is pushed first: {:#?}",
            ran.log
        );
        assert!(ran.has(&format!("switch {node} to new-{node}")));
    }
    for (before, after) in [("a", "b"), ("b", "c")] {
        assert!(
            ran.at(&format!("activate {before}")) < ran.at(&format!("activate {after}")),
            "{:#?}",
            ran.log
        );
    }
    let stages: Vec<&String> = ran.events.iter().filter(|e| e.starts_with("c: ")).collect();
    assert_eq!(stages.first().map(|s| s.as_str()), Some("c: evaluate"), "{stages:?}");
    assert_eq!(stages.last().map(|s| s.as_str()), Some("c: activated"), "{stages:?}");
}

#[test]
fn every_container_waits_for_its_host_even_when_it_names_no_dependency() {
    // d names no dependency; the host's activation still comes first, and a
    // host that fails takes its containers with it.
    let ran = deploy(CHAIN, Fake::default());
    for node in ["a", "d"] {
        assert!(ran.at("activate h") < ran.at(&format!("activate {node}")), "{:#?}", ran.log);
    }
    let ran = deploy(CHAIN, Fake { rolled_back: HashSet::from(["h".into()]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=rolled back", "a=skipped", "d=skipped", "b=skipped", "c=skipped"]);
    assert_eq!(ran.reason("d"), "dependency `h` rolled back");
    assert!(!ran.has("activate d") && !ran.has("activate a"), "{:#?}", ran.log);
}

#[test]
fn a_failed_build_skips_its_dependents_and_the_independent_nodes_go_on() {
    let ran = deploy(CHAIN, Fake { failed_builds: HashSet::from(["a".into()]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=activated", "a=failed", "d=activated", "b=skipped", "c=skipped"]);
    assert!(ran.reason("a").starts_with("build "), "{}", ran.reason("a"));
    assert_eq!(ran.reason("b"), "dependency `a` failed");
    // A skip passes on: c is skipped for b.
    assert_eq!(ran.reason("c"), "dependency `b` skipped");
    assert!(!ran.has("activate b") && !ran.has("activate c"), "{:#?}", ran.log);
}

#[test]
fn a_rolled_back_node_skips_its_dependents_only() {
    let ran = deploy(CHAIN, Fake { rolled_back: HashSet::from(["b".into()]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=activated", "a=activated", "d=activated", "b=rolled back", "c=skipped"]);
    assert_eq!(ran.reason("c"), "dependency `b` rolled back");
}

#[test]
fn a_lock_held_by_another_run_starts_nothing_there_and_names_the_holder() {
    let spec = "h:host a:container:h g:host b:container:g";
    let holder = "run 42 of ci@builder".to_string();
    let ran = deploy(spec, Fake { locked_by: HashMap::from([("h".into(), holder)]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=not started", "g=activated", "a=not started", "b=activated"]);
    assert_eq!(
        ran.reason("a"),
        "h is locked by run 42 of ci@builder; nothing was changed, deploy again when it is free"
    );
    assert!(!ran.has("probe h") && !ran.has("push h") && !ran.has("activate a"), "{:#?}", ran.log);
}

#[test]
fn a_lock_that_cannot_be_taken_fails_every_node_of_its_host_with_its_tries() {
    let ran =
        deploy(CHAIN, Fake { locked_by: HashMap::from([("h".into(), String::new())]), ..Fake::default() });
    assert!(ran
        .summary
        .nodes
        .iter()
        .all(|r| matches!(&r.outcome, Outcome::Failed(e) if e.stage == Stage::Lock && e.tries == 4)));
    assert!(!ran.has("probe h") && !ran.has("push"), "{:#?}", ran.log);
}

#[test]
fn a_failed_probe_fails_its_host_and_a_bad_profile_only_its_node() {
    let ran = deploy(CHAIN, Fake { broken_probe: HashSet::from(["h".into()]), ..Fake::default() });
    assert!(ran
        .summary
        .nodes
        .iter()
        .all(|r| matches!(&r.outcome, Outcome::Failed(e) if e.stage == Stage::Probe)));
    assert!(!ran.has("push") && !ran.has("activate"), "{:#?}", ran.log);

    let ran = deploy(CHAIN, Fake { broken_probe: HashSet::from(["b".into()]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=activated", "a=activated", "d=activated", "b=failed", "c=skipped"]);
    assert!(ran.reason("b").starts_with("probe "), "{}", ran.reason("b"));
}

#[test]
fn a_failed_copy_fails_the_nodes_it_carried() {
    let ran = deploy(CHAIN, Fake { broken_push: HashSet::from(["h".into()]), ..Fake::default() });
    assert!(ran
        .summary
        .nodes
        .iter()
        .all(|r| matches!(&r.outcome, Outcome::Failed(e) if e.stage == Stage::Push && e.tries == 4)));
    assert!(!ran.has("activate"), "{:#?}", ran.log);
}

#[test]
fn unchanged_nodes_are_neither_pushed_nor_activated() {
    let ran = deploy(CHAIN, Fake { old: current(CHAIN), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=unchanged", "a=unchanged", "d=unchanged", "b=unchanged", "c=unchanged"]);
    assert!(!ran.has("push") && !ran.has("activate"), "{:#?}", ran.log);
    // A switch made without the run may have left containers on an earlier
    // unit: what they started with is compared.
    assert!(ran.has("units h new-h -> new-h of a,b,c,d"), "{:#?}", ran.log);
}

#[test]
fn a_host_switch_restarts_the_containers_whose_unit_changed_in_graph_order() {
    let mut old = current(CHAIN);
    old.insert("h".into(), "old-h".into());
    old.insert("c".into(), "old-c".into());
    let units =
        HashMap::from([("h".to_string(), vec!["b".to_string(), "c".to_string(), "gone".to_string()])]);
    let ran = deploy(CHAIN, Fake { old, units, ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=activated", "a=unchanged", "d=unchanged", "b=restarted", "c=activated"]);
    // Its activation tells which: old against new, after the switch.
    assert!(ran.at("switch h") < ran.at("units h"), "{:#?}", ran.log);
    assert!(ran.has("restart b to new-b") && ran.has("restart c to new-c"), "{:#?}", ran.log);
    assert!(ran.at("activate b") < ran.at("activate c"), "in graph order: {:#?}", ran.log);
    assert!(
        ran.events.iter().any(|e| e
            .starts_with("h notice: the switch changed the unit of container gone, which is not selected")),
        "{:#?}",
        ran.events
    );
}

/// A host that runs its system already (its units compared take one slot
/// first) and `containers` independent containers that change.
fn wide(containers: usize) -> String {
    let mut spec = "h:host".to_string();
    for c in 0..containers {
        spec.push_str(&format!(" c{c}:container:h"));
    }
    spec
}

#[test]
fn activations_on_a_host_take_at_most_jobs_slots_and_use_them_all() {
    for (jobs, containers, limit) in [(3, 7, 3), (20, 12, ACTIVATIONS_PER_HOST)] {
        let spec = wide(containers);
        let fake = Fake {
            old: HashMap::from([("h".into(), Fake::new_system("h"))]),
            activations: Some(Gate::new(limit, containers)),
            ..Fake::default()
        };
        let ran = run_on(&spec, DEPLOY, rules(jobs), Vec::new(), fake);
        assert!(
            ran.summary.nodes[1..].iter().all(|r| r.outcome == Outcome::Activated),
            "{:?}",
            ran.outcomes()
        );
        assert_eq!(ran.log.iter().filter(|l| l.starts_with("activate")).count(), containers);
        assert_eq!(ran.most.1, limit, "jobs {jobs}: {:#?}", ran.log);
    }
}

#[test]
fn builds_take_at_most_jobs_slots_and_use_them_all() {
    let spec = wide(9);
    let fake = Fake { builds: Some(Gate::new(4, 10)), ..Fake::default() };
    let ran = run_on(&spec, DEPLOY, rules(4), Vec::new(), fake);
    assert!(ran.summary.nodes.iter().all(|r| r.outcome == Outcome::Activated), "{:?}", ran.outcomes());
    assert_eq!(ran.most.0, 4, "{:#?}", ran.log);
}

#[test]
fn an_independent_node_is_activated_while_another_still_builds() {
    // d's build ends only once c is activated: the run must not wait for
    // every build before it activates anything.
    let fake = Fake { build_after: HashMap::from([("d".into(), "c".into())]), ..Fake::default() };
    let ran = deploy(CHAIN, fake);
    assert_eq!(ran.outcomes(), ["h=activated", "a=activated", "d=activated", "b=activated", "c=activated"]);
    assert!(ran.at("activate c") < ran.at("build d"), "{:#?}", ran.log);
}

#[test]
fn builds_on_the_target_wait_for_its_lock_and_push_nothing() {
    let rules = Rules { build_on_target: true, ..rules(8) };
    let ran = run_on(CHAIN, DEPLOY, rules, Vec::new(), Fake::default());
    assert!(ran.summary.nodes.iter().all(|r| r.outcome == Outcome::Activated), "{:?}", ran.outcomes());
    assert!(ran.at("probe h") < ran.at("build a in h"), "{:#?}", ran.log);
    assert!(!ran.has("push"), "{:#?}", ran.log);
}

#[test]
fn a_dry_run_diffs_each_node_and_neither_locks_nor_changes_anything() {
    let flow = Flow { build: true, lock: false, probe: Some(Probe::Brief), finale: Finale::Diff };
    let mut old = current(CHAIN);
    old.remove("b");
    let ran = run_on(CHAIN, flow, rules(8), Vec::new(), Fake { old, ..Fake::default() });
    assert_eq!(
        ran.outcomes(),
        ["h=unchanged", "a=unchanged", "d=unchanged", "b=would activate", "c=unchanged"]
    );
    assert!(ran.has("diff b on h: None -> new-b"), "{:#?}", ran.log);
    assert!(!ran.has("lock") && !ran.has("push") && !ran.has("activate"), "{:#?}", ran.log);
}

#[test]
fn a_status_compares_known_systems_and_builds_nothing() {
    let flow = Flow { build: false, lock: false, probe: Some(Probe::Full), finale: Finale::Status };
    // In activation order: h, a, d, b, c.
    let known =
        vec![Some(Fake::new_system("h")), None, None, Some("other-b".into()), Some(Fake::new_system("c"))];
    let ran = run_on(CHAIN, flow, rules(8), known, Fake { old: current(CHAIN), ..Fake::default() });
    assert_eq!(
        ran.outcomes(),
        ["h=unchanged", "a=would activate", "d=would activate", "b=would activate", "c=unchanged"]
    );
    assert!(ran.log.iter().all(|l| l.starts_with("probe")), "{:#?}", ran.log);
}

#[test]
fn a_build_runs_no_stage_on_a_target() {
    let flow = Flow { build: true, lock: false, probe: None, finale: Finale::Built };
    let ran = run_on(CHAIN, flow, rules(8), Vec::new(), Fake::default());
    assert!(ran.summary.nodes.iter().all(|r| r.outcome == Outcome::Built), "{:?}", ran.outcomes());
    assert!(
        ran.log.iter().all(|l| l.starts_with("batch ") || l.starts_with("build") && l.ends_with("in here")),
        "{:#?}",
        ran.log
    );
}

#[test]
fn a_rollback_activates_the_generation_before_the_current_and_builds_nothing() {
    let flow = Flow { build: false, lock: true, probe: Some(Probe::Full), finale: Finale::Activate };
    let spec = "h:host a:container:h b:container:h";
    let generations = HashMap::from([
        ("h".to_string(), vec![(1, "h-1".to_string()), (2, "h-2".to_string())]),
        ("a".to_string(), vec![(4, "a-4".to_string()), (5, "a-5".to_string())]),
        ("b".to_string(), vec![(1, "b-1".to_string())]),
    ]);
    let old =
        HashMap::from([("h".into(), "h-2".into()), ("a".into(), "a-5".into()), ("b".into(), "b-1".into())]);
    let ran = run_on(spec, flow, rules(8), Vec::new(), Fake { old, generations, ..Fake::default() });
    assert_eq!(ran.outcomes()[..2], ["h=activated", "a=activated"]);
    assert!(ran.reason("b").starts_with("probe "), "b has no earlier generation: {}", ran.reason("b"));
    assert!(
        ran.has("switch h to h-1 generation 1") && ran.has("switch a to a-4 generation 4"),
        "{:#?}",
        ran.log
    );
    assert!(!ran.has("build") && !ran.has("push"), "{:#?}", ran.log);
}

#[test]
fn a_node_may_wait_for_a_node_of_another_host() {
    let spec = "h:host a:container:h g:host b:container:g:a";
    let ran = deploy(spec, Fake::default());
    assert_eq!(ran.outcomes(), ["h=activated", "g=activated", "a=activated", "b=activated"]);
    assert!(ran.at("activate a") < ran.at("activate b"), "{:#?}", ran.log);
    let ran = deploy(spec, Fake { failed_builds: HashSet::from(["a".into()]), ..Fake::default() });
    assert_eq!(ran.outcomes(), ["h=activated", "g=activated", "a=failed", "b=skipped"]);
}

/// A run of `nodes` containers on one host, the `i`th needing the one
/// before when `chained`, from graph data to summary. A scheduler whose
/// events cost more than their own nodes would make these runs quadratic:
/// that is a benchmark's to measure, not a test's to time.
fn large(nodes: usize, chained: bool) -> Ran {
    let mut spec = "h:host".to_string();
    for i in 1..=nodes {
        match (chained, i) {
            (true, 2..) => spec.push_str(&format!(" c{i}:container:h:c{}", i - 1)),
            _ => spec.push_str(&format!(" c{i}:container:h")),
        }
    }
    let ran = run_on(&spec, DEPLOY, rules(8), Vec::new(), Fake::default());
    assert!(ran.summary.nodes.iter().all(|r| r.outcome == Outcome::Activated));
    ran
}

#[test]
fn three_thousand_containers_on_one_host_are_deployed() {
    let ran = large(3_000, false);
    assert_eq!(ran.log.iter().filter(|l| l.starts_with("activate")).count(), 3_001);
}

#[test]
fn a_chain_of_twenty_thousand_is_activated_in_its_order() {
    let ran = large(20_000, true);
    let order: Vec<&String> = ran.log.iter().filter(|l| l.starts_with("activate")).collect();
    assert_eq!(order.len(), 20_001);
    assert!(order.windows(2).all(|w| {
        let n = |line: &str| line.trim_start_matches("activate c").parse::<usize>().unwrap_or(0);
        n(w[0]) + 1 == n(w[1])
    }));
}
