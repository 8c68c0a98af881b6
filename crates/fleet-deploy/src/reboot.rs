//! Whether a host needs a reboot, read from what `sh/reboot.sh state` prints:
//! the system its profile boots next against the one it booted (kernel,
//! initrd, kernel modules, systemd), and against the one it runs.

use crate::protocol::{shown, store_path};

/// Runs `state`, `start` and `containers` on a host (see the file).
pub(crate) const REBOOT: &str = crate::job::target_script!("reboot.sh");

/// The parts of a system a running host keeps from its boot: a switch cannot
/// change them, a reboot does.
pub(crate) const BOOT_PARTS: [&str; 4] = ["kernel", "initrd", "kernel-modules", "systemd"];

/// Which hosts `deploy --reboot` reboots once their nodes are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    /// None (the default).
    Never,
    /// Those that need it: their profile's system is not running yet (goal
    /// `boot`), or its kernel, initrd, kernel modules or systemd differ from
    /// the booted system's (`--reboot`).
    WhenNeeded,
    /// Every host deployed without a failure (`--reboot-always`).
    Always,
}

/// What a host's `reboot.sh state` said; each path checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootState {
    /// The system the profile boots next.
    pub(crate) next: Option<String>,
    /// `/run/current-system`.
    pub(crate) current: Option<String>,
    /// `/run/booted-system`.
    pub(crate) booted: Option<String>,
    /// Each of [`BOOT_PARTS`]: as booted, and in the next system.
    pub(crate) parts: Vec<(&'static str, Option<String>, Option<String>)>,
    /// The mark `reboot.sh start` leaves in `/run` is still there: the host
    /// has not booted since.
    pub(crate) pending: bool,
}

impl BootState {
    /// Parses the lines of `reboot.sh state`: exactly the keys it prints, in
    /// its order, each value `-` or a store path (with a path inside it for a
    /// part). The error shows the offending line escaped.
    pub(crate) fn parse(text: &str) -> Result<BootState, String> {
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

    /// Why the host needs a reboot to run its profile's system as booted,
    /// one reason each; empty when it does not.
    pub(crate) fn reasons(&self) -> Vec<String> {
        if self.next.is_none() {
            return Vec::new();
        }
        if self.booted.is_none() {
            return vec!["no /run/booted-system to compare with".to_string()];
        }
        let mut reasons = Vec::new();
        if self.current != self.next {
            reasons.push("its profile's system is not running yet".to_string());
        }
        reasons.extend(
            self.parts
                .iter()
                .filter(|(_, was, will)| was != will)
                .map(|(part, ..)| format!("{part} changed")),
        );
        reasons
    }
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
    fn a_reboot_is_needed_when_a_boot_part_or_the_running_system_differs() {
        let same = BootState::parse(&state(B, B, A, (LINUX, LINUX), "no")).unwrap();
        assert_eq!(same.reasons(), Vec::<String>::new(), "a switch that kept the kernel needs no reboot");
        let kernel = BootState::parse(&state(B, B, A, (LINUX, LINUX_NEW), "no")).unwrap();
        assert_eq!(kernel.reasons(), ["kernel changed"]);
        let boot = BootState::parse(&state(B, A, A, (LINUX, LINUX), "yes")).unwrap();
        assert!(boot.pending);
        assert_eq!(boot.reasons(), ["its profile's system is not running yet"]);
        let unknown = BootState::parse(&state(B, B, "-", ("-", "-"), "no")).unwrap();
        assert_eq!(unknown.reasons(), ["no /run/booted-system to compare with"]);
        let nothing = BootState::parse(&state("-", "-", "-", ("-", "-"), "no")).unwrap();
        assert_eq!(nothing.reasons(), Vec::<String>::new(), "no profile: nothing to boot into");
    }

    #[test]
    fn hostile_or_malformed_state_is_refused_escaped() {
        let error = |text: &str| BootState::parse(text).unwrap_err();
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
        assert!(error("current x\n").contains("expected a `next` line"));
        assert!(error("").contains("ended before its `next` line"));
    }
}
