//! `bench deploy`: the orchestrator against the sequential baseline and the
//! lower bound, per size and scenario, on a testbed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleet_cli::CliError;
use fleet_testbed::{DeployBench, DeployTool, Measured, TESTBED_PROGRAMS};

use super::{mib, ms, prepare, secs, this_program, Machine, Stats};

/// Seconds each container's build sleeps in the deploy benchmark.
const BUILD_SECONDS: u32 = 1;

/// Above this many containers the deploy baseline runs once: one run of it
/// takes minutes there.
const BASELINE_FULL_RUNS_UP_TO: usize = 20;

/// A deploy benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// Every node at a new version: everything builds, is pushed and activated.
    Cold,
    /// Right after a deploy, nothing changed.
    NoOp,
    /// One container at a new version.
    OneChanged,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Cold, Scenario::NoOp, Scenario::OneChanged];

    fn name(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::NoOp => "no-op",
            Scenario::OneChanged => "one changed",
        }
    }
}

fn tool_name(tool: DeployTool) -> &'static str {
    match tool {
        DeployTool::Fleet => "fleet deploy",
        DeployTool::Sequential => "baseline",
        DeployTool::LowerBound => "lower bound",
    }
}

/// Every timed deploy of one size.
struct SizeResults {
    containers: usize,
    baseline_runs: usize,
    runs: BTreeMap<(Scenario, DeployTool), Vec<Measured>>,
}

impl SizeResults {
    fn nodes(&self) -> usize {
        self.containers + 1
    }

    fn wall(&self, scenario: Scenario, tool: DeployTool) -> Option<Stats> {
        let runs = self.runs.get(&(scenario, tool))?;
        Some(Stats::of(&runs.iter().map(|m| m.wall).collect::<Vec<_>>()))
    }

    /// Baseline median over `tool`'s median.
    fn speedup(&self, scenario: Scenario, tool: DeployTool) -> Option<f64> {
        let baseline = self.wall(scenario, DeployTool::Sequential)?.median;
        Some(ratio(baseline, self.wall(scenario, tool)?.median))
    }

    /// `tool`'s median over the lower bound's.
    fn of_lower_bound(&self, scenario: Scenario, tool: DeployTool) -> Option<f64> {
        let lower = self.wall(scenario, DeployTool::LowerBound)?.median;
        Some(ratio(self.wall(scenario, tool)?.median, lower))
    }

    /// The orchestrator's median own CPU time in `scenario`.
    fn fleet_cpu(&self, scenario: Scenario) -> Option<Duration> {
        let runs = self.runs.get(&(scenario, DeployTool::Fleet))?;
        let cpu: Vec<Duration> = runs.iter().filter_map(|m| m.usage.map(|u| u.cpu)).collect();
        (!cpu.is_empty()).then(|| Stats::of(&cpu).median)
    }

    /// The orchestrator's largest peak memory in `scenario`, in bytes.
    fn fleet_peak(&self, scenario: Scenario) -> Option<u64> {
        self.runs
            .get(&(scenario, DeployTool::Fleet))?
            .iter()
            .filter_map(|m| m.usage.map(|u| u.peak_rss))
            .max()
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}

/// The deploy benchmark: the orchestrator against the sequential baseline and
/// the lower bound, per size and scenario.
pub(super) fn run(runs: usize, sizes: &[usize], skip_bashrc: bool) -> Result<(), CliError> {
    let root = prepare("deploy", TESTBED_PROGRAMS)?;
    let fleet = this_program()?;
    // Versions never seen before by this machine's store, even across
    // invocations: every cold deploy really builds.
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let started = Instant::now();
    let mut results = Vec::with_capacity(sizes.len());
    for &containers in sizes {
        let dir = root.join(format!("size-{containers}"));
        let result =
            deploy_size(&dir, containers, runs, fleet.as_std_path(), &format!("{nonce:x}"), skip_bashrc);
        results.push(super::tidy_up(&dir, result)?);
    }
    let _ = std::fs::remove_dir_all(&root);
    print_deploy(&results, runs, skip_bashrc, started.elapsed());
    Ok(())
}

/// Every scenario and tool at one size, on one testbed.
fn deploy_size(
    dir: &camino::Utf8Path,
    containers: usize,
    runs: usize,
    fleet: &std::path::Path,
    nonce: &str,
    skip_bashrc: bool,
) -> Result<SizeResults, CliError> {
    let failed = |e: fleet_testbed::TestbedError| CliError::Config(format!("run the deploy benchmark: {e}"));
    eprintln!("bench: {containers} containers: starting a testbed in {dir}");
    let mut bench = DeployBench::start(dir, containers, BUILD_SECONDS, skip_bashrc).map_err(failed)?;
    // An untimed first deploy puts the shared base packages on the target and
    // starts every container, so that every timed deploy finds the same kind
    // of target: running containers, base packages present.
    bench.set_all_versions(&format!("{nonce}-seed")).map_err(failed)?;
    bench.deploy(DeployTool::LowerBound, fleet).map_err(failed)?;

    let baseline_runs = if containers > BASELINE_FULL_RUNS_UP_TO { 1 } else { runs };
    let changed = bench.nodes()[bench.nodes().len().div_ceil(2)].clone();
    let mut results = SizeResults { containers, baseline_runs, runs: BTreeMap::new() };
    for run in 0..runs {
        // Each run starts with a different tool, so none always goes first.
        let mut tools = DeployTool::ALL;
        tools.rotate_left(run % DeployTool::ALL.len());
        for tool in tools {
            if tool == DeployTool::Sequential && run >= baseline_runs {
                continue;
            }
            for scenario in Scenario::ALL {
                let version = format!("{nonce}-{}-{run}", tool.slug());
                match scenario {
                    Scenario::Cold => bench.set_all_versions(&version),
                    Scenario::NoOp => Ok(()),
                    Scenario::OneChanged => bench.set_version(&changed, &format!("{version}-one")),
                }
                .map_err(failed)?;
                let measured = bench.deploy(tool, fleet).map_err(failed)?;
                eprintln!(
                    "bench: {containers} containers, run {}/{runs}, {}, {}: {} ({} activations{})",
                    run + 1,
                    tool_name(tool),
                    scenario.name(),
                    secs(measured.wall),
                    measured.activations,
                    measured
                        .usage
                        .map(|u| format!("; own CPU {}, peak {}", cpu_ms(u.cpu), mib(u.peak_rss)))
                        .unwrap_or_default(),
                );
                results.runs.entry((scenario, tool)).or_default().push(measured);
            }
        }
    }
    Ok(results)
}

fn print_deploy(results: &[SizeResults], runs: usize, skip_bashrc: bool, total: Duration) {
    let machine = Machine::read();
    println!(
        "Deploy: a host and N containers on a testbed (its own /nix, real sshd on loopback, \
         real nix copy); every container's build sleeps {BUILD_SECONDS} s; every fifth container \
         depends on the one before; all share base packages; the target's SSH sessions {} \
         root's ~/.bashrc.",
        if skip_bashrc { "skip" } else { "run" }
    );
    println!("{}", machine.line());
    let once: Vec<String> =
        results.iter().filter(|r| r.baseline_runs < runs).map(|r| r.containers.to_string()).collect();
    println!(
        "Runs: {runs} per scenario and tool{}; whole benchmark {}.",
        if once.is_empty() {
            String::new()
        } else {
            format!(" (the baseline once at {} containers)", once.join(", "))
        },
        secs(total)
    );
    println!(
        "Columns: wall time median (min-max); speed-up = baseline median / median; \
         of lower bound = median / lower-bound median; activations per deploy; the \
         orchestrator's own CPU time (median; all its threads, not the nix and ssh processes \
         it starts; counted in 10 ms ticks) and that divided by the node count; its peak \
         resident memory (VmHWM, the largest of the runs)."
    );
    for r in results {
        println!("\n#### {} containers ({} nodes)\n", r.containers, r.nodes());
        println!(
            "| scenario | tool | median | min-max | speed-up | of lower bound | activations \
             | own CPU | CPU per node | peak memory |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for scenario in Scenario::ALL {
            for tool in DeployTool::ALL {
                let Some(wall) = r.wall(scenario, tool) else { continue };
                let activations = r.runs[&(scenario, tool)][0].activations;
                let (cpu, per_node, peak) = match tool {
                    DeployTool::Fleet => (
                        r.fleet_cpu(scenario).map_or("?".into(), cpu_ms),
                        r.fleet_cpu(scenario).map_or("?".into(), |c| per_node_ms(c, r.nodes())),
                        r.fleet_peak(scenario).map_or("?".into(), mib),
                    ),
                    _ => ("".into(), "".into(), "".into()),
                };
                println!(
                    "| {} | {} | {} | {}-{} | {} | {} | {activations} | {cpu} | {per_node} | {peak} |",
                    scenario.name(),
                    tool_name(tool),
                    secs(wall.median),
                    secs(wall.min),
                    secs(wall.max),
                    r.speedup(scenario, tool).map_or("".into(), |x| format!("{x:.1}x")),
                    r.of_lower_bound(scenario, tool).map_or("".into(), |x| format!("{x:.2}x")),
                );
            }
        }
    }
}

/// The kernel counts CPU time in ticks of 10 ms: zero means less than one.
const CPU_TICK: Duration = Duration::from_millis(10);

fn cpu_ms(cpu: Duration) -> String {
    if cpu.is_zero() {
        format!("< {}", ms(CPU_TICK))
    } else {
        ms(cpu)
    }
}

fn per_node_ms(cpu: Duration, nodes: usize) -> String {
    let nodes = nodes.max(1) as u32;
    if cpu.is_zero() {
        format!("< {}", ms(CPU_TICK / nodes))
    } else {
        ms(cpu / nodes)
    }
}
