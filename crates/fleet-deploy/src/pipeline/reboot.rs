//! The stage after a deploy's activations (`--reboot`): each host whose
//! selected nodes all succeeded is rebooted (when it needs it, or always),
//! waited for over SSH until a deadline, and checked: it runs its profile's
//! system and its deployed containers are up. `status` reads the same state
//! to say which hosts need a reboot.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleet_graph::HOST_KIND;
use fleet_nix::{CommandError, Failure, RemoteScript, Target};

use super::Plan;
use crate::lock::{new_run_id, AgentSession};
use crate::protocol::{self, RebootVerb};
use crate::reboot::{BootState, Reboot, REBOOT};
use crate::{Event, NodeError, Outcome, Sink, Stage, Summary};

/// How long the wait sleeps between two tries to reach a rebooting host.
const BETWEEN_TRIES: Duration = Duration::from_secs(1);

impl Plan<'_> {
    /// Reboots the hosts of a finished deploy as [`Plan::with_reboot`] asks,
    /// all at once, and sets each rebooted host's outcome to
    /// [`Outcome::Rebooted`], or to a failure of [`Stage::Reboot`].
    pub(super) fn reboot_hosts(
        &self,
        summary: &mut Summary,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) {
        if self.reboot == Reboot::Never || !self.goal.boots() {
            return;
        }
        let hosts: Vec<(String, Vec<String>, &Target)> = summary
            .nodes
            .iter()
            .filter(|report| self.fleet.node(&report.node).is_some_and(|n| n.kind == HOST_KIND))
            .filter_map(|report| {
                let on_host: Vec<_> = summary
                    .nodes
                    .iter()
                    .filter(|r| self.fleet.host_of(&r.node).is_some_and(|h| h.name == report.node))
                    .collect();
                let target = targets.get(&report.node)?;
                on_host.iter().all(|r| r.outcome.is_success()).then(|| {
                    let containers =
                        on_host.iter().filter(|r| r.node != report.node).map(|r| r.node.clone()).collect();
                    (report.node.clone(), containers, target)
                })
            })
            .collect();
        let results: Vec<(String, Result<bool, NodeError>)> = std::thread::scope(|scope| {
            let running: Vec<_> = hosts
                .iter()
                .map(|(host, containers, target)| {
                    (host, scope.spawn(move || self.reboot_host(host, containers, target, sink)))
                })
                .collect();
            running
                .into_iter()
                .map(|(host, handle)| {
                    let result = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (host.clone(), result)
                })
                .collect()
        });
        for (host, result) in results {
            let Some(report) = summary.nodes.iter_mut().find(|r| r.node == host) else { continue };
            match result {
                Ok(true) => report.outcome = Outcome::Rebooted,
                Ok(false) => {}
                Err(error) => report.outcome = Outcome::Failed(error),
            }
        }
    }

    /// Reboots `host` if it should be; `Ok(false)` when it needed no reboot.
    fn reboot_host(
        &self,
        host: &str,
        containers: &[String],
        target: &Target,
        sink: &dyn Sink,
    ) -> Result<bool, NodeError> {
        let failed = |error: CommandError| NodeError::new(host, Stage::Reboot, error);
        if matches!(target, Target::Local) {
            return Err(failed(CommandError {
                command: format!("reboot {host}"),
                failure: Failure::Output(
                    "the machine fleet runs on is not rebooted by it (it could not wait for itself); reboot it \
                     yourself"
                        .into(),
                ),
            }));
        }
        sink.event(Event::Stage { node: host, stage: Stage::Reboot });
        // The deploy's sessions are gone: the reboot takes the lock again, so
        // that no other run starts on the host and is cut off by it. The
        // reboot ends the agent, and the new boot id ends its lease.
        let _lock = AgentSession::acquire_for(target, &new_run_id(), self.kinds, self.answer_within)
            .map_err(failed)?;
        let before = self.boot_state(target, self.answer_within).map_err(failed)?;
        let reasons = before.reasons();
        if reasons.is_empty() && self.reboot == Reboot::WhenNeeded {
            let message = "needs no reboot: kernel, initrd, kernel modules and systemd are as booted";
            sink.event(Event::Notice { host, message });
            return Ok(false);
        }
        let message = match reasons.is_empty() {
            true => "rebooting (--reboot-always)".to_string(),
            false => format!("rebooting: {}", reasons.join(", ")),
        };
        sink.event(Event::Notice { host, message: &message });
        // The session may drop before `systemctl reboot` returns: that is the
        // reboot starting, and the mark it left tells the wait below apart.
        let start = RemoteScript::new(REBOOT, RebootVerb::Start.args());
        match target.run_within(&start, "the reboot", self.answer_within) {
            Ok(_) => {}
            Err(error) if error.exit_code() == Some(255) || error.is_connection_failure() => {}
            Err(error) => return Err(failed(error)),
        }
        let after = self.wait_for_boot(host, target).map_err(failed)?;
        if after.current.is_none() || after.current != after.next {
            return Err(failed(CommandError {
                command: format!("check {host} after its reboot"),
                failure: Failure::Output(format!(
                    "it runs {}, not its profile's system {}",
                    after.current.as_deref().unwrap_or("no system"),
                    after.next.as_deref().unwrap_or("(none)")
                )),
            }));
        }
        self.containers_up(host, containers, target).map_err(failed)?;
        let message = match containers.is_empty() {
            true => "rebooted: runs its new system".to_string(),
            false => format!("rebooted: runs its new system; up: {}", containers.join(", ")),
        };
        sink.event(Event::Notice { host, message: &message });
        Ok(true)
    }

    /// The host's [`BootState`], read once, given up after `limit`.
    fn boot_state(&self, target: &Target, limit: Duration) -> Result<BootState, CommandError> {
        let script = RemoteScript::new(REBOOT, RebootVerb::State.args());
        let out = target.run_within(&script, "reboot.sh state", limit)?;
        protocol::boot_state(&out).map_err(|reason| CommandError {
            command: "reboot.sh state".into(),
            failure: Failure::Output(reason),
        })
    }

    /// Tries to reach `host` until it answers without the mark of the reboot
    /// (it booted), or until the deadline of [`Plan::with_reboot`].
    fn wait_for_boot(&self, host: &str, target: &Target) -> Result<BootState, CommandError> {
        let deadline = Instant::now() + self.reboot_within;
        let mut last = String::from("it still answered from before its reboot");
        loop {
            // A try never runs past the deadline by more than a second.
            let limit = deadline.saturating_duration_since(Instant::now()).min(self.answer_within);
            match self.boot_state(target, limit.max(Duration::from_secs(1))) {
                Ok(state) if !state.pending => return Ok(state),
                Ok(_) => {}
                // A connection refused, reset or timed out is the host being
                // down; what it printed once up is another matter.
                Err(error) if matches!(error.failure, Failure::Output(_)) => return Err(error),
                Err(error) => last = error.stderr_tail().lines().last().unwrap_or("no answer").to_string(),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CommandError {
                    command: format!("wait for {host} to answer over SSH after its reboot"),
                    failure: Failure::Output(format!(
                        "it did not come back within {} s (--reboot-timeout); the last try: {}",
                        self.reboot_within.as_secs(),
                        protocol::shown(&last)
                    )),
                });
            }
            std::thread::sleep(BETWEEN_TRIES.min(left));
        }
    }

    /// Checks that each of `containers` on `host` has its unit active.
    fn containers_up(&self, host: &str, containers: &[String], target: &Target) -> Result<(), CommandError> {
        if containers.is_empty() {
            return Ok(());
        }
        let script = RemoteScript::new(REBOOT, RebootVerb::Containers(containers).args());
        let out = target.run_within(&script, "reboot.sh containers", self.answer_within)?;
        let down = protocol::containers_down(&out, containers).map_err(|reason| CommandError {
            command: "reboot.sh containers".into(),
            failure: Failure::Output(reason),
        })?;
        if down.is_empty() {
            Ok(())
        } else {
            Err(CommandError {
                command: format!("check the containers of {host} after its reboot"),
                failure: Failure::Output(format!("not running: {}", down.join(", "))),
            })
        }
    }

    /// For `status`: a notice for each selected host that needs a reboot, and
    /// why; a host that could not be probed is not tried again.
    pub(super) fn report_reboots_needed(
        &self,
        summary: &Summary,
        targets: &BTreeMap<String, Target>,
        sink: &dyn Sink,
    ) {
        for report in summary.nodes.iter().filter(|r| r.outcome.is_success()) {
            let name = report.node.as_str();
            let (Some(target), true) =
                (targets.get(name), self.fleet.node(name).is_some_and(|n| n.kind == HOST_KIND))
            else {
                continue;
            };
            // Without /run/booted-system (not a NixOS host) there is nothing to say.
            if let Some(state) =
                self.boot_state(target, self.answer_within).ok().filter(|state| state.booted.is_some())
            {
                let reasons = state.reasons();
                if !reasons.is_empty() {
                    let message = format!("reboot needed: {}", reasons.join(", "));
                    sink.event(Event::Notice { host: name, message: &message });
                }
            }
        }
    }
}
