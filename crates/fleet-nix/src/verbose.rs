//! Whether the commands run are shown (`fleet -v`): each command is handed,
//! as it starts, to the observer the caller set, and an error names a script
//! run on a target by its `sh -c` invocation. Without it an error names only
//! the target and the script's arguments, never the script.

use std::sync::OnceLock;

static OBSERVER: OnceLock<fn(&str)> = OnceLock::new();

/// Hands every command started from now on to `observer` (as errors show
/// it; the caller escapes it for a terminal), and keeps the `sh -c` part of
/// a target's scripts in errors. The first call wins; it is for the whole
/// process.
pub fn show_commands(observer: fn(&str)) {
    let _ = OBSERVER.set(observer);
}

/// Whether [`show_commands`] was called.
pub(crate) fn verbose() -> bool {
    OBSERVER.get().is_some()
}

/// Says that the command shown as `shown` starts.
pub(crate) fn started(shown: &str) {
    if let Some(observer) = OBSERVER.get() {
        observer(shown);
    }
}
