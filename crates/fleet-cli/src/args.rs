//! Hand-written argument parsing: options are taken out by name, and whatever
//! is left over is an error that names it.

use std::fmt;

/// A command's arguments, consumed as the command asks for them.
pub struct Args {
    program: String,
    items: Vec<String>,
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
    pub fn new(program: &str, items: Vec<String>) -> Args {
        Args { program: program.to_string(), items }
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
        match self.items.first() {
            None => Ok(()),
            Some(item) => Err(UsageError(format!("unexpected argument `{item}`"))),
        }
    }
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
