//! `bench`: benchmarks that time this project against the tools it stands in for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use camino::Utf8PathBuf;
use fleet_testbed::{ensure_programs, DeployBench, DeployTool, Measured, Testbed, TESTBED_PROGRAMS};

use crate::closure_pair::{diff_closures, nix_version, ClosurePair, MIN_PAIR_PATHS};

use fleet_cli::{Args, Failure};

/// Runs `bench`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    let runs = count(&mut args, "--runs", 1)?;
    let paths = count(&mut args, "--paths", MIN_PAIR_PATHS)?;
    let sizes = args.value("--sizes")?;
    let keep_bashrc = args.flag("--keep-bashrc");
    let mixed = args.flag("--mixed");
    let benchmarks = args.positional();
    args.finish()?;
    let only = |option: &str, bench: &str| Failure::Usage(format!("{option} goes with `bench {bench}` only"));
    match benchmarks.as_slice() {
        [name] if name == "diff" => match (sizes, keep_bashrc) {
            (Some(_), _) => Err(only("--sizes", "deploy")),
            (_, true) => Err(only("--keep-bashrc", "deploy")),
            (None, false) => diff(runs.unwrap_or(5), paths.unwrap_or(2000)),
        },
        [name] if name == "deploy" && mixed => match (paths, sizes, runs, keep_bashrc) {
            (None, None, None, false) => crate::bench_mixed::run(),
            _ => Err(Failure::Usage(
                "`bench deploy --mixed` runs one scenario once; it takes no other option".into(),
            )),
        },
        [_] if mixed => Err(only("--mixed", "deploy")),
        [name] if name == "deploy" => match paths {
            Some(_) => Err(only("--paths", "diff")),
            None => {
                let sizes = parse_sizes(sizes.as_deref().unwrap_or("4,20,100"))?;
                deploy(runs.unwrap_or(3), &sizes, !keep_bashrc)
            }
        },
        [name] if name == "eval" => match (paths, keep_bashrc, runs) {
            (Some(_), _, _) => Err(only("--paths", "diff")),
            (_, true, _) => Err(only("--keep-bashrc", "deploy")),
            (_, _, Some(_)) => {
                Err(Failure::Usage("`bench eval` runs each measurement once; it takes no --runs".into()))
            }
            (None, false, None) => {
                crate::bench_eval::run(&parse_sizes(sizes.as_deref().unwrap_or("20,100"))?)
            }
        },
        [] => Err(Failure::Usage("bench needs a benchmark; the benchmarks are: diff, deploy, eval".into())),
        [name] => {
            Err(Failure::Usage(format!("unknown benchmark `{name}`; the benchmarks are: diff, deploy, eval")))
        }
        _ => Err(Failure::Usage("bench runs one benchmark at a time".into())),
    }
}

/// `--sizes 4,20,100`: container counts, each at least 1.
fn parse_sizes(text: &str) -> Result<Vec<usize>, Failure> {
    text.split(',')
        .map(|size| match size.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Failure::Usage(format!(
                "--sizes takes container counts of at least 1, separated by commas, not `{text}`"
            ))),
        })
        .collect()
}

/// Takes `--name N`: a whole number of at least `min`, if given.
fn count(args: &mut Args, name: &str, min: usize) -> Result<Option<usize>, Failure> {
    match args.value(name)? {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(Failure::Usage(format!("{name} takes a whole number of at least {min}, not `{text}`"))),
        },
    }
}

/// The diff benchmark: `fleet diff OLD NEW` against `nix store diff-closures`.
fn diff(runs: usize, paths: usize) -> Result<(), Failure> {
    ensure_programs(&[("nix", "nix-bin")], true, &mut |line| eprintln!("bench: {line}"))
        .map_err(|e| Failure::Config(e.to_string()))?;
    let dir = Utf8PathBuf::from_path_buf(
        std::env::temp_dir().join(format!("fleet-bench-diff-{}", std::process::id())),
    )
    .map_err(|_| Failure::Config("use the temporary folder: not a UTF-8 path".into()))?;
    eprintln!("bench: building two closures of {paths} store paths each (in {dir})");
    let pair = ClosurePair::build(&dir, paths);
    // The folder holds only the Nix expression; the closures stay in the store.
    let _ = std::fs::remove_dir_all(&dir);
    let pair = pair?;

    let nix = Testbed::nix();
    let ours = || -> Result<usize, Failure> {
        let diff = fleet_cli::local_diff(&nix, &pair.old, &pair.new)?;
        // Everything `diff OLD NEW` does but writing to stdout.
        let text = fleet_cli::local_text(&pair.old, &pair.new, &diff, false, false);
        std::hint::black_box(text);
        Ok(diff.packages.len())
    };
    let theirs = || -> Result<usize, Failure> {
        let text = diff_closures(&pair.old, &pair.new)?;
        Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
    };

    eprintln!("bench: {runs} timed runs per tool after one warm-up run each");
    // The warm-up fills the page cache and the store database's cache for both
    // tools, and says how many packages each reports.
    let our_packages = ours()?;
    let their_packages = theirs()?;
    let mut our_times = Vec::with_capacity(runs);
    let mut their_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        our_times.push(time(&ours)?);
        their_times.push(time(&theirs)?);
    }

    let machine = Machine::read();
    let d = &pair.design;
    let ours = Stats::of(&our_times);
    let theirs = Stats::of(&their_times);
    println!(
        "Closure pair: {} -> {} store paths, {} packages; by design {} version bumps \
         ({} up, {} down), {} added, {} removed, and the toplevel.",
        d.paths,
        d.paths,
        d.packages,
        d.up + d.down,
        d.up,
        d.down,
        d.added,
        d.removed
    );
    println!("{}", machine.line());
    println!("Runs: {runs} timed per tool after one warm-up each, alternating.\n");
    println!("| tool | median | min | max | packages reported |");
    println!("|---|---:|---:|---:|---:|");
    for (tool, stats, packages) in [
        ("`fleet diff OLD NEW`", &ours, our_packages),
        ("`nix store diff-closures OLD NEW`", &theirs, their_packages),
    ] {
        println!("| {tool} | {} | {} | {} | {packages} |", ms(stats.median), ms(stats.min), ms(stats.max));
    }
    println!(
        "\nRatio (diff-closures median / fleet diff median): {:.2}x",
        theirs.median.as_secs_f64() / ours.median.as_secs_f64().max(f64::EPSILON)
    );
    if our_packages != d.changed_packages() || their_packages != d.changed_packages() {
        eprintln!(
            "bench: warning: expected {} changed packages; fleet diff reported {our_packages}, \
             diff-closures {their_packages}",
            d.changed_packages()
        );
    }
    Ok(())
}

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
fn deploy(runs: usize, sizes: &[usize], skip_bashrc: bool) -> Result<(), Failure> {
    ensure_programs(TESTBED_PROGRAMS, true, &mut |line| eprintln!("bench: {line}"))
        .map_err(|e| Failure::Config(e.to_string()))?;
    // This binary hands `deploy` to the same code as the `fleet` binary.
    let fleet = std::env::current_exe()
        .map_err(|e| Failure::Config(format!("find the fleet binary (this program): {e}")))?;
    let root = Utf8PathBuf::from_path_buf(
        std::env::temp_dir().join(format!("fleet-bench-deploy-{}", std::process::id())),
    )
    .map_err(|_| Failure::Config("use the temporary folder: not a UTF-8 path".into()))?;
    // Versions never seen before by this machine's store, even across
    // invocations: every cold deploy really builds.
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let started = Instant::now();
    let mut results = Vec::with_capacity(sizes.len());
    for &containers in sizes {
        let dir = root.join(format!("size-{containers}"));
        let result = deploy_size(&dir, containers, runs, &fleet, &format!("{nonce:x}"), skip_bashrc);
        match result {
            Ok(r) => {
                let _ = std::fs::remove_dir_all(&dir);
                results.push(r);
            }
            Err(e) => {
                eprintln!("bench: kept {dir} (logs in {dir}/logs)");
                return Err(e);
            }
        }
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
) -> Result<SizeResults, Failure> {
    let failed = |e: fleet_testbed::TestbedError| Failure::Config(format!("run the deploy benchmark: {e}"));
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
    print_targets(results);
}

/// The acceptance targets of issue 6, against the sizes that were run.
fn print_targets(results: &[SizeResults]) {
    let mut lines = Vec::new();
    let verdict = |holds: bool| if holds { "holds" } else { "does NOT hold" };
    if let Some(r) = results.iter().find(|r| r.containers == 20) {
        for (scenario, target) in [(Scenario::Cold, 8.0), (Scenario::NoOp, 15.0), (Scenario::OneChanged, 8.0)]
        {
            if let Some(x) = r.speedup(scenario, DeployTool::Fleet) {
                lines.push(format!(
                    "20 containers, {}: {x:.1}x faster than the baseline (target: at least {target}x): {}",
                    scenario.name(),
                    verdict(x >= target)
                ));
            }
        }
        if let Some(x) = r.of_lower_bound(Scenario::Cold, DeployTool::Fleet) {
            lines.push(format!(
                "20 containers, cold: {x:.2}x the lower bound (target: at most 1.5x): {}",
                verdict(x <= 1.5)
            ));
        }
    }
    if let Some(r) = results.iter().find(|r| r.containers == 100) {
        let worst = Scenario::ALL
            .iter()
            .filter_map(|&s| Some((s, r.fleet_cpu(s)? / r.nodes() as u32)))
            .max_by_key(|(_, c)| *c);
        if let Some((scenario, per_node)) = worst {
            lines.push(format!(
                "100 containers: own CPU time per node {} (the largest, {}; target: under 20 ms): {}",
                ms(per_node),
                scenario.name(),
                verdict(per_node < Duration::from_millis(20))
            ));
        }
        if let Some(peak) = Scenario::ALL.iter().filter_map(|&s| r.fleet_peak(s)).max() {
            lines.push(format!(
                "100 containers: peak memory {} (target: under 100 MiB): {}",
                mib(peak),
                verdict(peak < 100 * 1024 * 1024)
            ));
        }
    }
    if !lines.is_empty() {
        println!("\nAcceptance targets of issue 6:");
        for line in lines {
            println!("- {line}");
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

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn time(run: &dyn Fn() -> Result<usize, Failure>) -> Result<Duration, Failure> {
    let start = Instant::now();
    run()?;
    Ok(start.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median, min and max of some timings.
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    /// Needs at least one timing (`--runs` is at least 1).
    fn of(times: &[Duration]) -> Stats {
        let mut sorted = times.to_vec();
        sorted.sort();
        // The middle one, or the mean of the middle two.
        let n = sorted.len();
        let median = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2;
        Stats { median, min: sorted[0], max: sorted[sorted.len() - 1] }
    }
}

/// The line that says what the numbers were measured on.
pub(crate) fn machine_line() -> String {
    Machine::read().line()
}

/// What the numbers were measured on.
struct Machine {
    cores: usize,
    cpu: String,
    nix: String,
}

impl Machine {
    /// `Machine: N cores (CPU), ARCH, nix VERSION; xtask built with the P profile.`
    fn line(&self) -> String {
        format!(
            "Machine: {} cores ({}), {}, {}; xtask built with the {} profile.",
            self.cores,
            self.cpu,
            std::env::consts::ARCH,
            self.nix,
            if cfg!(debug_assertions) { "dev" } else { "release" },
        )
    }

    fn read() -> Machine {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let nix = nix_version().unwrap_or_else(|_| "nix (version unknown)".into());
        Machine { cores, cpu, nix }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = |v: &[u64]| -> Vec<Duration> { v.iter().map(|&m| Duration::from_millis(m)).collect() };
        let s = Stats::of(&ms(&[30, 10, 20]));
        assert_eq!(
            (s.median, s.min, s.max),
            (Duration::from_millis(20), Duration::from_millis(10), Duration::from_millis(30))
        );
        assert_eq!(Stats::of(&ms(&[40, 10, 20, 30])).median, Duration::from_millis(25));
    }
}
