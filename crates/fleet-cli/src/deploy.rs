//! `deploy`: build, probe, push and activate the selected nodes; or, with
//! `--dry-run`, show what would change.

use std::io::IsTerminal;

use std::time::Duration;

use fleet_deploy::{Kinds, Mode, Plan, Summary, DEFAULT_CONFIRM};
use fleet_nix::{Nix, Target};

use crate::args::Args;
use crate::exit::Failure;
use crate::source::{SourceArgs, OPTIONS_HELP};

const HELP: &str = "\
Build the selected nodes, push what changed to their host and activate it in dependency order

Usage: {prog} deploy [--host NAME]... [--container NAME]... [--dry-run [--json]] [--target TARGET]
                          [--ssh-option OPT]... [--jobs N] [--flake REF] [--graph FILE]

A node whose new system equals the one its host runs is neither pushed nor activated.
A node is activated only after every node it depends on succeeded; the dependents of a
failed node are skipped. The host runs `switch-to-configuration switch` in a transient
unit; a container gets its per-container profile set and `container@NAME` reloaded
(or started).

Options:
  --host NAME        Deploy only this host and its containers (repeatable; default: every host)
  --container NAME   Deploy only this container (repeatable; default: the host and every container)
  --dry-run          Build and show each node's closure diff against what the target runs; change nothing
  --json             With --dry-run: print one JSON document instead of text
  --target TARGET    USER@HOST[:PORT], or `local` for this machine (default: the host's `target` in the graph data)
  --ssh-option OPT   Extra ssh arguments, e.g. \"-i ~/.ssh/deploy\" (repeatable; also used by nix)
  --jobs N           Builds and activations to run at once (default: 8)
  --confirm-timeout SECS
                     How long the host waits for this deployer to confirm its switch over a new
                     SSH connection before rolling back by itself (default: 30)
  --no-confirm       Keep the host's switch without confirmation (always so with --target local)
  --build-on-target  Build each closure on its host, like `nixos-rebuild --build-host`: evaluate
                     here, copy the derivations there, build there; nothing is pushed afterwards
  --builders SPEC    Passed to nix: build on these machines (Nix's distributed builds, see
                     `man nix.conf`, option builders), e.g. \"ssh://builder aarch64-linux\"
  --substitute-on-destination
                     Let the target fetch what it can from its own binary caches during the copy

Safety: every activation runs as a job on the target, detached from the SSH session. A
failed switch or health check rolls the node back to its previous system; one deploy at a
time holds the target's lock; lost connections during lock, probe and copy are retried.
";

/// Runs `deploy`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if crate::wants_help(&mut args, &format!("{HELP}{OPTIONS_HELP}")) {
        return Ok(());
    }
    let dry_run = args.flag("--dry-run");
    let json = args.flag("--json");
    if json && !dry_run {
        return Err(Failure::Usage("--json goes with --dry-run".into()));
    }
    let request = Request::take(&mut args)?;
    args.finish()?;
    request.run(if dry_run { Mode::DryRun } else { Mode::Deploy }, json)
}

/// The options `deploy` and `diff` share, as given.
pub(crate) struct Request {
    hosts: Vec<String>,
    build_on_target: bool,
    builders: Option<String>,
    substitute_on_destination: bool,
    containers: Vec<String>,
    confirm: Option<Duration>,
    target: Option<Target>,
    ssh_options: Vec<String>,
    jobs: usize,
    source: SourceArgs,
}

impl Request {
    /// Takes `--host`, `--container`, `--target`, `--ssh-option`, `--jobs`, `--flake` and `--graph`.
    pub(crate) fn take(args: &mut Args) -> Result<Request, Failure> {
        let hosts = args.values("--host")?;
        let build_on_target = args.flag("--build-on-target");
        let builders = args.value("--builders")?;
        let substitute_on_destination = args.flag("--substitute-on-destination");
        let containers = args.values("--container")?;
        let no_confirm = args.flag("--no-confirm");
        let confirm = match args.value("--confirm-timeout")? {
            None => DEFAULT_CONFIRM,
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(Failure::Usage(format!(
                        "--confirm-timeout takes a positive number of seconds, not `{text}`"
                    )))
                }
            },
        };
        let confirm = (!no_confirm).then_some(confirm);
        let target =
            args.value("--target")?.map(|t| Target::parse(&t)).transpose().map_err(Failure::Usage)?;
        let ssh_options = args
            .values("--ssh-option")?
            .iter()
            .flat_map(|o| o.split_whitespace().map(String::from))
            .collect();
        let jobs = crate::build::jobs(args)?;
        let source = SourceArgs::take(args)?;
        Ok(Request {
            hosts,
            build_on_target,
            builders,
            substitute_on_destination,
            containers,
            confirm,
            target,
            ssh_options,
            jobs,
            source,
        })
    }

    /// Runs the pipeline in `mode` (deploy, dry run or rollback) and prints the result.
    pub(crate) fn run(self, mode: Mode, json: bool) -> Result<(), Failure> {
        let source = self.source.resolve()?;
        let nix = Nix::new()
            .with_build_args(self.builders.iter().flat_map(|spec| ["--builders".to_string(), spec.clone()]))
            .substituting_on_destination(self.substitute_on_destination);
        let fleet = source.load(&nix)?;
        let kinds = Kinds::standard();
        let plan = Plan::new(&fleet, &kinds, &self.hosts, &self.containers, &source.flake)
            .map_err(|e| Failure::Config(e.to_string()))?
            .with_jobs(self.jobs)
            .with_confirm_timeout(self.confirm)
            .with_build_on_target(self.build_on_target);
        let summary = execute(&plan, &nix, mode, self.target.as_ref(), &self.ssh_options, json)?;
        if summary.success() {
            Ok(())
        } else {
            Err(Failure::NodesFailed)
        }
    }
}

/// Runs `plan` with progress on stderr and the result on stdout: the summary
/// table, or for a dry run the diffs (text, or JSON with `json`).
pub fn execute(
    plan: &Plan<'_>,
    nix: &Nix,
    mode: Mode,
    target: Option<&Target>,
    ssh_options: &[String],
    json: bool,
) -> Result<Summary, Failure> {
    let targets = plan
        .targets(target)
        .map_err(|e| Failure::Config(e.to_string()))?
        .into_iter()
        .map(|(host, target)| (host, target.with_ssh_options(ssh_options.iter().cloned())))
        .collect();
    let summary = plan.run(nix, mode, &targets, fleet_report::for_stderr().as_ref());
    match (mode, json) {
        (Mode::Status, _) => print!("\n{}", fleet_report::status_table(&summary)),
        (Mode::DryRun, true) => println!("{}", fleet_report::dry_run_json(&summary)),
        (Mode::DryRun, false) => print!("\n{}", fleet_report::dry_run_text(&summary, use_color())),
        _ => print!("\n{}", fleet_report::summary_table(&summary)),
    }
    Ok(summary)
}

/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
pub(crate) fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
