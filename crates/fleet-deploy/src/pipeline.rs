//! One run of the pipeline over a selection of nodes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fleet_diff::ClosureDiff;
use fleet_graph::{Fleet, Node, Selection};
use fleet_nix::{CommandError, Connections, EvalSettings, Nix, PathInfo, Target};
use rayon::prelude::*;

use crate::lock::DeployLock;

mod activate;
mod build;
use crate::probe::{parse_probe, probe_script};
use crate::{
    ConfigError, Event, Generation, Goal, Kinds, Mode, NodeError, NodeReport, Outcome, Sink, Stage, Summary,
};

/// A validated run: the fleet, its kinds, the selected nodes and the flake
/// they are built from.
pub struct Plan<'a> {
    fleet: &'a Fleet,
    kinds: &'a Kinds,
    selection: Selection,
    flake: String,
    jobs: usize,
    confirm: Option<Duration>,
    switch_seconds: u64,
    build_on_target: bool,
    build_logs: bool,
    evaluation: EvalSettings,
    goal: Goal,
    rollback_to: Option<u32>,
}

/// The per-node state while a run is under way.
#[derive(Default)]
struct Progress {
    old: Option<String>,
    new: Option<String>,
    /// An earlier activation of this node started and did not finish.
    pending: bool,
    outcome: Option<Outcome>,
    diff: Option<ClosureDiff>,
    generation: Option<Generation>,
    elapsed: Duration,
    reused_evaluation: bool,
    /// A rollback moves the profile to this existing generation.
    switch_generation: Option<u32>,
}

impl Progress {
    /// The target runs exactly the new system, fully activated.
    fn is_current(&self) -> bool {
        self.new.is_some() && self.old == self.new && !self.pending
    }
}

type States<'n> = HashMap<&'n str, Progress>;

/// How long a host waits for confirmation by default.
pub const DEFAULT_CONFIRM: Duration = Duration::from_secs(30);

impl<'a> Plan<'a> {
    /// Checks that every node's kind is known and accepts it, and selects the
    /// nodes on `hosts` (all when empty), narrowed to the `containers` named.
    pub fn new(
        fleet: &'a Fleet,
        kinds: &'a Kinds,
        hosts: &[String],
        containers: &[String],
        flake: &str,
    ) -> Result<Plan<'a>, ConfigError> {
        kinds.validate(fleet)?;
        let selection = fleet.select_on(hosts, containers)?;
        Ok(Plan {
            fleet,
            kinds,
            selection,
            flake: flake.to_string(),
            jobs: 8,
            confirm: Some(DEFAULT_CONFIRM),
            switch_seconds: crate::DEFAULT_SWITCH_SECONDS,
            build_on_target: false,
            build_logs: false,
            evaluation: EvalSettings::default(),
            goal: Goal::Switch,
            rollback_to: None,
        })
    }

    /// What a deploy does to each node (default: [`Goal::Switch`]).
    pub fn with_goal(mut self, goal: Goal) -> Plan<'a> {
        self.goal = goal;
        self
    }

    /// The generation a rollback moves each node's profile to (default: the
    /// one before the current).
    pub fn with_rollback_to(mut self, generation: Option<u32>) -> Plan<'a> {
        self.rollback_to = generation;
        self
    }

    /// How many builds and activations may run at once (at least one).
    pub fn with_jobs(mut self, jobs: usize) -> Plan<'a> {
        self.jobs = jobs.max(1);
        self
    }

    /// Builds each node's closure on its host (like `nixos-rebuild
    /// --build-host`): the derivations are evaluated here and copied there, and
    /// nothing needs pushing afterwards.
    pub fn with_build_on_target(mut self, on: bool) -> Plan<'a> {
        self.build_on_target = on;
        self
    }

    /// How the nodes are evaluated: workers, memory budget, reuse.
    pub fn with_evaluation(mut self, settings: EvalSettings) -> Plan<'a> {
        self.evaluation = settings;
        self
    }

    /// Passes every line the builders print on as [`Event::BuildLog`], as
    /// `nix build -L` shows them.
    pub fn with_build_logs(mut self, on: bool) -> Plan<'a> {
        self.build_logs = on;
        self
    }

    /// How long a host waits for the deployer to confirm a switch before it
    /// rolls back by itself; `None` turns confirmation off.
    pub fn with_confirm_timeout(mut self, timeout: Option<Duration>) -> Plan<'a> {
        self.confirm = timeout;
        self
    }

    /// How long one switch may take on the target before the job stops it
    /// and rolls back (at least a second).
    pub fn with_switch_timeout(mut self, timeout: Duration) -> Plan<'a> {
        self.switch_seconds = timeout.as_secs().max(1);
        self
    }

    /// The selected nodes in activation order.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The target of every host that a selected node runs on: `override_target`
    /// if given (only when one host is involved), else the host's `target` field.
    pub fn targets(&self, override_target: Option<&Target>) -> Result<BTreeMap<String, Target>, ConfigError> {
        let mut hosts: Vec<&Node> = Vec::new();
        for name in self.selection.names() {
            let host = self.fleet.host_of(name).expect("validated nodes have hosts");
            if !hosts.iter().any(|h| h.name == host.name) {
                hosts.push(host);
            }
        }
        if override_target.is_some() && hosts.len() > 1 {
            return Err(ConfigError::Target {
                host: hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "),
                reason: "--target names one machine but the selection spans several hosts; \
                         select one host's nodes"
                    .into(),
            });
        }
        hosts
            .into_iter()
            .map(|host| {
                let target = match override_target {
                    Some(target) => target.clone(),
                    None => {
                        let text = host.attr_str("target").ok_or_else(|| ConfigError::Target {
                            host: host.name.clone(),
                            reason: "no `target` in the graph data; add one or pass \
                                     --target USER@HOST[:PORT]"
                                .into(),
                        })?;
                        Target::parse(text)
                            .map_err(|reason| ConfigError::Target { host: host.name.clone(), reason })?
                    }
                };
                Ok((host.name.clone(), target))
            })
            .collect()
    }

    /// Runs the pipeline. Unless in [`Mode::Build`], `targets` must hold every
    /// involved host (see [`Plan::targets`]).
    pub fn run(&self, nix: &Nix, mode: Mode, targets: &BTreeMap<String, Target>, sink: &dyn Sink) -> Summary {
        let names = self.selection.names();
        sink.event(Event::Planned { nodes: names });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs.min(names.len()).max(1))
            .build()
            .expect("a thread pool of a few threads can be built");
        let mut states: States<'_> = names.iter().map(|n| (n.as_str(), Progress::default())).collect();

        // One master connection per target for the whole run; dropped (closed)
        // after the locks, which use them. Builds on the targets use them too.
        let connections = if mode == Mode::Build { None } else { Connections::new().ok() };
        let shared: BTreeMap<String, Target> = targets
            .iter()
            .map(|(host, target)| {
                let target = connections.as_ref().map_or_else(|| target.clone(), |c| c.share(target));
                (host.clone(), target)
            })
            .collect();
        let targets = &shared;
        if mode == Mode::Build {
            let builds = self.build_all(nix, &pool, None, sink);
            self.apply_builds(builds, &mut states, sink);
            for node in self.pending(&states) {
                let state = states.get_mut(node.name.as_str()).expect("every selected node has a state");
                finish(sink, &node.name, state, Outcome::Built);
            }
            return summary(names, states);
        }

        // The build and, for every host at once, its lock and probe run side by
        // side: neither needs the other's result. The locks are held until the
        // run ends.
        let run = crate::lock::new_run_id();
        let mut per_host = self.split_by_host(&mut states, targets);
        let (builds, locks): (Vec<_>, Vec<(&String, DeployLock)>) = pool.install(|| {
            rayon::join(
                || match mode {
                    Mode::Rollback => Vec::new(),
                    _ => self.build_all(nix, &pool, self.build_on_target.then_some(targets), sink),
                },
                || {
                    per_host
                        .par_iter_mut()
                        .filter_map(|(host, target, states)| {
                            let lock = match mode {
                                Mode::Deploy | Mode::Rollback => {
                                    Some(self.lock(host, target, &run, states, sink)?)
                                }
                                _ => None,
                            };
                            self.probe(host, target, mode, states, sink);
                            lock.map(|lock| (*host, lock))
                        })
                        .collect()
                },
            )
        });
        for (_, _, host_states) in per_host {
            states.extend(host_states);
        }
        self.apply_builds(builds, &mut states, sink);
        if mode == Mode::Status {
            for node in self.pending(&states) {
                let state = states.get_mut(node.name.as_str()).expect("every selected node has a state");
                let outcome = if state.is_current() { Outcome::Unchanged } else { Outcome::WouldActivate };
                finish(sink, &node.name, state, outcome);
            }
            return summary(names, states);
        }
        if mode == Mode::DryRun {
            let diffs: Vec<_> = pool.install(|| {
                self.pending(&states)
                    .par_iter()
                    .map(|node| self.diff(nix, node, &states, targets, sink))
                    .collect()
            });
            for (name, result, elapsed) in diffs {
                let state = states.get_mut(name).expect("every selected node has a state");
                state.elapsed += elapsed;
                let outcome = match result {
                    Ok(diff) => {
                        state.diff = Some(diff);
                        if state.is_current() {
                            Outcome::Unchanged
                        } else {
                            Outcome::WouldActivate
                        }
                    }
                    Err(error) => Outcome::Failed(error),
                };
                finish(sink, name, state, outcome);
            }
            return summary(names, states);
        }

        // Closures built on the target are already there.
        if mode == Mode::Deploy && !self.build_on_target {
            let mut per_host = self.split_by_host(&mut states, targets);
            pool.install(|| {
                per_host
                    .par_iter_mut()
                    .for_each(|(host, target, states)| self.push(nix, host, target, states, sink))
            });
            for (_, _, host_states) in per_host {
                states.extend(host_states);
            }
        }
        let held: HashMap<&str, &DeployLock> =
            locks.iter().map(|(host, lock)| (host.as_str(), lock)).collect();
        self.activate_all(&mut states, targets, &held, sink);
        for (host, lock) in &locks {
            for message in lock.notes() {
                sink.event(Event::Notice { host, message: &message });
            }
        }
        drop(held);
        drop(locks);
        drop(connections);
        summary(names, states)
    }

    /// Moves each host's nodes' states out of `states`, to work on hosts in
    /// parallel; put them back with `extend`.
    fn split_by_host<'t, 'n>(
        &self,
        states: &mut States<'n>,
        targets: &'t BTreeMap<String, Target>,
    ) -> Vec<(&'t String, &'t Target, States<'n>)> {
        targets
            .iter()
            .map(|(host, target)| {
                let mine: Vec<&str> = states
                    .keys()
                    .copied()
                    .filter(|name| self.fleet.host_of(name).is_some_and(|h| &h.name == host))
                    .collect();
                let mine = mine.into_iter().filter_map(|name| states.remove_entry(name)).collect();
                (host, target, mine)
            })
            .collect()
    }

    /// Records build results; a failed build fails its node unless an earlier
    /// stage (lock, probe) already did.
    fn apply_builds(&self, builds: Vec<build::Built<'_>>, states: &mut States<'_>, sink: &dyn Sink) {
        for build::Built { node: name, result, elapsed, reused_evaluation } in builds {
            let state = states.get_mut(name).expect("every selected node has a state");
            state.elapsed += elapsed;
            state.reused_evaluation = reused_evaluation;
            match result {
                Ok(path) => state.new = Some(path),
                Err(error) if state.outcome.is_none() => finish(sink, name, state, Outcome::Failed(error)),
                Err(_) => {}
            }
        }
    }

    /// Selected nodes that have not finished yet, in activation order.
    fn pending(&self, states: &States<'_>) -> Vec<&'a Node> {
        self.selection
            .names()
            .iter()
            .filter(|name| states.get(name.as_str()).is_some_and(|s| s.outcome.is_none()))
            .map(|name| self.fleet.node(name).expect("selected nodes exist"))
            .collect()
    }

    /// Pending nodes placed on `host`.
    fn pending_on(&self, host: &str, states: &States<'_>) -> Vec<&'a Node> {
        self.pending(states)
            .into_iter()
            .filter(|node| self.fleet.host_of(&node.name).is_some_and(|h| h.name == host))
            .collect()
    }

    /// Fails every pending node on `host` with one error of a shared stage.
    fn fail_host(
        &self,
        host: &str,
        stage: Stage,
        (error, tries): (CommandError, u32),
        states: &mut States<'_>,
        sink: &dyn Sink,
    ) {
        for node in self.pending_on(host, states) {
            let state = states.get_mut(node.name.as_str()).expect("every selected node has a state");
            let error = NodeError { node: node.name.clone(), stage, error: error.clone(), tries };
            finish(sink, &node.name, state, Outcome::Failed(error));
        }
    }

    /// Takes `host`'s deploy lock, or fails its nodes with the holder's name.
    fn lock(
        &self,
        host: &str,
        target: &Target,
        run: &str,
        states: &mut States<'_>,
        sink: &dyn Sink,
    ) -> Option<DeployLock> {
        let on_host = self.pending_on(host, states);
        if on_host.is_empty() {
            return None;
        }
        for node in &on_host {
            sink.event(Event::Stage { node: &node.name, stage: Stage::Lock });
        }
        match retrying(host, Stage::Lock, sink, || DeployLock::acquire_for(target, run, self.kinds)) {
            Ok(lock) => {
                if let Some(previous) = &lock.took_over {
                    let message = format!("took over the deploy lock from {previous}");
                    sink.event(Event::Notice { host, message: &message });
                }
                Some(lock)
            }
            Err(failure) => {
                self.fail_host(host, Stage::Lock, failure, states, sink);
                None
            }
        }
    }

    /// One SSH round trip reads the current system of every pending node on
    /// `host`. In a rollback, a node's new system is its previous generation.
    fn probe(&self, host: &str, target: &Target, mode: Mode, states: &mut States<'_>, sink: &dyn Sink) {
        let on_host = self.pending_on(host, states);
        if on_host.is_empty() {
            return;
        }
        for node in &on_host {
            sink.event(Event::Stage { node: &node.name, stage: Stage::Probe });
        }
        let nodes: Vec<(String, String)> =
            on_host.iter().map(|node| (node.name.clone(), self.kinds.of(node).profile(node))).collect();
        let names: Vec<String> = nodes.iter().map(|(name, _)| name.clone()).collect();
        let full = matches!(mode, Mode::Status | Mode::Rollback);
        let started = Instant::now();
        let probed = retrying(host, Stage::Probe, sink, || {
            target.run(&probe_script(&nodes, full)).and_then(|out| parse_probe(&out, &names))
        });
        let elapsed = started.elapsed();
        let probed = match probed {
            Ok(probed) => probed,
            Err(failure) => return self.fail_host(host, Stage::Probe, failure, states, sink),
        };
        for (node, probed) in on_host.into_iter().zip(probed) {
            let state = states.get_mut(node.name.as_str()).expect("every selected node has a state");
            state.elapsed += elapsed;
            state.old = probed.current.clone();
            state.pending = probed.pending;
            state.generation =
                probed.generation.map(|number| Generation { number, since: probed.since.clone() });
            if mode == Mode::Rollback {
                match crate::rollback::generation_to(
                    &probed,
                    self.rollback_to,
                    &self.kinds.of(node).profile(node),
                ) {
                    Ok((number, system)) => {
                        state.new = Some(system);
                        state.switch_generation = Some(number);
                    }
                    Err(error) => finish(
                        sink,
                        &node.name,
                        state,
                        Outcome::Failed(NodeError::new(&node.name, Stage::Probe, error)),
                    ),
                }
            }
        }
    }

    /// One `nix copy` of the closures of the pending nodes on `host` that changed.
    fn push(&self, nix: &Nix, host: &str, target: &Target, states: &mut States<'_>, sink: &dyn Sink) {
        let changed: Vec<&Node> = self
            .pending_on(host, states)
            .into_iter()
            .filter(|node| !states[node.name.as_str()].is_current())
            .collect();
        if changed.is_empty() {
            return;
        }
        for node in &changed {
            sink.event(Event::Stage { node: &node.name, stage: Stage::Push });
        }
        let paths: Vec<String> = changed
            .iter()
            .map(|node| states[node.name.as_str()].new.clone().expect("pending nodes are built"))
            .collect();
        let started = Instant::now();
        let pushed = retrying(host, Stage::Push, sink, || nix.copy_to(target, &paths));
        let elapsed = started.elapsed();
        for node in &changed {
            states.get_mut(node.name.as_str()).expect("every selected node has a state").elapsed += elapsed;
        }
        if let Err(failure) = pushed {
            self.fail_host(host, Stage::Push, failure, states, sink);
        }
    }

    /// Reads the node's closure on the target (empty when it has none) and the new
    /// one locally, and diffs them. Nothing is copied.
    fn diff<'n>(
        &self,
        nix: &Nix,
        node: &'n Node,
        states: &States<'_>,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) -> (&'n str, Result<ClosureDiff, NodeError>, Duration) {
        let name = node.name.as_str();
        sink.event(Event::Stage { node: name, stage: Stage::Diff });
        let started = Instant::now();
        let state = &states[name];
        let new = state.new.as_deref().expect("pending nodes are built");
        let read = |target: &Target, path: &str| {
            let infos = match target {
                Target::Local => {
                    nix.local_closures(&[path.to_string()]).map(|mut closures| closures.remove(0))
                }
                Target::Ssh(_) => nix.closure(target, path),
            };
            infos.map(|infos| infos.into_iter().map(to_diff_path).collect())
        };
        let host = self.fleet.host_of(name).expect("validated nodes have hosts");
        let built_on = if self.build_on_target { &targets[&host.name] } else { &Target::Local };
        let result = read(built_on, new)
            .and_then(|new_closure: Vec<fleet_diff::PathInfo>| {
                let old_closure = match state.old.as_deref() {
                    None => Vec::new(),
                    Some(old) if old == new => new_closure.clone(),
                    Some(old) => read(&targets[&host.name], old)?,
                };
                Ok(fleet_diff::diff(&old_closure, &new_closure))
            })
            .map_err(|error| NodeError::new(name, Stage::Diff, error));
        (name, result, started.elapsed())
    }
}

/// How many times a stage that lost its connection is tried.
const TRIES: u32 = 4;
/// The wait before the first retry; it doubles for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Runs `op`, trying again with backoff while it fails with a lost or refused
/// connection; returns the last error and how many tries were made.
fn retrying<T>(
    host: &str,
    stage: Stage,
    sink: &dyn Sink,
    mut op: impl FnMut() -> Result<T, CommandError>,
) -> Result<T, (CommandError, u32)> {
    let mut attempt = 1;
    loop {
        match op() {
            Ok(value) => return Ok(value),
            Err(error) if error.is_connection_failure() && attempt < TRIES => {
                let reason = error.to_string();
                sink.event(Event::Retry { host, stage, attempt, reason: &reason });
                std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
                attempt += 1;
            }
            Err(error) => return Err((error, attempt)),
        }
    }
}

fn to_diff_path(info: PathInfo) -> fleet_diff::PathInfo {
    fleet_diff::PathInfo::new(info.path, info.nar_size)
}

fn finish(sink: &dyn Sink, name: &str, state: &mut Progress, outcome: Outcome) {
    state.outcome = Some(outcome.clone());
    sink.event(Event::Finished(&NodeReport {
        node: name.to_string(),
        old: state.old.clone(),
        new: state.new.clone(),
        outcome,
        diff: state.diff.clone(),
        generation: state.generation.clone(),
        pending: state.pending,
        elapsed: state.elapsed,
        reused_evaluation: state.reused_evaluation,
    }));
}

fn summary(names: &[String], mut states: States<'_>) -> Summary {
    Summary {
        nodes: names
            .iter()
            .map(|name| {
                let state = states.remove(name.as_str()).expect("every selected node has a state");
                NodeReport {
                    node: name.clone(),
                    old: state.old,
                    new: state.new,
                    outcome: state.outcome.expect("every node finishes"),
                    diff: state.diff,
                    generation: state.generation,
                    pending: state.pending,
                    elapsed: state.elapsed,
                    reused_evaluation: state.reused_evaluation,
                }
            })
            .collect(),
    }
}
