//! What the pipeline tells its reporter while it runs.

use std::fmt;

use crate::NodeReport;

/// A step of the pipeline for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Nix fetches the flake's inputs (no `flake.lock`, or new inputs) before
    /// the node's evaluation can go on.
    Fetch,
    /// `nix eval` of the node's derivation (nix fetches the flake's inputs
    /// first when they are not in the store yet).
    Evaluate,
    /// `nix build` of the node's system closure.
    Build,
    /// Taking the target's deploy lock.
    Lock,
    /// Reading the target's current profile.
    Probe,
    /// Reading the old and new closures and diffing them (dry run).
    Diff,
    /// `nix copy` of the closure to the target.
    Push,
    /// Setting the profile, switching to it and checking its health.
    Activate,
    /// Confirming a switch over a new connection, so the target keeps it.
    Confirm,
    /// Rebooting a host after its deploy, waiting for it and checking it.
    Reboot,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Fetch => "fetch inputs",
            Stage::Evaluate => "evaluate",
            Stage::Build => "build",
            Stage::Lock => "lock",
            Stage::Probe => "probe",
            Stage::Diff => "diff",
            Stage::Push => "push",
            Stage::Activate => "activate",
            Stage::Confirm => "confirm",
            Stage::Reboot => "reboot",
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
    /// A node's derivation is known.
    Evaluated {
        /// The node.
        node: &'a str,
        /// It came from an earlier evaluation of the same flake content.
        reused: bool,
    },
    /// How far the build of a node's closure is: derivations of its closure
    /// that this build finished, of those it must build, and the one it
    /// started last.
    Building {
        /// The node.
        node: &'a str,
        /// Derivations of its closure finished so far.
        done: usize,
        /// Derivations of its closure this build must build.
        expected: usize,
        /// The name (`glibc-2.39-52`) of the derivation building most recently.
        derivation: Option<&'a str>,
    },
    /// A derivation finished building.
    DerivationBuilt {
        /// Its name (`glibc-2.39-52`).
        derivation: &'a str,
        /// The selected nodes whose closures needed it.
        nodes: &'a [&'a str],
    },
    /// A node's system is built (or was already): what follows for it
    /// (push, activation) may start.
    SystemBuilt {
        /// The node.
        node: &'a str,
        /// Its system's store path.
        path: &'a str,
    },
    /// A line a derivation's builder printed (only when build logs are asked for).
    BuildLog {
        /// Its name.
        derivation: &'a str,
        /// The line.
        line: &'a str,
    },
    /// A stage shared by a host's nodes lost its connection and is tried again.
    Retry {
        /// The host whose connection failed.
        host: &'a str,
        /// The stage being retried.
        stage: Stage,
        /// The try that failed (1 for the first).
        attempt: u32,
        /// What failed.
        reason: &'a str,
    },
    /// Something a user should know that is not a failure.
    Notice {
        /// The host it concerns.
        host: &'a str,
        /// What happened.
        message: &'a str,
    },
    /// A node is done; nothing more happens to it in this run.
    Finished(&'a NodeReport),
}

/// Receives events; shared by the pipeline's worker threads.
pub trait Sink: Sync {
    /// Handles one event. Must not block for long: the pipeline waits for it.
    fn event(&self, event: Event<'_>);
}
