//! The typed protocol between the deployer and the scripts it runs on a target:
//! their exit codes by name (the same numbers as `sh/exit-codes.sh`, which goes
//! in front of each script), and the words the agent and the activation jobs
//! report, parsed here and nowhere else.

use std::fmt;

use crate::job::JobSpec;

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
/// holds it (`EXIT_LOCKED`): `HOLDER (run RUN), its lease runs for another Ns`,
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

/// A store path as the target printed it, checked: `/nix/store/`, a hash of
/// 32 letters of Nix's base-32 alphabet, `-`, and a name of the characters Nix
/// allows (at most 211, not starting with `.`). `Err` holds the text as it may
/// be shown: it may come from a container's root, so it is decoded (the
/// scripts print what fails their own check as `!HEX`) and escaped.
pub(crate) fn store_path(text: &str) -> Result<String, String> {
    let valid = text.strip_prefix("/nix/store/").and_then(|rest| rest.split_at_checked(32)).is_some_and(
        |(hash, name)| {
            hash.bytes().all(|b| b"0123456789abcdfghijklmnpqrsvwxyz".contains(&b))
                && name.strip_prefix('-').is_some_and(|name| {
                    !name.is_empty()
                        && name.len() <= 211
                        && !name.starts_with('.')
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b))
                })
        },
    );
    if valid {
        Ok(text.to_string())
    } else {
        Err(shown(text))
    }
}

/// Text from the target as it may be shown in a message: `!HEX` (what a
/// script found hostile and encoded) decoded, then every control character
/// and non-ASCII character escaped, and at most 200 characters of it.
pub(crate) fn shown(text: &str) -> String {
    let decoded = text.strip_prefix('!').and_then(|hex| {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect();
        bytes.filter(|_| hex.len() % 2 == 0)
    });
    let text = match &decoded {
        Some(bytes) => String::from_utf8_lossy(bytes),
        None => text.into(),
    };
    let escaped: String = text.chars().flat_map(char::escape_default).collect();
    match escaped.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
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

/// What the agent's first line says about the lock it took:
/// `locked EPOCH SINCE [HOW]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locked {
    /// This taking's epoch: every taking of a target's lock has a greater one.
    pub(crate) epoch: u64,
    /// The epoch since which this run holds the lock without a break: a
    /// reconnected agent that says another than the first agent said found
    /// that another run held the lock in between.
    pub(crate) since: u64,
    /// How it was taken.
    pub(crate) how: Taking,
}

/// How the agent took the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taking {
    /// Nothing: the lock was free.
    Free,
    /// `re-took`: this run's own earlier agent held it (a dropped session).
    ReTook,
    /// `took-over HOLDER`: its agent had ended without releasing it.
    TookOver(String),
    /// `expired HOLDER`: its lease had run out.
    Expired(String),
}

impl Locked {
    /// Reads the agent's first line; `None` if it is not a `locked` line.
    pub(crate) fn parse(line: &str) -> Option<Locked> {
        let mut words = line.strip_prefix("locked ")?.splitn(3, ' ');
        let epoch = words.next()?.parse().ok()?;
        let since = words.next()?.parse().ok()?;
        let note = words.next().unwrap_or("");
        let how = match note.split_once(' ') {
            _ if note.is_empty() => Taking::Free,
            _ if note == "re-took" => Taking::ReTook,
            Some(("took-over", who)) => Taking::TookOver(who.to_string()),
            Some(("expired", who)) => Taking::Expired(who.to_string()),
            _ => return None,
        };
        Some(Locked { epoch, since, how })
    }

    /// Who held the lock before, and how it was lost, when it was taken over.
    pub(crate) fn previous_holder(&self) -> Option<String> {
        match &self.how {
            Taking::TookOver(who) => Some(format!("{who}, which had ended without releasing it")),
            Taking::Expired(who) => Some(format!("{who}, whose lease had run out")),
            Taking::Free | Taking::ReTook => None,
        }
    }
}

/// A request to the agent (see `sh/agent.sh`), one line each but a launch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    /// `renew`: the deployer is alive.
    Renew,
    /// `launch NODE COUNT`, then the job's spec, a line each.
    Launch { node: &'a str, spec: &'a [String] },
    /// `watch NODE`: report its job of this run (after a reconnect).
    Watch(&'a str),
    /// `release`: give up the lock and exit.
    Release,
}

impl Request<'_> {
    /// The lines that say it.
    pub(crate) fn lines(&self) -> Vec<String> {
        match self {
            Request::Renew => vec!["renew".into()],
            Request::Launch { node, spec } => {
                std::iter::once(format!("launch {node} {}", spec.len())).chain(spec.iter().cloned()).collect()
            }
            Request::Watch(node) => vec![format!("watch {node}")],
            Request::Release => vec!["release".into()],
        }
    }
}

/// A job's spec as `job.sh` reads it: a `NAME=VALUE` line per field, then
/// each check as `check=LABEL` and an `arg=ARG` line per argument. `Err`
/// names a value that holds a line break or other control character, which
/// would break it into lines.
pub(crate) fn job_spec(spec: &JobSpec<'_>) -> Result<Vec<String>, String> {
    let mut lines = vec![
        format!("kind={}", spec.kind),
        format!("profile={}", spec.profile),
        format!("system={}", spec.new),
        format!("expect={}", spec.expect.unwrap_or_default()),
        format!("confirm={}", spec.confirm_seconds),
        format!("check-timeout={}", spec.check_seconds),
        format!("switch-timeout={}", spec.switch_seconds),
        format!("verb={}", spec.kind_verb()),
        format!("generation={}", spec.generation.map(|n| n.to_string()).unwrap_or_default()),
    ];
    for check in &spec.checks {
        lines.push(format!("check={}", check.label));
        lines.extend(check.argv.iter().map(|arg| format!("arg={arg}")));
    }
    match lines.iter().find(|line| line.chars().any(char::is_control)) {
        Some(bad) => Err(bad.escape_debug().to_string()),
        None => Ok(lines),
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
        let locked = |epoch, since, how| Some(Locked { epoch, since, how });
        assert_eq!(Locked::parse("locked 3 3"), locked(3, 3, Taking::Free));
        assert_eq!(Locked::parse("locked 4 2 re-took"), locked(4, 2, Taking::ReTook));
        assert_eq!(
            Locked::parse("locked 5 5 took-over a@b (pid 1) since D (run r)"),
            locked(5, 5, Taking::TookOver("a@b (pid 1) since D (run r)".into()))
        );
        assert_eq!(
            Locked::parse("locked 1 1 expired x (run r)").and_then(|l| l.previous_holder()),
            Some("x (run r), whose lease had run out".into())
        );
        for bad in ["busy", "locked", "locked 1", "locked x 1", "locked 1 1 stolen"] {
            assert_eq!(Locked::parse(bad), None, "{bad}");
        }
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
