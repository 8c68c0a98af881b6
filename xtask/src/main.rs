//! `cargo xtask`: the developer tasks (`demo`, `bench`, `man`; tidy checks run
//! as tests), plus every user command of the `fleet` binary, handed to the
//! same code in fleet-cli so that `cargo xtask deploy` is `fleet deploy`.

mod bench;
mod bench_eval;
mod bench_mixed;
mod closure_pair;
mod demo;
mod man;
mod tasks;

use std::process::ExitCode;

use fleet_cli::Start;

/// The program's name in help and errors.
const PROGRAM: &str = "cargo xtask";

fn main() -> ExitCode {
    let (command, result) = match fleet_cli::start(PROGRAM, tasks::TASKS, std::env::args().skip(1).collect())
    {
        Start::Done(command, result) => (command, result),
        Start::Run(spec, args) => (
            Some(spec.name),
            match spec.name {
                "demo" => demo::run(args),
                "bench" => bench::run(args),
                "man" => man::run(args),
                command => fleet_cli::run(command, args),
            },
        ),
    };
    fleet_cli::report(PROGRAM, command, result)
}

#[cfg(test)]
mod tidy;
