//! Two large, realistic closures for the closure-diff benchmark, and the
//! `nix store diff-closures` run that the benchmark times against ours.
//!
//! Names and versions come from fixed lists and a fixed seed (no randomness
//! crate, no clock), so the same path count always gives the same two store
//! paths on a given system. Every package is a `builtins.derivation` with
//! `/bin/sh` as its builder (no nixpkgs, no network); packages reference a few
//! others and a toplevel references every output, so both tools walk a real
//! closure. The new closure bumps about 10% of the packages (most up, a
//! quarter down), adds about 2% and removes about 2%; every other store path
//! is identical, because changed packages are never the dependency of another
//! package.

use std::collections::HashSet;
use std::fs;
use std::process::{Command, Stdio};

use camino::Utf8Path;
use serde::Serialize;

use crate::TestbedError;

/// The smallest pair [`ClosurePair::build`] makes: enough for at least one
/// package of each kind of change.
pub const MIN_PAIR_PATHS: usize = 20;

/// The seed of every choice the generator makes.
const SEED: u64 = 0x5eed_f1ee_7d1f_f000;

/// The Nix side: a closure from a JSON spec (see [`Spec`]).
const CLOSURE_NIX: &str = r#"# One generated closure for the diff benchmark, from a JSON spec written by
# fleet-testbed's closure_pair.rs: builtins only, /bin/sh as the builder.
{ spec }:
let
  data = builtins.fromJSON (builtins.readFile spec);
  system = builtins.currentSystem;
  # Each output holds its dependencies' paths (so they are references) and
  # filler, so that sizes differ; extra outputs are smaller than `out`.
  # `deps` travels as a file: a toplevel's list is longer than one
  # environment variable may be.
  script = ''
    read -r deps < "$depsPath"
    for o in $outputs; do
      eval "f=\$$o"
      printf '%s\n' "$deps" > "$f"
      printf '%*s\n' "$size" "" >> "$f"
      size=$((size / 3))
    done
  '';
  mk = { name, outputs, deps, size }:
    builtins.derivation {
      inherit name system outputs deps;
      size = toString size;
      passAsFile = [ "deps" ];
      builder = "/bin/sh";
      args = [ "-c" script ];
    };
  packages = builtins.listToAttrs (map (p: {
    inherit (p) name;
    value = mk (p // { deps = map (d: packages.${d}) p.deps; });
  }) data.packages);
  everyOutput = builtins.concatMap (p: map (o: packages.${p.name}.${o}) p.outputs) data.packages;
in
mk {
  name = data.toplevel;
  outputs = [ "out" ];
  deps = everyOutput;
  size = 4096;
}
"#;

/// Both closures, as attributes `old` and `new`, so one `nix build` makes both.
const PAIR_NIX: &str = r#"# The benchmark's closure pair: `nix build -f pair.nix old new`.
{
  old = import ./closure.nix { spec = ./old.json; };
  new = import ./closure.nix { spec = ./new.json; };
}
"#;

/// What the new closure changes, by design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairDesign {
    /// Store paths in each closure, the toplevel included; both have exactly this many.
    pub paths: usize,
    /// Packages (distinct names) in the old closure, the toplevel not counted.
    pub packages: usize,
    /// Packages whose version goes up.
    pub up: usize,
    /// Packages whose version goes down.
    pub down: usize,
    /// Store paths of the bumped packages (all their outputs), on each side.
    pub bumped_paths: usize,
    /// Packages only in the new closure, one output each.
    pub added: usize,
    /// Packages only in the old closure, one output each.
    pub removed: usize,
}

impl PairDesign {
    /// Packages that differ, the toplevel (whose version changes too) included.
    pub fn changed_packages(&self) -> usize {
        self.up + self.down + self.added + self.removed + 1
    }

    /// Store paths of the old closure that the new one lacks (and, as both
    /// have the same size, the other way round): bumped outputs, removed
    /// packages and the toplevel.
    pub fn changed_paths(&self) -> usize {
        self.bumped_paths + self.removed + 1
    }
}

/// Two built closures of the same size that differ as [`PairDesign`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosurePair {
    /// The old toplevel's store path.
    pub old: String,
    /// The new toplevel's store path.
    pub new: String,
    /// What differs between them.
    pub design: PairDesign,
}

impl ClosurePair {
    /// Writes the Nix expression and the two specs into `dir` (replacing it) and
    /// builds both closures of `paths` store paths each with the local `nix`.
    ///
    /// Building is idempotent: a second call with the same `paths` finds every
    /// path already in the store and builds nothing.
    pub fn build(dir: &Utf8Path, paths: usize) -> Result<ClosurePair, TestbedError> {
        if paths < MIN_PAIR_PATHS {
            return Err(TestbedError::new(
                "generate a closure pair",
                format!("{paths} paths is too few; it takes at least {MIN_PAIR_PATHS}"),
            ));
        }
        let generated = generate(paths);
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| TestbedError::new(format!("clear {dir}"), e))?;
        }
        fs::create_dir_all(dir).map_err(|e| TestbedError::new(format!("create {dir}"), e))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))
        };
        let json = |spec: &Spec| {
            serde_json::to_string(spec).map_err(|e| TestbedError::new("write a closure spec", e))
        };
        write("closure.nix", CLOSURE_NIX)?;
        write("pair.nix", PAIR_NIX)?;
        write("old.json", &json(&generated.old)?)?;
        write("new.json", &json(&generated.new)?)?;

        let pair = dir.join("pair.nix");
        // The packages are tiny shell scripts: running several at once hides
        // nix's per-build overhead even on two cores. But not more than there
        // are build users (Debian's nix-bin makes 10): a build waiting for a
        // free user polls in seconds, which made 300 paths take 26 s, not 2 s.
        let stdout =
            nix(&["build", "--json", "--no-link", "--max-jobs", "8", "--file", pair.as_str(), "old", "new"])?;
        let outputs =
            built_outputs(&stdout).map_err(|e| TestbedError::new("read the output of nix build", e))?;
        match outputs.as_slice() {
            [old, new] => Ok(ClosurePair { old: old.clone(), new: new.clone(), design: generated.design }),
            _ => Err(TestbedError::new(
                "read the output of nix build",
                format!("expected two results, got {}", outputs.len()),
            )),
        }
    }
}

/// Runs `nix store diff-closures OLD NEW` with the testbed's nix settings and
/// returns what it printed.
pub fn diff_closures(old: &str, new: &str) -> Result<String, TestbedError> {
    nix(&["store", "diff-closures", old, new])
}

/// `nix --version`, e.g. `nix (Nix) 2.8.0`.
pub fn nix_version() -> Result<String, TestbedError> {
    nix(&["--version"]).map(|v| v.trim().to_string())
}

fn nix(args: &[&str]) -> Result<String, TestbedError> {
    let step = || format!("run nix {}", args.join(" "));
    let output = Command::new("nix")
        .args(args)
        .envs(crate::nix_env())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestbedError::new(step(), e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(TestbedError::new(step(), format!("{}\n{tail}", output.status)));
    }
    String::from_utf8(output.stdout).map_err(|_| TestbedError::new(step(), "output is not UTF-8"))
}

/// The `out` paths from `nix build --json`, in the order of the installables.
fn built_outputs(json: &str) -> Result<Vec<String>, String> {
    let results: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    results
        .iter()
        .map(|r| {
            r["outputs"]["out"].as_str().map(str::to_string).ok_or_else(|| format!("no `out` output in {r}"))
        })
        .collect()
}

/// One closure as `closure.nix` reads it.
#[derive(Debug, Serialize)]
struct Spec {
    toplevel: String,
    packages: Vec<Package>,
}

/// One package derivation.
#[derive(Debug, Clone, Serialize)]
struct Package {
    /// `name-version`: the derivation name, and the key other packages use.
    name: String,
    outputs: Vec<&'static str>,
    /// Keys of the packages it references.
    deps: Vec<String>,
    /// Bytes of filler in `out`.
    size: u64,
}

struct Generated {
    old: Spec,
    new: Spec,
    design: PairDesign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Stable,
    Up,
    Down,
    Removed,
}

/// The two specs for closures of `paths` store paths each.
fn generate(paths: usize) -> Generated {
    let mut names = candidates();
    let mut old: Vec<Package> = Vec::new();
    let mut versions: Vec<Option<String>> = Vec::new();
    let mut slots = paths - 1; // The toplevel is one path.
    while slots > 0 {
        let Some(c) = names.next() else { unreachable!("the candidate stream never ends") };
        let name = c.key();
        let mut outputs = c.outputs;
        outputs.truncate(slots);
        slots -= outputs.len();
        old.push(Package { name, outputs, deps: Vec::new(), size: size_for(&c.pname) });
        versions.push(c.version);
    }

    let bumps = (old.len() / 10).max(2);
    let down = (bumps / 4).max(1);
    let churn = (paths / 50).max(1);
    // Visit packages in a seeded order; the first package (glibc) is what
    // nearly everything depends on, so it stays.
    let mut order: Vec<usize> = (1..old.len()).collect();
    order.sort_by_key(|&i| mix(SEED ^ i as u64));
    let mut roles = vec![Role::Stable; old.len()];
    let (mut ups, mut downs, mut removed) = (0, 0, 0);
    for &i in &order {
        let bumpable = versions[i].as_deref().is_some_and(|v| bump(v, false, 0).is_some());
        if bumpable && downs < down {
            roles[i] = Role::Down;
            downs += 1;
        } else if bumpable && ups < bumps - down {
            roles[i] = Role::Up;
            ups += 1;
        } else if old[i].outputs.len() == 1 && removed < churn {
            roles[i] = Role::Removed;
            removed += 1;
        }
    }

    // Only stable packages are dependencies, so that nothing but the changed
    // packages and the toplevel gets a new store path.
    let stable: Vec<usize> = (0..old.len()).filter(|&i| roles[i] == Role::Stable).collect();
    let keys: Vec<String> = old.iter().map(|p| p.name.clone()).collect();
    let deps_for = |i: usize, salt: u64| -> Vec<String> {
        let mut deps = vec![keys[0].clone()];
        let earlier = stable.partition_point(|&s| s < i);
        for k in 0..3 {
            if earlier <= 1 {
                break;
            }
            let pick = stable[1 + (mix(salt ^ (k << 32)) as usize) % (earlier - 1)];
            if !deps.contains(&keys[pick]) {
                deps.push(keys[pick].clone());
            }
        }
        deps
    };
    for (i, package) in old.iter_mut().enumerate().skip(1) {
        package.deps = deps_for(i, SEED ^ i as u64);
    }

    let mut new: Vec<Package> = Vec::new();
    let mut bumped_paths = 0;
    for (i, package) in old.iter().enumerate() {
        match roles[i] {
            Role::Stable => new.push(package.clone()),
            Role::Removed => {}
            Role::Up | Role::Down => {
                let version = versions[i].as_deref().unwrap_or_default();
                let h = mix(SEED ^ !(i as u64));
                let Some(bumped) = bump(version, roles[i] == Role::Up, h) else {
                    unreachable!("only bumpable versions get this role")
                };
                let pname = &package.name[..package.name.len() - version.len() - 1];
                bumped_paths += package.outputs.len();
                new.push(Package {
                    name: format!("{pname}-{bumped}"),
                    size: package.size + package.size * (h % 9) / 100 + 64,
                    ..package.clone()
                });
            }
        }
    }
    let taken: HashSet<&String> = keys.iter().collect();
    let mut added = 0;
    for c in names {
        if added == churn {
            break;
        }
        if taken.contains(&c.key()) {
            continue;
        }
        added += 1;
        new.push(Package {
            name: c.key(),
            outputs: vec!["out"],
            deps: deps_for(old.len(), mix(SEED ^ (1 << 40) ^ added as u64)),
            size: size_for(&c.pname),
        });
    }

    let design =
        PairDesign { paths, packages: old.len(), up: ups, down: downs, bumped_paths, added, removed };
    Generated {
        old: Spec { toplevel: "nixos-system-bench-24.05.20240601.1a2b3c4".into(), packages: old },
        new: Spec { toplevel: "nixos-system-bench-24.05.20240615.5d6e7f8".into(), packages: new },
        design,
    }
}

/// Changes the last number in `version` by one or more: `2.39-52` -> `2.39-53`
/// (up) or `2.39-51` (down), keeping its width (`0377` -> `0376`). `None` when
/// there is no number, or going down from 0.
fn bump(version: &str, up: bool, h: u64) -> Option<String> {
    let end = version.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = version[..end].rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    let digits = &version[start..end];
    let value: u64 = digits.parse().ok()?;
    let value = if up { value + 1 + h % 3 } else { value.checked_sub(1)? };
    Some(format!("{}{value:0width$}{}", &version[..start], &version[end..], width = digits.len()))
}

/// A NAR size that varies by package: mostly a few KiB, some much larger.
fn size_for(pname: &str) -> u64 {
    let h = hash(pname);
    let base = 256 + h % 12_000;
    match (h >> 40) % 64 {
        0 => base * 64,
        1..=8 => base * 8,
        _ => base,
    }
}

/// A package the generator may use.
struct Candidate {
    pname: String,
    version: Option<String>,
    outputs: Vec<&'static str>,
}

impl Candidate {
    fn key(&self) -> String {
        match &self.version {
            Some(v) => format!("{}-{v}", self.pname),
            None => self.pname.clone(),
        }
    }
}

/// How a family's versions look.
#[derive(Clone, Copy)]
enum Style {
    /// `1.8.12`
    Semver,
    /// `5.21` (Perl modules)
    Decimal,
    /// `1.2.3.4` (Hackage)
    Four,
    /// `1.1.0-1` (LuaRocks)
    Rock,
    /// `20240426.2118` (MELPA)
    Melpa,
    /// `2024-05-12` (unstable snapshots)
    Date,
    /// No version (systemd units, generated files).
    None,
}

/// A kind of package: a name pattern around words, a version style and outputs.
struct Family {
    prefix: &'static str,
    /// Whitespace-separated words, each one package name.
    words: &'static str,
    suffix: &'static str,
    style: Style,
    /// Whether some packages get a `dev`, `lib` or `man` output too.
    split: bool,
}

/// `prefix` + word + `suffix`, e.g. `unit-` + `sshd` + `.service`.
const fn family(
    prefix: &'static str,
    words: &'static str,
    suffix: &'static str,
    style: Style,
    split: bool,
) -> Family {
    Family { prefix, words, suffix, style, split }
}

/// Endless, distinct candidates: the core system first in the mix, then every
/// family word by word; later rounds put `-utils`, `-core`... after the word.
fn candidates() -> impl Iterator<Item = Candidate> {
    let words: Vec<Vec<&str>> = FAMILIES.iter().map(|f| f.words.split_whitespace().collect()).collect();
    (0usize..).flat_map(move |round| {
        let mut out = Vec::new();
        let longest = words.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..longest.max(CORE.len()) {
            if round == 0 {
                if let Some((pname, version, outputs)) = CORE.get(i) {
                    out.push(Candidate {
                        pname: (*pname).to_string(),
                        version: Some((*version).to_string()),
                        outputs: outputs.to_vec(),
                    });
                }
            }
            for (family, words) in FAMILIES.iter().zip(&words) {
                if let Some(word) = words.get(i) {
                    out.push(family_member(family, word, round));
                }
            }
        }
        out
    })
}

fn family_member(family: &Family, word: &str, round: usize) -> Candidate {
    // Round r spells r in base |SUFFIXES| with suffix words, so names never repeat.
    let mut suffix = String::new();
    let mut r = round;
    while r > 0 {
        r -= 1;
        suffix.insert_str(0, &format!("-{}", SUFFIXES[r % SUFFIXES.len()]));
        r /= SUFFIXES.len();
    }
    let pname = format!("{}{word}{suffix}{}", family.prefix, family.suffix);
    let h = hash(&pname);
    let n = |shift: u32, modulo: u64| (h >> shift) % modulo;
    let version = match family.style {
        Style::Semver => Some(format!("{}.{}.{}", n(0, 8), n(8, 25), 1 + n(16, 14))),
        Style::Decimal => Some(format!("{}.{:02}", n(0, 9), 1 + n(8, 98))),
        Style::Four => Some(format!("{}.{}.{}.{}", n(0, 3), n(8, 12), n(16, 8), 1 + n(24, 5))),
        Style::Rock => Some(format!("{}.{}.{}-{}", n(0, 4), n(8, 10), n(16, 6), 1 + n(24, 3))),
        Style::Melpa => {
            Some(format!("2024{:02}{:02}.{}{:02}", 1 + n(0, 12), 1 + n(8, 28), 1 + n(16, 23), n(24, 60)))
        }
        Style::Date => Some(format!("2024-{:02}-{:02}", 1 + n(0, 12), 2 + n(8, 27))),
        Style::None => None,
    };
    let outputs = if family.split {
        match n(32, 12) {
            0..=2 => vec!["out", "dev"],
            3 => vec!["out", "lib"],
            4 => vec!["out", "bin", "man"],
            _ => vec!["out"],
        }
    } else {
        vec!["out"]
    };
    Candidate { pname, version, outputs }
}

/// The splitmix64 finalizer: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of `s`, mixed with the seed.
fn hash(s: &str) -> u64 {
    let fnv = s
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    mix(SEED ^ fnv)
}

/// The base system, with real names, versions and outputs. The first one is
/// everybody's dependency.
const CORE: &[(&str, &str, &[&str])] = &[
    ("glibc", "2.39-52", &["out", "bin", "dev"]),
    ("gcc", "13.2.0", &["out", "lib"]),
    ("linux", "6.6.30", &["out", "modules", "dev"]),
    ("bash", "5.2p26", &["out", "man"]),
    ("coreutils", "9.5", &["out", "info"]),
    ("systemd", "255.6", &["out", "man", "dev"]),
    ("openssl", "3.0.14", &["out", "bin", "dev"]),
    ("zlib", "1.3.1", &["out", "dev"]),
    ("util-linux", "2.39.4", &["out", "bin", "lib", "man"]),
    ("perl", "5.38.2", &["out", "man"]),
    ("python3", "3.12.4", &["out"]),
    ("xz", "5.4.6", &["out", "bin"]),
    ("zstd", "1.5.6", &["out", "bin"]),
    ("curl", "8.7.1", &["out", "bin"]),
    ("nghttp2", "1.61.0", &["out", "lib"]),
    ("libffi", "3.4.6", &["out", "dev"]),
    ("ncurses", "6.4", &["out", "dev", "man"]),
    ("readline", "8.2p10", &["out"]),
    ("sqlite", "3.45.3", &["out", "bin"]),
    ("libxml2", "2.12.7", &["out", "bin"]),
    ("icu4c", "74.2", &["out", "dev"]),
    ("dbus", "1.14.10", &["out", "lib"]),
    ("linux-pam", "1.6.1", &["out"]),
    ("shadow", "4.14.6", &["out", "man"]),
    ("iproute2", "6.9.0", &["out"]),
    ("nix", "2.18.2", &["out", "man"]),
    ("openssh", "9.7p1", &["out"]),
    ("nss-cacert", "3.98", &["out"]),
    ("tzdata", "2024a", &["out"]),
    ("glib", "2.80.2", &["out", "bin", "dev"]),
    ("gnugrep", "3.11", &["out"]),
    ("gnused", "4.9", &["out"]),
    ("gawk", "5.2.2", &["out"]),
    ("findutils", "4.9.0", &["out"]),
    ("diffutils", "3.10", &["out"]),
    ("gzip", "1.13", &["out"]),
    ("bzip2", "1.0.8", &["out", "bin"]),
    ("libidn2", "2.3.7", &["out", "bin"]),
    ("libunistring", "1.1", &["out"]),
    ("attr", "2.5.2", &["out", "bin"]),
    ("acl", "2.3.2", &["out", "bin"]),
    ("libcap", "2.69", &["out", "lib"]),
    ("kmod", "31", &["out", "lib"]),
    ("e2fsprogs", "1.47.0", &["out", "bin"]),
    ("expat", "2.6.2", &["out"]),
    ("gmp", "6.3.0", &["out"]),
    ("mpfr", "4.2.1", &["out"]),
    ("libseccomp", "2.5.5", &["out", "lib"]),
    ("cryptsetup", "2.7.2", &["out"]),
    ("kbd", "2.6.4", &["out"]),
    ("procps", "4.0.4", &["out"]),
    ("less", "643", &["out"]),
    ("nano", "8.0", &["out"]),
    ("vim", "9.1.0377", &["out"]),
    ("git", "2.44.1", &["out"]),
    ("jq", "1.7.1", &["out", "bin", "lib"]),
    ("oniguruma", "6.9.9", &["out", "lib"]),
    ("nodejs", "20.12.2", &["out"]),
    ("go", "1.22.3", &["out"]),
    ("rustc", "1.77.2", &["out"]),
    ("llvm", "17.0.6", &["out", "lib"]),
    ("mesa", "24.0.7", &["out"]),
    ("libdrm", "2.4.120", &["out", "bin"]),
    ("wayland", "1.22.0", &["out", "bin"]),
    ("gtk+3", "3.24.41", &["out"]),
    ("qtbase", "6.7.0", &["out"]),
    ("ffmpeg", "6.1.1", &["out", "bin", "lib"]),
    ("pipewire", "1.0.5", &["out", "lib"]),
    ("firefox", "125.0.3", &["out"]),
    ("linux-firmware", "20240513", &["out"]),
    ("sudo", "1.9.15p5", &["out"]),
    ("busybox", "1.36.1", &["out"]),
    ("grub", "2.12", &["out"]),
    ("php", "8.3.6", &["out"]),
    ("postgresql", "16.3", &["out", "lib", "man"]),
    ("nginx", "1.26.0", &["out"]),
    ("caddy", "2.7.6", &["out"]),
    ("docker", "24.0.9", &["out"]),
    ("ruby", "3.3.1", &["out", "devdoc"]),
    ("lua", "5.4.6", &["out"]),
    ("ghc", "9.6.5", &["out", "doc"]),
    ("ocaml", "5.1.1", &["out"]),
    ("emacs", "29.3", &["out"]),
    ("R", "4.4.0", &["out"]),
    ("texinfo", "7.1", &["out"]),
    ("boost", "1.81.0", &["out", "dev"]),
];

/// Words appended in later rounds, so that names stay distinct and plausible.
const SUFFIXES: &[&str] = &[
    "utils", "core", "tools", "common", "extras", "plugins", "bindings", "contrib", "compat", "lite",
    "async", "cli",
];

const FAMILIES: &[Family] = &[
    family("python3.12-", PYTHON, "", Style::Semver, false),
    family("perl5.38.2-", PERL, "", Style::Decimal, false),
    family("", C_LIBS, "", Style::Semver, true),
    family("", HASKELL, "", Style::Four, false),
    family("node-", NODE, "", Style::Semver, false),
    family("ocaml5.1.1-", OCAML, "", Style::Semver, false),
    family("lua5.4-", LUA, "", Style::Rock, false),
    family("emacs-", EMACS, "", Style::Melpa, false),
    family("vimplugin-", VIM, "", Style::Date, false),
    family("r-", R, "", Style::Semver, false),
    family("unit-", UNITS, ".service", Style::None, false),
];

const PYTHON: &str = "\
requests urllib3 idna certifi charset-normalizer six attrs setuptools wheel pip \
packaging pyparsing typing-extensions jinja2 markupsafe click flask werkzeug \
itsdangerous django sqlalchemy alembic psycopg2 numpy scipy pandas matplotlib pillow \
cryptography cffi pycparser pyyaml toml tomli pytest pluggy iniconfig hypothesis mock \
coverage black isort mypy pyflakes pylint astroid lxml beautifulsoup4 soupsieve html5lib \
chardet aiohttp yarl multidict frozenlist aiosignal async-timeout httpx httpcore h11 \
anyio sniffio trio pydantic fastapi starlette uvicorn gunicorn celery kombu redis boto3 \
botocore s3transfer jmespath python-dateutil pytz tzlocal babel docutils sphinx pygments \
rich colorama tqdm paramiko bcrypt pynacl pyopenssl ldap3 dnspython netaddr psutil \
watchdog pexpect ptyprocess decorator wrapt tenacity cachetools protobuf grpcio msgpack \
orjson ujson simplejson regex
";

const PERL: &str = "\
URI HTTP-Message HTTP-Date HTTP-Cookies libwww-perl Try-Tiny Moo Moose \
Class-Method-Modifiers Sub-Quote Role-Tiny Path-Tiny File-Which JSON JSON-XS \
Types-Serialiser common-sense IO-Socket-SSL Net-SSLeay Mozilla-CA Encode-Locale \
LWP-MediaTypes HTML-Parser HTML-Tagset TimeDate DBI DBD-SQLite Digest-SHA1 Test-Fatal \
Test-Needs Test-Deep Test-Warnings Module-Runtime Module-Implementation Params-Util \
Sub-Install Data-OptList Sub-Exporter Package-Stash Devel-StackTrace Exporter-Tiny \
List-MoreUtils Scalar-List-Utils Text-CSV YAML YAML-LibYAML Template-Toolkit DateTime \
DateTime-Locale DateTime-TimeZone Specio XML-Parser XML-LibXML XML-SAX Locale-gettext \
Clone Socket6 IO-HTML Capture-Tiny File-Slurp Getopt-Long-Descriptive
";

const C_LIBS: &str = "\
libpng libjpeg-turbo libtiff libwebp libogg libvorbis libopus flac lame libsndfile \
alsa-lib libpulseaudio libX11 libXext libXrender libXi libxcb libxkbcommon freetype \
fontconfig harfbuzz pango cairo pixman gdk-pixbuf librsvg libepoxy libglvnd libinput \
libevdev mtdev libusb libpcap libnl libmnl libnftnl nftables iptables libuv libev \
libevent c-ares nettle gnutls p11-kit libtasn1 libgcrypt libgpg-error gpgme libassuan \
libksba npth pcre2 pcre libyaml jansson json-c libarchive lz4 brotli snappy leveldb lmdb \
gdbm libxslt
";

const HASKELL: &str = "\
aeson text bytestring containers mtl transformers vector unordered-containers hashable \
scientific attoparsec megaparsec optparse-applicative lens microlens async stm random \
QuickCheck hspec tasty criterion servant warp wai http-client http-types conduit \
streaming-commons network case-insensitive time-compat data-default primitive \
semigroupoids profunctors free comonad tagged base-orphans th-abstraction \
generic-deriving split safe extra filepath directory process unix-compat cryptonite \
memory yaml pandoc skylighting doctemplates citeproc typst zip-archive
";

const NODE: &str = "\
ansi-styles chalk debug ms semver minimist yargs commander glob lodash express axios \
react webpack eslint prettier typescript rollup esbuild vite mocha jest postcss \
autoprefixer tailwindcss sass dotenv uuid moment dayjs ws socket.io body-parser cookie \
mime-types qs fs-extra rimraf mkdirp inquirer
";

const OCAML: &str = "\
dune findlib lwt cmdliner yojson ppxlib sexplib core async cohttp uri re fmt logs \
astring rresult bos fpath ocamlgraph menhir zarith cstruct ipaddr mirage-crypto digestif \
alcotest qcheck bisect_ppx odoc merlin
";

const LUA: &str = "\
lpeg luafilesystem luasocket luasec penlight busted say luassert mediator_lua lua-cjson \
luaposix lua-term inspect argparse luacheck lustache plenary.nvim nui.nvim fzy luautf8
";

const EMACS: &str = "\
magit evil org-roam company ivy helm projectile lsp-mode flycheck yasnippet which-key \
use-package dash s f ht markdown-mode nix-mode rust-mode haskell-mode web-mode json-mode \
yaml-mode doom-modeline doom-themes all-the-icons treemacs vertico orderless consult \
marginalia embark corfu cape eglot transient with-editor git-commit forge ghub
";

const VIM: &str = "\
telescope.nvim nvim-treesitter nvim-lspconfig nvim-cmp cmp-nvim-lsp cmp-buffer cmp-path \
luasnip lualine.nvim gitsigns.nvim vim-fugitive vim-surround vim-commentary vim-repeat \
nerdtree fzf-vim vim-airline vim-nix rust.vim vim-go ale coc.nvim which-key.nvim \
trouble.nvim todo-comments.nvim indent-blankline.nvim nvim-autopairs nvim-web-devicons \
oil.nvim mini.nvim catppuccin-nvim tokyonight.nvim gruvbox vim-sensible undotree \
vim-sleuth neo-tree.nvim noice.nvim dressing.nvim harpoon
";

const R: &str = "\
ggplot2 dplyr tidyr readr purrr tibble stringr forcats lubridate magrittr rlang vctrs \
glue cli data.table Rcpp jsonlite httr curl xml2 knitr rmarkdown shiny htmltools scales \
gtable isoband farver labeling munsell colorspace viridisLite RColorBrewer lattice \
Matrix MASS survival nlme mgcv boot
";

const UNITS: &str = "\
sshd nginx caddy postgresql redis dbus systemd-journald systemd-logind systemd-networkd \
systemd-resolved systemd-timesyncd systemd-udevd nix-daemon nscd cron docker containerd \
prometheus grafana node-exporter fail2ban firewall network-setup dhcpcd getty \
serial-getty container-nannuo-bot webhook gitops-deploy sops-install-secrets \
mount-pstore reload-systemd-vconsole-setup kmod-static-nodes logrotate polkit \
rtkit-daemon pipewire wireplumber acme-fixperms acme-lockfiles
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_the_last_number_and_keeps_its_width() {
        assert_eq!(bump("2.39-52", true, 0).as_deref(), Some("2.39-53"));
        assert_eq!(bump("2.39-52", false, 0).as_deref(), Some("2.39-51"));
        assert_eq!(bump("9.1.0377", false, 0).as_deref(), Some("9.1.0376"));
        assert_eq!(bump("5.2p26", true, 2).as_deref(), Some("5.2p29"));
        assert_eq!(bump("2024a", false, 0).as_deref(), Some("2023a"));
        assert_eq!(bump("1.2.0", false, 0), None);
        assert_eq!(bump("", true, 0), None);
    }

    #[test]
    fn generates_exactly_the_designed_pair() {
        for paths in [MIN_PAIR_PATHS, 50, 2000, 5000] {
            let g = generate(paths);
            let count =
                |spec: &Spec| -> usize { 1 + spec.packages.iter().map(|p| p.outputs.len()).sum::<usize>() };
            assert_eq!(count(&g.old), paths);
            assert_eq!(count(&g.new), paths);
            let d = &g.design;
            assert!(d.up >= 1 && d.down >= 1 && d.added >= 1 && d.removed >= 1, "{d:?}");
            assert_eq!(d.added, d.removed);
            let keys =
                |spec: &Spec| -> HashSet<String> { spec.packages.iter().map(|p| p.name.clone()).collect() };
            let (old, new) = (keys(&g.old), keys(&g.new));
            assert_eq!(old.len(), g.old.packages.len(), "names are distinct");
            assert_eq!(new.len(), g.new.packages.len(), "names are distinct");
            assert_eq!(old.difference(&new).count(), d.up + d.down + d.removed);
            // Every dependency is a package both sides share unchanged.
            for p in g.old.packages.iter().chain(&g.new.packages) {
                for dep in &p.deps {
                    assert!(old.contains(dep) && new.contains(dep), "{} -> {dep}", p.name);
                }
            }
        }
    }

    #[test]
    fn package_names_never_repeat() {
        let mut seen = HashSet::new();
        for c in candidates().take(20_000) {
            assert!(seen.insert(c.pname.clone()), "{} twice", c.pname);
        }
    }

    #[test]
    fn the_same_count_gives_the_same_pair() {
        let a = serde_json::to_string(&generate(300).new).unwrap();
        let b = serde_json::to_string(&generate(300).new).unwrap();
        assert_eq!(a, b);
    }
}
