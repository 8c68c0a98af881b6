//! A line for fetching the flake's inputs while nix fetches them:
//! on a flake without `flake.lock`, each node's line says `fetch inputs`
//! before its evaluation, and a later run, whose inputs are locked and in
//! the store, says nothing of it.

use crate::common;

use common::{fleet, stderr, stdout};
use fleet_testbed::Fixture;

/// The node-and-stage pairs of `build --json-events`'s stage events.
fn stages(out: &std::process::Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"] == "stage")
        .map(|event| {
            (event["node"].as_str().unwrap().to_string(), event["stage"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn fetching_new_inputs_is_said_on_the_nodes_lines() {
    let dir = common::scratch("fetching", "new_inputs");
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_version("nannuo-bot", "fetching").unwrap();
    let dep = dir.join("dep");
    std::fs::create_dir_all(&dep).unwrap();
    std::fs::write(dep.join("flake.nix"), "{ outputs = { self }: { }; }\n").unwrap();
    let flake_nix = fixture.dir().join("flake.nix");
    let text = std::fs::read_to_string(&flake_nix).unwrap();
    assert!(text.contains("    { self }:"), "the fixture's outputs take self alone: {text}");
    let text = text.replace(
        "  outputs =\n    { self }:",
        &format!("  inputs.dep.url = \"path:{dep}\";\n  outputs =\n    {{ self, dep }}:"),
    );
    std::fs::write(&flake_nix, text).unwrap();
    let _ = std::fs::remove_file(fixture.dir().join("flake.lock"));

    let flake = fixture.flake_ref();
    let build = || fleet(&["build", "--json-events", "--container", "nannuo-bot", "--flake", &flake]);
    let first = stages(&build());
    let at = |stage: &str| first.iter().position(|(node, s)| node == "nannuo-bot" && s == stage);
    let fetch = at("fetch inputs").unwrap_or_else(|| panic!("no fetch line: {first:?}"));
    assert!(at("evaluate").unwrap() < fetch && fetch < at("build").unwrap(), "{first:?}");
    assert!(fixture.dir().join("flake.lock").exists(), "nix locked the new input");

    fixture.set_version("nannuo-bot", "fetching-again").unwrap();
    let again = stages(&build());
    assert!(!again.iter().any(|(_, stage)| stage == "fetch inputs"), "nothing to fetch: {again:?}");
}
