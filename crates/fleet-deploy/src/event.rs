//! What the pipeline tells its reporter while it runs.

use std::fmt;

use crate::NodeReport;

/// A step of the pipeline for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `nix build` of the node's system closure.
    Build,
    /// Reading the target's current profile.
    Probe,
    /// Reading the old and new closures and diffing them (dry run).
    Diff,
    /// `nix copy` of the closure to the target.
    Push,
    /// Setting the profile and switching to it.
    Activate,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Build => "build",
            Stage::Probe => "probe",
            Stage::Diff => "diff",
            Stage::Push => "push",
            Stage::Activate => "activate",
        })
    }
}

/// One thing that happened during a run.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The run will work on these nodes, in activation order.
    Planned {
        /// Node names.
        nodes: &'a [String],
    },
    /// A node entered a stage.
    Stage {
        /// The node.
        node: &'a str,
        /// The stage it entered.
        stage: Stage,
    },
    /// A node is done; nothing more happens to it in this run.
    Finished(&'a NodeReport),
}

/// Receives events; shared by the pipeline's worker threads.
pub trait Sink: Sync {
    /// Handles one event. Must not block for long: the pipeline waits for it.
    fn event(&self, event: Event<'_>);
}
