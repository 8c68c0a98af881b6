//! The options of every `fleet` command as one typed struct: each option the
//! table lists (`table/options.rs`) is parsed here, once, from the pairs the
//! parser made (`args.rs`), into its field. A command reads the fields its
//! table entry lists; the others keep their defaults.
//!
//! Adding an option: its `OptSpec` in `table/options.rs`, its place in the
//! commands' lists in `table.rs`, a field here with its arm in
//! [`Options::set`], and the command reading the field.

use std::time::Duration;

use camino::Utf8PathBuf;
use fleet_deploy::Goal;
use fleet_nix::{EvalSettings, Target};

use crate::args::{Args, UsageError};
use crate::spec::OptSpec;

/// Every option of the `fleet` commands, typed, with what came after `--`
/// and the operands.
#[derive(Default)]
pub(crate) struct Options {
    /// `--host`: names, `@TAG`s or globs.
    pub(crate) hosts: Vec<String>,
    /// `--container`: names, `@TAG`s or globs.
    pub(crate) containers: Vec<String>,
    /// `--no-containers`.
    pub(crate) no_containers: bool,
    /// `--node`: exactly one node.
    pub(crate) node: Option<String>,
    /// `--verbose` / `-v`: show every command as it starts.
    pub(crate) verbose: bool,
    /// `--reboot`: reboot each host that needs it.
    pub(crate) reboot: bool,
    /// `--reboot-always`: reboot every deployed host.
    pub(crate) reboot_always: bool,
    /// `--reboot-timeout`; `None`: the default.
    pub(crate) reboot_timeout: Option<Duration>,
    /// `--goal` (default `switch`).
    pub(crate) goal: Goal,
    /// `--dry-run` / `-n`.
    pub(crate) dry_run: bool,
    /// `--ask`.
    pub(crate) ask: bool,
    /// `--yes`.
    pub(crate) yes: bool,
    /// `--json`.
    pub(crate) json: bool,
    /// `--json-events`.
    pub(crate) json_events: bool,
    /// `--print-build-logs` / `-L`.
    pub(crate) print_build_logs: bool,
    /// `--target`.
    pub(crate) target: Option<Target>,
    /// `--ssh-option`, each split into ssh's arguments at white space.
    pub(crate) ssh_options: Vec<String>,
    /// `--sudo`.
    pub(crate) sudo: bool,
    /// `--ask-sudo-password`.
    pub(crate) ask_sudo_password: bool,
    /// `--jobs` / `-j`; see [`Options::jobs`].
    jobs: Option<usize>,
    /// `--confirm-timeout`; `None`: the plan's default.
    pub(crate) confirm_timeout: Option<Duration>,
    /// `--switch-timeout`; `None`: the plan's default.
    pub(crate) switch_timeout: Option<Duration>,
    /// `--no-magic-rollback`, or its old name `--no-confirm`.
    pub(crate) no_magic_rollback: bool,
    /// Whether the old name `--no-confirm` was used, for a warning.
    pub(crate) old_no_confirm: bool,
    /// `--build-on-target`.
    pub(crate) build_on_target: bool,
    /// `--builders`.
    pub(crate) builders: Option<String>,
    /// `--substitute-on-destination`.
    pub(crate) substitute_on_destination: bool,
    /// `--eval-workers` and `--eval-memory`.
    pub(crate) evaluation: EvalSettings,
    /// `--out-link`.
    pub(crate) out_link: Option<Utf8PathBuf>,
    /// `--keep-result`.
    pub(crate) keep_result: bool,
    /// `--flake`.
    pub(crate) flake: Option<String>,
    /// `--graph`.
    pub(crate) graph: Option<Utf8PathBuf>,
    /// `--to`: a generation number.
    pub(crate) to: Option<u32>,
    /// `status --build`.
    pub(crate) build: bool,
    /// `graph --dot`.
    pub(crate) dot: bool,
    /// `graph --names`.
    pub(crate) names: bool,
    /// The operands (`diff OLD NEW`, `completions SHELL`).
    pub(crate) operands: Vec<String>,
    /// What came after `--`: nix's arguments, or `exec`'s command.
    pub(crate) rest: Vec<String>,
}

impl Options {
    /// The options of `args`, each value parsed into its type.
    pub(crate) fn from_args(mut args: Args) -> Result<Options, UsageError> {
        let mut options = Options { operands: args.positional(), rest: args.rest(), ..Options::default() };
        for (option, value) in args.take_given() {
            options.set(option, value.unwrap_or_default())?;
        }
        Ok(options)
    }

    /// `--jobs`, if given: the most builds, and activations per host, to run
    /// at once (else the plan's defaults).
    pub(crate) fn jobs(&self) -> Option<usize> {
        self.jobs
    }

    /// Sets the field of `option` from its `value` (empty for a flag).
    fn set(&mut self, option: &OptSpec, value: String) -> Result<(), UsageError> {
        let name = option.long;
        match name {
            "--host" => self.hosts.push(value),
            "--container" => self.containers.push(value),
            "--no-containers" => self.no_containers = true,
            "--node" => self.node = Some(value),
            "--verbose" => self.verbose = true,
            "--reboot" => self.reboot = true,
            "--reboot-always" => self.reboot_always = true,
            "--reboot-timeout" => self.reboot_timeout = Some(seconds(name, &value)?),
            "--goal" => self.goal = Goal::parse(&value).map_err(|e| UsageError(format!("--goal: {e}")))?,
            "--dry-run" => self.dry_run = true,
            "--ask" => self.ask = true,
            "--yes" => self.yes = true,
            "--json" => self.json = true,
            "--json-events" => self.json_events = true,
            "--print-build-logs" => self.print_build_logs = true,
            "--target" => self.target = Some(Target::parse(&value).map_err(UsageError)?),
            "--ssh-option" => self.ssh_options.extend(value.split_whitespace().map(String::from)),
            "--sudo" => self.sudo = true,
            "--ask-sudo-password" => self.ask_sudo_password = true,
            "--jobs" => self.jobs = Some(positive(name, &value)?),
            "--confirm-timeout" => self.confirm_timeout = Some(seconds(name, &value)?),
            "--switch-timeout" => self.switch_timeout = Some(seconds(name, &value)?),
            "--no-magic-rollback" => self.no_magic_rollback = true,
            "--no-confirm" => (self.no_magic_rollback, self.old_no_confirm) = (true, true),
            "--build-on-target" => self.build_on_target = true,
            "--builders" => self.builders = Some(value),
            "--substitute-on-destination" => self.substitute_on_destination = true,
            "--eval-workers" => self.evaluation.workers = positive(name, &value)?,
            "--eval-memory" => self.evaluation.memory_budget = Some(size(name, &value)?),
            "--out-link" => self.out_link = Some(Utf8PathBuf::from(value)),
            "--keep-result" => self.keep_result = true,
            "--flake" => self.flake = Some(value),
            "--graph" => self.graph = Some(Utf8PathBuf::from(value)),
            "--to" => self.to = Some(generation(&value)?),
            "--build" => self.build = true,
            "--dot" => self.dot = true,
            "--names" => self.names = true,
            _ => return Err(UsageError(format!("{name} is in the table but has no field (a bug)"))),
        }
        Ok(())
    }
}

/// A positive number, for `name`.
fn positive(name: &str, text: &str) -> Result<usize, UsageError> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UsageError(format!("{name} takes a positive number, not `{text}`"))),
    }
}

/// A positive number of seconds, for the timeout option `name`.
fn seconds(name: &str, text: &str) -> Result<Duration, UsageError> {
    match text.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(UsageError(format!("{name} takes a positive number of seconds, not `{text}`"))),
    }
}

/// A generation number, as `status` shows it.
fn generation(text: &str) -> Result<u32, UsageError> {
    text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
        UsageError(format!("--to takes a generation number (as `status` shows it), not `{text}`"))
    })
}

/// A memory size for `name`, e.g. `4G`.
fn size(name: &str, text: &str) -> Result<u64, UsageError> {
    parse_size(text).ok_or_else(|| {
        UsageError(format!("{name} takes a size such as 4G, 1500M or 800MiB (at least 1M), not `{text}`"))
    })
}

/// `4G`, `1500M`, `800MiB`, `2GB` (powers of 1024) in bytes; at least 1 MiB.
fn parse_size(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit = match text[digits..].to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "" => 1,
        _ => return None,
    };
    number.checked_mul(unit).filter(|&bytes| bytes >= 1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::COMMANDS;

    fn options(command: &str, items: &[&str]) -> Result<Options, String> {
        let spec = COMMANDS.iter().find(|c| c.name == command).unwrap();
        let args = Args::parse(spec, items.iter().map(|s| s.to_string()).collect()).map_err(|e| e.0)?;
        Options::from_args(args).map_err(|e| e.0)
    }

    #[test]
    fn every_option_in_the_table_has_a_field() {
        for option in COMMANDS.iter().flat_map(|c| c.options.iter()) {
            let value = match option.long {
                "--goal" => "boot",
                "--target" => "root@h",
                "--eval-memory" => "4G",
                _ => "1",
            };
            let result = Options::default().set(option, value.to_string());
            assert!(result.is_ok(), "{}: {:?}", option.long, result.err());
        }
    }

    #[test]
    fn values_are_typed_once() {
        let o = options(
            "deploy",
            &["-j", "3", "--ssh-option", "-i key", "--goal=test", "--container", "a", "--", "--x"],
        )
        .unwrap();
        assert_eq!(
            (o.jobs(), o.goal, o.containers, o.rest),
            (Some(3), Goal::Test, vec!["a".into()], vec!["--x".into()])
        );
        assert_eq!(o.ssh_options, ["-i", "key"]);
        assert_eq!(options("deploy", &["-j", "0"]).err().unwrap(), "--jobs takes a positive number, not `0`");
        assert_eq!(
            options("rollback", &["--to", "x"]).err().unwrap(),
            "--to takes a generation number (as `status` shows it), not `x`"
        );
    }

    #[test]
    fn a_value_that_looks_like_an_option_is_the_value() {
        let o = options("deploy", &["--flake", "--dry-run", "--builders", "-j"]).unwrap();
        assert_eq!(o.flake.as_deref(), Some("--dry-run"));
        assert_eq!(o.builders.as_deref(), Some("-j"));
        assert!(!o.dry_run);
        assert_eq!(o.jobs(), None);
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("1500M"), Some(1500 << 20));
        assert_eq!(parse_size("800mib"), Some(800 << 20));
        assert_eq!(parse_size("2097152"), Some(2 << 20));
        assert_eq!(parse_size("512K"), None, "below 1 MiB");
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("4T"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
