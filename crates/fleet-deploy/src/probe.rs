//! Reading what each node's profile on a target points at, in one round trip.

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
    RemoteScript::new(PROBE, [STATE_DIR, protocol::probe::detail(full)])
        .with_input(protocol::probe::input(nodes))
}

/// Maps probe output back to the nodes asked for (name, profile), in order
/// (see [`protocol::probe::decode`]): a node's own error, or the whole
/// probe's when the output is in no known form.
pub(crate) fn parse_probe(
    out: &str,
    nodes: &[(String, String)],
) -> Result<Vec<Result<Probed, CommandError>>, CommandError> {
    let decoded = protocol::probe::decode(out, nodes).map_err(|why| CommandError {
        command: "probe profiles".into(),
        failure: Failure::Output(format!("the probe's output is not what it prints: {why}")),
    })?;
    Ok(nodes
        .iter()
        .zip(decoded)
        .map(|((name, _), probed)| {
            probed.map_err(|why| CommandError {
                command: format!("probe the profile of {name}"),
                failure: Failure::Output(why),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(got: &[Result<Probed, CommandError>]) -> Vec<String> {
        got.iter().map(|r| r.as_ref().err().map(ToString::to_string).unwrap_or_default()).collect()
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
