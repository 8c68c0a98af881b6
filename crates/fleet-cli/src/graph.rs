//! `graph`: the nodes in activation order, or Graphviz.

use fleet_deploy::{Kinds, Plan};
use fleet_nix::Nix;

use crate::args::Args;
use crate::exit::Failure;
use crate::source::SourceArgs;

/// Runs `graph`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    let dot = args.flag("--dot");
    let names = args.flag("--names");
    if dot && names {
        return Err(Failure::Usage("--dot and --names exclude each other".into()));
    }
    let source = SourceArgs::take(&mut args)?;
    args.finish()?;
    let source = source.resolve()?;
    let fleet = source.load(&Nix::new())?;
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &[], &[], &source.flake).map_err(crate::deploy::plan_failure)?;
    if dot {
        return crate::output::print(&fleet.to_dot());
    }
    if names {
        let lines: String = fleet
            .nodes()
            .iter()
            .map(|n| format!("{}\n", [vec![n.name.as_str(), n.kind.as_str()], n.tags()].concat().join(" ")))
            .collect();
        return crate::output::print(&lines);
    }
    let width = fleet.nodes().iter().map(|n| n.name.len()).max().unwrap_or(4).max(4);
    let mut text = format!("{:<4}  {:<width$}  {:<9}  DEPENDS ON\n", "WAVE", "NODE", "KIND");
    for (wave, nodes) in fleet.waves(plan.selection()).iter().enumerate() {
        for node in nodes {
            let deps = fleet.dependencies(&node.name);
            let deps = if deps.is_empty() { "-".to_string() } else { deps.join(", ") };
            text.push_str(&format!("{wave:<4}  {:<width$}  {:<9}  {deps}\n", node.name, node.kind));
        }
    }
    crate::output::print(&text)
}
