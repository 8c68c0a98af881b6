//! What the coordinator starts: builds, pushes and each node's last stage,
//! whenever what they wait for is there.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::Scope;

use fleet_nix::Target;

use super::state::{HostStep, Step};
use super::{Finale, Message, Run, ACTIVATIONS_PER_HOST};
use crate::job::Verb;
use crate::{Goal, Outcome, Plan, Stage};

impl<'p, 'a> Run<'p, 'a>
where
    'a: 'p,
{
    /// Starts every stage that can start now, and ends the nodes that have
    /// nothing left to wait for.
    pub(super) fn advance<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        self.start_builds(scope, tx);
        self.start_pushes(scope, tx);
        self.start_finales(scope, tx);
    }

    pub(super) fn start_builds<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        for i in 0..self.nodes.len() {
            if self.builds >= plan.jobs {
                return;
            }
            let node = &self.nodes[i];
            let Step::Evaluated(drv) = &node.step else { continue };
            if node.outcome.is_some() {
                continue;
            }
            let store: &'p Target = match (plan.build_on_target, self.hosts.get(node.host)) {
                (false, _) | (true, None) => &Target::Local,
                (true, Some(host)) if host.step == HostStep::Ready => host.target,
                (true, Some(_)) => continue,
            };
            let (name, drv) = (node.node.name.as_str(), drv.clone());
            self.nodes[i].step = Step::Building;
            self.builds += 1;
            let progress = self.progress;
            self.spawn(scope, tx, move |_| {
                Some(Message::Built(i, plan.build_one(nix, name, &drv, store, progress, sink)))
            });
        }
    }

    /// Per host, one copy of every node built and not yet on it, while no
    /// other copy to that host runs; what is built meanwhile goes in the next.
    pub(super) fn start_pushes<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        // A rollback's systems are already there; so are those built there.
        let push = self.flow.build && self.flow.finale == Finale::Activate && !self.plan.build_on_target;
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let Some(host) = self.hosts.get(node.host) else { continue };
            if node.step == Step::Built && node.outcome.is_none() && host.step == HostStep::Ready {
                let needs_push = push && !node.is_current() && matches!(host.target, Target::Ssh(_));
                if !needs_push {
                    self.nodes[i].step = Step::Ready;
                }
            }
        }
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        let hosts: Vec<&'p str> = self.hosts.keys().copied().collect();
        for host in hosts {
            let state = &self.hosts[host];
            if state.pushing || state.step != HostStep::Ready {
                continue;
            }
            let batch: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    let node = &self.nodes[i];
                    node.host == host && node.step == Step::Built && node.outcome.is_none()
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            let paths: Vec<String> = batch
                .iter()
                .map(|&i| self.nodes[i].new.clone().expect("built nodes have a system"))
                .collect();
            for &i in &batch {
                self.nodes[i].step = Step::Pushing;
                self.say_stage(i, Stage::Push);
            }
            let target = state.target;
            self.hosts.get_mut(host).expect("every involved host has a state").pushing = true;
            self.spawn(scope, tx, move |_| {
                let pushed = plan.push(nix, host, target, &paths, sink);
                Some(Message::Pushed(host, batch, pushed))
            });
        }
    }

    /// Ends each node that is ready (on its target, its dependencies done):
    /// reported, diffed or activated. A node whose dependency did not succeed
    /// is skipped. In selection order, so that a skip reaches every node
    /// behind it at once.
    pub(super) fn start_finales<'s>(&mut self, scope: &'s Scope<'s, '_>, tx: &Sender<Message<'p>>)
    where
        'p: 's,
    {
        let (plan, nix, sink) = (self.plan, self.nix, self.sink);
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if node.step != Step::Ready || node.outcome.is_some() {
                continue;
            }
            let host = &self.hosts[node.host];
            let name = node.node.name.as_str();
            match self.flow.finale {
                Finale::Built => unreachable!("built nodes finish when built"),
                Finale::Status => {
                    let outcome = self.would(i);
                    self.finish(i, outcome);
                }
                Finale::Diff => {
                    if host.busy >= plan.jobs {
                        continue;
                    }
                    let (old, new, target) = (node.old.clone(), node.new.clone(), host.target);
                    let new = new.expect("ready nodes have a system");
                    self.begin(i, Stage::Diff);
                    self.spawn(scope, tx, move |_| {
                        Some(Message::Diffed(i, plan.diff(nix, name, old.as_deref(), &new, target)))
                    });
                }
                Finale::Activate => {
                    let mut waiting = false;
                    let mut blocker = None;
                    for &dep in &node.deps {
                        let dep_run = &self.nodes[dep];
                        match &dep_run.outcome {
                            None => waiting = true,
                            Some(outcome) if !outcome.is_success() => {
                                let dep = &dep_run.node.name;
                                blocker = Some(format!("dependency `{dep}` {}", outcome.label()));
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    if let Some(why) = blocker {
                        self.finish(i, Outcome::Skipped(why));
                        continue;
                    }
                    if waiting {
                        continue;
                    }
                    if node.is_current() && !node.restart {
                        let containers = containers_on(plan, name);
                        match (&node.new, host.lock.is_some()) {
                            // A switch made without the run (`nh os switch`,
                            // `nixos-rebuild`) may have left containers on an
                            // earlier unit: what they started with says which.
                            (Some(current), true) if plan.goal == Goal::Switch && !containers.is_empty() => {
                                let (current, target) = (current.clone(), host.target);
                                self.hold(i);
                                self.spawn(scope, tx, move |_| {
                                    let restarts =
                                        plan.changed_units(target, &current, &current, &containers);
                                    Some(Message::Activated(i, Outcome::Unchanged, restarts))
                                });
                            }
                            _ => self.finish(i, Outcome::Unchanged),
                        }
                        continue;
                    }
                    if host.busy >= plan.jobs.min(ACTIVATIONS_PER_HOST) {
                        continue;
                    }
                    let verb = if node.restart { Verb::Restart } else { Verb::Goal };
                    let (node, target) = (node.node, host.target);
                    let (old, new) = (self.nodes[i].old.clone(), self.nodes[i].new.clone());
                    let generation = self.nodes[i].switch_generation;
                    let new = new.expect("ready nodes have a system");
                    let lock = Arc::clone(host.lock.as_ref().expect("a host that activates is locked"));
                    let containers = containers_on(plan, name);
                    self.begin(i, Stage::Activate);
                    self.spawn(scope, tx, move |_| {
                        let expect = old.as_deref();
                        let outcome = match plan
                            .activate(node, &new, expect, verb, generation, target, &lock, sink)
                        {
                            Outcome::Activated if verb == Verb::Restart && old.as_deref() == Some(&new) => {
                                Outcome::Restarted
                            }
                            outcome => outcome,
                        };
                        let restarts = match (&outcome, old) {
                            (Outcome::Activated, Some(old)) if !containers.is_empty() => {
                                plan.changed_units(target, &old, &new, &containers)
                            }
                            _ => Ok(Vec::new()),
                        };
                        Some(Message::Activated(i, outcome, restarts))
                    });
                }
            }
        }
    }
}

/// The containers placed on host `name` (none when it is not a host).
fn containers_on<'a>(plan: &'a Plan<'a>, name: &str) -> Vec<&'a str> {
    plan.fleet.nodes().iter().filter(|n| n.host.as_deref() == Some(name)).map(|n| n.name.as_str()).collect()
}
