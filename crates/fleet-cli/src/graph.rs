//! `graph`: the nodes in activation order, or Graphviz.

use fleet_deploy::{Kinds, Plan};
use fleet_nix::Nix;

use crate::args::Args;
use crate::exit::Failure;
use crate::source::{SourceArgs, OPTIONS_HELP};

const HELP: &str = "\
Print the fleet's nodes in activation order, with their dependencies

Usage: {prog} graph [--dot] [--flake REF] [--graph FILE]

Options:
  --dot          Print Graphviz dot instead (edges point from a dependency to its dependent)
";

/// Runs `graph`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let dot = args.flag("--dot");
    let source = SourceArgs::take(&mut args)?;
    args.finish()?;
    let source = source.resolve()?;
    let fleet = source.load(&Nix::new())?;
    let kinds = Kinds::standard();
    let plan =
        Plan::new(&fleet, &kinds, &[], &[], &source.flake).map_err(|e| Failure::Config(e.to_string()))?;
    if dot {
        print!("{}", fleet.to_dot());
        return Ok(());
    }
    let width = fleet.nodes().iter().map(|n| n.name.len()).max().unwrap_or(4).max(4);
    println!("{:<4}  {:<width$}  {:<9}  DEPENDS ON", "WAVE", "NODE", "KIND");
    for (wave, nodes) in fleet.waves(plan.selection()).iter().enumerate() {
        for node in nodes {
            let deps = fleet.dependencies(&node.name);
            let deps = if deps.is_empty() { "-".to_string() } else { deps.join(", ") };
            println!("{wave:<4}  {:<width$}  {:<9}  {deps}", node.name, node.kind);
        }
    }
    Ok(())
}
