//! The closure diff: two lists of store paths with sizes in, package-level changes out.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::name::parse_store_path;
use crate::version::compare_versions;

/// One store path of a closure and its NAR size, as `nix path-info --json` reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathInfo {
    /// The store path (`/nix/store/<hash>-<name>`); a basename works too.
    pub path: String,
    /// The NAR size in bytes (`narSize`).
    pub nar_size: u64,
}

impl PathInfo {
    /// A path with its NAR size.
    pub fn new(path: impl Into<String>, nar_size: u64) -> Self {
        PathInfo { path: path.into(), nar_size }
    }
}

/// How a package differs between the old and the new closure.
///
/// Serialized as lowercase strings: `"up"`, `"down"`, `"changed"`, `"added"`, `"removed"`,
/// `"rebuilt"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Every version that appeared is newer than every version that went
    /// (`builtins.compareVersions`).
    Up,
    /// Every version that appeared is older than every version that went.
    Down,
    /// The versions differ but are not ordered that way: versions that compare equal
    /// (`1.0` and `1.00`), a mix of newer and older, or versions only dropped or only gained
    /// (`3.11.9, 3.12.4 -> 3.12.4`).
    Changed,
    /// The package is only in the new closure.
    Added,
    /// The package is only in the old closure.
    Removed,
    /// Same versions on both sides, different store paths: a rebuild (changed inputs or
    /// build), or an output gained or dropped. Counted, but not a version change.
    Rebuilt,
}

/// The difference for one package name, all its outputs and versions together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDiff {
    /// The package name (store path name without hash, version and output suffix).
    pub name: String,
    /// How the package changed.
    pub change: Change,
    /// The distinct versions in the old closure, in `compareVersions` order; empty when the
    /// package was added. An unversioned package has the version `""`.
    pub old_versions: Vec<String>,
    /// The distinct versions in the new closure, in `compareVersions` order; empty when the
    /// package was removed.
    pub new_versions: Vec<String>,
    /// Total NAR size in bytes of the package's paths (all outputs and versions) in the old
    /// closure.
    pub old_size: u64,
    /// Total NAR size in bytes of the package's paths in the new closure.
    pub new_size: u64,
    /// `new_size - old_size`.
    pub size_delta: i64,
}

/// Path counts and sizes of the whole closures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Distinct store paths in the old closure.
    pub old_paths: usize,
    /// Distinct store paths in the new closure.
    pub new_paths: usize,
    /// Store paths in the new closure but not in the old one (a rebuild counts here too).
    pub added_paths: usize,
    /// Store paths in the old closure but not in the new one.
    pub removed_paths: usize,
    /// Total NAR size in bytes of the old closure.
    pub old_size: u64,
    /// Total NAR size in bytes of the new closure.
    pub new_size: u64,
    /// `new_size - old_size`.
    pub size_delta: i64,
}

/// The difference between two closures: every package that differs, and the totals.
///
/// This is the JSON document for one closure pair; its field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureDiff {
    /// Every package whose store paths differ, sorted by name. Packages whose paths are
    /// identical on both sides are left out.
    pub packages: Vec<PackageDiff>,
    /// Counts and sizes of the whole closures.
    pub totals: Totals,
}

impl ClosureDiff {
    /// Whether the two closures hold exactly the same store paths.
    pub fn is_unchanged(&self) -> bool {
        self.packages.is_empty()
    }

    /// The packages with the given kind of change, in name order.
    pub fn with_change(&self, change: Change) -> impl Iterator<Item = &PackageDiff> {
        self.packages.iter().filter(move |p| p.change == change)
    }
}

/// The paths of one package name on one side.
#[derive(Default)]
struct Side<'a> {
    versions: Vec<&'a str>,
    size: u64,
    /// Whether some path of this package is missing from the other side.
    differs: bool,
}

/// One closure: distinct paths with their sizes, grouped by package name.
struct Grouped<'a> {
    paths: HashMap<&'a str, u64>,
    packages: HashMap<&'a str, Side<'a>>,
}

fn dedup(closure: &[PathInfo]) -> HashMap<&str, u64> {
    closure.iter().map(|p| (p.path.as_str(), p.nar_size)).collect()
}

fn group<'a>(paths: HashMap<&'a str, u64>, other: &HashMap<&'a str, u64>) -> Grouped<'a> {
    let mut packages: HashMap<&str, Side> = HashMap::new();
    for (&path, &size) in &paths {
        let parsed = parse_store_path(path);
        let side = packages.entry(parsed.package).or_default();
        side.versions.push(parsed.version);
        side.size += size;
        side.differs |= !other.contains_key(path);
    }
    for side in packages.values_mut() {
        side.versions.sort_unstable_by(|a, b| version_order(a, b));
        side.versions.dedup();
    }
    Grouped { paths, packages }
}

/// `compareVersions`, with ties (`1.0` and `1.00`) broken bytewise so the order is total.
fn version_order(a: &str, b: &str) -> Ordering {
    compare_versions(a, b).then_with(|| a.cmp(b))
}

fn delta(old: u64, new: u64) -> i64 {
    let d = i128::from(new) - i128::from(old);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// Classifies a version change from the sorted version lists of both sides.
fn classify(old: &[&str], new: &[&str]) -> Change {
    if old == new {
        return Change::Rebuilt;
    }
    let new_set: HashSet<&str> = new.iter().copied().collect();
    let old_set: HashSet<&str> = old.iter().copied().collect();
    // Lists are sorted, so the first and last gone/appeared versions are the extremes.
    let mut gone = old.iter().filter(|v| !new_set.contains(*v));
    let mut came = new.iter().filter(|v| !old_set.contains(*v));
    let (Some(gone_min), Some(came_min)) = (gone.next(), came.next()) else {
        return Change::Changed;
    };
    let gone_max = gone.next_back().unwrap_or(gone_min);
    let came_max = came.next_back().unwrap_or(came_min);
    if compare_versions(came_min, gone_max) == Ordering::Greater {
        Change::Up
    } else if compare_versions(came_max, gone_min) == Ordering::Less {
        Change::Down
    } else {
        Change::Changed
    }
}

/// Computes the package-level difference between two closures.
///
/// Each closure is a list of store paths with NAR sizes (duplicates are counted once).
/// Paths are grouped by package name ([`crate::parse_store_path`]), so `openssl-3.0.13` and
/// `openssl-3.0.13-dev` are one package, and a package present in several versions on one
/// side (two Pythons) is one entry with a version list. Runs in O(n log n).
pub fn diff(old: &[PathInfo], new: &[PathInfo]) -> ClosureDiff {
    let old_paths = dedup(old);
    let new_paths = dedup(new);
    let old = group(old_paths, &new_paths);
    let new = group(new_paths, &old.paths);

    let totals = {
        let old_size = old.paths.values().sum();
        let new_size = new.paths.values().sum();
        Totals {
            old_paths: old.paths.len(),
            new_paths: new.paths.len(),
            added_paths: new.paths.keys().filter(|p| !old.paths.contains_key(*p)).count(),
            removed_paths: old.paths.keys().filter(|p| !new.paths.contains_key(*p)).count(),
            old_size,
            new_size,
            size_delta: delta(old_size, new_size),
        }
    };

    let empty = Side::default();
    let mut names: Vec<&str> = old.packages.keys().chain(new.packages.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let packages = names
        .into_iter()
        .filter_map(|name| {
            let (o, n) = (old.packages.get(name), new.packages.get(name));
            let change = match (o, n) {
                (Some(o), Some(n)) if o.differs || n.differs => classify(&o.versions, &n.versions),
                (Some(_), Some(_)) => return None,
                (Some(_), None) => Change::Removed,
                (None, _) => Change::Added,
            };
            let (o, n) = (o.unwrap_or(&empty), n.unwrap_or(&empty));
            let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
            Some(PackageDiff {
                name: name.to_string(),
                change,
                old_versions: owned(&o.versions),
                new_versions: owned(&n.versions),
                old_size: o.size,
                new_size: n.size,
                size_delta: delta(o.size, n.size),
            })
        })
        .collect();

    ClosureDiff { packages, totals }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns `"hello-2.12=100 openssl-3.0.13-dev=20"` into a closure; a leading `N:` on a
    /// name picks a different hash (a rebuild), sizes default to 1.
    fn closure(spec: &str) -> Vec<PathInfo> {
        spec.split_whitespace()
            .map(|item| {
                let (name, size) = item.split_once('=').unwrap_or((item, "1"));
                let (hash, name) = name.split_once(':').unwrap_or(("0", name));
                let hash = hash.repeat(32);
                PathInfo::new(format!("/nix/store/{hash}-{name}"), size.parse().unwrap())
            })
            .collect()
    }

    /// One line per changed package (`name change old -> new size_delta`), then the totals.
    // The tests below are alike by design: each is one `check(old, new, expect)` case.
    fn check(old: &str, new: &str, expect: &str) {
        let d = diff(&closure(old), &closure(new));
        let mut got = String::new();
        for p in &d.packages {
            let change = serde_json::to_value(p.change).unwrap();
            let change = change.as_str().unwrap();
            got += &format!(
                "{} {change} {} -> {} {:+}\n",
                p.name,
                p.old_versions.join(","),
                p.new_versions.join(","),
                p.size_delta
            );
        }
        let t = &d.totals;
        got += &format!(
            "paths {} -> {} +{} -{} size {} -> {} {:+}",
            t.old_paths, t.new_paths, t.added_paths, t.removed_paths, t.old_size, t.new_size, t.size_delta
        );
        assert_eq!(got.trim(), expect.trim(), "\nold: {old}\nnew: {new}");
    }

    #[test]
    fn unchanged() {
        check(
            "hello-2.12=10 zlib-1.3=5",
            "zlib-1.3=5 hello-2.12=10 hello-2.12=10",
            "paths 2 -> 2 +0 -0 size 15 -> 15 +0",
        );
        assert!(diff(&closure("a-1"), &closure("a-1")).is_unchanged());
    }

    #[test]
    fn version_changes() {
        check(
            "hello-2.12=10 curl-8.7.1=20 foo-1.0 bar-1.0pre bash-5.2p26",
            "hello-2.12.1=12 curl-8.6.0=19 foo-1.00 bar-1.0rc1 bash-5.2p26",
            "
bar up 1.0pre -> 1.0rc1 +0
curl down 8.7.1 -> 8.6.0 -1
foo changed 1.0 -> 1.00 +0
hello up 2.12 -> 2.12.1 +2
paths 5 -> 5 +4 -4 size 33 -> 34 +1",
        );
    }

    #[test]
    fn outputs_are_grouped() {
        check(
            "openssl-3.0.13=100 openssl-3.0.13-dev=50 openssl-3.0.13-man=5",
            "openssl-3.0.14=110 openssl-3.0.14-dev=50",
            "
openssl up 3.0.13 -> 3.0.14 +5
paths 3 -> 2 +2 -3 size 155 -> 160 +5",
        );
    }

    #[test]
    fn version_sets() {
        check(
            "python3-3.11.9=10 python3-3.12.4=10",
            "python3-3.12.5=11",
            "
python3 up 3.11.9,3.12.4 -> 3.12.5 -9
paths 2 -> 1 +1 -2 size 20 -> 11 -9",
        );
        check(
            "python3-3.11.9 python3-3.12.4",
            "python3-3.12.4",
            "
python3 changed 3.11.9,3.12.4 -> 3.12.4 -1
paths 2 -> 1 +0 -1 size 2 -> 1 -1",
        );
        check(
            "python3-3.12.4",
            "python3-3.11.9 python3-3.12.5",
            "
python3 changed 3.12.4 -> 3.11.9,3.12.5 +1
paths 1 -> 2 +2 -1 size 1 -> 2 +1",
        );
        check(
            "python3-3.12.4 python3-3.11.9",
            "python3-3.11.8 python3-3.12.4",
            "
python3 down 3.11.9,3.12.4 -> 3.11.8,3.12.4 +0
paths 2 -> 2 +1 -1 size 2 -> 2 +0",
        );
    }

    #[test]
    fn added_removed_rebuilt() {
        check(
            "libfoo-1.0=7 source=3 bash-5.2=4",
            "jq-1.7.1=9 1:source=3 1:bash-5.2=6 1:bash-5.2-man=1",
            "
bash rebuilt 5.2 -> 5.2 +3
jq added  -> 1.7.1 +9
libfoo removed 1.0 ->  -7
source rebuilt  ->  +0
paths 3 -> 4 +4 -3 size 14 -> 19 +5",
        );
        check(
            "",
            "hello-2.12=3",
            "
hello added  -> 2.12 +3
paths 0 -> 1 +1 -0 size 0 -> 3 +3",
        );
    }

    #[test]
    fn json_field_names() {
        let d = diff(&closure("hello-2.12=3"), &closure("hello-2.13=4"));
        let json = serde_json::to_value(&d).unwrap();
        let expect = serde_json::json!({
            "packages": [{
                "name": "hello", "change": "up",
                "old_versions": ["2.12"], "new_versions": ["2.13"],
                "old_size": 3, "new_size": 4, "size_delta": 1
            }],
            "totals": {
                "old_paths": 1, "new_paths": 1, "added_paths": 1, "removed_paths": 1,
                "old_size": 3, "new_size": 4, "size_delta": 1
            }
        });
        assert_eq!(json, expect);
        let back: ClosureDiff = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn large_closures_are_fast_enough() {
        // 20,000 paths per side; a quadratic step would take minutes, not milliseconds.
        let names = |bump: u32| -> Vec<PathInfo> {
            (0..20_000u32)
                .map(|i| {
                    let v = if i % 10 == 0 { i + bump } else { i };
                    PathInfo::new(format!("/nix/store/{}-pkg{i}-1.{v}", "a".repeat(32)), 1)
                })
                .collect()
        };
        let d = diff(&names(0), &names(1));
        assert_eq!(d.packages.len(), 2_000);
        assert!(d.packages.iter().all(|p| p.change == Change::Up));
    }
}
