//! `exec`: run one command on every selected node at once, each output line
//! prefixed by its node, and a summary of every node's exit status; with
//! `--dry-run` only where it would run, with `--ask` that first and a question.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{mpsc, Mutex};

use fleet_deploy::{Kinds, Plan};
use fleet_nix::{Connections, Nix, Target};

use crate::deploy::plan_failure;
use crate::exit::CliError;
use crate::options::Options;
use crate::select::SelectArgs;
use crate::source::SourceArgs;

/// How many of a host's nodes run their command at once: one SSH session
/// each over the host's shared connection, and sshd's `MaxSessions` (10 by
/// default) refuses more on one connection. Two fewer, as a margin: a
/// session just ended may still count there while the next one opens.
const SESSIONS_PER_HOST: usize = 8;

/// Runs `exec`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    let source = SourceArgs::of(&options);
    let sudo = crate::sudo::SudoArgs::of(&options)?;
    let select = SelectArgs::of(&options)?;
    let Options { dry_run, ask, yes, target, ssh_options, rest: command, .. } = options;
    if command.is_empty() {
        return Err(CliError::Usage(
            "exec needs the command to run after `--`, e.g. `exec -- systemctl --failed`".into(),
        ));
    }
    let source = source.resolve()?;
    let fleet = source.load(&Nix::new())?;
    let kinds = Kinds::standard();
    let selected = select.resolve(&fleet)?;
    let plan = Plan::new(&fleet, &kinds, &selected.hosts, &selected.containers, &source.flake)
        .map_err(plan_failure)?;
    let plan = if selected.hosts_only { plan.hosts_only() } else { plan };
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
    let sudo = sudo.resolve()?;
    // One SSH connection per host, shared by its nodes' commands.
    let connections = Connections::new().ok();
    let targets: BTreeMap<String, Target> = plan
        .targets(target.as_ref())
        .map_err(plan_failure)?
        .into_iter()
        .map(|(host, target)| {
            let target = target.with_ssh_options(ssh_options.iter().cloned()).with_sudo(sudo.clone());
            let target = connections.as_ref().map_or_else(|| target.clone(), |c| c.share(&target));
            (host, target)
        })
        .collect();
    let names = plan.selection().names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let (lines, received) = mpsc::channel::<String>();
    // Per host, a queue of its nodes and at most SESSIONS_PER_HOST workers
    // taking from it: sshd refuses sessions past its MaxSessions on one
    // connection.
    let mut by_host: BTreeMap<&str, VecDeque<usize>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let host = fleet.host_of(name).expect("validated nodes have hosts");
        by_host.entry(host.name.as_str()).or_default().push_back(i);
    }
    let queues: Vec<(&str, Mutex<VecDeque<usize>>)> =
        by_host.into_iter().map(|(host, queue)| (host, Mutex::new(queue))).collect();
    let results: Vec<Mutex<Option<Result<i32, fleet_nix::CommandError>>>> =
        names.iter().map(|_| Mutex::new(None)).collect();
    let printed = std::thread::scope(|scope| {
        for (host, queue) in &queues {
            let (lines, target, results) = (lines.clone(), &targets[*host], &results);
            let (command, kinds, names, fleet) = (&command, &kinds, names, &fleet);
            scope.spawn(move || {
                // One connection first; when it cannot be opened, each
                // session tries on its own and says why.
                let _ = target.connect();
                let workers = queue.lock().unwrap_or_else(|p| p.into_inner()).len().min(SESSIONS_PER_HOST);
                std::thread::scope(|workers_scope| {
                    for _ in 0..workers {
                        let lines = lines.clone();
                        workers_scope.spawn(move || loop {
                            // Taken apart from the loop's test, so the queue
                            // is not locked while the command runs.
                            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                            let Some(i) = next else { break };
                            let name = &names[i];
                            let node = fleet.node(name).expect("selected nodes exist");
                            let mut on_line = |line: &str| {
                                // What the node printed, one line each: a `\r` or
                                // an escape sequence cannot forge another node's line.
                                let line = fleet_report::terminal_line(line);
                                let _ = lines.send(format!("{name:width$} | {line}\n"));
                            };
                            let result = fleet_deploy::exec_on(
                                kinds.of(node),
                                node,
                                target,
                                command,
                                fleet_deploy::DEFAULT_ANSWER,
                                &mut on_line,
                            );
                            *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                        });
                    }
                });
            });
        }
        drop(lines);
        // Lines are printed as they come; after a closed pipe, the commands
        // still run to their end, unread.
        let mut printed = Ok(());
        for line in received {
            if printed.is_ok() {
                printed = crate::output::print(&line);
            }
        }
        printed
    });
    let results: Vec<Result<i32, fleet_nix::CommandError>> = results
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_else(|p| p.into_inner()).expect("every node ran"))
        .collect();
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
