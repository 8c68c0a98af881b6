//! Building the selected nodes: each evaluated on its own (or its earlier
//! evaluation reused), then all built at once when possible, each on its own
//! when not.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fleet_nix::{CommandError, Failure, Nix, Target};
use rayon::prelude::*;

use super::Plan;
use crate::build_progress::BuildProgress;
use crate::{Event, NodeError, Sink, Stage};

/// One node's build: its system, or why there is none.
pub(super) struct Built<'s> {
    /// The node.
    pub(super) node: &'s str,
    /// Its system's store path.
    pub(super) result: Result<String, NodeError>,
    /// Time spent evaluating and building it (shared builds count for each node).
    pub(super) elapsed: Duration,
    /// Its derivation came from an earlier evaluation of the same flake content.
    pub(super) reused_evaluation: bool,
}

impl<'a> Plan<'a> {
    /// Builds every selected node, here or (`on_targets`) each on its host.
    /// Each node is evaluated on its own, in a bounded pool (or its earlier
    /// evaluation reused); then one `nix build` per store builds every
    /// evaluated node, nix scheduling the builds; if that fails, each node on
    /// its own, in parallel, so that one failure does not stop independent
    /// nodes and each error is its node's own.
    pub(super) fn build_all<'s>(
        &'s self,
        nix: &Nix,
        pool: &rayon::ThreadPool,
        on_targets: Option<&BTreeMap<String, Target>>,
        sink: &dyn Sink,
    ) -> Vec<Built<'s>> {
        let names = self.selection.names();
        for name in names {
            sink.event(Event::Stage { node: name, stage: Stage::Build });
        }
        let started = Instant::now();
        let attributes: Vec<String> = names.iter().map(|name| self.build_attr(name)).collect();
        let (evaluated, _) = nix.evaluate(&self.flake, &attributes, &self.evaluation, &mut |i, result| {
            if let Ok(evaluated) = result {
                sink.event(Event::Evaluated { node: &names[i], reused: evaluated.reused });
            }
        });
        let too_old = match evaluated.iter().any(Result::is_err) {
            // Each would fail the same way, deep inside nixpkgs: say why once.
            true => nix.check_version(&self.flake).err().filter(CommandError::is_nix_too_old),
            false => None,
        };
        let mut results: Vec<Option<Result<String, NodeError>>> = evaluated
            .iter()
            .zip(names)
            .map(|(result, name)| {
                let error = too_old.as_ref().or(result.as_ref().err())?;
                Some(Err(NodeError::new(name, Stage::Build, error.clone())))
            })
            .collect();

        let stores: Vec<(Target, Vec<usize>)> = match on_targets {
            None => vec![(Target::Local, (0..names.len()).collect())],
            Some(targets) => targets
                .iter()
                .map(|(host, target)| {
                    let mine = (0..names.len())
                        .filter(|&i| self.fleet.host_of(&names[i]).is_some_and(|h| &h.name == host))
                        .collect();
                    (target.clone(), mine)
                })
                .collect(),
        };
        for (store, indices) in stores {
            let indices: Vec<usize> = indices.into_iter().filter(|&i| results[i].is_none()).collect();
            if indices.is_empty() {
                continue;
            }
            let drv =
                |i: usize| evaluated[i].as_ref().map(|e| e.drv.clone()).expect("only evaluated nodes build");
            let nodes: Vec<&str> = indices.iter().map(|&i| names[i].as_str()).collect();
            let drvs: Vec<String> = indices.iter().map(|&i| drv(i)).collect();
            let together = nix
                .copy_derivations_to(&store, &drvs)
                .and_then(|()| self.build_reporting(nix, &nodes, &drvs, self.jobs, &store, sink));
            let each: Vec<(usize, Result<String, CommandError>)> = match together {
                Ok(outs) => indices.iter().map(|&i| (i, output_of(&outs, &drv(i), &store))).collect(),
                Err(_) => pool.install(|| {
                    indices
                        .par_iter()
                        .map(|&i| {
                            let built =
                                self.build_reporting(nix, &[names[i].as_str()], &[drv(i)], 1, &store, sink);
                            (i, built.and_then(|outs| output_of(&outs, &drv(i), &store)))
                        })
                        .collect()
                }),
            };
            for (i, result) in each {
                results[i] = Some(result.map_err(|error| NodeError::new(&names[i], Stage::Build, error)));
            }
        }
        let elapsed = started.elapsed();
        names
            .iter()
            .zip(results)
            .zip(&evaluated)
            .map(|((name, result), evaluation)| Built {
                node: name,
                result: result.expect("every node was evaluated and built, or failed"),
                elapsed,
                reused_evaluation: evaluation.as_ref().is_ok_and(|e| e.reused),
            })
            .collect()
    }

    fn build_attr(&self, name: &str) -> String {
        let node = self.fleet.node(name).expect("selected nodes exist");
        self.kinds.of(node).build_attr(node)
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
}

/// The `out` path of `drv` in a build's results.
fn output_of(outs: &HashMap<String, String>, drv: &str, store: &Target) -> Result<String, CommandError> {
    outs.get(drv).cloned().ok_or_else(|| CommandError {
        command: format!("nix build --store {store} {drv}"),
        failure: Failure::Output("no `out` output in the build result".into()),
    })
}
