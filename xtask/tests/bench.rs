//! The benchmarks' commands, at a small size: `bench diff` runs to its table,
//! and `bench deploy` deploys with all three tools to its table. Nothing here
//! looks at a timing.

use std::process::{Command, Output};

fn nix_installed() {
    fleet_testbed::ensure_programs(&[("nix", "nix-bin")], true, &mut |line| eprintln!("{line}"))
        .expect("nix is installed");
}

fn fleet(args: &[&str]) -> Output {
    nix_installed();
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(fleet_testbed::nix_env())
        .output()
        .expect("cargo xtask runs")
}

#[test]
fn bench_diff_prints_its_table() {
    let out = fleet(&["bench", "diff", "--runs", "1", "--paths", "50"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("50 -> 50 store paths"), "{stdout}");
    for row in ["| `fleet diff OLD NEW` |", "| `nix store diff-closures OLD NEW` |"] {
        assert!(stdout.contains(row), "no row {row} in:\n{stdout}");
    }
    assert!(stdout.contains("Ratio (diff-closures median / fleet diff median)"));
}

#[test]
fn bench_deploy_prints_every_scenario_and_tool() {
    fleet_testbed::ensure_programs(fleet_testbed::TESTBED_PROGRAMS, true, &mut |l| eprintln!("{l}")).unwrap();
    let out = fleet(&["bench", "deploy", "--runs", "1", "--sizes", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("#### 2 containers (3 nodes)"), "{stdout}");
    for scenario in ["cold", "no-op", "one changed"] {
        for tool in ["fleet deploy", "baseline", "lower bound"] {
            let row = format!("| {scenario} | {tool} |");
            assert!(stdout.lines().any(|l| l.starts_with(&row)), "no row {row} in:\n{stdout}");
        }
    }
    // Every tool did the work: each cold deploy activated all three nodes, and
    // only the baseline activates unchanged nodes again.
    let activations = |scenario: &str, tool: &str| -> String {
        let row = stdout.lines().find(|l| l.starts_with(&format!("| {scenario} | {tool} |"))).unwrap();
        row.split('|').map(str::trim).nth(7).unwrap().to_string()
    };
    for tool in ["fleet deploy", "baseline", "lower bound"] {
        assert_eq!(activations("cold", tool), "3", "{tool}: {stdout}");
    }
    assert_eq!(activations("no-op", "fleet deploy"), "0", "{stdout}");
    assert_eq!(activations("one changed", "fleet deploy"), "1", "{stdout}");
    assert_eq!(activations("no-op", "baseline"), "3", "{stdout}");
    // The orchestrator reported its own usage.
    let fleet_row = stdout.lines().find(|l| l.starts_with("| cold | fleet deploy |")).unwrap();
    assert!(fleet_row.contains(" MiB |"), "{fleet_row}");
}

#[test]
fn bench_needs_a_known_benchmark() {
    for (args, expect) in [
        (&["bench"][..], "the benchmarks are: diff, deploy"),
        (&["bench", "sort"][..], "unknown benchmark `sort`; the benchmarks are: diff, deploy"),
        (&["bench", "diff", "--runs", "0"][..], "--runs takes a whole number"),
        (&["bench", "diff", "--paths", "5"][..], "at least 20"),
        (&["bench", "deploy", "--sizes", "4,x"][..], "--sizes takes container counts"),
        (&["bench", "deploy", "--sizes", "0"][..], "--sizes takes container counts"),
        (&["bench", "deploy", "--paths", "50"][..], "--paths goes with `bench diff` only"),
        (&["bench", "diff", "--sizes", "4"][..], "--sizes goes with `bench deploy` only"),
    ] {
        let out = fleet(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}
