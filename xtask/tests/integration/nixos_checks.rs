//! Runs the NixOS half's offline checks (scripts/checks/all.sh) as part of
//! `cargo test`, so that CI is one command.

use std::process::Command;

#[test]
fn nixos_offline_checks_pass() {
    fleet_testbed::ensure_programs(
        &[
            ("nix", "nix-bin"),
            ("webhook", "webhook"),
            ("curl", "curl"),
            ("openssl", "openssl"),
            ("git", "git"),
            ("jq", "jq"),
        ],
        true,
        &mut |line| eprintln!("nixos checks: {line}"),
    )
    .expect("the offline checks' programs are installed");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/checks/all.sh"))
        .current_dir(root)
        .output()
        .expect("bash runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/checks/all.sh failed:\n{text}");
}
