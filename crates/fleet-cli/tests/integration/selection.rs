//! Selecting nodes by tag and glob, and keeping what was built as
//! garbage-collector roots, with real nix and a real sshd.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use fleet_testbed::Fixture;

use crate::common;

use common::{fleet, stderr, stdout, Bed};

fn scratch(test: &str) -> Utf8PathBuf {
    common::scratch("selection", test)
}

/// The node names `build` printed, in its order.
fn built(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).lines().map(|l| l.split(' ').next().unwrap().to_string()).collect()
}

#[test]
fn tags_and_globs_select_hosts_and_containers() {
    let mut fixture = Fixture::create(&scratch("tags").join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_tags("vps-arm", &["prod"]).unwrap();
    fixture.set_tags("bgs-backend", &["web"]).unwrap();
    fixture.set_tags("nannuo-bot", &["web", "chat"]).unwrap();
    let flake = fixture.flake_ref();
    let names = fleet(&["graph", "--names", "--flake", &flake]);
    assert_eq!(
        stdout(&names),
        "bgs-backend container web\nnannuo-bot container web chat\ntest-container container\nvps-arm host prod\n"
    );
    let build = |selection: &[&str]| {
        let mut args = vec!["build", "--flake", &flake];
        args.extend(selection);
        fleet(&args)
    };
    assert_eq!(built(&build(&["--container", "@web"])), ["bgs-backend", "nannuo-bot"]);
    assert_eq!(built(&build(&["--container", "test-*"])), ["test-container"]);
    assert_eq!(built(&build(&["--container", "*-b??"])), ["nannuo-bot"]);
    assert_eq!(built(&build(&["--host", "@prod", "--container", "@chat"])), ["nannuo-bot"]);
    assert_eq!(
        built(&build(&["--host", "vps-*"])),
        ["vps-arm", "bgs-backend", "test-container", "nannuo-bot"]
    );

    let refused = |selection: &[&str], expect: &str| {
        let out = build(selection);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stdout(&out).is_empty(), "nothing is built: {}", stdout(&out));
        assert_eq!(stderr(&out), format!("error: {expect}\n(see `fleet help build`)\n"));
    };
    refused(&["--host", "@nope"], "`@nope` matches no host (known: vps-arm)");
    refused(
        &["--container", "web-*"],
        "`web-*` matches no container (known: bgs-backend, nannuo-bot, test-container)",
    );
    refused(
        &["--host", "vps-arm", "--container", "@prod"],
        "`@prod` matches no container on vps-arm (known: bgs-backend, nannuo-bot, test-container)",
    );
}

#[test]
fn malformed_tags_are_refused_before_anything_runs() {
    let mut fixture = Fixture::create(&scratch("bad_tags").join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_node_attrs("bgs-backend", "tags = \"web\";").unwrap();
    let out = fleet(&["build", "--flake", &fixture.flake_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: the graph data at `nodes.bgs-backend.tags` must be a list of tags"),
        "{}",
        stderr(&out)
    );
}

/// Where the link `link` points, and whether nix counts it as a root.
fn root_of(link: &Utf8Path) -> (String, bool) {
    let target = std::fs::read_link(link).unwrap_or_else(|e| panic!("{link}: {e}"));
    let roots = Command::new("nix-store")
        .args(["--gc", "--print-roots"])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    let registered =
        String::from_utf8_lossy(&roots.stdout).lines().any(|l| l.starts_with(&format!("{link} -> ")));
    (target.display().to_string(), registered)
}

#[test]
fn build_out_link_makes_a_root_per_node() {
    let mut fixture = Fixture::create(&scratch("out_link").join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_version("nannuo-bot", &format!("out-link-{}", std::process::id())).unwrap();
    let roots = scratch("out_link").join("roots");
    let _ = std::fs::remove_dir_all(&roots);
    let out = fleet(&[
        "build",
        "--flake",
        &fixture.flake_ref(),
        "--container",
        "nannuo-bot",
        "--out-link",
        roots.as_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = stdout(&out).trim().strip_prefix("nannuo-bot ").unwrap().to_string();
    assert_eq!(root_of(&roots.join("nannuo-bot")), (path, true));
    let entries: Vec<String> = std::fs::read_dir(&roots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["nannuo-bot"], "one root per selected node");
    assert!(
        stderr(&out).contains(&format!("kept 1 garbage-collector roots in {roots}/")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn deploy_keep_result_roots_what_each_node_now_runs() {
    let bed = Bed::new("selection", "keep_result");
    let _ = std::fs::remove_dir_all(bed.fixture.dir().join(".gcroots"));
    let out = bed.fleet(&["deploy", "--keep-result"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for node in ["vps-arm", "nannuo-bot", "bgs-backend"] {
        let running = bed.profile_of(node).unwrap();
        assert_eq!(root_of(&bed.fixture.dir().join(".gcroots").join(node)), (running, true), "{node}");
    }
    let out = fleet(&["deploy", "--flake", "github:example/none", "--graph", "x", "--keep-result"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--keep-result keeps roots next to a local flake"), "{}", stderr(&out));
}
