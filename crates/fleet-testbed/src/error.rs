//! The testbed's error type.

use std::fmt;

/// A testbed step that failed, with why; said as "the testbed could not
/// {step}: {reason}".
#[derive(Debug)]
pub struct TestbedError {
    /// What the testbed was doing, e.g. `start sshd`.
    pub step: String,
    /// What went wrong.
    pub reason: String,
}

impl TestbedError {
    pub(crate) fn new(step: impl Into<String>, reason: impl fmt::Display) -> TestbedError {
        TestbedError { step: step.into(), reason: reason.to_string() }
    }
}

impl fmt::Display for TestbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the testbed could not {}: {}", self.step, self.reason)
    }
}

impl std::error::Error for TestbedError {}
