//! The live terminal line of a node while it builds: run in a pseudo-terminal
//! (util-linux's `script`), `fleet deploy` draws the derivation being built;
//! and the events that say a node is evaluated before it is built.

mod common;

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

/// The same progress in the `--json-events` stream: a `building` event for
/// the slow node names its derivation with done < expected, before the
/// `built` event of that derivation and before the node finishes.
#[test]
fn json_events_carry_the_build_progress_of_a_node() {
    let dir = common::scratch("progress", "json_events");
    let testbed = Testbed::start(&dir.join("target")).unwrap();
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    let unique = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    fixture.set_version("test-container", &format!("events-{unique}")).unwrap();
    fixture.set_build_seconds("test-container", 1).unwrap();
    let system = fixture.system_path("test-container").unwrap();
    let name = system.split_once('-').unwrap().1.to_string();
    let ssh = testbed.ssh_options().join(" ");
    let out = common::fleet(&[
        "deploy",
        "--json-events",
        "--container",
        "test-container",
        "--flake",
        &fixture.flake_ref(),
        "--ssh-option",
        &ssh,
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let events: Vec<serde_json::Value> =
        common::stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().position(pred);
    let building = position(&|e| {
        e["event"] == "building"
            && e["node"] == "test-container"
            && e["derivation"] == name.as_str()
            && e["done"].as_u64() < e["expected"].as_u64()
    })
    .unwrap_or_else(|| panic!("no building event for {name}: {events:?}"));
    let built =
        position(&|e| e["event"] == "built" && e["derivation"] == name.as_str()).expect("a built event");
    let finished =
        position(&|e| e["event"] == "finished" && e["report"]["node"] == "test-container").unwrap();
    assert!(building < built && built < finished, "{building} {built} {finished}");

    // While nix evaluates (and fetches the flake's inputs), the node's line
    // says so; it says build only once its derivation is known.
    let stage = |name: &str| {
        position(&|e| e["event"] == "stage" && e["node"] == "test-container" && e["stage"] == name)
            .unwrap_or_else(|| panic!("no {name} stage: {events:?}"))
    };
    let evaluated = position(&|e| e["event"] == "evaluated" && e["node"] == "test-container").unwrap();
    assert!(stage("evaluate") < evaluated && evaluated < stage("build"), "{events:?}");
    assert!(stage("build") < building, "{events:?}");
}
