//! The benchmarks' commands, at a small size: `bench diff` runs to its table,
//! and `bench deploy` deploys two hosts with both tools to its table and plot.
//! Nothing here looks at a timing.

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
fn bench_deploy_prints_every_scenario_and_writes_the_plot() {
    fleet_testbed::ensure_programs(fleet_testbed::TESTBED_PROGRAMS, true, &mut |l| eprintln!("{l}")).unwrap();
    let plot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-deploy-growth.svg");
    let _ = std::fs::remove_file(&plot);
    let out = fleet(&["bench", "deploy", "--sizes", "2", "--hosts", "2", "--plot", plot.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // Every tool did the work: each cold deploy activated all six nodes (two
    // hosts of a host and two containers), and only the changed one after.
    let activations = |scenario: &str| -> String {
        let row = stdout.lines().find(|l| l.starts_with(&format!("| 2 x 2 = 4 | {scenario} |"))).unwrap();
        row.split('|').map(str::trim).nth(6).unwrap().to_string()
    };
    assert_eq!(activations("cold"), "6 / 6", "{stdout}");
    assert_eq!(activations("no-op"), "0 / 0", "{stdout}");
    assert_eq!(activations("one changed"), "1 / 1", "{stdout}");
    // The orchestrator reported its own usage.
    let cold = stdout.lines().find(|l| l.starts_with("| 2 x 2 = 4 | cold |")).unwrap();
    assert!(cold.contains(" MiB |"), "{cold}");
    let plot = std::fs::read_to_string(&plot).unwrap();
    assert_eq!(plot.matches("<polyline ").count(), 4, "{plot}");
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
        (&["bench", "diff", "--hosts", "4"][..], "--hosts goes with `bench deploy` only"),
        (&["bench", "deploy", "--hosts", "0"][..], "--hosts takes a whole number of at least 1"),
    ] {
        let out = fleet(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}
