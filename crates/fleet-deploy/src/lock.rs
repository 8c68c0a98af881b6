//! The deploy lock, held by one agent session per host per run.
//!
//! [`DeployLock`] starts `agent.sh` on the target over one SSH session. The
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

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fleet_nix::{CommandError, Failure, Stream, Target};

use crate::job;
use crate::Kinds;

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

/// A held deploy lock: the agent session of one run on one target. Dropping
/// it releases the lock.
pub struct DeployLock {
    shared: Arc<Shared>,
    heartbeat: Option<JoinHandle<()>>,
    /// Set when the previous holder ended without releasing the lock, or its
    /// lease had run out: who it was.
    pub took_over: Option<String>,
}

/// What the session's threads share.
struct Shared {
    target: Target,
    run: String,
    holder: String,
    kinds: Vec<(&'static str, &'static str)>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The current agent, while its session is open.
    live: Option<Arc<Stream>>,
    /// Counts agents opened, so a reader thread knows whether it is current.
    generation: u64,
    /// Another thread is reopening the session.
    reopening: bool,
    /// Why the session cannot be reopened (another run holds the lock, or the
    /// target stayed unreachable); every later launch and wait fails with it.
    lost: Option<CommandError>,
    stopping: bool,
    nodes: HashMap<String, Track>,
    /// The agent's own reports (`bye ...`, re-takes), newest last.
    notes: Vec<String>,
}

/// What the agents reported about one node's job of this run.
#[derive(Default, Clone)]
struct Track {
    /// The `launch` arguments, to launch again if the job never started.
    args: Vec<String>,
    launched: bool,
    gone: bool,
    launch_failed: Option<String>,
    statuses: Vec<String>,
    log: Vec<String>,
    done: Option<String>,
}

/// How a node's job ended, or that it awaits confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobStatus {
    /// Switched and checked; awaits confirmation.
    Switched,
    /// A final status: `ok`, `rolled back: ...`, `failed: ...`, `refused: ...`,
    /// with the job log's tail when not ok.
    Done { status: String, log: Vec<String> },
}

impl DeployLock {
    /// Takes the lock on `target` for a run of its own, with the standard kinds,
    /// or fails at once with a message naming the current holder and its run.
    pub fn acquire(target: &Target) -> Result<DeployLock, CommandError> {
        DeployLock::acquire_for(target, &new_run_id(), &Kinds::standard())
    }

    /// Takes the lock on `target` for run `run`, whose jobs use `kinds`.
    pub(crate) fn acquire_for(target: &Target, run: &str, kinds: &Kinds) -> Result<DeployLock, CommandError> {
        let shared = Arc::new(Shared {
            target: target.clone(),
            run: run.to_string(),
            holder: holder(),
            kinds: kinds.scripts(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let note = Shared::open(&shared)?;
        let took_over =
            note.strip_prefix("took-over ").or_else(|| note.strip_prefix("expired ")).map(|who| {
                match note.starts_with("expired") {
                    true => format!("{who}, whose lease had run out"),
                    false => format!("{who}, which had ended without releasing it"),
                }
            });
        let beating = Arc::clone(&shared);
        let heartbeat = std::thread::spawn(move || beating.heartbeat());
        Ok(DeployLock { shared, heartbeat: Some(heartbeat), took_over })
    }

    /// The run this lock belongs to.
    pub fn run(&self) -> &str {
        &self.shared.run
    }

    /// Launches a job through the agent (see [`job::JobSpec::args`]).
    pub(crate) fn launch(&self, node: &str, args: Vec<String>) -> Result<(), CommandError> {
        let shared = &self.shared;
        // The agent reads one argument per line: a line break inside one would
        // shift every argument after it.
        if let Some(bad) = args.iter().find(|a| a.chars().any(char::is_control)) {
            return Err(shared.error(format!(
                "refused to launch {node}: the job argument {} holds a control character",
                bad.escape_debug()
            )));
        }
        let stream = shared.live_stream()?;
        {
            let mut state = shared.lock();
            state.nodes.insert(node.to_string(), Track { args: args.clone(), ..Track::default() });
        }
        let header = format!("launch {}", args.len());
        let lines: Vec<&str> =
            std::iter::once(header.as_str()).chain(args.iter().map(String::as_str)).collect();
        // A failed write means the session dropped: waiting re-attaches.
        let _ = stream.send(&lines);
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
            if let Some(lost) = &state.lost {
                return Err(lost.clone());
            }
            let track = state.nodes.get(node).cloned().unwrap_or_default();
            if let Some(status) = track.done {
                return Ok(JobStatus::Done { status, log: track.log });
            }
            if until_switched && track.statuses.iter().any(|s| s == "switched") {
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
                self.launch(node, track.args)?;
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

impl Drop for DeployLock {
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
            let _ = stream.send(&["release"]);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, message: String) -> CommandError {
        CommandError {
            command: format!("on {}: the deploy agent of run {}", self.target, self.run),
            failure: Failure::Output(message),
        }
    }

    /// Starts an agent, waits for it to hold the lock and starts reading its
    /// reports; returns its note (`took-over ...`, `re-took`, or empty).
    fn open(shared: &Arc<Shared>) -> Result<String, CommandError> {
        let script =
            job::agent(&shared.run, &shared.holder, LEASE.as_secs(), NODE_WAIT.as_secs(), &shared.kinds);
        let (stream, lines) = shared.target.open(&script)?;
        let first = match lines.recv() {
            Ok(line) => line,
            Err(_) => return Err(stream.ended()),
        };
        let Some(note) = first.strip_prefix("locked") else {
            return Err(shared.error(format!("the agent answered `{first}` instead of `locked`")));
        };
        let stream = Arc::new(stream);
        let generation = {
            let mut state = shared.lock();
            state.generation += 1;
            state.live = Some(Arc::clone(&stream));
            state.generation
        };
        let reader = Arc::clone(shared);
        std::thread::spawn(move || reader.read(lines, generation));
        Ok(note.trim().to_string())
    }

    /// The current agent's stream, reopening the session (re-taking the lock
    /// and re-attaching to launched jobs) when it has dropped.
    fn live_stream(self: &Arc<Self>) -> Result<Arc<Stream>, CommandError> {
        let mut state = self.lock();
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
                Ok(note) => break Ok(note),
                Err(error) if error.is_connection_failure() && attempt < REOPEN_TRIES => {
                    std::thread::sleep(REOPEN_BACKOFF * 2u32.pow(attempt - 1));
                    attempt += 1;
                }
                Err(error) => break Err(error),
            }
        };
        let mut state = self.lock();
        state.reopening = false;
        let result = match reopened {
            Ok(note) => {
                state.notes.push(format!(
                    "the session to {} dropped; a new one {} the deploy lock for run {} and re-attached",
                    self.target,
                    if note == "re-took" { "took back" } else { "took" },
                    self.run
                ));
                let stream = state.live.clone().expect("just opened");
                let watched: Vec<String> = state
                    .nodes
                    .iter()
                    .filter(|(_, t)| t.done.is_none())
                    .map(|(n, _)| format!("watch {n}"))
                    .collect();
                let lines: Vec<&str> = watched.iter().map(String::as_str).collect();
                let _ = stream.send(&lines);
                Ok(stream)
            }
            Err(error) => {
                let error = CommandError {
                    failure: Failure::Output(format!(
                        "the session that held the deploy lock dropped, and the lock could not be taken again, \
                         so nothing more was launched: {}",
                        match &error.failure {
                            Failure::Exit { stderr_tail, .. } => stderr_tail.clone(),
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
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let (node, text) = rest.split_once(' ').unwrap_or((rest, ""));
            match word {
                "launched" => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launched = true;
                        t.gone = false;
                    }
                }
                "gone" => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.gone = true;
                    }
                }
                "failed" => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launch_failed = Some(text.to_string());
                    }
                }
                "log" => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.log.push(text.to_string());
                    }
                }
                "status" => {
                    if let Some(t) = state.nodes.get_mut(node) {
                        t.launched = true;
                        match text {
                            "started" | "switched" => t.statuses.push(text.to_string()),
                            _ => t.done = Some(text.to_string()),
                        }
                    }
                }
                "bye" => state.notes.push(format!("the agent on {} ended: {rest}", self.target)),
                _ => {}
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
    fn heartbeat(&self) {
        let mut state = self.lock();
        while !state.stopping {
            if let Some(stream) = state.live.clone() {
                drop(state);
                let _ = stream.send(&["renew"]);
                state = self.lock();
            }
            state = self
                .changed
                .wait_timeout(state, RENEW_EVERY)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// A run id: the time, this process and a random part; letters, digits, `-`.
pub(crate) fn new_run_id() -> String {
    let mut bytes = [0u8; 4];
    let _ =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{secs}-{}-{random}", std::process::id())
}

/// Who is deploying: `user@machine (pid N) since DATE`.
fn holder() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let holder = format!("{user}@{machine} (pid {}) since {}", std::process::id(), utc_now());
    // It is one line of the lease record.
    holder.replace(|c: char| c.is_control(), " ")
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_words_and_differ() {
        let (a, b) = (new_run_id(), new_run_id());
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'), "{a}");
        let now = utc_now();
        assert!(now.len() == 20 && now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
