//! What the command-line tests share: a fresh folder per test, the `fleet`
//! binary run with the project's Nix configuration, and its output as text.
#![allow(dead_code)]

use std::process::{Command, Output};

use camino::Utf8PathBuf;

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
