//! The typed protocol between the deployer and the scripts it runs on a target:
//! their exit codes by name (the same numbers as `sh/exit-codes.sh`, which goes
//! in front of each script), and the words the agent and the activation jobs
//! report, parsed here and nowhere else.

use std::fmt;

/// How a target script ended, when it did not succeed: the codes of
/// `sh/exit-codes.sh`, which the scripts use as `exit "$EXIT_LOCKED"` and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It did not do what it was asked (`EXIT_FAILED`).
    Failed = 1,
    /// It was called wrongly (`EXIT_USAGE`).
    Usage = 2,
    /// Refused, with nothing changed: the target cannot take a deploy (no Nix,
    /// no state folder), the path is not a system, or the goal does not apply
    /// (`test` of a stopped container) (`EXIT_REFUSED`).
    Refused = 3,
    /// A job of a run that no longer holds the deploy lock (`EXIT_FENCED`).
    Fenced = 4,
    /// Another run holds the deploy lock (`EXIT_LOCKED`: `EX_TEMPFAIL`).
    Locked = 75,
}

impl Exit {
    /// Every code, with the name the scripts use.
    #[cfg(test)]
    const ALL: [(Exit, &'static str); 5] = [
        (Exit::Failed, "EXIT_FAILED"),
        (Exit::Usage, "EXIT_USAGE"),
        (Exit::Refused, "EXIT_REFUSED"),
        (Exit::Fenced, "EXIT_FENCED"),
        (Exit::Locked, "EXIT_LOCKED"),
    ];

    /// The exit code a script with this ending returned, if it is one.
    pub(crate) fn of(code: Option<i32>) -> Option<Exit> {
        match code? {
            1 => Some(Exit::Failed),
            2 => Some(Exit::Usage),
            3 => Some(Exit::Refused),
            4 => Some(Exit::Fenced),
            75 => Some(Exit::Locked),
            _ => None,
        }
    }
}

/// What the agent said when it could not take the lock because another run
/// holds it (`EXIT_LOCKED`): `HOLDER (run RUN), its lease runs until TIME`,
/// where HOLDER says who and since when. `None` for any other failure.
pub(crate) fn lock_holder(error: &fleet_nix::CommandError) -> Option<String> {
    if Exit::of(error.exit_code()) != Some(Exit::Locked) {
        return None;
    }
    let line = error.stderr_tail().lines().rev().find(|line| !line.trim().is_empty())?;
    Some(line.strip_prefix("another deploy holds the lock on this target: ").unwrap_or(line).to_string())
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

/// The text of a note the job wrote itself (`YYYY-MM-DD HH:MM:SS NODE: TEXT`).
fn job_note<'l>(line: &'l str, node: &str) -> Option<&'l str> {
    let (date, rest) = line.split_once(' ')?;
    let (time, rest) = rest.split_once(' ')?;
    let looks = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || b"-:".contains(&b))
    };
    if !looks(date, 10) || !looks(time, 8) {
        return None;
    }
    rest.strip_prefix(node)?.strip_prefix(": ")
}

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
        if text == "ok" {
            return FinalStatus::Ok;
        }
        let (word, why) = text.split_once(": ").unwrap_or((text, ""));
        match word {
            "rolled back" => FinalStatus::RolledBack(why.to_string()),
            "failed" => FinalStatus::Failed(why.to_string()),
            "refused" => FinalStatus::Refused(why.to_string()),
            _ => FinalStatus::Failed(format!("the job reported `{text}`")),
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
            FinalStatus::Ok => f.write_str("ok"),
            FinalStatus::RolledBack(why) => write!(f, "rolled back: {why}"),
            FinalStatus::Failed(why) => write!(f, "failed: {why}"),
            FinalStatus::Refused(why) => write!(f, "refused: {why}"),
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

/// What the agent's first line says about the lock it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Locked {
    /// `locked`: the lock was free.
    Free,
    /// `locked re-took`: this run's own earlier agent held it (a dropped session).
    ReTook,
    /// `locked took-over HOLDER`: its agent had ended without releasing it.
    TookOver(String),
    /// `locked expired HOLDER`: its lease had run out.
    Expired(String),
}

impl Locked {
    /// Reads the agent's first line; `None` if it is not a `locked` line.
    pub(crate) fn parse(line: &str) -> Option<Locked> {
        let note = line.strip_prefix("locked")?.trim();
        Some(match note.split_once(' ') {
            _ if note.is_empty() => Locked::Free,
            _ if note == "re-took" => Locked::ReTook,
            Some(("took-over", who)) => Locked::TookOver(who.to_string()),
            Some(("expired", who)) => Locked::Expired(who.to_string()),
            _ => return None,
        })
    }

    /// Who held the lock before, and how it was lost, when it was taken over.
    pub(crate) fn previous_holder(&self) -> Option<String> {
        match self {
            Locked::TookOver(who) => Some(format!("{who}, which had ended without releasing it")),
            Locked::Expired(who) => Some(format!("{who}, whose lease had run out")),
            Locked::Free | Locked::ReTook => None,
        }
    }
}

/// One line the agent prints after its first (see `sh/agent.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report<'a> {
    /// `launched NODE`: the job started.
    Launched(&'a str),
    /// `gone NODE`: no job of this run is recorded for the node.
    Gone(&'a str),
    /// `failed NODE WHY`: the job could not be launched; nothing was changed.
    LaunchFailed(&'a str, &'a str),
    /// `log NODE LINE`: a line of the job's log, before a final status that is not ok.
    Log(&'a str, &'a str),
    /// `status NODE started|switched`.
    Progress(&'a str, Progress),
    /// `status NODE FINAL`.
    Done(&'a str, FinalStatus),
    /// `bye WHY`: the agent ends by itself.
    Bye(&'a str),
}

impl Report<'_> {
    /// Reads one line; `None` for a line in no known form.
    pub(crate) fn parse(line: &str) -> Option<Report<'_>> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (node, text) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(match word {
            "launched" => Report::Launched(node),
            "gone" => Report::Gone(node),
            "failed" => Report::LaunchFailed(node, text),
            "log" => Report::Log(node, text),
            "status" => match text {
                "started" => Report::Progress(node, Progress::Started),
                "switched" => Report::Progress(node, Progress::Switched),
                _ => Report::Done(node, FinalStatus::parse(text)),
            },
            "bye" => Report::Bye(rest),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_tail_is_the_failed_steps_own_output() {
        let log: Vec<String> = [
            "2026-12-02 04:39:36 web: activating /nix/store/a-1 (run old-run)",
            "2026-12-02 04:39:36 web: activated /nix/store/a-1",
            "2026-12-02 04:39:47 web: job: switch /nix/store/b-2 (run this-run)",
            "2026-12-02 04:39:47 web: activating /nix/store/b-2 (run this-run)",
            "warning: the unit web.service failed to start",
            "2026-12-02 04:39:48 web: switch of /nix/store/b-2 did not finish within 5s; it was stopped",
            "2026-12-02 04:39:49 web: rolling back to /nix/store/a-1: switching to /nix/store/b-2 failed",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            failed_step_lines(&log, "web", "this-run"),
            [
                "warning: the unit web.service failed to start",
                "2026-12-02 04:39:48 web: switch of /nix/store/b-2 did not finish within 5s; it was stopped",
            ]
        );
        // A tail that starts after the job's first line is all the job's.
        assert_eq!(failed_step_lines(&log[4..5], "web", "this-run"), [log[4].clone()]);
        // A job refused before it began to activate printed nothing of its own.
        assert!(failed_step_lines(&log[..4], "web", "this-run").is_empty());
    }

    /// What `job.rs` and `probe.rs` put in front of every script.
    const EXIT_CODES: &str = include_str!("sh/exit-codes.sh");

    /// The shell's names and numbers are the ones here, and every target
    /// script exits with a name (or 0), never a bare number.
    #[test]
    fn the_scripts_exit_codes_are_the_named_ones() {
        let defined: Vec<(String, i32)> = EXIT_CODES
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(name, code)| (name.to_string(), code.parse().expect("a number")))
            .collect();
        let expected: Vec<(String, i32)> =
            Exit::ALL.iter().map(|(e, n)| (n.to_string(), *e as i32)).collect();
        assert_eq!(defined, expected);
        for (exit, _) in Exit::ALL {
            assert_eq!(Exit::of(Some(exit as i32)), Some(exit));
        }
        for (file, text) in [
            ("agent.sh", crate::job::AGENT),
            ("job.sh", crate::job::JOB),
            ("confirm.sh", crate::job::CONFIRM),
            ("probe.sh", crate::probe::PROBE),
            ("host.sh", crate::kinds::HOST_SCRIPT),
            ("container.sh", crate::kinds::CONTAINER_SCRIPT),
        ] {
            assert!(text.starts_with(EXIT_CODES), "{file} starts with the exit codes");
            let bare: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.split("exit ")
                        .skip(1)
                        .any(|after| after.starts_with(|c: char| c.is_ascii_digit() && c != '0'))
                })
                .collect();
            assert!(bare.is_empty(), "{file} exits with bare numbers: {bare:?}");
        }
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
    }

    #[test]
    fn agent_lines_parse() {
        assert_eq!(Locked::parse("locked"), Some(Locked::Free));
        assert_eq!(Locked::parse("locked re-took"), Some(Locked::ReTook));
        assert_eq!(
            Locked::parse("locked took-over a@b (pid 1) since D (run r)"),
            Some(Locked::TookOver("a@b (pid 1) since D (run r)".into()))
        );
        assert_eq!(
            Locked::parse("locked expired x (run r)").and_then(|l| l.previous_holder()),
            Some("x (run r), whose lease had run out".into())
        );
        assert_eq!(Locked::parse("busy"), None);
        assert_eq!(Report::parse("status web switched"), Some(Report::Progress("web", Progress::Switched)));
        assert_eq!(
            Report::parse("status web rolled back: checks failed"),
            Some(Report::Done("web", FinalStatus::RolledBack("checks failed".into())))
        );
        assert_eq!(
            Report::parse("log web a line  with  spaces"),
            Some(Report::Log("web", "a line  with  spaces"))
        );
        assert_eq!(
            Report::parse("bye the deployer was silent"),
            Some(Report::Bye("the deployer was silent"))
        );
        assert_eq!(Report::parse("hello"), None);
    }
}
