//! The `status` table: what each node runs, since when, and whether it is the
//! system the local build produces.

use fleet_deploy::{Outcome, Summary};

use crate::summary::{counts, problems, short_path};

/// Renders one row per node: node, running system, generation (number and
/// date), whether it matches the local build, and a note for an unfinished
/// activation; then failures.
pub fn status_table(summary: &Summary) -> String {
    let header = ["NODE", "RUNNING", "GENERATION", "LOCAL BUILD"].map(String::from).to_vec();
    let rows = summary.nodes.iter().map(|report| {
        let running = report.old.as_deref().map_or("-".to_string(), short_path);
        let generation = match &report.generation {
            Some(g) => match &g.since {
                Some(since) => format!("{} ({since})", g.number),
                None => g.number.to_string(),
            },
            None => "-".into(),
        };
        let matches = match (&report.outcome, &report.old, &report.new) {
            (Outcome::Unchanged, _, _) => "matches".to_string(),
            (Outcome::WouldActivate, None, _) => "not deployed yet".to_string(),
            (Outcome::WouldActivate, _, _) if report.pending => {
                "not switched in full (unfinished, or --goal boot or test): deploy to switch".to_string()
            }
            (Outcome::WouldActivate, _, Some(new)) => format!("differs: {}", short_path(new)),
            (Outcome::WouldActivate, _, None) => {
                "no build of the flake as it is now known here (status --build builds it)".to_string()
            }
            (outcome, _, _) => outcome.label().to_string(),
        };
        vec![report.node.clone(), running, generation, matches]
    });
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    let mut out = crate::table::render(&rows, &[]);
    out.push_str(&problems(summary));
    if summary.nodes.iter().any(|n| !n.outcome.is_success()) {
        out.push_str(&counts(summary));
    }
    out
}
