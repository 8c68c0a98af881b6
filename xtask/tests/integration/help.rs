//! `cargo xtask`'s help names it, and lists the user commands beside the
//! developer tasks that the shipped `fleet` binary leaves out.

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("cargo xtask runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn help_names_cargo_xtask_and_lists_commands_and_tasks() {
    let (ok, help) = xtask(&["--help"]);
    assert!(ok && help.contains("Usage: cargo xtask <COMMAND>"), "{help}");
    for command in ["graph", "build", "deploy", "diff", "rollback", "status", "demo", "bench"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "no `{command}` in:\n{help}");
    }
    for command in ["deploy", "demo", "bench"] {
        let (ok, help) = xtask(&[command, "--help"]);
        assert!(ok && help.contains(&format!("Usage: cargo xtask {command}")), "{command}: {help}");
    }
}
