//! Machine-readable output: one versioned JSON document per command's result,
//! and the pipeline's events as JSON lines while it runs (`--json-events`).

use std::io::Write;

use fleet_deploy::{Event, NodeReport, Outcome, Sink, Summary};
use serde_json::{json, Value};

use crate::escape::json_text;
use crate::lines::Lines;
use crate::JSON_VERSION;

/// One JSON document for the result of `command` (`deploy`, `rollback`,
/// `status`, `build`):
/// `{"version": 1, "command": C, "success": BOOL, "nodes": [NODE...]}`, each
/// node as [`node_json`] shows it.
pub fn summary_json(command: &str, summary: &Summary) -> String {
    let nodes: Vec<Value> = summary.nodes.iter().map(node_json).collect();
    let document = json!({
        "version": JSON_VERSION,
        "command": command,
        "success": summary.success(),
        "nodes": nodes,
    });
    json_text(&serde_json::to_string_pretty(&document).expect("JSON values serialise"))
}

/// One node's report: `{"node", "outcome", "old", "new", "generation",
/// "pending", "elapsed_seconds", "reused_evaluation", "error"}`. `outcome` is one of
/// [`Outcome::LABELS`](fleet_deploy::Outcome::LABELS): `built`, `activated`,
/// `restarted`, `set for boot`, `tested`, `dry-activated`, `would activate`,
/// `unchanged`, `rolled back`, `failed`, `skipped` or `not started`; `old` and `new` are store paths or null; `generation` is
/// `{"number", "since"}` or null; `error` is `{"stage", "message"}` for a
/// failed or rolled-back node, `{"reason"}` for a skipped or not started one, else null.
pub fn node_json(report: &NodeReport) -> Value {
    let error = match &report.outcome {
        Outcome::Failed(error) | Outcome::RolledBack(error) => {
            json!({ "stage": error.stage.to_string(), "message": error.to_string() })
        }
        Outcome::Skipped(reason) | Outcome::NotStarted(reason) => json!({ "reason": reason }),
        _ => Value::Null,
    };
    json!({
        "node": report.node,
        "outcome": report.outcome.label(),
        "old": report.old,
        "new": report.new,
        "generation": report.generation.as_ref().map(|g| json!({ "number": g.number, "since": g.since })),
        "pending": report.pending,
        "elapsed_seconds": report.elapsed.as_secs_f64(),
        "reused_evaluation": report.reused_evaluation,
        "error": error,
    })
}

/// Writes every event as one JSON object on its own line, as it happens:
/// `{"version": 1, "elapsed_seconds": S, "event": KIND, ...}`. The kinds and
/// their fields: `planned` (`nodes`), `stage` (`node`, `stage`), `evaluated`
/// (`node`, `reused`), `building`
/// (`node`, `done`, `expected`, `derivation`), `built` (`derivation`,
/// `nodes`), `system-built` (`node`, `path`), `build-log` (`derivation`, `line`), `retry` (`host`, `stage`,
/// `attempt`, `reason`), `notice` (`host`, `message`), `finished` (a node as
/// [`node_json`] shows it, under `report`).
pub struct JsonEventsReporter {
    lines: Lines,
}

impl JsonEventsReporter {
    /// A reporter writing to stdout.
    pub fn stdout() -> JsonEventsReporter {
        JsonEventsReporter::new(Box::new(std::io::stdout()))
    }

    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> JsonEventsReporter {
        JsonEventsReporter { lines: Lines::new(out) }
    }
}

impl JsonEventsReporter {
    /// The result of `command` as the last line of the stream:
    /// [`summary_json`]'s document on one line, with `"event": "summary"` and
    /// `elapsed_seconds` like every event.
    pub fn summary_line(&self, command: &str, summary: &Summary) -> String {
        let nodes: Vec<Value> = summary.nodes.iter().map(node_json).collect();
        let line = json!({
            "version": JSON_VERSION,
            "elapsed_seconds": self.lines.elapsed().as_secs_f64(),
            "event": "summary",
            "command": command,
            "success": summary.success(),
            "nodes": nodes,
        });
        json_text(&line.to_string())
    }
}

/// An event's kind and fields.
fn event_json(event: Event<'_>) -> (&'static str, Value) {
    match event {
        Event::Planned { nodes } => ("planned", json!({ "nodes": nodes })),
        Event::Stage { node, stage } => ("stage", json!({ "node": node, "stage": stage.to_string() })),
        Event::Evaluated { node, reused } => ("evaluated", json!({ "node": node, "reused": reused })),
        Event::Building { node, done, expected, derivation } => (
            "building",
            json!({ "node": node, "done": done, "expected": expected, "derivation": derivation }),
        ),
        Event::DerivationBuilt { derivation, nodes } => {
            ("built", json!({ "derivation": derivation, "nodes": nodes }))
        }
        Event::SystemBuilt { node, path } => ("system-built", json!({ "node": node, "path": path })),
        Event::BuildLog { derivation, line } => {
            ("build-log", json!({ "derivation": derivation, "line": line }))
        }
        Event::Retry { host, stage, attempt, reason } => (
            "retry",
            json!({ "host": host, "stage": stage.to_string(), "attempt": attempt, "reason": reason }),
        ),
        Event::Notice { host, message } => ("notice", json!({ "host": host, "message": message })),
        Event::Finished(report) => ("finished", json!({ "report": node_json(report) })),
    }
}

impl Sink for JsonEventsReporter {
    fn event(&self, event: Event<'_>) {
        let (kind, fields) = event_json(event);
        let mut line = json!({
            "version": JSON_VERSION,
            "elapsed_seconds": self.lines.elapsed().as_secs_f64(),
            "event": kind,
        });
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        self.lines.write(&json_text(&line.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use fleet_deploy::Stage;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_event_is_one_json_line_with_its_fields() {
        let buffer = Buffer::default();
        let reporter = JsonEventsReporter::new(Box::new(buffer.clone()));
        let report = NodeReport {
            node: "web".into(),
            old: None,
            new: Some("/nix/store/x-web".into()),
            outcome: Outcome::Activated,
            diff: None,
            generation: None,
            pending: false,
            elapsed: Duration::from_millis(250),
            reused_evaluation: false,
        };
        reporter.event(Event::Stage { node: "web", stage: Stage::Build });
        reporter.event(Event::Building { node: "web", done: 1, expected: 3, derivation: Some("glibc-2.39") });
        reporter.event(Event::Finished(&report));
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "stage");
        assert_eq!(lines[0]["stage"], "build");
        assert_eq!(lines[1]["event"], "building");
        assert_eq!((lines[1]["done"].as_u64(), lines[1]["expected"].as_u64()), (Some(1), Some(3)));
        assert_eq!(lines[1]["derivation"], "glibc-2.39");
        assert_eq!(lines[2]["report"]["outcome"], "activated");
        assert_eq!(lines[2]["report"]["elapsed_seconds"], 0.25);
        assert!(lines.iter().all(|l| l["version"] == JSON_VERSION));
    }

    /// What serde leaves raw (C1 controls, bidi overrides) must not reach a
    /// terminal through `--json-events`.
    #[test]
    fn event_lines_hold_no_character_a_terminal_obeys() {
        let buffer = Buffer::default();
        let reporter = JsonEventsReporter::new(Box::new(buffer.clone()));
        let line = "a\x1b]52;c;eA==\x07 \u{9b}2J \u{202e}b\r";
        reporter.event(Event::BuildLog { derivation: "web-1.0", line });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains(['\x1b', '\x07', '\u{9b}', '\u{202e}', '\r']), "{text:?}");
        assert!(text.contains(r"\u009b2J \u202eb"), "{text}");
        let event: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(event["line"], line, "the same value");
    }
}
