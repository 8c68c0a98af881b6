//! A gate for the fake stages: it lets a test see both that a limit on
//! calls running at once is kept and that it is reached.

use std::sync::{Condvar, Mutex};

use super::fake::PATIENCE;

/// Lets at most `limit` calls run at once and holds each until `limit` run
/// (or every call expected has started), so that a test sees both that the
/// limit is never passed and that it is reached.
pub(super) struct Gate {
    limit: usize,
    total: usize,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
pub(super) struct GateState {
    started: usize,
    running: usize,
    most: usize,
    released: usize,
    stuck: bool,
}

impl Gate {
    pub(super) fn new(limit: usize, total: usize) -> Gate {
        Gate { limit, total, state: Mutex::new(GateState::default()), changed: Condvar::new() }
    }

    pub(super) fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        let ticket = state.started;
        state.started += 1;
        state.running += 1;
        state.most = state.most.max(state.running);
        if state.running >= self.limit || state.started == self.total {
            state.released = state.started;
            self.changed.notify_all();
        }
        let (mut state, waited) =
            self.changed.wait_timeout_while(state, PATIENCE, |s| ticket >= s.released).unwrap();
        if waited.timed_out() {
            state.stuck = true;
        }
        state.running -= 1;
    }

    /// The most calls that ran at once, and whether one waited in vain.
    pub(super) fn most(&self) -> (usize, bool) {
        let state = self.state.lock().unwrap();
        (state.most, state.stuck)
    }
}
