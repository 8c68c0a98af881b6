//! Building one node: its evaluation (or its earlier one reused), streamed
//! to the scheduler as each finishes, then its own `nix build`, here or on
//! its host, so that a failure is only its own and it is done when it is.

use std::cell::RefCell;
use std::sync::Mutex;

use fleet_nix::{CommandError, Evaluated, Failure, Nix, Target};

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

    /// Builds `drv`, the derivation of `name`, in `store` (copying it there
    /// first when that is a target), telling `progress` how far it is; returns
    /// its `out` path. What must be built is asked first (a dry run) and
    /// mapped to the nodes through their derivation closures; when either
    /// cannot be read, the build runs all the same, without progress.
    pub(super) fn build_one<'n>(
        &self,
        nix: &Nix,
        name: &'n str,
        drv: &str,
        store: &Target,
        progress: &Mutex<BuildProgress<'n>>,
        sink: &dyn Sink,
    ) -> Result<String, CommandError> {
        // Already built here (a no-op deploy): no nix process to start.
        if let (Target::Local, Some(out)) = (store, nix.built_output(drv)) {
            return Ok(out);
        }
        let drvs = [drv.to_string()];
        nix.copy_derivations_to(store, &drvs)?;
        if let Ok(to_build) = nix.derivations_to_build(&drvs, store) {
            if let Ok(mut closures) = nix.local_closures(&drvs) {
                let mut progress = progress.lock().unwrap_or_else(|p| p.into_inner());
                progress.add(name, &closures.remove(0), &to_build, sink);
            }
        }
        // Up to `jobs` builds run at once: each gets its share of builders.
        let max_jobs = (self.jobs / self.jobs.min(self.selection.names().len()).max(1)).max(1);
        let outs = nix.build_derivations(&drvs, max_jobs, store, &mut |event| {
            progress.lock().unwrap_or_else(|p| p.into_inner()).on_log(event, sink);
        })?;
        output_of(&outs, drv, store)
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
