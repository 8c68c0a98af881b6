//! The two built-in node kinds: a NixOS host and a native NixOS container.

use fleet_graph::Node;
use fleet_nix::{RemoteScript, Target};

use crate::NodeKind;

/// Refuses `$p` unless it looks like a NixOS system; shared by both kinds'
/// activation scripts, which set `p` first.
macro_rules! refuse_non_nixos {
    () => {
        r#"if [ ! -e "$p/nixos-version" ] || [ ! -x "$p/bin/switch-to-configuration" ]; then
  echo "$p is not a NixOS system (it lacks nixos-version or bin/switch-to-configuration); nothing was changed" >&2
  exit 3
fi
"#
    };
}

/// A NixOS machine: the system profile, switched with `switch-to-configuration
/// switch` inside a transient unit, as `nixos-rebuild --target-host` does, so the
/// switch finishes even if the SSH connection drops.
pub struct HostKind;

/// `$1`: the new system, `$2`: the profile.
const HOST_ACTIVATE: &str = concat!(
    "set -eu\np=$1 profile=$2\n",
    refuse_non_nixos!(),
    r#"nix-env -p "$profile" --set "$p"
exec systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \
  --unit="fleet-switch-$(date +%s)-$$" "$p/bin/switch-to-configuration" switch
"#
);

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

    fn activate(&self, node: &Node, path: &str) -> RemoteScript {
        RemoteScript::new(HOST_ACTIVATE, [path.to_string(), self.profile(node)])
    }
}

/// A native NixOS container (`containers.NAME` on its host, declared with
/// `path = "/nix/var/nix/profiles/system"`): its own per-container profile,
/// activated by reloading `container@NAME` (which runs `switch-to-configuration
/// test` inside) or starting it when it is not running.
pub struct ContainerKind;

/// `$1`: the container name, `$2`: the new system, `$3`: the profile.
const CONTAINER_ACTIVATE: &str = concat!(
    "set -eu\nname=$1 p=$2 profile=$3\n",
    refuse_non_nixos!(),
    r#"mkdir -p "${profile%/*}"
nix-env -p "$profile" --set "$p"
if systemctl is-active --quiet "container@$name"; then
  systemctl reload "container@$name"
else
  systemctl start "container@$name"
fi
"#
);

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

    fn activate(&self, node: &Node, path: &str) -> RemoteScript {
        RemoteScript::new(
            CONTAINER_ACTIVATE,
            [node.name.clone(), path.to_string(), self.profile(node)],
        )
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

    #[test]
    fn container_names() {
        check_name("nannuo-bot", "ok");
        check_name("web2", "ok");
        check_name(
            "bad_name",
            "`bad_name` is not a valid container name: use letters, digits and inner dashes only (NixOS rejects `_`)",
        );
        check_name("-x", "`-x` is not a valid container name: use letters, digits and inner dashes only (NixOS rejects `_`)");
    }

    #[test]
    fn activation_refuses_a_non_system_without_touching_the_profile() {
        let dir = std::env::temp_dir().join(format!("fleet-refuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let profile = dir.join("profile");
        let node = Node {
            name: "c".into(),
            kind: "container".into(),
            host: Some("h".into()),
            depends_on: vec![],
            attrs: Default::default(),
        };
        let mut script = ContainerKind.activate(&node, dir.to_str().unwrap());
        script.args[2] = profile.to_str().unwrap().to_string();
        let err = Target::Local.run(&script).unwrap_err();
        assert_eq!(err.exit_code(), Some(3));
        assert!(err.stderr_tail().contains("is not a NixOS system"), "{err}");
        assert!(!profile.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
