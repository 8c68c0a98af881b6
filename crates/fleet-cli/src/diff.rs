//! `diff`: what a deploy would change per node, or the diff of two local closures.

use fleet_deploy::Mode;
use fleet_diff::ClosureDiff;
use fleet_nix::Nix;

use crate::deploy::Request;
use crate::exit::CliError;
use crate::options::Options;

/// Runs `diff`.
pub(crate) fn run(mut options: Options) -> Result<(), CliError> {
    let paths = std::mem::take(&mut options.operands);
    let request = Request::new(options)?;
    match paths.as_slice() {
        [] => request.run(Mode::DryRun),
        [old, new] => local(old, new, request.wants_json()),
        _ => Err(CliError::Usage("diff takes two store paths (OLD NEW) or none".into())),
    }
}

fn local(old: &str, new: &str, json: bool) -> Result<(), CliError> {
    let diff = local_diff(&Nix::new(), old, new)?;
    crate::output::print(&local_text(old, new, &diff, json, crate::deploy::use_color()))
}

/// The diff of two local closures, read by [`Nix::local_closures`] (the Nix
/// database when it can answer, else two `nix path-info` calls at once).
pub fn local_diff(nix: &Nix, old: &str, new: &str) -> Result<ClosureDiff, CliError> {
    let closures = nix
        .local_closures(&[old.to_string(), new.to_string()])
        .map_err(|e| CliError::Config(format!("the closures of {old} and {new} could not be read: {e}")))?;
    Ok(fleet_deploy::closure_diff(&closures[0], &closures[1]))
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
