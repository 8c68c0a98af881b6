//! `exec`: run one command on every selected node at once, each output line
//! prefixed by its node, and a summary of every node's exit status; with
//! `--dry-run` only where it would run, with `--ask` that first and a question.

use std::collections::BTreeMap;
use std::sync::mpsc;

use fleet_deploy::{Kinds, Plan};
use fleet_nix::{Connections, Nix, Target};

use crate::args::Args;
use crate::deploy::plan_failure;
use crate::exit::CliError;
use crate::source::SourceArgs;

/// Runs `exec`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let hosts = args.values("--host")?;
    let containers = args.values("--container")?;
    let hosts_only = args.flag("--no-containers");
    let dry_run = args.flag("--dry-run");
    let ask = args.flag("--ask");
    let yes = args.flag("--yes");
    let target = args.value("--target")?.map(|t| Target::parse(&t)).transpose().map_err(CliError::Usage)?;
    let ssh_options: Vec<String> =
        args.values("--ssh-option")?.iter().flat_map(|o| o.split_whitespace().map(String::from)).collect();
    let source = SourceArgs::take(&mut args)?;
    let command = args.nix_args();
    args.finish()?;
    if command.is_empty() {
        return Err(CliError::Usage(
            "exec needs the command to run after `--`, e.g. `exec -- systemctl --failed`".into(),
        ));
    }
    let source = source.resolve()?;
    let fleet = source.load(&Nix::new())?;
    let kinds = Kinds::standard();
    if hosts_only && !containers.is_empty() {
        return Err(CliError::Usage(
            "--no-containers leaves every container out, and --container selects some; give one of them"
                .into(),
        ));
    }
    let plan = Plan::new(&fleet, &kinds, &hosts, &containers, &source.flake).map_err(plan_failure)?;
    let plan = if hosts_only { plan.hosts_only() } else { plan };
    if dry_run && ask {
        return Err(CliError::Usage(
            "--ask asks before running, and --dry-run runs nothing; give one of them".into(),
        ));
    }
    if dry_run || ask {
        let names = plan.selection().names();
        let list =
            format!("would run `{}` on {} nodes: {}\n", command.join(" "), names.len(), names.join(", "));
        if dry_run {
            return crate::output::print(&list);
        }
        eprint!("{list}");
        let refused =
            "--ask needs a terminal to ask on, and stdin is not one; pass --yes to run without asking";
        if !crate::ask::ask_once("Run it?", yes, refused)? {
            eprintln!("Not run anywhere.");
            return Ok(());
        }
    }
    // One SSH connection per host, shared by its nodes' commands.
    let connections = Connections::new().ok();
    let targets: BTreeMap<String, Target> = plan
        .targets(target.as_ref())
        .map_err(plan_failure)?
        .into_iter()
        .map(|(host, target)| {
            let target = target.with_ssh_options(ssh_options.iter().cloned());
            let target = connections.as_ref().map_or_else(|| target.clone(), |c| c.share(&target));
            (host, target)
        })
        .collect();
    let names = plan.selection().names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let (lines, received) = mpsc::channel::<String>();
    let (results, printed) = std::thread::scope(|scope| {
        let runs: Vec<_> = names
            .iter()
            .map(|name| {
                let node = fleet.node(name).expect("selected nodes exist");
                let host = fleet.host_of(name).expect("validated nodes have hosts");
                let target = &targets[&host.name];
                let lines = lines.clone();
                let command = &command;
                let kinds = &kinds;
                scope.spawn(move || {
                    let mut on_line = |line: &str| {
                        // What the node printed, one line each: a `\r` or an
                        // escape sequence cannot forge another node's line.
                        let _ =
                            lines.send(format!("{name:width$} | {}\n", fleet_report::terminal_line(line)));
                    };
                    fleet_deploy::exec_on(kinds.of(node), node, target, command, &mut on_line)
                })
            })
            .collect();
        drop(lines);
        // Lines are printed as they come; after a closed pipe, the commands
        // still run to their end, unread.
        let mut printed = Ok(());
        for line in received {
            if printed.is_ok() {
                printed = crate::output::print(&line);
            }
        }
        let results: Vec<_> =
            runs.into_iter().map(|run| run.join().expect("exec threads do not panic")).collect();
        (results, printed)
    });
    drop(connections);
    printed?;
    let failed = results.iter().filter(|r| !matches!(r, Ok(0))).count();
    let mut summary =
        format!("\nexec: {} nodes: {} ok, {failed} failed\n", names.len(), names.len() - failed);
    for (name, result) in names.iter().zip(&results) {
        let line = match result {
            Ok(code) => format!("exit {code}"),
            Err(error) => {
                format!("failed: {}", fleet_report::terminal_text(&error.to_string()).replace('\n', "\n  "))
            }
        };
        summary.push_str(&format!("  {name:width$}  {line}\n"));
    }
    crate::output::print(&summary)?;
    if failed > 0 {
        Err(CliError::NodesFailed)
    } else {
        Ok(())
    }
}
