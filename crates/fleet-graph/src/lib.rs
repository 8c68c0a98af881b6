//! The fleet's dependency graph: which nodes exist, what each depends on, and the
//! order in which they may be activated.
//!
//! The graph is read from the JSON that `nix eval --json --file nix/fleet.nix`
//! prints; this crate only parses and validates it. It does no IO and knows
//! nothing about how a node is built or activated: a node's `kind` is an opaque
//! name here, interpreted by the pipeline's kind plugins.
#![deny(missing_docs)]

mod data;
mod error;
mod graph;
mod pattern;
mod validate;

pub use data::{Node, NodeName};
pub use error::GraphError;
pub use graph::{Fleet, Selection};

/// The kind name of a node that is a machine: other nodes name it in `host`.
pub const HOST_KIND: &str = "host";
