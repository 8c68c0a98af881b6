//! The `fleet` binary: the user commands, and nothing else.

fn main() -> std::process::ExitCode {
    fleet_cli::main("fleet")
}
