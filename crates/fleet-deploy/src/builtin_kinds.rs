//! The two built-in node kinds: a NixOS host and a native NixOS container.

use fleet_graph::Node;
use fleet_nix::Target;

use crate::checks::Check;
use crate::NodeKind;

/// A NixOS machine: the system profile, activated with `switch-to-configuration
/// GOAL` inside a transient unit, as `nixos-rebuild --target-host` does, so the
/// switch finishes even if the SSH connection drops. A host switch can cut the
/// deployer off (network, firewall, sshd), so it must be confirmed.
pub struct HostKind;

/// `GOAL NODE SYSTEM` / `retire NODE` for a host: the commands of
/// `activation.txt`.
pub(crate) const HOST_SCRIPT: &str = crate::job::target_script!("host.sh");

impl NodeKind for HostKind {
    fn name(&self) -> &'static str {
        fleet_graph::HOST_KIND
    }

    fn validate(&self, node: &Node) -> Result<(), String> {
        if node.host.is_some() {
            return Err("a host cannot itself be placed on a host; remove its `host` field".into());
        }
        match node.attrs.get("target") {
            None => Ok(()),
            Some(value) => match value.as_str() {
                Some(text) => Target::parse(text).map(drop),
                None => Err("`target` must be a string USER@HOST[:PORT]".into()),
            },
        }
    }

    fn profile(&self, _node: &Node) -> String {
        "/nix/var/nix/profiles/system".into()
    }

    fn switch_script(&self) -> &'static str {
        HOST_SCRIPT
    }

    fn default_checks(&self, _node: &Node) -> Vec<Check> {
        Vec::new()
    }

    fn node_command(&self, _node: &Node, argv: &[String]) -> Vec<String> {
        argv.to_vec()
    }

    fn needs_confirmation(&self) -> bool {
        true
    }
}

/// A native NixOS container (`containers.NAME` on its host, declared with
/// `path = "/nix/var/nix/profiles/system"`): its own per-container profile,
/// switched by reloading `container@NAME` (which runs `switch-to-configuration
/// test` inside) or starting it when it is not running; `test` and
/// `dry-activate` run the new system's own inside the running container.
pub struct ContainerKind;

/// `GOAL NODE SYSTEM` / `retire NODE` for a container: the commands of
/// `activation.txt`.
pub(crate) const CONTAINER_SCRIPT: &str = crate::job::target_script!("container.sh");

impl NodeKind for ContainerKind {
    fn name(&self) -> &'static str {
        "container"
    }

    fn validate(&self, node: &Node) -> Result<(), String> {
        if node.host.is_none() {
            return Err("a container needs `host = \"<host node>\"`".into());
        }
        // Its name fleet-graph checked already, as nixos-containers would.
        Ok(())
    }

    fn profile(&self, node: &Node) -> String {
        format!("/nix/var/nix/profiles/per-container/{}/system", node.name)
    }

    fn switch_script(&self) -> &'static str {
        CONTAINER_SCRIPT
    }

    fn default_checks(&self, node: &Node) -> Vec<Check> {
        let unit = format!("container@{}", node.name);
        vec![Check::new(["systemctl", "is-active", "--quiet", &unit])]
    }

    fn node_command(&self, node: &Node, argv: &[String]) -> Vec<String> {
        ["nixos-container", "run", &node.name, "--"]
            .into_iter()
            .map(String::from)
            .chain(argv.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_target(target: serde_json::Value, expect: &str) {
        let attrs = serde_json::Map::from_iter([("target".to_string(), target)]);
        let host = Node { name: "h".into(), kind: "host".into(), host: None, depends_on: Vec::new(), attrs };
        let got = match HostKind.validate(&host) {
            Ok(()) => "ok".to_string(),
            Err(e) => e,
        };
        assert_eq!(got, expect);
    }

    /// The target's user, who logs in (root, or a user with `--sudo`), is
    /// checked in the graph data like on the command line.
    #[test]
    fn a_hosts_target_user_is_checked() {
        check_target("deploy@vps.example.org:2222".into(), "ok");
        check_target("root@vps".into(), "ok");
        check_target(
            "de ploy@vps".into(),
            "target `de ploy@vps` has an invalid user `de ploy`; a user is letters, digits, `.`, `_` and inner `-` \
             (write USER@HOST[:PORT])",
        );
        check_target(
            "-oProxyCommand=x@vps".into(),
            "target `-oProxyCommand=x@vps` has an invalid user `-oProxyCommand=x`; a user is letters, digits, \
             `.`, `_` and inner `-` (write USER@HOST[:PORT])",
        );
        check_target("@vps".into(), "target `@vps` has an empty user; write USER@HOST[:PORT]");
        check_target(42.into(), "`target` must be a string USER@HOST[:PORT]");
    }
}
