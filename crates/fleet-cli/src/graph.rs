//! `graph`: the nodes in activation order, or Graphviz.

use fleet_deploy::{Kinds, Plan};
use fleet_nix::Nix;

use crate::exit::CliError;
use crate::options::Options;
use crate::source::SourceArgs;

/// Runs `graph`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    let (dot, names, json) = (options.dot, options.names, options.json);
    if [dot, names, json].iter().filter(|on| **on).count() > 1 {
        return Err(CliError::Usage("--dot, --names and --json exclude each other".into()));
    }
    let source = SourceArgs::of(&options).resolve()?;
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
    if json {
        return crate::output::print(&format!("{}\n", graph_json(&fleet, plan.selection())));
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

/// The graph as one JSON document: `{"version": 1, "nodes": [{"name",
/// "kind", "host", "depends_on", "tags", "wave"}]}`, in activation order;
/// `host` is null for a host, `wave` is the node's activation wave.
fn graph_json(fleet: &fleet_graph::Fleet, selection: &fleet_graph::Selection) -> String {
    let nodes: Vec<serde_json::Value> = fleet
        .waves(selection)
        .iter()
        .enumerate()
        .flat_map(|(wave, nodes)| {
            nodes.iter().map(move |node| {
                serde_json::json!({
                    "name": node.name,
                    "kind": node.kind,
                    "host": fleet.host_of(&node.name).filter(|host| host.name != node.name).map(|host| &host.name),
                    "depends_on": fleet.dependencies(&node.name),
                    "tags": node.tags(),
                    "wave": wave,
                })
            })
        })
        .collect();
    let document = serde_json::json!({ "version": fleet_report::JSON_VERSION, "nodes": nodes });
    serde_json::to_string_pretty(&document).expect("JSON values serialise")
}
