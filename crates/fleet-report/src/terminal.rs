//! Live progress on a terminal: one line per node with its stage and time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use fleet_deploy::{Event, Outcome, Sink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::escape::{terminal_line, terminal_text};
use crate::summary::{seconds, short_path};

/// Draws a spinner line per node on stderr.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl TerminalReporter {
    /// A reporter drawing on stderr.
    pub fn new() -> TerminalReporter {
        TerminalReporter::drawing_on(ProgressDrawTarget::stderr())
    }

    fn drawing_on(target: ProgressDrawTarget) -> TerminalReporter {
        TerminalReporter { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()) }
    }
}

/// The live lines go when the run is over: the summary table that follows
/// says it all again.
impl Drop for TerminalReporter {
    fn drop(&mut self) {
        let _ = self.multi.clear();
    }
}

impl Default for TerminalReporter {
    fn default() -> Self {
        TerminalReporter::new()
    }
}

impl Sink for TerminalReporter {
    fn event(&self, event: Event<'_>) {
        let mut bars = self.bars.lock().expect("a reporter thread panicked");
        match event {
            Event::Planned { nodes } => {
                let width = nodes.iter().map(|n| n.len()).max().unwrap_or(0);
                let style = ProgressStyle::with_template(&format!(
                    "{{spinner}} {{prefix:<{width}}} {{elapsed:>4}} {{msg}}"
                ))
                .expect("the template is valid");
                for node in nodes {
                    let bar = self.multi.add(ProgressBar::new_spinner().with_style(style.clone()));
                    bar.set_prefix(node.clone());
                    bar.set_message("waiting");
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.insert(node.clone(), bar);
                }
            }
            Event::Stage { node, stage } => {
                if let Some(bar) = bars.get(node) {
                    bar.set_message(format!("{stage}..."));
                }
            }
            Event::Building { node, done, expected, derivation } => {
                if let Some(bar) = bars.get(node) {
                    bar.set_message(match derivation {
                        Some(derivation) => {
                            format!("building {done}/{expected} {}", terminal_line(derivation))
                        }
                        None => format!("building {done}/{expected}"),
                    });
                }
            }
            Event::DerivationBuilt { .. } | Event::Evaluated { .. } | Event::SystemBuilt { .. } => {}
            Event::BuildLog { derivation, line } => {
                let _ = self.multi.println(format!("{derivation}> {}", terminal_line(line)));
            }
            Event::Retry { host, stage, attempt, .. } => {
                let line = format!("{host}: {stage} lost its connection (try {attempt}), trying again");
                let _ = self.multi.println(line);
            }
            Event::Notice { host, message } => {
                let _ = self.multi.println(format!("{host}: {}", terminal_text(message)));
            }
            Event::Finished(report) => {
                if let Some(bar) = bars.get(&report.node) {
                    let message = match &report.outcome {
                        Outcome::Failed(error) => format!("failed at {}", error.stage),
                        Outcome::RolledBack(error) => {
                            format!("rolled back after failing at {}", error.stage)
                        }
                        Outcome::Skipped(reason) => format!("skipped: {}", terminal_line(reason)),
                        Outcome::NotStarted(_) => "not started: its host is locked by another deploy".into(),
                        outcome => format!(
                            "{} {}",
                            outcome.label(),
                            terminal_line(&report.new.as_deref().map(short_path).unwrap_or_default())
                        ),
                    };
                    // The time the summary table will show for it, not the
                    // line's own clock.
                    let width = bars.keys().map(String::len).max().unwrap_or(0);
                    let finished = ProgressStyle::with_template(&format!("  {{prefix:<{width}}} {{msg}}"))
                        .expect("the template is valid");
                    bar.set_style(finished);
                    bar.finish_with_message(format!("{} {message}", seconds(report.elapsed)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use fleet_deploy::{Event, Sink};
    use indicatif::{ProgressDrawTarget, TermLike};

    use super::TerminalReporter;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A build log line and a notice reach the terminal escaped, escape
    /// sequences and `\r` included, never raw.
    #[test]
    fn what_targets_and_builds_print_is_drawn_escaped() {
        let screen = Screen::default();
        let reporter = TerminalReporter::drawing_on(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        let nodes = ["web".to_string()];
        reporter.event(Event::Planned { nodes: &nodes });
        reporter.event(Event::BuildLog { derivation: "web-1.0", line: "x\x1b]52;c;eA==\x07\rweb: ok" });
        reporter.event(Event::Notice { host: "h", message: "y\x1b[2J\u{202e}z" });
        drop(reporter);
        let shown = screen.0.lock().unwrap().clone();
        assert!(shown.contains("web-1.0> x\\x1b]52;c;eA==\\x07\\rweb: ok"), "{shown:?}");
        assert!(shown.contains("h: y\\x1b[2J\\u{202e}z"), "{shown:?}");
        assert!(!shown.contains(['\x1b', '\x07', '\r', '\u{202e}']), "{shown:?}");
    }
}
