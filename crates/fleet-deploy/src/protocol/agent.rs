//! The agent's conversation (`sh/agent.sh`): the requests it reads and a
//! job's spec, encoded, and the lines it prints, decoded.

use super::shown;
use super::status::{FinalStatus, Progress, STARTED, SWITCHED};
use crate::job::{JobSpec, Verb};

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
        format!("verb={}", kind_verb(spec)),
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

/// What the job runs the kind's script with: the goal's name, or `restart`
/// (a switch that restarts a container whose unit changed).
fn kind_verb(spec: &JobSpec<'_>) -> &'static str {
    match spec.verb {
        Verb::Restart => "restart",
        Verb::Goal => spec.goal.name(),
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
        assert_eq!(
            Locked::parse("locked 1 1 \u{1b}]52;c;AAAA\u{7}"),
            Err("the agent answered `locked 1 1 \\u{1b}]52;c;AAAA\\u{7}` instead of `locked EPOCH SINCE`"
                .into()),
            "bytes a terminal would obey are shown escaped"
        );
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

    #[test]
    fn a_spec_is_a_field_a_line_and_a_line_break_in_a_value_is_refused() {
        let spec = |verb, argv: &[&str]| JobSpec {
            kind: "container",
            profile: "/p/web".into(),
            new: "/nix/store/n",
            expect: None,
            verb,
            confirm_seconds: 0,
            check_seconds: 5,
            switch_seconds: 9,
            goal: crate::Goal::Switch,
            generation: Some(3),
            checks: vec![crate::Check::new(argv.to_vec())],
        };
        let SpecLines(lines) = job_spec(&spec(Verb::Restart, &["true"])).unwrap();
        assert_eq!(
            lines,
            [
                "kind=container",
                "profile=/p/web",
                "system=/nix/store/n",
                "expect=",
                "confirm=0",
                "check-timeout=5",
                "switch-timeout=9",
                "verb=restart",
                "generation=3",
                "check=`true`",
                "arg=true",
            ]
        );
        let SpecLines(lines) = job_spec(&spec(Verb::Goal, &["true"])).unwrap();
        assert!(lines.contains(&"verb=switch".to_string()), "{lines:?}");
        assert_eq!(job_spec(&spec(Verb::Goal, &["a\nb"])), Err("check=`a\\nb`".into()));
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
