//! The live terminal line of a node while it builds: run in a pseudo-terminal
//! (util-linux's `script`), `fleet deploy` draws the derivation being built;
//! and the events that say a node is evaluated before it is built.

use crate::common;

use std::process::Command;
use std::time::SystemTime;

use fleet_testbed::{Fixture, Testbed};

#[test]
fn the_live_line_names_the_derivation_being_built() {
    let dir = common::scratch("progress", "live_line");
    let testbed = Testbed::start(&dir.join("target")).unwrap();
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    // A version no earlier run built, or there would be nothing to build.
    let unique = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    fixture.set_version("test-container", &format!("live-{unique}")).unwrap();
    fixture.set_build_seconds("test-container", 2).unwrap();
    let system = fixture.system_path("test-container").unwrap();
    let name = system.split_once('-').unwrap().1;

    let deploy = [
        env!("CARGO_BIN_EXE_fleet"),
        "deploy",
        "--container",
        "test-container",
        "--flake",
        &fixture.flake_ref(),
        "--ssh-option",
        &testbed.ssh_options().join(" "),
    ]
    .map(fleet_nix::shell_quote)
    .join(" ");
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &deploy, "/dev/null"])
        .envs(fleet_testbed::nix_env())
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .output()
        .expect("script (util-linux) runs");
    let screen = common::stdout(&out);
    assert!(out.status.success(), "{screen}");
    // `building DONE/EXPECTED NAME`: on an empty store the counts include the
    // fixture's base packages.
    let drawn = screen.match_indices(name).any(|(at, _)| {
        let before = &screen[..at];
        before.rsplit_once("building ").is_some_and(|(_, counts)| {
            counts.trim_end().split_once('/').is_some_and(|(done, expected)| {
                done.parse::<usize>().is_ok() && expected.parse::<usize>().is_ok()
            })
        })
    });
    assert!(drawn, "no `building N/M {name}` on the terminal:\n{screen}");
}
