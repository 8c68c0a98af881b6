//! What a run is about, by index: its nodes (in activation order), its
//! hosts, and who waits for whom, found once so that no event of the run
//! looks anything up by name.

use std::collections::{BTreeMap, HashMap, HashSet};

use fleet_graph::{Fleet, Node, Selection};
use fleet_nix::Target;

/// A node of the run: its place in the selection (activation order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(in crate::pipeline) struct NodeId(pub(in crate::pipeline) usize);

/// A host of the run: its place in [`Topology::hosts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(in crate::pipeline) struct HostId(pub(in crate::pipeline) usize);

/// One selected node.
pub(in crate::pipeline) struct NodeSpec {
    pub(in crate::pipeline) name: String,
    /// The host it runs on (a host runs on itself); `None` when the run
    /// involves no target, or none was given for that host.
    pub(in crate::pipeline) host: Option<HostId>,
    /// The selected nodes it waits for (its host first, then its
    /// dependencies, through unselected ones), in activation order.
    pub(in crate::pipeline) deps: Vec<NodeId>,
    /// The selected nodes that wait for it.
    pub(in crate::pipeline) dependents: Vec<NodeId>,
    /// For a host, every container of the fleet placed on it, selected or
    /// not: those whose unit its switch may change.
    pub(in crate::pipeline) containers: Vec<String>,
    /// Its system profile on the target.
    pub(in crate::pipeline) profile: String,
}

/// One involved host.
pub(in crate::pipeline) struct HostSpec {
    pub(in crate::pipeline) name: String,
    /// Reached over SSH: closures built here are copied to it.
    pub(in crate::pipeline) remote: bool,
    /// The selected nodes on it, in activation order.
    pub(in crate::pipeline) nodes: Vec<NodeId>,
}

/// The nodes and hosts of a run.
pub(in crate::pipeline) struct Topology {
    pub(in crate::pipeline) nodes: Vec<NodeSpec>,
    pub(in crate::pipeline) hosts: Vec<HostSpec>,
    by_name: HashMap<String, NodeId>,
}

impl Topology {
    /// The selected nodes of `fleet`, on the hosts of `targets` (none when
    /// `None`: the run involves no target); `profile` names each node's
    /// system profile.
    pub(in crate::pipeline) fn of(
        fleet: &Fleet,
        selection: &Selection,
        targets: Option<&BTreeMap<String, Target>>,
        profile: impl Fn(&Node) -> String,
    ) -> Topology {
        let names = selection.names();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        fn host_of<'f>(fleet: &'f Fleet, name: &'f str) -> &'f str {
            fleet.host_of(name).map_or(name, |host| host.name.as_str())
        }
        let involved: HashSet<&str> = names.iter().map(|name| host_of(fleet, name)).collect();
        let mut hosts: Vec<HostSpec> = Vec::new();
        let mut host_index: HashMap<&str, HostId> = HashMap::new();
        if let Some(targets) = targets {
            for (name, target) in targets {
                if involved.contains(name.as_str()) {
                    host_index.insert(name.as_str(), HostId(hosts.len()));
                    hosts.push(HostSpec {
                        name: name.clone(),
                        remote: matches!(target, Target::Ssh(_)),
                        nodes: Vec::new(),
                    });
                }
            }
        }
        let mut containers: HashMap<&str, Vec<String>> = HashMap::new();
        for node in fleet.nodes() {
            if let Some(host) = &node.host {
                containers.entry(host.as_str()).or_default().push(node.name.clone());
            }
        }
        let nodes = names
            .iter()
            .map(|name| {
                let node = fleet.node(name).expect("selected nodes exist");
                NodeSpec {
                    name: name.clone(),
                    host: host_index.get(host_of(fleet, name)).copied(),
                    deps: fleet
                        .selected_dependencies(selection, name)
                        .iter()
                        .map(|d| NodeId(index[d]))
                        .collect(),
                    dependents: Vec::new(),
                    containers: containers.remove(name.as_str()).unwrap_or_default(),
                    profile: profile(node),
                }
            })
            .collect();
        Topology::new(nodes, hosts)
    }

    /// A topology of `nodes` (whose `dependents` are filled in here) and
    /// `hosts` (whose `nodes` are).
    pub(in crate::pipeline) fn new(mut nodes: Vec<NodeSpec>, mut hosts: Vec<HostSpec>) -> Topology {
        for i in 0..nodes.len() {
            for d in 0..nodes[i].deps.len() {
                let dep = nodes[i].deps[d];
                nodes[dep.0].dependents.push(NodeId(i));
            }
            if let Some(host) = nodes[i].host {
                hosts[host.0].nodes.push(NodeId(i));
            }
        }
        let by_name = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), NodeId(i))).collect();
        Topology { nodes, hosts, by_name }
    }

    /// Node `i`.
    pub(in crate::pipeline) fn node(&self, i: NodeId) -> &NodeSpec {
        &self.nodes[i.0]
    }

    /// Host `h`.
    pub(in crate::pipeline) fn host(&self, h: HostId) -> &HostSpec {
        &self.hosts[h.0]
    }

    /// The selected node called `name`, if it runs on `host`.
    pub(in crate::pipeline) fn on_host(&self, host: HostId, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied().filter(|&i| self.node(i).host == Some(host))
    }
}
