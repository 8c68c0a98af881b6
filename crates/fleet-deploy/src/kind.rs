//! The node-kind plugin interface and the registry of kinds.

use fleet_graph::{Fleet, Node};
use fleet_nix::RemoteScript;

use crate::{ConfigError, ContainerKind, HostKind};

/// What a kind of node means on the target: where it is built from, which
/// profile holds its running system, and how a new system is activated.
///
/// The pipeline calls these and runs the returned scripts; it never looks at a
/// node's kind itself. Adding a kind is implementing this trait and adding the
/// implementation to [`Kinds`].
pub trait NodeKind: Send + Sync {
    /// The `kind` value in the graph data that this plugin handles.
    fn name(&self) -> &'static str;

    /// Checks the node's kind-specific fields before anything runs.
    /// The error says what is wrong and how to fix it.
    fn validate(&self, node: &Node) -> Result<(), String>;

    /// The flake attribute whose build is the node's closure.
    fn build_attr(&self, node: &Node) -> String {
        format!(
            "nixosConfigurations.{}.config.system.build.toplevel",
            node.name
        )
    }

    /// The profile on the target whose current generation the node runs.
    fn profile(&self, node: &Node) -> String;

    /// A script that makes `path` the profile's new generation and switches the
    /// node to it. It must refuse a path that is not a system of this kind
    /// before changing anything.
    fn activate(&self, node: &Node, path: &str) -> RemoteScript;
}

/// The kinds a run knows, by name.
pub struct Kinds {
    kinds: Vec<Box<dyn NodeKind>>,
}

impl Kinds {
    /// The built-in kinds: `host` and `container`.
    pub fn standard() -> Kinds {
        Kinds {
            kinds: vec![Box::new(HostKind), Box::new(ContainerKind)],
        }
    }

    /// Adds a kind, replacing one of the same name.
    pub fn with(mut self, kind: Box<dyn NodeKind>) -> Kinds {
        self.kinds.retain(|k| k.name() != kind.name());
        self.kinds.push(kind);
        self
    }

    /// The plugin for `node`; [`Kinds::validate`] has ensured it exists.
    pub fn of(&self, node: &Node) -> &dyn NodeKind {
        self.get(&node.kind)
            .expect("kinds are validated before use")
    }

    fn get(&self, name: &str) -> Option<&dyn NodeKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == name)
            .map(|k| k.as_ref())
    }

    /// Checks that every node has a known kind whose plugin accepts it.
    pub fn validate(&self, fleet: &Fleet) -> Result<(), ConfigError> {
        for node in fleet.nodes() {
            let kind = self
                .get(&node.kind)
                .ok_or_else(|| ConfigError::UnknownKind {
                    node: node.name.clone(),
                    kind: node.kind.clone(),
                    known: self.kinds.iter().map(|k| k.name()).collect(),
                })?;
            kind.validate(node)
                .map_err(|reason| ConfigError::InvalidNode {
                    node: node.name.clone(),
                    reason,
                })?;
        }
        Ok(())
    }
}
