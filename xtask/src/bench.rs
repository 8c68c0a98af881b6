//! `bench`: benchmarks that time this project against the tools it stands in for:
//! `bench diff` (`bench/diff.rs`) and `bench deploy` (`bench/deploy.rs`), with
//! the timing and the machine line they share.

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use fleet_testbed::ensure_programs;

use crate::closure_pair::{nix_version, MIN_PAIR_PATHS};

use fleet_cli::{Args, CliError};

mod deploy;
mod diff;
mod plot;

/// Runs `bench`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let runs = count(&mut args, "--runs", 1)?;
    let paths = count(&mut args, "--paths", MIN_PAIR_PATHS)?;
    let sizes = args.value("--sizes")?;
    let hosts = count(&mut args, "--hosts", 1)?;
    let jobs = count(&mut args, "--jobs", 1)?;
    let plot = args.value("--plot")?;
    let eval_heavy = args.flag("--eval-heavy");
    let committed = args.flag("--committed");
    let mixed = args.flag("--mixed");
    let keep_bashrc = args.flag("--keep-bashrc");
    let benchmarks = args.positional();
    args.finish()?;
    let deploy_only = [
        ("--sizes", sizes.is_some()),
        ("--hosts", hosts.is_some()),
        ("--jobs", jobs.is_some()),
        ("--plot", plot.is_some()),
        ("--eval-heavy", eval_heavy),
        ("--committed", committed),
        ("--mixed", mixed),
        ("--keep-bashrc", keep_bashrc),
    ];
    let only =
        |option: &str, bench: &str| CliError::Usage(format!("{option} goes with `bench {bench}` only"));
    match benchmarks.as_slice() {
        [name] if name == "diff" => match deploy_only.iter().find(|(_, given)| *given) {
            Some((option, _)) => Err(only(option, "deploy")),
            None => diff::run(runs.unwrap_or(5), paths.unwrap_or(2000)),
        },
        [name] if name == "deploy" => match paths {
            Some(_) => Err(only("--paths", "diff")),
            None => deploy::run(&deploy::Options {
                runs: runs.unwrap_or(1),
                sizes: parse_sizes(sizes.as_deref().unwrap_or("20,100"))?,
                hosts: hosts.unwrap_or(1),
                eval_heavy,
                committed,
                mixed,
                jobs,
                skip_bashrc: !keep_bashrc,
                plot: Utf8PathBuf::from(plot.as_deref().unwrap_or("deploy-growth.svg")),
            }),
        },
        [] => Err(CliError::Usage("bench needs a benchmark; the benchmarks are: diff, deploy".into())),
        [name] => {
            Err(CliError::Usage(format!("unknown benchmark `{name}`; the benchmarks are: diff, deploy")))
        }
        _ => Err(CliError::Usage("bench runs one benchmark at a time".into())),
    }
}

/// What a benchmark needs before it starts: `programs` (installed where that is
/// possible), and the path of a folder of its own in the temporary folder.
fn prepare(benchmark: &str, programs: &[(&'static str, &'static str)]) -> Result<Utf8PathBuf, CliError> {
    ensure_programs(programs, true, &mut |line| eprintln!("bench: {line}"))
        .map_err(|e| CliError::Config(e.to_string()))?;
    Utf8PathBuf::from_path_buf(
        std::env::temp_dir().join(format!("fleet-bench-{benchmark}-{}", std::process::id())),
    )
    .map_err(|_| {
        CliError::Config("the temporary folder is not a UTF-8 path; set TMPDIR to one that is".into())
    })
}

/// Removes `dir` after a measurement that succeeded; keeps it, and says so,
/// after one that failed, for its logs.
fn tidy_up<T>(dir: &camino::Utf8Path, result: Result<T, CliError>) -> Result<T, CliError> {
    match &result {
        Ok(_) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Err(_) => eprintln!("bench: kept {dir} (logs in {dir}/logs)"),
    }
    result
}

/// This program, which hands `deploy` to the same code as the `fleet` binary.
fn this_program() -> Result<Utf8PathBuf, CliError> {
    let path = std::env::current_exe()
        .map_err(|e| CliError::Config(format!("the fleet binary (this program) cannot be found: {e}")))?;
    Utf8PathBuf::from_path_buf(path)
        .map_err(|_| CliError::Config("the path of the fleet binary (this program) is not UTF-8".into()))
}

/// `--sizes 20,100`: container counts, each at least 1.
fn parse_sizes(text: &str) -> Result<Vec<usize>, CliError> {
    text.split(',')
        .map(|size| match size.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(CliError::Usage(format!(
                "--sizes takes container counts of at least 1, separated by commas, not `{text}`"
            ))),
        })
        .collect()
}

/// Takes `--name N`: a whole number of at least `min`, if given.
fn count(args: &mut Args, name: &str, min: usize) -> Result<Option<usize>, CliError> {
    match args.value(name)? {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(CliError::Usage(format!("{name} takes a whole number of at least {min}, not `{text}`"))),
        },
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn time(run: &dyn Fn() -> Result<usize, CliError>) -> Result<Duration, CliError> {
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
