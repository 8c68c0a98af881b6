//! The fake stages the scheduler's unit tests run with, and the harness
//! that runs a fleet through them. Each fake stage writes a line to one log,
//! in the order the stages ran.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Condvar, Mutex};

pub(super) use super::gate::Gate;
use std::time::Duration;

use fleet_graph::{Fleet, Node};
use fleet_nix::{CommandError, Evaluated, Failure, Target};

use super::super::stages::{Activation, Diffed, Probes, Restarts, Stages};
use super::super::topology::{HostId, NodeId, Topology};
use super::super::{Finale, Flow, Probe, Rules};
use crate::job::Verb;
use crate::pipeline::host::Tried;
use crate::probe::Probed;
use crate::{Event, Goal, NodeError, Outcome, Sink, Stage, Summary};

/// How long a fake stage waits for what a test says must happen meanwhile,
/// before it gives up and the test fails; never reached when the rule holds.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// What the fake target and builds do.
#[derive(Default)]
pub(super) struct Fake {
    /// What each node's profile points at (none when absent).
    pub(super) old: HashMap<String, String>,
    /// The generations of each node's profile, for a rollback.
    pub(super) generations: HashMap<String, Vec<(u32, String)>>,
    pub(super) failed_builds: HashSet<String>,
    pub(super) rolled_back: HashSet<String>,
    /// Each host's lock: held by this run, unless another holds it (`Some`).
    pub(super) locked_by: HashMap<String, String>,
    pub(super) broken_probe: HashSet<String>,
    pub(super) broken_push: HashSet<String>,
    /// What a host's switch changes: the containers to restart.
    pub(super) units: HashMap<String, Vec<String>>,
    /// A node whose build waits until another (the value) is activated.
    pub(super) build_after: HashMap<String, String>,
    pub(super) builds: Option<Gate>,
    pub(super) activations: Option<Gate>,
    /// Node and host names by id, as the topology gives them.
    pub(super) names: Vec<String>,
    pub(super) hosts: Vec<String>,
    pub(super) log: Mutex<Vec<String>>,
    pub(super) logged: Condvar,
}

impl Fake {
    fn say(&self, line: String) {
        self.log.lock().unwrap().push(line);
        self.logged.notify_all();
    }

    pub(super) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub(super) fn new_system(name: &str) -> String {
        format!("new-{name}")
    }
}

pub(super) fn failure(command: &str, code: i32, stderr: &str) -> CommandError {
    CommandError {
        command: command.to_string(),
        failure: Failure::Exit { code: Some(code), stderr_tail: stderr.to_string() },
    }
}

impl Fake {
    /// One node's build, on its own thread of a batch.
    fn build_one(&self, node: NodeId, drv: &str, on: Option<HostId>) -> Result<String, CommandError> {
        let name = &self.names[node.0];
        assert_eq!(drv, format!("drv-{name}"));
        if let Some(gate) = &self.builds {
            gate.pass();
        }
        if let Some(other) = self.build_after.get(name) {
            let done = format!("activate {other}");
            let log = self.log.lock().unwrap();
            let (log, _) = self.logged.wait_timeout_while(log, PATIENCE, |log| !log.contains(&done)).unwrap();
            drop(log);
        }
        let store = on.map_or("here".to_string(), |h| self.hosts[h.0].clone());
        self.say(format!("build {name} in {store}"));
        if self.failed_builds.contains(name) {
            return Err(failure(&format!("nix build {drv}"), 1, "builder failed"));
        }
        Ok(Fake::new_system(name))
    }
}

impl Stages for Fake {
    type Lock = String;

    fn evaluate(&self, on_each: &mut dyn FnMut(NodeId, Result<Evaluated, CommandError>)) {
        for (i, name) in self.names.iter().enumerate() {
            on_each(NodeId(i), Ok(Evaluated { drv: format!("drv-{name}"), reused: false }));
        }
    }

    fn build(
        &self,
        batch: &[(NodeId, String)],
        on: Option<HostId>,
        on_each: &mut dyn FnMut(NodeId, Result<String, CommandError>),
    ) {
        let names: Vec<&str> = batch.iter().map(|(i, _)| self.names[i.0].as_str()).collect();
        self.say(format!("batch {}", names.join(" ")));
        // Side by side, each told when it is done, as nix's scheduler does.
        let (done, each) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for (node, drv) in batch {
                let done = done.clone();
                scope.spawn(move || done.send((*node, self.build_one(*node, drv, on))));
            }
            drop(done);
            for (node, built) in each {
                on_each(node, built);
            }
        });
    }

    fn lock(&self, host: HostId) -> Result<String, Tried> {
        let name = &self.hosts[host.0];
        self.say(format!("lock {name}"));
        match self.locked_by.get(name) {
            Some(holder) if holder.is_empty() => Err((failure("agent", 255, "Connection refused"), 4)),
            Some(holder) => Err((
                failure("agent", 75, &format!("another deploy holds the lock on this target: {holder}")),
                1,
            )),
            None => Ok(format!("lock of {name}")),
        }
    }

    fn probe(&self, host: HostId, nodes: &[NodeId], full: bool) -> Result<Probes, Tried> {
        let name = &self.hosts[host.0];
        self.say(format!("probe {name}"));
        if self.broken_probe.contains(name) {
            return Err((failure("probe", 255, "Connection closed"), 4));
        }
        Ok(nodes
            .iter()
            .map(|&i| {
                let node = &self.names[i.0];
                if self.broken_probe.contains(node) {
                    return (i, Err(failure("probe", 1, &format!("{node}'s profile is not a link"))));
                }
                let generations =
                    if full { self.generations.get(node).cloned().unwrap_or_default() } else { vec![] };
                let probed = Probed {
                    current: self.old.get(node).cloned(),
                    pending: false,
                    generation: generations.last().map(|(n, _)| *n),
                    since: None,
                    generations,
                };
                (i, Ok(probed))
            })
            .collect())
    }

    fn push(&self, host: HostId, paths: &[String]) -> Result<(), Tried> {
        let name = &self.hosts[host.0];
        self.say(format!("push {name} {}", paths.join(" ")));
        match self.broken_push.contains(name) {
            true => Err((failure("nix copy", 1, "Connection reset"), 4)),
            false => Ok(()),
        }
    }

    fn diff(&self, node: NodeId, host: HostId, old: Option<&str>, new: &str) -> Diffed {
        let host = &self.hosts[host.0];
        self.say(format!("diff {} on {host}: {old:?} -> {new}", self.names[node.0]));
        Ok(crate::closure_diff(&[], &[]))
    }

    fn activate(&self, node: NodeId, host: HostId, activation: &Activation, lock: &String) -> Outcome {
        let name = &self.names[node.0];
        assert_eq!(
            lock,
            &format!("lock of {}", self.hosts[host.0]),
            "activations run under their host's lock"
        );
        if let Some(gate) = &self.activations {
            gate.pass();
        }
        let verb = match activation.verb {
            Verb::Goal => "switch",
            Verb::Restart => "restart",
        };
        let generation = activation.generation.map_or(String::new(), |n| format!(" generation {n}"));
        self.say(format!("activate {name}"));
        self.say(format!("{verb} {name} to {}{generation}", activation.new));
        if self.rolled_back.contains(name) {
            return Outcome::RolledBack(NodeError::new(
                name,
                Stage::Activate,
                failure("job", 1, "check failed"),
            ));
        }
        Outcome::Activated
    }

    fn changed_units(&self, host: HostId, old: &str, new: &str, containers: &[String]) -> Restarts {
        let host = &self.hosts[host.0];
        self.say(format!("units {host} {old} -> {new} of {}", containers.join(",")));
        Ok(self.units.get(host).cloned().unwrap_or_default())
    }

    fn notes(&self, _lock: &String) -> Vec<String> {
        Vec::new()
    }
}

/// Every event, as a line.
#[derive(Default)]
pub(super) struct Events(Mutex<Vec<String>>);

impl Sink for Events {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Stage { node, stage } => format!("{node}: {stage}"),
            Event::Notice { host, message } => format!("{host} notice: {message}"),
            Event::Finished(report) => format!("{}: {}", report.node, report.outcome.label()),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// A fleet from `spec`: items `NAME:KIND[:HOST[:DEP,DEP]]`, as in
/// fleet-graph's own tests.
fn fleet(spec: &str) -> Fleet {
    let nodes = spec
        .split_whitespace()
        .map(|item| {
            let parts: Vec<&str> = item.split(':').collect();
            Node {
                name: parts[0].to_string(),
                kind: parts[1].to_string(),
                host: parts.get(2).filter(|h| !h.is_empty()).map(|h| h.to_string()),
                depends_on: parts
                    .get(3)
                    .map(|d| d.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default(),
                attrs: serde_json::Map::new(),
            }
        })
        .collect();
    Fleet::new(nodes).unwrap()
}

pub(super) const DEPLOY: Flow =
    Flow { build: true, lock: true, probe: Some(Probe::Brief), finale: Finale::Activate };

pub(super) fn rules(jobs: usize) -> Rules {
    Rules { jobs, builds: jobs, goal: Goal::Switch, build_on_target: false, rollback_to: None }
}

/// One run of `flow` over all of `spec`'s nodes, every host over SSH.
pub(super) struct Ran {
    pub(super) summary: Summary,
    pub(super) log: Vec<String>,
    pub(super) events: Vec<String>,
    /// The most builds, and activations, that ran at once (when gated).
    pub(super) most: (usize, usize),
}

impl Ran {
    pub(super) fn outcomes(&self) -> Vec<String> {
        self.summary.nodes.iter().map(|r| format!("{}={}", r.node, r.outcome.label())).collect()
    }

    /// Where the first log line that starts with `start` is.
    pub(super) fn at(&self, start: &str) -> usize {
        self.log
            .iter()
            .position(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in {:#?}", self.log))
    }

    pub(super) fn has(&self, start: &str) -> bool {
        self.log.iter().any(|line| line.starts_with(start))
    }

    pub(super) fn reason(&self, node: &str) -> String {
        let report = self.summary.nodes.iter().find(|r| r.node == node).unwrap();
        match &report.outcome {
            Outcome::Skipped(why) | Outcome::NotStarted(why) => why.clone(),
            Outcome::Failed(error) | Outcome::RolledBack(error) => format!("{} {}", error.stage, error.error),
            other => other.label().to_string(),
        }
    }
}

pub(super) fn run_on(
    spec: &str,
    flow: Flow,
    rules: Rules,
    known: Vec<Option<String>>,
    mut fake: Fake,
) -> Ran {
    let fleet = fleet(spec);
    let selection = fleet.select_on(&[], &[]).unwrap();
    let targets: BTreeMap<String, Target> = fleet
        .nodes()
        .iter()
        .filter(|n| n.host.is_none())
        .map(|n| (n.name.clone(), Target::parse(&format!("root@{}", n.name)).unwrap()))
        .collect();
    let involved = flow.probe.map(|_| &targets);
    let topology = Topology::of(&fleet, &selection, involved, |node| format!("/profiles/{}", node.name));
    run_topology(&topology, flow, rules, known, fake_for(&topology, &mut fake))
}

/// `fake`, told the names of `topology`'s nodes and hosts.
fn fake_for(topology: &Topology, fake: &mut Fake) -> Fake {
    fake.names = topology.nodes.iter().map(|n| n.name.clone()).collect();
    fake.hosts = topology.hosts.iter().map(|h| h.name.clone()).collect();
    std::mem::take(fake)
}

fn run_topology(
    topology: &Topology,
    flow: Flow,
    rules: Rules,
    known: Vec<Option<String>>,
    fake: Fake,
) -> Ran {
    let events = Events::default();
    let summary = super::super::run(&fake, topology, flow, rules, known, &events);
    let most = |gate: &Option<Gate>| {
        let (most, stuck) = gate.as_ref().map_or((0, false), Gate::most);
        assert!(!stuck, "a call waited in vain for the limit: {:#?}", fake.log());
        most
    };
    let most = (most(&fake.builds), most(&fake.activations));
    Ran { summary, log: fake.log(), events: events.0.into_inner().unwrap(), most }
}

pub(super) fn deploy(spec: &str, fake: Fake) -> Ran {
    run_on(spec, DEPLOY, rules(8), Vec::new(), fake)
}

/// Every node of `spec` already runs its new system.
pub(super) fn current(spec: &str) -> HashMap<String, String> {
    spec.split_whitespace()
        .map(|item| item.split(':').next().unwrap())
        .map(|name| (name.to_string(), Fake::new_system(name)))
        .collect()
}
