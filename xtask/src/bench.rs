//! `bench`: benchmarks that time this project against the tools it stands in for.

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use fleet_testbed::{diff_closures, ensure_programs, ClosurePair, Testbed, MIN_PAIR_PATHS};

use crate::args::Args;
use crate::exit::Failure;

const HELP: &str = "\
Time this project against the tools it stands in for

Usage: cargo xtask bench diff [--runs N] [--paths N]

Benchmarks:
  diff   Build two closures of N store paths each (realistic names and versions,
         builtins derivations, no nixpkgs; the new one bumps about 10% of the
         packages, adds 2% and removes 2%), then time on that pair
         `fleet diff OLD NEW` (both `nix path-info --json --recursive` calls, the
         diff and its text, as `cargo xtask diff OLD NEW` runs them) against
         `nix store diff-closures OLD NEW`: one warm-up run each, then N timed
         runs each, alternating. Prints a Markdown table: median, min and max per
         tool, the ratio of the medians, the path counts and the machine.

Options:
  --runs N    Timed runs per tool (default: 5)
  --paths N   Store paths per closure (default: 2000, at least 20)

Installs nix-bin with apt-get when it is missing and this is Debian as root.
";

/// Runs `bench`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, HELP) {
        return Ok(());
    }
    let runs = count(&mut args, "--runs", 5, 1)?;
    let paths = count(&mut args, "--paths", 2000, MIN_PAIR_PATHS)?;
    let benchmarks = args.positional();
    args.finish()?;
    match benchmarks.as_slice() {
        [name] if name == "diff" => diff(runs, paths),
        [] => Err(Failure::Usage("bench needs a benchmark; the benchmarks are: diff".into())),
        [name] => Err(Failure::Usage(format!("unknown benchmark `{name}`; the benchmarks are: diff"))),
        _ => Err(Failure::Usage("bench runs one benchmark at a time".into())),
    }
}

/// Takes `--name N`: a whole number of at least `min`, `default` when absent.
fn count(args: &mut Args, name: &str, default: usize, min: usize) -> Result<usize, Failure> {
    match args.value(name)? {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
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
    let pair = pair.map_err(|e| Failure::Config(format!("build the closure pair: {e}")))?;

    let nix = Testbed::nix();
    let ours = || -> Result<usize, Failure> {
        let diff = crate::diff::local_diff(&nix, &pair.old, &pair.new)?;
        // Everything `diff OLD NEW` does but writing to stdout.
        let text = crate::diff::local_text(&pair.old, &pair.new, &diff, false, false);
        std::hint::black_box(text);
        Ok(diff.packages.len())
    };
    let theirs = || -> Result<usize, Failure> {
        let text = diff_closures(&pair.old, &pair.new)
            .map_err(|e| Failure::Config(format!("time nix store diff-closures: {e}")))?;
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
    println!(
        "Machine: {} cores ({}), {}, {}; xtask built with the {} profile.",
        machine.cores,
        machine.cpu,
        std::env::consts::ARCH,
        machine.nix,
        if cfg!(debug_assertions) { "dev" } else { "release" },
    );
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

/// What the numbers were measured on.
struct Machine {
    cores: usize,
    cpu: String,
    nix: String,
}

impl Machine {
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
        let nix = fleet_testbed::nix_version().unwrap_or_else(|e| format!("nix (unknown: {e})"));
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
