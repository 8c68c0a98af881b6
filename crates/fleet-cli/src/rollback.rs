//! `rollback`: put the selected nodes back on their previous generation (or
//! the one `--to` names); `--dry-run` says which, and a rollback of every
//! node, or one with `--ask`, asks first.

use fleet_deploy::Mode;

use crate::ask::ask_once;
use crate::deploy::Request;
use crate::exit::CliError;
use crate::options::Options;

/// Runs `rollback`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    let (dry_run, ask, yes) = (options.dry_run, options.ask, options.yes);
    let request = Request::new(options)?;
    if dry_run && ask {
        return Err(CliError::Usage(
            "--ask asks before rolling back, and --dry-run rolls nothing back; give one of them".into(),
        ));
    }
    let everything = request.selects_everything();
    let to = match request.rollback_to() {
        Some(n) => format!("generation {n}"),
        None => "the generation before its current one".to_string(),
    };
    request.run_if(Mode::Rollback, |plan| {
        let names = plan.selection().names();
        let list: String = names.iter().map(|name| format!("  {name} -> {to}\n")).collect();
        if dry_run {
            crate::output::print(&format!("would roll back {} nodes:\n{list}", names.len()))?;
            return Ok(false);
        }
        if !(ask || everything) {
            return Ok(true);
        }
        eprint!("rollback of {} nodes:\n{list}", names.len());
        let refused = match everything {
            true => {
                "no --host or --container: this rolls back every node, and stdin is no terminal to \
                     ask on; select nodes, or pass --yes"
            }
            false => {
                "--ask needs a terminal to ask on, and stdin is not one; pass --yes to roll back without \
                      asking"
            }
        };
        let go = ask_once("Roll these nodes back?", yes, refused)?;
        if !go {
            eprintln!("Not rolled back: nothing was changed.");
        }
        Ok(go)
    })
}
