//! `-v`/`--verbose`: without it no error or progress line shows
//! the internal invocation of a script run on a target (`sh -c '# shellcheck
//! ...'`); with it every command run is shown as it starts, escaped.

use crate::common;

use common::{fleet, stderr, stdout};
use fleet_testbed::Fixture;

#[test]
fn internal_scripts_are_shown_only_with_verbose() {
    // Nothing listens on port 9: every ssh is refused, quickly.
    let fixture =
        Fixture::create(&common::scratch("verbose", "scripts").join("flake"), "root@127.0.0.1:9").unwrap();
    let flake = fixture.flake_ref();
    for command in [&["exec", "--node", "vps-arm", "--", "true"][..], &["status", "--node", "vps-arm"]] {
        let (before, after) =
            command.split_at(command.iter().position(|a| *a == "--").unwrap_or(command.len()));
        let run = |verbose: &[&str]| {
            let args: Vec<&str> = before
                .iter()
                .copied()
                .chain(["--flake", &flake])
                .chain(verbose.iter().copied())
                .chain(after.iter().copied())
                .collect();
            let out = fleet(&args);
            assert_ne!(out.status.code(), Some(0), "the target is unreachable: {}", stderr(&out));
            format!("{}{}", stdout(&out), stderr(&out))
        };
        let quiet = run(&[]);
        assert!(quiet.contains("127.0.0.1"), "the error names the target: {quiet}");
        assert!(!quiet.contains("sh -c") && !quiet.contains("shellcheck"), "{quiet}");
        let verbose = run(&["-v"]);
        assert!(verbose.lines().any(|l| l.starts_with("+ /usr/bin/nix ")), "{verbose}");
        assert!(
            verbose.lines().any(|l| l.starts_with("+ on root@127.0.0.1:9: sh -c '# shellcheck shell=sh")),
            "{verbose}"
        );
    }
}
