//! The typed protocol between the deployer and the scripts it runs on a target,
//! both ways: the requests the agent reads and the job spec, encoded here, and
//! the lines the agent prints and the jobs' status words, decoded here and
//! nowhere else. The scripts' side of the words and exit codes is
//! `sh/prelude.sh`, which goes in front of each script; a test holds the two
//! in step.

use std::fmt;

use crate::job::JobSpec;

/// The exit code of a target script that found the deploy lock held by
/// another run (`EXIT_LOCKED` of `sh/prelude.sh`: `EX_TEMPFAIL`). The other
/// codes there are the scripts' own: the deployer reads only this one.
const EXIT_LOCKED: i32 = 75;

/// Whether `error` is a target script's refusal because another run holds
/// the deploy lock: final, whatever its text (the holder line is free text)
/// may look like.
pub(crate) fn is_locked(error: &fleet_nix::CommandError) -> bool {
    error.exit_code() == Some(EXIT_LOCKED)
}

/// What the agent said when it could not take the lock because another run
/// holds it (`EXIT_LOCKED`): `HOLDER (run RUN), its lease runs for another Ns`,
/// where HOLDER says who and since when. `None` for any other failure.
pub(crate) fn lock_holder(error: &fleet_nix::CommandError) -> Option<String> {
    if !is_locked(error) {
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

/// The words a job's status file starts with (`STATUS_*` of `sh/prelude.sh`).
const STARTED: &str = "started";
const SWITCHED: &str = "switched";
const OK: &str = "ok";
const ROLLED_BACK: &str = "rolled back";
const FAILED: &str = "failed";
const REFUSED: &str = "refused";

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
    /// What a caller waiting for the agent's first line waits for, as a
    /// person names it.
    pub(crate) const AWAITED: &'static str = "the deploy agent's first line (`locked`)";

    /// Reads the agent's first line; `Err` says, naming the line, that it is
    /// not a `locked` line.
    pub(crate) fn parse(line: &str) -> Result<Locked, String> {
        Locked::read(line)
            .ok_or_else(|| format!("the agent answered `{}` instead of `locked EPOCH SINCE`", shown(line)))
    }

    fn read(line: &str) -> Option<Locked> {
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
    Launch { node: &'a str, spec: &'a SpecLines },
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
            Request::Launch { node, spec: SpecLines(spec) } => {
                std::iter::once(format!("launch {node} {}", spec.len())).chain(spec.iter().cloned()).collect()
            }
            Request::Watch(node) => vec![format!("watch {node}")],
            Request::Release => vec!["release".into()],
        }
    }
}

/// A job's spec as it travels to `job.sh`: made only by [`job_spec`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecLines(Vec<String>);

/// A job's spec as `job.sh` reads it: a `NAME=VALUE` line per field, then
/// each check as `check=LABEL` and an `arg=ARG` line per argument. `Err`
/// names a value that holds a line break or other control character, which
/// would break it into lines.
pub(crate) fn job_spec(spec: &JobSpec<'_>) -> Result<SpecLines, String> {
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
        None => Ok(SpecLines(lines)),
    }
}

/// One line the agent prints after its first (see `sh/agent.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report<'a> {
    /// `launched NODE`: the job started.
    Launched(&'a str),
    /// `gone NODE`: no job of this run began for the node.
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
    /// Reads one line; `Err` names a line in no known form: an unknown
    /// word, a node name that is not one, a part missing or one too many.
    pub(crate) fn parse(line: &str) -> Result<Report<'_>, String> {
        Report::read(line).ok_or_else(|| {
            format!(
                "the agent sent `{}`, a line this deployer does not know; is the same fleet version deploying?",
                shown(line)
            )
        })
    }

    fn read(line: &str) -> Option<Report<'_>> {
        let (word, rest) = line.split_once(' ')?;
        if word == "bye" {
            return (!rest.is_empty()).then_some(Report::Bye(rest));
        }
        let (node, text) = match rest.split_once(' ') {
            Some((node, text)) => (node, Some(text)),
            None => (rest, None),
        };
        let is_node =
            !node.is_empty() && node.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !is_node {
            return None;
        }
        Some(match (word, text) {
            ("launched", None) => Report::Launched(node),
            ("gone", None) => Report::Gone(node),
            ("failed", Some(why)) if !why.is_empty() => Report::LaunchFailed(node, why),
            ("log", text) => Report::Log(node, text.unwrap_or("")),
            ("status", Some(STARTED)) => Report::Progress(node, Progress::Started),
            ("status", Some(SWITCHED)) => Report::Progress(node, Progress::Switched),
            ("status", Some(text)) if !text.is_empty() => Report::Done(node, FinalStatus::parse(text)),
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

    /// What `target_script!` puts in front of every target script.
    const PRELUDE: &str = include_str!("sh/prelude.sh");

    /// The assignments of `sh/prelude.sh`, which goes in front of every
    /// target script: name and value.
    fn prelude_values() -> Vec<(String, String)> {
        PRELUDE
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter_map(|l| l.split_once('='))
            .map(|(name, value)| (name.to_string(), value.trim_matches('\'').to_string()))
            .collect()
    }

    /// The shell's exit code and status words are the ones here, and every
    /// target script starts with the prelude, exits with a name (or 0), never
    /// a bare number, and says every status by its name.
    #[test]
    fn the_scripts_codes_and_words_are_these() {
        let defined = prelude_values();
        let find = |name: &str| defined.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(find("EXIT_LOCKED"), Some(EXIT_LOCKED.to_string().as_str()));
        for (name, word) in [
            ("STATUS_STARTED", STARTED),
            ("STATUS_SWITCHED", SWITCHED),
            ("STATUS_OK", OK),
            ("STATUS_ROLLED_BACK", ROLLED_BACK),
            ("STATUS_FAILED", FAILED),
            ("STATUS_REFUSED", REFUSED),
        ] {
            assert_eq!(find(name), Some(word), "{name}");
        }
        for (file, text) in [
            ("agent.sh", crate::job::AGENT),
            ("job.sh", crate::job::JOB),
            ("confirm.sh", crate::job::CONFIRM),
            ("probe.sh", crate::probe::PROBE),
            ("host.sh", crate::builtin_kinds::HOST_SCRIPT),
            ("container.sh", crate::builtin_kinds::CONTAINER_SCRIPT),
        ] {
            let own = text.strip_prefix(PRELUDE).unwrap_or_else(|| panic!("{file} starts with the prelude"));
            let bare: Vec<&str> = own
                .lines()
                .filter(|l| {
                    l.split("exit ")
                        .skip(1)
                        .any(|after| after.starts_with(|c: char| c.is_ascii_digit() && c != '0'))
                })
                .collect();
            assert!(bare.is_empty(), "{file} exits with bare numbers: {bare:?}");
            let literal: Vec<&str> = own
                .lines()
                .filter(|l| {
                    l.trim_start().starts_with("say ") && !l.trim_start().starts_with("say \"$STATUS_")
                })
                .collect();
            assert!(literal.is_empty(), "{file} says a status without its name: {literal:?}");
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
        let locked = |epoch, since, how| Ok(Locked { epoch, since, how });
        assert_eq!(Locked::parse("locked 3 3"), locked(3, 3, Taking::Free));
        assert_eq!(Locked::parse("locked 4 2 re-took"), locked(4, 2, Taking::ReTook));
        assert_eq!(
            Locked::parse("locked 5 5 took-over a@b (pid 1) since D (run r)"),
            locked(5, 5, Taking::TookOver("a@b (pid 1) since D (run r)".into()))
        );
        assert_eq!(
            Locked::parse("locked 1 1 expired x (run r)").ok().and_then(|l| l.previous_holder()),
            Some("x (run r), whose lease had run out".into())
        );
        for bad in ["busy", "locked", "locked 1", "locked x 1", "locked 1 1 stolen"] {
            let error = Locked::parse(bad).expect_err(bad);
            assert!(error.contains(&format!("`{bad}` instead of `locked EPOCH SINCE`")), "{error}");
        }
        assert_eq!(Report::parse("status web switched"), Ok(Report::Progress("web", Progress::Switched)));
        assert_eq!(
            Report::parse("status web rolled back: checks failed"),
            Ok(Report::Done("web", FinalStatus::RolledBack("checks failed".into())))
        );
        assert_eq!(
            Report::parse("log web a line  with  spaces"),
            Ok(Report::Log("web", "a line  with  spaces"))
        );
        assert_eq!(Report::parse("log web"), Ok(Report::Log("web", "")));
        assert_eq!(Report::parse("launched web"), Ok(Report::Launched("web")));
        assert_eq!(Report::parse("failed web busy"), Ok(Report::LaunchFailed("web", "busy")));
        assert_eq!(Report::parse("bye the deployer was silent"), Ok(Report::Bye("the deployer was silent")));
    }

    #[test]
    fn requests_are_the_lines_agent_sh_reads() {
        let spec = SpecLines(vec!["kind=host".into(), "check=ping".into(), "arg=a b".into()]);
        assert_eq!(
            Request::Launch { node: "web", spec: &spec }.lines(),
            ["launch web 3", "kind=host", "check=ping", "arg=a b"]
        );
        assert_eq!(Request::Watch("web").lines(), ["watch web"]);
        assert_eq!(Request::Renew.lines(), ["renew"]);
        assert_eq!(Request::Release.lines(), ["release"]);
    }

    /// An unknown word, a node name that is not one, a part missing or one
    /// too many: each is an error that names the line (escaped).
    #[test]
    fn a_malformed_agent_line_is_an_error_that_names_it() {
        for bad in [
            "hello",
            "stauts web ok",
            "launched",
            "launched ",
            "launched web now",
            "gone web x",
            "failed web",
            "failed web ",
            "status web",
            "status web ",
            "status ../web ok",
            "log we\u{1b}b x",
            "bye",
            "bye ",
            "",
        ] {
            let error = Report::parse(bad).expect_err(bad);
            assert!(
                error.starts_with(&format!("the agent sent `{}`, a line", shown(bad))),
                "{bad:?}: {error}"
            );
        }
    }
}
