//! What the scheduler knows of each node and host, and the queues that say
//! which of them an event may move on, so that no event scans every node.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fleet_diff::ClosureDiff;

use super::topology::NodeId;
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
pub(super) struct NodeRun {
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
    /// How many of its dependencies have not finished.
    pub(super) deps_left: usize,
    /// One of its dependencies finished without success.
    pub(super) dep_failed: bool,
}

impl NodeRun {
    /// A node at `step`, with `new` as its system if known, waiting for
    /// `deps` dependencies.
    pub(super) fn new(step: Step, new: Option<String>, deps: usize) -> NodeRun {
        NodeRun {
            step,
            old: None,
            new,
            pending: false,
            generation: None,
            diff: None,
            reused_evaluation: false,
            restart: false,
            switch_generation: None,
            outcome: None,
            finished_at: Duration::ZERO,
            deps_left: deps,
            dep_failed: false,
        }
    }

    /// The target runs exactly the new system, fully activated.
    pub(super) fn is_current(&self) -> bool {
        self.new.is_some() && self.old == self.new && !self.pending
    }

    /// Its dependencies let it go on: all done, or one failed (it is skipped).
    pub(super) fn deps_settled(&self) -> bool {
        self.deps_left == 0 || self.dep_failed
    }

    /// Its report, under `name`, once it finished.
    pub(super) fn report(&self, name: &str) -> NodeReport {
        NodeReport {
            node: name.to_string(),
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

/// Where a host is in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostStep {
    Locking,
    Probing,
    Ready,
    Failed,
}

/// One host's state. Its queues hold nodes in activation order; a node
/// that finished meanwhile is dropped when it comes up.
pub(super) struct HostRun<L> {
    pub(super) step: HostStep,
    pub(super) lock: Option<Arc<L>>,
    pub(super) pushing: bool,
    /// Diffs or activations running.
    pub(super) busy: usize,
    /// Evaluated, to be built in its store once it is ready.
    pub(super) to_build: Vec<NodeId>,
    /// Built, not yet sorted into pushed or not.
    pub(super) built: BTreeSet<NodeId>,
    /// Built, waiting for the next copy.
    pub(super) to_push: BTreeSet<NodeId>,
    /// Ready, waiting for a slot.
    pub(super) waiting: BTreeSet<NodeId>,
}

impl<L> HostRun<L> {
    /// A host at `step`, nothing queued.
    pub(super) fn new(step: HostStep) -> HostRun<L> {
        HostRun {
            step,
            lock: None,
            pushing: false,
            busy: 0,
            to_build: Vec::new(),
            built: BTreeSet::new(),
            to_push: BTreeSet::new(),
            waiting: BTreeSet::new(),
        }
    }
}

/// The stage a node at `step` is in, for an error.
pub(super) fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Evaluating | Step::Evaluated(_) | Step::Building | Step::Built => "build",
        Step::Pushing => "push",
        Step::Ready | Step::Finishing => "activation",
    }
}
