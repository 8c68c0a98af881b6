//! The end-of-run summary table.

use std::time::Duration;

use fleet_deploy::{NodeError, NodeReport, Outcome, Summary};

/// A store path shortened for tables: `/nix/store/abcdefgh...-name` becomes
/// `abcdefg-name`.
pub fn short_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.split_once('-') {
        Some((hash, name)) if hash.len() == 32 => format!("{}-{name}", &hash[..7]),
        _ => base.to_string(),
    }
}

/// Renders the summary: one row per node (node, action, old -> new, time),
/// then the details of every failure and skip.
pub fn summary_table(summary: &Summary) -> String {
    let rows: Vec<[String; 4]> = summary.nodes.iter().map(row).collect();
    let header = ["NODE", "ACTION", "OLD -> NEW", "TIME"].map(String::from);
    let mut widths = [0; 4];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&problems(summary));
    out.push_str(&counts(summary));
    out
}

/// Every failure and skip, each with its cause. A stage shared by several nodes
/// (probe, push) fails for all of them at once: it is said once, naming them all.
pub(crate) fn problems(summary: &Summary) -> String {
    let mut failures: Vec<(Vec<&str>, &NodeError)> = Vec::new();
    for report in &summary.nodes {
        if let Outcome::Failed(error) | Outcome::RolledBack(error) = &report.outcome {
            match failures.iter_mut().find(|(_, e)| e.stage == error.stage && e.error == error.error) {
                Some((nodes, _)) => nodes.push(&report.node),
                None => failures.push((vec![&report.node], error)),
            }
        }
    }
    let mut out = String::new();
    for (nodes, error) in failures {
        out.push_str(&format!("\nerror: failed to {} {}: {}\n", error.stage, nodes.join(", "), error.error));
    }
    for report in &summary.nodes {
        if let Outcome::Skipped(reason) = &report.outcome {
            out.push_str(&format!("\nskipped {}: {reason}\n", report.node));
        }
    }
    out
}

/// `N nodes: 3 activated, 1 failed`: the outcomes that occurred, in a fixed order.
pub(crate) fn counts(summary: &Summary) -> String {
    let labels = ["activated", "would activate", "unchanged", "built", "failed", "skipped"];
    let parts: Vec<String> = labels
        .iter()
        .filter_map(|label| {
            let n = summary.nodes.iter().filter(|r| r.outcome.label() == *label).count();
            (n > 0).then(|| format!("{n} {label}"))
        })
        .collect();
    format!("\n{} nodes: {}\n", summary.nodes.len(), parts.join(", "))
}

fn row(report: &NodeReport) -> [String; 4] {
    let show = |p: &Option<String>| p.as_deref().map_or("-".to_string(), short_path);
    let change = match (&report.outcome, &report.old) {
        (Outcome::Built, _) | (Outcome::Unchanged, _) => show(&report.new),
        (_, _) if report.new.is_none() => show(&report.old),
        _ => format!("{} -> {}", show(&report.old), show(&report.new)),
    };
    [report.node.clone(), report.outcome.label().to_string(), change, seconds(report.elapsed)]
}

/// `1.23s`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_store_paths() {
        assert_eq!(
            short_path("/nix/store/f4irlspnx54lqydbxd7c3fwf8mh1svww-nixos-system-a-1.0"),
            "f4irlsp-nixos-system-a-1.0"
        );
        assert_eq!(short_path("weird"), "weird");
    }

    #[test]
    fn table_aligns_and_lists_problems() {
        let p = |h: &str| Some(format!("/nix/store/{h:a<32}-sys"));
        let summary = Summary {
            nodes: vec![
                NodeReport {
                    node: "host".into(),
                    old: p("a"),
                    new: p("b"),
                    outcome: Outcome::Activated,
                    diff: None,
                    generation: None,
                    pending: false,
                    elapsed: Duration::from_millis(1500),
                },
                NodeReport {
                    node: "c".into(),
                    old: p("c"),
                    new: p("c"),
                    outcome: Outcome::Unchanged,
                    diff: None,
                    generation: None,
                    pending: false,
                    elapsed: Duration::ZERO,
                },
                NodeReport {
                    node: "d".into(),
                    old: None,
                    new: None,
                    outcome: Outcome::Skipped("dependency `x` failed".into()),
                    diff: None,
                    generation: None,
                    pending: false,
                    elapsed: Duration::ZERO,
                },
            ],
        };
        assert_eq!(
            summary_table(&summary),
            "NODE  ACTION     OLD -> NEW                   TIME\n\
             host  activated  aaaaaaa-sys -> baaaaaa-sys  1.50s\n\
             c     unchanged  caaaaaa-sys                 0.00s\n\
             d     skipped    -                           0.00s\n\
             \nskipped d: dependency `x` failed\n\
             \n3 nodes: 1 activated, 1 unchanged, 1 skipped\n"
        );
    }
}
