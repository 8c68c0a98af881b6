//! What the coordinator starts: builds, pushes and each node's last stage,
//! whenever what they wait for is there. Each takes its nodes from a queue,
//! so that an event costs what it moves, not the size of the run.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::Scope;

use super::stages::{Activation, Stages};
use super::state::{HostStep, Step};
use super::topology::{HostId, NodeId};
use super::{Finale, Message, Run};
use crate::job::Verb;
use crate::{Goal, Outcome, Stage};

/// How many activations run at once on one host: each holds a session of the
/// host's shared connection, and sshd serves at most ten per connection
/// (MaxSessions); the lock holds one.
pub(super) const ACTIVATIONS_PER_HOST: usize = 8;

impl<'r, S: Stages> Run<'r, S> {
    /// Starts every stage that can start now, and ends the nodes that have
    /// nothing left to wait for.
    pub(super) fn advance<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<S::Lock>>)
    where
        'r: 's,
    {
        self.start_builds(scope, tx);
        self.start_pushes(scope, tx);
        self.start_finales(scope, tx);
    }

    /// Builds the evaluated nodes, in activation order, while slots are free:
    /// all those waiting in one batch (one nix process, whose scheduler runs
    /// their builds side by side), except that a node built on its host goes
    /// alone, since its store is its host's.
    fn start_builds<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<S::Lock>>)
    where
        'r: 's,
    {
        loop {
            let (batch, on) = self.next_build_batch();
            if batch.is_empty() {
                return;
            }
            self.builds += batch.len();
            let stages = self.stages;
            self.spawn(scope, tx, move |tx| {
                stages.build(&batch, on, &mut |i, built| {
                    let _ = tx.send(Message::Built(i, built));
                });
                None
            });
        }
    }

    /// Takes from the build queue the nodes of the next batch, as many as
    /// free slots allow, each marked building; with the host they build on.
    fn next_build_batch(&mut self) -> (Vec<(NodeId, String)>, Option<HostId>) {
        let mut batch = Vec::new();
        let mut on = None;
        while self.builds + batch.len() < self.rules.builds && on.is_none() {
            let Some(i) = self.to_build.pop_first() else { break };
            let node = &self.nodes[i.0];
            let Step::Evaluated(drv) = &node.step else { continue };
            if node.outcome.is_some() {
                continue;
            }
            let node_on = self.topology.node(i).host.filter(|_| self.rules.build_on_target);
            if node_on.is_some() && !batch.is_empty() {
                // Next time, alone.
                self.to_build.insert(i);
                break;
            }
            batch.push((i, drv.clone()));
            self.nodes[i.0].step = Step::Building;
            on = node_on;
        }
        (batch, on)
    }

    /// Node `i` is evaluated: it is built as soon as a slot is free and its
    /// store is there (its host's, once ready, when built on it).
    pub(super) fn queue_build(&mut self, i: NodeId) {
        match self.topology.node(i).host.filter(|_| self.rules.build_on_target) {
            Some(h) if self.hosts.get(h.0).is_some_and(|host| host.step != HostStep::Ready) => {
                self.hosts[h.0].to_build.push(i);
            }
            _ => {
                self.to_build.insert(i);
            }
        }
    }

    /// Per host, one copy of every node built and not yet on it, while no
    /// other copy to that host runs; what is built meanwhile goes in the next.
    fn start_pushes<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<S::Lock>>)
    where
        'r: 's,
    {
        // A rollback's systems are already there; so are those built there.
        let push = self.flow.build && self.flow.finale == Finale::Activate && !self.rules.build_on_target;
        for h in (0..self.hosts.len()).map(HostId) {
            if self.hosts[h.0].step != HostStep::Ready {
                continue;
            }
            let remote = self.topology.host(h).remote;
            for i in std::mem::take(&mut self.hosts[h.0].built) {
                let node = &self.nodes[i.0];
                if node.step != Step::Built || node.outcome.is_some() {
                    continue;
                }
                if push && !node.is_current() && remote {
                    self.hosts[h.0].to_push.insert(i);
                } else {
                    self.ready(i);
                }
            }
            let host = &mut self.hosts[h.0];
            if host.pushing || host.to_push.is_empty() {
                continue;
            }
            let batch: Vec<NodeId> = std::mem::take(&mut host.to_push)
                .into_iter()
                .filter(|i| self.nodes[i.0].step == Step::Built && self.nodes[i.0].outcome.is_none())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let paths: Vec<String> = batch
                .iter()
                .map(|i| self.nodes[i.0].new.clone().expect("built nodes have a system"))
                .collect();
            for &i in &batch {
                self.nodes[i.0].step = Step::Pushing;
                self.say_stage(i, Stage::Push);
            }
            self.hosts[h.0].pushing = true;
            let stages = self.stages;
            self.spawn(scope, tx, move |_| {
                let pushed = stages.push(h, &paths);
                Some(Message::Pushed(h, batch, pushed))
            });
        }
    }

    /// Node `i`'s system is on its host: its last stage starts once its
    /// dependencies let it (only an activation waits for them).
    pub(super) fn ready(&mut self, i: NodeId) {
        let node = &mut self.nodes[i.0];
        node.step = Step::Ready;
        if self.flow.finale != Finale::Activate || node.deps_settled() {
            self.runnable.insert(i);
        }
    }

    /// Ends each node that may go on (on its target, its dependencies done):
    /// reported, diffed or activated. A node whose dependency did not succeed
    /// is skipped. In activation order, so that a skip reaches every node
    /// behind it at once; a node without a free slot waits in its host's
    /// queue for one.
    fn start_finales<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<S::Lock>>)
    where
        'r: 's,
    {
        while let Some(i) = self.runnable.pop_first() {
            let node = &self.nodes[i.0];
            if node.step != Step::Ready || node.outcome.is_some() {
                continue;
            }
            let Some(h) = self.topology.node(i).host else { continue };
            match self.flow.finale {
                Finale::Built => self.finish(i, Outcome::Built),
                Finale::Status => {
                    let outcome = self.would(i);
                    self.finish(i, outcome);
                }
                Finale::Diff => {
                    if self.hosts[h.0].busy >= self.rules.jobs {
                        self.hosts[h.0].waiting.insert(i);
                        continue;
                    }
                    let (old, new) = (node.old.clone(), node.new.clone().expect("ready nodes have a system"));
                    self.begin(i, Stage::Diff);
                    let stages = self.stages;
                    self.spawn(scope, tx, move |_| {
                        Some(Message::Diffed(i, stages.diff(i, h, old.as_deref(), &new)))
                    });
                }
                Finale::Activate => self.start_activation(scope, tx, i, h),
            }
        }
    }

    /// Skips node `i`, ends it unchanged, or starts its activation.
    fn start_activation<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        tx: &Sender<Message<S::Lock>>,
        i: NodeId,
        h: HostId,
    ) where
        'r: 's,
    {
        let node = &self.nodes[i.0];
        let mut waiting = false;
        let mut blocker = None;
        for &dep in &self.topology.node(i).deps {
            match &self.nodes[dep.0].outcome {
                None => waiting = true,
                Some(outcome) if !outcome.is_success() => {
                    let dep = &self.topology.node(dep).name;
                    blocker = Some(format!("dependency `{dep}` {}", outcome.label()));
                    break;
                }
                Some(_) => {}
            }
        }
        if let Some(why) = blocker {
            self.finish(i, Outcome::Skipped(why));
            return;
        }
        if waiting {
            return;
        }
        let (stages, topology) = (self.stages, self.topology);
        let containers = &topology.node(i).containers;
        let host = &self.hosts[h.0];
        if node.is_current() && !node.restart {
            match (&node.new, host.lock.is_some()) {
                // A switch made without the run (`nh os switch`,
                // `nixos-rebuild`) may have left containers on an
                // earlier unit: what they started with says which.
                (Some(current), true) if self.rules.goal == Goal::Switch && !containers.is_empty() => {
                    let current = current.clone();
                    self.hold(i);
                    self.spawn(scope, tx, move |_| {
                        let restarts = stages.changed_units(h, &current, &current, containers);
                        Some(Message::Activated(i, Outcome::Unchanged, restarts))
                    });
                }
                _ => self.finish(i, Outcome::Unchanged),
            }
            return;
        }
        if host.busy >= self.rules.jobs.min(ACTIVATIONS_PER_HOST) {
            self.hosts[h.0].waiting.insert(i);
            return;
        }
        let verb = if node.restart { Verb::Restart } else { Verb::Goal };
        let activation = Activation {
            new: node.new.clone().expect("ready nodes have a system"),
            expect: node.old.clone(),
            verb,
            generation: node.switch_generation,
        };
        let lock = Arc::clone(host.lock.as_ref().expect("a host that activates is locked"));
        self.begin(i, Stage::Activate);
        self.spawn(scope, tx, move |_| {
            let Activation { new, expect: old, .. } = &activation;
            let outcome = match stages.activate(i, h, &activation, &lock) {
                Outcome::Activated if verb == Verb::Restart && old.as_deref() == Some(new) => {
                    Outcome::Restarted
                }
                outcome => outcome,
            };
            let restarts = match (&outcome, old) {
                (Outcome::Activated, Some(old)) if !containers.is_empty() => {
                    stages.changed_units(h, old, new, containers)
                }
                _ => Ok(Vec::new()),
            };
            Some(Message::Activated(i, outcome, restarts))
        });
    }

    /// A slot on host `h` is free: the first node waiting for one may go on.
    pub(super) fn free_slot(&mut self, h: HostId) {
        while let Some(i) = self.hosts[h.0].waiting.pop_first() {
            if self.nodes[i.0].outcome.is_none() {
                self.runnable.insert(i);
                return;
            }
        }
    }
}
