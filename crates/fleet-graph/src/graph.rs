//! The validated fleet graph and the activation order it implies.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::data::{self, Node};
use crate::pattern;
use crate::{GraphError, HOST_KIND};

/// A validated fleet: unique names, known dependencies, hosts that exist, no cycles.
///
/// A node depends on the nodes in its `dependsOn` and on its `host`.
#[derive(Debug, Clone)]
pub struct Fleet {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// `depth[i]`: the activation wave of node `i` when the whole fleet deploys.
    depth: Vec<usize>,
}

/// The nodes one run works on, in activation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    names: Vec<String>,
    /// The same names, for [`Selection::contains`] in constant time: the
    /// waves ask it of every dependency.
    set: HashSet<String>,
}

impl Selection {
    fn new(names: Vec<String>) -> Selection {
        let set = names.iter().cloned().collect();
        Selection { names, set }
    }

    /// The selected names in activation order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `name` is selected.
    pub fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    /// The selected nodes that `keep` accepts, in the same order.
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Selection {
        Selection::new(self.names.iter().filter(|n| keep(n)).cloned().collect())
    }
}

impl Fleet {
    /// Parses and validates graph JSON, as printed by `nix eval --json --file`.
    pub fn from_json(json: &str) -> Result<Fleet, GraphError> {
        Fleet::new(data::parse(json)?)
    }

    /// Validates a list of nodes.
    pub fn new(nodes: Vec<Node>) -> Result<Fleet, GraphError> {
        let mut index = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if index.insert(node.name.clone(), i).is_some() {
                return Err(GraphError::DuplicateNode(node.name.clone()));
            }
        }
        let hosts: Vec<String> =
            nodes.iter().filter(|n| n.kind == HOST_KIND).map(|n| n.name.clone()).collect();
        if hosts.is_empty() {
            return Err(GraphError::NoHost);
        }
        for node in &nodes {
            if let Some(host) = &node.host {
                if !hosts.contains(host) {
                    return Err(GraphError::UnknownHost {
                        node: node.name.clone(),
                        host: host.clone(),
                        hosts: hosts.clone(),
                    });
                }
            }
            for dep in &node.depends_on {
                if !index.contains_key(dep) {
                    return Err(GraphError::UnknownDependency {
                        node: node.name.clone(),
                        dependency: dep.clone(),
                        known: nodes.iter().map(|n| n.name.clone()).collect(),
                    });
                }
            }
        }
        // A node may depend on a node of another host (routers before the
        // servers behind them): the run orders activations across hosts,
        // and each host still comes before its own containers.
        crate::validate::validate(&nodes)?;
        let mut fleet = Fleet { nodes, index, depth: Vec::new() };
        fleet.depth = fleet.compute_depths()?;
        Ok(fleet)
    }

    /// Every node, in the order the data declares them.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// What `name` depends on: its host first, then its `dependsOn`.
    pub fn dependencies(&self, name: &str) -> Vec<&str> {
        let Some(node) = self.node(name) else {
            return Vec::new();
        };
        node.host.iter().chain(node.depends_on.iter()).map(String::as_str).collect()
    }

    /// The host node `name` runs on; a host runs on itself.
    pub fn host_of(&self, name: &str) -> Option<&Node> {
        let node = self.node(name)?;
        match &node.host {
            Some(host) => self.node(host),
            None if node.kind == HOST_KIND => Some(node),
            None => None,
        }
    }

    /// Selects the nodes placed on `hosts` (each host with its containers; all
    /// hosts when empty), narrowed to the `containers` named (when any). Every
    /// name must exist, and a named container must be on a selected host.
    /// Either list may hold `@TAG` and globs (`bgs-*`), each of which must
    /// match at least one host, or container on a selected host.
    pub fn select_on(&self, hosts: &[String], containers: &[String]) -> Result<Selection, GraphError> {
        let host_nodes: Vec<&Node> = self.nodes.iter().filter(|n| n.kind == HOST_KIND).collect();
        let hosts = &pattern::expand(hosts, &host_nodes, "host")?;
        let host_names: Vec<String> = host_nodes.iter().map(|n| n.name.clone()).collect();
        for host in hosts {
            if !host_names.contains(host) {
                return Err(GraphError::UnknownSelection {
                    name: host.clone(),
                    kind: "host".into(),
                    known: host_names,
                });
            }
        }
        let on_hosts = |node: &Node| {
            hosts.is_empty() || self.host_of(&node.name).is_some_and(|h| hosts.contains(&h.name))
        };
        let candidates: Vec<&Node> =
            self.nodes.iter().filter(|n| n.kind != HOST_KIND && on_hosts(n)).collect();
        let kind = if hosts.is_empty() {
            "container".to_string()
        } else {
            format!("container on {}", hosts.join(", "))
        };
        let containers = &pattern::expand(containers, &candidates, &kind)?;
        for name in containers {
            if !candidates.iter().any(|n| n.name == *name) {
                return Err(GraphError::UnknownSelection {
                    name: name.clone(),
                    kind,
                    known: candidates.iter().map(|n| n.name.clone()).collect(),
                });
            }
        }
        let named: HashSet<&str> = containers.iter().map(String::as_str).collect();
        Ok(Selection::new(
            self.order(|n| on_hosts(n) && (named.is_empty() || named.contains(n.name.as_str()))),
        ))
    }

    /// The selected nodes grouped into activation waves: every node comes in a
    /// later wave than each selected node it depends on. Nodes of one wave are
    /// independent of each other.
    pub fn waves(&self, selection: &Selection) -> Vec<Vec<&Node>> {
        let mut wave_of: HashMap<&str, usize> = HashMap::new();
        let mut waves: Vec<Vec<&Node>> = Vec::new();
        for name in selection.names() {
            let wave = self
                .selected_dependencies(selection, name)
                .iter()
                .filter_map(|dep| wave_of.get(dep).map(|w| w + 1))
                .max()
                .unwrap_or(0);
            wave_of.insert(name, wave);
            if waves.len() <= wave {
                waves.resize_with(wave + 1, Vec::new);
            }
            waves[wave].push(self.node(name).expect("selection holds fleet nodes"));
        }
        waves
    }

    /// The selected nodes that `name` waits for: its dependencies, looking
    /// through unselected nodes to the selected ones behind them, so that order
    /// holds even when a node in between is not part of this run.
    pub fn selected_dependencies<'a>(&'a self, selection: &Selection, name: &str) -> Vec<&'a str> {
        let mut found: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = self.dependencies(name);
        while let Some(dep) = stack.pop() {
            if !seen.insert(dep) {
                continue;
            }
            if selection.contains(dep) {
                found.push(dep);
            } else {
                stack.extend(self.dependencies(dep));
            }
        }
        found.sort_by_key(|dep| self.index[*dep]);
        found
    }

    /// The graph in Graphviz dot syntax, edges pointing from a dependency to
    /// the node that needs it (activation order).
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph fleet {\n  rankdir=LR;\n");
        for node in &self.nodes {
            let shape = if node.kind == HOST_KIND { "box" } else { "ellipse" };
            dot.push_str(&format!(
                "  \"{}\" [shape={shape}, label=\"{}\\n({})\"];\n",
                node.name, node.name, node.kind
            ));
        }
        for node in &self.nodes {
            for dep in self.dependencies(&node.name) {
                let style = if node.host.as_deref() == Some(dep) { " [style=dashed]" } else { "" };
                dot.push_str(&format!("  \"{dep}\" -> \"{}\"{style};\n", node.name));
            }
        }
        dot.push_str("}\n");
        dot
    }

    /// Names of the nodes accepted by `keep`, in activation order (by wave, then
    /// by declaration).
    fn order(&self, keep: impl Fn(&Node) -> bool) -> Vec<String> {
        let mut picked: Vec<usize> = (0..self.nodes.len()).filter(|&i| keep(&self.nodes[i])).collect();
        picked.sort_by_key(|&i| (self.depth[i], i));
        picked.into_iter().map(|i| self.nodes[i].name.clone()).collect()
    }

    fn compute_depths(&self) -> Result<Vec<usize>, GraphError> {
        let mut graph: DiGraph<usize, ()> = DiGraph::new();
        let ids: Vec<NodeIndex> = (0..self.nodes.len()).map(|i| graph.add_node(i)).collect();
        for (i, node) in self.nodes.iter().enumerate() {
            for dep in self.dependencies(&node.name) {
                graph.add_edge(ids[self.index[dep]], ids[i], ());
            }
        }
        if let Some(cycle) = find_cycle(&graph) {
            return Err(GraphError::Cycle(
                cycle.into_iter().map(|id| self.nodes[graph[id]].name.clone()).collect(),
            ));
        }
        let mut depth = vec![0; self.nodes.len()];
        let order = petgraph::algo::toposort(&graph, None).expect("cycles were rejected above");
        for id in order {
            let i = graph[id];
            depth[i] = graph
                .neighbors_directed(id, petgraph::Direction::Incoming)
                .map(|dep| depth[graph[dep]] + 1)
                .max()
                .unwrap_or(0);
        }
        Ok(depth)
    }
}

/// One cycle of the graph as a closed walk (first node repeated at the end),
/// shortest from the first node of the first cyclic component found. Every
/// step is iterative (`kosaraju_scc`, not `tarjan_scc`, which recurses once
/// per node of a chain), so no dependency chain is too deep.
fn find_cycle(graph: &DiGraph<usize, ()>) -> Option<Vec<NodeIndex>> {
    let component =
        kosaraju_scc(graph).into_iter().find(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))?;
    let members: HashSet<NodeIndex> = component.iter().copied().collect();
    let start = *component.iter().min_by_key(|id| graph[**id])?;
    let mut came_from: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for next in graph.neighbors(at) {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut walk = vec![start, at];
                let mut cursor = at;
                while cursor != start {
                    cursor = came_from[&cursor];
                    walk.push(cursor);
                }
                walk.reverse();
                walk.dedup();
                if walk.len() == 1 {
                    walk.push(start);
                }
                return Some(walk);
            }
            if next != start && !came_from.contains_key(&next) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds graph JSON from `name:kind:host:dep,dep` items.
    fn fleet_json(spec: &str) -> String {
        let nodes: Vec<String> = spec
            .split_whitespace()
            .map(|item| {
                let parts: Vec<&str> = item.split(':').collect();
                let host = match parts.get(2) {
                    Some(h) if !h.is_empty() => format!(",\"host\":\"{h}\""),
                    _ => String::new(),
                };
                let deps: Vec<String> = parts
                    .get(3)
                    .map(|d| d.split(',').filter(|s| !s.is_empty()).map(|s| format!("\"{s}\"")).collect())
                    .unwrap_or_default();
                format!(
                    "\"{}\":{{\"kind\":\"{}\"{host},\"dependsOn\":[{}]}}",
                    parts[0],
                    parts[1],
                    deps.join(",")
                )
            })
            .collect();
        format!("{{\"nodes\":{{{}}}}}", nodes.join(","))
    }

    fn check_waves(spec: &str, select: &[&str], expect: &str) {
        let got = match Fleet::from_json(&fleet_json(spec)).and_then(|fleet| {
            let names: Vec<String> = select.iter().map(|s| s.to_string()).collect();
            let selection = fleet.select_on(&[], &names)?;
            Ok(fleet
                .waves(&selection)
                .iter()
                .map(|wave| wave.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>()
                .join(" | "))
        }) {
            Ok(text) => text,
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn host_first_then_dependencies() {
        check_waves("c:container:h:b h:host b:container:h a:container:h", &[], "h | b,a | c");
    }

    #[test]
    fn selection_keeps_only_named_nodes_in_order() {
        check_waves("h:host a:container:h b:container:h:a c:container:h:b", &["c", "a"], "a | c");
        check_waves("h:host a:container:h b:container:h c:container:h:b", &["c", "a"], "a,c");
    }

    #[test]
    fn unknown_selection_lists_containers() {
        check_waves("h:host a:container:h", &["nope"], "error: `nope` is not a container (known: a)");
        check_waves("h:host a:container:h", &["h"], "error: `h` is not a container (known: a)");
    }

    #[test]
    fn hosts_select_their_nodes() {
        let spec = "h:host g:host a:container:h b:container:g c:container:g:b";
        let select = |hosts: &[&str], containers: &[&str]| {
            let fleet = Fleet::from_json(&fleet_json(spec)).unwrap();
            let own = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            match fleet.select_on(&own(hosts), &own(containers)) {
                Ok(selection) => selection.names().join(" "),
                Err(e) => format!("error: {e}"),
            }
        };
        assert_eq!(select(&["g"], &[]), "g b c");
        assert_eq!(select(&["g", "h"], &["c"]), "c");
        assert_eq!(select(&["x"], &[]), "error: `x` is not a host (known: h, g)");
        assert_eq!(select(&["h"], &["c"]), "error: `c` is not a container on h (known: a)");
    }

    #[test]
    fn tags_and_globs_select_hosts_and_containers() {
        let json = r#"{"nodes":{
            "h":{"kind":"host","tags":["prod"]}, "g":{"kind":"host"},
            "bgs-a":{"kind":"container","host":"h","tags":["web"]},
            "bgs-b":{"kind":"container","host":"h"},
            "bot":{"kind":"container","host":"h","dependsOn":["bgs-a"],"tags":["web","chat"]},
            "x":{"kind":"container","host":"g","tags":["web"]}}}"#;
        let fleet = Fleet::from_json(json).unwrap();
        let select = |hosts: &[&str], containers: &[&str]| {
            let own = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            match fleet.select_on(&own(hosts), &own(containers)) {
                Ok(selection) => selection.names().join(" "),
                Err(e) => format!("error: {e}"),
            }
        };
        assert_eq!(select(&["@prod"], &[]), "h bgs-a bgs-b bot");
        assert_eq!(select(&[], &["bgs-*"]), "bgs-a bgs-b");
        assert_eq!(select(&[], &["@web"]), "bgs-a x bot");
        assert_eq!(select(&["h"], &["@web", "bgs-?"]), "bgs-a bgs-b bot");
        assert_eq!(select(&["?"], &["@chat"]), "bot");
        assert_eq!(select(&["@nope"], &[]), "error: `@nope` matches no host (known: h, g)");
        assert_eq!(select(&["g"], &["bgs-*"]), "error: `bgs-*` matches no container on g (known: x)");
        assert_eq!(
            select(&[], &["@prod"]),
            "error: `@prod` matches no container (known: bgs-a, bgs-b, bot, x)"
        );
    }

    #[test]
    fn cycle_is_printed() {
        check_waves(
            "h:host a:container:h:c b:container:h:a c:container:h:b",
            &[],
            "error: the dependencies form a cycle, a -> b -> c -> a; remove one of these dependsOn edges",
        );
        check_waves(
            "h:host a:container:h:a",
            &[],
            "error: the dependencies form a cycle, a -> a; remove one of these dependsOn edges",
        );
    }

    /// Pins the iterative cycle search: petgraph's `tarjan_scc` recursed once
    /// per node of a chain, and a deep one overflowed the stack.
    #[test]
    fn a_20000_deep_chain_validates_and_its_cycle_is_found() {
        let chain = |closed: bool| {
            let mut spec = String::from("h:host c0:container:h");
            if closed {
                spec.push_str(":c19999");
            }
            for i in 1..20_000 {
                spec.push_str(&format!(" c{i}:container:h:c{}", i - 1));
            }
            fleet_json(&spec)
        };
        let fleet = Fleet::from_json(&chain(false)).unwrap();
        let selection = fleet.select_on(&[], &[]).unwrap();
        assert_eq!(fleet.waves(&selection).len(), 20_001);
        let err = Fleet::from_json(&chain(true)).unwrap_err().to_string();
        assert!(err.starts_with("the dependencies form a cycle, c0 -> c1 -> c2 -> "), "{}", &err[..100]);
        assert!(
            err.ends_with("c19999 -> c0; remove one of these dependsOn edges"),
            "{}",
            &err[err.len() - 100..]
        );
    }

    #[test]
    fn unknown_dependency_and_host() {
        check_waves(
            "h:host a:container:h:ghost",
            &[],
            "error: node `a` depends on `ghost`, which is not a node (known nodes: h, a)",
        );
        check_waves(
            "h:host a:container:elsewhere",
            &[],
            "error: node `a` is placed on host `elsewhere`, which is not a node of kind \"host\" (hosts: h)",
        );
        check_waves(
            "a:container",
            &[],
            "error: no node has kind = \"host\"; declare the machine the containers run on",
        );
    }

    #[test]
    fn dependencies_may_cross_hosts_but_not_in_a_cycle() {
        check_waves("h:host g:host a:container:h b:container:g:a", &[], "h,g | a | b");
        check_waves("h:host g:host::a a:container:h b:container:g", &[], "h | a | g | b");
        check_waves("h:host a:container:h:h", &[], "h | a");
        check_waves(
            "h:host g:host a:container:h:b b:container:g:a",
            &[],
            "error: the dependencies form a cycle, a -> b -> a; remove one of these dependsOn edges",
        );
        // Through a host: g waits for a, a for b, and b, on g, for g (each
        // arrow points from a node to one that needs it).
        check_waves(
            "h:host g:host::a a:container:h:b b:container:g",
            &[],
            "error: the dependencies form a cycle, g -> b -> a -> g; remove one of these dependsOn edges",
        );
    }

    #[test]
    fn dot_has_every_edge() {
        let fleet = Fleet::from_json(&fleet_json("h:host a:container:h b:container:h:a")).unwrap();
        let dot = fleet.to_dot();
        assert!(dot.contains("\"h\" -> \"a\" [style=dashed];"), "{dot}");
        assert!(dot.contains("\"a\" -> \"b\";"), "{dot}");
        assert!(dot.contains("\"h\" -> \"b\" [style=dashed];"), "{dot}");
    }
}
