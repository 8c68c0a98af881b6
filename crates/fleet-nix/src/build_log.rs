//! Nix's own progress, read from `--log-format internal-json`: which
//! derivation started or finished building, what its builder printed, and
//! nix's done/expected counts.
//!
//! Each stderr line is `@nix ` and a JSON object with an `action`: `start`
//! and `stop` of an activity (by `id`), a `result` of one, or a `msg`. Nix 2.8
//! writes exactly these; newer versions add fields (`parent`, `machine`,
//! `raw_msg`, `file`, `line`, `column`) and activity types, which are
//! ignored. The numbers are Nix's `ActivityType` and `ResultType`
//! (`src/libutil/logging.hh`).

use std::collections::HashMap;

use serde::Deserialize;

/// `actBuild`: one derivation's build; fields `[drvPath, machine, round, rounds]`.
const ACT_BUILD: u64 = 105;
/// `actBuilds`: every build of the command; its progress is nix's own count.
const ACT_BUILDS: u64 = 104;
/// `actFileTransfer`: a download (a tarball input, a binary cache's file).
const ACT_FILE_TRANSFER: u64 = 101;
/// `actFetchTree` (Nix 2.10 and later): fetching a flake input's tree.
const ACT_FETCH_TREE: u64 = 112;
/// `actSubstitute`: fetching a path from a binary cache; fields `[path, cache]`.
const ACT_SUBSTITUTE: u64 = 108;
/// `resBuildLogLine`: a line a builder printed; fields `[line]`.
const RES_BUILD_LOG_LINE: u64 = 101;
/// `resPostBuildLogLine`: a line the post-build hook printed; fields `[line]`.
const RES_POST_BUILD_LOG_LINE: u64 = 107;
/// `resProgress`: fields `[done, expected, running, failed]`.
const RES_PROGRESS: u64 = 105;

/// What one line of nix's log said, as far as a deploy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildLogEvent {
    /// A derivation's build started.
    BuildStarted {
        /// The derivation (`/nix/store/...drv`).
        drv: String,
    },
    /// A derivation's build ended (its outcome is in nix's exit status and
    /// messages).
    BuildStopped {
        /// The derivation.
        drv: String,
    },
    /// A store path is being fetched from a binary cache.
    Substituting {
        /// The store path.
        path: String,
    },
    /// Nix started fetching something over the network or into the store:
    /// a flake input's tree, or a download.
    Fetching {
        /// What, as nix says it (`fetching tree`, `downloading 'URL'`).
        what: String,
    },
    /// A line printed by a derivation's builder.
    LogLine {
        /// The derivation being built.
        drv: String,
        /// The line, without its end.
        line: String,
    },
    /// Nix's own count of the command's builds.
    Progress {
        /// Builds done.
        done: u64,
        /// Builds expected in all.
        expected: u64,
        /// Builds running now.
        running: u64,
        /// Builds failed.
        failed: u64,
    },
    /// A message for a human (warnings, errors), colours removed.
    Message {
        /// Nix's verbosity level: 0 error, 1 warning, 3 info and up.
        level: u64,
        /// The text.
        text: String,
    },
}

#[derive(Deserialize)]
struct Line {
    action: String,
    #[serde(default)]
    id: u64,
    #[serde(default, rename = "type")]
    kind: u64,
    #[serde(default)]
    fields: Vec<serde_json::Value>,
    #[serde(default)]
    level: u64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    text: String,
}

/// A reader of one nix command's log: it remembers which activity is which
/// derivation's build, so that stops and log lines can name it.
#[derive(Debug, Default)]
pub struct BuildLog {
    /// Activity id -> what it is.
    activities: HashMap<u64, Activity>,
}

#[derive(Debug)]
enum Activity {
    Build(String),
    Builds,
}

impl BuildLog {
    /// A reader that has seen nothing yet.
    pub fn new() -> BuildLog {
        BuildLog::default()
    }

    /// What `line` (one line of nix's stderr) says, if anything of interest.
    /// A line that is not `@nix {...}` is a message as it stands.
    pub fn read(&mut self, line: &str) -> Option<BuildLogEvent> {
        let Some(json) = line.strip_prefix("@nix ") else {
            let text = strip_colours(line.trim_end());
            return (!text.trim().is_empty()).then_some(BuildLogEvent::Message { level: 0, text });
        };
        let parsed: Line = serde_json::from_str(json).ok()?;
        let field = |i: usize| parsed.fields.get(i);
        let text_field = |i: usize| field(i).and_then(|v| v.as_str()).map(str::to_string);
        let number_field = |i: usize| field(i).and_then(|v| v.as_u64()).unwrap_or(0);
        match parsed.action.as_str() {
            "start" => match parsed.kind {
                ACT_BUILD => {
                    let drv = text_field(0)?;
                    self.activities.insert(parsed.id, Activity::Build(drv.clone()));
                    Some(BuildLogEvent::BuildStarted { drv })
                }
                ACT_BUILDS => {
                    self.activities.insert(parsed.id, Activity::Builds);
                    None
                }
                ACT_SUBSTITUTE => Some(BuildLogEvent::Substituting { path: text_field(0)? }),
                ACT_FETCH_TREE | ACT_FILE_TRANSFER => {
                    Some(BuildLogEvent::Fetching { what: strip_colours(&parsed.text) })
                }
                _ => None,
            },
            "stop" => match self.activities.remove(&parsed.id)? {
                Activity::Build(drv) => Some(BuildLogEvent::BuildStopped { drv }),
                Activity::Builds => None,
            },
            "result" => match (self.activities.get(&parsed.id)?, parsed.kind) {
                (Activity::Build(drv), RES_BUILD_LOG_LINE | RES_POST_BUILD_LOG_LINE) => {
                    Some(BuildLogEvent::LogLine { drv: drv.clone(), line: strip_colours(&text_field(0)?) })
                }
                (Activity::Builds, RES_PROGRESS) => Some(BuildLogEvent::Progress {
                    done: number_field(0),
                    expected: number_field(1),
                    running: number_field(2),
                    failed: number_field(3),
                }),
                _ => None,
            },
            "msg" => Some(BuildLogEvent::Message { level: parsed.level, text: strip_colours(&parsed.msg) }),
            _ => None,
        }
    }
}

/// `glibc-2.39-52` for `/nix/store/HASH-glibc-2.39-52.drv`.
pub fn derivation_name(drv: &str) -> &str {
    let Some((_, base)) = drv.rsplit_once('/') else { return drv };
    let base = base.strip_suffix(".drv").unwrap_or(base);
    base.split_once('-').map_or(base, |(_, name)| name)
}

/// `text` without ANSI escape sequences (nix colours its messages).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<BuildLogEvent> {
        let mut log = BuildLog::new();
        text.lines().filter_map(|line| log.read(line)).collect()
    }

    /// Recorded from Debian's nix 2.8.0: `nix build --keep-going --log-format
    /// internal-json` of `top-2.0` (which needs `dep-1.0`) and of `bad-0.1`,
    /// whose builder fails.
    #[test]
    fn reads_what_nix_2_8_writes() {
        let events = read_all(include_str!("testdata/build-log-nix-2.8.txt"));
        let started: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                BuildLogEvent::BuildStarted { drv } => Some(derivation_name(drv)),
                _ => None,
            })
            .collect();
        assert_eq!(started, ["bad-0.1", "dep-1.0", "top-2.0"]);
        let stopped = events.iter().filter(|e| matches!(e, BuildLogEvent::BuildStopped { .. })).count();
        assert_eq!(stopped, 3);
        assert!(events.contains(&BuildLogEvent::LogLine {
            drv: "/nix/store/gxmm2x44x6dkbwvdr1m3pdr64yc45pgr-dep-1.0.drv".into(),
            line: "line two".into(),
        }));
        let last_progress = events.iter().rev().find_map(|e| match e {
            BuildLogEvent::Progress { done, expected, failed, .. } => Some((*done, *expected, *failed)),
            _ => None,
        });
        assert_eq!(last_progress, Some((2, 2, 1)));
        let error = events.iter().find_map(|e| match e {
            BuildLogEvent::Message { level: 0, text } => Some(text.as_str()),
            _ => None,
        });
        assert!(error.is_some_and(|t| t.starts_with("error: builder for '/nix/store/")), "{error:?}");
    }

    /// The same activities as newer Nix versions write them: a `parent`
    /// (2.19), a `machine` for remote builds, positions on messages, and
    /// activity types 2.8 does not have (112, fetching a tree).
    #[test]
    fn reads_what_newer_nix_writes() {
        let events = read_all(
            r#"@nix {"action":"start","id":7,"level":0,"parent":0,"text":"","type":104}
@nix {"action":"start","id":9,"level":4,"parent":0,"text":"fetching tree","type":112}
@nix {"action":"start","fields":["/nix/store/aaaa-glibc-2.40-36.drv","ssh-ng://builder",1,1],"id":8,"level":3,"machine":"ssh-ng://builder","parent":7,"text":"building '/nix/store/aaaa-glibc-2.40-36.drv' on 'ssh-ng://builder'","type":105}
@nix {"action":"result","fields":["configuring"],"id":8,"type":101}
@nix {"action":"result","fields":["installPhase"],"id":8,"type":104}
@nix {"action":"result","fields":[0,4,1,0],"id":7,"type":105}
@nix {"action":"msg","column":null,"file":null,"level":1,"line":null,"msg":"\u001b[35;1mwarning:\u001b[0m Git tree is dirty","raw_msg":"Git tree is dirty"}
@nix {"action":"stop","id":8}
@nix {"action":"stop","id":9}
not json at all
"#,
        );
        assert_eq!(
            events,
            [
                BuildLogEvent::Fetching { what: "fetching tree".into() },
                BuildLogEvent::BuildStarted { drv: "/nix/store/aaaa-glibc-2.40-36.drv".into() },
                BuildLogEvent::LogLine {
                    drv: "/nix/store/aaaa-glibc-2.40-36.drv".into(),
                    line: "configuring".into()
                },
                BuildLogEvent::Progress { done: 0, expected: 4, running: 1, failed: 0 },
                BuildLogEvent::Message { level: 1, text: "warning: Git tree is dirty".into() },
                BuildLogEvent::BuildStopped { drv: "/nix/store/aaaa-glibc-2.40-36.drv".into() },
                BuildLogEvent::Message { level: 0, text: "not json at all".into() },
            ]
        );
    }

    #[test]
    fn derivation_names_drop_hash_and_suffix() {
        assert_eq!(derivation_name("/nix/store/abc-glibc-2.39-52.drv"), "glibc-2.39-52");
        assert_eq!(derivation_name("nixos-system-x"), "nixos-system-x");
        assert_eq!(strip_colours("\u{1b}[31;1merror:\u{1b}[0m x"), "error: x");
    }
}
