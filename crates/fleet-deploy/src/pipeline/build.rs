//! Building the selected nodes: all at once when possible, each on its own
//! when not.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fleet_nix::{CommandError, Failure, Nix, Target};
use rayon::prelude::*;

use super::Plan;
use crate::build_progress::BuildProgress;
use crate::{Event, NodeError, Sink, Stage};

impl<'a> Plan<'a> {
    /// Builds every selected node, here or (`on_targets`) each on its host:
    /// first all at once (one evaluation, one `nix build` per store, nix
    /// scheduling the builds); if that fails, each node on its own, in
    /// parallel, so that one failure does not stop independent nodes and each
    /// error is its node's own.
    pub(super) fn build_all<'s>(
        &'s self,
        nix: &Nix,
        pool: &rayon::ThreadPool,
        on_targets: Option<&BTreeMap<String, Target>>,
        sink: &dyn Sink,
    ) -> Vec<(&'s str, Result<String, NodeError>, Duration)> {
        let names = self.selection.names();
        for name in names {
            sink.event(Event::Stage { node: name, stage: Stage::Build });
        }
        let started = Instant::now();
        let attributes: Vec<String> = names.iter().map(|name| self.build_attr(name)).collect();
        // One evaluation gives every node's derivation; one build per store
        // realises them, and the results map back through the derivation paths.
        let built = nix.eval_drv_paths(&self.flake, &attributes).and_then(|drvs| {
            let mut outs = HashMap::new();
            match on_targets {
                None => {
                    let nodes: Vec<&str> = names.iter().map(String::as_str).collect();
                    outs = self.build_reporting(nix, &nodes, &drvs, self.jobs, &Target::Local, sink)?;
                }
                Some(targets) => {
                    for (host, target) in targets {
                        let (nodes, mine): (Vec<&str>, Vec<String>) = names
                            .iter()
                            .zip(&drvs)
                            .filter(|(name, _)| self.fleet.host_of(name).is_some_and(|h| &h.name == host))
                            .map(|(name, drv)| (name.as_str(), drv.clone()))
                            .unzip();
                        nix.copy_derivations_to(target, &mine)?;
                        outs.extend(self.build_reporting(nix, &nodes, &mine, self.jobs, target, sink)?);
                    }
                }
            }
            Ok(drvs.iter().map(|drv| outs.get(drv).cloned()).collect::<Option<Vec<String>>>())
        });
        let elapsed = started.elapsed();
        match built {
            Ok(Some(paths)) => {
                return names
                    .iter()
                    .zip(paths)
                    .map(|(name, path)| (name.as_str(), Ok(path), elapsed))
                    .collect()
            }
            // Node by node, each would fail the same way, deep inside nixpkgs.
            Err(error) if error.is_nix_too_old() => {
                return names
                    .iter()
                    .map(|name| {
                        (name.as_str(), Err(NodeError::new(name, Stage::Build, error.clone())), elapsed)
                    })
                    .collect()
            }
            _ => {}
        }
        pool.install(|| names.par_iter().map(|name| self.build(nix, name, on_targets, sink)).collect())
    }

    /// Builds `drvs`, the derivations of `nodes` (in that order), in `store`,
    /// telling `sink` how far each node's build is. What must be built is
    /// asked first (a dry run) and mapped to the nodes through their
    /// derivation closures; when either cannot be read, the build runs all the
    /// same, without per-node progress.
    fn build_reporting(
        &self,
        nix: &Nix,
        nodes: &[&str],
        drvs: &[String],
        jobs: usize,
        store: &Target,
        sink: &dyn Sink,
    ) -> Result<HashMap<String, String>, CommandError> {
        let mut progress =
            nix.derivations_to_build(drvs, store).ok().filter(|to_build| !to_build.is_empty()).and_then(
                |to_build| {
                    let closures = nix.local_closures(drvs).ok()?;
                    Some(BuildProgress::new(nodes, &closures, &to_build, self.build_logs))
                },
            );
        if let Some(progress) = &progress {
            progress.start(sink);
        }
        nix.build_derivations(drvs, jobs, store, &mut |event| {
            if let Some(progress) = progress.as_mut() {
                progress.on_log(event, sink);
            }
        })
    }

    fn build_attr(&self, name: &str) -> String {
        let node = self.fleet.node(name).expect("selected nodes exist");
        self.kinds.of(node).build_attr(node)
    }

    /// Builds one node, here or on its host.
    fn build<'n>(
        &self,
        nix: &Nix,
        name: &'n str,
        on_targets: Option<&BTreeMap<String, Target>>,
        sink: &dyn Sink,
    ) -> (&'n str, Result<String, NodeError>, Duration) {
        let started = Instant::now();
        let result = match on_targets {
            None => nix.build(&format!("{}#{}", self.flake, self.build_attr(name))),
            Some(targets) => {
                let host = self.fleet.host_of(name).expect("validated nodes have hosts");
                let target = &targets[&host.name];
                nix.eval_drv_paths(&self.flake, &[self.build_attr(name)]).and_then(|drvs| {
                    nix.copy_derivations_to(target, &drvs)?;
                    let outs = self.build_reporting(nix, &[name], &drvs, 1, target, sink)?;
                    outs.get(&drvs[0]).cloned().ok_or_else(|| CommandError {
                        command: format!("nix build --store {target} {}", drvs[0]),
                        failure: Failure::Output("no `out` output in the build result".into()),
                    })
                })
            }
        };
        (name, result.map_err(|error| NodeError::new(name, Stage::Build, error)), started.elapsed())
    }
}
