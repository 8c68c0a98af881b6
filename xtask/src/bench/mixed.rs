//! `bench deploy --mixed`: does every node move on as soon as what it needs is
//! done? A host and 20 containers whose builds take 1 s, but one takes 20 s;
//! one container depends on the slow one, and three form a chain of their
//! own. Each node's activation time is set against its own bound, and the
//! whole deploy against the critical path.
//!
//! A node's bound is when its build ended (as the run observed it) or when the
//! last node it depends on was activated, whichever is later, plus the cost of
//! one copy and activation, measured alone beforehand. So the bound charges a
//! node for its own build and its dependencies, never for another node's
//! build. The critical path is the longest chain of such bounds.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use camino::Utf8Path;
use fleet_cli::CliError;
use fleet_testbed::{skip_bashrc, Fixture, Testbed, TestbedError, FIXTURE_HOST, TESTBED_PROGRAMS};
use serde_json::Value;

use super::{prepare, this_program, tidy_up, Machine};

/// The slow container, and how long its build takes.
const SLOW: (&str, u32) = ("ct-01", 20);
/// How long every other container's build takes.
const QUICK_SECONDS: u32 = 1;
/// How many containers.
const CONTAINERS: usize = 20;
/// Targets: each quick container within this factor of its bound...
const NODE_FACTOR: f64 = 1.5;
/// ...and the deploy within this factor of the critical path.
const TOTAL_FACTOR: f64 = 1.2;

/// Container names and what each depends on: ct-02 on the slow ct-01, and the
/// chain ct-18 -> ct-19 -> ct-20.
fn shape() -> Vec<(String, Vec<String>)> {
    (1..=CONTAINERS)
        .map(|i| {
            let deps = match i {
                2 | 19 | 20 => vec![format!("ct-{:02}", i - 1)],
                _ => Vec::new(),
            };
            (format!("ct-{i:02}"), deps)
        })
        .collect()
}

/// Runs the benchmark and prints its figures.
pub(super) fn run() -> Result<(), CliError> {
    let dir = prepare("mixed", TESTBED_PROGRAMS)?;
    let fleet = this_program()?;
    eprintln!("bench: mixed builds: starting a testbed in {dir}");
    let result = tidy_up(&dir, measure(&dir, fleet.as_std_path()));
    print(&result?);
    Ok(())
}

/// What one node did in the measured deploy, in seconds from its start.
struct NodeTimes {
    name: String,
    deps: Vec<String>,
    build_seconds: u32,
    built_at: f64,
    activated_at: f64,
    outcome: String,
}

/// The measured deploy.
struct Results {
    nodes: Vec<NodeTimes>,
    /// One copy and activation, alone.
    step: f64,
    total: f64,
    machine: String,
}

fn measure(dir: &Utf8Path, fleet: &std::path::Path) -> Result<Results, CliError> {
    let testbed = Testbed::start(&dir.join("target")).map_err(from_testbed)?;
    skip_bashrc(&testbed).map_err(from_testbed)?;
    let shape = shape();
    let spec: Vec<(&str, Vec<&str>)> =
        shape.iter().map(|(name, deps)| (name.as_str(), deps.iter().map(String::as_str).collect())).collect();
    let spec: Vec<(&str, &[&str])> = spec.iter().map(|(name, deps)| (*name, deps.as_slice())).collect();
    let mut fixture =
        Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec).map_err(from_testbed)?;
    let build_seconds = |name: &str| {
        if name == SLOW.0 {
            SLOW.1
        } else if name == FIXTURE_HOST {
            0
        } else {
            QUICK_SECONDS
        }
    };
    for (name, _) in &shape {
        fixture.set_build_seconds(name, build_seconds(name)).map_err(from_testbed)?;
    }
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let names: Vec<&str> =
        std::iter::once(FIXTURE_HOST).chain(shape.iter().map(|(n, _)| n.as_str())).collect();
    let mut runs = 0;
    let mut deploy = |fixture: &Fixture| {
        runs += 1;
        let jobs = ["--jobs".to_string(), (CONTAINERS + 1).to_string()];
        deploy_events(dir, runs, fleet, fixture, &testbed, &jobs, &[])
    };

    // Seed: base packages on the target, every container running.
    for name in &names {
        fixture.set_version(name, &format!("{nonce:x}-seed")).map_err(from_testbed)?;
    }
    deploy(&fixture)?;
    // One independent container alone: the cost of a copy and an activation.
    let alone = "ct-03";
    fixture.set_version(alone, &format!("{nonce:x}-alone")).map_err(from_testbed)?;
    let events = deploy(&fixture)?;
    let step = times(&events, alone).map(|(built, activated, _)| activated - built).ok_or_else(|| {
        failure("calibrate the benchmark", format!("no build and activation of {alone} in the events"))
    })?;
    // Measured: every container at a new version.
    for (name, _) in &shape {
        fixture.set_version(name, &format!("{nonce:x}-mixed")).map_err(from_testbed)?;
    }
    let started = Instant::now();
    let events = deploy(&fixture)?;
    let total = started.elapsed().as_secs_f64();
    let mut nodes = Vec::new();
    for name in &names {
        let (built_at, activated_at, outcome) = times(&events, name).ok_or_else(|| {
            failure("read the measured deploy", format!("no build and finish of {name} in the events"))
        })?;
        let deps = match *name {
            FIXTURE_HOST => Vec::new(),
            _ => std::iter::once(FIXTURE_HOST.to_string())
                .chain(shape.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()).unwrap_or_default())
                .collect(),
        };
        nodes.push(NodeTimes {
            name: name.to_string(),
            deps,
            build_seconds: build_seconds(name),
            built_at,
            activated_at,
            outcome,
        });
    }
    Ok(Results { nodes, step, total, machine: Machine::read().line() })
}

/// One `fleet deploy --json-events` of the fixture as it is now,
/// with `extra` arguments and `env`; its events. Logs go in `dir/logs`.
pub(super) fn deploy_events(
    dir: &Utf8Path,
    run: usize,
    fleet: &std::path::Path,
    fixture: &Fixture,
    testbed: &Testbed,
    extra: &[String],
    env: &[(&str, &str)],
) -> Result<Vec<Value>, CliError> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| failure(format!("create {logs}"), e))?;
    let log = logs.join(format!("{run:02}-fleet.log"));
    let err = std::fs::File::create(&log).map_err(|e| failure(format!("create {log}"), e))?;
    let out = Command::new(fleet)
        .args(["deploy", "--json-events", "--flake", &fixture.flake_ref(), "--ssh-option"])
        .arg(testbed.ssh_options().join(" "))
        .args(extra)
        .envs(fleet_testbed::nix_env())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(err)
        .output()
        .map_err(|e| failure("start fleet deploy", e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::write(logs.join(format!("{run:02}-events.jsonl")), stdout.as_bytes());
    if !out.status.success() {
        return Err(failure("fleet deploy", format!("exited with {}; see {log}", out.status)));
    }
    Ok(stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}

/// When `node`'s system was built (or, for one with nothing to build, when
/// its probe ended), when it finished, and how.
fn times(events: &[Value], node: &str) -> Option<(f64, f64, String)> {
    let finished = events.iter().find(|e| e["event"] == "finished" && e["report"]["node"] == node)?;
    let activated_at = finished["elapsed_seconds"].as_f64()?;
    let built = events.iter().find(|e| e["event"] == "system-built" && e["node"] == node)?;
    let built_at = built["elapsed_seconds"].as_f64()?;
    let outcome = finished["report"]["outcome"].as_str().unwrap_or("?").to_string();
    Some((built_at, activated_at, outcome))
}

fn print(results: &Results) {
    let by_name: BTreeMap<&str, &NodeTimes> = results.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    // Bounds in activation order: a node's dependencies come before it.
    let mut bound: BTreeMap<&str, f64> = BTreeMap::new();
    let mut critical: BTreeMap<&str, f64> = BTreeMap::new();
    for node in &results.nodes {
        let after = |of: &BTreeMap<&str, f64>, actual: bool| {
            node.deps
                .iter()
                .map(|d| if actual { by_name[d.as_str()].activated_at } else { of[d.as_str()] })
                .fold(node.built_at, f64::max)
        };
        bound.insert(&node.name, after(&bound, true) + results.step);
        critical.insert(&node.name, after(&critical, false) + results.step);
    }
    let critical_path = critical.values().copied().fold(0.0, f64::max);
    println!(
        "## Mixed builds: {CONTAINERS} containers, {} builds in {}s, the rest in {QUICK_SECONDS}s\n",
        SLOW.0, SLOW.1
    );
    println!(
        "One copy and activation alone: {:.2}s. Bound: max(built at, dependencies activated at) + that.\n",
        results.step
    );
    println!("| node | depends on | build | built at | bound | activated at | of bound | outcome |");
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    let mut worst: f64 = 0.0;
    for node in &results.nodes {
        let ratio = node.activated_at / bound[node.name.as_str()];
        if node.build_seconds == QUICK_SECONDS {
            worst = worst.max(ratio);
        }
        println!(
            "| {} | {} | {}s | {:.2}s | {:.2}s | {:.2}s | {:.2}x | {} |",
            node.name,
            if node.deps.is_empty() { "-".to_string() } else { node.deps.join(", ") },
            node.build_seconds,
            node.built_at,
            bound[node.name.as_str()],
            node.activated_at,
            ratio,
            node.outcome
        );
    }
    let total_ratio = results.total / critical_path;
    println!();
    println!(
        "- every {QUICK_SECONDS}-second container within {NODE_FACTOR}x its bound: worst {worst:.2}x ({})",
        verdict(worst <= NODE_FACTOR)
    );
    println!(
        "- the deploy, {:.2}s, within {TOTAL_FACTOR}x the critical path, {critical_path:.2}s: {total_ratio:.2}x ({})",
        results.total,
        verdict(total_ratio <= TOTAL_FACTOR)
    );
    println!("- machine: {}", results.machine);
}

pub(super) fn failure(step: impl std::fmt::Display, reason: impl std::fmt::Display) -> CliError {
    CliError::Config(format!("run the mixed-build benchmark: {step}: {reason}"))
}

/// The testbed's errors, as this benchmark's.
pub(super) fn from_testbed(error: TestbedError) -> CliError {
    CliError::Config(format!("run the mixed-build benchmark: {error}"))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}
