//! What the scheduler knows of each node and host.

use std::sync::Arc;
use std::time::Duration;

use fleet_diff::ClosureDiff;
use fleet_graph::Node;
use fleet_nix::Target;

use crate::lock::AgentSession;
use crate::{Generation, NodeReport, Outcome};

/// Where a node is in its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
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
pub(super) struct NodeRun<'a> {
    pub(super) node: &'a Node,
    pub(super) host: &'a str,
    /// The selected nodes it waits for, by index: found once, so that no
    /// event looks a dependency up by name.
    pub(super) deps: Vec<usize>,
    pub(super) step: Step,
    pub(super) old: Option<String>,
    pub(super) new: Option<String>,
    /// An earlier activation of this node started and did not finish.
    pub(super) pending: bool,
    pub(super) generation: Option<Generation>,
    pub(super) diff: Option<ClosureDiff>,
    pub(super) reused_evaluation: bool,
    /// Its host's switch changed its unit: it is restarted, not reloaded.
    pub(super) restart: bool,
    /// A rollback moves its profile to this existing generation.
    pub(super) switch_generation: Option<u32>,
    pub(super) outcome: Option<Outcome>,
    pub(super) finished_at: Duration,
}

impl NodeRun<'_> {
    /// The target runs exactly the new system, fully activated.
    pub(super) fn is_current(&self) -> bool {
        self.new.is_some() && self.old == self.new && !self.pending
    }
}

/// Where a host is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostStep {
    Locking,
    Probing,
    Ready,
    Failed,
}

/// One host's state.
pub(super) struct HostRun<'t> {
    pub(super) target: &'t Target,
    pub(super) step: HostStep,
    pub(super) lock: Option<Arc<AgentSession>>,
    pub(super) pushing: bool,
    /// Diffs or activations running.
    pub(super) busy: usize,
}

impl NodeRun<'_> {
    pub(super) fn report(&self) -> NodeReport {
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

pub(super) fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Evaluating | Step::Evaluated(_) | Step::Building | Step::Built => "build",
        Step::Pushing => "push",
        Step::Ready | Step::Finishing => "activation",
    }
}
