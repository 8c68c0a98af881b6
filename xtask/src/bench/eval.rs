//! `bench eval`: evaluation at the cost of real NixOS systems. A fixture whose
//! every node costs about 1 s and 400 MB to evaluate, measured four ways per
//! size: one `nix eval` of every node (how the orchestrator evaluated before
//! its pool), the pool with one worker (serial), the pool with its default
//! workers and a memory budget, and a no-op deploy of the unchanged content
//! against the no-op deploy of a fixture that costs nothing to evaluate.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use camino::{Utf8Path, Utf8PathBuf};
use fleet_cli::CliError;
use fleet_testbed::{Fixture, Testbed, EVAL_COST_ONE_SECOND, FIXTURE_HOST, TESTBED_PROGRAMS};

use super::{mib, prepare, secs, this_program, Machine};

/// How often the evaluating processes' memory is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// No-op deploys timed per fixture; the median counts.
const NOOP_RUNS: usize = 5;

/// Each pool worker's share of the memory budget.
const SHARE_MIB: u64 = 512;

/// The single-process evaluation runs only while it would hold less than this
/// share of the machine's memory.
const SINGLE_PROCESS_MEMORY_SHARE: f64 = 0.6;

/// One measured run: its wall time, when its last node was evaluated, and the
/// most memory its `nix eval` processes held together.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    evaluation: Duration,
    peak_eval_rss: u64,
}

/// What one size measured.
struct SizeResult {
    containers: usize,
    single: Option<Run>,
    single_skipped_bytes: u64,
    serial: Run,
    pool: Run,
    workers: usize,
    budget: u64,
    noop_heavy: Duration,
    noop_trivial: Duration,
}

/// Runs `bench eval` for each container count in `sizes`.
pub(super) fn run(sizes: &[usize]) -> Result<(), CliError> {
    let root = prepare("eval", TESTBED_PROGRAMS)?;
    let fleet = this_program()?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut results = Vec::new();
    for &containers in sizes {
        eprintln!("bench: {containers} containers, each about 1 s and 400 MB to evaluate");
        let result = size(&fleet, &root.join(containers.to_string()), containers, workers);
        let _ = fs::remove_dir_all(root.join(containers.to_string()));
        results.push(result?);
    }
    let _ = fs::remove_dir_all(&root);
    print(&results);
    Ok(())
}

fn failed(step: &str) -> impl Fn(fleet_testbed::TestbedError) -> CliError + '_ {
    move |e| CliError::Config(format!("{step}: {e}"))
}

fn size(fleet: &Utf8Path, dir: &Utf8Path, containers: usize, workers: usize) -> Result<SizeResult, CliError> {
    let testbed = Testbed::start(&dir.join("target")).map_err(failed("start the testbed"))?;
    let names: Vec<String> = (1..=containers).map(|i| format!("ct-{i:03}")).collect();
    let spec: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let mut fixture = Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec)
        .map_err(failed("write the fixture"))?;
    // `BENCH_EVAL_DIRTY=1`: the fixture as an uncommitted change to a git
    // tree (committed before its versions and costs are set), as while
    // someone edits it.
    let dirty = std::env::var_os("BENCH_EVAL_DIRTY").is_some_and(|v| v == "1");
    let git_flake = if dirty { Some(fixture.commit().map_err(failed("commit the fixture"))?) } else { None };
    let nodes: Vec<&str> = std::iter::once(FIXTURE_HOST).chain(names.iter().map(String::as_str)).collect();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for node in &nodes {
        fixture.set_version(node, &format!("heavy-{nanos}")).map_err(failed("set a version"))?;
        fixture.set_eval_cost(node, EVAL_COST_ONE_SECOND).map_err(failed("set an evaluation cost"))?;
    }
    let flake = git_flake.unwrap_or_else(|| fixture.flake_ref());
    let ssh = testbed.ssh_options().join(" ");

    let one_process_bytes = nodes.len() as u64 * 400 * 1024 * 1024;
    let single = if (one_process_bytes as f64) < SINGLE_PROCESS_MEMORY_SHARE * total_memory() as f64 {
        eprintln!("bench: one nix eval of every node");
        Some(single_process(&flake, &nodes)?)
    } else {
        None
    };
    eprintln!("bench: the pool with one worker");
    let serial = measure(
        fleet,
        &["build", "--json-events", "--eval-workers", "1", "--flake", &flake],
        &dir.join("cache-serial"),
    )?;
    let budget = workers as u64 * SHARE_MIB * 1024 * 1024;
    eprintln!("bench: the pool with {workers} workers and {} MiB", budget >> 20);
    let pool = measure(
        fleet,
        &[
            "build",
            "--json-events",
            "--eval-workers",
            &workers.to_string(),
            "--eval-memory",
            &format!("{}M", budget >> 20),
            "--flake",
            &flake,
        ],
        &dir.join("cache-pool"),
    )?;

    let deploy = ["deploy", "--flake", &flake, "--ssh-option", &ssh, "--jobs", "8"];
    eprintln!("bench: a deploy, then a no-op deploy of the same content");
    measure(fleet, &deploy, &dir.join("cache-deploy"))?;
    let noop_heavy = median_noop(fleet, &deploy, &dir.join("cache-deploy"))?;
    for node in &nodes {
        fixture.set_version(node, &format!("trivial-{nanos}")).map_err(failed("set a version"))?;
        fixture.set_eval_cost(node, 0).map_err(failed("set an evaluation cost"))?;
    }
    eprintln!("bench: the same with a fixture that costs nothing to evaluate");
    measure(fleet, &deploy, &dir.join("cache-trivial"))?;
    let noop_trivial = median_noop(fleet, &deploy, &dir.join("cache-trivial"))?;
    Ok(SizeResult {
        containers,
        single,
        single_skipped_bytes: one_process_bytes,
        serial,
        pool,
        workers,
        budget,
        noop_heavy,
        noop_trivial,
    })
}

/// The median wall time of `NOOP_RUNS` runs of a deploy that changes nothing.
fn median_noop(fleet: &Utf8Path, deploy: &[&str], cache: &Utf8Path) -> Result<Duration, CliError> {
    let mut walls = (0..NOOP_RUNS)
        .map(|_| measure(fleet, deploy, cache).map(|run| run.wall))
        .collect::<Result<Vec<_>, _>>()?;
    walls.sort();
    Ok(walls[walls.len() / 2])
}

/// `nix eval` of every node's derivation in one process, as the orchestrator
/// did before (`builtins.getFlake`, `--impure`).
fn single_process(flake: &str, nodes: &[&str]) -> Result<Run, CliError> {
    let drvs: Vec<String> = nodes
        .iter()
        .map(|n| format!("flake.nixosConfigurations.\"{n}\".config.system.build.toplevel.drvPath"))
        .collect();
    let expr = format!("let flake = builtins.getFlake \"{flake}\"; in [ {} ]", drvs.join(" "));
    let mut command = Command::new("nix");
    command.args([
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        "--impure",
        "--expr",
        &expr,
    ]);
    let (run, _) = sampled(&mut command, None)?;
    Ok(Run { evaluation: run.wall, ..run })
}

/// Runs this program with `args`, a fresh evaluation cache folder unless it
/// exists, and returns its wall time, when its last `evaluated` event came
/// (with `--json-events`), and its evaluating processes' peak memory.
fn measure(fleet: &Utf8Path, args: &[&str], cache: &Utf8Path) -> Result<Run, CliError> {
    let mut command = Command::new(fleet);
    command.args(args).env("XDG_CACHE_HOME", cache);
    let (run, stdout) = sampled(&mut command, Some(cache))?;
    let last_evaluated = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "evaluated")
        .filter_map(|event| event["elapsed_seconds"].as_f64())
        .fold(0.0, f64::max);
    Ok(Run { evaluation: Duration::from_secs_f64(last_evaluated), ..run })
}

/// Runs `command` (with the project's Nix configuration) to its end, reading
/// every 10 ms the resident memory of its `nix eval` processes (itself
/// included, if it is one); fails unless it succeeds.
fn sampled(command: &mut Command, log_dir: Option<&Utf8Path>) -> Result<(Run, String), CliError> {
    let shown = format!("{command:?}");
    let out_dir = log_dir
        .map(Utf8Path::to_path_buf)
        .unwrap_or_else(|| Utf8PathBuf::from(std::env::temp_dir().to_string_lossy().into_owned()));
    fs::create_dir_all(&out_dir).map_err(|e| CliError::Config(format!("create {out_dir}: {e}")))?;
    let stdout_path = out_dir.join(format!("stdout-{}", std::process::id()));
    let stdout =
        fs::File::create(&stdout_path).map_err(|e| CliError::Config(format!("create {stdout_path}: {e}")))?;
    let started = Instant::now();
    let mut child = command
        .envs(fleet_testbed::nix_env())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::Config(format!("start {shown}: {e}")))?;
    let mut peak = 0;
    let status = loop {
        peak = peak.max(eval_memory(child.id()));
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(SAMPLE_EVERY),
            Err(e) => return Err(CliError::Config(format!("wait for {shown}: {e}"))),
        }
    };
    let wall = started.elapsed();
    let text = fs::read_to_string(&stdout_path).unwrap_or_default();
    let _ = fs::remove_file(&stdout_path);
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(CliError::Config(format!("run {shown}: {status}\n{}", tail.join("\n"))));
    }
    Ok((Run { wall, evaluation: Duration::ZERO, peak_eval_rss: peak }, text))
}

/// The resident memory of every evaluating `nix` process in the tree below
/// (and including) `root`, in bytes.
fn eval_memory(root: u32) -> u64 {
    std::iter::once(root)
        .chain(fleet_testbed::descendants(root))
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            // `nix eval`, or a batch's `nix build --dry-run` of installables.
            let evaluates = argv.contains(&&b"eval"[..])
                || (argv.contains(&&b"--dry-run"[..]) && argv.iter().any(|a| a.contains(&b'#')));
            argv.first().is_some_and(|a| a.ends_with(b"nix")) && evaluates
        })
        .filter_map(|pid| fleet_testbed::status_kib(pid, "VmRSS"))
        .map(|kib| kib * 1024)
        .sum()
}

/// This machine's memory in bytes (`MemTotal`).
fn total_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn print(results: &[SizeResult]) {
    println!("{}", Machine::read().line());
    println!("Each node costs about 1 s and 400 MB to evaluate (`Fixture::set_eval_cost`, {EVAL_COST_ONE_SECOND} strings).\n");
    println!("| containers | evaluation | wall | evaluated by | peak memory of nix eval |");
    println!("|---:|---|---:|---:|---:|");
    for r in results {
        match &r.single {
            Some(run) => println!(
                "| {} | one `nix eval` of every node (before) | {} | {} | {} |",
                r.containers,
                secs(run.wall),
                secs(run.evaluation),
                mib(run.peak_eval_rss)
            ),
            None => println!(
                "| {} | one `nix eval` of every node (before) | not run: it would hold about {} | | |",
                r.containers,
                mib(r.single_skipped_bytes)
            ),
        }
        println!(
            "| {} | pool, 1 worker | {} | {} | {} |",
            r.containers,
            secs(r.serial.wall),
            secs(r.serial.evaluation),
            mib(r.serial.peak_eval_rss)
        );
        println!(
            "| {} | pool, {} workers, budget {} | {} | {} | {} |",
            r.containers,
            r.workers,
            mib(r.budget),
            secs(r.pool.wall),
            secs(r.pool.evaluation),
            mib(r.pool.peak_eval_rss)
        );
    }
    println!("\n| containers | no-op deploy, unchanged content (median of {NOOP_RUNS}) | no-op deploy, trivial fixture (median of {NOOP_RUNS}) | ratio |");
    println!("|---:|---:|---:|---:|");
    for r in results {
        let ratio = r.noop_heavy.as_secs_f64() / r.noop_trivial.as_secs_f64().max(f64::EPSILON);
        println!("| {} | {} | {} | {ratio:.2}x |", r.containers, secs(r.noop_heavy), secs(r.noop_trivial));
    }
    println!("\nRatios:");
    for r in results {
        let within_budget = r.pool.peak_eval_rss <= r.budget;
        let bound = r.serial.evaluation.as_secs_f64() / r.workers as f64;
        let speed = r.pool.evaluation.as_secs_f64() / bound.max(f64::EPSILON);
        let noop = r.noop_heavy.as_secs_f64() / r.noop_trivial.as_secs_f64().max(f64::EPSILON);
        println!(
            "- {} containers: peak {} of a {} budget ({}); evaluation {:.2}x of serial / workers; \
             no-op {noop:.2}x of the trivial no-op",
            r.containers,
            mib(r.pool.peak_eval_rss),
            mib(r.budget),
            if within_budget { "within" } else { "OVER" },
            speed,
        );
    }
}
