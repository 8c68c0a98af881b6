//! `cargo xtask`'s side of the conventions: help, hints and suggestions name the
//! program as it was run and know the developer tasks; `demo --keep` leaves
//! its simulated VPS running and says exactly how to reach it (the printed
//! options work for `status` and `rollback`); `demo --stop` stops that VPS
//! and removes its folder.

use std::process::{Command, Output};

use camino::Utf8PathBuf;

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(fleet_testbed::nix_env())
        .env("NO_COLOR", "1")
        .output()
        .expect("cargo xtask runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value printed on the line `  OPTION VALUE`, without shell quotes.
fn printed(shown: &str, option: &str) -> String {
    let line = shown
        .lines()
        .find_map(|l| l.strip_prefix(&format!("  {option} ")))
        .unwrap_or_else(|| panic!("no `{option}` line in:\n{shown}"));
    line.trim_matches('\'').to_string()
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

#[test]
fn demo_keep_leaves_a_vps_to_try_commands_on_and_demo_stop_removes_it() {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo-keep");
    let _ = xtask(&["demo", "--stop", "--dir", dir.as_str()]);
    let out = xtask(&["demo", "--keep", "--dir", dir.as_str()]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    let (flake, target, ssh) =
        (printed(&shown, "--flake"), printed(&shown, "--target"), printed(&shown, "--ssh-option"));
    assert_eq!(flake, format!("path:{dir}/flake"));
    assert!(target.starts_with("root@127.0.0.1:"), "{target}");
    assert!(ssh.contains(&format!("-i {dir}/target/ssh/id_ed25519")), "{ssh}");
    assert!(shown.contains(&format!("Stop it with: cargo xtask demo --stop --dir {dir}")), "{shown}");
    let pid = std::fs::read_to_string(dir.join("target/sshd.pid")).unwrap().trim().to_string();
    assert!(alive(&pid), "the simulated VPS's sshd ({pid}) runs after the demo");

    // What the demo printed reaches the VPS: status reads its generations...
    let options = ["--flake", &flake, "--target", &target, "--ssh-option", &ssh];
    let status = xtask(&[&["status"][..], &options].concat());
    let table = text(&status.stdout);
    assert!(status.status.success(), "{table}{}", text(&status.stderr));
    assert!(table.lines().filter(|l| l.ends_with("matches")).count() == 4, "{table}");
    assert!(table.lines().any(|l| l.starts_with("nannuo-bot") && l.contains(" 2 (")), "{table}");
    // ... and rollback changes it.
    let rollback =
        xtask(&[&["rollback", "--container", "nannuo-bot", "--no-magic-rollback"][..], &options].concat());
    assert!(rollback.status.success(), "{}{}", text(&rollback.stdout), text(&rollback.stderr));
    let profile = dir.join("target/nix/var/nix/profiles/per-container/nannuo-bot/system");
    let running = std::fs::canonicalize(&profile).unwrap();
    assert!(running.display().to_string().ends_with("-nixos-system-nannuo-bot-1"), "{}", running.display());

    let stop = xtask(&["demo", "--stop", "--dir", dir.as_str()]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert!(text(&stop.stderr).contains("stopped the simulated VPS"), "{}", text(&stop.stderr));
    assert!(!alive(&pid), "sshd {pid} still runs after demo --stop");
    assert!(!dir.exists(), "{dir} is still there");
    let again = xtask(&["demo", "--stop", "--dir", dir.as_str()]);
    assert!(
        again.status.success() && text(&again.stderr).contains("nothing was running"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn help_and_errors_name_cargo_xtask_and_know_its_tasks() {
    let out = xtask(&["help", "demo"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("Usage: cargo xtask demo [--keep] [--stop] [--dir DIR]"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("\n  cargo xtask demo --keep\n"), "{}", text(&out.stdout));
    let out = xtask(&["deom"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: unknown command `deom`; did you mean `demo`?\n(see `cargo xtask help`)\n"
    );
    let out = xtask(&["bench", "--run", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: unexpected argument `--run`; did you mean `--runs`?\n(see `cargo xtask help bench`)\n"
    );
    let out = xtask(&["--version"]);
    assert!(
        text(&out.stdout).starts_with("xtask ") || text(&out.stdout).starts_with("fleet "),
        "{}",
        text(&out.stdout)
    );
}
