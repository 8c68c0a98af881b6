//! Reading which system each profile on a target points at, in one round trip.

use std::collections::HashMap;

use fleet_nix::{CommandError, Failure, RemoteScript};

/// Prints `profile<TAB>store path` per argument (empty path: no such profile).
const PROBE: &str = r#"for profile in "$@"; do
  printf '%s\t%s\n' "$profile" "$(readlink -e -- "$profile" || true)"
done
"#;

/// The script that probes `profiles`.
pub(crate) fn probe_script(profiles: &[String]) -> RemoteScript {
    RemoteScript::new(PROBE, profiles.iter().cloned())
}

/// Maps probe output back to the profiles asked for, in order.
pub(crate) fn parse_probe(
    out: &str,
    profiles: &[String],
) -> Result<Vec<Option<String>>, CommandError> {
    let found: HashMap<&str, &str> = out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    profiles
        .iter()
        .map(|profile| match found.get(profile.as_str()) {
            Some(&"") => Ok(None),
            Some(path) => Ok(Some(path.to_string())),
            None => Err(CommandError {
                command: "probe profiles".into(),
                failure: Failure::Output(format!("the target did not report profile {profile}")),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_nix::Target;

    #[test]
    fn probe_output_maps_to_profiles() {
        let profiles = vec!["/a".to_string(), "/b".to_string()];
        let got = parse_probe("/b\t/nix/store/x\n/a\t\n", &profiles).unwrap();
        assert_eq!(got, vec![None, Some("/nix/store/x".to_string())]);
        let err = parse_probe("/a\t\n", &profiles).unwrap_err();
        assert!(
            err.to_string().contains("did not report profile /b"),
            "{err}"
        );
    }

    #[test]
    fn probe_follows_profile_links() {
        let dir = std::env::temp_dir().join(format!("fleet-probe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("store")).unwrap();
        let link = dir.join("system");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dir.join("store"), &link).unwrap();
        let profiles = vec![
            link.display().to_string(),
            dir.join("absent").display().to_string(),
        ];
        let out = Target::Local.run(&probe_script(&profiles)).unwrap();
        let got = parse_probe(&out, &profiles).unwrap();
        assert_eq!(
            got,
            vec![Some(dir.join("store").display().to_string()), None]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
