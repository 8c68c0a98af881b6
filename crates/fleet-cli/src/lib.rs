//! The `fleet` command line: parses the user commands (`graph`, `build`,
//! `deploy`, `diff`, `rollback`, `status`), dispatches each to its module's
//! `run`, and maps the result to an exit code.
//!
//! The shipped `fleet` binary is this crate alone; `cargo xtask` hands the same
//! commands to [`run`] and adds the developer tasks (demo, benchmarks) that
//! must never ship. Nothing here depends on the testbed.
#![deny(missing_docs)]

mod args;
mod build;
mod deploy;
mod diff;
mod exit;
mod graph;
mod rollback;
mod source;
mod status;

use std::process::ExitCode;

pub use args::{Args, UsageError};
pub use deploy::execute;
pub use diff::{local_diff, local_text};
pub use exit::{report, Failure, NODE_FAILED, SUCCESS, USAGE};

/// One line per user command, for the top-level help of `fleet` and of `cargo xtask`.
pub const COMMANDS_HELP: &str = "\
  graph    Print the nodes in activation order with their dependencies (--dot for Graphviz)
  build    Build the selected nodes' system closures in parallel
  deploy   Build, push and activate the selected nodes on their host (--dry-run: show what would change)
  diff     Closure diffs per node against the target, or of two local closures
  rollback Activate the selected nodes' previous generations
  status   What each node runs on its host, and whether it matches the local build
";

/// The top-level help; `{prog}` stands for the program's name and `{commands}`
/// for the list of commands.
pub const HELP_TEMPLATE: &str = "\
fleet: build and deploy a NixOS host and its native containers, in dependency order

Usage: {prog} <COMMAND> [OPTIONS]

Commands:
{commands}  help     Print this help

Run `{prog} <COMMAND> --help` for a command's options.

Exit status: 0 success, 1 some node failed, 2 usage or configuration error.
";

/// Runs the `fleet` binary, named `program` in help and error messages.
pub fn main(program: &str) -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let command = if argv.is_empty() { "help".to_string() } else { argv.remove(0) };
    let args = Args::new(program, argv);
    let result = match command.as_str() {
        "help" | "--help" | "-h" => {
            print!("{}", top_help(program, COMMANDS_HELP));
            Ok(())
        }
        _ => run(&command, args),
    };
    report(program, result)
}

/// Runs one user command, or fails with a usage error for an unknown one.
pub fn run(command: &str, args: Args) -> Result<(), Failure> {
    match command {
        "graph" => graph::run(args),
        "build" => build::run(args),
        "deploy" => deploy::run(args),
        "diff" => diff::run(args),
        "rollback" => rollback::run(args),
        "status" => status::run(args),
        other => Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
}

/// The top-level help for `program` with `commands` listed.
pub fn top_help(program: &str, commands: &str) -> String {
    HELP_TEMPLATE.replace("{commands}", commands).replace("{prog}", program)
}

/// Prints `help` (with `{prog}` replaced by the program's name) and returns
/// true when `--help` or `-h` was given.
pub fn wants_help(args: &mut Args, help: &str) -> bool {
    let asked = args.flag("--help") | args.flag("-h");
    if asked {
        print!("{}", help.replace("{prog}", args.program()));
    }
    asked
}
