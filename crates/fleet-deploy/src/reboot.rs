//! Whether a host needs a reboot, from what `sh/reboot.sh state` prints
//! (decoded by `protocol/reboot.rs`): the system its profile boots next
//! against the one it booted (kernel, initrd, kernel modules, systemd), and
//! against the one it runs.

/// Runs `state`, `start` and `containers` on a host (see the file).
pub(crate) const REBOOT: &str = crate::job::target_script!("reboot.sh");

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
    /// Each of the parts a reboot changes (`BOOT_PARTS` of
    /// `protocol/reboot.rs`): as booted, and in the next system.
    pub(crate) parts: Vec<(&'static str, Option<String>, Option<String>)>,
    /// The mark `reboot.sh start` leaves in `/run` is still there: the host
    /// has not booted since.
    pub(crate) pending: bool,
}

impl BootState {
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

#[cfg(test)]
mod tests {
    use super::*;

    // Decoded values (see `protocol/reboot.rs` for the checks): only which
    // are equal matters here.
    const A: &str = "/nix/store/a-system";
    const B: &str = "/nix/store/b-system";
    const LINUX: &str = "/nix/store/l-linux-6.6/bzImage";
    const LINUX_NEW: &str = "/nix/store/m-linux-6.7/bzImage";

    /// A state with `-` for none, as `reboot.sh` prints it.
    fn state(next: &str, current: &str, booted: &str, kernels: (&str, &str), pending: bool) -> BootState {
        let path = |p: &str| (p != "-").then(|| p.to_string());
        let parts = ["kernel", "initrd", "kernel-modules", "systemd"]
            .into_iter()
            .map(|part| match part {
                "kernel" => (part, path(kernels.0), path(kernels.1)),
                _ => (part, None, None),
            })
            .collect();
        BootState { next: path(next), current: path(current), booted: path(booted), parts, pending }
    }

    #[test]
    fn a_reboot_is_needed_when_a_boot_part_or_the_running_system_differs() {
        let same = state(B, B, A, (LINUX, LINUX), false);
        assert_eq!(same.reasons(), Vec::<String>::new(), "a switch that kept the kernel needs no reboot");
        let kernel = state(B, B, A, (LINUX, LINUX_NEW), false);
        assert_eq!(kernel.reasons(), ["kernel changed"]);
        let boot = state(B, A, A, (LINUX, LINUX), true);
        assert_eq!(boot.reasons(), ["its profile's system is not running yet"]);
        let unknown = state(B, B, "-", ("-", "-"), false);
        assert_eq!(unknown.reasons(), ["no /run/booted-system to compare with"]);
        let nothing = state("-", "-", "-", ("-", "-"), false);
        assert_eq!(nothing.reasons(), Vec::<String>::new(), "no profile: nothing to boot into");
    }
}
