//! The scheduler of a run. Every node moves through its stages on its own:
//! it is built as soon as it is evaluated, pushed as soon as it is built and
//! its host is locked and probed (with whatever else of that host is ready
//! by then, in one copy), and activated as soon as it is pushed and every
//! node it depends on has succeeded. One thread, the coordinator, owns all
//! state; each stage runs on a thread of its own and reports back through a
//! channel, so nothing waits for work it does not depend on.
//!
//! Nothing on a target changes before its lock is held: pushes, builds on a
//! target and activations all wait for their host to be ready.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::Scope;
use std::time::{Duration, Instant};

use fleet_diff::ClosureDiff;
use fleet_graph::Node;
use fleet_nix::{CommandError, Evaluated, Nix, Target};

use super::host::Tried;
use super::Plan;
use crate::build_progress::BuildProgress;
use crate::lock::AgentSession;
use crate::probe::Probed;
use crate::{Event, NodeError, Outcome, Sink, Stage, Summary};

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

/// How many activations run at once on one host: each holds a session of the
/// host's shared connection, and sshd serves at most ten per connection
/// (MaxSessions); the lock holds one.
const ACTIVATIONS_PER_HOST: usize = 8;

mod advance;
mod record;
mod state;

use state::{HostRun, HostStep, NodeRun, Step};

/// What a stage's thread reports.
enum Message<'a> {
    Evaluated(usize, Result<Evaluated, CommandError>),
    Built(usize, Result<String, CommandError>),
    Locked(&'a str, Result<AgentSession, Tried>),
    Probed(&'a str, Result<Vec<Result<Probed, CommandError>>, Tried>),
    Pushed(&'a str, Vec<usize>, Result<(), Tried>),
    Diffed(usize, Result<ClosureDiff, NodeError>),
    /// A node's activation, and the containers its switch left to restart.
    Activated(usize, Outcome, Result<Vec<String>, CommandError>),
    /// A stage's thread ended (sent even when it panicked).
    Ended,
}

/// Sends [`Message::Ended`] when its thread ends, however it ends.
struct Ending<'a>(Sender<Message<'a>>);

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let _ = self.0.send(Message::Ended);
    }
}

/// A run under way: the coordinator's state.
struct Run<'p, 'a> {
    plan: &'p Plan<'a>,
    flow: Flow,
    nix: &'p Nix,
    sink: &'p dyn Sink,
    progress: &'p Mutex<BuildProgress<'a>>,
    nodes: Vec<NodeRun<'a>>,
    hosts: BTreeMap<&'p str, HostRun<'p>>,
    started: Instant,
    builds: usize,
    /// Stage threads that have not ended.
    running: usize,
}

/// Runs `flow` over `plan`'s selection; `targets` holds each involved host
/// unless the flow probes none.
pub(super) fn run(
    plan: &Plan<'_>,
    flow: Flow,
    nix: &Nix,
    targets: &BTreeMap<String, Target>,
    sink: &dyn Sink,
) -> Summary {
    let fleet = plan.fleet;
    // A status without a build compares with what the last one left.
    let mut known = match (flow.build, flow.finale) {
        (false, Finale::Status) => plan.known_systems(nix),
        _ => Vec::new(),
    }
    .into_iter();
    let index: HashMap<&str, usize> =
        plan.selection.names().iter().enumerate().map(|(i, name)| (name.as_str(), i)).collect();
    let nodes: Vec<NodeRun<'_>> = plan
        .selection
        .names()
        .iter()
        .map(|name| NodeRun {
            node: fleet.node(name).expect("selected nodes exist"),
            host: &fleet.host_of(name).expect("validated nodes have hosts").name,
            deps: fleet.selected_dependencies(&plan.selection, name).iter().map(|dep| index[dep]).collect(),
            step: if flow.build { Step::Evaluating } else { Step::Built },
            old: None,
            new: known.next().flatten(),
            pending: false,
            generation: None,
            diff: None,
            reused_evaluation: false,
            restart: false,
            switch_generation: None,
            outcome: None,
            finished_at: Duration::ZERO,
        })
        .collect();
    let hosts = match flow.probe {
        None => BTreeMap::new(),
        Some(_) => targets
            .iter()
            .filter(|(host, _)| nodes.iter().any(|n| n.host == host.as_str()))
            .map(|(host, target)| {
                let step = if flow.lock { HostStep::Locking } else { HostStep::Probing };
                (host.as_str(), HostRun { target, step, lock: None, pushing: false, busy: 0 })
            })
            .collect(),
    };
    let progress = Mutex::new(BuildProgress::new(plan.build_logs));
    let mut run = Run {
        plan,
        flow,
        nix,
        sink,
        progress: &progress,
        nodes,
        hosts,
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
    for (host, state) in &run.hosts {
        if let Some(lock) = &state.lock {
            for message in lock.notes() {
                sink.event(Event::Notice { host, message: &message });
            }
        }
    }
    run.summary()
}

impl<'p, 'a> Run<'p, 'a>
where
    'a: 'p,
{
    /// Starts the evaluation and every host's lock (or probe).
    fn start<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        if self.flow.build {
            for node in &self.nodes {
                sink.event(Event::Stage { node: &node.node.name, stage: Stage::Evaluate });
            }
            self.spawn(scope, tx, move |tx| {
                plan.evaluate(nix, sink, &mut |i, result| {
                    let _ = tx.send(Message::Evaluated(i, result));
                });
                None
            });
        }
        let run_id = crate::lock::new_run_id();
        let full = self.flow.probe == Some(Probe::Full);
        let hosts: Vec<(&'p str, &'p Target)> = self.hosts.iter().map(|(h, s)| (*h, s.target)).collect();
        for (host, target) in hosts {
            let stage = if self.flow.lock { Stage::Lock } else { Stage::Probe };
            self.announce(host, stage);
            let lock = self.flow.lock;
            let on_host: Vec<&'a Node> =
                self.nodes.iter().filter(|n| n.host == host).map(|n| n.node).collect();
            let run_id = run_id.clone();
            self.spawn(scope, tx, move |tx| {
                if lock {
                    let locked = plan.lock(host, target, &run_id, sink);
                    let failed = locked.is_err();
                    let _ = tx.send(Message::Locked(host, locked));
                    if failed {
                        return None;
                    }
                }
                Some(Message::Probed(host, plan.probe(host, target, &on_host, full, sink)))
            });
        }
    }

    /// Handles reports and starts what they make possible, until no stage
    /// runs.
    fn coordinate<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        tx: &Sender<Message<'p>>,
        rx: &Receiver<Message<'p>>,
    ) where
        'p: 's,
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
        }
    }

    /// Runs `work` on a thread of its own; what it returns is reported.
    fn spawn<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        tx: &Sender<Message<'p>>,
        work: impl FnOnce(&Sender<Message<'p>>) -> Option<Message<'p>> + Send + 's,
    ) where
        'p: 's,
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
