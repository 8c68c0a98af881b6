//! Building the nodes: each one's evaluation (or its earlier one reused), streamed
//! to the scheduler as each finishes, then built with the others evaluated by
//! then in one `nix build`, here or on its host, each done when its own build
//! is and each failure only its own.

use std::cell::RefCell;
use std::sync::Mutex;

use fleet_nix::{BuildLogEvent, CommandError, Evaluated, Failure, Nix, Target};

use super::Plan;
use crate::build_progress::BuildProgress;
use crate::{Event, Sink, Stage};

impl<'a> Plan<'a> {
    /// Evaluates every selected node, in a bounded pool (or reuses its earlier
    /// evaluation), telling `on_each` of each by its index in the selection as
    /// it is known.
    pub(super) fn evaluate(
        &self,
        nix: &Nix,
        sink: &dyn Sink,
        on_each: &mut dyn FnMut(usize, Result<Evaluated, CommandError>),
    ) {
        let names = self.selection.names();
        let attributes: Vec<String> = names.iter().map(|name| self.build_attr(name)).collect();
        // Each would fail the same way, deep inside nixpkgs: say why once.
        let mut too_old: Option<Option<CommandError>> = None;
        // Which nodes are known (reused), so that a fetch is said only on the
        // lines of those still to evaluate: once when it starts, and their
        // evaluation again when it is over.
        let known = RefCell::new(vec![false; names.len()]);
        let mut fetching = false;
        let mut on_fetch = |what: Option<&str>| {
            let stage = match what {
                Some(_) if std::mem::replace(&mut fetching, true) => return,
                Some(_) => Stage::Fetch,
                None => Stage::Evaluate,
            };
            for (name, _) in names.iter().zip(known.borrow().iter()).filter(|(_, known)| !**known) {
                sink.event(Event::Stage { node: name, stage });
            }
        };
        nix.evaluate(
            &self.flake,
            &attributes,
            &self.evaluation,
            &mut |i, result| {
                known.borrow_mut()[i] = true;
                let result = match result {
                    Ok(evaluated) => {
                        sink.event(Event::Evaluated { node: &names[i], reused: evaluated.reused });
                        Ok(evaluated.clone())
                    }
                    Err(error) => Err(too_old
                        .get_or_insert_with(|| {
                            nix.check_version(&self.flake).err().filter(CommandError::is_nix_too_old)
                        })
                        .clone()
                        .unwrap_or_else(|| error.clone())),
                };
                on_each(i, result);
            },
            &mut on_fetch,
        );
    }

    /// Builds each of `batch` (a node's name and derivation) in `store`
    /// (copying the derivations there first when that is a target), with one
    /// `nix build` whose scheduler runs them side by side, telling `progress`
    /// how far each is; tells `on_each` of each node's `out` path, by its
    /// index in `batch`, as soon as it is in the store, so that a quick node
    /// does not wait for a slow one. What must be built is asked first (a dry
    /// run) and mapped to the nodes through their derivation closures; when
    /// either cannot be read, the build runs all the same, without progress.
    pub(super) fn build_batch<'n>(
        &self,
        nix: &Nix,
        batch: &[(&'n str, &str)],
        store: &Target,
        progress: &Mutex<BuildProgress<'n>>,
        sink: &dyn Sink,
        on_each: &mut dyn FnMut(usize, Result<String, CommandError>),
    ) {
        let local = matches!(store, Target::Local);
        // What is in this machine's store already, in one query; a target's
        // store is not asked.
        let built_here = |drvs: &[String]| match local {
            true => nix.built_outputs(drvs),
            false => vec![None; drvs.len()],
        };
        let all: Vec<String> = batch.iter().map(|(_, drv)| drv.to_string()).collect();
        let mut pending = Vec::with_capacity(batch.len());
        for (k, out) in built_here(&all).into_iter().enumerate() {
            // Already built here (a no-op deploy): no nix process to start.
            match out {
                Some(out) => on_each(k, Ok(out)),
                None => pending.push(k),
            }
        }
        if pending.is_empty() {
            return;
        }
        let drvs: Vec<String> = pending.iter().map(|&k| batch[k].1.to_string()).collect();
        if let Err(error) = nix.copy_derivations_to(store, &drvs) {
            for &k in &pending {
                on_each(k, Err(error.clone()));
            }
            return;
        }
        if let Ok(to_build) = nix.derivations_to_build(&drvs, store) {
            if let Ok(closures) = nix.local_closures(&drvs) {
                let mut progress = progress.lock().unwrap_or_else(|p| p.into_inner());
                for (&k, closure) in pending.iter().zip(&closures) {
                    progress.add(batch[k].0, closure, &to_build, sink);
                }
            }
        }
        // Up to `slots` nodes build at once: each gets its share of builders.
        let slots = self.build_slots();
        let max_jobs = pending.len() * (slots / slots.min(self.selection.names().len()).max(1)).max(1);
        let mut told = vec![false; pending.len()];
        let mut done_so_far = 0;
        let built = nix.build_derivations(&drvs, max_jobs, store, &mut |event| {
            // Nix counted one more build done: the nodes whose systems are in
            // the store now go on while the others still build. (Nix 2.8
            // says a build's activity stopped only when the command ends.)
            if let BuildLogEvent::Progress { done, .. } = &event {
                if local && drvs.len() > 1 && *done > std::mem::replace(&mut done_so_far, *done) {
                    let untold: Vec<usize> = (0..drvs.len()).filter(|&p| !told[p]).collect();
                    let asked: Vec<String> = untold.iter().map(|&p| drvs[p].clone()).collect();
                    for (p, out) in untold.into_iter().zip(nix.built_outputs(&asked)) {
                        if let Some(out) = out {
                            told[p] = true;
                            on_each(pending[p], Ok(out));
                        }
                    }
                }
            }
            progress.lock().unwrap_or_else(|p| p.into_inner()).on_log(event, sink);
        });
        let untold = pending.iter().zip(&drvs).zip(told).filter(|(_, told)| !told).map(|(node, _)| node);
        let error = match built {
            Ok(outs) => {
                for (&k, drv) in untold {
                    on_each(k, output_of(&outs, drv, store));
                }
                return;
            }
            Err(error) => error,
        };
        let (untold, asked): (Vec<usize>, Vec<String>) = untold.map(|(&k, drv)| (k, drv.clone())).unzip();
        let mut failed = Vec::new();
        for (k, out) in untold.into_iter().zip(built_here(&asked)) {
            match out {
                Some(out) => on_each(k, Ok(out)),
                None => failed.push(k),
            }
        }
        // The error of one failed node is its own; several are built again
        // one by one, so that each is told the error of its own build.
        match failed[..] {
            [k] => on_each(k, Err(error)),
            _ => {
                for k in failed {
                    self.build_batch(nix, &batch[k..=k], store, progress, sink, &mut |_, built| {
                        on_each(k, built)
                    });
                }
            }
        }
    }

    /// Each selected node's system as the last build of the flake's current
    /// content here left it, building and evaluating nothing: `None` where
    /// that content was not evaluated, or its system not built, here.
    pub(super) fn known_systems(&self, nix: &Nix) -> Vec<Option<String>> {
        let attributes: Vec<String> =
            self.selection.names().iter().map(|name| self.build_attr(name)).collect();
        nix.known_derivations(&self.flake, &attributes, &self.evaluation)
            .into_iter()
            .map(|drv| drv.and_then(|drv| nix.built_output(&drv)))
            .collect()
    }

    fn build_attr(&self, name: &str) -> String {
        let node = self.fleet.node(name).expect("selected nodes exist");
        self.kinds.of(node).build_attr(node)
    }
}

/// The `out` path of `drv` in a build's results.
fn output_of(
    outs: &std::collections::HashMap<String, String>,
    drv: &str,
    store: &Target,
) -> Result<String, CommandError> {
    outs.get(drv).cloned().ok_or_else(|| CommandError {
        command: format!("nix build --store {store} {drv}"),
        failure: Failure::Output("no `out` output in the build result".into()),
    })
}

#[cfg(test)]
mod tests;
