//! The coordinator's bookkeeping: what each report changes, and how nodes end.

use std::sync::Arc;

use fleet_nix::{CommandError, Failure};

use super::stages::{Probes, Stages};
use super::state::{step_name, HostStep, Step};
use super::topology::{HostId, NodeId};
use super::{Finale, Message, Run};
use crate::pipeline::host::Tried;
use crate::{Cause, Event, Generation, NodeError, Outcome, Stage, Summary};

impl<'r, S: Stages> Run<'r, S> {
    /// Records one report.
    pub(super) fn apply(&mut self, message: Message<S::Lock>) {
        match message {
            Message::Evaluated(i, Ok(evaluated)) => {
                self.nodes[i.0].reused_evaluation = evaluated.reused;
                self.nodes[i.0].step = Step::Evaluated(evaluated.drv);
                self.say_stage(i, Stage::Build);
                self.queue_build(i);
            }
            Message::Evaluated(i, Err(error)) => self.fail_build(i, error),
            Message::Built(i, Err(error)) => {
                self.builds -= 1;
                self.fail_build(i, error);
            }
            Message::Built(i, Ok(path)) => {
                self.builds -= 1;
                self.sink.event(Event::SystemBuilt { node: self.name(i), path: &path });
                self.nodes[i.0].new = Some(path);
                self.nodes[i.0].step = Step::Built;
                if self.flow.finale == Finale::Built {
                    self.finish(i, Outcome::Built);
                } else if let Some(h) = self.topology.node(i).host.filter(|h| h.0 < self.hosts.len()) {
                    self.hosts[h.0].built.insert(i);
                    // What the node waits for now is its host.
                    match self.hosts[h.0].step {
                        HostStep::Locking => self.say_stage(i, Stage::Lock),
                        HostStep::Probing => self.say_stage(i, Stage::Probe),
                        HostStep::Ready | HostStep::Failed => {}
                    }
                }
            }
            Message::Locked(h, Ok(lock)) => {
                let state = &mut self.hosts[h.0];
                state.lock = Some(Arc::new(lock));
                state.step = HostStep::Probing;
                self.announce(h, Stage::Probe);
            }
            Message::Locked(h, Err((error, tries))) => match crate::protocol::lock_holder(&error) {
                // Contention is no failure of the nodes: none was started.
                Some(holder) => {
                    let topology = self.topology;
                    let host = &topology.host(h).name;
                    let reason = format!(
                        "{host} is locked by {holder}; nothing was changed, deploy again when it is free"
                    );
                    self.end_host(h, |_| Outcome::NotStarted(reason.clone()));
                }
                None => self.fail_host(h, Stage::Lock, (error, tries)),
            },
            Message::Probed(h, Ok(probed)) => self.probed(h, probed),
            Message::Probed(h, Err(failure)) => self.fail_host(h, Stage::Probe, failure),
            Message::Pushed(h, batch, result) => {
                self.hosts[h.0].pushing = false;
                match result {
                    Ok(()) => batch.into_iter().for_each(|i| self.ready(i)),
                    Err((error, tries)) => {
                        for i in batch {
                            let node = self.name(i).to_string();
                            let error =
                                NodeError { node, stage: Stage::Push, error: error.clone().into(), tries };
                            self.finish(i, Outcome::Failed(error));
                        }
                    }
                }
            }
            Message::Diffed(i, result) => {
                self.release_slot(i);
                let outcome = match result {
                    Ok(diff) => {
                        self.nodes[i.0].diff = Some(diff);
                        self.would(i)
                    }
                    Err(error) => Outcome::Failed(error),
                };
                self.finish(i, outcome);
            }
            Message::Activated(i, outcome, restarts) => {
                let h = self.release_slot(i);
                self.finish(i, outcome);
                let topology = self.topology;
                let host = &topology.host(h).name;
                let restarts = restarts.unwrap_or_else(|error| {
                    let message = format!(
                        "could not tell which containers' units the switch changed ({error}); \
                         those keep their old unit until restarted (systemctl restart container@NAME)"
                    );
                    self.sink.event(Event::Notice { host, message: &message });
                    Vec::new()
                });
                for name in restarts {
                    match self.topology.on_host(h, &name) {
                        Some(c) => self.nodes[c.0].restart = true,
                        None => {
                            let message = format!(
                                "the switch changed the unit of container {name}, which is not selected: \
                                 it keeps its old unit until it is restarted (systemctl restart container@{name})"
                            );
                            self.sink.event(Event::Notice { host, message: &message });
                        }
                    }
                }
            }
            Message::Ended => self.running -= 1,
        }
    }

    /// Records what the probe read on host `h`; in a rollback, a node's new
    /// system is the generation it rolls back to. A node of `h` the probe
    /// said nothing of fails.
    fn probed(&mut self, h: HostId, probed: Probes) {
        let topology = self.topology;
        let host = &mut self.hosts[h.0];
        host.step = HostStep::Ready;
        for i in std::mem::take(&mut host.to_build) {
            self.to_build.insert(i);
        }
        let mut said: Vec<NodeId> = Vec::with_capacity(probed.len());
        for (i, probed) in probed {
            if topology.node(i).host != Some(h) {
                continue;
            }
            said.push(i);
            let probed = match probed {
                Ok(probed) => probed,
                Err(error) => {
                    self.fail(i, Stage::Probe, error);
                    continue;
                }
            };
            let node = &mut self.nodes[i.0];
            node.old = probed.current.clone();
            node.pending = probed.pending;
            node.generation =
                probed.generation.map(|number| Generation { number, since: probed.since.clone() });
            if self.flow.build || self.flow.finale != Finale::Activate {
                continue;
            }
            let profile = &topology.node(i).profile;
            match crate::rollback::generation_to(&probed, self.rules.rollback_to, profile) {
                Ok((number, system)) => {
                    node.new = Some(system);
                    node.switch_generation = Some(number);
                }
                Err(error) => self.fail(i, Stage::Probe, error),
            }
        }
        said.sort_unstable();
        for &i in &topology.host(h).nodes {
            if said.binary_search(&i).is_err() {
                let error = CommandError {
                    command: "probe profiles".into(),
                    failure: Failure::Output(format!("the probe said nothing of {}", self.name(i))),
                };
                self.fail(i, Stage::Probe, error);
            }
        }
    }

    /// Tells each node on host `h` that waits for it (not evaluating or
    /// building) that it entered `stage`.
    pub(super) fn announce(&self, h: HostId, stage: Stage) {
        for &i in &self.topology.host(h).nodes {
            let node = &self.nodes[i.0];
            if matches!(node.step, Step::Built | Step::Ready) && node.outcome.is_none() {
                self.say_stage(i, stage);
            }
        }
    }

    /// Node `i`'s name.
    pub(super) fn name(&self, i: NodeId) -> &'r str {
        &self.topology.node(i).name
    }

    /// Tells the sink that node `i` entered `stage`.
    pub(super) fn say_stage(&self, i: NodeId, stage: Stage) {
        self.sink.event(Event::Stage { node: self.name(i), stage });
    }

    /// Starts node `i`'s last stage, which takes one of its host's slots.
    pub(super) fn begin(&mut self, i: NodeId, stage: Stage) {
        self.hold(i);
        self.say_stage(i, stage);
    }

    /// Node `i` is busy on its host, in no stage of its own (an unchanged
    /// host whose containers' units are being compared).
    pub(super) fn hold(&mut self, i: NodeId) {
        self.nodes[i.0].step = Step::Finishing;
        let h = self.topology.node(i).host.expect("a node busy on its host has one");
        self.hosts[h.0].busy += 1;
    }

    /// Node `i`'s last stage ended: its slot goes to the next node waiting
    /// for one. Returns its host.
    fn release_slot(&mut self, i: NodeId) -> HostId {
        let h = self.topology.node(i).host.expect("a node busy on its host has one");
        self.hosts[h.0].busy -= 1;
        self.free_slot(h);
        h
    }

    /// What a deploy would do to node `i`.
    pub(super) fn would(&self, i: NodeId) -> Outcome {
        if self.nodes[i.0].is_current() {
            Outcome::Unchanged
        } else {
            Outcome::WouldActivate
        }
    }

    /// Node `i`'s evaluation or build failed.
    fn fail_build(&mut self, i: NodeId, error: CommandError) {
        self.fail(i, Stage::Build, error);
    }

    /// Node `i` failed at `stage`, unless it had finished already.
    fn fail(&mut self, i: NodeId, stage: Stage, error: impl Into<Cause>) {
        let error = NodeError::new(self.name(i), stage, error);
        self.finish(i, Outcome::Failed(error));
    }

    /// Fails every unfinished node on host `h` with one error of a shared stage.
    fn fail_host(&mut self, h: HostId, stage: Stage, (error, tries): Tried) {
        self.end_host(h, |node| {
            Outcome::Failed(NodeError { node: node.to_string(), stage, error: error.clone().into(), tries })
        });
    }

    /// Nothing more happens on host `h`: every unfinished node on it ends
    /// with the outcome `outcome_of` gives for its name.
    fn end_host(&mut self, h: HostId, outcome_of: impl Fn(&str) -> Outcome) {
        self.hosts[h.0].step = HostStep::Failed;
        let topology = self.topology;
        for &i in &topology.host(h).nodes {
            if self.nodes[i.0].outcome.is_none() {
                self.finish(i, outcome_of(self.name(i)));
            }
        }
    }

    /// Node `i` is done: nothing more happens to it in this run. Each node
    /// that waits for it learns so, and goes on if it was only waiting.
    pub(super) fn finish(&mut self, i: NodeId, outcome: Outcome) {
        let (name, topology) = (self.name(i), self.topology);
        let node = &mut self.nodes[i.0];
        if node.outcome.is_some() {
            return;
        }
        let success = outcome.is_success();
        node.outcome = Some(outcome);
        node.finished_at = self.started.elapsed();
        self.sink.event(Event::Finished(&node.report(name)));
        for &d in &topology.node(i).dependents {
            let dependent = &mut self.nodes[d.0];
            dependent.deps_left -= 1;
            dependent.dep_failed |= !success;
            let goes_on =
                dependent.step == Step::Ready && dependent.outcome.is_none() && dependent.deps_settled();
            if goes_on && self.flow.finale == Finale::Activate {
                self.runnable.insert(d);
            }
        }
    }

    /// Ends every node the run left unfinished, which only a stage thread
    /// that died can cause.
    pub(super) fn finish_stragglers(&mut self) {
        for i in (0..self.nodes.len()).map(NodeId) {
            if self.nodes[i.0].outcome.is_none() {
                let name = self.name(i);
                let error = CommandError {
                    command: format!("the run's {} stage of {name}", step_name(&self.nodes[i.0].step)),
                    failure: Failure::Output(
                        "the stage ended without a result (a bug: please report it)".into(),
                    ),
                };
                self.finish(i, Outcome::Failed(NodeError::new(name, Stage::Build, error)));
            }
        }
    }

    /// Every node's report, in activation order.
    pub(super) fn summary(self) -> Summary {
        let topology = self.topology;
        let nodes =
            self.nodes.iter().enumerate().map(|(i, node)| node.report(&topology.nodes[i].name)).collect();
        Summary { nodes }
    }
}
