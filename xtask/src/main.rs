//! `cargo xtask`: the developer tasks (`demo`, `bench`; tidy checks run as
//! tests), plus every user command of the `fleet` binary, handed to the same
//! code in fleet-cli so that `cargo xtask deploy` is `fleet deploy`.

mod bench;
mod closure_pair;
mod demo;

use std::process::ExitCode;

use fleet_cli::{Args, Failure};

/// The program's name in help and errors.
const PROGRAM: &str = "cargo xtask";

/// The developer tasks, listed after the user commands in the help.
const TASKS_HELP: &str = "\
  demo     Deploy an example fleet to a simulated VPS on this machine, twice
  bench    Benchmarks: `bench diff` times the closure diff, `bench deploy` the deploy
";

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let command = if argv.is_empty() { "help".to_string() } else { argv.remove(0) };
    let args = Args::new(PROGRAM, argv);
    let result = match command.as_str() {
        "demo" => demo::run(args),
        "bench" => bench::run(args),
        "help" | "--help" | "-h" => {
            print!("{}", fleet_cli::top_help(PROGRAM, &format!("{}{TASKS_HELP}", fleet_cli::COMMANDS_HELP)));
            Ok::<(), Failure>(())
        }
        _ => fleet_cli::run(&command, args),
    };
    fleet_cli::report(PROGRAM, result)
}

#[cfg(test)]
mod tidy;
