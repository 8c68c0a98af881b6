//! Parsing the graph data (the JSON form of `nix/fleet.nix`) into nodes.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::GraphError;

/// A node's name: the attribute name in `nodes`, also its flake
/// `nixosConfigurations` attribute and, for a container, its container name.
pub type NodeName = String;

/// One node of the fleet as declared in the graph data.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's unique name.
    pub name: NodeName,
    /// The node's kind (`host`, `container`, ...), interpreted by the pipeline.
    pub kind: String,
    /// The host node this node runs on; `None` for hosts themselves.
    pub host: Option<NodeName>,
    /// Nodes that must be activated successfully before this one.
    pub depends_on: Vec<NodeName>,
    /// Every other field, for the kind to interpret (addresses, targets, ...),
    /// and `tags` (see [`Node::tags`]).
    pub attrs: Map<String, Value>,
}

impl Node {
    /// A string attribute, if present and a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str)
    }
}

/// Parses graph JSON into nodes, in the order the data lists them.
pub(crate) fn parse(json: &str) -> Result<Vec<Node>, GraphError> {
    let top: Top = serde_json::from_str(json).map_err(|e| match duplicate_name(&e) {
        Some(name) => GraphError::DuplicateNode(name),
        None => GraphError::Malformed {
            at: String::new(),
            reason: format!("is not of the form {{ nodes = {{ NAME = {{ kind = ...; }}; }}; }}: {e}"),
        },
    })?;
    top.nodes.0.into_iter().map(|(name, value)| node(name, value)).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    nodes: OrderedNodes,
}

/// The `nodes` object as ordered pairs; a repeated key is an error rather than
/// silently keeping the last one, as a plain map would.
struct OrderedNodes(Vec<(String, Value)>);

const DUPLICATE_MARK: &str = "duplicate node name: ";

impl<'de> Deserialize<'de> for OrderedNodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = OrderedNodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of nodes keyed by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedNodes, A::Error> {
                let mut pairs: Vec<(String, Value)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!("{DUPLICATE_MARK}{key}")));
                    }
                    pairs.push((key, value));
                }
                Ok(OrderedNodes(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

fn duplicate_name(error: &serde_json::Error) -> Option<String> {
    let text = error.to_string();
    let rest = text.split_once(DUPLICATE_MARK)?.1;
    Some(rest.split(" at line").next().unwrap_or(rest).to_string())
}

fn node(name: String, value: Value) -> Result<Node, GraphError> {
    let Value::Object(mut attrs) = value else {
        return Err(malformed(&name, "", "must be an attribute set"));
    };
    let kind = match attrs.remove("kind") {
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(malformed(&name, ".kind", "must be a string")),
        None => {
            return Err(malformed(&name, ".kind", "is missing; say what the node is, e.g. \"container\""))
        }
    };
    let host = match attrs.remove("host") {
        None | Some(Value::Null) => None,
        Some(Value::String(host)) => Some(host),
        Some(_) => return Err(malformed(&name, ".host", "must be the name of a host node")),
    };
    let depends_on = match attrs.remove("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(dep) => Ok(dep),
                _ => Err(malformed(&name, ".dependsOn", "must be a list of node names")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed(&name, ".dependsOn", "must be a list of node names")),
    };
    crate::pattern::check_tags(&name, attrs.get("tags"))?;
    Ok(Node { name, kind, host, depends_on, attrs })
}

fn malformed(node: &str, field: &str, reason: &str) -> GraphError {
    GraphError::Malformed { at: format!("nodes.{node}{field}"), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, expect: &str) {
        let got = match parse(json) {
            Ok(nodes) => nodes
                .iter()
                .map(|n| format!("{}:{}:{:?}:{}", n.name, n.kind, n.host, n.depends_on.join(",")))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn reads_nodes_in_order() {
        check(
            r#"{"nodes":{"h":{"kind":"host"},"b":{"kind":"container","host":"h","dependsOn":["a"]},"a":{"kind":"container","host":"h"}}}"#,
            "h:host:None: b:container:Some(\"h\"):a a:container:Some(\"h\"):",
        );
    }

    #[test]
    fn rejects_duplicate_names() {
        check(
            r#"{"nodes":{"h":{"kind":"host"},"h":{"kind":"host"}}}"#,
            "error: node `h` is declared twice in the graph data; give each node a unique name",
        );
    }

    #[test]
    fn rejects_malformed_fields() {
        check(r#"{"nodes":{"h":{"kind":1}}}"#, "error: the graph data at `nodes.h.kind` must be a string");
        check(
            r#"{"nodes":{"h":{"kind":"host","dependsOn":"x"}}}"#,
            "error: the graph data at `nodes.h.dependsOn` must be a list of node names",
        );
        check(
            r#"{"nodes":{"h":{}}}"#,
            "error: the graph data at `nodes.h.kind` is missing; say what the node is, e.g. \"container\"",
        );
    }

    #[test]
    fn reads_tags_and_rejects_malformed_ones() {
        let nodes = parse(r#"{"nodes":{"h":{"kind":"host","tags":["prod","eu-1"]}}}"#).unwrap();
        assert_eq!(nodes[0].tags(), ["prod", "eu-1"]);
        check(
            r#"{"nodes":{"h":{"kind":"host","tags":"prod"}}}"#,
            "error: the graph data at `nodes.h.tags` must be a list of tags made of letters, digits, `-`, `_` and `.`, e.g. [ \"web\" ]",
        );
    }

    #[test]
    fn rejects_unexpected_top_level() {
        let err = parse(r#"{"nodes":{},"hosts":{}}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `hosts`"), "{err}");
        let err = parse("[1,2]").unwrap_err().to_string();
        assert!(err.starts_with("the graph data is not of the form { nodes = "), "{err}");
    }
}
