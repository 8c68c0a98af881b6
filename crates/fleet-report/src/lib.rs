//! Reporters: the only code that turns pipeline events into text for people.
//!
//! [`TerminalReporter`] draws one live line per node on a terminal;
//! [`PlainReporter`] writes one line per event, for CI logs and pipes;
//! [`JsonEventsReporter`] writes each event as a JSON line; [`summary_table`]
//! renders the end-of-run table and [`summary_json`] the same as one JSON
//! document, [`dry_run_text`] and [`dry_run_json`] what a dry run would
//! change. None of them runs anything. Text that a target, a container or a
//! build printed reaches the terminal through [`terminal_text`] or
//! [`terminal_line`], and JSON through [`json_text`].
#![deny(missing_docs)]

mod dry_run;
mod escape;
mod json;
mod lines;
mod plain;
mod status;
mod summary;
mod table;
mod terminal;

pub use dry_run::{diff_json, dry_run_json, dry_run_text, JSON_VERSION};
pub use escape::{json_text, terminal_line, terminal_text};
pub use json::{node_json, summary_json, JsonEventsReporter};
pub use plain::PlainReporter;
pub use status::status_table;
pub use summary::{short_path, summary_table};
pub use terminal::TerminalReporter;

use std::io::IsTerminal;

use fleet_deploy::Sink;

/// The reporter for this process's stderr: live lines on a terminal, plain
/// lines otherwise.
pub fn for_stderr() -> Box<dyn Sink> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalReporter::new())
    } else {
        Box::new(PlainReporter::stderr())
    }
}
