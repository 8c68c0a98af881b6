//! Locking a flake before its nodes are evaluated, with what nix fetches for
//! it (no `flake.lock`, or new inputs) told as it starts, so that the time
//! spent fetching can be said as such instead of passing for a slow
//! evaluation.

use crate::build_log::{BuildLog, BuildLogEvent};
use crate::{CommandError, Nix};

/// Nix's warnings when it writes a lock file: it fetched inputs it had no
/// lock for (Nix 2.8 gives no activity for a `path:` input's copy).
const LOCK_WRITTEN: [&str; 2] = ["creating lock file", "updating lock file"];

impl Nix {
    /// `nix flake metadata --json FLAKE`, which locks the flake first and
    /// fetches what a new lock needs. `on_fetch` hears what nix fetches as it
    /// starts it (a tree, Nix 2.10 and later; a download), or that it wrote a
    /// lock file for inputs it fetched (Nix 2.8 says nothing else of a
    /// `path:` input); nothing when the lock was complete.
    pub(crate) fn flake_metadata(
        &self,
        flake: &str,
        on_fetch: &mut dyn FnMut(&str),
    ) -> Result<String, CommandError> {
        self.run_fetching(vec!["flake", "metadata", "--json", flake], on_fetch)
    }

    /// `nix ARGS --log-format internal-json`, its stdout; its fetches told to
    /// `on_fetch` as they start.
    fn run_fetching(
        &self,
        mut args: Vec<&str>,
        on_fetch: &mut dyn FnMut(&str),
    ) -> Result<String, CommandError> {
        args.extend(["--log-format", "internal-json"]);
        let mut log = BuildLog::new();
        self.run_streaming(&args, &[], &mut |line| match log.read(line)? {
            BuildLogEvent::Fetching { what } => {
                on_fetch(&what);
                None
            }
            BuildLogEvent::Message { level, text } => {
                if LOCK_WRITTEN.iter().any(|sign| text.contains(sign)) {
                    on_fetch(&text);
                }
                (level <= 1).then_some(text)
            }
            _ => None,
        })
    }
}
