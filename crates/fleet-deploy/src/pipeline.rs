//! One run of the pipeline over a selection of nodes: [`Plan`] holds what a
//! run is about, one function per mode says which stages it takes, and
//! `flow.rs` moves every node through them, each on its own.
//!
//! - `build.rs`: evaluating and building one node;
//! - `host.rs`: a host's shared stages: lock, probe, push, with retries;
//! - `diff.rs`: a dry run's closure diff of one node;
//! - `activate.rs`: one node's activation job, its confirmation, and the
//!   containers a host switch leaves to restart;
//! - `live.rs`: those stages behind the scheduler's `Stages` trait;
//! - `reboot.rs`: rebooting hosts after a deploy, and which need it.

use std::collections::BTreeMap;
use std::time::Duration;

use fleet_graph::{Fleet, Node, Selection};
use fleet_nix::{Connections, EvalSettings, Nix, Target};

use crate::{ConfigError, Event, Goal, Kinds, Mode, Reboot, Sink, Summary};
use flow::{Finale, Flow, Probe, Rules, Topology};
use live::Live;

mod activate;
mod build;
mod diff;
mod flow;
mod host;
mod live;
mod reboot;

/// A validated run: the fleet, its kinds, the selected nodes and the flake
/// they are built from.
pub struct Plan<'a> {
    fleet: &'a Fleet,
    kinds: &'a Kinds,
    selection: Selection,
    flake: String,
    jobs: usize,
    /// The most builds at once, if limited; else every selected node's.
    builds: Option<usize>,
    confirm: Option<Duration>,
    answer_within: Duration,
    switch_seconds: u64,
    build_on_target: bool,
    build_logs: bool,
    evaluation: EvalSettings,
    goal: Goal,
    rollback_to: Option<u32>,
    status_build: bool,
    reboot: Reboot,
    reboot_within: Duration,
}

/// How long a rebooted host may take to answer over SSH again, by default.
pub const DEFAULT_REBOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a host waits for confirmation by default.
pub const DEFAULT_CONFIRM: Duration = Duration::from_secs(30);

/// How many activations (or diffs) run at once on one host unless `--jobs`
/// says otherwise.
pub const ACTIVATION_JOBS: usize = 8;

/// How long a target may take, by default, to answer a step that does little
/// work there: the agent's first line, the probe, `units.sh`, the
/// confirmation.
pub const DEFAULT_ANSWER: Duration = Duration::from_secs(60);

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
            jobs: ACTIVATION_JOBS,
            builds: None,
            confirm: Some(DEFAULT_CONFIRM),
            answer_within: DEFAULT_ANSWER,
            switch_seconds: crate::DEFAULT_SWITCH_SECONDS,
            build_on_target: false,
            build_logs: false,
            evaluation: EvalSettings::default(),
            goal: Goal::Switch,
            rollback_to: None,
            status_build: false,
            reboot: Reboot::Never,
            reboot_within: DEFAULT_REBOOT_TIMEOUT,
        })
    }

    /// Which hosts a deploy reboots after its activations (goals `switch`
    /// and `boot` only), and how long each may take to answer over SSH again
    /// before it counts as failed.
    pub fn with_reboot(mut self, reboot: Reboot, within: Duration) -> Plan<'a> {
        self.reboot = reboot;
        self.reboot_within = within;
        self
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

    /// How many builds, and activations or diffs per host, may run at once
    /// (at least one each); `None` keeps the defaults: every selected node
    /// builds at once (nix runs each node's builds one at a time, so that is
    /// what one `nix build --max-jobs NODES` of them all would run), and
    /// [`ACTIVATION_JOBS`] activations per host.
    pub fn with_jobs(mut self, jobs: Option<usize>) -> Plan<'a> {
        if let Some(jobs) = jobs {
            self.jobs = jobs.max(1);
            self.builds = Some(jobs.max(1));
        }
        self
    }

    /// How many nodes build at once.
    fn build_slots(&self) -> usize {
        self.builds.unwrap_or(self.selection.names().len()).max(1)
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

    /// Makes `status` build the selected nodes and compare with that build,
    /// instead of with the last build of the flake's current content.
    pub fn with_status_build(mut self, build: bool) -> Plan<'a> {
        self.status_build = build;
        self
    }

    /// Narrows the selection to its hosts, none of their containers
    /// (`--no-containers`).
    pub fn hosts_only(mut self) -> Plan<'a> {
        let fleet = self.fleet;
        self.selection =
            self.selection.only(|name| fleet.node(name).is_some_and(|n| n.kind == fleet_graph::HOST_KIND));
        self
    }

    /// How long a target may take to answer a step that does little work
    /// there (default [`DEFAULT_ANSWER`]); past it the step fails, naming
    /// itself, and the run goes on without that host.
    pub fn with_answer_timeout(mut self, limit: Duration) -> Plan<'a> {
        self.answer_within = limit;
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
            return Err(ConfigError::OneTargetForSeveralHosts {
                hosts: hosts.iter().map(|h| h.name.clone()).collect(),
            });
        }
        hosts
            .into_iter()
            .map(|host| {
                let target = match override_target {
                    Some(target) => target.clone(),
                    None => {
                        let text = host
                            .attr_str("target")
                            .ok_or_else(|| ConfigError::NoTarget { host: host.name.clone() })?;
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
        sink.event(Event::Planned { nodes: self.selection.names() });
        match mode {
            Mode::Build => self.build(nix, sink),
            Mode::Status => self.status(nix, targets, sink),
            Mode::DryRun => self.dry_run(nix, targets, sink),
            Mode::Deploy => self.deploy(nix, targets, sink),
            Mode::Rollback => self.rollback(nix, targets, sink),
        }
    }

    /// Builds every selected node; no target is involved.
    fn build(&self, nix: &Nix, sink: &dyn Sink) -> Summary {
        let flow = Flow { build: true, lock: false, probe: None, finale: Finale::Built };
        self.schedule(flow, nix, &BTreeMap::new(), sink)
    }

    /// Reads what each selected node's target runs, without the lock, and
    /// compares it with a fresh build ([`Plan::with_status_build`]) or with
    /// what the last build of the flake's current content left: each node is
    /// unchanged or would be activated.
    fn status(&self, nix: &Nix, targets: &BTreeMap<String, Target>, sink: &dyn Sink) -> Summary {
        let flow =
            Flow { build: self.status_build, lock: false, probe: Some(Probe::Full), finale: Finale::Status };
        self.with_connections(targets, |targets| {
            let summary = self.schedule(flow, nix, targets, sink);
            self.report_reboots_needed(&summary, targets, sink);
            summary
        })
    }

    /// Builds every selected node and diffs its closure against what its
    /// target runs; nothing is copied and nothing changes.
    fn dry_run(&self, nix: &Nix, targets: &BTreeMap<String, Target>, sink: &dyn Sink) -> Summary {
        let flow = Flow { build: true, lock: false, probe: Some(Probe::Brief), finale: Finale::Diff };
        self.with_connections(targets, |targets| self.schedule(flow, nix, targets, sink))
    }

    /// Builds, pushes and activates every selected node, each as soon as what
    /// it needs is done, under each host's deploy lock.
    fn deploy(&self, nix: &Nix, targets: &BTreeMap<String, Target>, sink: &dyn Sink) -> Summary {
        let flow = Flow { build: true, lock: true, probe: Some(Probe::Brief), finale: Finale::Activate };
        let mut summary = self.with_connections(targets, |targets| self.schedule(flow, nix, targets, sink));
        // On connections of their own: a reboot ends the shared ones.
        self.reboot_hosts(&mut summary, targets, sink);
        summary
    }

    /// Moves every selected node's profile to its previous generation (or
    /// the one [`Plan::with_rollback_to`] names) and activates it, under each
    /// host's deploy lock; nothing is built.
    fn rollback(&self, nix: &Nix, targets: &BTreeMap<String, Target>, sink: &dyn Sink) -> Summary {
        let flow = Flow { build: false, lock: true, probe: Some(Probe::Full), finale: Finale::Activate };
        self.with_connections(targets, |targets| self.schedule(flow, nix, targets, sink))
    }

    /// Runs `flow` over the selection on `targets` (unused when it probes
    /// none), with the real stages.
    fn schedule(
        &self,
        flow: Flow,
        nix: &Nix,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) -> Summary {
        let profile = |node: &Node| self.kinds.of(node).profile(node);
        let involved = flow.probe.map(|_| targets);
        let topology = Topology::of(self.fleet, &self.selection, involved, profile);
        // A status without a build compares with what the last one left.
        let known = match (flow.build, flow.finale) {
            (false, Finale::Status) => self.known_systems(nix),
            _ => Vec::new(),
        };
        let rules = Rules {
            jobs: self.jobs,
            builds: self.build_slots(),
            goal: self.goal,
            build_on_target: self.build_on_target,
            rollback_to: self.rollback_to,
        };
        let stages = Live::new(self, nix, &topology, targets, sink);
        flow::run(&stages, &topology, flow, rules, known, sink)
    }

    /// Runs `work` with `targets` sharing one master connection each, for the
    /// whole run (the locks and builds on the targets use them too); closed
    /// when it returns.
    fn with_connections<T>(
        &self,
        targets: &BTreeMap<String, Target>,
        work: impl FnOnce(&BTreeMap<String, Target>) -> T,
    ) -> T {
        let connections = Connections::new().ok();
        let shared: BTreeMap<String, Target> = targets
            .iter()
            .map(|(host, target)| {
                let target = connections.as_ref().map_or_else(|| target.clone(), |c| c.share(target));
                (host.clone(), target)
            })
            .collect();
        let result = work(&shared);
        drop(connections);
        result
    }
}
