//! The coordinator's bookkeeping: what each report changes, and how nodes end.

use std::sync::Arc;

use fleet_nix::{CommandError, Failure};

use super::state::{step_name, HostStep, NodeRun, Step};
use super::{Finale, Message, Run};
use crate::pipeline::host::Tried;
use crate::probe::Probed;
use crate::{Event, Generation, NodeError, Outcome, Stage, Summary};

impl<'p, 'a> Run<'p, 'a>
where
    'a: 'p,
{
    /// Records one report.
    pub(super) fn apply(&mut self, message: Message<'p>) {
        match message {
            Message::Evaluated(i, Ok(evaluated)) => {
                self.nodes[i].reused_evaluation = evaluated.reused;
                self.nodes[i].step = Step::Evaluated(evaluated.drv);
                self.say_stage(i, Stage::Build);
            }
            Message::Evaluated(i, Err(error)) => self.fail_build(i, error),
            Message::Built(i, Err(error)) => {
                self.builds -= 1;
                self.fail_build(i, error);
            }
            Message::Built(i, Ok(path)) => {
                self.builds -= 1;
                self.sink.event(Event::SystemBuilt { node: &self.nodes[i].node.name, path: &path });
                self.nodes[i].new = Some(path);
                self.nodes[i].step = Step::Built;
                if self.flow.finale == Finale::Built {
                    self.finish(i, Outcome::Built);
                } else if let Some(host) = self.hosts.get(self.nodes[i].host) {
                    // What the node waits for now is its host.
                    match host.step {
                        HostStep::Locking => self.say_stage(i, Stage::Lock),
                        HostStep::Probing => self.say_stage(i, Stage::Probe),
                        HostStep::Ready | HostStep::Failed => {}
                    }
                }
            }
            Message::Locked(host, Ok(lock)) => {
                let state = self.hosts.get_mut(host).expect("every involved host has a state");
                state.lock = Some(Arc::new(lock));
                state.step = HostStep::Probing;
                self.announce(host, Stage::Probe);
            }
            Message::Locked(host, Err((error, tries))) => match crate::protocol::lock_holder(&error) {
                // Contention is no failure of the nodes: none was started.
                Some(holder) => {
                    let reason = format!(
                        "{host} is locked by {holder}; nothing was changed, deploy again when it is free"
                    );
                    self.end_host(host, |_| Outcome::NotStarted(reason.clone()));
                }
                None => self.fail_host(host, Stage::Lock, (error, tries)),
            },
            Message::Probed(host, Ok(probed)) => self.probed(host, probed),
            Message::Probed(host, Err(failure)) => self.fail_host(host, Stage::Probe, failure),
            Message::Pushed(host, batch, result) => {
                self.hosts.get_mut(host).expect("every involved host has a state").pushing = false;
                match result {
                    Ok(()) => batch.iter().for_each(|&i| self.nodes[i].step = Step::Ready),
                    Err((error, tries)) => {
                        for i in batch {
                            let node = self.nodes[i].node.name.clone();
                            self.finish(
                                i,
                                Outcome::Failed(NodeError {
                                    node,
                                    stage: Stage::Push,
                                    error: error.clone().into(),
                                    tries,
                                }),
                            );
                        }
                    }
                }
            }
            Message::Diffed(i, result) => {
                self.hosts.get_mut(self.nodes[i].host).expect("every involved host has a state").busy -= 1;
                let outcome = match result {
                    Ok(diff) => {
                        self.nodes[i].diff = Some(diff);
                        self.would(i)
                    }
                    Err(error) => Outcome::Failed(error),
                };
                self.finish(i, outcome);
            }
            Message::Activated(i, outcome, restarts) => {
                let host = self.nodes[i].host;
                self.hosts.get_mut(host).expect("every involved host has a state").busy -= 1;
                self.finish(i, outcome);
                let restarts = restarts.unwrap_or_else(|error| {
                    let message = format!(
                        "could not tell which containers' units the switch changed ({error}); \
                         those keep their old unit until restarted (systemctl restart container@NAME)"
                    );
                    self.sink.event(Event::Notice { host, message: &message });
                    Vec::new()
                });
                for name in restarts {
                    match self.nodes.iter_mut().find(|n| n.node.name == name && n.host == host) {
                        Some(node) => node.restart = true,
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

    /// Records what the probe read on `host`; in a rollback, a node's new
    /// system is the generation it rolls back to.
    pub(super) fn probed(&mut self, host: &str, probed: Vec<Result<Probed, CommandError>>) {
        self.hosts.get_mut(host).expect("every involved host has a state").step = HostStep::Ready;
        let on_host: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].host == host).collect();
        for (i, probed) in on_host.into_iter().zip(probed) {
            let probed = match probed {
                Ok(probed) => probed,
                Err(error) => {
                    if self.nodes[i].outcome.is_none() {
                        let error = NodeError::new(&self.nodes[i].node.name, Stage::Probe, error);
                        self.finish(i, Outcome::Failed(error));
                    }
                    continue;
                }
            };
            let node = &mut self.nodes[i];
            node.old = probed.current.clone();
            node.pending = probed.pending;
            node.generation =
                probed.generation.map(|number| Generation { number, since: probed.since.clone() });
            if self.flow.build || self.flow.finale != Finale::Activate {
                continue;
            }
            let profile = self.plan.kinds.of(node.node).profile(node.node);
            match crate::rollback::generation_to(&probed, self.plan.rollback_to, &profile) {
                Ok((number, system)) => {
                    node.new = Some(system);
                    node.switch_generation = Some(number);
                }
                Err(error) if node.outcome.is_none() => {
                    let error = NodeError::new(&node.node.name, Stage::Probe, error);
                    self.finish(i, Outcome::Failed(error));
                }
                Err(_) => {}
            }
        }
    }

    /// Tells each node on `host` that waits for it (not evaluating or
    /// building) that `host` entered `stage`.
    pub(super) fn announce(&self, host: &str, stage: Stage) {
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let waits = matches!(node.step, Step::Built | Step::Ready);
            if node.host == host && waits && node.outcome.is_none() {
                self.say_stage(i, stage);
            }
        }
    }

    pub(super) fn say_stage(&self, i: usize, stage: Stage) {
        self.sink.event(Event::Stage { node: &self.nodes[i].node.name, stage });
    }

    /// Starts node `i`'s last stage, which takes one of its host's slots.
    pub(super) fn begin(&mut self, i: usize, stage: Stage) {
        self.hold(i);
        self.say_stage(i, stage);
    }

    /// Node `i` is busy on its host, in no stage of its own (an unchanged
    /// host whose containers' units are being compared).
    pub(super) fn hold(&mut self, i: usize) {
        self.nodes[i].step = Step::Finishing;
        self.hosts.get_mut(self.nodes[i].host).expect("every involved host has a state").busy += 1;
    }

    /// What a deploy would do to node `i`.
    pub(super) fn would(&self, i: usize) -> Outcome {
        if self.nodes[i].is_current() {
            Outcome::Unchanged
        } else {
            Outcome::WouldActivate
        }
    }

    /// Node `i`'s evaluation or build failed.
    pub(super) fn fail_build(&mut self, i: usize, error: CommandError) {
        let error = NodeError::new(&self.nodes[i].node.name, Stage::Build, error);
        self.finish(i, Outcome::Failed(error));
    }

    /// Fails every unfinished node on `host` with one error of a shared stage.
    pub(super) fn fail_host(&mut self, host: &str, stage: Stage, (error, tries): Tried) {
        self.end_host(host, |node| {
            Outcome::Failed(NodeError { node: node.to_string(), stage, error: error.clone().into(), tries })
        });
    }

    /// Nothing more happens on `host`: every unfinished node on it ends with
    /// the outcome `outcome_of` gives for its name.
    fn end_host(&mut self, host: &str, outcome_of: impl Fn(&str) -> Outcome) {
        self.hosts.get_mut(host).expect("every involved host has a state").step = HostStep::Failed;
        for i in 0..self.nodes.len() {
            if self.nodes[i].host == host && self.nodes[i].outcome.is_none() {
                let outcome = outcome_of(&self.nodes[i].node.name);
                self.finish(i, outcome);
            }
        }
    }

    /// Node `i` is done: nothing more happens to it in this run.
    pub(super) fn finish(&mut self, i: usize, outcome: Outcome) {
        let node = &mut self.nodes[i];
        if node.outcome.is_some() {
            return;
        }
        node.outcome = Some(outcome);
        node.finished_at = self.started.elapsed();
        self.sink.event(Event::Finished(&self.nodes[i].report()));
    }

    /// Ends every node the run left unfinished, which only a stage thread
    /// that died can cause.
    pub(super) fn finish_stragglers(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].outcome.is_none() {
                let name = self.nodes[i].node.name.clone();
                let error = CommandError {
                    command: format!("the run's {} stage of {name}", step_name(&self.nodes[i].step)),
                    failure: Failure::Output(
                        "the stage ended without a result (a bug: please report it)".into(),
                    ),
                };
                self.finish(i, Outcome::Failed(NodeError::new(&name, Stage::Build, error)));
            }
        }
    }

    pub(super) fn summary(self) -> Summary {
        Summary { nodes: self.nodes.iter().map(NodeRun::report).collect() }
    }
}
