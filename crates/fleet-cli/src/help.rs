//! Help text, usage lines and the version line, written from the command table.

use crate::spec::{CommandSpec, OptSpec, Rest};

/// The width help text is wrapped to.
const WIDTH: usize = 100;
/// Synopses up to this long share their line with the help text.
const SYNOPSIS_MAX: usize = 17;

/// What the program is, for the top of the help and the manual page.
pub(crate) const TAGLINE: &str =
    "build and deploy a NixOS host and its native containers, in dependency order";

/// What the exit status means.
pub(crate) const EXIT_STATUS: &str = "0 success, 1 some node failed, 2 usage or configuration error, \
     75 not started: another deploy holds the lock (nothing was changed, no node failed).";

/// What `exec`'s `-- COMMAND...` is, for help and the manual.
pub(crate) const COMMAND_HELP: &str = "The command to run on each node: its words are passed as they \
     are, as an argument vector, never through a shell";
/// What `-- ARGS...` does, for help and the manual.
pub(crate) const NIX_ARGS_HELP: &str = "Pass ARGS on to nix: to the evaluation of the flake and to every \
     `nix build`, so use flags both accept (settings such as `--option NAME VALUE`, `--show-trace`, \
     `--keep-going`, `-L`)";

/// `fleet 0.1.0`, with the git revision it was built from when it was built
/// from a git checkout (see `build.rs`).
pub fn version_line(program: &str) -> String {
    let name = program.rsplit(' ').next().unwrap_or(program);
    match option_env!("FLEET_GIT_REVISION") {
        Some(revision) if !revision.is_empty() => {
            format!("{name} {} (git {revision})\n", env!("CARGO_PKG_VERSION"))
        }
        _ => format!("{name} {}\n", env!("CARGO_PKG_VERSION")),
    }
}

/// The top-level help of `program`, listing `commands` and then `tasks` (the
/// developer tasks of `cargo xtask`; none for `fleet`).
pub(crate) fn top_help(program: &str, commands: &[CommandSpec], tasks: &[CommandSpec]) -> String {
    let column = commands.iter().chain(tasks).map(|c| c.name.len()).max().unwrap_or(0) + 4;
    let list = |specs: &[CommandSpec]| -> String {
        specs.iter().map(|c| aligned(&format!("  {}", c.name), c.summary, column)).collect()
    };
    let mut text = format!(
        "{program}: {TAGLINE}\n\nUsage: {program} <COMMAND> [OPTIONS] [-- NIX-ARGS...]\n\nCommands:\n{}",
        list(commands)
    );
    if !tasks.is_empty() {
        text.push_str(&format!("\nDeveloper tasks:\n{}", list(tasks)));
    }
    text.push_str(&format!(
        "\nOptions:\n  -h, --help     Print this help\n  -V, --version  Print the version\n\n\
         Run `{program} help <COMMAND>` for a command's options and examples.\n\n\
         Exit status: {EXIT_STATUS}\n"
    ));
    text
}

/// The help of one command.
pub(crate) fn command_help(program: &str, spec: &CommandSpec) -> String {
    let mut text = format!("{}\n\n", capitalised(spec.summary));
    for (i, line) in usage(program, spec).iter().enumerate() {
        text.push_str(if i == 0 { "Usage: " } else { "       " });
        text.push_str(line);
        text.push('\n');
    }
    for paragraph in spec.about.split("\n\n").filter(|p| !p.is_empty()) {
        text.push('\n');
        if preformatted(paragraph) {
            text.push_str(paragraph);
        } else {
            text.push_str(&wrap(paragraph, WIDTH, 0).join("\n"));
        }
        text.push('\n');
    }
    text.push_str("\nOptions:\n");
    for option in spec.options {
        text.push_str(&option_entry(option));
    }
    match spec.after_dashes {
        Rest::Nix => text.push_str(&aligned("  -- ARGS...", NIX_ARGS_HELP, OPTION_COLUMN)),
        Rest::Command => text.push_str(&aligned("  -- COMMAND...", COMMAND_HELP, OPTION_COLUMN)),
        Rest::Nothing => {}
    }
    text.push_str(&aligned("  -h, --help", "Print this help", OPTION_COLUMN));
    if !spec.examples.is_empty() {
        text.push_str("\nExamples:\n");
        for (args, what) in spec.examples {
            text.push_str(&format!("  {program} {args}\n      {what}\n"));
        }
    }
    text
}

/// The usage lines of a command, without `Usage: `: the first form (every
/// option, wrapped, continuation lines indented under the first option), then
/// the other forms.
pub(crate) fn usage(program: &str, spec: &CommandSpec) -> Vec<String> {
    let head = format!("{program} {}", spec.name);
    let mut words: Vec<String> = spec.options.iter().map(|o| usage_word(o)).collect();
    if !spec.operands.is_empty() {
        words.push(spec.operands.to_string());
    }
    match spec.after_dashes {
        Rest::Nix => words.push("[-- NIX-ARGS...]".into()),
        Rest::Command => words.push("-- COMMAND...".into()),
        Rest::Nothing => {}
    }
    let indent = " ".repeat("Usage: ".len() + head.len() + 1);
    let mut lines = vec![head.clone()];
    for word in words {
        let last = lines.last_mut().expect("lines starts with one");
        if last.len() + 1 + word.len() + "Usage: ".len() > WIDTH && last.trim() != head {
            lines.push(format!("{}{word}", &indent["Usage: ".len()..]));
        } else {
            last.push(' ');
            last.push_str(&word);
        }
    }
    lines.extend(spec.forms.iter().map(|form| format!("{head} {form}")));
    lines
}

/// Whether a paragraph of `about` is laid out by hand (a line of it is
/// indented), and so printed as it is rather than wrapped.
pub(crate) fn preformatted(paragraph: &str) -> bool {
    paragraph.lines().any(|line| line.starts_with("  "))
}

/// `[--host NAME]...`, `[--dry-run]`.
pub(crate) fn usage_word(option: &OptSpec) -> String {
    format!("[{}]{}", option.synopsis(), if option.repeatable { "..." } else { "" })
}

/// Where option help starts.
const OPTION_COLUMN: usize = 2 + SYNOPSIS_MAX + 2;

fn option_entry(option: &OptSpec) -> String {
    aligned(&format!("  {}", option.entry()), option.help, OPTION_COLUMN)
}

/// `left` followed by `help` wrapped in the column at `column`; a `left`
/// too wide for it gets a line of its own.
fn aligned(left: &str, help: &str, column: usize) -> String {
    let lines = wrap(help, WIDTH, column);
    if left.len() + 2 > column {
        return format!("{left}\n{}\n", lines.join("\n"));
    }
    let mut text = format!("{left:<column$}{}\n", &lines[0][column..]);
    for line in &lines[1..] {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `text` in lines of at most `width` characters (a longer word stays whole),
/// each indented by `indent` spaces.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            lines.push(format!("{pad}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(format!("{pad}{line}"));
    lines
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::COMMANDS;

    fn command(name: &str) -> &'static CommandSpec {
        COMMANDS.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn usage_lists_every_option_and_wraps_under_the_first() {
        let lines = usage("fleet", command("deploy"));
        let all = lines.join(" ");
        for option in command("deploy").options {
            assert!(all.contains(&usage_word(option)), "{} missing from {all}", option.long);
        }
        assert!(all.ends_with("[-- NIX-ARGS...]"), "{all}");
        assert!(lines.len() > 1);
        for line in &lines {
            assert!(line.len() + "Usage: ".len() <= WIDTH, "{line}");
        }
        for line in &lines[1..] {
            assert!(line.starts_with(&" ".repeat("fleet deploy ".len())), "{line:?}");
            assert!(line.trim_start().starts_with('['), "{line:?}");
        }
        assert_eq!(
            usage("fleet", command("diff")).last().map(String::as_str),
            Some("fleet diff OLD NEW [--json]")
        );
    }

    #[test]
    fn options_are_aligned_and_long_ones_get_their_own_line() {
        let help = command_help("cargo xtask", command("deploy"));
        assert!(help.contains("\n  --host NAME        Only this host"), "{help}");
        assert!(help.contains("\n  --flake REF        Flake to build from"), "{help}");
        assert!(help.contains("\n  --confirm-timeout SECS\n                     How long"), "{help}");
        assert!(help.contains("\n  cargo xtask deploy --container nannuo-bot --dry-run\n"), "{help}");
        for line in help.lines() {
            assert!(line.len() <= WIDTH, "{line}");
        }
    }

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5, 0), ["aa bb", "cc"]);
        assert_eq!(wrap("aa bb", 6, 2), ["  aa", "  bb"]);
    }
}
