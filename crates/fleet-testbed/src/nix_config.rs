//! The Nix configuration that every `nix` started by the tests, the demo and
//! the benchmarks reads, here and on the testbed's target: the project's
//! `nix-conf/nix.conf`, never the machine's `/etc/nix/nix.conf`,
//! `~/.config/nix/nix.conf` or `NIX_CONFIG`.

use std::process::Command;

/// The folder holding the project's `nix.conf`, for `NIX_CONF_DIR`.
pub const NIX_CONF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/nix-conf");

/// The project's `nix.conf`, for `NIX_USER_CONF_FILES`.
pub const NIX_CONF_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/nix-conf/nix.conf");

/// Its text, which the testbed also writes for its target.
pub const NIX_CONF: &str = include_str!("../nix-conf/nix.conf");

/// The environment that makes `nix` read only the project's configuration:
/// its folder as the system one, its file as the only user one, and an empty
/// `NIX_CONFIG`.
pub fn nix_env() -> [(&'static str, &'static str); 3] {
    [("NIX_CONF_DIR", NIX_CONF_DIR), ("NIX_USER_CONF_FILES", NIX_CONF_FILE), ("NIX_CONFIG", "")]
}

/// Gives `command` (a `nix`, or a program that starts `nix`) the project's
/// configuration.
pub fn hermetic(command: &mut Command) -> &mut Command {
    command.envs(nix_env())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_reads_the_project_config_and_not_the_callers() {
        // A caller's NIX_CONFIG that would break every build is ignored.
        let out = hermetic(
            Command::new("nix")
                .args(["--extra-experimental-features", "nix-command", "show-config"])
                .env("NIX_CONFIG", "sandbox = true\nsubstituters = https://cache.invalid\n"),
        )
        .output()
        .expect("nix runs");
        let config = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for line in ["sandbox = false", "substituters = ", "build-users-group = "] {
            assert!(config.lines().any(|l| l.trim_end() == line.trim_end()), "no `{line}` in:\n{config}");
        }
    }
}
