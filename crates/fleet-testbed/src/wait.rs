//! Waiting in tests for what a testbed does on its own time.

use std::time::{Duration, Instant};

/// Waits until `done` holds, and panics, naming `what`, once `limit` has
/// passed: for tests, which fail rather than hang.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}
