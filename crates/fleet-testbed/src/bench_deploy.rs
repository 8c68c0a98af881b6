//! The deploy benchmark's harness: a testbed with a host and N containers, and
//! the three ways `cargo xtask bench deploy` deploys it (the orchestrator, the
//! sequential baseline script, the lower-bound script), each timed as a
//! process; plus the orchestrator's report of its own CPU time and peak memory.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use crate::{Fixture, Testbed, TestbedError, FIXTURE_HOST};

/// The baseline: each node built, copied and activated in turn, by hand.
const SEQUENTIAL_SCRIPT: &str = include_str!("../../../scripts/bench/sequential-deploy.sh");
/// The lower bound: one build, one copy, one SSH session for every activation.
const LOWER_BOUND_SCRIPT: &str = include_str!("../../../scripts/bench/lower-bound-deploy.sh");

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`): 100 on every
/// Linux architecture this runs on.
const CLOCK_TICKS: u64 = 100;

/// How often a measured child's `/proc` entries are read while it runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// What a process spent itself, not counting the programs it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfUsage {
    /// User plus system CPU time of every thread (10 ms resolution).
    pub cpu: Duration,
    /// Peak resident memory (`VmHWM`), in bytes.
    pub peak_rss: u64,
}

/// Runs `command` to its end and measures, from outside, the CPU time and peak
/// memory of that process alone (not of the programs it starts).
///
/// `wait4`'s resource usage would add every descendant the child reaped (each
/// `nix` it ran), so the child's own `/proc/PID/stat` times are read once it
/// is a zombie, before it is reaped; its peak memory (`VmHWM`, which only
/// grows) is read while it runs, since a zombie has none.
pub fn run_measured(command: &mut Command) -> Result<(std::process::ExitStatus, SelfUsage), TestbedError> {
    let mut child = command.spawn().map_err(|e| TestbedError::new(format!("start {command:?}"), e))?;
    let proc_dir = format!("/proc/{}", child.id());
    let mut peak_kib = 0;
    let cpu = loop {
        let stat = fs::read_to_string(format!("{proc_dir}/stat"))
            .map_err(|e| TestbedError::new(format!("read {proc_dir}/stat"), e))?;
        let (state, cpu) = parse_stat(&stat).ok_or_else(|| {
            TestbedError::new(format!("read {proc_dir}/stat"), format!("unexpected `{stat}`"))
        })?;
        if state == 'Z' {
            break cpu;
        }
        if let Some(kib) = crate::procfs::status_kib(child.id(), "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let status = child.wait().map_err(|e| TestbedError::new(format!("wait for {command:?}"), e))?;
    Ok((status, SelfUsage { cpu, peak_rss: peak_kib * 1024 }))
}

/// The state letter and the user plus system CPU time of a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(char, Duration)> {
    // Fields after the parenthesised name, from the state (field 3): utime is
    // field 14 and stime field 15, both in clock ticks, summed over threads.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((state, Duration::from_millis((ticks(11)? + ticks(12)?) * 1000 / CLOCK_TICKS)))
}

/// A way to deploy the benchmark's fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeployTool {
    /// `fleet deploy`, the orchestrator, with its default host confirmation.
    Fleet,
    /// `scripts/bench/sequential-deploy.sh`: by hand, node after node.
    Sequential,
    /// `scripts/bench/lower-bound-deploy.sh`: the least work any tool must do.
    LowerBound,
}

impl DeployTool {
    /// Every tool, in table order.
    pub const ALL: [DeployTool; 3] = [DeployTool::Fleet, DeployTool::Sequential, DeployTool::LowerBound];

    /// A short name for file names and versions.
    pub fn slug(self) -> &'static str {
        match self {
            DeployTool::Fleet => "fleet",
            DeployTool::Sequential => "seq",
            DeployTool::LowerBound => "lower",
        }
    }
}

/// One timed deploy.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// From starting the process to its exit.
    pub wall: Duration,
    /// The orchestrator's own usage ([`DeployTool::Fleet`] only).
    pub usage: Option<SelfUsage>,
    /// Lines the deploy added to the target's activation log.
    pub activations: usize,
}

/// A testbed with a host and N containers, deployable by each [`DeployTool`].
pub struct DeployBench {
    dir: Utf8PathBuf,
    testbed: Testbed,
    fixture: Fixture,
    /// Host first, then the containers in dependency order.
    nodes: Vec<String>,
    /// The version each node has now in the fixture.
    versions: BTreeMap<String, String>,
    runs: usize,
}

impl DeployBench {
    /// Starts a testbed in `dir/target` and writes a fixture in `dir/flake`: the
    /// host and `containers` containers named `ct-001`..., where every fifth
    /// (`ct-002`, `ct-007`, ...) depends on the one before it. Every
    /// container's build sleeps `build_seconds`; all share the fixture's base
    /// packages (glibc, bash, coreutils, systemd).
    ///
    /// With `skip_bashrc`, the target's SSH sessions do not run root's
    /// `~/.bashrc`, which on a development machine may cost more than a
    /// deploy's own work per session.
    pub fn start(
        dir: &Utf8Path,
        containers: usize,
        build_seconds: u32,
        skip_bashrc: bool,
    ) -> Result<DeployBench, TestbedError> {
        let testbed = Testbed::start(&dir.join("target"))?;
        if skip_bashrc {
            self::skip_bashrc(&testbed)?;
        }
        let names: Vec<String> = (1..=containers).map(|i| format!("ct-{i:03}")).collect();
        let deps: Vec<Vec<&str>> =
            (1..=containers).map(|i| if i % 5 == 2 { vec![names[i - 2].as_str()] } else { vec![] }).collect();
        let spec: Vec<(&str, &[&str])> =
            names.iter().zip(&deps).map(|(name, deps)| (name.as_str(), deps.as_slice())).collect();
        let mut fixture = Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec)?;
        for name in &names {
            fixture.set_build_seconds(name, build_seconds)?;
        }
        let nodes: Vec<String> = std::iter::once(FIXTURE_HOST.to_string()).chain(names).collect();
        let versions = nodes.iter().map(|n| (n.clone(), "1".to_string())).collect();
        let scripts = dir.join("scripts");
        fs::create_dir_all(&scripts).map_err(|e| TestbedError::new(format!("create {scripts}"), e))?;
        for (name, text) in
            [("sequential-deploy.sh", SEQUENTIAL_SCRIPT), ("lower-bound-deploy.sh", LOWER_BOUND_SCRIPT)]
        {
            let path = scripts.join(name);
            fs::write(&path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))?;
        }
        Ok(DeployBench { dir: dir.to_path_buf(), testbed, fixture, nodes, versions, runs: 0 })
    }

    /// Every node, host first, then the containers in dependency order.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Sets a node's version in the fixture: its next build is a new store path.
    pub fn set_version(&mut self, node: &str, version: &str) -> Result<(), TestbedError> {
        self.fixture.set_version(node, version)?;
        self.versions.insert(node.to_string(), version.to_string());
        Ok(())
    }

    /// Sets every node's version.
    pub fn set_all_versions(&mut self, version: &str) -> Result<(), TestbedError> {
        for node in self.nodes.clone() {
            self.set_version(&node, version)?;
        }
        Ok(())
    }

    /// Deploys the fixture as it is now with `tool`, timed, and checks that
    /// every node's profile on the target then points at the system of its
    /// current version. `fleet` is the orchestrator's binary.
    pub fn deploy(&mut self, tool: DeployTool, fleet: &Path) -> Result<Measured, TestbedError> {
        self.runs += 1;
        let log = self.dir.join(format!("logs/{:04}-{}.log", self.runs, tool.slug()));
        let ssh_options = self.testbed.ssh_options().join(" ");
        let flake = self.fixture.flake_ref();
        let mut command = match tool {
            DeployTool::Fleet => {
                let mut c = Command::new(fleet);
                c.args(["deploy", "--flake", &flake, "--ssh-option", &ssh_options, "--jobs"])
                    .arg(self.nodes.len().to_string());
                c
            }
            DeployTool::Sequential | DeployTool::LowerBound => {
                let script = if tool == DeployTool::Sequential { "sequential" } else { "lower-bound" };
                let mut c = Command::new("bash");
                c.arg(self.dir.join(format!("scripts/{script}-deploy.sh")))
                    .args([&flake, &self.testbed.address(), &ssh_options])
                    .args(&self.nodes);
                c
            }
        };
        fs::create_dir_all(self.dir.join("logs"))
            .map_err(|e| TestbedError::new("create the log folder", e))?;
        let out = fs::File::create(&log).map_err(|e| TestbedError::new(format!("create {log}"), e))?;
        let err = out.try_clone().map_err(|e| TestbedError::new(format!("open {log}"), e))?;
        command.envs(crate::nix_env()).stdin(Stdio::null()).stdout(out).stderr(err);

        let activations_before = self.testbed.activations()?.len();
        let started = Instant::now();
        let (status, usage) = run_measured(&mut command)?;
        let wall = started.elapsed();
        if !status.success() {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(TestbedError::new(
                format!("deploy with {tool:?}"),
                format!("exited with {status}; the end of {log}:\n{}", tail.join("\n")),
            ));
        }
        let usage = (tool == DeployTool::Fleet).then_some(usage);
        let activations = self.testbed.activations()?.len() - activations_before;
        self.check_deployed(tool)?;
        Ok(Measured { wall, usage, activations })
    }

    /// Every node's profile points at the system of the version it has now.
    fn check_deployed(&self, tool: DeployTool) -> Result<(), TestbedError> {
        for node in &self.nodes {
            let profile = if node == FIXTURE_HOST {
                "/nix/var/nix/profiles/system".to_string()
            } else {
                format!("/nix/var/nix/profiles/per-container/{node}/system")
            };
            let version = &self.versions[node];
            let expected = format!("-nixos-system-{node}-{version}");
            match self.testbed.profile(&profile) {
                Some(path) if path.ends_with(&expected) => {}
                found => {
                    return Err(TestbedError::new(
                        format!("check the deploy with {tool:?}"),
                        format!("{node}'s profile points at {found:?}, not a path ending in {expected}"),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Restarts the testbed's sshd so that its sessions do not run root's
/// `~/.bashrc`. bash runs it for every command started by sshd, even a
/// non-interactive one (Debian's bash is built to), unless `SHLVL` says it
/// is not the first shell. On a development machine that file can be costly:
/// here it runs `pyenv init`, about 90 ms of CPU per SSH session, which would
/// charge every tool for this machine's shell setup rather than for the work
/// a deploy does.
pub fn skip_bashrc(testbed: &Testbed) -> Result<(), TestbedError> {
    let path = testbed.dir().join("sshd_config");
    let config = fs::read_to_string(&path).map_err(|e| TestbedError::new(format!("read {path}"), e))?;
    // sshd takes only the first SetEnv line: add the variable to it.
    if !config.contains("\nSetEnv ") {
        return Err(TestbedError::new(format!("edit {path}"), "it has no SetEnv line"));
    }
    let config = config.replacen("\nSetEnv ", "\nSetEnv SHLVL=1 ", 1);
    fs::write(&path, config).map_err(|e| TestbedError::new(format!("write {path}"), e))?;
    testbed.stop_sshd();
    testbed.start_sshd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_alone_from_outside() {
        // The shell spends little itself; the awk it starts spins for a while.
        let (status, usage) = run_measured(
            Command::new("sh").args(["-c", "awk 'BEGIN { for (i = 0; i < 3000000; i++) s += i }'; exit 3"]),
        )
        .unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(usage.peak_rss > 0, "{usage:?}");
        assert!(usage.cpu < Duration::from_millis(100), "the shell's own time, not awk's: {usage:?}");
    }

    #[test]
    fn stat_lines_parse() {
        let stat = "42 (a (b) c) Z 1 42 42 0 -1 4194560 100 0 0 0 250 30 7 9 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(stat), Some(('Z', Duration::from_millis(2800))));
        assert_eq!(parse_stat("garbage"), None);
    }
}
