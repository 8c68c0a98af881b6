//! Hand-written argument parsing: the arguments are checked against the
//! command's entry in the table (an unknown option is an error with the
//! closest known one), then options are taken out by name, and whatever is
//! left over is an error that names it.

use std::fmt;

use crate::spec::{did_you_mean, CommandSpec, Rest};

/// A command's arguments, consumed as the command asks for them.
pub struct Args {
    program: String,
    items: Vec<String>,
    /// What came after `--`, for nix; `None` when there was no `--`.
    nix_args: Option<Vec<String>>,
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
    /// The arguments after the command's name, for the program named `program`
    /// (`fleet`, `cargo xtask`) as help and errors call it.
    /// Nothing is checked: see [`Args::parse`].
    pub fn new(program: &str, items: Vec<String>) -> Args {
        Args { program: program.to_string(), items, nix_args: None }
    }

    /// The arguments after the name of the command `spec`, checked against it:
    /// every option must be one it lists (a flag takes no `=VALUE`), operands
    /// only where it takes them, `--` only where it passes arguments on to
    /// nix. An error names the closest option when there is one.
    pub fn parse(program: &str, spec: &'static CommandSpec, items: Vec<String>) -> Result<Args, UsageError> {
        let mut items = items;
        let nix_args = items.iter().position(|item| item == "--").map(|at| {
            let rest = items.split_off(at);
            rest[1..].to_vec()
        });
        if nix_args.is_some() && spec.after_dashes == Rest::Nothing {
            return Err(UsageError(format!(
                "`{}` passes no arguments to nix; `--` is not an option of it",
                spec.name
            )));
        }
        let mut expect_value = false;
        for item in &mut items {
            if std::mem::take(&mut expect_value) {
                continue;
            }
            if item == "--help" || item == "-h" {
                continue;
            }
            // A one-letter name stands for its option's long one from here on.
            if let Some(option) = one_letter(item).and_then(|c| spec.short_option(c)) {
                *item = option.long.to_string();
            }
            if !item.starts_with('-') || item == "-" {
                if spec.takes_operands() {
                    continue;
                }
                return Err(UsageError(format!(
                    "unexpected argument `{item}`: `{}` takes no operands",
                    spec.name
                )));
            }
            let (name, inline) = match item.split_once('=') {
                Some((name, _)) => (name, true),
                None => (item.as_str(), false),
            };
            match spec.option(name) {
                Some(option) if option.value.is_none() && inline => {
                    return Err(UsageError(format!("{name} takes no value")));
                }
                Some(option) => expect_value = option.value.is_some() && !inline,
                None => return Err(unknown_option(spec, item, name)),
            }
        }
        Ok(Args { program: program.to_string(), items, nix_args })
    }

    /// Takes what came after `--`, to pass on to nix (empty without `--`).
    pub fn nix_args(&mut self) -> Vec<String> {
        self.nix_args.take().unwrap_or_default()
    }

    /// The program's name, as help and errors call it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Removes `--name` if present.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|item| item != name);
        before != self.items.len()
    }

    /// Removes every `--name VALUE` and `--name=VALUE`, returning the values.
    pub fn values(&mut self, name: &str) -> Result<Vec<String>, UsageError> {
        let mut values = Vec::new();
        let mut i = 0;
        while i < self.items.len() {
            if self.items[i] == name {
                if i + 1 >= self.items.len() || self.items[i + 1].starts_with("--") {
                    return Err(UsageError(format!("{name} needs a value")));
                }
                values.push(self.items.remove(i + 1));
                self.items.remove(i);
            } else if let Some(value) = self.items[i].strip_prefix(&format!("{name}=")) {
                values.push(value.to_string());
                self.items.remove(i);
            } else {
                i += 1;
            }
        }
        Ok(values)
    }

    /// Removes `--name VALUE`, which may be given once.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        let mut values = self.values(name)?;
        match values.len() {
            0 | 1 => Ok(values.pop()),
            _ => Err(UsageError(format!("{name} may be given only once"))),
        }
    }

    /// Removes and returns the positional arguments (those not starting with `-`).
    pub fn positional(&mut self) -> Vec<String> {
        let (positional, rest) = self.items.drain(..).partition(|item| !item.starts_with('-'));
        self.items = rest;
        positional
    }

    /// Fails on anything not consumed.
    pub fn finish(self) -> Result<(), UsageError> {
        match (self.items.first(), self.nix_args) {
            (None, None) => Ok(()),
            (Some(item), _) => Err(UsageError(format!("unexpected argument `{item}`"))),
            (None, Some(_)) => Err(UsageError("this command passes no arguments to nix".into())),
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
    "-v",
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

    fn args(items: &[&str]) -> Args {
        Args::new("fleet", items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn takes_repeated_values_in_both_spellings() {
        let mut a = args(&["--container", "a", "--dry-run", "--container=b"]);
        assert_eq!(a.values("--container").unwrap(), ["a", "b"]);
        assert!(a.flag("--dry-run"));
        assert!(a.finish().is_ok());
    }

    fn parse(command: &str, items: &[&str]) -> Result<Args, String> {
        let spec = crate::table::COMMANDS.iter().find(|c| c.name == command).unwrap();
        Args::parse("fleet", spec, items.iter().map(|s| s.to_string()).collect()).map_err(|e| e.0)
    }

    #[test]
    fn parse_checks_against_the_table_and_splits_off_nix_arguments() {
        let mut a =
            parse("deploy", &["--ssh-option", "-i key", "--dry-run", "--", "--dry-run", "x"]).unwrap();
        assert!(a.flag("--dry-run"));
        assert_eq!(a.values("--ssh-option").unwrap(), ["-i key"]);
        assert_eq!(a.nix_args(), ["--dry-run", "x"]);
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
        assert!(parse("diff", &["/nix/store/a", "/nix/store/b", "--json"]).is_ok());
        // A value is never mistaken for an option or an operand.
        assert!(parse("deploy", &["--target", "root@h", "--flake=.", "--graph", "g.nix"]).is_ok());
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
    fn reports_leftovers_and_missing_values() {
        assert_eq!(args(&["--bogus"]).finish().unwrap_err().0, "unexpected argument `--bogus`");
        assert_eq!(args(&["--flake"]).value("--flake").unwrap_err().0, "--flake needs a value");
        assert_eq!(
            args(&["--flake", "a", "--flake", "b"]).value("--flake").unwrap_err().0,
            "--flake may be given only once"
        );
    }
}
