//! The `fleet` command line: parses the user commands (`graph`, `build`,
//! `deploy`, `diff`, `rollback`, `exec`, `status`, `completions`), dispatches each to
//! its module's `run`, and maps the result to an exit code.
//!
//! One table (`table.rs`) says which commands and options exist; help, usage
//! lines, shell completions and the manual page are written from it. The
//! shipped `fleet` binary is this crate alone; `cargo xtask` hands the same
//! commands to [`run`] and adds the developer tasks (demo, benchmarks) that
//! must never ship, described with the same [`CommandSpec`]. Nothing here
//! depends on the testbed.
#![deny(missing_docs)]

mod args;
mod ask;
mod build;
mod completions;
mod deploy;
mod diff;
mod exec;
mod exit;
mod format;
mod gc_roots;
mod graph;
mod help;
mod man;
mod options;
mod output;
mod rollback;
mod select;
mod source;
mod spec;
mod status;
mod sudo;
mod table;

use std::process::ExitCode;

pub use args::{Args, UsageError};
pub use deploy::execute;
pub use diff::{local_diff, local_text};
pub use exit::{report, CliError, NODE_FAILED, SUCCESS, USAGE};
pub use help::version_line;
pub use man::man_page;
pub use output::print;
pub use spec::{CommandSpec, Complete, OptSpec, Rest};
pub use table::COMMANDS;

/// What the command line asks for, once the command is known.
pub enum Start {
    /// Answered already (help, version, or a usage error), with this result;
    /// with the command's name when the error is in its arguments.
    Done(Option<&'static str>, Result<(), CliError>),
    /// Run this command with these arguments, checked against its table entry.
    Run(&'static CommandSpec, Args),
}

/// Reads the command line `argv` (without the program's name) of `program`,
/// whose commands are [`COMMANDS`] and then `tasks`: answers help (`help`,
/// `help CMD`, `CMD --help`) and `--version` itself, refuses an unknown
/// command with the closest known one, and checks the command's arguments.
pub fn start(program: &str, tasks: &'static [CommandSpec], argv: Vec<String>) -> Start {
    let mut argv = argv;
    let first = if argv.is_empty() { "help".to_string() } else { argv.remove(0) };
    let find = |name: &str| COMMANDS.iter().chain(tasks).find(|c| c.name == name);
    let names = || COMMANDS.iter().chain(tasks).map(|c| c.name);
    let unknown = |name: &str| {
        CliError::Usage(format!("unknown command `{name}`{}", spec::did_you_mean(name, names())))
    };
    let print_help = |text: String| Start::Done(None, output::print(&text));
    match first.as_str() {
        "--version" | "-V" | "version" => return Start::Done(None, output::print(&version_line(program))),
        "--help" | "-h" => return print_help(help::top_help(program, COMMANDS, tasks)),
        "help" => {
            return match argv.as_slice() {
                [] => print_help(help::top_help(program, COMMANDS, tasks)),
                [flag] if flag == "--help" || flag == "-h" => match find("help") {
                    Some(spec) => print_help(help::command_help(program, spec)),
                    None => print_help(help::top_help(program, COMMANDS, tasks)),
                },
                [name] => match find(name) {
                    Some(spec) => print_help(help::command_help(program, spec)),
                    None => Start::Done(None, Err(unknown(name))),
                },
                _ => Start::Done(None, Err(CliError::Usage("help takes one command name".into()))),
            }
        }
        _ => {}
    }
    let Some(spec) = find(&first) else {
        return Start::Done(None, Err(unknown(&first)));
    };
    match Args::parse(spec, argv) {
        Ok(args) if args.help() => print_help(help::command_help(program, spec)),
        Ok(args) => Start::Run(spec, args),
        Err(e) => Start::Done(Some(spec.name), Err(e.into())),
    }
}

/// Runs the `fleet` binary, named `program` in help and error messages.
pub fn main(program: &str) -> ExitCode {
    let (command, result) = match start(program, &[], std::env::args().skip(1).collect()) {
        Start::Done(command, result) => (command, result),
        Start::Run(spec, args) => (Some(spec.name), run(spec.name, args)),
    };
    report(program, command, result)
}

/// `-v`: a command as it starts, on stderr, escaped (a target's address and
/// a node's values may come from a branch someone else pushed).
fn show_command(command: &str) {
    eprintln!("+ {}", fleet_report::terminal_line(command));
}

/// Runs one user command with its arguments (read once into typed
/// options), or fails with a usage error for an unknown one.
pub fn run(command: &str, args: Args) -> Result<(), CliError> {
    let options = options::Options::from_args(args)?;
    if options.verbose {
        fleet_nix::show_commands(show_command);
    }
    match command {
        "graph" => graph::run(options),
        "build" => build::run(options),
        "deploy" => deploy::run(options),
        "diff" => diff::run(options),
        "rollback" => rollback::run(options),
        "exec" => exec::run(options),
        "status" => status::run(options),
        "completions" => completions::run(options),
        other => Err(CliError::Usage(format!("unknown command `{other}`"))),
    }
}
