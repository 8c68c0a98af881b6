//! How a command reports: text for people, one JSON document (`--json`), or
//! the pipeline's events as JSON lines while it runs (`--json-events`).

use fleet_deploy::{Sink, Summary};

use crate::exit::CliError;
use crate::options::Options;

/// The form of a command's output on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Tables and diffs for people; progress on stderr.
    Text,
    /// One JSON document at the end; progress on stderr.
    Json,
    /// Every event as a JSON line as it happens, then the result as a last
    /// line (`"event": "summary"`); nothing on stderr but errors.
    JsonEvents,
}

impl Format {
    /// The form `--json` and `--json-events` ask for (at most one of them).
    pub(crate) fn of(options: &Options) -> Result<Format, CliError> {
        match (options.json, options.json_events) {
            (true, true) => Err(CliError::Usage("--json and --json-events exclude each other".into())),
            (true, false) => Ok(Format::Json),
            (false, true) => Ok(Format::JsonEvents),
            (false, false) => Ok(Format::Text),
        }
    }

    /// The reporter of a run in this format.
    pub(crate) fn reporter(self) -> Reporter {
        match self {
            Format::JsonEvents => Reporter::Events(fleet_report::JsonEventsReporter::stdout()),
            Format::Text | Format::Json => Reporter::Progress(self, fleet_report::for_stderr()),
        }
    }
}

/// Where a run's events go, and how its result is written when it is over.
pub(crate) enum Reporter {
    /// Progress on stderr; the result as text or one JSON document.
    Progress(Format, Box<dyn Sink>),
    /// Events as JSON lines on stdout; the result as the last of them.
    Events(fleet_report::JsonEventsReporter),
}

impl Reporter {
    /// The sink for the run.
    pub(crate) fn sink(&self) -> &dyn Sink {
        match self {
            Reporter::Progress(_, sink) => sink.as_ref(),
            Reporter::Events(events) => events,
        }
    }

    /// Ends the progress (a terminal's live lines go) and returns the result
    /// of `command` to print: `text` makes the text form.
    pub(crate) fn finish(self, command: &str, summary: &Summary, text: impl FnOnce() -> String) -> String {
        match self {
            Reporter::Progress(Format::Json, _) => {
                format!("{}\n", fleet_report::summary_json(command, summary))
            }
            Reporter::Progress(_, sink) => {
                drop(sink);
                text()
            }
            Reporter::Events(events) => format!("{}\n", events.summary_line(command, summary)),
        }
    }
}
