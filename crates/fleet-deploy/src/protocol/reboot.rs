//! A host's reboot conversation (`sh/reboot.sh`): its verbs, encoded, and
//! what `state` and `containers` print, decoded and checked.

use super::{shown, store_path};
use crate::reboot::BootState;

/// The parts of a system a running host keeps from its boot: a switch cannot
/// change them, a reboot does. `state` prints each as booted and as in the
/// next system (`booted-PART`, `next-PART`).
pub(crate) const BOOT_PARTS: [&str; 4] = ["kernel", "initrd", "kernel-modules", "systemd"];

/// What `reboot.sh` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RebootVerb<'a> {
    /// `state`: print the boot state ([`boot_state`] reads it).
    State,
    /// `start`: mark `/run` and ask systemd to reboot.
    Start,
    /// `containers NAME...`: whether each container's unit is active
    /// ([`containers_down`] reads it).
    Containers(&'a [String]),
}

impl RebootVerb<'_> {
    /// The script's arguments.
    pub(crate) fn args(&self) -> Vec<String> {
        match self {
            RebootVerb::State => vec!["state".into()],
            RebootVerb::Start => vec!["start".into()],
            RebootVerb::Containers(names) => {
                std::iter::once("containers".into()).chain(names.iter().cloned()).collect()
            }
        }
    }
}

/// Decodes the lines of `reboot.sh state`: exactly the keys it prints, in
/// its order, each value `-` or a store path (with a path inside it for a
/// part). The error shows the offending line escaped.
pub(crate) fn boot_state(text: &str) -> Result<BootState, String> {
    let mut lines = text.lines();
    let mut field = |key: &str| -> Result<Option<String>, String> {
        let line = lines.next().ok_or_else(|| format!("it ended before its `{key}` line"))?;
        let value = line
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("expected a `{key}` line, got `{}`", shown(line)))?;
        match value {
            "-" => Ok(None),
            path => store_path_within(path)
                .map(Some)
                .map_err(|shown| format!("`{key}` is `{shown}`, not a store path")),
        }
    };
    let next = field("next")?;
    let current = field("current")?;
    let booted = field("booted")?;
    let mut parts = Vec::new();
    for part in BOOT_PARTS {
        let was = field(&format!("booted-{part}"))?;
        let will = field(&format!("next-{part}"))?;
        parts.push((part, was, will));
    }
    let pending = match lines.next() {
        Some("pending yes") => true,
        Some("pending no") => false,
        other => {
            return Err(format!(
                "expected `pending yes` or `pending no`, got `{}`",
                shown(other.unwrap_or(""))
            ))
        }
    };
    if let Some(extra) = lines.next() {
        return Err(format!("unexpected line `{}` after `pending`", shown(extra)));
    }
    Ok(BootState { next, current, booted, parts, pending })
}

/// A store path, or a path inside one (`/nix/store/HASH-linux-6.6/bzImage`):
/// the store path checked by [`store_path`], the rest plain file names.
fn store_path_within(text: &str) -> Result<String, String> {
    let inside =
        text.strip_prefix("/nix/store/").and_then(|rest| rest.find('/')).map(|at| at + "/nix/store/".len());
    let (path, rest) = inside.map_or((text, ""), |at| text.split_at(at));
    store_path(path)?;
    let plain = rest.split('/').skip(1).all(|name| {
        !name.is_empty()
            && name != "."
            && name != ".."
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
    });
    if plain {
        Ok(text.to_string())
    } else {
        Err(shown(text))
    }
}

/// Decodes `reboot.sh containers` for `containers`, the names it was given:
/// a `NAME active` or `NAME inactive` line each, in their order. Returns
/// those not active; `Err` names, escaped, a line in no known form.
pub(crate) fn containers_down<'a>(out: &str, containers: &'a [String]) -> Result<Vec<&'a str>, String> {
    let lines: Vec<&str> = out.lines().collect();
    if lines.len() != containers.len() {
        return Err(format!("{} lines for {} containers", lines.len(), containers.len()));
    }
    let mut down = Vec::new();
    for (name, line) in containers.iter().zip(lines) {
        match line.strip_prefix(name.as_str()) {
            Some(" active") => {}
            Some(" inactive") => down.push(name.as_str()),
            _ => return Err(format!("unexpected line `{}`", shown(line))),
        }
    }
    Ok(down)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/nix/store/0c7ip2wc0f4fvk3mkhbjqfhv5iz7xvz0-nixos-system-a";
    const B: &str = "/nix/store/1c7ip2wc0f4fvk3mkhbjqfhv5iz7xvz0-nixos-system-b";
    const LINUX: &str = "/nix/store/2c7ip2wc0f4fvk3mkhbjqfhv5iz7xvz0-linux-6.6/bzImage";
    const LINUX_NEW: &str = "/nix/store/3c7ip2wc0f4fvk3mkhbjqfhv5iz7xvz0-linux-6.7/bzImage";

    fn state(next: &str, current: &str, booted: &str, kernels: (&str, &str), pending: &str) -> String {
        let mut text = format!("next {next}\ncurrent {current}\nbooted {booted}\n");
        for part in BOOT_PARTS {
            let (was, will) = if part == "kernel" { kernels } else { ("-", "-") };
            text.push_str(&format!("booted-{part} {was}\nnext-{part} {will}\n"));
        }
        text + &format!("pending {pending}\n")
    }

    #[test]
    fn the_boot_state_reads_back() {
        let got = boot_state(&state(B, A, "-", (LINUX, LINUX_NEW), "yes")).unwrap();
        assert_eq!((got.next.as_deref(), got.current.as_deref(), got.booted), (Some(B), Some(A), None));
        assert_eq!(got.parts[0], ("kernel", Some(LINUX.to_string()), Some(LINUX_NEW.to_string())));
        assert_eq!(got.parts[3], ("systemd", None, None));
        assert!(got.pending);
    }

    #[test]
    fn hostile_or_malformed_state_is_refused_escaped() {
        let error = |text: &str| boot_state(text).unwrap_err();
        assert_eq!(
            error(&state(B, "/nix/store/x\x1b[2J", A, (LINUX, LINUX), "no")),
            "`current` is `/nix/store/x\\u{1b}[2J`, not a store path"
        );
        assert!(error(&state(
            B,
            B,
            A,
            ("/nix/store/2c7ip2wc0f4fvk3mkhbjqfhv5iz7xvz0-linux/../../etc", LINUX),
            "no"
        ))
        .contains("`booted-kernel`"));
        assert!(error(&state(B, B, A, (LINUX, LINUX), "maybe")).contains("`pending yes` or `pending no`"));
        assert!(error(&(state(B, B, A, (LINUX, LINUX), "no") + "next x\n")).contains("unexpected line"));
        assert_eq!(error("current x\n"), "expected a `next` line, got `current x`");
        assert_eq!(
            error("next\u{1b}]52;c;AAAA\u{7}\n"),
            "expected a `next` line, got `next\\u{1b}]52;c;AAAA\\u{7}`"
        );
        assert!(error("").contains("ended before its `next` line"));
    }

    #[test]
    fn container_states_read_back_and_an_unknown_line_is_an_error() {
        let names = ["web", "db"].map(String::from);
        assert_eq!(containers_down("web active\ndb inactive\n", &names), Ok(vec!["db"]));
        for (out, expect) in [
            ("web active\n", "1 lines for 2 containers"),
            ("db active\nweb active\n", "unexpected line `db active`"),
            ("web running\ndb active\n", "unexpected line `web running`"),
            ("web active\ndb \u{1b}[2Jactive\n", "unexpected line `db \\u{1b}[2Jactive`"),
        ] {
            assert_eq!(containers_down(out, &names), Err(expect.to_string()), "{out:?}");
        }
        assert_eq!(RebootVerb::Containers(&names).args(), ["containers", "web", "db"]);
        assert_eq!(
            (RebootVerb::State.args(), RebootVerb::Start.args()),
            (vec!["state".to_string()], vec!["start".to_string()])
        );
    }

    /// The script's `state`, run by `sh` on this machine (no profile, no
    /// booted system, nothing pending): what it prints decodes.
    #[test]
    fn reboot_sh_state_decodes() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(crate::reboot::REBOOT)
            .arg("reboot.sh")
            .args(RebootVerb::State.args())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let state = boot_state(&text).unwrap_or_else(|why| panic!("{why}: {text}"));
        assert_eq!(state.parts.len(), BOOT_PARTS.len());
    }
}
