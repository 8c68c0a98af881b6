//! The end-of-run summary table.

use std::time::Duration;

use fleet_deploy::{NodeError, NodeReport, Outcome, Summary};

use crate::escape::terminal_text;

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
    let header = ["NODE", "ACTION", "OLD -> NEW", "TIME"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(summary.nodes.iter().map(row)).collect();
    let mut out = crate::table::render(&rows, &[false, false, false, true]);
    out.push_str(&problems(summary));
    out.push_str(&counts(summary));
    out.push_str(&evaluations(summary));
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
        out.push_str(&format!(
            "\nerror: failed to {} {}: {}\n",
            error.stage,
            nodes.join(", "),
            error.cause()
        ));
    }
    for report in &summary.nodes {
        if let Outcome::Skipped(reason) = &report.outcome {
            out.push_str(&format!("\nskipped {}: {reason}\n", report.node));
        }
    }
    let mut not_started: Vec<&str> = Vec::new();
    for report in &summary.nodes {
        if let Outcome::NotStarted(reason) = &report.outcome {
            if !not_started.contains(&reason.as_str()) {
                not_started.push(reason);
            }
        }
    }
    for reason in not_started {
        out.push_str(&format!("\nnot started: {reason}\n"));
    }
    // Errors and reasons carry what targets printed (stderr, job logs).
    terminal_text(&out)
}

/// `N nodes: 3 activated, 1 failed`: the outcomes that occurred, in a fixed order.
pub(crate) fn counts(summary: &Summary) -> String {
    let parts: Vec<String> = Outcome::LABELS
        .iter()
        .filter_map(|label| {
            let n = summary.nodes.iter().filter(|r| r.outcome.label() == *label).count();
            (n > 0).then(|| format!("{n} {label}"))
        })
        .collect();
    format!("\n{} nodes: {}\n", summary.nodes.len(), parts.join(", "))
}

/// Which nodes were evaluated and which reused an earlier evaluation of the
/// same flake content; nothing when none was reused.
pub(crate) fn evaluations(summary: &Summary) -> String {
    let (reused, evaluated): (Vec<&NodeReport>, Vec<&NodeReport>) =
        summary.nodes.iter().filter(|r| r.new.is_some()).partition(|r| r.reused_evaluation);
    if reused.is_empty() {
        return String::new();
    }
    let names =
        |reports: &[&NodeReport]| reports.iter().map(|r| r.node.as_str()).collect::<Vec<_>>().join(", ");
    let mut out = format!("evaluation reused (flake content unchanged): {}\n", names(&reused));
    if !evaluated.is_empty() {
        out.push_str(&format!("evaluated: {}\n", names(&evaluated)));
    }
    out
}

fn row(report: &NodeReport) -> Vec<String> {
    let show = |p: &Option<String>| p.as_deref().map_or("-".to_string(), short_path);
    let change = match (&report.outcome, &report.old) {
        (Outcome::Built, _) | (Outcome::Unchanged, _) => show(&report.new),
        // It runs what it ran before; the new system is what failed.
        (Outcome::RolledBack(_), Some(_)) => {
            format!("back to {} (not {})", show(&report.old), show(&report.new))
        }
        (_, _) if report.new.is_none() => show(&report.old),
        _ => format!("{} -> {}", show(&report.old), show(&report.new)),
    };
    vec![report.node.clone(), report.outcome.label().to_string(), change, seconds(report.elapsed)]
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

    fn report(node: &str, old: Option<String>, new: Option<String>, outcome: Outcome) -> NodeReport {
        NodeReport {
            node: node.into(),
            old,
            new,
            outcome,
            diff: None,
            generation: None,
            pending: false,
            elapsed: Duration::ZERO,
            reused_evaluation: false,
        }
    }

    /// A rolled-back node counts, and its row shows the system it went back
    /// to, not the one it failed to activate as if it ran.
    #[test]
    fn a_rolled_back_node_is_counted_and_says_what_it_went_back_to() {
        let p = |h: &str| Some(format!("/nix/store/{h:a<32}-sys"));
        let error = NodeError::new(
            "c",
            fleet_deploy::Stage::Activate,
            fleet_nix::CommandError {
                command: "switch".into(),
                failure: fleet_nix::Failure::Output("check failed".into()),
            },
        );
        let summary = Summary {
            nodes: vec![
                report("host", p("a"), p("a"), Outcome::Unchanged),
                report("c", p("b"), p("c"), Outcome::RolledBack(error)),
            ],
        };
        let table = summary_table(&summary);
        assert!(table.contains("c     rolled back  back to baaaaaa-sys (not caaaaaa-sys)"), "{table}");
        assert!(table.ends_with("\n2 nodes: 1 unchanged, 1 rolled back\n"), "{table}");
    }

    #[test]
    fn a_locked_host_is_said_once_and_no_node_is_failed() {
        let reason =
            "h is locked by me@box (pid 7) since 2026-12-02T04:00:00Z (run 1-7-ab); nothing was changed";
        let summary = Summary {
            nodes: vec![
                report("h", None, None, Outcome::NotStarted(reason.into())),
                report("c", None, None, Outcome::NotStarted(reason.into())),
            ],
        };
        let table = summary_table(&summary);
        assert_eq!(table.matches("not started: h is locked by me@box").count(), 1, "{table}");
        assert!(!table.contains("error") && !table.contains("failed"), "{table}");
        assert!(table.ends_with("\n2 nodes: 2 not started\n"), "{table}");
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
                    reused_evaluation: false,
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
                    reused_evaluation: false,
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
                    reused_evaluation: false,
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
