//! One line per event, for logs and pipes.

use std::io::Write;

use fleet_deploy::{Event, Outcome, Sink};

use crate::escape::{terminal_line, terminal_text};
use crate::lines::Lines;
use crate::summary::{seconds, short_path};

/// Writes `[ elapsed] node: what happened` lines.
pub struct PlainReporter {
    lines: Lines,
}

impl PlainReporter {
    /// A reporter writing to stderr.
    pub fn stderr() -> PlainReporter {
        PlainReporter::new(Box::new(std::io::stderr()))
    }

    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> PlainReporter {
        PlainReporter { lines: Lines::new(out) }
    }
}

impl Sink for PlainReporter {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Planned { nodes } => format!("plan: {}", nodes.join(", ")),
            Event::Stage { node, stage } => format!("{node}: {stage}"),
            // One line per finished derivation says as much, without a line
            // per node and derivation.
            Event::Evaluated { node, reused: true } => {
                format!("{node}: evaluation reused (the flake's content is unchanged)")
            }
            Event::Evaluated { node, reused: false } => format!("{node}: evaluated"),
            Event::Building { .. } => return,
            Event::DerivationBuilt { derivation, nodes } => {
                format!("built {derivation} (for {})", nodes.join(", "))
            }
            Event::SystemBuilt { node, path } => format!("{node}: built {}", short_path(path)),
            Event::BuildLog { derivation, line } => format!("{derivation}> {}", terminal_line(line)),
            Event::Retry { host, stage, attempt, reason } => {
                format!("{host}: {stage} lost its connection (try {attempt}), trying again: {reason}")
            }
            Event::Notice { host, message } => format!("{host}: {message}"),
            Event::Finished(report) => match &report.outcome {
                Outcome::Failed(error) => format!("{}: failed to {error}", report.node),
                Outcome::RolledBack(error) => {
                    format!("{}: rolled back after failing to {error}", report.node)
                }
                Outcome::Skipped(reason) => format!("{}: skipped, {reason}", report.node),
                Outcome::NotStarted(reason) => format!("{}: not started, {reason}", report.node),
                outcome => format!(
                    "{}: {} {}",
                    report.node,
                    outcome.label(),
                    report.new.as_deref().map(short_path).unwrap_or_default()
                ),
            },
        };
        // Messages and reasons carry what targets printed.
        let line = terminal_text(line.trim_end());
        self.lines.write(&format!("[{:>8}] {line}", seconds(self.lines.elapsed())));
    }
}
