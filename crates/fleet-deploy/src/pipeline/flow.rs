//! The scheduler of a run. Every node moves through its stages on its own:
//! it is built as soon as it is evaluated, pushed as soon as it is built and
//! its host is locked and probed (with whatever else of that host is ready
//! by then, in one copy), and activated as soon as it is pushed and every
//! node it depends on has succeeded. One thread, the coordinator, owns all
//! state; each stage runs on a thread of its own and reports back through a
//! channel, so nothing waits for work it does not depend on. The work itself
//! is behind [`Stages`], so that the rules here are unit-tested with fakes.
//! Each event moves only the nodes it concerns, through per-host and
//! ready queues, never by a scan of every node.
//!
//! Nothing on a target changes before its lock is held: pushes, builds on a
//! target and activations all wait for their host to be ready.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::Scope;
use std::time::Instant;

use fleet_nix::{CommandError, Evaluated};

use super::host::Tried;
use crate::{Event, Goal, Outcome, Sink, Stage, Summary};

/// Which stages a mode takes.
pub(super) struct Flow {
    /// Nodes are evaluated and built; else (a rollback) their new system is
    /// an earlier generation, read by the probe.
    pub(super) build: bool,
    /// Each host's deploy lock is taken before anything changes there.
    pub(super) lock: bool,
    /// How each host's nodes are probed; `None` involves no target.
    pub(super) probe: Option<Probe>,
    /// What ends a node's run once it is built and probed.
    pub(super) finale: Finale,
}

/// How much a probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// The current system and whether an activation is pending.
    Brief,
    /// Also the generations: the current one's number and date, the one before.
    Full,
}

/// The last stage of a node's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finale {
    /// Built: done.
    Built,
    /// Compared with what the target runs.
    Status,
    /// Its closure diffed against the target's.
    Diff,
    /// Pushed and activated, after its dependencies.
    Activate,
}

mod advance;
mod record;
mod stages;
mod state;
#[cfg(test)]
mod tests;
mod topology;

pub(super) use stages::{Activation, Diffed, Probes, Restarts, Stages};
pub(super) use topology::{HostId, NodeId, Topology};

use state::{HostRun, HostStep, NodeRun, Step};

/// What a run decides beside its flow.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// How many diffs or activations run at once per host.
    pub(super) jobs: usize,
    /// How many nodes build at once.
    pub(super) builds: usize,
    /// What a deploy does to each node.
    pub(super) goal: Goal,
    /// Nodes are built in their host's store, once it is ready.
    pub(super) build_on_target: bool,
    /// The generation a rollback moves each node to (default: the previous).
    pub(super) rollback_to: Option<u32>,
}

/// What a stage's thread reports.
enum Message<L> {
    Evaluated(NodeId, Result<Evaluated, CommandError>),
    Built(NodeId, Result<String, CommandError>),
    Locked(HostId, Result<L, Tried>),
    Probed(HostId, Result<Probes, Tried>),
    Pushed(HostId, Vec<NodeId>, Result<(), Tried>),
    Diffed(NodeId, Diffed),
    /// A node's activation, and the containers its switch left to restart.
    Activated(NodeId, Outcome, Restarts),
    /// A stage's thread ended (sent even when it panicked).
    Ended,
}

/// Sends [`Message::Ended`] when its thread ends, however it ends.
struct Ending<L>(Sender<Message<L>>);

impl<L> Drop for Ending<L> {
    fn drop(&mut self) {
        let _ = self.0.send(Message::Ended);
    }
}

/// A run under way: the coordinator's state.
struct Run<'r, S: Stages> {
    stages: &'r S,
    topology: &'r Topology,
    flow: Flow,
    rules: Rules,
    sink: &'r dyn Sink,
    nodes: Vec<NodeRun>,
    hosts: Vec<HostRun<S::Lock>>,
    /// Evaluated nodes whose store is there, waiting for a build slot.
    to_build: BTreeSet<NodeId>,
    /// Ready nodes whose dependencies let them go on, for their last stage.
    runnable: BTreeSet<NodeId>,
    started: Instant,
    builds: usize,
    /// Stage threads that have not ended.
    running: usize,
}

/// Runs `flow` over the nodes of `topology` with `stages`; `known` holds
/// each node's system when it is known before the run (a status that builds
/// nothing), or is empty.
pub(super) fn run<S: Stages>(
    stages: &S,
    topology: &Topology,
    flow: Flow,
    rules: Rules,
    known: Vec<Option<String>>,
    sink: &dyn Sink,
) -> Summary {
    let mut known = known.into_iter();
    let step = if flow.build { Step::Evaluating } else { Step::Built };
    let nodes: Vec<NodeRun> = topology
        .nodes
        .iter()
        .map(|spec| NodeRun::new(step.clone(), known.next().flatten(), spec.deps.len()))
        .collect();
    let host_step = if flow.lock { HostStep::Locking } else { HostStep::Probing };
    let hosts = match flow.probe {
        None => Vec::new(),
        Some(_) => topology.hosts.iter().map(|_| HostRun::new(host_step)).collect(),
    };
    let mut run = Run {
        stages,
        topology,
        flow,
        rules,
        sink,
        nodes,
        hosts,
        to_build: BTreeSet::new(),
        runnable: BTreeSet::new(),
        started: Instant::now(),
        builds: 0,
        running: 0,
    };
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        run.start(scope, &tx);
        run.coordinate(scope, &tx, &rx);
    });
    run.finish_stragglers();
    for (h, state) in run.hosts.iter().enumerate() {
        if let Some(lock) = &state.lock {
            for message in stages.notes(lock) {
                sink.event(Event::Notice { host: &topology.hosts[h].name, message: &message });
            }
        }
    }
    run.summary()
}

impl<'r, S: Stages> Run<'r, S> {
    /// Starts the evaluation and every host's lock (or probe).
    fn start<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<S::Lock>>)
    where
        'r: 's,
    {
        let (stages, topology) = (self.stages, self.topology);
        if self.flow.build {
            for spec in &self.topology.nodes {
                self.sink.event(Event::Stage { node: &spec.name, stage: Stage::Evaluate });
            }
            self.spawn(scope, tx, move |tx| {
                stages.evaluate(&mut |i, result| {
                    let _ = tx.send(Message::Evaluated(i, result));
                });
                None
            });
        } else {
            // Their systems are known: each waits for its host.
            for i in (0..self.nodes.len()).map(NodeId) {
                if let Some(h) = self.topology.node(i).host {
                    self.hosts[h.0].built.insert(i);
                }
            }
        }
        let full = self.flow.probe == Some(Probe::Full);
        for h in (0..self.hosts.len()).map(HostId) {
            let stage = if self.flow.lock { Stage::Lock } else { Stage::Probe };
            self.announce(h, stage);
            let lock = self.flow.lock;
            let on_host = &topology.host(h).nodes;
            self.spawn(scope, tx, move |tx| {
                if lock {
                    let locked = stages.lock(h);
                    let failed = locked.is_err();
                    let _ = tx.send(Message::Locked(h, locked));
                    if failed {
                        return None;
                    }
                }
                Some(Message::Probed(h, stages.probe(h, on_host, full)))
            });
        }
    }

    /// Handles reports and starts what they make possible, until no stage
    /// runs.
    fn coordinate<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        tx: &Sender<Message<S::Lock>>,
        rx: &Receiver<Message<S::Lock>>,
    ) where
        'r: 's,
    {
        loop {
            self.advance(scope, tx);
            if self.running == 0 {
                return;
            }
            match rx.recv() {
                Ok(message) => self.apply(message),
                Err(_) => return,
            }
            // Every report already in before anything starts: the nodes an
            // evaluation batch gave go to one build, not one build each.
            while let Ok(message) = rx.try_recv() {
                self.apply(message);
            }
        }
    }

    /// Runs `work` on a thread of its own; what it returns is reported.
    fn spawn<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        tx: &Sender<Message<S::Lock>>,
        work: impl FnOnce(&Sender<Message<S::Lock>>) -> Option<Message<S::Lock>> + Send + 's,
    ) where
        'r: 's,
    {
        self.running += 1;
        let tx = tx.clone();
        scope.spawn(move || {
            let _ending = Ending(tx.clone());
            if let Some(message) = work(&tx) {
                let _ = tx.send(message);
            }
        });
    }
}
