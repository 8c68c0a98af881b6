//! What a dry run shows: per node, the closure diff against what the target runs,
//! as text or as one JSON document.

use fleet_deploy::{NodeReport, Outcome, Summary};
use fleet_diff::{render, ClosureDiff, RenderOptions};
use serde_json::{json, Value};

use crate::escape::{json_text, terminal_line};
use crate::summary::{counts, problems, short_path};

/// The version of the JSON documents below; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// Renders every node's diff: a heading with old -> new, the diff's sections, and
/// one line for an unchanged node; then failures, skips and counts.
pub fn dry_run_text(summary: &Summary, color: bool) -> String {
    let options = RenderOptions { color };
    let mut out = String::new();
    for report in &summary.nodes {
        let Some(diff) = &report.diff else { continue };
        let heading = match (&report.outcome, &report.old, &report.new) {
            (Outcome::Unchanged, _, _) => report.node.clone(),
            (_, None, Some(new)) => {
                format!("{} (new on the target: {})", report.node, short_path(new))
            }
            (_, Some(old), Some(new)) => {
                format!("{} ({} -> {})", report.node, short_path(old), short_path(new))
            }
            _ => report.node.clone(),
        };
        out.push_str(&render(&terminal_line(&heading), diff, &options));
        if !diff.is_unchanged() {
            out.push('\n');
        }
    }
    // Diffs are separated by a blank line; the counts bring their own.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out.push_str(&problems(summary));
    out.push_str(&counts(summary));
    out
}

/// One JSON document for a dry run:
/// `{"version": 1, "nodes": [{"node", "status", "old", "new", "diff", "error"}]}`.
/// `status` is `new`, `changed`, `unchanged`, `failed` or `skipped`; `diff` is a
/// closure diff (see `fleet_diff::ClosureDiff`) or null; `error` a message or null.
pub fn dry_run_json(summary: &Summary) -> String {
    let nodes: Vec<Value> = summary.nodes.iter().map(node_json).collect();
    let document = json!({ "version": JSON_VERSION, "nodes": nodes });
    json_text(&serde_json::to_string_pretty(&document).expect("JSON values serialise"))
}

/// One JSON document for a diff of two local closures:
/// `{"version": 1, "old": PATH, "new": PATH, "diff": {...}}`.
pub fn diff_json(old: &str, new: &str, diff: &ClosureDiff) -> String {
    let document = json!({ "version": JSON_VERSION, "old": old, "new": new, "diff": diff });
    json_text(&serde_json::to_string_pretty(&document).expect("JSON values serialise"))
}

fn node_json(report: &NodeReport) -> Value {
    let (status, error) = match &report.outcome {
        Outcome::Failed(error) | Outcome::RolledBack(error) => ("failed", Some(error.to_string())),
        Outcome::Skipped(reason) => ("skipped", Some(reason.clone())),
        Outcome::NotStarted(reason) => ("not started", Some(reason.clone())),
        Outcome::Unchanged => ("unchanged", None),
        _ if report.old.is_none() => ("new", None),
        _ => ("changed", None),
    };
    json!({
        "node": report.node,
        "status": status,
        "old": report.old,
        "new": report.new,
        "diff": report.diff,
        "error": error,
    })
}
