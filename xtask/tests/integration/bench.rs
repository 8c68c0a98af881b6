//! The benchmarks' command line: what it refuses, before anything runs. The
//! benchmarks themselves run in `.ci/run`, at their smallest size.

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
