//! The run's real stages: nix here, the targets over SSH, each through the
//! stage modules (`build.rs`, `host.rs`, `diff.rs`, `activate.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use fleet_graph::Node;
use fleet_nix::{CommandError, Evaluated, Nix, Target};

use super::flow::{Activation, Diffed, HostId, NodeId, Probes, Restarts, Stages, Topology};
use super::host::Tried;
use super::Plan;
use crate::build_progress::BuildProgress;
use crate::lock::AgentSession;
use crate::{Outcome, Sink};

/// The stages of one run of `plan`.
pub(super) struct Live<'p, 'a> {
    plan: &'p Plan<'a>,
    nix: &'p Nix,
    sink: &'p dyn Sink,
    /// Each node of the run, by [`NodeId`].
    nodes: Vec<&'a Node>,
    /// Each host's name and target, by [`HostId`].
    hosts: Vec<(&'p str, &'p Target)>,
    /// The run's name in every host's lock.
    run_id: String,
    progress: Mutex<BuildProgress<'a>>,
}

impl<'p, 'a> Live<'p, 'a> {
    /// The stages of `plan`'s run of `topology` on `targets`.
    pub(super) fn new(
        plan: &'p Plan<'a>,
        nix: &'p Nix,
        topology: &Topology,
        targets: &'p BTreeMap<String, Target>,
        sink: &'p dyn Sink,
    ) -> Live<'p, 'a> {
        let fleet = plan.fleet;
        Live {
            plan,
            nix,
            sink,
            nodes: topology
                .nodes
                .iter()
                .map(|n| fleet.node(&n.name).expect("selected nodes exist"))
                .collect(),
            hosts: topology
                .hosts
                .iter()
                .map(|h| {
                    let (name, target) =
                        targets.get_key_value(&h.name).expect("involved hosts have a target");
                    (name.as_str(), target)
                })
                .collect(),
            run_id: crate::lock::new_run_id(),
            progress: Mutex::new(BuildProgress::new(plan.build_logs)),
        }
    }
}

impl Stages for Live<'_, '_> {
    type Lock = AgentSession;

    fn evaluate(&self, on_each: &mut dyn FnMut(NodeId, Result<Evaluated, CommandError>)) {
        self.plan.evaluate(self.nix, self.sink, &mut |i, result| on_each(NodeId(i), result));
    }

    fn build(
        &self,
        batch: &[(NodeId, String)],
        on: Option<HostId>,
        on_each: &mut dyn FnMut(NodeId, Result<String, CommandError>),
    ) {
        let store = on.map_or(&Target::Local, |h| self.hosts[h.0].1);
        let named: Vec<(&str, &str)> =
            batch.iter().map(|(i, drv)| (self.nodes[i.0].name.as_str(), drv.as_str())).collect();
        self.plan.build_batch(self.nix, &named, store, &self.progress, self.sink, &mut |k, built| {
            on_each(batch[k].0, built)
        });
    }

    fn lock(&self, host: HostId) -> Result<AgentSession, Tried> {
        let (name, target) = self.hosts[host.0];
        self.plan.lock(name, target, &self.run_id, self.sink)
    }

    fn probe(&self, host: HostId, nodes: &[NodeId], full: bool) -> Result<Probes, Tried> {
        let (name, target) = self.hosts[host.0];
        let on_host: Vec<&Node> = nodes.iter().map(|i| self.nodes[i.0]).collect();
        // The probe answers for every node it was given, in that order.
        let probed = self.plan.probe(name, target, &on_host, full, self.sink)?;
        Ok(nodes.iter().copied().zip(probed).collect())
    }

    fn push(&self, host: HostId, paths: &[String]) -> Result<(), Tried> {
        let (name, target) = self.hosts[host.0];
        self.plan.push(self.nix, name, target, paths, self.sink)
    }

    fn diff(&self, node: NodeId, host: HostId, old: Option<&str>, new: &str) -> Diffed {
        let name = self.nodes[node.0].name.as_str();
        self.plan.diff(self.nix, name, old, new, self.hosts[host.0].1)
    }

    fn activate(&self, node: NodeId, host: HostId, activation: &Activation, lock: &AgentSession) -> Outcome {
        let Activation { new, expect, verb, generation } = activation;
        let (node, target) = (self.nodes[node.0], self.hosts[host.0].1);
        self.plan.activate(node, new, expect.as_deref(), *verb, *generation, target, lock, self.sink)
    }

    fn changed_units(&self, host: HostId, old: &str, new: &str, containers: &[String]) -> Restarts {
        self.plan.changed_units(self.hosts[host.0].1, old, new, containers)
    }

    fn notes(&self, lock: &AgentSession) -> Vec<String> {
        lock.notes()
    }
}
