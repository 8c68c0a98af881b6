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

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::Scope;
use std::time::{Duration, Instant};

use fleet_diff::ClosureDiff;
use fleet_graph::Node;
use fleet_nix::{CommandError, Evaluated, Failure, Nix, Target};

use super::host::Tried;
use super::Plan;
use crate::build_progress::BuildProgress;
use crate::job::Verb;
use crate::lock::DeployLock;
use crate::probe::Probed;
use crate::{Event, Generation, NodeError, NodeReport, Outcome, Sink, Stage, Summary};

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

/// Where a node is in its run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Its derivation is not known yet.
    Evaluating,
    /// Its derivation is known; it waits for a build slot (or, to be built
    /// on its host, for the host to be ready).
    Evaluated(String),
    /// Its build runs.
    Building,
    /// Its system is known; it waits for its host to be ready.
    Built,
    /// Its closure is being copied to its host.
    Pushing,
    /// Its system is on its host; it waits for its dependencies or a slot.
    Ready,
    /// Its last stage runs.
    Finishing,
}

/// One node's state.
struct NodeRun<'a> {
    node: &'a Node,
    host: &'a str,
    step: Step,
    old: Option<String>,
    new: Option<String>,
    /// An earlier activation of this node started and did not finish.
    pending: bool,
    generation: Option<Generation>,
    diff: Option<ClosureDiff>,
    reused_evaluation: bool,
    /// Its host's switch changed its unit: it is restarted, not reloaded.
    restart: bool,
    outcome: Option<Outcome>,
    finished_at: Duration,
}

impl NodeRun<'_> {
    /// The target runs exactly the new system, fully activated.
    fn is_current(&self) -> bool {
        self.new.is_some() && self.old == self.new && !self.pending
    }
}

/// Where a host is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostStep {
    Locking,
    Probing,
    Ready,
    Failed,
}

/// One host's state.
struct HostRun<'t> {
    target: &'t Target,
    step: HostStep,
    lock: Option<Arc<DeployLock>>,
    pushing: bool,
    /// Diffs or activations running.
    busy: usize,
}

/// What a stage's thread reports.
enum Message<'a> {
    Evaluated(usize, Result<Evaluated, CommandError>),
    Built(usize, Result<String, CommandError>),
    Locked(&'a str, Result<DeployLock, Tried>),
    Probed(&'a str, Result<Vec<Probed>, Tried>),
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
    let nodes: Vec<NodeRun<'_>> = plan
        .selection
        .names()
        .iter()
        .map(|name| NodeRun {
            node: fleet.node(name).expect("selected nodes exist"),
            host: &fleet.host_of(name).expect("validated nodes have hosts").name,
            step: if flow.build { Step::Evaluating } else { Step::Built },
            old: None,
            new: None,
            pending: false,
            generation: None,
            diff: None,
            reused_evaluation: false,
            restart: false,
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
                sink.event(Event::Stage { node: &node.node.name, stage: Stage::Build });
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
                Ok(Message::Ended) => self.running -= 1,
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

    /// Records one report.
    fn apply(&mut self, message: Message<'p>) {
        match message {
            Message::Evaluated(i, Ok(evaluated)) => {
                self.nodes[i].reused_evaluation = evaluated.reused;
                self.nodes[i].step = Step::Evaluated(evaluated.drv);
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
            Message::Locked(host, Err(failure)) => self.fail_host(host, Stage::Lock, failure),
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
                                    error: error.clone(),
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
    /// system is its previous generation.
    fn probed(&mut self, host: &str, probed: Vec<Probed>) {
        self.hosts.get_mut(host).expect("every involved host has a state").step = HostStep::Ready;
        let on_host: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].host == host).collect();
        for (i, probed) in on_host.into_iter().zip(probed) {
            let node = &mut self.nodes[i];
            node.old = probed.current;
            node.pending = probed.pending;
            node.generation = probed.generation.map(|number| Generation { number, since: probed.since });
            if self.flow.build {
                continue;
            }
            match probed.previous {
                Some(previous) => node.new = Some(previous),
                None if node.outcome.is_none() => {
                    let profile = self.plan.kinds.of(node.node).profile(node.node);
                    let error = CommandError {
                        command: format!("read the generations of {profile}"),
                        failure: Failure::Output(format!(
                            "{profile} has no earlier generation to roll back to"
                        )),
                    };
                    let error = NodeError::new(&node.node.name, Stage::Probe, error);
                    self.finish(i, Outcome::Failed(error));
                }
                None => {}
            }
        }
    }

    /// Starts every stage that can start now, and ends the nodes that have
    /// nothing left to wait for.
    fn advance<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        self.start_builds(scope, tx);
        self.start_pushes(scope, tx);
        self.start_finales(scope, tx);
    }

    fn start_builds<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        for i in 0..self.nodes.len() {
            if self.builds >= plan.jobs {
                return;
            }
            let node = &self.nodes[i];
            let Step::Evaluated(drv) = &node.step else { continue };
            if node.outcome.is_some() {
                continue;
            }
            let store: &'p Target = match (plan.build_on_target, self.hosts.get(node.host)) {
                (false, _) | (true, None) => &Target::Local,
                (true, Some(host)) if host.step == HostStep::Ready => host.target,
                (true, Some(_)) => continue,
            };
            let (name, drv) = (node.node.name.as_str(), drv.clone());
            self.nodes[i].step = Step::Building;
            self.builds += 1;
            let progress = self.progress;
            self.spawn(scope, tx, move |_| {
                Some(Message::Built(i, plan.build_one(nix, name, &drv, store, progress, sink)))
            });
        }
    }

    /// Per host, one copy of every node built and not yet on it, while no
    /// other copy to that host runs; what is built meanwhile goes in the next.
    fn start_pushes<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        // A rollback's systems are already there; so are those built there.
        let push = self.flow.build && self.flow.finale == Finale::Activate && !self.plan.build_on_target;
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let Some(host) = self.hosts.get(node.host) else { continue };
            if node.step == Step::Built && node.outcome.is_none() && host.step == HostStep::Ready {
                let needs_push = push && !node.is_current() && matches!(host.target, Target::Ssh(_));
                if !needs_push {
                    self.nodes[i].step = Step::Ready;
                }
            }
        }
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        let hosts: Vec<&'p str> = self.hosts.keys().copied().collect();
        for host in hosts {
            let state = &self.hosts[host];
            if state.pushing || state.step != HostStep::Ready {
                continue;
            }
            let batch: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    let node = &self.nodes[i];
                    node.host == host && node.step == Step::Built && node.outcome.is_none()
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            let paths: Vec<String> = batch
                .iter()
                .map(|&i| self.nodes[i].new.clone().expect("built nodes have a system"))
                .collect();
            for &i in &batch {
                self.nodes[i].step = Step::Pushing;
                self.say_stage(i, Stage::Push);
            }
            let target = state.target;
            self.hosts.get_mut(host).expect("every involved host has a state").pushing = true;
            self.spawn(scope, tx, move |_| {
                let pushed = plan.push(nix, host, target, &paths, sink);
                Some(Message::Pushed(host, batch, pushed))
            });
        }
    }

    /// Ends each node that is ready (on its target, its dependencies done):
    /// reported, diffed or activated. A node whose dependency did not succeed
    /// is skipped. In selection order, so that a skip reaches every node
    /// behind it at once.
    fn start_finales<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if node.step != Step::Ready || node.outcome.is_some() {
                continue;
            }
            let host = &self.hosts[node.host];
            let name = node.node.name.as_str();
            match self.flow.finale {
                Finale::Built => unreachable!("built nodes finish when built"),
                Finale::Status => {
                    let outcome = self.would(i);
                    self.finish(i, outcome);
                }
                Finale::Diff => {
                    if host.busy >= plan.jobs {
                        continue;
                    }
                    let (old, new, target) = (node.old.clone(), node.new.clone(), host.target);
                    let new = new.expect("ready nodes have a system");
                    self.begin(i, Stage::Diff);
                    self.spawn(scope, tx, move |_| {
                        Some(Message::Diffed(i, plan.diff(nix, name, old.as_deref(), &new, target)))
                    });
                }
                Finale::Activate => {
                    let mut waiting = false;
                    let mut blocker = None;
                    for dep in plan.fleet.selected_dependencies(&plan.selection, name) {
                        let dep_run = self
                            .nodes
                            .iter()
                            .find(|n| n.node.name == dep)
                            .expect("dependencies are selected");
                        match &dep_run.outcome {
                            None => waiting = true,
                            Some(outcome) if !outcome.is_success() => {
                                blocker = Some(format!("dependency `{dep}` {}", outcome.label()));
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    if let Some(why) = blocker {
                        self.finish(i, Outcome::Skipped(why));
                        continue;
                    }
                    if waiting {
                        continue;
                    }
                    if node.is_current() && !node.restart {
                        self.finish(i, Outcome::Unchanged);
                        continue;
                    }
                    if host.busy >= plan.jobs.min(ACTIVATIONS_PER_HOST) {
                        continue;
                    }
                    let verb = if node.restart { Verb::Restart } else { Verb::Switch };
                    let (node, target) = (node.node, host.target);
                    let (old, new) = (self.nodes[i].old.clone(), self.nodes[i].new.clone());
                    let new = new.expect("ready nodes have a system");
                    let lock = Arc::clone(host.lock.as_ref().expect("a host that activates is locked"));
                    let containers: Vec<&'a str> = plan
                        .fleet
                        .nodes()
                        .iter()
                        .filter(|n| n.host.as_deref() == Some(name))
                        .map(|n| n.name.as_str())
                        .collect();
                    self.begin(i, Stage::Activate);
                    self.spawn(scope, tx, move |_| {
                        let outcome = match plan.activate(node, &new, verb, target, &lock, sink) {
                            Outcome::Activated if verb == Verb::Restart && old.as_deref() == Some(&new) => {
                                Outcome::Restarted
                            }
                            outcome => outcome,
                        };
                        let restarts = match (&outcome, old) {
                            (Outcome::Activated, Some(old)) if !containers.is_empty() => {
                                plan.changed_units(target, &old, &new, &containers)
                            }
                            _ => Ok(Vec::new()),
                        };
                        Some(Message::Activated(i, outcome, restarts))
                    });
                }
            }
        }
    }

    /// Tells each node on `host` that waits for it (not evaluating or
    /// building) that `host` entered `stage`.
    fn announce(&self, host: &str, stage: Stage) {
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let waits = matches!(node.step, Step::Built | Step::Ready);
            if node.host == host && waits && node.outcome.is_none() {
                self.say_stage(i, stage);
            }
        }
    }

    fn say_stage(&self, i: usize, stage: Stage) {
        self.sink.event(Event::Stage { node: &self.nodes[i].node.name, stage });
    }

    /// Starts node `i`'s last stage, which takes one of its host's slots.
    fn begin(&mut self, i: usize, stage: Stage) {
        self.nodes[i].step = Step::Finishing;
        self.hosts.get_mut(self.nodes[i].host).expect("every involved host has a state").busy += 1;
        self.say_stage(i, stage);
    }

    /// What a deploy would do to node `i`.
    fn would(&self, i: usize) -> Outcome {
        if self.nodes[i].is_current() {
            Outcome::Unchanged
        } else {
            Outcome::WouldActivate
        }
    }

    /// Node `i`'s evaluation or build failed.
    fn fail_build(&mut self, i: usize, error: CommandError) {
        let error = NodeError::new(&self.nodes[i].node.name, Stage::Build, error);
        self.finish(i, Outcome::Failed(error));
    }

    /// Fails every unfinished node on `host` with one error of a shared stage.
    fn fail_host(&mut self, host: &str, stage: Stage, (error, tries): Tried) {
        self.hosts.get_mut(host).expect("every involved host has a state").step = HostStep::Failed;
        for i in 0..self.nodes.len() {
            if self.nodes[i].host == host && self.nodes[i].outcome.is_none() {
                let node = self.nodes[i].node.name.clone();
                self.finish(i, Outcome::Failed(NodeError { node, stage, error: error.clone(), tries }));
            }
        }
    }

    /// Node `i` is done: nothing more happens to it in this run.
    fn finish(&mut self, i: usize, outcome: Outcome) {
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
    fn finish_stragglers(&mut self) {
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

    fn summary(self) -> Summary {
        Summary { nodes: self.nodes.iter().map(NodeRun::report).collect() }
    }
}

impl NodeRun<'_> {
    fn report(&self) -> NodeReport {
        NodeReport {
            node: self.node.name.clone(),
            old: self.old.clone(),
            new: self.new.clone(),
            outcome: self.outcome.clone().expect("every node finishes"),
            diff: self.diff.clone(),
            generation: self.generation.clone(),
            pending: self.pending,
            elapsed: self.finished_at,
            reused_evaluation: self.reused_evaluation,
        }
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Evaluating | Step::Evaluated(_) | Step::Building | Step::Built => "build",
        Step::Pushing => "push",
        Step::Ready | Step::Finishing => "activation",
    }
}
