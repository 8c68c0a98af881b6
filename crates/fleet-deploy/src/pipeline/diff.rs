//! A dry run's view of one node: its closure on the target (empty when it has
//! none) against the new one, read where it was built. Nothing is copied.

use fleet_diff::ClosureDiff;
use fleet_nix::{CommandError, Nix, PathInfo, Target};

use super::Plan;
use crate::{NodeError, Stage};

impl Plan<'_> {
    /// Diffs `old` (what `target` runs for `name`) against `new`.
    pub(super) fn diff(
        &self,
        nix: &Nix,
        name: &str,
        old: Option<&str>,
        new: &str,
        target: &Target,
    ) -> Result<ClosureDiff, NodeError> {
        let read = |store: &Target, path: &str| -> Result<Vec<fleet_diff::PathInfo>, CommandError> {
            let infos = match store {
                Target::Local => {
                    nix.local_closures(&[path.to_string()]).map(|mut closures| closures.remove(0))
                }
                Target::Ssh(_) => nix.closure(store, path),
            };
            infos.map(|infos| infos.into_iter().map(to_diff_path).collect())
        };
        let built_on = if self.build_on_target { target } else { &Target::Local };
        read(built_on, new)
            .and_then(|new_closure| {
                let old_closure = match old {
                    None => Vec::new(),
                    Some(old) if old == new => new_closure.clone(),
                    Some(old) => read(target, old)?,
                };
                Ok(fleet_diff::diff(&old_closure, &new_closure))
            })
            .map_err(|error| NodeError::new(name, Stage::Diff, error))
    }
}

fn to_diff_path(info: PathInfo) -> fleet_diff::PathInfo {
    fleet_diff::PathInfo::new(info.path, info.nar_size)
}
