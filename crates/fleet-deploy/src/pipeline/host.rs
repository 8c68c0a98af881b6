//! A host's shared stages: its deploy lock, one probe of every node on it,
//! and pushes of built closures; each tried again while the connection is
//! lost or refused.

use std::time::Duration;

use fleet_graph::Node;
use fleet_nix::{CommandError, Nix, Target, Unreachable};

use super::Plan;
use crate::lock::AgentSession;
use crate::probe::{parse_probe, probe_script, Probed};
use crate::{Event, Sink, Stage};

/// A stage's last error and how many tries were made.
pub(super) type Tried = (CommandError, u32);

impl Plan<'_> {
    /// Takes `host`'s deploy lock for run `run`, saying when it took it over.
    pub(super) fn lock(
        &self,
        host: &str,
        target: &Target,
        run: &str,
        sink: &dyn Sink,
    ) -> Result<AgentSession, Tried> {
        let lock = retrying(host, Stage::Lock, sink, || {
            AgentSession::acquire_for(target, run, self.kinds, self.answer_within)
        })?;
        if let Some(previous) = &lock.took_over {
            let message = format!("took over the deploy lock from {previous}");
            sink.event(Event::Notice { host, message: &message });
        }
        Ok(lock)
    }

    /// Reads the current system of each of `nodes` (on `host`) in one round
    /// trip; `full` adds generations, for status and rollback.
    pub(super) fn probe(
        &self,
        host: &str,
        target: &Target,
        nodes: &[&Node],
        full: bool,
        sink: &dyn Sink,
    ) -> Result<Vec<Result<Probed, CommandError>>, Tried> {
        let profiles: Vec<(String, String)> =
            nodes.iter().map(|node| (node.name.clone(), self.kinds.of(node).profile(node))).collect();
        retrying(host, Stage::Probe, sink, || {
            target
                .run_within(&probe_script(&profiles, full), "the probe", self.answer_within)
                .and_then(|out| parse_probe(&out, &profiles))
        })
    }

    /// One `nix copy` of `paths` (and their closures) to `host`.
    pub(super) fn push(
        &self,
        nix: &Nix,
        host: &str,
        target: &Target,
        paths: &[String],
        sink: &dyn Sink,
    ) -> Result<(), Tried> {
        retrying(host, Stage::Push, sink, || nix.copy_to(target, paths))
    }
}

/// How many times a stage that lost its connection is tried.
const TRIES: u32 = 4;
/// The wait before the first retry; it doubles for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Runs `op`, trying again with backoff while it fails with a connection
/// failure worth retrying ([`Unreachable::worth_retrying`]); returns the last error and how many tries were made.
pub(super) fn retrying<T>(
    host: &str,
    stage: Stage,
    sink: &dyn Sink,
    mut op: impl FnMut() -> Result<T, CommandError>,
) -> Result<T, Tried> {
    // A run reaches a host first to lock it (or, without a lock, to probe it).
    let first_contact = matches!(stage, Stage::Lock | Stage::Probe);
    let mut attempt = 1;
    loop {
        match op() {
            Ok(value) => return Ok(value),
            // A name that does not resolve, rejected keys, a wrong host key
            // and a refused first contact fail the same way each time.
            Err(error)
                if Unreachable::of(&error).is_some_and(|u| u.worth_retrying(first_contact))
                    && attempt < TRIES =>
            {
                let reason =
                    Unreachable::of(&error).map_or_else(|| error.to_string(), |u| u.explain(&error, true));
                sink.event(Event::Retry { host, stage, attempt, reason: &reason });
                std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
                attempt += 1;
            }
            Err(error) => return Err((error, attempt)),
        }
    }
}
