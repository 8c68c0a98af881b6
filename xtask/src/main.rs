//! `cargo xtask` (installed as `fleet`): parses the command line, dispatches to
//! one module per command, and maps the result to an exit code.

mod args;
mod bench;
mod build;
mod demo;
mod deploy;
mod diff;
mod exit;
mod graph;
mod rollback;
mod source;
mod status;

use std::process::ExitCode;

use args::Args;
use exit::Failure;

const HELP: &str = "\
fleet: build and deploy a NixOS host and its native containers, in dependency order

Usage: cargo xtask <COMMAND> [OPTIONS]

Commands:
  graph    Print the nodes in activation order with their dependencies (--dot for Graphviz)
  build    Build the selected nodes' system closures in parallel
  deploy   Build, push and activate the selected nodes on their host (--dry-run: show what would change)
  diff     Closure diffs per node against the target, or of two local closures
  rollback Activate the selected nodes' previous generations
  status   What each node runs on its host, and whether it matches the local build
  demo     Deploy an example fleet to a simulated VPS on this machine, twice
  bench    Benchmarks: `bench diff` times the closure diff against nix store diff-closures
  help     Print this help

Run `cargo xtask <COMMAND> --help` for a command's options.

Exit status: 0 success, 1 some node failed, 2 usage or configuration error.
";

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let command = if argv.is_empty() { "help".to_string() } else { argv.remove(0) };
    let args = Args::new(argv);
    let result = match command.as_str() {
        "graph" => graph::run(args),
        "build" => build::run(args),
        "deploy" => deploy::run(args),
        "diff" => diff::run(args),
        "rollback" => rollback::run(args),
        "status" => status::run(args),
        "demo" => demo::run(args),
        "bench" => bench::run(args),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(Failure::Usage(format!("unknown command `{other}`; run `cargo xtask help`"))),
    };
    // For `bench deploy` (FLEET_SELF_USAGE); a failure shows as a missing file there.
    let _ = fleet_testbed::record_self_usage();
    exit::report(result)
}

/// Prints `help` and returns true when `--help` or `-h` was given.
fn wants_help(args: &mut Args, help: &str) -> bool {
    let asked = args.flag("--help") | args.flag("-h");
    if asked {
        print!("{help}");
    }
    asked
}

#[cfg(test)]
mod tidy;
