//! `deploy`: build, probe, push and activate the selected nodes; or, with
//! `--dry-run`, show what would change.

use std::io::IsTerminal;

use std::time::Duration;

use fleet_deploy::{
    ConfigError, Goal, Kinds, Mode, Outcome, Plan, Reboot, Summary, DEFAULT_CONFIRM, DEFAULT_REBOOT_TIMEOUT,
    DEFAULT_SWITCH_SECONDS,
};
use fleet_graph::GraphError;
use fleet_nix::{EvalSettings, Nix, Sudo, Target};

use crate::exit::CliError;
use crate::format::Format;
use crate::gc_roots::RootsArgs;
use crate::options::Options;
use crate::select::SelectArgs;
use crate::source::SourceArgs;
use crate::sudo::SudoArgs;

/// Runs `deploy`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    let (dry_run, ask, yes) = (options.dry_run, options.ask, options.yes);
    let request = Request::new(options)?;
    // Without --ask nothing asks, so --yes alone has nothing to answer.
    if ask {
        return crate::ask::run(request, dry_run, yes);
    }
    request.run(if dry_run { Mode::DryRun } else { Mode::Deploy })
}

/// The options `deploy` and `diff` share, as given.
pub(crate) struct Request {
    select: SelectArgs,
    build_on_target: bool,
    builders: Option<String>,
    substitute_on_destination: bool,
    confirm: Option<Duration>,
    /// `--switch-timeout`; `None`: the plan's default.
    switch_timeout: Option<Duration>,
    target: Option<Target>,
    ssh_options: Vec<String>,
    sudo: SudoArgs,
    jobs: Option<usize>,
    source: SourceArgs,
    /// What came after `--`, for nix.
    nix_args: Vec<String>,
    roots: RootsArgs,
    format: Format,
    build_logs: bool,
    evaluation: EvalSettings,
    goal: Goal,
    rollback_to: Option<u32>,
    status_build: bool,
    /// `--reboot` or `--reboot-always`, and `--reboot-timeout`.
    reboot: (Reboot, Duration),
}

impl Request {
    /// The options of `deploy` that `diff`, `status` and `rollback` share
    /// (those their table entries do not list keep their defaults), and the
    /// arguments for nix after `--`.
    pub(crate) fn new(options: Options) -> Result<Request, CliError> {
        if options.old_no_confirm {
            // A CI user who added `--no-confirm` to skip a question lost the
            // rollback without knowing.
            eprintln!(
                "warning: --no-confirm is now called --no-magic-rollback: it turns off the automatic \
                 rollback of a host switch that this deployer cannot confirm, and answers no question; \
                 the old name will be removed"
            );
        }
        let confirm =
            (!options.no_magic_rollback).then_some(options.confirm_timeout.unwrap_or(DEFAULT_CONFIRM));
        Ok(Request {
            select: SelectArgs::of(&options)?,
            reboot: reboot_of(&options)?,
            sudo: SudoArgs::of(&options)?,
            jobs: options.jobs(),
            format: Format::of(&options)?,
            source: SourceArgs::of(&options),
            roots: RootsArgs::of(&options),
            build_on_target: options.build_on_target,
            builders: options.builders,
            substitute_on_destination: options.substitute_on_destination,
            confirm,
            switch_timeout: options.switch_timeout,
            target: options.target,
            ssh_options: options.ssh_options,
            nix_args: options.rest,
            build_logs: options.print_build_logs,
            evaluation: options.evaluation,
            goal: options.goal,
            rollback_to: options.to,
            status_build: options.build,
        })
    }

    /// Whether `--json` was given.
    pub(crate) fn wants_json(&self) -> bool {
        self.format == Format::Json
    }

    /// The output format asked for.
    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// Whether no node was named: the selection is every node.
    pub(crate) fn selects_everything(&self) -> bool {
        self.select.is_everything()
    }

    /// The generation `--to` named.
    pub(crate) fn rollback_to(&self) -> Option<u32> {
        self.rollback_to
    }

    /// Runs the pipeline in `mode` (deploy, dry run, status or rollback) and
    /// prints the result.
    pub(crate) fn run(&self, mode: Mode) -> Result<(), CliError> {
        self.run_if(mode, |_| Ok(true))
    }

    /// [`Request::run`], once `proceed` said yes to the plan (its selection
    /// known, nothing run yet); a no ends the command without running it.
    pub(crate) fn run_if(
        &self,
        mode: Mode,
        proceed: impl FnOnce(&Plan<'_>) -> Result<bool, CliError>,
    ) -> Result<(), CliError> {
        let source = self.source.clone().resolve()?;
        let roots = self.roots.dir(&source)?;
        let builders = self.builders.iter().flat_map(|spec| ["--builders".to_string(), spec.clone()]);
        let nix = nix_with_args(&self.nix_args)
            .with_build_args(builders)
            .substituting_on_destination(self.substitute_on_destination);
        let fleet = source.load(&nix)?;
        let kinds = Kinds::standard();
        let selected = self.select.resolve(&fleet)?;
        if self.reboot.0 != Reboot::Never && matches!(self.target, Some(Target::Local)) {
            return Err(CliError::Usage(
                "--reboot with --target local would reboot this machine, which could not wait for itself; \
                 deploy with --goal boot and reboot it yourself"
                    .into(),
            ));
        }
        let plan = Plan::new(&fleet, &kinds, &selected.hosts, &selected.containers, &source.flake)
            .map_err(plan_failure)?
            .with_jobs(self.jobs)
            .with_confirm_timeout(self.confirm)
            .with_switch_timeout(self.switch_timeout.unwrap_or(Duration::from_secs(DEFAULT_SWITCH_SECONDS)))
            .with_build_on_target(self.build_on_target)
            .with_build_logs(self.build_logs)
            .with_evaluation(self.evaluation.clone())
            .with_goal(self.goal)
            .with_rollback_to(self.rollback_to)
            .with_status_build(self.status_build)
            .with_reboot(self.reboot.0, self.reboot.1);
        let plan = if selected.hosts_only { plan.hosts_only() } else { plan };
        let selected = plan.selection().names();
        if let (Some(n), true) = (self.rollback_to, selected.len() != 1) {
            return Err(CliError::Usage(format!(
                "--to {n} takes exactly one node, and {} are selected ({}): generation numbers are \
                 each profile's own; select one with --node NAME",
                selected.len(),
                selected.join(", ")
            )));
        }
        if !proceed(&plan)? {
            return Ok(());
        }
        let sudo = self.sudo.resolve()?;
        let (summary, printed) =
            run_and_print(&plan, &nix, mode, self.target.as_ref(), (&self.ssh_options, &sudo), self.format)?;
        if let Some(dir) = roots {
            crate::gc_roots::keep(&nix, &dir, &summary)?;
        }
        let unsuccessful: Vec<&Outcome> =
            summary.nodes.iter().map(|n| &n.outcome).filter(|o| !o.is_success()).collect();
        if unsuccessful.is_empty() {
            printed
        } else if unsuccessful.iter().all(|o| matches!(o, Outcome::NotStarted(_))) {
            Err(CliError::Locked)
        } else {
            Err(CliError::NodesFailed)
        }
    }
}

/// `--reboot`, `--reboot-always` and `--reboot-timeout` (options of
/// `deploy` only): which hosts reboot after the deploy, and how long each
/// may take to come back. A reboot follows only the goals that set what the
/// host boots next.
fn reboot_of(options: &Options) -> Result<(Reboot, Duration), CliError> {
    let (when_needed, always, within, goal) =
        (options.reboot, options.reboot_always, options.reboot_timeout, options.goal);
    let reboot = match (when_needed, always) {
        (true, true) => {
            return Err(CliError::Usage(
                "--reboot reboots when needed, and --reboot-always every time; give one of them".into(),
            ))
        }
        (true, false) => Reboot::WhenNeeded,
        (false, true) => Reboot::Always,
        (false, false) => Reboot::Never,
    };
    if reboot == Reboot::Never && within.is_some() {
        return Err(CliError::Usage("--reboot-timeout goes with --reboot or --reboot-always".into()));
    }
    if reboot != Reboot::Never && !goal.boots() {
        return Err(CliError::Usage(format!(
            "--reboot follows --goal switch or boot, which set what the host boots next; `{}` does not",
            goal.name()
        )));
    }
    Ok((reboot, within.unwrap_or(DEFAULT_REBOOT_TIMEOUT)))
}

/// The nix driver for a run, with the arguments given after `--` passed to
/// the flake's evaluation and to every build.
pub(crate) fn nix_with_args(nix_args: &[String]) -> Nix {
    Nix::new().with_eval_args(nix_args.iter().cloned())
}

/// A failed selection (a name, tag or pattern that matches nothing) is a
/// usage error, with its hint; anything else wrong with the graph data is a
/// configuration error. What the command line can do about a missing target
/// is said here, where its options are known.
pub(crate) fn plan_failure(error: ConfigError) -> CliError {
    match error {
        ConfigError::Graph(selection @ GraphError::UnknownSelection { .. }) => {
            CliError::Usage(selection.to_string())
        }
        ConfigError::NoTarget { host } => CliError::Config(format!(
            "host `{host}` has no target: the graph data gives it no `target`; add one or pass \
             --target USER@HOST[:PORT]"
        )),
        ConfigError::OneTargetForSeveralHosts { hosts } => CliError::Config(format!(
            "--target names one machine, but the selection spans several hosts ({}); \
             select one host's nodes",
            hosts.join(", ")
        )),
        other => CliError::Config(other.to_string()),
    }
}

/// Runs `plan` with progress on stderr and the result on stdout as text: the
/// summary table, or for a dry run the diffs. The command line picks other
/// formats (`--json`, `--json-events`) through `run_and_print`.
pub fn execute(
    plan: &Plan<'_>,
    nix: &Nix,
    mode: Mode,
    target: Option<&Target>,
    access: (&[String], &Sudo),
) -> Result<Summary, CliError> {
    let (summary, printed) = run_and_print(plan, nix, mode, target, access, Format::Text)?;
    printed.map(|()| summary)
}

/// [`execute`] in `format`, returning the summary even when stdout was closed
/// (and how printing went), so that a failed node is not hidden by a closed
/// pipe.
fn run_and_print(
    plan: &Plan<'_>,
    nix: &Nix,
    mode: Mode,
    target: Option<&Target>,
    (ssh_options, sudo): (&[String], &Sudo),
    format: Format,
) -> Result<(Summary, Result<(), CliError>), CliError> {
    let targets = plan
        .targets(target)
        .map_err(plan_failure)?
        .into_iter()
        .map(|(host, target)| {
            (host, target.with_ssh_options(ssh_options.iter().cloned()).with_sudo(sudo.clone()))
        })
        .collect();
    let reporter = format.reporter();
    let summary = plan.run(nix, mode, &targets, reporter.sink());
    let command = match mode {
        Mode::Build => "build",
        Mode::DryRun => "dry-run",
        Mode::Deploy => "deploy",
        Mode::Rollback => "rollback",
        Mode::Status => "status",
    };
    let table = |summary: &Summary| match mode {
        Mode::DryRun => fleet_report::dry_run_text(summary, use_color()),
        Mode::Status => fleet_report::status_table(summary),
        _ => fleet_report::summary_table(summary),
    };
    let text = match (mode, format) {
        // The diffs are the document; the live lines go first all the same.
        (Mode::DryRun, Format::Json) => {
            drop(reporter);
            format!("{}\n", fleet_report::dry_run_json(&summary))
        }
        _ => reporter.finish(command, &summary, || format!("\n{}", table(&summary))),
    };
    let printed = crate::output::print(&text);
    Ok((summary, printed))
}

/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
pub(crate) fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
