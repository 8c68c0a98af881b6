//! What a run tells its caller: how each node ended.

use std::time::Duration;

use fleet_diff::ClosureDiff;

use crate::NodeError;

/// How far a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build the closures and stop.
    Build,
    /// Build, probe, and diff each node's closure against the target's: change nothing.
    DryRun,
    /// Build, probe, push and activate.
    Deploy,
    /// Activate each node's previous generation (no build).
    Rollback,
    /// Build and probe: report what each node runs and whether it matches the
    /// build. Changes nothing.
    Status,
}

/// A profile generation on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Its number (`system-N-link`).
    pub number: u32,
    /// When it was made, UTC, if the target could tell.
    pub since: Option<String>,
}

/// How one node ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Built (build mode only).
    Built,
    /// The target now runs the new system.
    Activated,
    /// Restarted on the system it already ran, because its host's switch
    /// changed its unit.
    Restarted,
    /// Activated (or set for boot), then rebooted into its new system and
    /// checked (`--reboot`).
    Rebooted,
    /// Goal `boot` ran to its end: the profile is set for the next boot.
    SetForBoot,
    /// Goal `test` ran to its end: the system runs without the profile set.
    Tested,
    /// Goal `dry-activate` ran to its end: nothing was changed.
    DryActivated,
    /// Dry run: the target runs another system (or none), which a deploy would replace.
    WouldActivate,
    /// The target already ran this exact system: nothing was pushed or activated.
    Unchanged,
    /// A stage failed.
    Failed(NodeError),
    /// Activation failed (switch or health check) and the node went back to its
    /// previous system; the error says why.
    RolledBack(NodeError),
    /// Not attempted, because a node it depends on did not succeed.
    Skipped(String),
    /// Not started, because another run holds its host's deploy lock; nothing
    /// was changed. The reason names the holder and since when it holds it.
    NotStarted(String),
}

impl Outcome {
    /// Every label [`Outcome::label`] gives, in the order summaries count them.
    pub const LABELS: [&'static str; 13] = [
        "activated",
        "rebooted",
        "restarted",
        "set for boot",
        "tested",
        "dry-activated",
        "would activate",
        "unchanged",
        "built",
        "rolled back",
        "failed",
        "skipped",
        "not started",
    ];

    /// Whether dependents may proceed.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Built
                | Outcome::Activated
                | Outcome::Restarted
                | Outcome::Rebooted
                | Outcome::SetForBoot
                | Outcome::Tested
                | Outcome::DryActivated
                | Outcome::WouldActivate
                | Outcome::Unchanged
        )
    }

    /// A short label for tables and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Built => "built",
            Outcome::Activated => "activated",
            Outcome::Restarted => "restarted",
            Outcome::Rebooted => "rebooted",
            Outcome::SetForBoot => "set for boot",
            Outcome::Tested => "tested",
            Outcome::DryActivated => "dry-activated",
            Outcome::WouldActivate => "would activate",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed(_) => "failed",
            Outcome::RolledBack(_) => "rolled back",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotStarted(_) => "not started",
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
    /// Dry run: the closure diff from the target's system to the new one (from
    /// nothing when the node is not on the target yet).
    pub diff: Option<ClosureDiff>,
    /// The profile's current generation on the target, when probed.
    pub generation: Option<Generation>,
    /// An activation of this node started on the target and never finished.
    pub pending: bool,
    /// Time spent on this node's own stages.
    pub elapsed: Duration,
    /// Its derivation came from an earlier evaluation of the same flake
    /// content; it was not evaluated again.
    pub reused_evaluation: bool,
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

#[cfg(test)]
mod tests {
    use fleet_nix::{CommandError, Failure};

    use super::*;

    #[test]
    fn every_outcome_has_a_counted_label() {
        let error = NodeError::new(
            "a",
            crate::Stage::Build,
            CommandError { command: "x".into(), failure: Failure::Output("y".into()) },
        );
        let all = [
            Outcome::Built,
            Outcome::Activated,
            Outcome::Restarted,
            Outcome::Rebooted,
            Outcome::SetForBoot,
            Outcome::Tested,
            Outcome::DryActivated,
            Outcome::WouldActivate,
            Outcome::Unchanged,
            Outcome::Failed(error.clone()),
            Outcome::RolledBack(error),
            Outcome::Skipped("z".into()),
            Outcome::NotStarted("w".into()),
        ];
        // A new variant stops this from compiling until it is in `all` too.
        for outcome in &all {
            match outcome {
                Outcome::Built
                | Outcome::Activated
                | Outcome::Restarted
                | Outcome::Rebooted
                | Outcome::SetForBoot
                | Outcome::Tested
                | Outcome::DryActivated
                | Outcome::WouldActivate
                | Outcome::Unchanged
                | Outcome::Failed(_)
                | Outcome::RolledBack(_)
                | Outcome::Skipped(_)
                | Outcome::NotStarted(_) => {}
            }
        }
        let labels: Vec<&str> = all.iter().map(Outcome::label).collect();
        let mut sorted = labels.clone();
        sorted.sort_unstable();
        let mut known = Outcome::LABELS.to_vec();
        known.sort_unstable();
        assert_eq!(sorted, known, "{labels:?}");
    }
}
