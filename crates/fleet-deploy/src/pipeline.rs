//! One run of the pipeline over a selection of nodes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fleet_graph::{Fleet, Node, Selection};
use fleet_nix::{CommandError, Failure, Nix, RemoteScript, Target};
use rayon::prelude::*;

use crate::{ConfigError, Event, Kinds, NodeError, Sink, Stage};

/// How far a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build the closures and stop.
    Build,
    /// Build, probe, push and activate.
    Deploy,
}

/// How one node ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Built (build mode only).
    Built,
    /// The target now runs the new system.
    Activated,
    /// The target already ran this exact system: nothing was pushed or activated.
    Unchanged,
    /// A stage failed.
    Failed(NodeError),
    /// Not attempted, because a node it depends on did not succeed.
    Skipped(String),
}

impl Outcome {
    /// Whether dependents may proceed.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Built | Outcome::Activated | Outcome::Unchanged
        )
    }

    /// One word for tables and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::Activated => "activated",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// The node.
    pub node: String,
    /// The system the target ran before, if probed and present.
    pub old: Option<String>,
    /// The system built for it, if the build succeeded.
    pub new: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Time spent on this node's own stages.
    pub elapsed: Duration,
}

/// The result of a run: one report per selected node, in activation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The node reports.
    pub nodes: Vec<NodeReport>,
}

impl Summary {
    /// Whether every node succeeded.
    pub fn success(&self) -> bool {
        self.nodes.iter().all(|n| n.outcome.is_success())
    }
}

/// A validated run: the fleet, its kinds, the selected nodes and the flake
/// they are built from.
pub struct Plan<'a> {
    fleet: &'a Fleet,
    kinds: &'a Kinds,
    selection: Selection,
    flake: String,
    jobs: usize,
}

/// The per-node state while a run is under way.
#[derive(Default)]
struct Progress {
    old: Option<String>,
    new: Option<String>,
    outcome: Option<Outcome>,
    elapsed: Duration,
}

/// Reads an ordered list of `profile<TAB>store path` lines (empty path: no profile).
const PROBE: &str = r#"for profile in "$@"; do
  printf '%s\t%s\n' "$profile" "$(readlink -e -- "$profile" || true)"
done
"#;

impl<'a> Plan<'a> {
    /// Checks that every node's kind is known and accepts it, and selects
    /// `containers` (all nodes when empty).
    pub fn new(
        fleet: &'a Fleet,
        kinds: &'a Kinds,
        containers: &[String],
        flake: &str,
    ) -> Result<Plan<'a>, ConfigError> {
        kinds.validate(fleet)?;
        let selection = fleet.select(containers)?;
        Ok(Plan {
            fleet,
            kinds,
            selection,
            flake: flake.to_string(),
            jobs: 8,
        })
    }

    /// How many builds and activations may run at once (at least one).
    pub fn with_jobs(mut self, jobs: usize) -> Plan<'a> {
        self.jobs = jobs.max(1);
        self
    }

    /// The selected nodes in activation order.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The target of every host that a selected node runs on: `override_target`
    /// if given (only when one host is involved), else the host's `target` field.
    pub fn targets(
        &self,
        override_target: Option<&Target>,
    ) -> Result<BTreeMap<String, Target>, ConfigError> {
        let mut hosts: Vec<&Node> = Vec::new();
        for name in self.selection.names() {
            let host = self
                .fleet
                .host_of(name)
                .expect("validated nodes have hosts");
            if !hosts.iter().any(|h| h.name == host.name) {
                hosts.push(host);
            }
        }
        if override_target.is_some() && hosts.len() > 1 {
            return Err(ConfigError::Target {
                host: hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "),
                reason: "--target names one machine but the selection spans several hosts; select one host's nodes".into(),
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
                            reason: "no `target` in the graph data; add one or pass --target USER@HOST[:PORT]".into(),
                        })?;
                        Target::parse(text)
                            .map_err(|reason| ConfigError::Target { host: host.name.clone(), reason })?
                    }
                };
                Ok((host.name.clone(), target))
            })
            .collect()
    }

    /// Runs the pipeline. In [`Mode::Deploy`], `targets` must hold every
    /// involved host (see [`Plan::targets`]).
    pub fn run(
        &self,
        nix: &Nix,
        mode: Mode,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) -> Summary {
        let names = self.selection.names();
        sink.event(Event::Planned { nodes: names });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs.min(names.len()).max(1))
            .build()
            .expect("a thread pool of a few threads can be built");
        let mut progress: HashMap<&str, Progress> = names
            .iter()
            .map(|n| (n.as_str(), Progress::default()))
            .collect();

        let builds: Vec<(&str, Result<String, NodeError>, Duration)> = pool.install(|| {
            names
                .par_iter()
                .map(|name| self.build(nix, name, sink))
                .collect()
        });
        for (name, result, elapsed) in builds {
            let state = progress
                .get_mut(name)
                .expect("every selected node has a state");
            state.elapsed += elapsed;
            match result {
                Ok(path) => {
                    state.new = Some(path);
                    if mode == Mode::Build {
                        finish(sink, name, state, Outcome::Built);
                    }
                }
                Err(error) => finish(sink, name, state, Outcome::Failed(error)),
            }
        }
        if mode == Mode::Deploy {
            for (host, target) in targets {
                self.probe_and_push(nix, host, target, &mut progress, sink);
            }
            for wave in self.fleet.waves(&self.selection) {
                let activations: Vec<(&str, Outcome, Duration)> = pool.install(|| {
                    wave.par_iter()
                        .filter(|node| progress[node.name.as_str()].outcome.is_none())
                        .map(|node| self.activate(node, &progress, targets, sink))
                        .collect()
                });
                for (name, outcome, elapsed) in activations {
                    let state = progress
                        .get_mut(name)
                        .expect("every selected node has a state");
                    state.elapsed += elapsed;
                    finish(sink, name, state, outcome);
                }
            }
        }
        Summary {
            nodes: names
                .iter()
                .map(|name| {
                    let state = progress
                        .remove(name.as_str())
                        .expect("every selected node has a state");
                    NodeReport {
                        node: name.clone(),
                        old: state.old,
                        new: state.new,
                        outcome: state.outcome.expect("every node finishes"),
                        elapsed: state.elapsed,
                    }
                })
                .collect(),
        }
    }

    fn build<'n>(
        &self,
        nix: &Nix,
        name: &'n str,
        sink: &dyn Sink,
    ) -> (&'n str, Result<String, NodeError>, Duration) {
        let started = Instant::now();
        sink.event(Event::Stage {
            node: name,
            stage: Stage::Build,
        });
        let node = self.fleet.node(name).expect("selected nodes exist");
        let installable = format!("{}#{}", self.flake, self.kinds.of(node).build_attr(node));
        let result = nix.build(&installable).map_err(|error| NodeError {
            node: name.to_string(),
            stage: Stage::Build,
            error,
        });
        (name, result, started.elapsed())
    }

    /// One SSH round trip to read every built node's current system on `host`,
    /// then one `nix copy` of the closures that differ.
    fn probe_and_push(
        &self,
        nix: &Nix,
        host: &str,
        target: &Target,
        progress: &mut HashMap<&str, Progress>,
        sink: &dyn Sink,
    ) {
        let on_host: Vec<&Node> = self
            .selection
            .names()
            .iter()
            .filter(|name| progress[name.as_str()].outcome.is_none())
            .map(|name| self.fleet.node(name).expect("selected nodes exist"))
            .filter(|node| {
                self.fleet
                    .host_of(&node.name)
                    .is_some_and(|h| h.name == host)
            })
            .collect();
        if on_host.is_empty() {
            return;
        }
        let profiles: Vec<String> = on_host
            .iter()
            .map(|node| self.kinds.of(node).profile(node))
            .collect();
        for node in &on_host {
            sink.event(Event::Stage {
                node: &node.name,
                stage: Stage::Probe,
            });
        }
        let started = Instant::now();
        let current = target
            .run(&RemoteScript::new(PROBE, profiles.clone()))
            .and_then(|out| parse_probe(&out, &profiles));
        let probe_time = started.elapsed();
        let current = match current {
            Ok(current) => current,
            Err(error) => {
                for node in on_host {
                    let state = progress.get_mut(node.name.as_str()).expect("state");
                    state.elapsed += probe_time;
                    let error = NodeError {
                        node: node.name.clone(),
                        stage: Stage::Probe,
                        error: error.clone(),
                    };
                    finish(sink, &node.name, state, Outcome::Failed(error));
                }
                return;
            }
        };
        let mut changed: Vec<&Node> = Vec::new();
        for (node, old) in on_host.into_iter().zip(current) {
            let state = progress.get_mut(node.name.as_str()).expect("state");
            state.elapsed += probe_time;
            state.old = old;
            if state.old != state.new {
                changed.push(node);
            }
        }
        if changed.is_empty() {
            return;
        }
        for node in &changed {
            sink.event(Event::Stage {
                node: &node.name,
                stage: Stage::Push,
            });
        }
        let paths: Vec<String> = changed
            .iter()
            .map(|node| progress[node.name.as_str()].new.clone().expect("built"))
            .collect();
        let started = Instant::now();
        let pushed = nix.copy_to(target, &paths);
        let push_time = started.elapsed();
        for node in changed {
            let state = progress.get_mut(node.name.as_str()).expect("state");
            state.elapsed += push_time;
            if let Err(error) = &pushed {
                let error = NodeError {
                    node: node.name.clone(),
                    stage: Stage::Push,
                    error: error.clone(),
                };
                finish(sink, &node.name, state, Outcome::Failed(error));
            }
        }
    }

    fn activate<'n>(
        &self,
        node: &'n Node,
        progress: &HashMap<&str, Progress>,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) -> (&'n str, Outcome, Duration) {
        let name = node.name.as_str();
        let blocker = self
            .fleet
            .selected_dependencies(&self.selection, name)
            .into_iter()
            .find(|dep| {
                !progress[dep]
                    .outcome
                    .as_ref()
                    .is_some_and(Outcome::is_success)
            });
        if let Some(dep) = blocker {
            let why = progress[dep]
                .outcome
                .as_ref()
                .map_or("did not finish", Outcome::label);
            return (
                name,
                Outcome::Skipped(format!("dependency `{dep}` {why}")),
                Duration::ZERO,
            );
        }
        let state = &progress[name];
        let new = state
            .new
            .as_deref()
            .expect("nodes without a build have finished");
        if state.old.as_deref() == Some(new) {
            return (name, Outcome::Unchanged, Duration::ZERO);
        }
        sink.event(Event::Stage {
            node: name,
            stage: Stage::Activate,
        });
        let started = Instant::now();
        let host = self
            .fleet
            .host_of(name)
            .expect("validated nodes have hosts");
        let target = &targets[&host.name];
        let outcome = match target.run(&self.kinds.of(node).activate(node, new)) {
            Ok(_) => Outcome::Activated,
            Err(error) => Outcome::Failed(NodeError {
                node: name.to_string(),
                stage: Stage::Activate,
                error,
            }),
        };
        (name, outcome, started.elapsed())
    }
}

fn finish(sink: &dyn Sink, name: &str, state: &mut Progress, outcome: Outcome) {
    state.outcome = Some(outcome.clone());
    sink.event(Event::Finished(&NodeReport {
        node: name.to_string(),
        old: state.old.clone(),
        new: state.new.clone(),
        outcome,
        elapsed: state.elapsed,
    }));
}

/// Maps probe output back to the profiles asked for, in order.
fn parse_probe(out: &str, profiles: &[String]) -> Result<Vec<Option<String>>, CommandError> {
    let found: HashMap<&str, &str> = out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    profiles
        .iter()
        .map(|profile| match found.get(profile.as_str()) {
            Some(&"") => Ok(None),
            Some(path) => Ok(Some(path.to_string())),
            None => Err(CommandError {
                command: "probe profiles".into(),
                failure: Failure::Output(format!("the target did not report profile {profile}")),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_maps_to_profiles() {
        let profiles = vec!["/a".to_string(), "/b".to_string()];
        let got = parse_probe("/b\t/nix/store/x\n/a\t\n", &profiles).unwrap();
        assert_eq!(got, vec![None, Some("/nix/store/x".to_string())]);
        let err = parse_probe("/a\t\n", &profiles).unwrap_err();
        assert!(
            err.to_string().contains("did not report profile /b"),
            "{err}"
        );
    }
}
