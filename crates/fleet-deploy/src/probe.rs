//! Reading what each node's profile on a target points at, in one round trip.

use std::collections::HashMap;

use fleet_nix::{CommandError, Failure, RemoteScript};

use crate::job::STATE_DIR;
use crate::protocol;

/// `$1` state dir, `$2` `full` or `brief`; stdin: `NAME PROFILE` lines. Prints
/// per node its current system, whether an activation of it did not finish
/// and, when full, its generations (see the script's header). A deploy needs
/// only the brief form, which starts no program for a node whose profile is a
/// directory.
pub(crate) const PROBE: &str = crate::job::target_script!("probe.sh");

/// What the target reported for one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probed {
    /// The system the profile points at.
    pub(crate) current: Option<String>,
    /// An activation started and did not finish (the deployer or target died).
    pub(crate) pending: bool,
    /// The current generation number.
    pub(crate) generation: Option<u32>,
    /// When the current generation was made (UTC).
    pub(crate) since: Option<String>,
    /// Every generation of the profile whose system exists: number and
    /// system, by number.
    pub(crate) generations: Vec<(u32, String)>,
}

impl Probed {
    /// The newest generation before the current one.
    pub(crate) fn previous(&self) -> Option<&(u32, String)> {
        let current = self.generation?;
        self.generations.iter().rev().find(|(n, _)| *n < current)
    }
}

/// The script that probes `nodes` (name, profile); the list goes on stdin.
pub(crate) fn probe_script(nodes: &[(String, String)], full: bool) -> RemoteScript {
    let detail = if full { "full" } else { "brief" };
    let input: String = nodes.iter().map(|(name, profile)| format!("{name} {profile}\n")).collect();
    RemoteScript::new(PROBE, [STATE_DIR, detail]).with_input(input)
}

/// Maps probe output back to the nodes asked for (name, profile), in order.
/// What a node's profile folder holds is hostile (a container's root writes
/// it): a value in no expected form is that node's error, which names it. A
/// line in no known form, a node reported twice or not at all, or output that
/// ends early is the whole probe's error.
pub(crate) fn parse_probe(
    out: &str,
    nodes: &[(String, String)],
) -> Result<Vec<Result<Probed, CommandError>>, CommandError> {
    let protocol = |why: String| CommandError {
        command: "probe profiles".into(),
        failure: Failure::Output(format!("the probe's output is not what it prints: {why}")),
    };
    let profiles: HashMap<&str, &str> = nodes.iter().map(|(n, p)| (n.as_str(), p.as_str())).collect();
    let mut found: HashMap<&str, Result<Probed, String>> = HashMap::new();
    let mut ended = None;
    for line in out.lines() {
        if ended.is_some() {
            return Err(protocol(format!("a line after its end: `{}`", line.escape_debug())));
        }
        if let Some(count) = line.strip_prefix("end ") {
            ended = Some(count);
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let ["node", name, current, pending, generation, since, all] = fields[..] else {
            return Err(protocol(format!("an unknown line `{}`", line.escape_debug())));
        };
        let Some(profile) = profiles.get(name) else {
            return Err(protocol(format!(
                "a line for node `{}`, which was not asked for",
                name.escape_debug()
            )));
        };
        let probed = node_fields(profile, current, pending, generation, since, all);
        if found.insert(name, probed).is_some() {
            return Err(protocol(format!("node {name} reported twice")));
        }
    }
    if ended != Some(&nodes.len().to_string()) {
        return Err(protocol(format!("it ended before its `end {}` line", nodes.len())));
    }
    nodes
        .iter()
        .map(|(name, _)| {
            let probed =
                found.remove(name.as_str()).ok_or_else(|| protocol(format!("node {name} not reported")))?;
            Ok(probed.map_err(|why| CommandError {
                command: format!("probe the profile of {name}"),
                failure: Failure::Output(why),
            }))
        })
        .collect()
}

/// One node's fields, checked: every path a store path, every number digits.
fn node_fields(
    profile: &str,
    current: &str,
    pending: &str,
    generation: &str,
    since: &str,
    all: &str,
) -> Result<Probed, String> {
    let not_nix_env = "something other than nix-env made it (in a container, its root can)";
    let current = match current {
        "" => None,
        text => Some(protocol::store_path(text).map_err(|shown| {
            format!(
                "{profile} resolves to `{shown}`, which is not a store path; {not_nix_env}: \
                 point it at a system (nix-env -p {profile} --set PATH) or remove it"
            )
        })?),
    };
    let generation = match generation {
        "" => None,
        text => Some(generation_number(text).ok_or_else(|| {
            format!(
                "{profile} links to `{}`, which is not a generation link (NAME-N-link, N at most 9 digits); \
                 {not_nix_env}: remove it or point it at a generation",
                protocol::shown(text)
            )
        })?),
    };
    let mut generations = Vec::new();
    for word in all.split(' ').filter(|w| !w.is_empty()) {
        let link = word.split_once(':').and_then(|(n, path)| Some((generation_number(n)?, path)));
        match link {
            Some((_, "")) => {}
            Some((number, path)) => {
                let path = protocol::store_path(path).map_err(|shown| {
                    format!("generation {number} of {profile} links to `{shown}`, which is not a store path; {not_nix_env}: remove {profile}-{number}-link")
                })?;
                generations.push((number, path));
            }
            None => {
                return Err(format!(
                    "the folder of {profile} holds `{}`, which is not a generation link (NAME-N-link, N at most 9 \
                     digits); {not_nix_env}: remove it",
                    protocol::shown(word)
                ))
            }
        }
    }
    generations.sort();
    let since = match since {
        "" => None,
        secs => Some(crate::lock::utc(
            secs.parse().map_err(|_| format!("a date that is not a number: {secs:?}"))?,
        )),
    };
    Ok(Probed { current, pending: pending == "pending", generation, since, generations })
}

/// A generation number as the probe prints it: 1 to 9 digits.
fn generation_number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-a";
    const B: &str = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-nixos-system-b";

    fn nodes(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.to_string(), format!("/p/{n}/system"))).collect()
    }

    fn errors(got: &[Result<Probed, CommandError>]) -> Vec<String> {
        got.iter().map(|r| r.as_ref().err().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn probe_output_maps_to_nodes() {
        let out = format!("node\tb\t{A}\tpending\t3\t1764133200\t3:{A} 1:{B} 2:\nnode\ta\t\t\t\t\t\nend 2\n");
        let got = parse_probe(&out, &nodes(&["a", "b"])).unwrap();
        assert_eq!(got[0].as_ref().unwrap(), &Probed::default());
        let b = got[1].as_ref().unwrap();
        assert_eq!(
            b,
            &Probed {
                current: Some(A.into()),
                pending: true,
                generation: Some(3),
                since: Some("2025-11-26T05:00:00Z".into()),
                generations: vec![(1, B.into()), (3, A.into())],
            }
        );
        assert_eq!(b.previous(), Some(&(1, B.to_string())));
    }

    /// What a container's root can write in its profile folder is named,
    /// escaped, as that node's error; the other nodes are read as usual.
    #[test]
    fn hostile_profile_values_are_that_nodes_error() {
        let hex = |text: &str| format!("!{}", text.bytes().map(|b| format!("{b:02x}")).collect::<String>());
        let cases = [
            (
                format!("{}\t\t\t\t", hex("/tmp/x\x1b]52;c;AAAA\x07")),
                "resolves to `/tmp/x\\u{1b}]52;c;AAAA\\u{7}`",
            ),
            (
                "/nix/store/short\t\t\t\t".to_string(),
                "resolves to `/nix/store/short`, which is not a store path",
            ),
            (
                format!("{A}\t\t{}\t\t", hex("system-a[$(touch PWNED)]-link")),
                "links to `system-a[$(touch PWNED)]-link`",
            ),
            (format!("{A}\t\t3\t\t{}", hex("system-999999999999-link")), "holds `system-999999999999-link`"),
            (
                format!("{A}\t\t3\t\t3:{}", hex("/nix/store/x\n\tnode")),
                "generation 3 of /p/b/system links to `/nix/store/x\\n\\tnode`",
            ),
        ];
        for (fields, expect) in cases {
            let out = format!("node\ta\t{A}\t\t\t\t\nnode\tb\t{fields}\nend 2\n");
            let got = parse_probe(&out, &nodes(&["a", "b"])).unwrap();
            assert!(got[0].is_ok(), "{got:?}");
            let errors = errors(&got);
            assert!(errors[1].contains(expect), "{fields:?}: {}", errors[1]);
            assert!(!errors[1].contains('\x1b') && !errors[1].contains('\n'), "{}", errors[1]);
        }
    }

    #[test]
    fn output_in_no_known_form_is_a_protocol_error() {
        let line = format!("node\ta\t{A}\t\t\t\t\n");
        for (out, expect) in [
            (format!("{line}{line}end 1\n"), "node a reported twice"),
            (format!("{line}hello\nend 1\n"), "an unknown line `hello`"),
            (format!("{line}node\tz\t\t\t\t\t\nend 1\n"), "node `z`, which was not asked for"),
            (line.clone(), "ended before its `end 1` line"),
            (format!("{line}end 1\nnode\n"), "a line after its end"),
            ("end 1\n".to_string(), "node a not reported"),
        ] {
            let got = parse_probe(&out, &nodes(&["a"]));
            let err = got.map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(expect), "{out:?}: {err}");
        }
    }

    /// The script itself, run by dash and by bash (NixOS's `sh`), on links a
    /// container's root could make: nothing they name runs, the count-down of
    /// a huge generation number is gone, and each is printed encoded.
    #[test]
    fn the_probe_runs_nothing_a_link_says_and_encodes_it() {
        let dir = std::env::temp_dir().join(format!("fleet-probe-hostile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let profiles = dir.join("per-container/web");
        std::fs::create_dir_all(&profiles).unwrap();
        let pwned = dir.join("PWNED");
        let link =
            |target: &str, name: &str| std::os::unix::fs::symlink(target, profiles.join(name)).unwrap();
        // Relative: a link's name holds no `/`. The probe runs in `dir`.
        let payload = "system-a[$(touch PWNED)]-link";
        link(payload, "system");
        link("/nix/store/x\n\tnode\tvps\t/nix/store/forged", "system-1-link");
        link(dir.to_str().unwrap(), "system-999999999999-link");
        link("/nonexistent", payload);
        let profile = profiles.join("system").display().to_string();
        for shell in ["sh", "bash"] {
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(PROBE)
                .args(["probe", dir.to_str().unwrap(), "full"])
                .current_dir(&dir)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write;
                    child.stdin.take().unwrap().write_all(format!("web {profile}\n").as_bytes())?;
                    child.wait_with_output()
                })
                .unwrap();
            let out = String::from_utf8(out.stdout).unwrap();
            assert!(!pwned.exists(), "{shell} ran what a link name said");
            assert_eq!(out.lines().count(), 2, "{shell}: one line for the node and the end: {out:?}");
            let got = parse_probe(&out, &[("web".into(), profile.clone())]).unwrap();
            let error = errors(&got).remove(0);
            assert!(error.contains("links to `system-a[$(touch "), "{shell}: {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
