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
pub(crate) const HOST_SCRIPT: &str = concat!(include_str!("sh/exit-codes.sh"), include_str!("sh/host.sh"));

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

    fn check_command(&self, _node: &Node, argv: &[String]) -> Vec<String> {
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
pub(crate) const CONTAINER_SCRIPT: &str =
    concat!(include_str!("sh/exit-codes.sh"), include_str!("sh/container.sh"));

impl NodeKind for ContainerKind {
    fn name(&self) -> &'static str {
        "container"
    }

    fn validate(&self, node: &Node) -> Result<(), String> {
        if node.host.is_none() {
            return Err("a container needs `host = \"<host node>\"`".into());
        }
        validate_container_name(&node.name)
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

    fn check_command(&self, node: &Node, argv: &[String]) -> Vec<String> {
        ["nixos-container", "run", &node.name, "--"]
            .into_iter()
            .map(String::from)
            .chain(argv.iter().cloned())
            .collect()
    }
}

/// NixOS rejects underscores in container names; the name also becomes a unit
/// instance, a host name and a profile directory, so only letters, digits and
/// inner dashes are accepted.
fn validate_container_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid container name: use letters, digits and inner dashes only (NixOS rejects `_`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(name: &str, expect: &str) {
        let got = match validate_container_name(name) {
            Ok(()) => "ok".to_string(),
            Err(e) => e,
        };
        assert_eq!(got, expect);
    }

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

    #[test]
    fn container_names() {
        check_name("nannuo-bot", "ok");
        check_name("web2", "ok");
        check_name(
            "bad_name",
            "`bad_name` is not a valid container name: use letters, digits and inner dashes only (NixOS rejects `_`)",
        );
        check_name(
            "-x",
            "`-x` is not a valid container name: use letters, digits and inner dashes only (NixOS rejects `_`)",
        );
    }
}
