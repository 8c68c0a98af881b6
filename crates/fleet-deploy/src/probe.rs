//! Reading what each node's profile on a target points at, in one round trip.

use std::collections::HashMap;

use fleet_nix::{CommandError, Failure, RemoteScript};

use crate::job::STATE_DIR;

/// `$1` state dir, `$2` `full` or `brief`, then `NAME PROFILE` pairs. Prints
/// per node: name, current system, `pending` if an activation of it did not
/// finish and, when full, the current generation number, the system of the
/// generation before it, when the current generation was made, the number of
/// the generation before it, and every generation as `NUMBER:SYSTEM` words. A deploy
/// needs only the brief form, which starts one program per node.
pub(crate) const PROBE: &str = concat!(include_str!("sh/exit-codes.sh"), include_str!("sh/probe.sh"));

/// What the target reported for one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probed {
    /// The system the profile points at.
    pub(crate) current: Option<String>,
    /// An activation started and did not finish (the deployer or target died).
    pub(crate) pending: bool,
    /// The current generation number.
    pub(crate) generation: Option<u32>,
    /// The system of the generation before the current one.
    pub(crate) previous: Option<String>,
    /// When the current generation was made (UTC).
    pub(crate) since: Option<String>,
    /// The number of the generation before the current one.
    pub(crate) previous_generation: Option<u32>,
    /// Every generation of the profile: number and system, by number.
    pub(crate) generations: Vec<(u32, String)>,
}

/// The script that probes `nodes` (name, profile).
pub(crate) fn probe_script(nodes: &[(String, String)], full: bool) -> RemoteScript {
    let detail = if full { "full" } else { "brief" };
    let args = [STATE_DIR.to_string(), detail.to_string()]
        .into_iter()
        .chain(nodes.iter().flat_map(|(name, profile)| [name.clone(), profile.clone()]));
    RemoteScript::new(PROBE, args)
}

/// Maps probe output back to the nodes asked for, in order.
pub(crate) fn parse_probe(out: &str, names: &[String]) -> Result<Vec<Probed>, CommandError> {
    let found: HashMap<&str, Probed> = out
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, current, pending, generation, previous, since, previous_generation, all] = fields[..]
            else {
                return None;
            };
            let path = |p: &str| (!p.is_empty()).then(|| p.to_string());
            let mut generations: Vec<(u32, String)> = all
                .split_whitespace()
                .filter_map(|word| {
                    let (number, system) = word.split_once(':')?;
                    Some((number.parse().ok()?, system.to_string()))
                })
                .collect();
            generations.sort();
            Some((
                name,
                Probed {
                    current: path(current),
                    pending: pending == "pending",
                    generation: generation.parse().ok(),
                    previous: path(previous),
                    since: path(since),
                    previous_generation: previous_generation.parse().ok(),
                    generations,
                },
            ))
        })
        .collect();
    names
        .iter()
        .map(|name| {
            found.get(name.as_str()).cloned().ok_or_else(|| CommandError {
                command: "probe profiles".into(),
                failure: Failure::Output(format!("the target did not report node {name}")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_nix::Target;

    #[test]
    fn probe_output_maps_to_nodes() {
        let names = vec!["a".to_string(), "b".to_string()];
        let got = parse_probe(
            "b\t/nix/store/x\tpending\t3\t/nix/store/w\t2026-11-26 05:00:00Z\t1\t3:/nix/store/x 1:/nix/store/w\n\
             a\t\t\t\t\t\t\t\n",
            &names,
        )
        .unwrap();
        assert_eq!(got[0], Probed::default());
        assert_eq!(
            got[1],
            Probed {
                current: Some("/nix/store/x".into()),
                pending: true,
                generation: Some(3),
                previous: Some("/nix/store/w".into()),
                since: Some("2026-11-26 05:00:00Z".into()),
                previous_generation: Some(1),
                generations: vec![(1, "/nix/store/w".into()), (3, "/nix/store/x".into())],
            }
        );
        let err = parse_probe("a\t\t\t\t\t\t\t\n", &names).unwrap_err();
        assert!(err.to_string().contains("did not report node b"), "{err}");
    }

    #[test]
    fn probe_reads_generations_like_nix_env_makes_them() {
        let dir = std::env::temp_dir().join(format!("fleet-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for system in ["one", "two"] {
            std::fs::create_dir_all(dir.join(system)).unwrap();
        }
        let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
        link(dir.join("one").to_str().unwrap(), "system-1-link");
        link(dir.join("two").to_str().unwrap(), "system-3-link");
        link("system-3-link", "system");
        let nodes = vec![
            ("web".to_string(), dir.join("system").display().to_string()),
            ("new".to_string(), dir.join("absent").display().to_string()),
        ];
        let out = Target::Local.run(&probe_script(&nodes, true)).unwrap();
        let got = parse_probe(&out, &["web".to_string(), "new".to_string()]).unwrap();
        let path = |p: &str| Some(dir.join(p).display().to_string());
        assert_eq!(
            got[0],
            Probed {
                current: path("two"),
                pending: false,
                generation: Some(3),
                previous: path("one"),
                since: got[0].since.clone(),
                previous_generation: Some(1),
                generations: vec![
                    (1, dir.join("one").display().to_string()),
                    (3, dir.join("two").display().to_string())
                ],
            }
        );
        let since = got[0].since.as_deref().unwrap_or_default();
        assert!(since.len() == 20 && since.ends_with('Z'), "a UTC date: {since}");
        assert_eq!(got[1], Probed::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
