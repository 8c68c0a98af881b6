//! The scripts that run on the target, as real files in `src/sh/` (checked by
//! `shellcheck` in a tidy test), and the arguments each one takes. Values
//! reach them only as positional arguments or as lines the agent reads; no
//! value is ever spliced into shell text.
//!
//! - `agent.sh`: one per host per run; holds the deploy lock with a lease,
//!   launches activation jobs, streams their status back (see `lock.rs`).
//! - `job.sh`: one activation, detached from every SSH session.
//! - `confirm.sh`: confirms a host's switch over a new connection.
//! - `probe.sh`: reads every node's profile in one round trip.
//! - `prelude.sh`: the exit codes and status words by name and the shared
//!   helpers, put in front of each of the above (see `protocol/`).
//! - `host.sh`, `container.sh`: the built-in kinds' activation scripts.
//! - `exec.sh`: runs `fleet exec`'s command (see `exec.rs`).

use fleet_nix::RemoteScript;

use crate::checks::Check;
use crate::Goal;

/// Where the orchestrator keeps its state on a target. Under `/nix` because the
/// host persists `/nix` (its root is a tmpfs) and the testbed remaps it. The
/// folder is mode 0700 and its files 0600: job logs may hold what checks print.
pub const STATE_DIR: &str = "/nix/var/fleet";

/// The text of the target script `src/sh/FILE`, after `sh/prelude.sh` (the
/// exit codes and status words by name, and the helpers the scripts share):
/// the one place that puts it in front.
macro_rules! target_script {
    ($file:literal) => {
        concat!(
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sh/prelude.sh")),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/sh/", $file))
        )
    };
}
pub(crate) use target_script;

/// The agent (see the file's header for its protocol).
pub(crate) const AGENT: &str = target_script!("agent.sh");
/// The activation job.
pub(crate) const JOB: &str = target_script!("job.sh");
/// The host's confirmation.
pub(crate) const CONFIRM: &str = target_script!("confirm.sh");

/// Default bound on one switch (`switch-to-configuration`, a container's
/// reload or start), after which the job stops it and rolls back; deploy-rs
/// uses the same.
pub const DEFAULT_SWITCH_SECONDS: u64 = 240;

/// How a node's kind script moves the running node to a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// As the run's goal says (for switch: in place, a host's switch or a
    /// container's reload, or a start when it is not running).
    Goal,
    /// Stopped and started again: a container whose host-side unit changed.
    Restart,
}

/// What one activation needs: see `job.sh` for the meaning of each part, and
/// `protocol::job_spec` for how it travels.
pub(crate) struct JobSpec<'a> {
    pub(crate) kind: &'static str,
    pub(crate) profile: String,
    pub(crate) new: &'a str,
    /// What the profile pointed at when the run probed it: the job changes
    /// nothing if it points elsewhere when the job starts.
    pub(crate) expect: Option<&'a str>,
    pub(crate) verb: Verb,
    pub(crate) confirm_seconds: u64,
    pub(crate) check_seconds: u64,
    pub(crate) switch_seconds: u64,
    pub(crate) goal: Goal,
    /// Move the profile to this existing generation instead of making a new one.
    pub(crate) generation: Option<u32>,
    pub(crate) checks: Vec<Check>,
}

/// The agent of run `run` for `holder`, with the job and the kinds' scripts.
pub(crate) fn agent(
    run: &str,
    holder: &str,
    lease_seconds: u64,
    node_wait_seconds: u64,
    kinds: &[(&'static str, &'static str)],
) -> RemoteScript {
    let mut args = vec![
        STATE_DIR.to_string(),
        run.to_string(),
        holder.to_string(),
        lease_seconds.to_string(),
        JOB.to_string(),
        node_wait_seconds.to_string(),
    ];
    for (name, script) in kinds {
        args.push(name.to_string());
        args.push(script.to_string());
    }
    RemoteScript::new(AGENT, args)
}

/// The script that confirms `node`'s activation of run `run`.
pub(crate) fn confirm(node: &str, run: &str) -> RemoteScript {
    RemoteScript::new(CONFIRM, [STATE_DIR, node, run])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// The agent, run here with `sh` on a state folder of its own: takes the
    /// lock, reads `requests`, and ends; what it printed.
    fn run_agent(state: &std::path::Path, requests: &str) -> String {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(AGENT)
            .arg("agent")
            .arg(state)
            .args(["run-1", "tester", "10", JOB, "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh runs");
        child.stdin.take().expect("stdin is piped").write_all(requests.as_bytes()).expect("the agent reads");
        let out = child.wait_with_output().expect("the agent ends");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn an_agent_keeps_the_log_before_of_each_job_log_past_a_mebibyte() {
        let state = std::env::temp_dir().join(format!("fleet-agent-logs-{}", std::process::id()));
        let jobs = state.join("jobs");
        std::fs::create_dir_all(&jobs).unwrap();
        std::fs::write(jobs.join("big.log"), vec![b'x'; (1 << 20) + 1]).unwrap();
        std::fs::write(jobs.join("small.log"), "one line\n").unwrap();

        let said = run_agent(&state, "release\n");

        assert!(said.starts_with("locked "), "{said}");
        assert!(!jobs.join("big.log").exists(), "a new log begins");
        assert_eq!(std::fs::metadata(jobs.join("big.log.1")).unwrap().len(), (1 << 20) + 1);
        assert_eq!(std::fs::read_to_string(jobs.join("small.log")).unwrap(), "one line\n");
        assert!(!jobs.join("small.log.1").exists());
        let _ = std::fs::remove_dir_all(&state);
    }
}
