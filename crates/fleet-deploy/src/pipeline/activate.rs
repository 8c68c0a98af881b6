//! Activating nodes: each as soon as the nodes it depends on have finished,
//! through its activation job on the target, confirmed when its kind asks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fleet_graph::Node;
use fleet_nix::{CommandError, Failure, Target};

use super::{finish, retrying, Plan, States};
use crate::checks;
use crate::job::{self, JobSpec};
use crate::lock::{DeployLock, JobStatus};
use crate::{Event, Goal, NodeError, Outcome, Sink, Stage};

impl Plan<'_> {
    /// Activates every pending node as soon as each selected node it depends on
    /// has finished: nodes of different hosts, and independent nodes of one
    /// host, run at once. A node whose dependency did not succeed is skipped.
    pub(super) fn activate_all(
        &self,
        states: &mut States<'_>,
        targets: &BTreeMap<String, Target>,
        locks: &HashMap<&str, &DeployLock>,
        sink: &dyn Sink,
    ) {
        let names = self.selection.names();
        let waits: HashMap<&str, Vec<&str>> = names
            .iter()
            .map(|n| (n.as_str(), self.fleet.selected_dependencies(&self.selection, n)))
            .collect();
        let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (node, deps) in &waits {
            for dep in deps {
                dependents.entry(dep).or_default().push(node);
            }
        }
        let schedule = Schedule {
            states: Mutex::new(std::mem::take(states)),
            remaining: Mutex::new(waits.iter().map(|(n, deps)| (*n, deps.len())).collect()),
            dependents,
            targets,
            locks,
            sink,
        };
        // Each host's activations share one SSH connection, and sshd serves at
        // most ten sessions per connection (MaxSessions): the lock holds one.
        let threads = self.jobs.min(ACTIVATIONS_PER_HOST) * targets.len().max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool of a few threads can be built");
        pool.scope(|scope| {
            for name in names.iter().filter(|n| waits[n.as_str()].is_empty()) {
                self.schedule(scope, &schedule, name);
            }
        });
        *states = schedule.states.into_inner().unwrap_or_else(|p| p.into_inner());
    }

    /// Activates `name` on a pool thread, then schedules each dependent whose
    /// last dependency this was.
    fn schedule<'s, 'd: 's>(
        &'s self,
        scope: &rayon::Scope<'s>,
        schedule: &'s Schedule<'d, '_>,
        name: &'d str,
    ) {
        scope.spawn(move |scope| {
            let started = Instant::now();
            let outcome = self.activate(self.fleet.node(name).expect("selected nodes exist"), schedule);
            if let Some(outcome) = outcome {
                let mut states = schedule.states.lock().unwrap_or_else(|p| p.into_inner());
                let state = states.get_mut(name).expect("every selected node has a state");
                state.elapsed += started.elapsed();
                finish(schedule.sink, name, state, outcome);
            }
            let ready: Vec<&str> = {
                let mut remaining = schedule.remaining.lock().unwrap_or_else(|p| p.into_inner());
                schedule
                    .dependents
                    .get(name)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|dependent| {
                        let left = remaining.get_mut(dependent).expect("every node has a count");
                        *left -= 1;
                        *left == 0
                    })
                    .collect()
            };
            for dependent in ready {
                self.schedule(scope, schedule, dependent);
            }
        });
    }

    /// Runs the activation job for `node`, whose dependencies have finished, and
    /// confirms it over a new connection when its kind asks. `None` when the
    /// node had already finished (a failed build, probe or push).
    fn activate(&self, node: &Node, schedule: &Schedule<'_, '_>) -> Option<Outcome> {
        let name = node.name.as_str();
        let new = {
            let states = schedule.states.lock().unwrap_or_else(|p| p.into_inner());
            if states[name].outcome.is_some() {
                return None;
            }
            let blocker = self
                .fleet
                .selected_dependencies(&self.selection, name)
                .into_iter()
                .find(|dep| !states[dep].outcome.as_ref().is_some_and(Outcome::is_success));
            if let Some(dep) = blocker {
                let why = states[dep].outcome.as_ref().map_or("did not finish", Outcome::label);
                return Some(Outcome::Skipped(format!("dependency `{dep}` {why}")));
            }
            if states[name].is_current() {
                return Some(Outcome::Unchanged);
            }
            (states[name].new.clone().expect("pending nodes are built"), states[name].switch_generation)
        };
        let (new, generation) = new;
        let new = new.as_str();
        let sink = schedule.sink;
        sink.event(Event::Stage { node: name, stage: Stage::Activate });
        let host = self.fleet.host_of(name).expect("validated nodes have hosts");
        let target = &schedule.targets[&host.name];
        let Some(lock) = schedule.locks.get(host.name.as_str()) else {
            let error = CommandError {
                command: format!("activate {name}"),
                failure: Failure::Output("the deploy lock of its host is not held".into()),
            };
            return Some(Outcome::Failed(NodeError::new(name, Stage::Activate, error)));
        };
        let kind = self.kinds.of(node);
        let confirm_seconds = match (self.confirm, target) {
            (Some(timeout), Target::Ssh(_))
                if kind.needs_confirmation() && self.goal.changes_running_system() =>
            {
                timeout.as_secs().max(1)
            }
            _ => 0,
        };
        let spec = JobSpec {
            node: name,
            kind: kind.name(),
            profile: kind.profile(node),
            new,
            confirm_seconds,
            check_seconds: checks::check_seconds(node).expect("checks are validated"),
            switch_seconds: self.switch_seconds,
            goal: self.goal,
            generation,
            checks: checks::check_commands(kind, node).expect("checks are validated"),
        };
        // The job is bounded on the target: two switches (there and back), the
        // checks, the confirmation and the wait for an earlier job; the wait
        // here is bounded by that and a margin.
        let bound =
            Duration::from_secs(2 * spec.switch_seconds + spec.check_seconds + confirm_seconds + 60 + 60);
        let failed = |stage: Stage, error: CommandError| Outcome::Failed(NodeError::new(name, stage, error));
        if let Err(error) = lock.launch(name, spec.args()) {
            return Some(failed(Stage::Activate, error));
        }
        let outcome = match lock.wait(name, confirm_seconds > 0, bound) {
            Err(error) => failed(Stage::Activate, error),
            Ok(JobStatus::Done { status, log }) => job_outcome(name, lock, status, log, self.goal),
            Ok(JobStatus::Switched) => {
                sink.event(Event::Stage { node: name, stage: Stage::Confirm });
                // A new connection, not the shared one: confirming proves that
                // the switched host still accepts connections.
                let fresh = target.fresh();
                let confirmed =
                    retrying(&host.name, Stage::Confirm, sink, || fresh.run(&job::confirm(name, lock.run())));
                // Either way, the job's own final status says what happened.
                match (confirmed, lock.wait(name, false, bound)) {
                    (Ok(_), Ok(JobStatus::Done { status, log })) => job_outcome(name, lock, status, log, self.goal),
                    (Err((error, tries)), Ok(JobStatus::Done { status, .. })) if status.starts_with("rolled back") => {
                        let why = format!(
                            "{}\nthe target was not confirmed, and it rolled back by itself: {status}",
                            error.stderr_tail()
                        );
                        Outcome::RolledBack(NodeError {
                            node: name.to_string(),
                            stage: Stage::Confirm,
                            error: CommandError { failure: Failure::Output(why), ..error },
                            tries,
                        })
                    }
                    (_, Ok(JobStatus::Done { status, log })) => job_outcome(name, lock, status, log, self.goal),
                    (Ok(_), Ok(JobStatus::Switched)) | (Ok(_), Err(_)) => failed(
                        Stage::Confirm,
                        lock_error(lock, name, "was confirmed, but its job's final status could not be read"),
                    ),
                    (Err((error, tries)), _) => Outcome::Failed(NodeError {
                        node: name.to_string(),
                        stage: Stage::Confirm,
                        error: CommandError {
                            failure: Failure::Output(format!(
                                "{error}\nthe target keeps {new} only if confirmed: unconfirmed, it rolls back \
                                 by itself {confirm_seconds}s after it switched (its status could not be read since)"
                            )),
                            ..error
                        },
                        tries,
                    }),
                }
            }
        };
        Some(outcome)
    }
}

/// The outcome a job's final status means, for a job of `goal`.
fn job_outcome(name: &str, lock: &DeployLock, status: String, log: Vec<String>, goal: Goal) -> Outcome {
    if status == "ok" {
        return match goal {
            Goal::Switch => Outcome::Activated,
            other => Outcome::Reached(other),
        };
    }
    let rolled_back = status.starts_with("rolled back");
    let tail = std::iter::once(status).chain(log).collect::<Vec<_>>().join("\n");
    let error = NodeError::new(
        name,
        Stage::Activate,
        CommandError {
            command: format!("activation job of {name} (run {})", lock.run()),
            failure: Failure::Exit { code: Some(1), stderr_tail: tail },
        },
    );
    if rolled_back {
        Outcome::RolledBack(error)
    } else {
        Outcome::Failed(error)
    }
}

fn lock_error(lock: &DeployLock, name: &str, what: &str) -> CommandError {
    CommandError {
        command: format!("activation job of {name} (run {})", lock.run()),
        failure: Failure::Output(format!("{name} {what}; see {}/jobs/{name}.status", crate::STATE_DIR)),
    }
}

/// What the activation scheduler's tasks share.
struct Schedule<'s, 'n> {
    states: Mutex<States<'n>>,
    /// Per node, how many of its dependencies have not finished.
    remaining: Mutex<HashMap<&'s str, usize>>,
    dependents: HashMap<&'s str, Vec<&'s str>>,
    targets: &'s BTreeMap<String, Target>,
    locks: &'s HashMap<&'s str, &'s DeployLock>,
    sink: &'s dyn Sink,
}

/// How many activations run at once on one host (see `activate_all`).
const ACTIVATIONS_PER_HOST: usize = 8;
