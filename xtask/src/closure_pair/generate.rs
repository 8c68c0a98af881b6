//! The generator of the closure pair: names, versions, outputs and
//! dependencies of every package, from the lists in `core-packages.txt` and
//! `package-families.txt` and a fixed seed.

use std::collections::HashSet;

use serde::Serialize;

use super::PairDesign;

/// The seed of every choice the generator makes.
const SEED: u64 = 0x5eed_f1ee_7d1f_f000;

/// The base system: `NAME VERSION OUTPUT,...` per line.
const CORE_PACKAGES: &str = include_str!("core-packages.txt");

/// The package families and the suffix words (see the file's header).
const PACKAGE_FAMILIES: &str = include_str!("package-families.txt");

/// One closure as `closure.nix` reads it.
#[derive(Debug, Serialize)]
pub(super) struct Spec {
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

pub(super) struct Generated {
    pub(super) old: Spec,
    pub(super) new: Spec,
    pub(super) design: PairDesign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Stable,
    Up,
    Down,
    Removed,
}

/// The two specs for closures of `paths` store paths each.
pub(super) fn generate(paths: usize) -> Generated {
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

impl Style {
    /// A style as `package-families.txt` names it.
    fn parse(name: &str) -> Style {
        match name {
            "semver" => Style::Semver,
            "decimal" => Style::Decimal,
            "four" => Style::Four,
            "rock" => Style::Rock,
            "melpa" => Style::Melpa,
            "date" => Style::Date,
            "none" => Style::None,
            other => unreachable!("package-families.txt: unknown style `{other}`"),
        }
    }
}

/// A kind of package: `prefix` + word + `suffix` (e.g. `unit-` + `sshd` +
/// `.service`), a version style and outputs.
struct Family {
    prefix: &'static str,
    /// Each one package name.
    words: Vec<&'static str>,
    suffix: &'static str,
    style: Style,
    /// Whether some packages get a `dev`, `lib` or `man` output too.
    split: bool,
}

/// The base system, first one first: (name, version, outputs).
fn core_packages() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    data_lines(CORE_PACKAGES)
        .map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [name, version, outputs] => (*name, *version, outputs.split(',').collect()),
            _ => unreachable!("core-packages.txt: bad line `{line}`"),
        })
        .collect()
}

/// The families and the suffix words of `package-families.txt`.
fn package_families() -> (Vec<Family>, Vec<&'static str>) {
    let mut families: Vec<Family> = Vec::new();
    let mut suffixes = Vec::new();
    for line in data_lines(PACKAGE_FAMILIES) {
        let fields: Vec<&'static str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["suffixes", words @ ..] => suffixes.extend(words),
            ["family", prefix, suffix, style, outputs] => families.push(Family {
                prefix: prefix.trim_start_matches('-'),
                words: Vec::new(),
                suffix: suffix.trim_start_matches('-'),
                style: Style::parse(style),
                split: *outputs == "split",
            }),
            words => {
                families.last_mut().expect("package-families.txt starts a family first").words.extend(words)
            }
        }
    }
    (families, suffixes)
}

/// A data file's lines without comments and blank lines.
fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Endless, distinct candidates: the core system first in the mix, then every
/// family word by word; later rounds put `-utils`, `-core`... after the word.
fn candidates() -> impl Iterator<Item = Candidate> {
    let core = core_packages();
    let (families, suffixes) = package_families();
    (0usize..).flat_map(move |round| {
        let mut out = Vec::new();
        let longest = families.iter().map(|f| f.words.len()).max().unwrap_or(0);
        for i in 0..longest.max(core.len()) {
            if round == 0 {
                if let Some((pname, version, outputs)) = core.get(i) {
                    out.push(Candidate {
                        pname: (*pname).to_string(),
                        version: Some((*version).to_string()),
                        outputs: outputs.clone(),
                    });
                }
            }
            for family in &families {
                if let Some(word) = family.words.get(i) {
                    out.push(family_member(family, word, round, &suffixes));
                }
            }
        }
        out
    })
}

fn family_member(family: &Family, word: &str, round: usize, suffixes: &[&str]) -> Candidate {
    // Round r spells r in base |suffixes| with suffix words, so names never repeat.
    let mut suffix = String::new();
    let mut r = round;
    while r > 0 {
        r -= 1;
        suffix.insert_str(0, &format!("-{}", suffixes[r % suffixes.len()]));
        r /= suffixes.len();
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

#[cfg(test)]
mod tests {
    use super::super::MIN_PAIR_PATHS;
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
    fn the_data_files_parse_into_every_family() {
        let (families, suffixes) = package_families();
        assert_eq!(families.len(), 11);
        assert!(families.iter().all(|f| !f.words.is_empty()));
        assert_eq!(suffixes.len(), 12);
        assert_eq!(core_packages()[0], ("glibc", "2.39-52", vec!["out", "bin", "dev"]));
    }

    #[test]
    fn the_same_count_gives_the_same_pair() {
        let a = serde_json::to_string(&generate(300).new).unwrap();
        let b = serde_json::to_string(&generate(300).new).unwrap();
        assert_eq!(a, b);
    }
}
