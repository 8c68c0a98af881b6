//! The one argument parser: the arguments are checked against the command's
//! entry in the table (an unknown option is an error with the closest known
//! one) and each value is paired with its option by the table, once. The
//! `fleet` commands read the result as one typed `Options` (`options.rs`);
//! the developer tasks of `cargo xtask` take their options by name from it.

use std::fmt;

use crate::spec::{did_you_mean, CommandSpec, OptSpec, Rest};

/// A command's arguments, paired with its options by the table.
pub struct Args {
    /// Every option given, in order, with its value (`None` for a flag).
    given: Vec<(&'static OptSpec, Option<String>)>,
    /// The operands, for a command that takes them.
    operands: Vec<String>,
    /// What came after `--`; `None` when there was no `--`.
    rest: Option<Vec<String>>,
    /// Whether `--help` or `-h` was given as an option (not as a value).
    help: bool,
}

/// A usage error: what was wrong, for a message ending in "see --help".
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Args {
    /// The arguments after the name of the command `spec`, checked against
    /// it: every option must be one it lists (a flag takes no `=VALUE`, a
    /// value option takes the next argument whatever it looks like, an option
    /// not repeatable is given once), operands only where it takes them, `--`
    /// only where it takes what follows. An error names the closest option
    /// when there is one.
    pub fn parse(spec: &'static CommandSpec, items: Vec<String>) -> Result<Args, UsageError> {
        let mut items = items;
        let rest = items.iter().position(|item| item == "--").map(|at| {
            let rest = items.split_off(at);
            rest[1..].to_vec()
        });
        if rest.is_some() && spec.after_dashes == Rest::Nothing {
            return Err(UsageError(format!(
                "`{}` passes no arguments to nix; `--` is not an option of it",
                spec.name
            )));
        }
        let mut args = Args { given: Vec::new(), operands: Vec::new(), rest, help: false };
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            if item == "--help" || item == "-h" {
                args.help = true;
                continue;
            }
            if !item.starts_with('-') || item == "-" {
                if !spec.takes_operands() {
                    return Err(UsageError(format!(
                        "unexpected argument `{item}`: `{}` takes no operands",
                        spec.name
                    )));
                }
                args.operands.push(item);
                continue;
            }
            // A one-letter name stands for its option's long one.
            let short = one_letter(&item).and_then(|c| spec.short_option(c));
            let (name, inline) = match item.split_once('=') {
                Some((name, value)) if short.is_none() => (name, Some(value.to_string())),
                _ => (item.as_str(), None),
            };
            let Some(option) = short.or_else(|| spec.option(name)) else {
                return Err(unknown_option(spec, &item, name));
            };
            let value = match (option.value, inline) {
                (None, Some(_)) => return Err(UsageError(format!("{} takes no value", option.long))),
                (None, None) => None,
                (Some(_), Some(value)) => Some(value),
                (Some(_), None) => match items.next() {
                    Some(value) => Some(value),
                    None => return Err(UsageError(format!("{} needs a value", option.long))),
                },
            };
            if !option.repeatable && args.given.iter().any(|(given, _)| given.long == option.long) {
                return Err(UsageError(format!("{} may be given only once", option.long)));
            }
            args.given.push((option, value));
        }
        Ok(args)
    }

    /// Whether the command's help was asked for.
    pub(crate) fn help(&self) -> bool {
        self.help
    }

    /// Takes every option given, in order, with its value.
    pub(crate) fn take_given(&mut self) -> Vec<(&'static OptSpec, Option<String>)> {
        std::mem::take(&mut self.given)
    }

    /// Takes what came after `--` (empty without `--`).
    pub fn rest(&mut self) -> Vec<String> {
        self.rest.take().unwrap_or_default()
    }

    /// Whether the flag `--name` was given (taking it).
    pub fn flag(&mut self, name: &str) -> bool {
        !self.take(name).is_empty()
    }

    /// Takes the values of every `--name` given. Never fails: [`Args::parse`]
    /// checked them; the `Result` keeps the tasks' callers unchanged.
    pub fn values(&mut self, name: &str) -> Result<Vec<String>, UsageError> {
        Ok(self.take(name))
    }

    /// Takes the value of `--name`, which may be given once.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        let mut values = self.take(name);
        match values.len() {
            0 | 1 => Ok(values.pop()),
            _ => Err(UsageError(format!("{name} may be given only once"))),
        }
    }

    /// Takes every `--name` given, returning their values (empty for a flag).
    fn take(&mut self, name: &str) -> Vec<String> {
        let (taken, kept) = std::mem::take(&mut self.given).into_iter().partition(|(o, _)| o.long == name);
        self.given = kept;
        taken.into_iter().map(|(_, value)| value.unwrap_or_default()).collect()
    }

    /// Takes the operands.
    pub fn positional(&mut self) -> Vec<String> {
        std::mem::take(&mut self.operands)
    }

    /// Fails on anything not taken: an option the command lists but its code
    /// does not read, which only a bug causes.
    pub fn finish(self) -> Result<(), UsageError> {
        match (self.given.first(), self.operands.first(), self.rest) {
            (None, None, None) => Ok(()),
            (Some((option, _)), _, _) => Err(UsageError(format!("unexpected argument `{}`", option.long))),
            (_, Some(operand), _) => Err(UsageError(format!("unexpected argument `{operand}`"))),
            (None, None, Some(_)) => Err(UsageError("this command passes no arguments to nix".into())),
        }
    }
}

/// What other deploy tools call an option of ours: (their name, ours).
const OTHER_TOOLS: &[(&str, &str)] = &[
    ("--on", "colmena's --on is --host NAME (a host and its containers) or --container NAME here"),
    ("--target-host", "nixos-rebuild's --target-host is --target USER@HOST[:PORT] here"),
    ("--build-host", "nixos-rebuild's --build-host is --build-on-target or --builders SPEC here"),
    ("--hostname", "deploy-rs's --hostname is --target USER@HOST[:PORT] here"),
    ("--magic-rollback", "magic rollback is on by default; --no-magic-rollback turns it off"),
    ("--confirm", "magic rollback is on by default; --no-magic-rollback turns it off"),
];

/// Flags of nix that users pass to nix-based tools directly.
const NIX_FLAGS: &[&str] = &[
    "--show-trace",
    "--impure",
    "--option",
    "--override-input",
    "--offline",
    "--refresh",
    "--keep-going",
    "--no-write-lock-file",
    "--recreate-lock-file",
    "--max-jobs",
    "--cores",
    "-vv",
];

/// A hint for an option another tool or nix has and this command lacks.
fn foreign_hint(spec: &CommandSpec, name: &str) -> Option<String> {
    if let Some((_, ours)) = OTHER_TOOLS.iter().find(|(theirs, _)| *theirs == name) {
        return Some(format!("; {ours}"));
    }
    NIX_FLAGS.contains(&name).then(|| match spec.after_dashes {
        Rest::Nix => format!("; nix's own flags go after `--`, e.g. `{} -- {name}`", spec.name),
        _ => format!("; that is a nix flag, and `{}` passes nothing to nix", spec.name),
    })
}

/// The letter of `-X`, a one-letter option name.
fn one_letter(item: &str) -> Option<char> {
    let mut chars = item.strip_prefix('-')?.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c != '-' => Some(c),
        _ => None,
    }
}

/// The error for `item`, an option `spec` does not list: with the commands
/// that take it, if any do, else with the closest option of this one.
fn unknown_option(spec: &CommandSpec, item: &str, name: &str) -> UsageError {
    let elsewhere: Vec<String> = crate::table::COMMANDS
        .iter()
        .filter(|c| c.option(name).is_some())
        .map(|c| format!("`{}`", c.name))
        .collect();
    let hint = if let Some(hint) = foreign_hint(spec, name) {
        hint
    } else if elsewhere.is_empty() {
        did_you_mean(name, spec.options.iter().map(|o| o.long).chain(["--help"]))
    } else {
        let verb = if elsewhere.len() == 1 { "does" } else { "do" };
        format!("; `{}` does not take it ({} {verb})", spec.name, elsewhere.join(", "))
    };
    UsageError(format!("unexpected argument `{item}`{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(command: &str, items: &[&str]) -> Result<Args, String> {
        let spec = crate::table::COMMANDS.iter().find(|c| c.name == command).unwrap();
        Args::parse(spec, items.iter().map(|s| s.to_string()).collect()).map_err(|e| e.0)
    }

    #[test]
    fn takes_repeated_values_in_both_spellings() {
        let mut a = parse("deploy", &["--container", "a", "--dry-run", "--container=b"]).unwrap();
        assert_eq!(a.values("--container").unwrap(), ["a", "b"]);
        assert!(a.flag("--dry-run"));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn parse_checks_against_the_table_and_splits_off_nix_arguments() {
        let mut a =
            parse("deploy", &["--ssh-option", "-i key", "--dry-run", "--", "--dry-run", "x"]).unwrap();
        assert!(a.flag("--dry-run"));
        assert_eq!(a.values("--ssh-option").unwrap(), ["-i key"]);
        assert_eq!(a.rest(), ["--dry-run", "x"]);
        assert!(a.finish().is_ok());
        assert_eq!(
            parse("deploy", &["stray"]).err().unwrap(),
            "unexpected argument `stray`: `deploy` takes no operands"
        );
        assert_eq!(
            parse("deploy", &["--jsno"]).err().unwrap(),
            "unexpected argument `--jsno`; did you mean `--json`?"
        );
        assert_eq!(parse("graph", &["--dot=1"]).err().unwrap(), "--dot takes no value");
        let mut a = parse("diff", &["/nix/store/a", "/nix/store/b", "--json"]).unwrap();
        assert_eq!(a.positional(), ["/nix/store/a", "/nix/store/b"]);
        // A value is never mistaken for an option or an operand.
        assert!(parse("deploy", &["--target", "root@h", "--flake=.", "--graph", "g.nix"]).is_ok());
    }

    #[test]
    fn help_is_asked_for_only_where_an_option_stands() {
        assert!(parse("deploy", &["--dry-run", "-h"]).unwrap().help());
        assert!(!parse("deploy", &["--flake", "--help"]).unwrap().help(), "a value of --flake");
        assert!(!parse("exec", &["--", "ls", "--help"]).unwrap().help(), "exec's command's own");
    }

    #[test]
    fn a_value_that_looks_like_an_option_belongs_to_its_option() {
        let mut a = parse("deploy", &["--flake", "--dry-run", "--ssh-option", "--json"]).unwrap();
        assert!(!a.flag("--dry-run"), "--dry-run is the value of --flake here");
        assert!(!a.flag("--json"), "--json is the value of --ssh-option here");
        assert_eq!(a.value("--flake").unwrap().as_deref(), Some("--dry-run"));
        assert_eq!(a.values("--ssh-option").unwrap(), ["--json"]);
        assert!(a.finish().is_ok());
    }

    #[test]
    fn one_letter_names_stand_for_their_options_but_never_a_value() {
        let mut a = parse("deploy", &["-n", "-L", "-j", "4", "--ssh-option", "-n"]).unwrap();
        assert!(a.flag("--dry-run"));
        assert!(a.flag("--print-build-logs"));
        assert_eq!(a.value("--jobs").unwrap().as_deref(), Some("4"));
        assert_eq!(a.values("--ssh-option").unwrap(), ["-n"]);
        assert!(a.finish().is_ok());
        assert_eq!(parse("graph", &["-n"]).err().unwrap(), "unexpected argument `-n`");
    }

    #[test]
    fn other_tools_flags_get_ours_and_nix_flags_go_after_dashes() {
        assert_eq!(
            parse("exec", &["--on", "vps-arm"]).err().unwrap(),
            "unexpected argument `--on`; colmena's --on is --host NAME (a host and its containers) or \
             --container NAME here"
        );
        assert_eq!(
            parse("deploy", &["--target-host", "root@h"]).err().unwrap(),
            "unexpected argument `--target-host`; nixos-rebuild's --target-host is --target USER@HOST[:PORT] here"
        );
        assert_eq!(
            parse("deploy", &["--show-trace"]).err().unwrap(),
            "unexpected argument `--show-trace`; nix's own flags go after `--`, e.g. `deploy -- --show-trace`"
        );
        assert_eq!(
            parse("rollback", &["--show-trace"]).err().unwrap(),
            "unexpected argument `--show-trace`; that is a nix flag, and `rollback` passes nothing to nix"
        );
    }

    #[test]
    fn refuses_missing_values_and_repeats_of_single_options() {
        assert_eq!(parse("deploy", &["--flake"]).err().unwrap(), "--flake needs a value");
        assert_eq!(
            parse("deploy", &["--flake", "a", "--flake=b"]).err().unwrap(),
            "--flake may be given only once"
        );
        let mut a = parse("deploy", &["--json"]).unwrap();
        a.value("--flake").unwrap();
        assert_eq!(a.finish().unwrap_err().0, "unexpected argument `--json`");
    }
}
