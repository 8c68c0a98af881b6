//! Errors found while reading or validating graph data.

use std::fmt;

/// What is wrong with the graph data, with the names needed to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// The data is not JSON of the expected shape.
    Malformed {
        /// Where in the data, e.g. `nodes.bgs-backend.dependsOn`; empty for
        /// the whole document.
        at: String,
        /// What is wrong there, said of it: `must be a string`.
        reason: String,
    },
    /// Two nodes share a name.
    DuplicateNode(String),
    /// A node depends on a node that does not exist.
    UnknownDependency {
        /// The node that declares the dependency.
        node: String,
        /// The missing name.
        dependency: String,
        /// Every node name, for the error message.
        known: Vec<String>,
    },
    /// The graph has no node of kind `host`.
    NoHost,
    /// A node's `host` does not name a node of kind `host`.
    UnknownHost {
        /// The node placed on the missing host.
        node: String,
        /// The name given in its `host` field.
        host: String,
        /// The host nodes that exist.
        hosts: Vec<String>,
    },
    /// The dependencies form a cycle; the names are in order, first repeated last.
    Cycle(Vec<String>),
    /// A node's name or a field fails validation (see `validate.rs`).
    Invalid {
        /// The node, or `nodes` for a rule about several nodes.
        node: String,
        /// What is wrong, and the fix: a clause that reads whole after
        /// "node `NAME` is not valid:".
        reason: String,
    },
    /// A name given on the command line is not a node of the selectable kind.
    UnknownSelection {
        /// The name given.
        name: String,
        /// What it was expected to be, e.g. `container`.
        kind: String,
        /// The names that would have been accepted.
        known: Vec<String>,
    },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Malformed { at, reason } if at.is_empty() => write!(f, "the graph data {reason}"),
            GraphError::Malformed { at, reason } => write!(f, "the graph data at `{at}` {reason}"),
            GraphError::DuplicateNode(name) => {
                write!(f, "node `{name}` is declared twice in the graph data; give each node a unique name")
            }
            GraphError::UnknownDependency { node, dependency, known } => write!(
                f,
                "node `{node}` depends on `{dependency}`, which is not a node (known nodes: {})",
                known.join(", ")
            ),
            GraphError::NoHost => {
                write!(f, "no node has kind = \"host\"; declare the machine the containers run on")
            }
            GraphError::UnknownHost { node, host, hosts } => write!(
                f,
                "node `{node}` is placed on host `{host}`, which is not a node of kind \"host\" (hosts: {})",
                if hosts.is_empty() { "none".to_string() } else { hosts.join(", ") }
            ),
            GraphError::Cycle(path) => write!(
                f,
                "the dependencies form a cycle, {}; remove one of these dependsOn edges",
                path.join(" -> ")
            ),
            GraphError::Invalid { node, reason } => write!(f, "node `{node}` is not valid: {reason}"),
            GraphError::UnknownSelection { name, kind, known } => write!(
                f,
                "`{name}` {} {kind} (known: {})",
                if crate::pattern::is_pattern(name) { "matches no" } else { "is not a" },
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
        }
    }
}

impl std::error::Error for GraphError {}
