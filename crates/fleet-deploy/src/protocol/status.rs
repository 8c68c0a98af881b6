//! A job's status file and log, as the agent relays them: the status words
//! (`STATUS_*` of `sh/prelude.sh`) and the notes the job writes itself.

use std::fmt;

use super::shown;

/// The words a job's status file starts with (`STATUS_*` of `sh/prelude.sh`).
pub(super) const STARTED: &str = "started";
pub(super) const SWITCHED: &str = "switched";
pub(super) const OK: &str = "ok";
pub(super) const ROLLED_BACK: &str = "rolled back";
pub(super) const FAILED: &str = "failed";
pub(super) const REFUSED: &str = "refused";

/// How an activation job ended: the first line of its status file once it is
/// no longer `started` or `switched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FinalStatus {
    /// `ok`: the node runs its new system.
    Ok,
    /// `rolled back: WHY`: the node is back on the system it went from.
    RolledBack(String),
    /// `failed: WHY`: neither the new system nor the way back worked, or the
    /// job ended without finishing.
    Failed(String),
    /// `refused: WHY`: nothing was changed (fenced, or not a system).
    Refused(String),
}

impl FinalStatus {
    /// Reads a final status; a text in no known form is a failure that says it.
    pub(crate) fn parse(text: &str) -> FinalStatus {
        if text == OK {
            return FinalStatus::Ok;
        }
        let (word, why) = text.split_once(": ").unwrap_or((text, ""));
        match word {
            ROLLED_BACK => FinalStatus::RolledBack(why.to_string()),
            FAILED => FinalStatus::Failed(why.to_string()),
            REFUSED => FinalStatus::Refused(why.to_string()),
            _ => FinalStatus::Failed(format!("the job reported `{}`", shown(text))),
        }
    }

    /// Whether the node ended on the system it went from.
    pub(crate) fn rolled_back(&self) -> bool {
        matches!(self, FinalStatus::RolledBack(_))
    }
}

impl fmt::Display for FinalStatus {
    /// The status as the job wrote it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinalStatus::Ok => f.write_str(OK),
            FinalStatus::RolledBack(why) => write!(f, "{ROLLED_BACK}: {why}"),
            FinalStatus::Failed(why) => write!(f, "{FAILED}: {why}"),
            FinalStatus::Refused(why) => write!(f, "{REFUSED}: {why}"),
        }
    }
}

/// A job's status before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// `started`: fenced and checked, about to switch.
    Started,
    /// `switched`: switched and checked; awaits confirmation.
    Switched,
}

/// The lines of a job's log (its tail, as the agent sends it) that tell what
/// the failed step printed: only those of run `run`'s job, after its first
/// line (`job: VERB SYSTEM (run RUN)`), without the job's own notes that the
/// final status already says (`activating`, `rolling back to`, `no earlier
/// system`). The log holds every earlier job of the node too.
pub(crate) fn failed_step_lines(log: &[String], node: &str, run: &str) -> Vec<String> {
    let started = format!(" (run {run})");
    let first = |line: &String| {
        job_note(line, node).is_some_and(|note| note.starts_with("job: ")) && line.ends_with(&started)
    };
    let mine = match log.iter().rposition(first) {
        Some(start) => &log[start + 1..],
        // The tail is newer than the job's first line: all of it is the job's.
        None => log,
    };
    let said = ["activating ", "dry-activate ", "rolling back to ", "no earlier system to roll back to"];
    mine.iter()
        .filter(|line| !job_note(line, node).is_some_and(|note| said.iter().any(|s| note.starts_with(s))))
        .cloned()
        .collect()
}

/// The text of a note the job wrote itself: `YYYY-MM-DD HH:MM:SS +Ns NODE:
/// TEXT`, the job's start and the seconds since (or, from jobs of earlier
/// versions, without the seconds).
fn job_note<'l>(line: &'l str, node: &str) -> Option<&'l str> {
    let (date, rest) = line.split_once(' ')?;
    let (time, rest) = rest.split_once(' ')?;
    let looks = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || b"-:".contains(&b))
    };
    if !looks(date, 10) || !looks(time, 8) {
        return None;
    }
    let seconds = |word: &str| {
        word.strip_prefix('+')
            .and_then(|w| w.strip_suffix('s'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let rest = match rest.split_once(' ') {
        Some((word, after)) if seconds(word) => after,
        _ => rest,
    };
    rest.strip_prefix(node)?.strip_prefix(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_tail_is_the_failed_steps_own_output() {
        let log: Vec<String> = [
            "2026-12-02 04:39:36 web: activating /nix/store/a-1 (run old-run)",
            "2026-12-02 04:39:36 web: activated /nix/store/a-1",
            "2026-12-02 04:39:47 +0s web: job: switch /nix/store/b-2 (run this-run)",
            "2026-12-02 04:39:47 +0s web: activating /nix/store/b-2 (run this-run)",
            "warning: the unit web.service failed to start",
            "2026-12-02 04:39:47 +1s web: switch of /nix/store/b-2 did not finish within 5s; it was stopped",
            "2026-12-02 04:39:47 +2s web: rolling back to /nix/store/a-1: switching to /nix/store/b-2 failed",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            failed_step_lines(&log, "web", "this-run"),
            [
                "warning: the unit web.service failed to start",
                "2026-12-02 04:39:47 +1s web: switch of /nix/store/b-2 did not finish within 5s; it was stopped",
            ]
        );
        // A tail that starts after the job's first line is all the job's.
        assert_eq!(failed_step_lines(&log[4..5], "web", "this-run"), [log[4].clone()]);
        // A job refused before it began to activate printed nothing of its own.
        assert!(failed_step_lines(&log[..4], "web", "this-run").is_empty());
    }

    #[test]
    fn statuses_read_back_as_written() {
        for (text, status) in [
            ("ok", FinalStatus::Ok),
            (
                "rolled back: switching to /nix/store/x failed",
                FinalStatus::RolledBack("switching to /nix/store/x failed".into()),
            ),
            (
                "failed: could not set profile p to n; nothing was changed",
                FinalStatus::Failed("could not set profile p to n; nothing was changed".into()),
            ),
            (
                "refused: run r no longer holds the deploy lock (free); nothing was changed",
                FinalStatus::Refused(
                    "run r no longer holds the deploy lock (free); nothing was changed".into(),
                ),
            ),
        ] {
            assert_eq!(FinalStatus::parse(text), status);
            assert_eq!(status.to_string(), text);
        }
        assert_eq!(FinalStatus::parse("exploded"), FinalStatus::Failed("the job reported `exploded`".into()));
        assert_eq!(
            FinalStatus::parse("\u{1b}]52;c;AAAA\u{7}"),
            FinalStatus::Failed("the job reported `\\u{1b}]52;c;AAAA\\u{7}`".into()),
            "what the target wrote reaches a terminal only escaped"
        );
    }
}
