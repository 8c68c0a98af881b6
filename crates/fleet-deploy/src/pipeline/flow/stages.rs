//! The work the scheduler hands out, behind one trait: the run's real stages
//! (`pipeline/live.rs`: nix here, the targets over SSH) or the fakes of its
//! unit tests. The scheduler decides only when each stage runs and what its
//! result means for the nodes.

use fleet_diff::ClosureDiff;
use fleet_nix::{CommandError, Evaluated};

use super::topology::{HostId, NodeId};
use crate::job::Verb;
use crate::pipeline::host::Tried;
use crate::probe::Probed;
use crate::{NodeError, Outcome};

/// What a probe read of each node it was given, by node.
pub(in crate::pipeline) type Probes = Vec<(NodeId, Result<Probed, CommandError>)>;

/// A dry run's diff of one node, or why it could not be made.
pub(in crate::pipeline) type Diffed = Result<ClosureDiff, NodeError>;

/// The containers a host's switch left to restart, or why they could not be
/// read.
pub(in crate::pipeline) type Restarts = Result<Vec<String>, CommandError>;

/// One node's activation, as the scheduler asks for it.
pub(in crate::pipeline) struct Activation {
    /// The system it moves to.
    pub(in crate::pipeline) new: String,
    /// What the probe read: the job goes ahead only if the profile still
    /// points there.
    pub(in crate::pipeline) expect: Option<String>,
    /// Switched in place, or restarted.
    pub(in crate::pipeline) verb: Verb,
    /// A rollback's generation.
    pub(in crate::pipeline) generation: Option<u32>,
}

/// The stages of a run. Each call runs on a thread of its own and may take
/// long; the scheduler never waits for one that another does not need.
pub(in crate::pipeline) trait Stages: Sync {
    /// What holds a host's deploy lock; activations run under it.
    type Lock: Send + Sync;

    /// Evaluates every selected node, telling `on_each` of each as it is known.
    fn evaluate(&self, on_each: &mut dyn FnMut(NodeId, Result<Evaluated, CommandError>));

    /// Builds every node of `batch` (with its derivation) in one go, here or
    /// in the store of host `on`; tells `on_each` of each node's system, or
    /// its own failure, as soon as that node is done, not when the batch is.
    fn build(
        &self,
        batch: &[(NodeId, String)],
        on: Option<HostId>,
        on_each: &mut dyn FnMut(NodeId, Result<String, CommandError>),
    );

    /// Takes `host`'s deploy lock.
    fn lock(&self, host: HostId) -> Result<Self::Lock, Tried>;

    /// Reads what `nodes` (all on `host`) run, in one round trip; `full` adds
    /// their generations. Each node's result is its own.
    fn probe(&self, host: HostId, nodes: &[NodeId], full: bool) -> Result<Probes, Tried>;

    /// Copies `paths` and their closures to `host`, in one copy.
    fn push(&self, host: HostId, paths: &[String]) -> Result<(), Tried>;

    /// Diffs what `node` runs on `host` (`old`) against `new`.
    fn diff(&self, node: NodeId, host: HostId, old: Option<&str>, new: &str) -> Diffed;

    /// Activates `node` on `host` under `lock`.
    fn activate(&self, node: NodeId, host: HostId, activation: &Activation, lock: &Self::Lock) -> Outcome;

    /// The containers among `containers` whose unit differs between `host`'s
    /// systems `old` and `new`: its switch left them to restart.
    fn changed_units(&self, host: HostId, old: &str, new: &str, containers: &[String]) -> Restarts;

    /// What `lock`'s agent said on its own during the run.
    fn notes(&self, lock: &Self::Lock) -> Vec<String>;
}
