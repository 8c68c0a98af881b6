//! The programs a testbed needs, and installing them on Debian when allowed.

use std::fmt;
use std::process::Command;
use std::sync::Mutex;

/// Programs the testbed, the demo and the tests run, with the Debian package of each.
pub const TESTBED_PROGRAMS: &[(&str, &str)] = &[
    ("nix", "nix-bin"),
    ("nix-daemon", "nix-bin"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("unshare", "util-linux"),
    ("mount", "mount"),
    // Not for the testbed itself: local closure diffs read the Nix database
    // with it, and the tests check that they do.
    ("sqlite3", "sqlite3"),
    // The target's non-root user becomes root with it, and its password is
    // hashed with openssl (Testbed::start_with_sudo_user).
    ("sudo", "sudo"),
    ("openssl", "openssl"),
];

/// Programs the systemd testbed needs beyond [`crate::TESTBED_PROGRAMS`], with
/// their Debian packages.
pub const SYSTEMD_PROGRAMS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("systemd", "systemd"),
    ("nsenter", "util-linux"),
    // The container units' stand-in tells systemd it is ready with it.
    ("python3", "python3"),
];

/// Programs that are missing, with the packages to install.
#[derive(Debug)]
pub struct Missing {
    /// `(program, Debian package)` pairs.
    pub programs: Vec<(&'static str, &'static str)>,
    /// Why they were not installed automatically, if an install was not tried or failed.
    pub reason: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut packages: Vec<&str> = self.programs.iter().map(|(_, p)| *p).collect();
        packages.dedup();
        write!(
            f,
            "this needs {} ({}); install them with `apt-get install {}` on Debian or your system's equivalent",
            self.programs.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "),
            self.reason,
            packages.join(" ")
        )
    }
}

impl std::error::Error for Missing {}

/// Serialises installs: tests start testbeds in parallel, and apt-get takes a lock.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Makes sure every program in `needed` (`(program, Debian package)` pairs, e.g.
/// [`TESTBED_PROGRAMS`]) exists. When some are missing and `install` is set, and
/// this is Debian as root, runs `apt-get` for them, telling `say` what it does.
/// Otherwise returns what to install.
pub fn ensure_programs(
    needed: &[(&'static str, &'static str)],
    install: bool,
    say: &mut dyn FnMut(&str),
) -> Result<(), Missing> {
    let _guard = INSTALLING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let missing = missing(needed);
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let debian = which::which("apt-get").is_ok();
    let reason = match (install, root, debian) {
        (false, _, _) => "not installed",
        (true, false, _) => "not installed, and installing them needs root",
        (true, true, false) => "not installed, and this is not a Debian-like system with apt-get",
        (true, true, true) => {
            let mut packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
            packages.sort_unstable();
            packages.dedup();
            say(&format!("installing {} with apt-get", packages.join(" ")));
            let quiet_env = [("DEBIAN_FRONTEND", "noninteractive")];
            let updated = Command::new("apt-get").args(["update", "-qq"]).envs(quiet_env).status();
            let installed = Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&packages)
                .envs(quiet_env)
                .status();
            if updated.is_ok_and(|s| s.success())
                && installed.is_ok_and(|s| s.success())
                && self::missing(needed).is_empty()
            {
                return Ok(());
            }
            "apt-get could not install them"
        }
    };
    Err(Missing { programs: self::missing(needed), reason: reason.to_string() })
}

fn missing(needed: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    needed
        .iter()
        .copied()
        .filter(|(program, _)| {
            which::which(program).is_err() && !std::path::Path::new("/usr/sbin").join(program).exists()
        })
        .collect()
}
