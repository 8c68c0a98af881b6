//! Activating one node through its activation job on the target, confirmed
//! over a new connection when its kind asks; and, after a host's switch, the
//! containers whose host-side unit it changed.

use std::time::Duration;

use fleet_graph::Node;
use fleet_nix::{CommandError, Failure, RemoteScript, Target};

use super::host::retrying;
use super::Plan;
use crate::checks;
use crate::job::{self, JobSpec, Verb};
use crate::lock::{AgentSession, JobStatus};
use crate::protocol::FinalStatus;
use crate::{Cause, Event, Goal, NodeError, Outcome, Sink, Stage};

/// `$1` old system, `$2` new system, then container names: prints those whose
/// unit or `.conf` differs between the two.
const UNITS: &str = concat!(include_str!("../sh/unit-record.sh"), include_str!("../sh/units.sh"));

impl Plan<'_> {
    /// Runs the activation job that moves `node` to `new` on `target` (with
    /// `verb`: switched in place, or restarted; for the run's goal; a
    /// rollback's to `generation`), under `lock`, if its profile still points
    /// at `expect`, what the run probed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn activate(
        &self,
        node: &Node,
        new: &str,
        expect: Option<&str>,
        verb: Verb,
        generation: Option<u32>,
        target: &Target,
        lock: &AgentSession,
        sink: &dyn Sink,
    ) -> Outcome {
        let name = node.name.as_str();
        let host = self.fleet.host_of(name).expect("validated nodes have hosts");
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
            kind: kind.name(),
            profile: kind.profile(node),
            new,
            expect,
            verb,
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
        let launched = crate::protocol::job_spec(&spec)
            .map_err(|bad| {
                lock_error(
                    lock,
                    name,
                    &format!("was not launched: its job's spec would hold a line break ({bad})"),
                )
            })
            .and_then(|spec| lock.launch(name, spec));
        if let Err(error) = launched {
            return failed(Stage::Activate, error);
        }
        match lock.wait(name, confirm_seconds > 0, bound) {
            Err(error) => failed(Stage::Activate, error),
            Ok(JobStatus::Done { status, log }) => job_outcome(name, lock, status, log, self.goal),
            Ok(JobStatus::Switched) => {
                sink.event(Event::Stage { node: name, stage: Stage::Confirm });
                // A new connection, not the shared one: confirming proves that
                // the switched host still accepts connections.
                let fresh = target.fresh();
                let confirmed = retrying(&host.name, Stage::Confirm, sink, || {
                    fresh.run_within(&job::confirm(name, lock.run()), "the confirmation", self.answer_within)
                });
                // Either way, the job's own final status says what happened.
                match (confirmed, lock.wait(name, false, bound)) {
                    (Ok(_), Ok(JobStatus::Done { status, log })) => job_outcome(name, lock, status, log, self.goal),
                    (Err((error, tries)), Ok(JobStatus::Done { status, .. })) if status.rolled_back() => {
                        let why = format!(
                            "{}\nthe target was not confirmed, and it rolled back by itself: {status}",
                            error.stderr_tail()
                        );
                        Outcome::RolledBack(NodeError {
                            node: name.to_string(),
                            stage: Stage::Confirm,
                            error: CommandError { failure: Failure::Output(why), ..error }.into(),
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
                        }
                        .into(),
                        tries,
                    }),
                }
            }
        }
    }

    /// The containers among `containers` whose host-side unit
    /// (`container@NAME.service`) or `nixos-containers/NAME.conf` differs
    /// between the host systems `old` and `new`: the host's switch leaves
    /// them running on their old unit (`restartIfChanged = false`), for the
    /// run to restart in graph order.
    pub(super) fn changed_units(
        &self,
        target: &Target,
        old: &str,
        new: &str,
        containers: &[String],
    ) -> Result<Vec<String>, CommandError> {
        let args = [old, new].into_iter().chain(containers.iter().map(String::as_str));
        let out = target.run_within(&RemoteScript::new(UNITS, args), "units.sh", self.answer_within)?;
        crate::protocol::changed_units(&out, containers).map_err(|why| CommandError {
            command: "units.sh".into(),
            failure: Failure::Output(format!("its output is not what it prints: {why}")),
        })
    }
}

/// The most lines of a failed job's log that its error reports.
const REPORTED_LINES: usize = 15;

/// The longest line of a job's log that its error reports, in characters: a
/// check may print a line of any length, and the error goes to the terminal,
/// the JSON output and, under GitOps, the journal.
const REPORTED_LINE_CHARS: usize = 300;

/// `line`, cut at [`REPORTED_LINE_CHARS`], saying how much was left out.
fn capped(line: String) -> String {
    match line.char_indices().nth(REPORTED_LINE_CHARS) {
        Some((cut, _)) => format!("{}... ({} more bytes)", &line[..cut], line.len() - cut),
        None => line,
    }
}

/// The outcome a job's final status means, for a job of `goal`.
fn job_outcome(
    name: &str,
    lock: &AgentSession,
    status: FinalStatus,
    log: Vec<String>,
    goal: Goal,
) -> Outcome {
    if status == FinalStatus::Ok {
        return match goal {
            Goal::Switch => Outcome::Activated,
            Goal::Boot => Outcome::SetForBoot,
            Goal::Test => Outcome::Tested,
            Goal::DryActivate => Outcome::DryActivated,
        };
    }
    let rolled_back = status.rolled_back();
    let step = crate::protocol::failed_step_lines(&log, name, lock.run());
    let step = &step[step.len().saturating_sub(REPORTED_LINES)..];
    let said: String = step.iter().map(|line| format!("\n    | {}", capped(line.clone()))).collect();
    let error = NodeError::new(
        name,
        Stage::Activate,
        Cause::Other(format!(
            "the activation job of {name} (run {}) ended: {}{said}",
            lock.run(),
            capped(status.to_string())
        )),
    );
    if rolled_back {
        Outcome::RolledBack(error)
    } else {
        Outcome::Failed(error)
    }
}

fn lock_error(lock: &AgentSession, name: &str, what: &str) -> CommandError {
    CommandError {
        command: format!("activation job of {name} (run {})", lock.run()),
        failure: Failure::Output(format!("{name} {what}; see {}/jobs/{name}.status", crate::STATE_DIR)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_line_is_cut_and_says_how_much_is_left_out() {
        let line = "é".repeat(REPORTED_LINE_CHARS + 10);
        let cut = capped(line);
        assert!(cut.ends_with("é... (20 more bytes)"), "{cut}");
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), REPORTED_LINE_CHARS);
        assert_eq!(capped("short".into()), "short");
    }
}
