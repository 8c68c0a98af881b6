//! The target's deploy lock: one deploy at a time per host.
//!
//! The lock is a `flock` held by a script that runs on the target for as long
//! as the deployer's connection stays open. A deployer that dies or loses its
//! connection therefore releases the lock by itself: a stale lock cannot
//! outlive its holder, and the next deploy takes over, saying whose it was.

use fleet_nix::{CommandError, Held, Target};

use crate::job;

/// A held deploy lock; dropping it releases the lock.
pub struct DeployLock {
    _held: Held,
    /// Set when the previous holder ended without releasing the lock.
    pub took_over: Option<String>,
}

impl DeployLock {
    /// Takes the lock on `target`, or fails at once with a message naming the
    /// current holder and since when.
    pub fn acquire(target: &Target) -> Result<DeployLock, CommandError> {
        let (held, line) = target.hold(&job::lock(&holder()))?;
        let took_over =
            line.strip_prefix("locked (taking over from ").map(|rest| rest.trim_end_matches(')').to_string());
        Ok(DeployLock { _held: held, took_over })
    }
}

/// Who is deploying: `user@machine (pid N)`.
fn holder() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{machine} (pid {})", std::process::id())
}
