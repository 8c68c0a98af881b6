//! `diff`: what a deploy would change per node, or the diff of two local closures.

use fleet_deploy::Mode;
use fleet_diff::ClosureDiff;
use fleet_nix::Nix;

use crate::args::Args;
use crate::deploy::Request;
use crate::exit::Failure;
use crate::source::OPTIONS_HELP;

const HELP: &str = "\
Show closure diffs: per node against what the target runs, or between two local closures

Usage: {prog} diff [--host NAME]... [--container NAME]... [--json] [--target TARGET] [--ssh-option OPT]...
                        [--jobs N] [--flake REF] [--graph FILE]
       {prog} diff OLD NEW [--json]

The first form builds the selected nodes and reads each one's current closure on the
target over SSH, copying nothing and changing nothing (the same as `deploy --dry-run`).
The second diffs two local store paths or profile links, like nvd or
`nix store diff-closures`.

Per package: version changes (up, down, changed), added, removed, size deltas; then
path counts and closure sizes, old -> new.

Options:
  --json             Print one JSON document instead of text
  --host NAME        Only this host and its containers (repeatable)
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
        _ => Err(Failure::Usage("diff takes two store paths (OLD NEW) or none".into())),
    }
}

fn local(old: &str, new: &str, json: bool) -> Result<(), Failure> {
    let diff = local_diff(&Nix::new(), old, new)?;
    print!("{}", local_text(old, new, &diff, json, crate::deploy::use_color()));
    Ok(())
}

/// The diff of two local closures, read by [`Nix::local_closures`] (the Nix
/// database when it can answer, else two `nix path-info` calls at once).
pub fn local_diff(nix: &Nix, old: &str, new: &str) -> Result<ClosureDiff, Failure> {
    let closures = nix
        .local_closures(&[old.to_string(), new.to_string()])
        .map_err(|e| Failure::Config(format!("read the closures of {old} and {new}: {e}")))?;
    let [old_closure, new_closure] = [&closures[0], &closures[1]].map(|infos| {
        infos.iter().map(|i| fleet_diff::PathInfo::new(&i.path, i.nar_size)).collect::<Vec<_>>()
    });
    Ok(fleet_diff::diff(&old_closure, &new_closure))
}

/// What `diff OLD NEW` prints for `diff`: the JSON document or the text.
pub fn local_text(old: &str, new: &str, diff: &ClosureDiff, json: bool, color: bool) -> String {
    if json {
        format!("{}\n", fleet_report::diff_json(old, new, diff))
    } else {
        let heading = format!("{old} -> {new}");
        fleet_diff::render(&heading, diff, &fleet_diff::RenderOptions { color })
    }
}
