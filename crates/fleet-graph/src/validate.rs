//! Validation of the graph data's values, before anything runs: node names,
//! addresses, bridges and targets.
//!
//! Every name becomes a file name, a unit instance and a host name on the
//! target, and every address a health-check destination, so a value that
//! NixOS itself would refuse is refused here, with the rule and the fix.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use crate::data::Node;
use crate::{GraphError, HOST_KIND};

/// The longest node name: a DNS label (`networking.hostName` allows no more).
pub(crate) const MAX_NAME: usize = 63;

/// Checks every node's name and, per host, the addresses of its nodes and the
/// targets of all hosts.
pub(crate) fn validate(nodes: &[Node]) -> Result<(), GraphError> {
    for node in nodes {
        name(node)?;
    }
    let mut bridges: HashMap<&str, Option<Bridge>> = HashMap::new();
    for host in nodes.iter().filter(|n| n.kind == HOST_KIND) {
        bridges.insert(&host.name, bridge(host)?);
    }
    let mut taken: HashMap<(&str, Ipv4Addr), &str> = HashMap::new();
    for node in nodes {
        let Some(value) = node.attrs.get("address") else { continue };
        let address = ipv4(node, "address", value)?;
        let host = node.host.as_deref().unwrap_or(&node.name);
        if let Some(Some(bridge)) = bridges.get(host) {
            bridge.admits(node, address)?;
        } else if node.host.is_some() {
            return Err(invalid(
                node,
                format!(
                    "`address = \"{address}\"` needs a bridge on its host `{host}`, which declares none; \
                     add `bridge = {{ name = \"br0\"; address = \"A.B.C.1\"; prefixLength = 24; }};` to `{host}`"
                ),
            ));
        }
        if let Some(other) = taken.insert((host, address), &node.name) {
            return Err(invalid(
                node,
                format!("`address = \"{address}\"` is already the address of `{other}` on `{host}`; give each node its own"),
            ));
        }
    }
    if let Some(node) = nodes.iter().find(|n| n.attr_str("target") == Some("local")) {
        // A graph from a branch someone else pushed must not run its
        // activation and `command` checks on the operator's machine.
        return Err(invalid(
            node,
            "`target = \"local\"` would run its activation and checks on the machine \
             that runs fleet; a graph names a remote machine (USER@HOST[:PORT]): to deploy here, \
             pass `--target local` on the command line"
                .into(),
        ));
    }
    let mut targets: HashMap<String, &str> = HashMap::new();
    for host in nodes.iter().filter(|n| n.kind == HOST_KIND) {
        let Some(target) = host.attr_str("target") else { continue };
        if let Some(other) = targets.insert(normal_target(target), &host.name) {
            return Err(invalid(
                host,
                format!(
                    "`target = \"{target}\"` is also the target of host `{other}`; \
                     one machine is one host: give each host its own target"
                ),
            ));
        }
    }
    Ok(())
}

/// A node name: a DNS label (letters, digits, inner dashes; at most 63), as
/// `networking.hostName` and nixos-containers accept; a host may also use
/// inner underscores, which containers may not.
fn name(node: &Node) -> Result<(), GraphError> {
    let name = &node.name;
    let inner: &[u8] = if node.kind == HOST_KIND { b"-_" } else { b"-" };
    let bytes = name.as_bytes();
    let valid = (1..=MAX_NAME).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || inner.contains(b))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if valid {
        return Ok(());
    }
    let shown: String = name.chars().take(80).collect::<String>().escape_debug().to_string();
    let allowed = if node.kind == HOST_KIND {
        "letters, digits and inner `-` or `_`"
    } else {
        "letters, digits and inner `-` (no `_`, which nixos-containers rejects)"
    };
    Err(GraphError::Invalid {
        node: shown,
        reason: format!(
            "its name ({} characters) breaks NixOS's rule: a {} name is 1 to {MAX_NAME} {allowed}; \
             rename the node",
            name.chars().count(),
            if node.kind == HOST_KIND { "host" } else { "node" },
        ),
    })
}

/// A host's container bridge: its own address and prefix.
struct Bridge {
    address: Ipv4Addr,
    prefix: u32,
}

impl Bridge {
    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0)
    }

    /// A node address must lie inside the bridge's subnet and be neither the
    /// bridge's own address nor the subnet's network or broadcast address.
    fn admits(&self, node: &Node, address: Ipv4Addr) -> Result<(), GraphError> {
        let (mask, net) = (self.mask(), u32::from(self.address) & self.mask());
        let subnet = format!("{}/{}", Ipv4Addr::from(net), self.prefix);
        let bits = u32::from(address);
        if bits & mask != net {
            return Err(invalid(
                node,
                format!("`address = \"{address}\"` is outside its host's bridge subnet {subnet}; pick one inside it"),
            ));
        }
        if address == self.address {
            return Err(invalid(
                node,
                format!(
                    "`address = \"{address}\"` is the bridge's own address; pick another one in {subnet}"
                ),
            ));
        }
        if bits == net || bits == net | !mask {
            return Err(invalid(
                node,
                format!(
                    "`address = \"{address}\"` is the network or broadcast address of {subnet}; pick a host address"
                ),
            ));
        }
        Ok(())
    }
}

/// The host's `bridge = { name; address; prefixLength; }`, if declared.
fn bridge(host: &Node) -> Result<Option<Bridge>, GraphError> {
    let Some(value) = host.attrs.get("bridge") else { return Ok(None) };
    let Value::Object(fields) = value else {
        return Err(invalid(
            host,
            "`bridge` must be { name = \"br0\"; address = \"A.B.C.D\"; prefixLength = N; }".into(),
        ));
    };
    if let Some(name) = fields.get("name") {
        let valid = name.as_str().is_some_and(|n| {
            (1..=15).contains(&n.len())
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !n.starts_with(['-', '.'])
        });
        if !valid {
            return Err(invalid(
                host,
                "`bridge.name` must be an interface name: 1 to 15 letters, digits, `-`, `_` or `.`".into(),
            ));
        }
    }
    let address = match fields.get("address") {
        Some(value) => ipv4(host, "bridge.address", value)?,
        None => {
            return Err(invalid(host, "`bridge.address` is missing: the host's address on the bridge".into()))
        }
    };
    let prefix = fields
        .get("prefixLength")
        .and_then(Value::as_u64)
        .filter(|p| (8..=30).contains(p))
        .ok_or_else(|| invalid(host, "`bridge.prefixLength` must be a number from 8 to 30".into()))?;
    Ok(Some(Bridge { address, prefix: prefix as u32 }))
}

/// A field that must be a dotted-quad IPv4 address.
fn ipv4(node: &Node, field: &str, value: &Value) -> Result<Ipv4Addr, GraphError> {
    let text = value.as_str().unwrap_or_default();
    text.parse::<Ipv4Addr>().map_err(|_| {
        let shown = match value {
            Value::String(s) => format!("\"{}\"", s.escape_debug()),
            other => other.to_string(),
        };
        invalid(
            node,
            format!("`{field} = {shown}` is not an IPv4 address; write four numbers, e.g. \"10.233.0.10\""),
        )
    })
}

/// A target as a machine identity: host and port, without case or user (two
/// users on one machine are still one machine, with one deploy lock).
fn normal_target(target: &str) -> String {
    let target = target.to_ascii_lowercase();
    let machine = target.split_once('@').map_or(target.as_str(), |(_, machine)| machine);
    machine.strip_suffix(":22").unwrap_or(machine).to_string()
}

fn invalid(node: &Node, reason: String) -> GraphError {
    GraphError::Invalid { node: node.name.clone(), reason }
}

#[cfg(test)]
mod tests {
    use crate::Fleet;

    /// Builds a fleet of one host `h` (with `host` fields) and the nodes in
    /// `nodes`, and returns `ok` or the error.
    fn check(host: &str, nodes: &str, expect: &str) {
        let json = format!(r#"{{"nodes":{{"h":{{"kind":"host"{host}}}{nodes}}}}}"#);
        let got = match Fleet::from_json(&json) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "for {json}");
    }

    const BRIDGE: &str = r#","bridge":{"name":"br0","address":"10.1.0.1","prefixLength":24}"#;

    fn container(name: &str, address: &str) -> String {
        format!(r#","{name}":{{"kind":"container","host":"h","address":"{address}"}}"#)
    }

    #[test]
    fn names_follow_nixos_rules() {
        check(BRIDGE, &container("web-1", "10.1.0.2"), "ok");
        let bad = "breaks NixOS's rule";
        for name in ["../../../../tmp/x/trav", "a\\nb", "a.b", "-x", "x-", "a_b", ""] {
            let got = Fleet::from_json(&format!(
                r#"{{"nodes":{{"h":{{"kind":"host"}},"{name}":{{"kind":"container","host":"h"}}}}}}"#
            ))
            .unwrap_err()
            .to_string();
            assert!(got.contains(bad) && got.contains("rename the node"), "{name}: {got}");
        }
        let long = "a".repeat(300);
        let got = Fleet::from_json(&format!(r#"{{"nodes":{{"{long}":{{"kind":"host"}}}}}}"#)).unwrap_err();
        assert!(got.to_string().contains("(300 characters)"), "{got}");
        assert!(Fleet::from_json(r#"{"nodes":{"my_host":{"kind":"host"}}}"#).is_ok(), "hosts may use `_`");
    }

    #[test]
    fn addresses_are_ipv4_inside_the_bridge_and_unique() {
        for (address, why) in [
            ("not an ip", "is not an IPv4 address; write four numbers, e.g. \"10.233.0.10\""),
            ("10.2.0.5", "is outside its host's bridge subnet 10.1.0.0/24; pick one inside it"),
            ("10.1.0.1", "is the bridge's own address; pick another one in 10.1.0.0/24"),
            ("10.1.0.255", "is the network or broadcast address of 10.1.0.0/24; pick a host address"),
        ] {
            check(
                BRIDGE,
                &container("a", address),
                &format!("node `a` is not valid: `address = \"{address}\"` {why}"),
            );
        }
        check(
            BRIDGE,
            &(container("a", "10.1.0.5") + &container("b", "10.1.0.5")),
            "node `b` is not valid: `address = \"10.1.0.5\"` is already the address of `a` on `h`; give each node its own",
        );
        check(
            "",
            &container("a", "10.1.0.5"),
            "node `a` is not valid: `address = \"10.1.0.5\"` needs a bridge on its host `h`, which declares none; \
             add `bridge = { name = \"br0\"; address = \"A.B.C.1\"; prefixLength = 24; };` to `h`",
        );
        check(
            r#","bridge":{"address":"10.1.0.1","prefixLength":31}"#,
            "",
            "node `h` is not valid: `bridge.prefixLength` must be a number from 8 to 30",
        );
    }

    #[test]
    fn one_host_per_target() {
        let got = Fleet::from_json(
            r#"{"nodes":{"a":{"kind":"host","target":"root@vps:22"},"b":{"kind":"host","target":"admin@VPS"}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            got.to_string(),
            "node `b` is not valid: `target = \"admin@VPS\"` is also the target of host `a`; \
             one machine is one host: give each host its own target"
        );
    }

    /// Pins that a graph cannot make fleet run a node's checks on the
    /// operator's machine: `local` is for the command line only.
    #[test]
    fn local_is_not_a_target_in_graph_data() {
        check(
            r#","target":"local""#,
            "",
            "node `h` is not valid: `target = \"local\"` would run its activation and checks \
             on the machine that runs fleet; a graph names a remote machine (USER@HOST[:PORT]): to deploy \
             here, pass `--target local` on the command line",
        );
        check(r#","target":"root@local""#, "", "ok");
    }
}
