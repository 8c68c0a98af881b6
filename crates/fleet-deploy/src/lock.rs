//! The deploy lock, held by one agent session per host per run.
//!
//! [`AgentSession`] starts `agent.sh` on the target over one SSH session. The
//! agent takes the target's deploy lock (a `flock` plus a lease record that
//! names the run), holds it while this process keeps renewing the lease (once
//! a second, from a thread of its own), and exits, releasing it, when the
//! renewals stop: a dead deployer or a partition cannot leave the target
//! locked for longer than the lease. Every activation of the run is launched
//! through the agent, which streams the jobs' status back.
//!
//! When the session drops, the next launch or wait opens a new agent, which
//! takes the lock again (a lock still held by this run's old agent is taken
//! over at once) and re-attaches to the jobs already launched by reading their
//! status files: what the summary reports is what happened on the target. If
//! another run took the lock in the meantime, nothing more is launched and the
//! error names that run.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fleet_nix::{CommandError, Target};

use crate::job;
use crate::protocol::{FinalStatus, Progress, Request, SpecLines};
use crate::Kinds;

mod identity;
mod session;

use identity::holder;
pub(crate) use identity::{new_run_id, utc};
use session::{Shared, State, Track};

/// How long the target keeps the lock after the last renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a launch waits for an earlier activation of the same node.
const NODE_WAIT: Duration = Duration::from_secs(60);
/// How many times a dropped session is reopened, with doubling waits from
/// [`REOPEN_BACKOFF`] (about 8 s in all, on top of ssh's own timeouts).
const REOPEN_TRIES: u32 = 6;
const REOPEN_BACKOFF: Duration = Duration::from_millis(250);

/// The agent session of one run on one target, which holds the target's
/// deploy lock while it lives: every launch and wait of the run's jobs goes
/// through it. Dropping it releases the lock.
pub struct AgentSession {
    shared: Arc<Shared>,
    heartbeat: Option<JoinHandle<()>>,
    /// Set when the previous holder ended without releasing the lock, or its
    /// lease had run out: who it was.
    pub took_over: Option<String>,
}

/// How a node's job ended, or that it awaits confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobStatus {
    /// Switched and checked; awaits confirmation.
    Switched,
    /// A final status, with the job log's tail when not ok.
    Done { status: FinalStatus, log: Vec<String> },
}

impl AgentSession {
    /// Takes the lock on `target` for a run of its own, with the standard kinds,
    /// or fails at once with a message naming the current holder and its run.
    pub fn acquire(target: &Target) -> Result<AgentSession, CommandError> {
        AgentSession::acquire_for(target, &new_run_id(), &Kinds::standard(), crate::DEFAULT_ANSWER)
    }

    /// Takes the lock on `target` for run `run`, whose jobs use `kinds`; an
    /// agent that has not said it holds the lock within `answer_within` is given up.
    pub(crate) fn acquire_for(
        target: &Target,
        run: &str,
        kinds: &Kinds,
        answer_within: Duration,
    ) -> Result<AgentSession, CommandError> {
        let shared = Arc::new(Shared {
            target: target.clone(),
            run: run.to_string(),
            holder: holder(),
            kinds: kinds.scripts(),
            answer_within,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let took_over = Shared::open(&shared)?.previous_holder();
        let beating = Arc::clone(&shared);
        let heartbeat = std::thread::spawn(move || beating.heartbeat());
        Ok(AgentSession { shared, heartbeat: Some(heartbeat), took_over })
    }

    /// The run this lock belongs to.
    pub fn run(&self) -> &str {
        &self.shared.run
    }

    /// Launches a job through the agent, with its spec (see
    /// [`crate::protocol::job_spec`]).
    pub(crate) fn launch(&self, node: &str, spec: SpecLines) -> Result<(), CommandError> {
        let shared = &self.shared;
        let stream = shared.live_stream()?;
        {
            let mut state = shared.lock();
            state.nodes.insert(node.to_string(), Track { spec: spec.clone(), ..Track::default() });
        }
        // A failed write means the session dropped: waiting re-attaches.
        let _ = shared.send(&stream, &Request::Launch { node, spec: &spec });
        Ok(())
    }

    /// Waits until `node`'s job reports a final status or, with
    /// `until_switched`, that it switched and awaits confirmation; at most
    /// `bound`. Reopens the session whenever it drops.
    pub(crate) fn wait(
        &self,
        node: &str,
        until_switched: bool,
        bound: Duration,
    ) -> Result<JobStatus, CommandError> {
        let shared = &self.shared;
        let deadline = Instant::now() + bound;
        let mut state = shared.lock();
        loop {
            // Waiting for a job, itself bounded, is progress of the run.
            state.last_progress = Some(Instant::now());
            if let Some(lost) = &state.lost {
                return Err(lost.clone());
            }
            let track = state.nodes.get(node).cloned().unwrap_or_default();
            if let Some(status) = track.done {
                return Ok(JobStatus::Done { status, log: track.log });
            }
            if until_switched && track.statuses.contains(&Progress::Switched) {
                return Ok(JobStatus::Switched);
            }
            if let Some(why) = track.launch_failed {
                return Err(shared.error(format!("launch the activation of {node}: {why}")));
            }
            if track.gone {
                // The new agent found no job of this run for the node: it was
                // never started (the launch was lost with the session).
                if track.launched {
                    return Err(shared.error(format!(
                        "{node}'s job of run {} is no longer recorded on the target; see {}/jobs/{node}.log",
                        shared.run,
                        job::STATE_DIR
                    )));
                }
                drop(state);
                self.launch(node, track.spec)?;
                state = shared.lock();
                continue;
            }
            if Instant::now() >= deadline {
                return Err(shared.error(format!(
                    "{node}'s job reported no final status within {}s; it may still run: see {}/jobs/{node}.status",
                    bound.as_secs(),
                    job::STATE_DIR
                )));
            }
            if state.live.is_none() && !state.reopening && !state.stopping {
                drop(state);
                // Reopening re-takes the lock and asks for every job's status.
                shared.live_stream()?;
                state = shared.lock();
                continue;
            }
            state = shared
                .changed
                .wait_timeout(state, Duration::from_millis(500))
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// What the agents said on their own (a released lease, a re-taken lock).
    pub(crate) fn notes(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.lock().notes)
    }
}

impl Drop for AgentSession {
    fn drop(&mut self) {
        let stream = {
            let mut state = self.shared.lock();
            state.stopping = true;
            state.live.take()
        };
        self.shared.changed.notify_all();
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
        if let Some(stream) = stream {
            let _ = self.shared.send(&stream, &Request::Release);
        }
    }
}
