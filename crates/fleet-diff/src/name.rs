//! Store path names: Nix's `builtins.parseDrvName` rule, hash stripping and output suffixes.

/// A derivation name split into name and version, exactly as `builtins.parseDrvName` does.
///
/// The name is everything before the first `-` that is followed by a character other than
/// an ASCII letter; the version is everything after that `-`. Without such a dash the whole
/// string is the name and the version is empty (`hello` -> `hello`, `""`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrvName<'a> {
    /// The name part, e.g. `apache-httpd` for `apache-httpd-2.0.48`.
    pub name: &'a str,
    /// The version part, e.g. `2.0.48`; empty when the string has no version.
    pub version: &'a str,
}

/// Splits a derivation name the way `builtins.parseDrvName` does.
///
/// Letters are ASCII letters (Nix uses `isalpha` in the C locale); store path names are
/// ASCII, so this is exact for every name that can appear in a store path.
pub fn parse_drv_name(s: &str) -> DrvName<'_> {
    let bytes = s.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'-' && i + 1 < bytes.len() && !bytes[i + 1].is_ascii_alphabetic() {
            // Both sides of an ASCII `-` are char boundaries.
            return DrvName { name: &s[..i], version: &s[i + 1..] };
        }
    }
    DrvName { name: s, version: "" }
}

/// The package a store path belongs to: name, version and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePathName<'a> {
    /// The package name (`openssl` for `/nix/store/<hash>-openssl-3.0.13-dev`).
    pub package: &'a str,
    /// The version (`3.0.13`); empty when the name has none.
    pub version: &'a str,
    /// The output: `out` when the name has no output suffix, `drv` for a `.drv` file,
    /// otherwise the suffix (`dev`).
    pub output: &'a str,
}

/// Output names that a multi-output derivation appends to `name-version` as `-OUTPUT`.
///
/// This is a fixed list rather than Nix's `diff-closures` rule (any trailing `-[a-z]+`),
/// which cannot tell an output from a version suffix such as `-unstable` or `-rc`.
const OUTPUT_SUFFIXES: &[&str] = &[
    "bin",
    "data",
    "debug",
    "dev",
    "devdoc",
    "doc",
    "examples",
    "fish",
    "info",
    "installedTests",
    "lib",
    "lib32",
    "lib64",
    "man",
    "modules",
    "out",
    "perl",
    "py",
    "python",
    "sandbox",
    "share",
    "static",
    "terminfo",
    "tests",
    "udev",
];

/// Length of the hash part of a store path basename (`<hash>-<name>`).
const HASH_LEN: usize = 32;

/// Whether `c` is in Nix's base-32 alphabet (digits and lowercase letters minus `e o u t`).
fn is_nix_base32(c: u8) -> bool {
    c.is_ascii_digit() || (c.is_ascii_lowercase() && !matches!(c, b'e' | b'o' | b'u' | b't'))
}

/// Strips the directory and the `<hash>-` prefix from a store path.
///
/// Accepts a full path (`/nix/store/<hash>-hello-2.12`), a basename (`<hash>-hello-2.12`)
/// or a bare name (`hello-2.12`), which is returned unchanged.
pub(crate) fn strip_store_path(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let bytes = base.as_bytes();
    if bytes.len() > HASH_LEN + 1
        && bytes[HASH_LEN] == b'-'
        && bytes[..HASH_LEN].iter().all(|&c| is_nix_base32(c))
    {
        &base[HASH_LEN + 1..]
    } else {
        base
    }
}

/// Parses a store path (or basename, or bare name) into package, version and output.
///
/// The hash is stripped, then a trailing `.drv` makes the output `drv`; otherwise a trailing
/// `-OUTPUT` from a fixed list of output names (`bin`, `dev`, `lib`, `man`, `doc`, `out`,
/// `modules`, ...) is the output, but only when what precedes it has a version of its own
/// (`openssl-3.0.13-dev` is `openssl` `3.0.13` `dev`; `hello-bin` stays a package of that
/// name). The rest is split by [`parse_drv_name`].
pub fn parse_store_path(path: &str) -> StorePathName<'_> {
    let name = strip_store_path(path);
    if let Some(stem) = name.strip_suffix(".drv") {
        let drv = parse_drv_name(stem);
        return StorePathName { package: drv.name, version: drv.version, output: "drv" };
    }
    if let Some((stem, output)) = name.rsplit_once('-') {
        if OUTPUT_SUFFIXES.contains(&output) {
            let drv = parse_drv_name(stem);
            if !drv.version.is_empty() {
                return StorePathName { package: drv.name, version: drv.version, output };
            }
        }
    }
    let drv = parse_drv_name(name);
    StorePathName { package: drv.name, version: drv.version, output: "out" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` is a name; `expect` is `name|version`.
    fn check_drv(input: &str, expect: &str) {
        let d = parse_drv_name(input);
        assert_eq!(format!("{}|{}", d.name, d.version), expect, "input {input:?}");
    }

    /// `input` is a store path; `expect` is `package|version|output`.
    fn check_path(input: &str, expect: &str) {
        let p = parse_store_path(input);
        assert_eq!(format!("{}|{}|{}", p.package, p.version, p.output), expect, "input {input:?}");
    }

    #[test]
    fn drv_names() {
        check_drv("hello", "hello|");
        check_drv("hello-2.12.1", "hello|2.12.1");
        check_drv("apache-httpd-2.0.48", "apache-httpd|2.0.48");
        check_drv("openssl-3.0.13-dev", "openssl|3.0.13-dev");
        check_drv("X11-xkb", "X11-xkb|");
        check_drv("perl5.38.2-URI-5.21", "perl5.38.2-URI|5.21");
        check_drv("python3.12-requests-2.31.0", "python3.12-requests|2.31.0");
        check_drv("glibc-2.39-52", "glibc|2.39-52");
        check_drv("foo-", "foo-|");
        check_drv("-1.0", "|1.0");
        check_drv("foo--1", "foo|-1");
        check_drv("foo-_bar", "foo|_bar");
        check_drv("", "|");
    }

    #[test]
    fn store_paths() {
        let h = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-";
        check_path(&format!("{h}openssl-3.0.13-dev"), "openssl|3.0.13|dev");
        check_path(&format!("{h}openssl-3.0.13"), "openssl|3.0.13|out");
        check_path(&format!("{h}gcc-13.2.0-lib"), "gcc|13.2.0|lib");
        check_path(&format!("{h}util-linux-2.39.4-bin"), "util-linux|2.39.4|bin");
        check_path(&format!("{h}linux-6.6.30-modules"), "linux|6.6.30|modules");
        check_path(&format!("{h}glibc-2.39-52"), "glibc|2.39-52|out");
        check_path(&format!("{h}glibc-2.39-52-bin"), "glibc|2.39-52|bin");
        check_path(&format!("{h}hello-2.12.1.drv"), "hello|2.12.1|drv");
        check_path(&format!("{h}source"), "source||out");
        check_path(&format!("{h}source.drv"), "source||drv");
        check_path(&format!("{h}hello-bin"), "hello-bin||out");
        check_path(&format!("{h}foo-1.0-unstable"), "foo|1.0-unstable|out");
        check_path(
            &format!("{h}nixos-system-vps-24.05.20240601.abc1234"),
            "nixos-system-vps|24.05.20240601.abc1234|out",
        );
        // Basenames and bare names work too.
        check_path("0123456789abcdfghijklmnpqrsvwxyz-zlib-1.3", "zlib|1.3|out");
        check_path("zlib-1.3-dev", "zlib|1.3|dev");
        // Not a hash: `e` is outside Nix's base-32 alphabet, so nothing is stripped.
        check_path(
            "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-zlib-1.3",
            "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-zlib|1.3|out",
        );
    }
}
