//! Names and flags that say what they do, where a wrong guess costs a lot:
//! `--no-magic-rollback` (the old `--no-confirm` warns and keeps working),
//! `--no-containers` for a host alone, `--dry-run` and `--ask` on exec, and
//! `status` building only when asked. Each asserts on the target.

use crate::common;

use common::{stderr, stdout, Bed};

/// The stages the host went through in a `--json-events` run's output.
fn host_stages(json_lines: &str) -> Vec<String> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "stage" && event["node"] == "vps-arm")
        .map(|event| event["stage"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_old_no_confirm_warns_and_still_turns_the_magic_rollback_off() {
    let mut bed = Bed::new("names", "no_confirm");
    let out = bed.fleet(&["deploy", "--json-events"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(host_stages(&stdout(&out)).contains(&"confirm".to_string()), "{}", stdout(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    for (flag, warns) in [("--no-confirm", true), ("--no-magic-rollback", false)] {
        bed.fixture.set_version("vps-arm", &format!("2-{flag}")).unwrap();
        let out = bed.fleet(&["deploy", "--json-events", flag]);
        assert!(out.status.success(), "{flag}: {}{}", stdout(&out), stderr(&out));
        let stages = host_stages(&stdout(&out));
        assert!(stages.contains(&"activate".to_string()), "{flag}: {stages:?}");
        assert!(!stages.contains(&"confirm".to_string()), "{flag}: the switch is not confirmed: {stages:?}");
        assert_eq!(bed.profile_of("vps-arm"), bed.fixture.system_path("vps-arm").ok(), "{flag}");
        assert_eq!(
            stderr(&out).contains("warning: --no-confirm is now called --no-magic-rollback"),
            warns,
            "{flag}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn exec_on_a_host_alone_and_its_dry_run_and_ask() {
    let bed = Bed::new("names", "exec_host_only");
    let exec = |options: &[&str], command: &[&str]| {
        let mut cmd = bed.command(&["exec"]);
        cmd.args(options).arg("--").args(command).output().unwrap()
    };
    let out = exec(&["--host", "vps-arm", "--no-containers"], &["echo", "here"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "vps-arm | here\n\nexec: 1 nodes: 1 ok, 0 failed\n  vps-arm  exit 0\n");

    let marker = bed.dir.join("ran");
    let _ = std::fs::remove_file(&marker);
    let touch = ["touch", marker.as_str()];
    let out = exec(&["--host", "vps-arm", "-n"], &touch);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("would run `touch {marker}` on 4 nodes: vps-arm, bgs-backend, test-container, nannuo-bot\n")
    );
    let out = exec(&["--ask"], &touch);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--ask needs a terminal to ask on"), "{}", stderr(&out));
    assert!(!marker.exists(), "neither the dry run nor the refused --ask ran it");
    let out = exec(&["--ask", "--yes", "--no-containers"], &touch);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(marker.exists(), "--yes answered --ask");
    let out = exec(&["--no-containers", "--container", "test-container"], &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: --no-containers leaves every container out"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_builds_nothing_unless_asked_and_says_when_it_cannot_tell() {
    let mut bed = Bed::new("names", "status");
    let deploy = bed.fleet(&["deploy", "--no-magic-rollback"]);
    assert!(deploy.status.success(), "{}", stderr(&deploy));
    let row = |table: &str, node: &str| {
        table.lines().find(|l| l.starts_with(&format!("{node} "))).unwrap_or_default().to_string()
    };
    let out = bed.fleet(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(row(&stdout(&out), "test-container").ends_with(" matches"), "{}", stdout(&out));

    // A change not built yet (a version no earlier run built): status says
    // it cannot tell, and builds nothing.
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    bed.fixture.set_version("test-container", &format!("2-status-{unique}")).unwrap();
    let new = bed.fixture.system_path("test-container").unwrap();
    let out = bed.fleet(&["status", "--container", "test-container"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        row(&stdout(&out), "test-container")
            .ends_with("no build of the flake as it is now known here (status --build builds it)"),
        "{}",
        stdout(&out)
    );
    assert!(!std::path::Path::new(&new).exists(), "status built {new}");
    assert!(!stderr(&out).contains("build"), "{}", stderr(&out));

    let out = bed.fleet(&["status", "--container", "test-container", "--build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = new.split_once('-').unwrap().1;
    let after = row(&stdout(&out), "test-container");
    assert!(after.contains(" differs: ") && after.ends_with(name), "{}", stdout(&out));
    assert!(std::path::Path::new(&new).exists(), "--build built it");
}
