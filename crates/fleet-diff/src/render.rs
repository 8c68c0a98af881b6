//! Text rendering of a closure diff: grouped sections, aligned columns, optional ANSI colour.

use std::fmt::Write as _;

use crate::closure::{Change, ClosureDiff, PackageDiff};

/// How [`render`] formats a diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Use ANSI colours. The caller decides (a terminal, and no `NO_COLOR`); the renderer
    /// never looks at the environment.
    pub color: bool,
}

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// How a missing version (an unversioned package) is shown.
const NO_VERSION: &str = "<none>";

/// Renders one node's diff under `heading`.
///
/// An unchanged closure is one line: `HEADING: unchanged (N paths, SIZE)`. Otherwise the
/// heading is followed by the sections `Version changes`, `Added` and `Removed` (each only
/// when not empty; packages in name order; columns name, versions, kind of change and size
/// delta, aligned across sections) and a totals line. Rebuilt packages (same versions,
/// different paths) are only counted in the totals line. The text ends with a newline.
pub fn render(heading: &str, diff: &ClosureDiff, options: &RenderOptions) -> String {
    let paint = Painter(options.color);
    let t = &diff.totals;
    if diff.is_unchanged() {
        return format!(
            "{}: unchanged ({} path{}, {})\n",
            paint.apply(BOLD, heading),
            t.new_paths,
            if t.new_paths == 1 { "" } else { "s" },
            format_size(t.new_size)
        );
    }

    let sections: [(&str, Vec<Row>); 3] = [
        (
            "Version changes",
            diff.packages
                .iter()
                .filter(|p| matches!(p.change, Change::Up | Change::Down | Change::Changed))
                .map(Row::of)
                .collect(),
        ),
        ("Added", diff.with_change(Change::Added).map(Row::of).collect()),
        ("Removed", diff.with_change(Change::Removed).map(Row::of).collect()),
    ];
    let rows = || sections.iter().flat_map(|(_, rows)| rows);
    let width = |f: fn(&Row) -> &str| rows().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let name_w = width(|r| &r.name);
    let versions_w = width(|r| &r.versions);
    let kind_w = width(|r| r.kind);
    let delta_w = width(|r| &r.delta);

    let mut out = String::new();
    let _ = writeln!(out, "{}", paint.apply(BOLD, heading));
    for (title, rows) in &sections {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {}", paint.apply(BOLD, title));
        for r in rows {
            let mut line = format!("    {:<name_w$}  ", r.name);
            line += &paint.apply(r.color, &format!("{:<versions_w$}", r.versions));
            if kind_w > 0 {
                line += "  ";
                line += &paint.apply(r.color, &format!("{:<kind_w$}", r.kind));
            }
            line += "  ";
            line += &paint.apply(delta_color(r.size_delta), &format!("{:>delta_w$}", r.delta));
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    let rebuilt = diff.with_change(Change::Rebuilt).count();
    let rebuilt = if rebuilt > 0 { format!(", {rebuilt} rebuilt") } else { String::new() };
    let _ = writeln!(
        out,
        "  Closure: {} -> {} paths (+{} -{}{rebuilt}), {} -> {} ({})",
        t.old_paths,
        t.new_paths,
        t.added_paths,
        t.removed_paths,
        format_size(t.old_size),
        format_size(t.new_size),
        paint.apply(delta_color(t.size_delta), &format_size_delta(t.size_delta)),
    );
    out
}

/// One package line before alignment.
struct Row {
    name: String,
    versions: String,
    kind: &'static str,
    color: &'static str,
    delta: String,
    size_delta: i64,
}

impl Row {
    fn of(p: &PackageDiff) -> Row {
        let (kind, color) = match p.change {
            Change::Up => ("up", GREEN),
            Change::Down => ("down", YELLOW),
            Change::Changed => ("changed", CYAN),
            Change::Added => ("", GREEN),
            Change::Removed => ("", RED),
            Change::Rebuilt => ("rebuilt", ""),
        };
        let versions = match p.change {
            Change::Added => show_versions(&p.new_versions),
            Change::Removed => show_versions(&p.old_versions),
            _ => format!("{} -> {}", show_versions(&p.old_versions), show_versions(&p.new_versions)),
        };
        Row {
            name: p.name.clone(),
            versions,
            kind,
            color,
            delta: format_size_delta(p.size_delta),
            size_delta: p.size_delta,
        }
    }
}

fn show_versions(versions: &[String]) -> String {
    let shown: Vec<&str> = versions.iter().map(|v| if v.is_empty() { NO_VERSION } else { v }).collect();
    shown.join(", ")
}

/// Growth is red, shrinking green, no change plain (as `nix store diff-closures` does).
fn delta_color(delta: i64) -> &'static str {
    match delta.signum() {
        1 => RED,
        -1 => GREEN,
        _ => "",
    }
}

struct Painter(bool);

impl Painter {
    fn apply(&self, color: &str, text: &str) -> String {
        if self.0 && !color.is_empty() {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// A size in bytes in binary units: `512 B`, `1.5 KiB`, `12.3 MiB`, `1.2 GiB`, `2.0 TiB`.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Switch units where rounding to one decimal would show 1024.0.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A signed size delta: `+1.5 KiB`, `-300 B`, `0 B`.
pub(crate) fn format_size_delta(delta: i64) -> String {
    let size = format_size(delta.unsigned_abs());
    match delta.signum() {
        1 => format!("+{size}"),
        -1 => format!("-{size}"),
        _ => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closure::{diff, PathInfo};

    fn check_size(bytes: i64, expect: &str) {
        assert_eq!(format_size_delta(bytes), expect, "{bytes} bytes");
    }

    #[test]
    fn sizes() {
        check_size(0, "0 B");
        check_size(1023, "+1023 B");
        check_size(-1024, "-1.0 KiB");
        check_size(1536, "+1.5 KiB");
        check_size(1024 * 1024 - 1, "+1.0 MiB");
        check_size(-12_900_000, "-12.3 MiB");
        check_size(3 << 30, "+3.0 GiB");
        check_size(5 << 40, "+5.0 TiB");
        check_size(5000 << 40, "+5000.0 TiB");
        assert_eq!(format_size(u64::MAX), "16777216.0 TiB");
    }

    /// `old`/`new` are `name=size` lists (a `1:` prefix picks another hash); `expect` is the
    /// rendering without colour.
    fn check(old: &str, new: &str, expect: &str) {
        let closure = |spec: &str| -> Vec<PathInfo> {
            spec.split_whitespace()
                .map(|item| {
                    let (name, size) = item.split_once('=').unwrap_or((item, "1"));
                    let (hash, name) = name.split_once(':').unwrap_or(("0", name));
                    let path = format!("/nix/store/{}-{name}", hash.repeat(32));
                    PathInfo::new(path, size.parse().unwrap())
                })
                .collect()
        };
        let d = diff(&closure(old), &closure(new));
        let got = render("web", &d, &RenderOptions::default());
        assert_eq!(got, expect.trim_start_matches('\n'), "\n{got}");
    }

    #[test]
    fn sections_and_alignment() {
        check(
            "hello-2.12=1000 python3-3.11.9=50000000 python3-3.12.4=52000000 \
             curl-8.7.1=2000000 libfoo-1.0=7000 source=30 X11-xkb=4",
            "hello-2.12.1=1100 python3-3.12.5=52100000 curl-8.6.0=1990000 \
             jq-1.7.1=300000 source=30 1:X11-xkb=4",
            "
web
  Version changes
    curl     8.7.1 -> 8.6.0            down    -9.8 KiB
    hello    2.12 -> 2.12.1            up        +100 B
    python3  3.11.9, 3.12.4 -> 3.12.5  up     -47.6 MiB
  Added
    jq       1.7.1                           +293.0 KiB
  Removed
    libfoo   1.0                               -6.8 KiB
  Closure: 7 -> 6 paths (+5 -6, 1 rebuilt), 99.2 MiB -> 51.9 MiB (-47.3 MiB)
",
        );
    }

    #[test]
    fn only_added_has_no_kind_column() {
        check(
            "",
            "jq-1.7.1=300000 oniguruma-6.9.9=20000 tzdata=1",
            "
web
  Added
    jq         1.7.1   +293.0 KiB
    oniguruma  6.9.9    +19.5 KiB
    tzdata     <none>        +1 B
  Closure: 0 -> 3 paths (+3 -0), 0 B -> 312.5 KiB (+312.5 KiB)
",
        );
    }

    #[test]
    fn unchanged_is_one_line() {
        check("hello-2.12=2048", "hello-2.12=2048", "web: unchanged (1 path, 2.0 KiB)\n");
    }

    #[test]
    fn colour_only_when_asked() {
        let d = diff(&[PathInfo::new("hello-2.12", 1)], &[PathInfo::new("hello-2.13", 2)]);
        let plain = render("web", &d, &RenderOptions { color: false });
        assert!(!plain.contains('\x1b'));
        let coloured = render("web", &d, &RenderOptions { color: true });
        assert!(coloured.contains("\x1b[32mup\x1b[0m"), "{coloured:?}");
        let stripped = coloured
            .split('\x1b')
            .enumerate()
            .map(|(i, s)| if i == 0 { s } else { &s[s.find('m').unwrap() + 1..] })
            .collect::<String>();
        assert_eq!(stripped, plain);
    }
}
