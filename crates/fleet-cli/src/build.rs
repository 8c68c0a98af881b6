//! `build`: build the selected nodes' closures and print their store paths.

use std::collections::BTreeMap;

use fleet_deploy::{Kinds, Mode, Plan};
use fleet_nix::Nix;

use crate::args::Args;
use crate::exit::Failure;
use crate::source::{SourceArgs, OPTIONS_HELP};

const HELP: &str = "\
Build the selected nodes' system closures in parallel with `nix build`

Usage: {prog} build [--host NAME]... [--container NAME]... [--jobs N] [--flake REF] [--graph FILE]

Prints `NODE STORE-PATH` on stdout for every node built; progress goes to stderr.

Options:
  --host NAME        Build only this host and its containers (repeatable)
  --container NAME   Build only this container (repeatable; default: every node)
  --jobs N           Builds to run at once (default: 8)
";

/// Runs `build`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let hosts = args.values("--host")?;
    let containers = args.values("--container")?;
    let jobs = jobs(&mut args)?;
    let source = SourceArgs::take(&mut args)?;
    args.finish()?;
    let source = source.resolve()?;
    let nix = Nix::new();
    let fleet = source.load(&nix)?;
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &hosts, &containers, &source.flake)
        .map_err(|e| Failure::Config(e.to_string()))?
        .with_jobs(jobs);
    let summary = plan.run(&nix, Mode::Build, &BTreeMap::new(), fleet_report::for_stderr().as_ref());
    for report in &summary.nodes {
        if let Some(path) = &report.new {
            println!("{} {path}", report.node);
        }
    }
    if summary.success() {
        Ok(())
    } else {
        eprint!("\n{}", fleet_report::summary_table(&summary));
        Err(Failure::NodesFailed)
    }
}

/// Reads `--jobs N` (default 8).
pub(crate) fn jobs(args: &mut Args) -> Result<usize, Failure> {
    match args.value("--jobs")? {
        None => Ok(8),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Failure::Usage(format!("--jobs takes a positive number, not `{text}`"))),
        },
    }
}
