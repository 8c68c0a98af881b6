//! Where the line reporters write: one whole line at a time from any thread,
//! with the time since the run started.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An output that lines are written to whole (no other thread's line comes
/// between the parts of one) and flushed at once, so that a reader sees each
/// event as it happens.
pub(crate) struct Lines {
    started: Instant,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Lines {
    /// Lines on `out`, timed from now.
    pub(crate) fn new(out: Box<dyn Write + Send>) -> Lines {
        Lines { started: Instant::now(), out: Mutex::new(out) }
    }

    /// The time since these lines were made.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes `line` and a newline.
    pub(crate) fn write(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed pipe is the reader's choice; the run goes on.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}
