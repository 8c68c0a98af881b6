//! The one place where the nix driver's closures meet the closure diff: the
//! two crates share no type (neither depends on the other, and fleet-diff
//! depends on nothing of ours), so what `nix path-info` or the store database
//! reported becomes fleet-diff's input here.

use fleet_diff::ClosureDiff;
use fleet_nix::PathInfo;

/// The diff of two closures as fleet-nix reads them.
pub fn closure_diff(old: &[PathInfo], new: &[PathInfo]) -> ClosureDiff {
    let [old, new] = [old, new].map(|closure| {
        closure.iter().map(|info| fleet_diff::PathInfo::new(&info.path, info.nar_size)).collect::<Vec<_>>()
    });
    fleet_diff::diff(&old, &new)
}
