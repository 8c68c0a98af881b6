//! `bench deploy`: the orchestrator against the lower bound, per size and
//! scenario, on testbed hosts; a table, the cost per added container, and the
//! growth plot.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use camino::Utf8PathBuf;
use fleet_cli::CliError;
use fleet_testbed::{DeployBench, DeployTool, Measured, Shape, TESTBED_PROGRAMS};

use super::plot::{svg, Series};
use super::{mib, ms, prepare, secs, this_program, Machine, Stats};

/// Seconds each container's build sleeps.
const BUILD_SECONDS: u32 = 1;

/// Seconds the slow build sleeps with `--mixed`.
const SLOW_BUILD_SECONDS: u32 = 20;

/// What `bench deploy` was asked to measure.
pub(super) struct Options {
    /// Timed runs per tool and scenario.
    pub runs: usize,
    /// Containers per host, one measurement each.
    pub sizes: Vec<usize>,
    /// Testbed hosts.
    pub hosts: usize,
    /// Nodes that cost what a NixOS system costs to evaluate.
    pub eval_heavy: bool,
    /// Every change committed (a clean tree).
    pub committed: bool,
    /// One slow build among quick ones.
    pub mixed: bool,
    /// `fleet deploy --jobs`, if given.
    pub jobs: Option<usize>,
    /// The targets' sessions skip root's `~/.bashrc`.
    pub skip_bashrc: bool,
    /// Where the growth plot goes.
    pub plot: Utf8PathBuf,
}

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

/// Every timed deploy of one size.
struct SizeResults {
    /// Containers per host.
    containers: usize,
    hosts: usize,
    /// The nodes the slow build holds back (`--mixed`).
    held: Vec<String>,
    runs: BTreeMap<(Scenario, DeployTool), Vec<Measured>>,
}

impl SizeResults {
    fn total(&self) -> usize {
        self.containers * self.hosts
    }

    /// The median of `figure` over `tool`'s runs of `scenario`, if any run
    /// has it.
    fn median(
        &self,
        scenario: Scenario,
        tool: DeployTool,
        figure: impl Fn(&Measured) -> Option<Duration>,
    ) -> Option<Duration> {
        let values: Vec<Duration> = self.runs.get(&(scenario, tool))?.iter().filter_map(figure).collect();
        (!values.is_empty()).then(|| Stats::of(&values).median)
    }

    fn wall(&self, scenario: Scenario, tool: DeployTool) -> Option<Duration> {
        self.median(scenario, tool, |m| Some(m.wall))
    }

    /// When the first and the last host was done (its last activation), medians.
    fn hosts_done(&self, scenario: Scenario, tool: DeployTool) -> Option<(Duration, Duration)> {
        let hosts = self.hosts;
        let first = self.median(scenario, tool, |m| m.hosts_done(hosts).into_iter().flatten().min())?;
        let last = self.median(scenario, tool, |m| m.hosts_done(hosts).into_iter().flatten().max())?;
        Some((first, last))
    }

    /// When the last node the slow build does not hold back was activated.
    fn others_done(&self, scenario: Scenario, tool: DeployTool) -> Option<Duration> {
        self.median(scenario, tool, |m| {
            m.activated.iter().filter(|(_, _, node)| !self.held.contains(node)).map(|(at, _, _)| *at).max()
        })
    }
}

/// The deploy benchmark (see `cargo xtask help bench`).
pub(super) fn run(options: &Options) -> Result<(), CliError> {
    let root = prepare("deploy", TESTBED_PROGRAMS)?;
    let fleet = this_program()?;
    // Versions never seen before by this machine's store, even across
    // invocations: every cold deploy really builds.
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let started = Instant::now();
    let mut results = Vec::with_capacity(options.sizes.len());
    for &containers in &options.sizes {
        let dir = root.join(format!("size-{containers}"));
        let result = deploy_size(&dir, containers, options, fleet.as_std_path(), &format!("{nonce:x}"));
        results.push(super::tidy_up(&dir, result)?);
    }
    let _ = std::fs::remove_dir_all(&root);
    print(&results, options, started.elapsed());
    let plot = growth_plot(&results, options);
    std::fs::write(&options.plot, plot).map_err(|e| {
        CliError::Config(format!("the growth plot could not be written to {}: {e}", options.plot))
    })?;
    eprintln!("bench: wrote the growth plot to {}", options.plot);
    Ok(())
}

/// Every scenario and tool at one size, on its own testbeds.
fn deploy_size(
    dir: &camino::Utf8Path,
    containers: usize,
    options: &Options,
    fleet: &std::path::Path,
    nonce: &str,
) -> Result<SizeResults, CliError> {
    let failed =
        |e: fleet_testbed::TestbedError| CliError::Config(format!("the deploy benchmark did not run: {e}"));
    eprintln!("bench: {} x {containers} containers: starting testbeds in {dir}", options.hosts);
    let shape = Shape {
        hosts: options.hosts,
        containers,
        build_seconds: BUILD_SECONDS,
        slow_build: options.mixed.then_some(SLOW_BUILD_SECONDS),
        eval_heavy: options.eval_heavy,
        committed: options.committed,
        skip_bashrc: options.skip_bashrc,
    };
    let mut bench = DeployBench::start(dir, &shape).map_err(failed)?;
    // An untimed first deploy puts the shared base packages on the targets
    // and starts every container, so that every timed deploy finds the same
    // kind of target: running containers, base packages present.
    bench.set_all_versions(&format!("{nonce}-seed")).map_err(failed)?;
    bench.deploy(DeployTool::LowerBound, fleet, &[]).map_err(failed)?;

    let fleet_args: Vec<String> =
        options.jobs.map(|jobs| vec!["--jobs".to_string(), jobs.to_string()]).unwrap_or_default();
    // A container of the first host, half way down its list.
    let changed = bench.nodes()[1 + containers / 2].clone();
    let mut results = SizeResults {
        containers,
        hosts: options.hosts,
        held: bench.held_by_slow_build(),
        runs: BTreeMap::new(),
    };
    for run in 0..options.runs {
        // Each run starts with a different tool, so none always goes first.
        let mut tools = DeployTool::ALL;
        tools.rotate_left(run % DeployTool::ALL.len());
        for tool in tools {
            for scenario in Scenario::ALL {
                let version = format!("{nonce}-{}-{run}", tool.slug());
                match scenario {
                    Scenario::Cold => bench.set_all_versions(&version),
                    Scenario::NoOp => Ok(()),
                    Scenario::OneChanged => bench.set_version(&changed, &format!("{version}-one")),
                }
                .map_err(failed)?;
                let measured = bench.deploy(tool, fleet, &fleet_args).map_err(failed)?;
                eprintln!(
                    "bench: {} x {containers}, run {}/{}, {}, {}: {} ({} activations{})",
                    options.hosts,
                    run + 1,
                    options.runs,
                    tool_name(tool),
                    scenario.name(),
                    secs(measured.wall),
                    measured.activated.len(),
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

fn tool_name(tool: DeployTool) -> &'static str {
    match tool {
        DeployTool::Fleet => "fleet deploy",
        DeployTool::LowerBound => "lower bound",
    }
}

fn print(results: &[SizeResults], options: &Options, total: Duration) {
    let machine = Machine::read();
    println!(
        "Deploy: {} testbed host{} (each its own /nix and real sshd on loopback, real nix copy), \
         each with N containers; every container's build sleeps {BUILD_SECONDS} s{}; every fifth \
         container depends on the one before; all share base packages; nodes {} to evaluate; the \
         fixture's tree {}; the targets' SSH sessions {} root's ~/.bashrc; fleet deploy with {}.",
        options.hosts,
        if options.hosts == 1 { "" } else { "s" },
        if options.mixed {
            format!(" (the first host's first container's {SLOW_BUILD_SECONDS} s)")
        } else {
            String::new()
        },
        if options.eval_heavy { "cost about 0.5 s and 200 MB each" } else { "cost next to nothing" },
        if options.committed { "committed before each deploy" } else { "has uncommitted changes" },
        if options.skip_bashrc { "skip" } else { "run" },
        options.jobs.map_or("its defaults".to_string(), |jobs| format!("--jobs {jobs}")),
    );
    println!("{}", machine.line());
    println!("Runs: {} per scenario and tool; whole benchmark {}.", options.runs, secs(total));
    println!(
        "Columns: median wall time of each tool and their ratio; activations per deploy (fleet / \
         bound); the orchestrator's own CPU time (all its threads, not the nix and ssh processes it \
         starts; 10 ms ticks) and its peak resident memory (VmHWM, the largest of the runs); when \
         the first and the last host had its last activation (fleet, then bound){}.\n",
        if options.mixed {
            "; when the last node the slow build does not hold back was activated (fleet / bound)"
        } else {
            ""
        }
    );
    println!(
        "| containers | scenario | fleet | bound | fleet / bound | activations | own CPU | peak memory \
         | hosts done, fleet | hosts done, bound |{}",
        if options.mixed { " others done |" } else { "" }
    );
    println!(
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if options.mixed { "---:|" } else { "" }
    );
    for r in results {
        for scenario in Scenario::ALL {
            let (Some(fleet), Some(bound)) =
                (r.wall(scenario, DeployTool::Fleet), r.wall(scenario, DeployTool::LowerBound))
            else {
                continue;
            };
            let activations = |tool| r.runs[&(scenario, tool)][0].activated.len();
            let runs = &r.runs[&(scenario, DeployTool::Fleet)];
            let cpu = r.median(scenario, DeployTool::Fleet, |m| m.usage.map(|u| u.cpu));
            let peak = runs.iter().filter_map(|m| m.usage.map(|u| u.peak_rss)).max();
            let done = |tool| {
                r.hosts_done(scenario, tool).map_or("-".into(), |(first, last)| match r.hosts {
                    1 => secs(last),
                    _ => format!("{}-{}", secs(first), secs(last)),
                })
            };
            let others = |tool| r.others_done(scenario, tool).map_or("-".into(), secs);
            println!(
                "| {} | {} | {} | {} | {:.2}x | {} / {} | {} | {} | {} | {} |{}",
                containers_label(r),
                scenario.name(),
                secs(fleet),
                secs(bound),
                ratio(fleet, bound),
                activations(DeployTool::Fleet),
                activations(DeployTool::LowerBound),
                cpu.map_or("?".into(), cpu_ms),
                peak.map_or("?".into(), mib),
                done(DeployTool::Fleet),
                done(DeployTool::LowerBound),
                if options.mixed {
                    format!(" {} / {} |", others(DeployTool::Fleet), others(DeployTool::LowerBound))
                } else {
                    String::new()
                },
            );
        }
    }
    if results.len() >= 2 {
        println!("\nCost per added container (least squares over the sizes):");
        for scenario in Scenario::ALL {
            let slope = |tool| per_container(results, scenario, tool).map_or("-".into(), ms);
            println!(
                "- {}: fleet {}, bound {}",
                scenario.name(),
                slope(DeployTool::Fleet),
                slope(DeployTool::LowerBound)
            );
        }
    }
}

/// `N` on one host, `H x N = T` on several.
fn containers_label(r: &SizeResults) -> String {
    match r.hosts {
        1 => r.containers.to_string(),
        hosts => format!("{hosts} x {} = {}", r.containers, r.total()),
    }
}

/// The slope of the median wall time against the total container count.
fn per_container(results: &[SizeResults], scenario: Scenario, tool: DeployTool) -> Option<Duration> {
    let points: Vec<(f64, f64)> = results
        .iter()
        .filter_map(|r| Some((r.total() as f64, r.wall(scenario, tool)?.as_secs_f64())))
        .collect();
    let n = points.len() as f64;
    let (mean_x, mean_y) =
        (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let spread: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || spread == 0.0 {
        return None;
    }
    let slope = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum::<f64>() / spread;
    Some(Duration::from_secs_f64(slope.max(0.0)))
}

/// Wall time against containers, cold and no-op, for both tools.
fn growth_plot(results: &[SizeResults], options: &Options) -> String {
    let line = |scenario: Scenario, tool: DeployTool, colour, dashed| Series {
        name: format!("{} {}", if tool == DeployTool::Fleet { "fleet" } else { "bound" }, scenario.name()),
        colour,
        dashed,
        points: results
            .iter()
            .filter_map(|r| Some((r.total() as f64, r.wall(scenario, tool)?.as_secs_f64())))
            .collect(),
    };
    let series = [
        line(Scenario::Cold, DeployTool::Fleet, "#c0392b", false),
        line(Scenario::Cold, DeployTool::LowerBound, "#c0392b", true),
        line(Scenario::NoOp, DeployTool::Fleet, "#2471a3", false),
        line(Scenario::NoOp, DeployTool::LowerBound, "#2471a3", true),
    ];
    let title = format!(
        "fleet deploy against the lower bound, {} host{}",
        options.hosts,
        if options.hosts == 1 { "" } else { "s" }
    );
    svg(&title, "containers", "wall time (s)", &series)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
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
