//! Checks `diff` against `nix store diff-closures` on two small closures built with real nix.
//!
//! Two generations of a toy system are built from `builtins.derivation` with `/bin/sh`
//! (no nixpkgs): versions go up and down, a package is added, one removed, one changes
//! only in size, some are rebuilt. The package-level changes (names, version transitions,
//! size deltas of 8 KiB or more) must agree with what `nix store diff-closures` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use fleet_diff::{diff, Change, PathInfo};
use serde_json::Value;

/// Generation `generation` (1 = old, 2 = new) of a toy system closure.
const CLOSURES_NIX: &str = r#"
{ generation }:
let
  system = builtins.currentSystem;
  old = generation == 1;
  mk = { name, deps ? [ ], outputs ? [ "out" ], lines ? 1, salt ? "" }:
    builtins.derivation {
      inherit name system outputs;
      builder = "/bin/sh";
      args = [ "-c" ''
        for o in ${builtins.concatStringsSep " " outputs}; do
          eval "f=\$$o"
          echo "${name} $o ${salt} ${toString deps}" > "$f"
          i=0
          while [ "$i" -lt ${toString lines} ]; do
            echo "filler line $i of ${name}" >> "$f"
            i=$((i + 1))
          done
        done
      '' ];
    };
  zlib = mk { name = "zlib-1.3.1"; };
  openssl = mk {
    name = if old then "openssl-3.0.13" else "openssl-3.0.14";
    outputs = [ "out" "dev" ];
    deps = [ zlib ];
  };
  curl = mk {
    name = if old then "curl-8.7.1" else "curl-8.6.0";
    deps = [ openssl openssl.dev zlib ];
  };
  pythons =
    if old then [
      (mk { name = "python3-3.11.9"; deps = [ zlib ]; })
      (mk { name = "python3-3.12.4"; deps = [ zlib openssl ]; })
    ] else [
      (mk { name = "python3-3.12.5"; deps = [ zlib openssl ]; })
    ];
  foo = mk { name = if old then "foo-1.0" else "foo-1.00"; };
  hello = mk { name = "hello-2.12"; salt = "generation ${toString generation}"; };
  source = mk { name = "source"; salt = "generation ${toString generation}"; };
  bigdata = mk { name = "bigdata-1.0"; lines = if old then 100 else 3000; };
  libfoo = mk { name = "libfoo-1.0"; deps = [ zlib ]; };
  jq = mk { name = "jq-1.7.1"; deps = [ curl ]; lines = 400; };
  etc = mk { name = "etc"; deps = [ hello ]; };
  packages = [ zlib openssl curl foo hello source bigdata ] ++ pythons
    ++ (if old then [ libfoo ] else [ jq etc ]);
in
mk {
  name = if old
    then "nixos-system-test-24.05.20240601.abc1234"
    else "nixos-system-test-24.05.20240615.def5678";
  deps = packages;
}
"#;

fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn nix(args: &[&str]) -> String {
    let output = Command::new("nix")
        .args(args)
        .envs(fleet_testbed::nix_env())
        .output()
        .expect("failed to run nix (is it on PATH?)");
    assert!(output.status.success(), "nix {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Builds one generation and returns its toplevel store path.
fn build(file: &Path, generation: u32) -> String {
    let expr = format!("import {} {{ generation = {generation}; }}", file.to_str().unwrap());
    let out = nix(&["build", "--impure", "--no-link", "--json", "--expr", &expr]);
    let json: Value = serde_json::from_str(&out).unwrap();
    json[0]["outputs"]["out"].as_str().unwrap().to_string()
}

/// The closure of `path` with NAR sizes, from `nix path-info --json --recursive`.
fn closure(path: &str) -> Vec<PathInfo> {
    let out = nix(&["path-info", "--json", "--recursive", path]);
    let info = |path: &str, v: &Value| PathInfo::new(path, v["narSize"].as_u64().unwrap());
    match serde_json::from_str(&out).unwrap() {
        // Nix 2.8 to 2.18: a list of objects with a `path` field.
        Value::Array(items) => items.iter().map(|v| info(v["path"].as_str().unwrap(), v)).collect(),
        // Later nix: an object keyed by path.
        Value::Object(items) => items.iter().map(|(p, v)| info(p, v)).collect(),
        other => panic!("unexpected path-info output: {other}"),
    }
}

/// One package line as `nix store diff-closures` prints it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Line {
    removed: BTreeSet<String>,
    added: BTreeSet<String>,
    /// The size delta as printed (`+56.3 KiB`), if shown.
    size: Option<String>,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip `[`, parameters, and the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn version_set(s: &str) -> BTreeSet<String> {
    if s == "∅" {
        return BTreeSet::new();
    }
    s.split(", ").map(str::to_string).collect()
}

/// Parses `name: 1.0, 1.1 → 1.2, +12.0 KiB` lines.
fn parse_diff_closures(text: &str) -> BTreeMap<String, Line> {
    let mut lines = BTreeMap::new();
    for raw in text.lines() {
        let raw = strip_ansi(raw);
        let (name, mut rest) = raw.split_once(": ").expect("a `name: ...` line");
        let mut line = Line::default();
        if rest.ends_with(" KiB") {
            let (versions, size) = rest.rsplit_once(", ").unwrap_or(("", rest));
            line.size = Some(size.to_string());
            rest = versions;
        }
        if !rest.is_empty() {
            let (removed, added) = rest.split_once(" → ").expect("versions `A → B`");
            line.removed = version_set(removed);
            line.added = version_set(added);
        }
        lines.insert(name.to_string(), line);
    }
    lines
}

/// Our diff in the same shape: version sets only on each side, `ε` for no version, size
/// delta when at least 8 KiB (nix's threshold).
fn ours_as_lines(old: &[PathInfo], new: &[PathInfo]) -> BTreeMap<String, Line> {
    let d = diff(old, new);
    let shown = |v: &String| if v.is_empty() { "ε".into() } else { v.clone() };
    let mut lines = BTreeMap::new();
    for p in &d.packages {
        let old: BTreeSet<String> = p.old_versions.iter().map(shown).collect();
        let new: BTreeSet<String> = p.new_versions.iter().map(shown).collect();
        let line = Line {
            removed: old.difference(&new).cloned().collect(),
            added: new.difference(&old).cloned().collect(),
            size: (p.size_delta.abs() >= 8 * 1024)
                .then(|| format!("{:+.1} KiB", p.size_delta as f64 / 1024.0)),
        };
        if line != Line::default() {
            lines.insert(p.name.clone(), line);
        }
    }
    lines
}

#[test]
fn package_changes_agree_with_nix_store_diff_closures() {
    let dir = test_dir("against_diff_closures");
    let file = dir.join("closures.nix");
    std::fs::write(&file, CLOSURES_NIX).unwrap();
    let (old_top, new_top) = (build(&file, 1), build(&file, 2));
    let (old, new) = (closure(&old_top), closure(&new_top));

    let theirs = parse_diff_closures(&nix(&["store", "diff-closures", &old_top, &new_top]));
    let ours = ours_as_lines(&old, &new);
    assert_eq!(ours, theirs, "\nours (left) and nix store diff-closures (right) disagree");

    // The fixture exercises what it should: every kind of change is there.
    let d = diff(&old, &new);
    let changes: BTreeMap<&str, Change> = d.packages.iter().map(|p| (p.name.as_str(), p.change)).collect();
    let expect = [
        ("bigdata", Change::Rebuilt),
        ("curl", Change::Down),
        ("etc", Change::Added),
        ("foo", Change::Changed),
        ("hello", Change::Rebuilt),
        ("jq", Change::Added),
        ("libfoo", Change::Removed),
        ("nixos-system-test", Change::Up),
        ("openssl", Change::Up),
        ("python3", Change::Up),
        ("source", Change::Rebuilt),
    ];
    assert_eq!(changes, BTreeMap::from(expect));
    assert_eq!((d.totals.old_paths, d.totals.new_paths), (old.len(), new.len()));
    // zlib is the one path both sides share.
    assert_eq!(d.totals.added_paths, new.len() - 1);
    assert_eq!(d.totals.removed_paths, old.len() - 1);
}
