//! The agent session behind a [`AgentSession`](super::AgentSession): opening an
//! agent, reopening it when the session drops, reading its reports and
//! renewing the lease.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fleet_nix::{CommandError, Failure, Stream, Target};

use super::{LEASE, NODE_WAIT, RENEW_EVERY, REOPEN_BACKOFF, REOPEN_TRIES};
use crate::job;
use crate::protocol::{self, FinalStatus, Locked, Progress, Report, Request, SpecLines, Taking};

/// What the session's threads share.
pub(super) struct Shared {
    pub(super) target: Target,
    pub(super) run: String,
    pub(super) holder: String,
    pub(super) kinds: Vec<(&'static str, &'static str)>,
    /// How long a new agent may take to say it holds the lock.
    pub(super) answer_within: Duration,
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
}

#[derive(Default)]
pub(super) struct State {
    /// The current agent, while its session is open.
    pub(super) live: Option<Arc<Stream>>,
    /// Counts agents opened, so a reader thread knows whether it is current.
    pub(super) generation: u64,
    /// Another thread is reopening the session.
    pub(super) reopening: bool,
    /// Why the session cannot be reopened (another run holds the lock, or the
    /// target stayed unreachable); every later launch and wait fails with it.
    pub(super) lost: Option<CommandError>,
    pub(super) stopping: bool,
    pub(super) nodes: HashMap<String, Track>,
    /// The agent's own reports (`bye ...`, re-takes), newest last.
    pub(super) notes: Vec<String>,
    /// The epoch since which this run holds the lock without a break, as
    /// its first agent said.
    pub(super) since: Option<u64>,
    /// When the run last did something with this host: an agent opened, a
    /// line from it, a launch. `None` before the first agent.
    pub(super) last_progress: Option<Instant>,
}

/// How long the heartbeat keeps renewing the lease while the run does
/// nothing with the host: past it the lease runs out (the agent releases the
/// lock within [`super::LEASE`]), so a deployer wedged in some other step
/// cannot hold a target for ever; a run that goes on re-takes the lock when it
/// next launches, as after a dropped session. Longer than any one step of a
/// run: a copy of a large closure, a switch and its rollback.
const IDLE_RENEWAL: Duration = Duration::from_secs(30 * 60);

/// Whether the lease is still renewed, given when the run last made progress.
fn keeps_renewing(last_progress: Option<Instant>, now: Instant, bound: Duration) -> bool {
    last_progress.is_none_or(|at| now.saturating_duration_since(at) <= bound)
}

/// What the agents reported about one node's job of this run.
#[derive(Default, Clone)]
pub(super) struct Track {
    /// The job's spec, to launch again if the job never started.
    pub(super) spec: SpecLines,
    pub(super) launched: bool,
    pub(super) gone: bool,
    pub(super) launch_failed: Option<String>,
    pub(super) statuses: Vec<Progress>,
    /// The job's log lines, at most [`LOG_LINES`] of them, the newest.
    pub(super) log: Vec<String>,
    /// How many older ones were dropped (said by the first line kept).
    pub(super) log_dropped: u64,
    pub(super) done: Option<FinalStatus>,
}

/// The most lines of one job's log the deployer keeps; the agent sends a
/// tail, but what a target sends is never trusted to be small.
const LOG_LINES: usize = 100;

/// Adds `line` to `log`, dropping the oldest past [`LOG_LINES`]; once lines
/// were dropped, the first says how many.
fn keep_log_line(log: &mut Vec<String>, dropped: &mut u64, line: &str) {
    log.push(line.to_string());
    if log.len() <= LOG_LINES {
        return;
    }
    // The first place holds the count once lines were dropped; the first
    // time, the oldest line kept gives way to it too.
    let first_line = usize::from(*dropped > 0);
    log.remove(first_line);
    *dropped += 1 + u64::from(first_line == 0);
    log[0] = format!("... {dropped} earlier lines of the log not kept", dropped = *dropped);
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn error(&self, message: String) -> CommandError {
        CommandError {
            command: format!("on {}: the deploy agent of run {}", self.target, self.run),
            failure: Failure::Output(message),
        }
    }

    /// Sends `request` to the agent on `stream`.
    pub(super) fn send(&self, stream: &Stream, request: &Request<'_>) -> Result<(), CommandError> {
        let lines = request.lines();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        stream.send(&lines)
    }

    /// Starts an agent, waits for it to hold the lock and starts reading its
    /// reports; returns what it said of the lock it took. An agent that
    /// finds that another run held the lock since this run's first one took
    /// it is stopped at once: this run is fenced.
    pub(super) fn open(shared: &Arc<Shared>) -> Result<Locked, CommandError> {
        let script =
            job::agent(&shared.run, &shared.holder, LEASE.as_secs(), NODE_WAIT.as_secs(), &shared.kinds);
        let (stream, lines) = shared.target.open(&script)?;
        let first = match lines.recv_timeout(shared.answer_within) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => {
                let ended = stream.ended();
                // Without a word on stderr, the agent did not refuse: its
                // session was cut before it said anything.
                return Err(match ended.stderr_tail() {
                    "" => CommandError {
                        failure: Failure::Disconnected(
                            "the session ended before the agent said it holds the lock".into(),
                        ),
                        ..ended
                    },
                    _ => ended,
                });
            }
            // Dropping the stream ends the session.
            Err(RecvTimeoutError::Timeout) => {
                return Err(CommandError {
                    command: format!("on {}: the deploy agent of run {}", shared.target, shared.run),
                    failure: Failure::TimedOut {
                        step: Locked::AWAITED.into(),
                        seconds: shared.answer_within.as_secs(),
                    },
                })
            }
        };
        let locked = Locked::parse(&first).map_err(|why| shared.error(why))?;
        let stream = Arc::new(stream);
        let generation = {
            let mut state = shared.lock();
            match state.since {
                Some(since) if since != locked.since => {
                    let _ = shared.send(&stream, &Request::Release);
                    return Err(shared.error(format!(
                        "fenced: another run held the deploy lock while this run's session was down (this run \
                         held it since epoch {since}, the lock is at epoch {} now), so nothing more was launched",
                        locked.epoch
                    )));
                }
                _ => state.since = Some(locked.since),
            }
            state.generation += 1;
            state.last_progress = Some(Instant::now());
            state.live = Some(Arc::clone(&stream));
            state.generation
        };
        let reader = Arc::clone(shared);
        std::thread::spawn(move || reader.read(lines, generation));
        Ok(locked)
    }

    /// The current agent's stream, reopening the session (re-taking the lock
    /// and re-attaching to launched jobs) when it has dropped.
    pub(super) fn live_stream(self: &Arc<Self>) -> Result<Arc<Stream>, CommandError> {
        let mut state = self.lock();
        state.last_progress = Some(Instant::now());
        loop {
            if let Some(lost) = &state.lost {
                return Err(lost.clone());
            }
            if let Some(stream) = &state.live {
                return Ok(Arc::clone(stream));
            }
            if !state.reopening {
                break;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.reopening = true;
        drop(state);
        let mut attempt = 1;
        let reopened = loop {
            match Shared::open(self) {
                Ok(locked) => break Ok(locked),
                // A refusal is final, whatever its text (the holder line is
                // free text) may look like.
                Err(error)
                    if !protocol::is_locked(&error)
                        && error.is_connection_failure()
                        && attempt < REOPEN_TRIES =>
                {
                    std::thread::sleep(REOPEN_BACKOFF * 2u32.pow(attempt - 1));
                    attempt += 1;
                }
                Err(error) => break Err(error),
            }
        };
        let mut state = self.lock();
        state.reopening = false;
        let result = match reopened {
            Ok(locked) => {
                state.notes.push(format!(
                    "the session to {} dropped; a new one {} the deploy lock for run {} and re-attached",
                    self.target,
                    if locked.how == Taking::ReTook { "took back" } else { "took" },
                    self.run
                ));
                let stream = state.live.clone().expect("just opened");
                for (node, _) in state.nodes.iter().filter(|(_, t)| t.done.is_none()) {
                    let _ = self.send(&stream, &Request::Watch(node));
                }
                Ok(stream)
            }
            Err(error) => {
                let error = CommandError {
                    failure: Failure::Output(format!(
                        "the session that held the deploy lock dropped, and the lock could not be taken again, \
                         so nothing more was launched: {}",
                        match &error.failure {
                            Failure::Exit { stderr_tail, .. } => stderr_tail.clone(),
                            Failure::Disconnected(how) => how.clone(),
                            other => format!("{other:?}"),
                        }
                    )),
                    ..error
                };
                state.lost = Some(error.clone());
                Err(error)
            }
        };
        self.changed.notify_all();
        result
    }

    /// Applies the agent's reports until its session ends.
    fn read(&self, lines: Receiver<String>, generation: u64) {
        for line in lines.iter() {
            let mut state = self.lock();
            state.last_progress = Some(Instant::now());
            let report = match Report::parse(&line) {
                Ok(report) => report,
                Err(why) => {
                    // A drift between this deployer and the agent: said at
                    // once, to every wait, rather than a wait for a status
                    // that never comes.
                    state.lost.get_or_insert(self.error(why));
                    drop(state);
                    self.changed.notify_all();
                    continue;
                }
            };
            match report {
                Report::Launched(node) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launched = true;
                        t.gone = false;
                    }
                }
                Report::Gone(node) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.gone = true;
                    }
                }
                Report::LaunchFailed(node, why) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launch_failed = Some(why.to_string());
                    }
                }
                Report::Log(node, text) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        keep_log_line(&mut t.log, &mut t.log_dropped, text);
                    }
                }
                Report::Progress(node, progress) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launched = true;
                        t.statuses.push(progress);
                    }
                }
                Report::Done(node, status) => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launched = true;
                        t.done = Some(status);
                    }
                }
                Report::Bye(why) => state.notes.push(format!("the agent on {} ended: {why}", self.target)),
            }
            drop(state);
            self.changed.notify_all();
        }
        let mut state = self.lock();
        if state.generation == generation {
            state.live = None;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Renews the lease until the lock is dropped.
    pub(super) fn heartbeat(&self) {
        let mut state = self.lock();
        while !state.stopping {
            let renewing = keeps_renewing(state.last_progress, Instant::now(), IDLE_RENEWAL);
            if let Some(stream) = state.live.clone().filter(|_| renewing) {
                drop(state);
                let _ = self.send(&stream, &Request::Renew);
                state = self.lock();
                // A drop while the renew was sent notified no one: without
                // this look, the release waited for the next renewal (up to
                // a second at the end of every run).
                if state.stopping {
                    break;
                }
            }
            state = self
                .changed
                .wait_timeout(state, RENEW_EVERY)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_agent_line_is_an_error_that_names_it() {
        let shared = Shared {
            target: Target::Local,
            run: "r1".into(),
            holder: "me".into(),
            kinds: Vec::new(),
            answer_within: Duration::from_secs(1),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        };
        shared.lock().nodes.insert("web".into(), Track::default());
        let (lines, received) = std::sync::mpsc::channel();
        for line in ["launched web", "stauts web ok", "status web ok"] {
            lines.send(line.to_string()).unwrap();
        }
        drop(lines);
        shared.read(received, 0);
        let state = shared.lock();
        let lost = state.lost.as_ref().expect("the drift is an error");
        assert!(lost
            .to_string()
            .contains("the agent sent `stauts web ok`, a line this deployer does not know"));
        assert!(state.nodes["web"].launched, "the lines around it still count");
    }

    #[test]
    fn the_lease_is_renewed_only_while_the_run_makes_progress() {
        let (start, bound) = (Instant::now(), Duration::from_secs(60));
        assert!(keeps_renewing(None, start, bound), "before the first agent");
        assert!(keeps_renewing(Some(start), start + bound, bound));
        assert!(!keeps_renewing(Some(start), start + bound + Duration::from_secs(1), bound));
    }

    #[test]
    fn a_job_log_keeps_its_newest_lines_and_counts_the_rest() {
        let (mut log, mut dropped) = (Vec::new(), 0);
        for i in 0..LOG_LINES {
            keep_log_line(&mut log, &mut dropped, &format!("line {i}"));
        }
        assert_eq!((log.len(), dropped, log[0].as_str()), (LOG_LINES, 0, "line 0"));
        for i in LOG_LINES..1000 {
            keep_log_line(&mut log, &mut dropped, &format!("line {i}"));
        }
        assert_eq!(log.len(), LOG_LINES);
        assert_eq!(log[0], "... 901 earlier lines of the log not kept");
        assert_eq!((log[1].as_str(), log[LOG_LINES - 1].as_str()), ("line 901", "line 999"));
    }
}
