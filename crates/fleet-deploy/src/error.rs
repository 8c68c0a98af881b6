//! Errors of a deploy: configuration problems found before anything runs, and
//! per-node failures with the stage and command that failed.

use std::fmt;

use fleet_graph::GraphError;
use fleet_nix::CommandError;

use crate::Stage;

/// A problem with the graph data, the kinds or the command line, found before
/// anything is built or changed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The graph data is invalid.
    Graph(GraphError),
    /// A node's kind has no plugin.
    UnknownKind {
        /// The node.
        node: String,
        /// Its kind.
        kind: String,
        /// The kinds that exist.
        known: Vec<&'static str>,
    },
    /// A kind plugin rejected a node's fields.
    InvalidNode {
        /// The node.
        node: String,
        /// What is wrong and how to fix it: a clause that reads whole after
        /// "node `NAME` is not valid:".
        reason: String,
    },
    /// No target is known for a host: the graph data gives none, and the run
    /// was given none.
    NoTarget {
        /// The host node.
        host: String,
    },
    /// The run was given one target, but the selection spans several hosts.
    OneTargetForSeveralHosts {
        /// The hosts of the selection.
        hosts: Vec<String>,
    },
    /// A host's target does not parse.
    Target {
        /// The host node.
        host: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Graph(e) => e.fmt(f),
            ConfigError::UnknownKind { node, kind, known } => write!(
                f,
                "node `{node}` has kind \"{kind}\", which is not a known kind (known: {})",
                known.join(", ")
            ),
            ConfigError::InvalidNode { node, reason } => write!(f, "node `{node}` is not valid: {reason}"),
            ConfigError::NoTarget { host } => write!(
                f,
                "host `{host}` has no target: the graph data gives it no `target`; add one, or give the run a target"
            ),
            ConfigError::OneTargetForSeveralHosts { hosts } => write!(
                f,
                "one target was given, but the selection spans several hosts ({}); select one host's nodes",
                hosts.join(", ")
            ),
            ConfigError::Target { host, reason } => write!(f, "the target of host `{host}` is not valid: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<GraphError> for ConfigError {
    fn from(e: GraphError) -> Self {
        ConfigError::Graph(e)
    }
}

/// What made a stage fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A command that did not do its job, with what it printed.
    Command(CommandError),
    /// A failure that is no command's: an activation job, detached on the
    /// target, that ended without reaching its goal, or a node whose
    /// generations hold none to roll back to. The text reads whole.
    Other(String),
}

impl From<CommandError> for Cause {
    fn from(error: CommandError) -> Cause {
        Cause::Command(error)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Command(error) => error.fmt(f),
            Cause::Other(text) => f.write_str(text),
        }
    }
}

/// Why one node did not reach its goal: the node, the stage, and what failed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    /// The node.
    pub node: String,
    /// The stage that failed.
    pub stage: Stage,
    /// What failed: a command, with its stderr tail, or another cause.
    pub error: Cause,
    /// How many times the stage was tried (more than once for lost connections).
    pub tries: u32,
}

impl NodeError {
    /// An error of a stage tried once.
    pub fn new(node: &str, stage: Stage, error: impl Into<Cause>) -> NodeError {
        NodeError { node: node.to_string(), stage, error: error.into(), tries: 1 }
    }
}

impl NodeError {
    /// What failed, for a person: a connection failure said as one (what
    /// happened, what to check, ssh's words), anything else as its command
    /// and stderr.
    pub fn cause(&self) -> String {
        match &self.error {
            Cause::Command(error) => match fleet_nix::Unreachable::of(error) {
                Some(unreachable) => unreachable.explain(error, self.tries > 1),
                None => error.to_string(),
            },
            Cause::Other(text) => text.clone(),
        }
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.stage, self.node)?;
        if self.tries > 1 {
            write!(f, " (gave up after {} tries)", self.tries)?;
        }
        write!(f, ": {}", self.cause())
    }
}

impl std::error::Error for NodeError {}
