//! The shape of a command line: commands and their options as data, from which
//! the parser checks what it is given and help, usage lines, completions and
//! the manual page are written. The table itself is in `table.rs`.

/// One command: its name, its options and the texts its help is made of.
#[derive(Debug)]
pub struct CommandSpec {
    /// The command's name, e.g. `deploy`.
    pub name: &'static str,
    /// One line for the list of commands.
    pub summary: &'static str,
    /// Operands after the options in the first usage line, e.g. `SHELL`; empty for none.
    pub operands: &'static str,
    /// Further usage forms, after `PROGRAM COMMAND `, e.g. `OLD NEW [--json]`.
    pub forms: &'static [&'static str],
    /// Paragraphs between the usage lines and the options.
    pub about: &'static str,
    /// Every option the command takes, in the order help lists them.
    pub options: &'static [&'static OptSpec],
    /// What `-- ARGS...` means for the command, if it takes it.
    pub after_dashes: Rest,
    /// `(arguments after the program's name, what they do)`.
    pub examples: &'static [(&'static str, &'static str)],
    /// What a shell may offer as operands.
    pub complete: Complete,
}

/// One option of a command.
#[derive(Debug)]
pub struct OptSpec {
    /// The option's name with its dashes, e.g. `--host`.
    pub long: &'static str,
    /// Its one-letter name, e.g. `j` for `-j`, if it has one.
    pub short: Option<char>,
    /// The value's placeholder, e.g. `NAME`; `None` for a flag.
    pub value: Option<&'static str>,
    /// Whether it may be given more than once.
    pub repeatable: bool,
    /// What it does; wrapped when printed.
    pub help: &'static str,
    /// What a shell may offer as its value.
    pub complete: Complete,
}

/// What the arguments after `--` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// The command takes no `--`.
    Nothing,
    /// Arguments passed on to nix.
    Nix,
    /// The command to run, as an argument vector (`exec`).
    Command,
}

/// What shell completion offers for an option's value or a command's operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// Nothing (free text, or a flag).
    Nothing,
    /// File names.
    File,
    /// Folder names.
    Dir,
    /// One of these words.
    Words(&'static [&'static str]),
    /// The names of the commands.
    Commands,
    /// The nodes of this kind (`host`, or `container` for every other kind)
    /// and their tags as `@TAG`, read with `graph --names` from the flake
    /// typed so far; `node`: every node's name, without tags.
    Nodes(&'static str),
}

impl CommandSpec {
    /// The option called `long` (with its dashes), if the command takes it.
    pub fn option(&self, long: &str) -> Option<&'static OptSpec> {
        self.options.iter().copied().find(|o| o.long == long)
    }

    /// The option whose one-letter name is `short`, if the command takes it.
    pub fn short_option(&self, short: char) -> Option<&'static OptSpec> {
        self.options.iter().copied().find(|o| o.short == Some(short))
    }

    /// Whether the command takes positional operands.
    pub fn takes_operands(&self) -> bool {
        !self.operands.is_empty() || !self.forms.is_empty()
    }
}

impl OptSpec {
    /// `--name VALUE`, or `--name` for a flag.
    pub fn synopsis(&self) -> String {
        match self.value {
            Some(value) => format!("{} {value}", self.long),
            None => self.long.to_string(),
        }
    }

    /// The synopsis with the one-letter name first, `-j, --jobs N`, for the
    /// option lists of help and the manual page.
    pub fn entry(&self) -> String {
        match self.short {
            Some(short) => format!("-{short}, {}", self.synopsis()),
            None => self.synopsis(),
        }
    }
}

/// The candidate closest to `given` by edit distance (adjacent swaps count
/// once), when it is close enough to be a likely typo: at most one edit in
/// four characters, and at least one.
pub(crate) fn suggest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (given.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(given, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The optimal-string-alignment distance: insertions, deletions,
/// substitutions and swaps of two adjacent characters each cost one.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// ", did you mean `X`?" for the closest candidate, or nothing.
pub(crate) fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(given, candidates).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_swaps_once() {
        assert_eq!(distance("deplyo", "deploy"), 1);
        assert_eq!(distance("deploy", "deploy"), 0);
        assert_eq!(distance("dploy", "deploy"), 1);
        assert_eq!(distance("graph", "build"), 5);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggests_only_close_names() {
        let commands = ["graph", "build", "deploy", "diff", "rollback", "status"];
        assert_eq!(suggest("deplyo", commands), Some("deploy"));
        assert_eq!(suggest("stats", commands), Some("status"));
        assert_eq!(suggest("frobnicate", commands), None);
        assert_eq!(suggest("--dry-rn", ["--dry-run", "--json"]), Some("--dry-run"));
        assert_eq!(suggest("--bogus", ["--dry-run", "--json", "--host"]), None);
        assert_eq!(did_you_mean("buidl", commands), "; did you mean `build`?");
    }
}
