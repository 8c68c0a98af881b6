//! The node-kind plugin interface and the registry of kinds.

use fleet_graph::{Fleet, Node};

use crate::checks::{self, Check};
use crate::{ConfigError, ContainerKind, HostKind};

/// What a kind of node means on the target: where it is built from, which
/// profile holds its running system, how the running node is switched to a
/// system, how its health is checked, and whether the deployer must confirm.
///
/// The pipeline asks these questions and never looks at a node's kind itself.
/// Adding a kind is implementing this trait and adding it to [`Kinds`].
pub trait NodeKind: Send + Sync {
    /// The `kind` value in the graph data that this plugin handles.
    fn name(&self) -> &'static str;

    /// Checks the node's kind-specific fields before anything runs.
    /// The error says what is wrong and how to fix it.
    fn validate(&self, node: &Node) -> Result<(), String>;

    /// The flake attribute whose build is the node's closure.
    fn build_attr(&self, node: &Node) -> String {
        format!("nixosConfigurations.{}.config.system.build.toplevel", node.name)
    }

    /// The profile on the target whose current generation the node runs.
    fn profile(&self, node: &Node) -> String;

    /// The POSIX sh script (a real file, loaded with `include_str!`) that the
    /// activation job runs as `GOAL NODE SYSTEM` (a [`crate::Goal`]'s name:
    /// `switch` makes the running node use the system at SYSTEM, which the
    /// profile already points at; `boot`, `test` and `dry-activate` as NixOS
    /// means them, see `job.sh`), and as `retire NODE` to stop a node that has
    /// no earlier system to go back to. Exit status 3 refuses a goal before
    /// anything changed. Values reach it only as those positional arguments.
    fn switch_script(&self) -> &'static str;

    /// Health checks every node of this kind gets.
    fn default_checks(&self, node: &Node) -> Vec<Check>;

    /// The argument vector that runs `argv` on `node` (inside a container,
    /// directly on a host): what health checks and `fleet exec` run.
    fn node_command(&self, node: &Node, argv: &[String]) -> Vec<String>;

    /// Whether a switch must be confirmed by the deployer over a new connection
    /// before it is kept: for nodes whose switch can cut the deployer off.
    fn needs_confirmation(&self) -> bool {
        false
    }
}

/// The kinds a run knows, by name.
pub struct Kinds {
    kinds: Vec<Box<dyn NodeKind>>,
}

impl Kinds {
    /// The built-in kinds: `host` and `container`.
    pub fn standard() -> Kinds {
        Kinds { kinds: vec![Box::new(HostKind), Box::new(ContainerKind)] }
    }

    /// Adds a kind, replacing one of the same name.
    pub fn with(mut self, kind: Box<dyn NodeKind>) -> Kinds {
        self.kinds.retain(|k| k.name() != kind.name());
        self.kinds.push(kind);
        self
    }

    /// Every kind's name and switch script, for the agent to install.
    pub(crate) fn scripts(&self) -> Vec<(&'static str, &'static str)> {
        self.kinds.iter().map(|k| (k.name(), k.switch_script())).collect()
    }

    /// The plugin for `node`; [`Kinds::validate`] has ensured it exists.
    pub fn of(&self, node: &Node) -> &dyn NodeKind {
        self.get(&node.kind).expect("kinds are validated before use")
    }

    fn get(&self, name: &str) -> Option<&dyn NodeKind> {
        self.kinds.iter().find(|k| k.name() == name).map(|k| k.as_ref())
    }

    /// Checks that every node has a known kind whose plugin accepts it, and
    /// that its health checks are well-formed.
    pub fn validate(&self, fleet: &Fleet) -> Result<(), ConfigError> {
        for node in fleet.nodes() {
            let kind = self.get(&node.kind).filter(|k| valid_kind_name(k.name())).ok_or_else(|| {
                ConfigError::UnknownKind {
                    node: node.name.clone(),
                    kind: node.kind.clone(),
                    known: self.kinds.iter().map(|k| k.name()).collect(),
                }
            })?;
            let invalid = |reason| ConfigError::InvalidNode { node: node.name.clone(), reason };
            kind.validate(node).map_err(invalid)?;
            checks::check_commands(kind, node).map_err(invalid)?;
            checks::check_seconds(node).map_err(invalid)?;
        }
        Ok(())
    }
}

/// A kind's name names its script file on the target: lowercase letters,
/// digits and dashes.
fn valid_kind_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind the pipeline has never heard of: a home-manager profile on a host.
    struct HomeKind;

    impl NodeKind for HomeKind {
        fn name(&self) -> &'static str {
            "home"
        }
        fn validate(&self, node: &Node) -> Result<(), String> {
            node.attr_str("user").map(drop).ok_or_else(|| "a home needs `user`".to_string())
        }
        fn profile(&self, node: &Node) -> String {
            format!("/nix/var/nix/profiles/per-user/{}/home-manager", node.attr_str("user").unwrap_or(""))
        }
        fn switch_script(&self) -> &'static str {
            "case $1 in switch) exec \"$3/activate\" ;; esac\n"
        }
        fn default_checks(&self, _node: &Node) -> Vec<Check> {
            Vec::new()
        }
        fn node_command(&self, _node: &Node, argv: &[String]) -> Vec<String> {
            argv.to_vec()
        }
    }

    fn fleet(home: &str) -> Fleet {
        Fleet::from_json(&format!(
            r#"{{"nodes":{{"h":{{"kind":"host"}},"me":{{"kind":"home","host":"h",{home}}}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_new_kind_is_one_registration() {
        let with_user = fleet(r#""user":"ada""#);
        let err = Kinds::standard().validate(&with_user).unwrap_err().to_string();
        assert_eq!(err, "node `me` has kind \"home\", which is not a known kind (known: host, container)");

        let kinds = Kinds::standard().with(Box::new(HomeKind));
        assert_eq!(kinds.validate(&with_user), Ok(()));
        let node = with_user.node("me").unwrap();
        assert_eq!(kinds.of(node).profile(node), "/nix/var/nix/profiles/per-user/ada/home-manager");
        assert_eq!(
            kinds.of(node).build_attr(node),
            "nixosConfigurations.me.config.system.build.toplevel",
            "the default build attribute applies unless the kind says otherwise"
        );
        let err = kinds.validate(&fleet(r#""shell":"zsh""#)).unwrap_err().to_string();
        assert_eq!(err, "node `me` is not valid: a home needs `user`");
    }
}
