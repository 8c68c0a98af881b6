//! How a command reports: text for people, one JSON document (`--json`), or
//! the pipeline's events as JSON lines while it runs (`--json-events`); and
//! the evaluation and build-log options that go with reporting a build.

use fleet_deploy::{Sink, Summary};
use fleet_nix::EvalSettings;

use crate::args::Args;
use crate::exit::CliError;

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
    /// Takes `--json` and `--json-events` (at most one of them).
    pub(crate) fn take(args: &mut Args) -> Result<Format, CliError> {
        match (args.flag("--json"), args.flag("--json-events")) {
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

/// Takes `--eval-workers N` and `--eval-memory SIZE`.
pub(crate) fn take_evaluation(args: &mut Args) -> Result<EvalSettings, CliError> {
    let mut settings = EvalSettings::default();
    if let Some(text) = args.value("--eval-workers")? {
        settings.workers = match text.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(CliError::Usage(format!("--eval-workers takes a positive number, not `{text}`")))
            }
        };
    }
    if let Some(text) = args.value("--eval-memory")? {
        settings.memory_budget = Some(parse_size(&text).ok_or_else(|| {
            CliError::Usage(format!(
                "--eval-memory takes a size such as 4G, 1500M or 800MiB (at least 1M), not `{text}`"
            ))
        })?);
    }
    Ok(settings)
}

/// `4G`, `1500M`, `800MiB`, `2GB` (powers of 1024) in bytes; at least 1 MiB.
fn parse_size(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit = match text[digits..].to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "" => 1,
        _ => return None,
    };
    number.checked_mul(unit).filter(|&bytes| bytes >= 1 << 20)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("1500M"), Some(1500 << 20));
        assert_eq!(parse_size("800mib"), Some(800 << 20));
        assert_eq!(parse_size("2097152"), Some(2 << 20));
        assert_eq!(parse_size("512K"), None, "below 1 MiB");
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("4T"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
