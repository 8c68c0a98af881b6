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
        out.push_str(&render(&terminal_line(&heading), &escaped(diff), &options));
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

/// `diff` with its package names and versions escaped for a terminal: they
/// are read from store paths of the target's closure.
fn escaped(diff: &ClosureDiff) -> ClosureDiff {
    let mut diff = diff.clone();
    for package in &mut diff.packages {
        package.name = terminal_line(&package.name);
        for version in package.old_versions.iter_mut().chain(&mut package.new_versions) {
            *version = terminal_line(version);
        }
    }
    diff
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fleet_deploy::{NodeReport, Outcome, Summary};
    use fleet_diff::PathInfo;

    use super::dry_run_text;

    /// The names in a closure diff come from the target's store paths, so
    /// they reach the terminal escaped, never raw.
    #[test]
    fn a_diff_shows_hostile_package_names_escaped() {
        let path = |name: &str| PathInfo { path: format!("/nix/store/{:a<32}-{name}", ""), nar_size: 1 };
        let diff =
            fleet_diff::diff(&[path("tool-1.0")], &[path("tool-1.0"), path("x\x1b]52;c;eA==\x07\r-2.0")]);
        let report = NodeReport {
            node: "web".into(),
            old: Some("/nix/store/old-web".into()),
            new: Some("/nix/store/new-web\x1b[2J".into()),
            outcome: Outcome::WouldActivate,
            diff: Some(diff),
            generation: None,
            pending: false,
            elapsed: Duration::ZERO,
            reused_evaluation: false,
        };
        let text = dry_run_text(&Summary { nodes: vec![report] }, false);
        assert!(!text.contains(['\x1b', '\x07', '\r']), "{text:?}");
        assert!(text.contains(r"x\x1b]52;c;eA==\x07\r"), "{text}");
    }
}
