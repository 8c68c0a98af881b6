//! The selection options that `deploy`, `rollback`, `status` and `exec`
//! share: `--host`, `--container`, `--no-containers`, and `--node NAME` for
//! exactly one node, host or container, by its name.

use fleet_graph::{Fleet, HOST_KIND};

use crate::exit::CliError;
use crate::options::Options;

/// The selection as given on the command line.
#[derive(Clone)]
pub(crate) struct SelectArgs {
    hosts: Vec<String>,
    containers: Vec<String>,
    hosts_only: bool,
    node: Option<String>,
}

/// Which nodes a plan selects: hosts, containers, and whether to keep only
/// the hosts (as `Plan::new` and `Plan::hosts_only` take them).
pub(crate) struct Selected {
    /// `--host` values.
    pub(crate) hosts: Vec<String>,
    /// `--container` values.
    pub(crate) containers: Vec<String>,
    /// `--no-containers`.
    pub(crate) hosts_only: bool,
}

impl SelectArgs {
    /// The selection options, refusing combinations that contradict each
    /// other.
    pub(crate) fn of(options: &Options) -> Result<SelectArgs, CliError> {
        let hosts = options.hosts.clone();
        let containers = options.containers.clone();
        let hosts_only = options.no_containers;
        let node = options.node.clone();
        if hosts_only && !containers.is_empty() {
            return Err(CliError::Usage(
                "--no-containers leaves every container out, and --container selects some; give one of them"
                    .into(),
            ));
        }
        if node.is_some() && (!hosts.is_empty() || !containers.is_empty() || hosts_only) {
            return Err(CliError::Usage(
                "--node selects exactly one node by itself; leave out --host, --container and --no-containers"
                    .into(),
            ));
        }
        Ok(SelectArgs { hosts, containers, hosts_only, node })
    }

    /// Whether no node was named: the selection is every node.
    pub(crate) fn is_everything(&self) -> bool {
        self.hosts.is_empty() && self.containers.is_empty() && self.node.is_none()
    }

    /// The selection in `fleet`: `--node NAME` becomes its host alone or its
    /// container; a name that is no node (or a pattern) is an error listing
    /// the nodes there are.
    pub(crate) fn resolve(&self, fleet: &Fleet) -> Result<Selected, CliError> {
        let Some(name) = &self.node else {
            return Ok(Selected {
                hosts: self.hosts.clone(),
                containers: self.containers.clone(),
                hosts_only: self.hosts_only,
            });
        };
        match fleet.node(name) {
            Some(node) if node.kind == HOST_KIND => {
                Ok(Selected { hosts: vec![name.clone()], containers: Vec::new(), hosts_only: true })
            }
            Some(_) => Ok(Selected { hosts: Vec::new(), containers: vec![name.clone()], hosts_only: false }),
            None => {
                let known: Vec<&str> = fleet.nodes().iter().map(|n| n.name.as_str()).collect();
                Err(CliError::Usage(format!(
                    "--node `{}` is not a node name (known: {}); --node takes one name, \
                     not a pattern or @tag",
                    name.escape_debug(),
                    known.join(", ")
                )))
            }
        }
    }
}
