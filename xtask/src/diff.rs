//! `diff`: what a deploy would change per node, or the diff of two local closures.

use fleet_deploy::Mode;
use fleet_nix::{Nix, Target};

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::Failure;
use crate::source::OPTIONS_HELP;

const HELP: &str = "\
Show closure diffs: per node against what the target runs, or between two local closures

Usage: cargo xtask diff [--container NAME]... [--json] [--target TARGET] [--ssh-option OPT]...
                        [--jobs N] [--flake REF] [--graph FILE]
       cargo xtask diff OLD NEW [--json]

The first form builds the selected nodes and reads each one's current closure on the
target over SSH, copying nothing and changing nothing (the same as `deploy --dry-run`).
The second diffs two local store paths or profile links, like nvd or
`nix store diff-closures`.

Per package: version changes (up, down, changed), added, removed, size deltas; then
path counts and closure sizes, old -> new.

Options:
  --json             Print one JSON document instead of text
  --container NAME   Diff only this container (repeatable)
  --target TARGET    USER@HOST[:PORT], or `local` (default: the host's `target` in the graph data)
  --ssh-option OPT   Extra ssh arguments (repeatable)
  --jobs N           Builds to run at once (default: 8)
";

/// Runs `diff`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let json = args.flag("--json");
    let request = Request::take(&mut args)?;
    let paths = args.positional();
    args.finish()?;
    match paths.as_slice() {
        [] => request.run(Mode::DryRun, json),
        [old, new] => local(old, new, json),
        _ => Err(Failure::Usage(
            "diff takes two store paths (OLD NEW) or none".into(),
        )),
    }
}

fn local(old: &str, new: &str, json: bool) -> Result<(), Failure> {
    let nix = Nix::new();
    let closure = |path: &str| {
        nix.closure(&Target::Local, path)
            .map(|infos| {
                infos
                    .into_iter()
                    .map(|i| fleet_diff::PathInfo::new(i.path, i.nar_size))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| Failure::Config(format!("read the closure of {path}: {e}")))
    };
    let diff = fleet_diff::diff(&closure(old)?, &closure(new)?);
    if json {
        println!("{}", fleet_report::diff_json(old, new, &diff));
    } else {
        let heading = format!("{old} -> {new}");
        let options = fleet_diff::RenderOptions {
            color: crate::deploy::use_color(),
        };
        print!("{}", fleet_diff::render(&heading, &diff, &options));
    }
    Ok(())
}
