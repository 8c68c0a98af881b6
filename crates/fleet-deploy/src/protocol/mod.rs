//! The typed protocol between the deployer and the scripts it runs on a
//! target, both ways: every word the deployer sends a script is encoded here,
//! and every line a script prints is decoded here and nowhere else, one file
//! per conversation: `agent.rs` (the agent's requests, a job's spec, the
//! agent's reports), `status.rs` (a job's status words and its log's own
//! notes), `probe.rs` (`sh/probe.sh`), `units.rs` (`sh/units.sh`),
//! `reboot.rs` (`sh/reboot.sh`) and `exec.rs` (`sh/exec.sh`). What a target
//! prints is hostile: each decoder is strict, and a line in no known form is
//! an error that names it, escaped by [`shown`]. The scripts' side of the
//! exit codes and status words is `sh/prelude.sh`, which goes in front of each
//! script; a test holds the two in step.

mod agent;
mod exec;
pub(crate) mod probe;
mod reboot;
mod status;
mod units;

pub(crate) use agent::{job_spec, Locked, Report, Request, SpecLines, Taking};
pub(crate) use exec::session_started;
pub(crate) use reboot::{boot_state, containers_down, RebootVerb};
pub(crate) use status::{failed_step_lines, FinalStatus, Progress};
pub(crate) use units::changed_units;

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

#[cfg(test)]
mod tests {
    use super::status::{FAILED, OK, REFUSED, ROLLED_BACK, STARTED, SWITCHED};
    use super::*;

    /// What `target_script!` puts in front of every target script.
    const PRELUDE: &str = include_str!("../sh/prelude.sh");

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
            ("reboot.sh", crate::reboot::REBOOT),
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
}
