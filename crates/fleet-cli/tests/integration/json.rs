//! Every command's machine-readable output, from a real run on the testbed:
//! `--json` documents and `--json-events` lines parse and have the fields
//! README's "Machine-readable output" documents, with the right types.

use crate::common;

use common::{fleet, stderr, stdout};
use fleet_testbed::{Fixture, Testbed};
use serde_json::Value;

/// Fails unless `value` has every `(field, kind)`: kind is one of `string`,
/// `number`, `bool`, `array`, `object`, `string?` (a string or null),
/// `object?`, `number?`.
fn check_fields(what: &str, value: &Value, fields: &[(&str, &str)]) {
    for (field, kind) in fields {
        let v = &value[field];
        let ok = match *kind {
            "string" => v.is_string(),
            "number" => v.is_number(),
            "bool" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "string?" => v.is_string() || v.is_null(),
            "object?" => v.is_object() || v.is_null(),
            "number?" => v.is_number() || v.is_null(),
            other => panic!("unknown kind {other}"),
        };
        assert!(ok, "{what}: `{field}` is not {kind} in {value}");
    }
}

const NODE_FIELDS: &[(&str, &str)] = &[
    ("node", "string"),
    ("outcome", "string"),
    ("old", "string?"),
    ("new", "string?"),
    ("generation", "object?"),
    ("pending", "bool"),
    ("elapsed_seconds", "number"),
    ("reused_evaluation", "bool"),
    ("error", "object?"),
];

fn summary_document(what: &str, text: &str, command: &str) -> Vec<Value> {
    let document: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}:\n{text}"));
    check_fields(
        what,
        &document,
        &[("version", "number"), ("command", "string"), ("success", "bool"), ("nodes", "array")],
    );
    assert_eq!(document["command"], command, "{what}");
    let nodes = document["nodes"].as_array().unwrap().clone();
    for node in &nodes {
        check_fields(what, node, NODE_FIELDS);
    }
    nodes
}

#[test]
fn every_command_prints_its_documented_json() {
    let dir = common::scratch("json", "every_command");
    let testbed = Testbed::start(&dir.join("target")).unwrap();
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    for node in ["vps-arm", "bgs-backend", "nannuo-bot", "test-container"] {
        fixture.set_version(node, "json-1").unwrap();
    }
    let flake = fixture.flake_ref();
    let ssh = testbed.ssh_options().join(" ");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--flake", &flake]);
        fleet(&all)
    };
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--ssh-option", &ssh]);
        run(&all)
    };

    let out = run(&["graph", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let graph: Value = serde_json::from_str(&stdout(&out)).unwrap();
    check_fields("graph", &graph, &[("version", "number"), ("nodes", "array")]);
    let first = &graph["nodes"][0];
    check_fields(
        "graph node",
        first,
        &[
            ("name", "string"),
            ("kind", "string"),
            ("host", "string?"),
            ("depends_on", "array"),
            ("tags", "array"),
            ("wave", "number"),
        ],
    );
    assert_eq!((first["name"].as_str(), first["host"].is_null()), (Some("vps-arm"), true));

    let out = run(&["build", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nodes = summary_document("build", &stdout(&out), "build");
    assert!(nodes.iter().all(|n| n["outcome"] == "built" && n["new"].is_string()), "{nodes:?}");

    let out = remote(&["deploy", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nodes = summary_document("deploy", &stdout(&out), "deploy");
    assert!(nodes.iter().all(|n| n["outcome"] == "activated"), "{nodes:?}");

    let out = remote(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nodes = summary_document("status", &stdout(&out), "status");
    assert!(nodes.iter().all(|n| n["outcome"] == "unchanged" && n["generation"]["number"] == 1), "{nodes:?}");

    fixture.set_version("test-container", "json-2").unwrap();
    let out = remote(&["deploy", "--json-events", "--container", "test-container"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        check_fields(
            "event",
            line,
            &[("version", "number"), ("elapsed_seconds", "number"), ("event", "string")],
        );
    }
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"planned"), "{kinds:?}");
    for kind in ["stage", "evaluated", "finished"] {
        assert!(kinds.contains(&kind), "no `{kind}` event in {kinds:?}");
    }
    let finished = lines.iter().find(|l| l["event"] == "finished").unwrap();
    check_fields("finished", &finished["report"], NODE_FIELDS);
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["nodes"][0]["outcome"], "activated", "{last}");

    let out = remote(&["rollback", "--json", "--no-magic-rollback", "--container", "test-container"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nodes = summary_document("rollback", &stdout(&out), "rollback");
    assert_eq!(nodes[0]["new"].as_str().map(|p| p.ends_with("-json-1")), Some(true), "{nodes:?}");
}
