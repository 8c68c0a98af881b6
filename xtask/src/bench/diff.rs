//! `bench diff`: `fleet diff OLD NEW` against `nix store diff-closures` on a
//! generated closure pair.

use fleet_cli::CliError;
use fleet_testbed::Testbed;

use super::{ms, prepare, time, Machine, Stats};
use crate::closure_pair::{diff_closures, ClosurePair};

/// The diff benchmark: `fleet diff OLD NEW` against `nix store diff-closures`.
pub(super) fn run(runs: usize, paths: usize) -> Result<(), CliError> {
    let dir = prepare("diff", &[("nix", "nix-bin")])?;
    eprintln!("bench: building two closures of {paths} store paths each (in {dir})");
    let pair = ClosurePair::build(&dir, paths);
    // The folder holds only the Nix expression; the closures stay in the store.
    let _ = std::fs::remove_dir_all(&dir);
    let pair = pair?;

    let nix = Testbed::nix();
    let ours = || -> Result<usize, CliError> {
        let diff = fleet_cli::local_diff(&nix, &pair.old, &pair.new)?;
        // Everything `diff OLD NEW` does but writing to stdout.
        let text = fleet_cli::local_text(&pair.old, &pair.new, &diff, false, false);
        std::hint::black_box(text);
        Ok(diff.packages.len())
    };
    let theirs = || -> Result<usize, CliError> {
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
