//! What the command-line tests share: a fresh folder per test, the `fleet`
//! binary run with the project's Nix configuration, and its output as text.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, Output, Stdio};

use camino::{Utf8Path, Utf8PathBuf};
use fleet_deploy::STATE_DIR;
use fleet_testbed::{fixture_nodes, Testbed};

/// A folder for one test, `GROUP/TEST` under cargo's scratch space.
pub fn scratch(group: &str, test: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(group).join(test)
}

/// `fleet ARGS...`, with nix and ssh installed first where they can be, the
/// project's Nix configuration, and no colour.
pub fn fleet(args: &[&str]) -> Output {
    fleet_testbed::ensure_programs(fleet_testbed::TESTBED_PROGRAMS, true, &mut |line| eprintln!("{line}"))
        .expect("nix and ssh are installed");
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(args)
        .envs(fleet_testbed::nix_env())
        .env("NO_COLOR", "1")
        .output()
        .expect("the fleet binary runs")
}

/// `fleet ARGS...` started in a pseudo-terminal (util-linux's `script`),
/// with the project's Nix configuration and no colour; what is written to
/// its stdin is typed on that terminal, and its stdout is the screen.
pub fn in_terminal(args: &[&str]) -> Child {
    let command = std::iter::once(env!("CARGO_BIN_EXE_fleet"))
        .chain(args.iter().copied())
        .map(fleet_nix::shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .envs(fleet_testbed::nix_env())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    text(&out.stdout)
}

/// The shared [`fleet_testbed::Bed`] in `GROUP/TEST` under cargo's scratch
/// space, driven through the `fleet` binary.
pub struct Bed(fleet_testbed::Bed);

impl Deref for Bed {
    type Target = fleet_testbed::Bed;
    fn deref(&self) -> &fleet_testbed::Bed {
        &self.0
    }
}

impl DerefMut for Bed {
    fn deref_mut(&mut self) -> &mut fleet_testbed::Bed {
        &mut self.0
    }
}

impl Bed {
    /// A bed in `GROUP/TEST` under cargo's scratch space.
    pub fn new(group: &str, test: &str) -> Bed {
        Bed(fleet_testbed::Bed::start(scratch(group, test), test, Testbed::start).unwrap())
    }

    /// A bed whose target has a non-root user with password sudo
    /// ([`Testbed::start_with_sudo_user`]), and whose graph data reaches
    /// the host as that user.
    pub fn with_sudo_user(group: &str, test: &str) -> Bed {
        Bed(fleet_testbed::Bed::start(scratch(group, test), test, Testbed::start_with_sudo_user).unwrap())
    }

    /// `fleet ARGS... --flake FIXTURE --ssh-option ...`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
        cmd.args(args)
            .args([
                "--flake",
                &self.fixture.flake_ref(),
                "--ssh-option",
                &self.testbed.ssh_options().join(" "),
            ])
            .envs(fleet_testbed::nix_env());
        cmd
    }

    /// Runs [`Bed::command`]; `graph`, which talks to no target, without the
    /// flake and ssh options.
    pub fn fleet(&self, args: &[&str]) -> Output {
        if args.first() == Some(&"graph") {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
            return cmd.args(args).envs(fleet_testbed::nix_env()).output().unwrap();
        }
        self.command(args).output().unwrap()
    }

    /// A path in the orchestrator's state folder on the target, as seen here.
    pub fn state(&self, path: &str) -> Utf8PathBuf {
        self.testbed.on_target(&Utf8Path::new(STATE_DIR).join(path))
    }

    /// Everything a deploy could change on the target: profiles, activations,
    /// store paths.
    pub fn snapshot(&self) -> (Vec<Option<String>>, usize, usize) {
        (
            fixture_nodes().into_iter().map(|n| self.profile_of(n)).collect(),
            self.testbed.activations().unwrap().len(),
            self.testbed.store_paths().len(),
        )
    }
}
