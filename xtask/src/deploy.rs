//! `deploy`: build, probe, push and activate the selected nodes.

use fleet_deploy::{Kinds, Mode, Plan, Summary};
use fleet_nix::{Nix, Target};

use crate::args::Args;
use crate::exit::Failure;
use crate::source::{SourceArgs, OPTIONS_HELP};

const HELP: &str = "\
Build the selected nodes, push what changed to their host and activate it in dependency order

Usage: cargo xtask deploy [--container NAME]... [--target TARGET] [--ssh-option OPT]... [--jobs N]
                          [--flake REF] [--graph FILE]

A node whose new system equals the one its host runs is neither pushed nor activated.
A node is activated only after every node it depends on succeeded; the dependents of a
failed node are skipped. The host runs `switch-to-configuration switch` in a transient
unit; a container gets its per-container profile set and `container@NAME` reloaded
(or started).

Options:
  --container NAME   Deploy only this container (repeatable; default: the host and every container)
  --target TARGET    USER@HOST[:PORT], or `local` for this machine (default: the host's `target` in the graph data)
  --ssh-option OPT   Extra ssh arguments, e.g. \"-i ~/.ssh/deploy\" (repeatable; also used by nix copy)
  --jobs N           Builds and activations to run at once (default: 8)
";

/// Runs `deploy`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let containers = args.values("--container")?;
    let target = args
        .value("--target")?
        .map(|t| Target::parse(&t))
        .transpose()
        .map_err(Failure::Usage)?;
    let ssh_options: Vec<String> = args
        .values("--ssh-option")?
        .iter()
        .flat_map(|o| o.split_whitespace().map(String::from))
        .collect();
    let jobs = crate::build::jobs(&mut args)?;
    let source = SourceArgs::take(&mut args)?;
    args.finish()?;
    let source = source.resolve()?;
    let nix = Nix::new();
    let fleet = source.load(&nix)?;
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &containers, &source.flake)
        .map_err(|e| Failure::Config(e.to_string()))?
        .with_jobs(jobs);
    let summary = execute(&plan, &nix, target.as_ref(), &ssh_options)?;
    if summary.success() {
        Ok(())
    } else {
        Err(Failure::NodesFailed)
    }
}

/// Deploys `plan` with progress on stderr and the summary table on stdout.
pub(crate) fn execute(
    plan: &Plan<'_>,
    nix: &Nix,
    target: Option<&Target>,
    ssh_options: &[String],
) -> Result<Summary, Failure> {
    let targets = plan
        .targets(target)
        .map_err(|e| Failure::Config(e.to_string()))?
        .into_iter()
        .map(|(host, target)| (host, target.with_ssh_options(ssh_options.iter().cloned())))
        .collect();
    let summary = plan.run(
        nix,
        Mode::Deploy,
        &targets,
        fleet_report::for_stderr().as_ref(),
    );
    print!("\n{}", fleet_report::summary_table(&summary));
    Ok(summary)
}
