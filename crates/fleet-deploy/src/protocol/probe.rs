//! The probe's conversation (`sh/probe.sh`): the nodes asked for, encoded,
//! and the line per node it prints, decoded and checked.

use std::collections::HashMap;

use super::{shown, store_path};
use crate::probe::Probed;

/// The probe's argument that asks for every generation too (status and
/// rollback need them); [`BRIEF`] asks for the current system only.
const FULL: &str = "full";
const BRIEF: &str = "brief";
/// The first field of a node's line.
const NODE: &str = "node";
/// The value of a node's PENDING field when an activation did not finish.
const PENDING: &str = "pending";
/// The last line's first word, before the count of nodes.
const END: &str = "end ";

/// The probe's argument after the state dir.
pub(crate) fn detail(full: bool) -> &'static str {
    if full {
        FULL
    } else {
        BRIEF
    }
}

/// The probe's stdin: a `NAME PROFILE` line per node (name, profile).
pub(crate) fn input(nodes: &[(String, String)]) -> String {
    nodes.iter().map(|(name, profile)| format!("{name} {profile}\n")).collect()
}

/// Decodes the probe's output for the nodes asked for (name, profile): one
/// result per node, in their order. What a node's profile folder holds is
/// hostile (a container's root writes it): a value in no expected form is
/// that node's error, which names it. A line in no known form, a node
/// reported twice or not at all, or output that ends early is the whole
/// output's error.
pub(crate) fn decode(out: &str, nodes: &[(String, String)]) -> Result<Vec<Result<Probed, String>>, String> {
    let profiles: HashMap<&str, &str> = nodes.iter().map(|(n, p)| (n.as_str(), p.as_str())).collect();
    let mut found: HashMap<&str, Result<Probed, String>> = HashMap::new();
    let mut ended = None;
    for line in out.lines() {
        if ended.is_some() {
            return Err(format!("a line after its end: `{}`", shown(line)));
        }
        if let Some(count) = line.strip_prefix(END) {
            ended = Some(count);
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let unknown = || format!("an unknown line `{}`", shown(line));
        let [NODE, name, current, pending, generation, since, all] = fields[..] else {
            return Err(unknown());
        };
        let pending = match pending {
            "" => false,
            PENDING => true,
            _ => return Err(unknown()),
        };
        let Some(profile) = profiles.get(name) else {
            return Err(format!("a line for node `{}`, which was not asked for", shown(name)));
        };
        let probed =
            node_fields(profile, current, generation, since, all).map(|fields| Probed { pending, ..fields });
        if found.insert(name, probed).is_some() {
            return Err(format!("node {name} reported twice"));
        }
    }
    if ended != Some(&nodes.len().to_string()) {
        return Err(format!("it ended before its `{END}{}` line", nodes.len()));
    }
    nodes
        .iter()
        .map(|(name, _)| found.remove(name.as_str()).ok_or_else(|| format!("node {name} not reported")))
        .collect()
}

/// One node's fields, checked: every path a store path, every number digits.
fn node_fields(
    profile: &str,
    current: &str,
    generation: &str,
    since: &str,
    all: &str,
) -> Result<Probed, String> {
    let not_nix_env = "something other than nix-env made it (in a container, its root can)";
    let current = match current {
        "" => None,
        text => Some(store_path(text).map_err(|shown| {
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
                shown(text)
            )
        })?),
    };
    let mut generations = Vec::new();
    for word in all.split(' ').filter(|w| !w.is_empty()) {
        let link = word.split_once(':').and_then(|(n, path)| Some((generation_number(n)?, path)));
        match link {
            Some((_, "")) => {}
            Some((number, path)) => {
                let path = store_path(path).map_err(|shown| {
                    format!("generation {number} of {profile} links to `{shown}`, which is not a store path; {not_nix_env}: remove {profile}-{number}-link")
                })?;
                generations.push((number, path));
            }
            None => {
                return Err(format!(
                    "the folder of {profile} holds `{}`, which is not a generation link (NAME-N-link, N at most 9 \
                     digits); {not_nix_env}: remove it",
                    shown(word)
                ))
            }
        }
    }
    generations.sort();
    let since = match since {
        "" => None,
        secs => Some(crate::lock::utc(
            secs.parse().map_err(|_| format!("a date that is not a number: `{}`", shown(secs)))?,
        )),
    };
    Ok(Probed { current, pending: false, generation, since, generations })
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

    fn errors(got: &[Result<Probed, String>]) -> Vec<String> {
        got.iter().map(|r| r.as_ref().err().cloned().unwrap_or_default()).collect()
    }

    #[test]
    fn probe_output_maps_to_nodes() {
        let out = format!("node\tb\t{A}\tpending\t3\t1764133200\t3:{A} 1:{B} 2:\nnode\ta\t\t\t\t\t\nend 2\n");
        let got = decode(&out, &nodes(&["a", "b"])).unwrap();
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
        assert_eq!(input(&nodes(&["a"])), "a /p/a/system\n");
        assert_eq!((detail(true), detail(false)), ("full", "brief"));
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
            (format!("{A}\t\t3\t1\x1b[2J\t"), "a date that is not a number: `1\\u{1b}[2J`"),
        ];
        for (fields, expect) in cases {
            let out = format!("node\ta\t{A}\t\t\t\t\nnode\tb\t{fields}\nend 2\n");
            let got = decode(&out, &nodes(&["a", "b"])).unwrap();
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
            (format!("{line}hello\x1b[2J\nend 1\n"), "an unknown line `hello\\u{1b}[2J`"),
            (format!("node\ta\t{A}\tdone\t\t\t\nend 1\n"), "an unknown line `node\\ta\\t/nix/store/"),
            (format!("nodes\ta\t{A}\t\t\t\t\nend 1\n"), "an unknown line `nodes\\ta"),
            (format!("node\ta\t{A}\t\t\t\t\t\nend 1\n"), "an unknown line `node\\ta"),
            (format!("{line}node\tz\x1b\t\t\t\t\t\nend 1\n"), "node `z\\u{1b}`, which was not asked for"),
            (line.clone(), "ended before its `end 1` line"),
            (format!("{line}end 01\n"), "ended before its `end 1` line"),
            (format!("{line}end 1\nnode\n"), "a line after its end"),
            ("end 1\n".to_string(), "node a not reported"),
        ] {
            let err = decode(&out, &nodes(&["a"])).unwrap_err();
            assert!(err.contains(expect), "{out:?}: {err}");
        }
    }
}
