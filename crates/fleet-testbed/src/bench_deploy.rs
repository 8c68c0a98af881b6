//! The deploy benchmark's harness: testbed hosts (each its own sshd and store)
//! with their containers, deployed by the orchestrator and by the lower-bound
//! script, each timed as a process while the targets' activation logs are
//! watched (when each node was activated); plus the orchestrator's report of
//! its own CPU time and peak memory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use crate::measure::{run_measured, SelfUsage};
use crate::{Fixture, Testbed, TestbedError, EVAL_COST_ONE_SECOND};

/// The lower bound: one build, one copy per host, one SSH session per host
/// for every activation there.
const LOWER_BOUND_SCRIPT: &str = include_str!("../../../scripts/bench/lower-bound-deploy.sh");

/// How often the targets' activation logs are read while a deploy runs.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// A way to deploy the benchmark's fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeployTool {
    /// `fleet deploy`, the orchestrator, with its defaults and the options
    /// the benchmark was given for it.
    Fleet,
    /// `scripts/bench/lower-bound-deploy.sh`: the least work any tool must do.
    LowerBound,
}

impl DeployTool {
    /// Every tool, in table order.
    pub const ALL: [DeployTool; 2] = [DeployTool::Fleet, DeployTool::LowerBound];

    /// A short name for file names and versions.
    pub fn slug(self) -> &'static str {
        match self {
            DeployTool::Fleet => "fleet",
            DeployTool::LowerBound => "bound",
        }
    }
}

/// The fleet a [`DeployBench`] deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Testbed hosts, each its own sshd and store on loopback.
    pub hosts: usize,
    /// Containers on each host.
    pub containers: usize,
    /// How long each container's build sleeps.
    pub build_seconds: u32,
    /// How long the first host's first container's build sleeps instead
    /// (mixed build times), if at all.
    pub slow_build: Option<u32>,
    /// Whether every node costs what a NixOS system does to evaluate (about
    /// 0.5 s and 200 MB from scratch).
    pub eval_heavy: bool,
    /// Whether every change is committed before a deploy (a clean tree);
    /// otherwise the fixture's git tree has uncommitted changes, as while
    /// someone edits it.
    pub committed: bool,
    /// Whether the targets' SSH sessions skip root's `~/.bashrc` (see
    /// [`skip_bashrc`]).
    pub skip_bashrc: bool,
}

/// One timed deploy.
#[derive(Debug, Clone)]
pub struct Measured {
    /// From starting the process to its exit.
    pub wall: Duration,
    /// The orchestrator's own usage ([`DeployTool::Fleet`] only).
    pub usage: Option<SelfUsage>,
    /// Each activation the deploy made: when it appeared in its target's
    /// log (from the start, to within about 25 ms), the host's index, the node.
    pub activated: Vec<(Duration, usize, String)>,
}

impl Measured {
    /// Per host (by index, `hosts` of them), when its last activation
    /// appeared; `None` for a host with none.
    pub fn hosts_done(&self, hosts: usize) -> Vec<Option<Duration>> {
        let mut done = vec![None; hosts];
        for (at, host, _) in &self.activated {
            let slot: &mut Option<Duration> = &mut done[*host];
            *slot = Some(slot.map_or(*at, |d| d.max(*at)));
        }
        done
    }
}

/// Testbed hosts with their containers, deployable by each [`DeployTool`].
pub struct DeployBench {
    dir: Utf8PathBuf,
    shape: Shape,
    testbeds: Vec<Testbed>,
    fixture: Fixture,
    /// Per host: its node first, then its containers in dependency order.
    hosts: Vec<Vec<String>>,
    /// The version each node has now in the fixture.
    versions: BTreeMap<String, String>,
    /// Whether the fixture changed since its last commit.
    changed: bool,
    runs: usize,
}

impl DeployBench {
    /// Starts `shape.hosts` testbeds in `dir/target-NN` (one key reaches them
    /// all) and writes a fixture in `dir/flake`, a git repository: hosts
    /// `host-01`... each with `shape.containers` containers `ct-01-0001`...,
    /// where every fifth (`...-0002`, `...-0007`, ...) depends on the one before
    /// it. All share the fixture's base packages (glibc, bash, coreutils,
    /// systemd).
    pub fn start(dir: &Utf8Path, shape: &Shape) -> Result<DeployBench, TestbedError> {
        let mut testbeds = Vec::with_capacity(shape.hosts);
        for h in 1..=shape.hosts {
            let testbed = Testbed::start(&dir.join(format!("target-{h:02}")))?;
            if shape.skip_bashrc {
                skip_bashrc(&testbed)?;
            }
            testbeds.push(testbed);
        }
        // ssh offers one key: with one per testbed, sshd would stop it after
        // its MaxAuthTries (6).
        let key = testbeds[0].dir().join("ssh/id_ed25519.pub");
        for testbed in &testbeds[1..] {
            let authorized = testbed.dir().join("ssh/authorized_keys");
            fs::copy(&key, &authorized).map_err(|e| TestbedError::new(format!("write {authorized}"), e))?;
        }
        let hosts: Vec<Vec<String>> = (1..=shape.hosts)
            .map(|h| {
                std::iter::once(format!("host-{h:02}"))
                    .chain((1..=shape.containers).map(|i| format!("ct-{h:02}-{i:04}")))
                    .collect()
            })
            .collect();
        let deps: Vec<Vec<Vec<&str>>> = hosts
            .iter()
            .map(|nodes| {
                (1..=shape.containers)
                    .map(|i| if i % 5 == 2 { vec![nodes[i - 1].as_str()] } else { vec![] })
                    .collect()
            })
            .collect();
        let specs: Vec<Vec<(&str, &[&str])>> = hosts
            .iter()
            .zip(&deps)
            .map(|(nodes, deps)| {
                nodes[1..].iter().map(String::as_str).zip(deps.iter().map(Vec::as_slice)).collect()
            })
            .collect();
        let addresses: Vec<String> = testbeds.iter().map(Testbed::address).collect();
        let fixture_hosts: Vec<(&str, &str, crate::Containers<'_>)> = hosts
            .iter()
            .zip(&addresses)
            .zip(&specs)
            .map(|((nodes, address), spec)| (nodes[0].as_str(), address.as_str(), spec.as_slice()))
            .collect();
        let mut fixture = Fixture::create_hosts(&dir.join("flake"), &fixture_hosts)?;
        let containers: Vec<&str> =
            hosts.iter().flat_map(|nodes| nodes[1..].iter().map(String::as_str)).collect();
        fixture.set_all(&containers, "buildSeconds", shape.build_seconds.into())?;
        if let (Some(seconds), Some(slow)) = (shape.slow_build, containers.first()) {
            fixture.set_build_seconds(slow, seconds)?;
        }
        let nodes: Vec<&str> = hosts.iter().flatten().map(String::as_str).collect();
        if shape.eval_heavy {
            fixture.set_all(&nodes, "evalCost", (EVAL_COST_ONE_SECOND / 2).into())?;
        }
        fixture.commit()?;
        let versions = nodes.iter().map(|n| (n.to_string(), "1".to_string())).collect();
        let script = dir.join("lower-bound-deploy.sh");
        fs::write(&script, LOWER_BOUND_SCRIPT)
            .map_err(|e| TestbedError::new(format!("write {script}"), e))?;
        Ok(DeployBench {
            dir: dir.to_path_buf(),
            shape: shape.clone(),
            testbeds,
            fixture,
            hosts,
            versions,
            changed: false,
            runs: 0,
        })
    }

    /// Every node, host by host, each host's node before its containers.
    pub fn nodes(&self) -> Vec<String> {
        self.hosts.iter().flatten().cloned().collect()
    }

    /// The container whose build is slow ([`Shape::slow_build`]) and the one
    /// that depends on it, if there is a slow one: the nodes it holds back.
    pub fn held_by_slow_build(&self) -> Vec<String> {
        match self.shape.slow_build {
            Some(_) => self.hosts[0].iter().skip(1).take(2).cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Sets a node's version in the fixture: its next build is a new store path.
    pub fn set_version(&mut self, node: &str, version: &str) -> Result<(), TestbedError> {
        self.fixture.set_version(node, version)?;
        self.versions.insert(node.to_string(), version.to_string());
        self.changed = true;
        Ok(())
    }

    /// Sets every node's version.
    pub fn set_all_versions(&mut self, version: &str) -> Result<(), TestbedError> {
        let nodes = self.nodes();
        let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
        self.fixture.set_all(&names, "version", version.into())?;
        for node in nodes {
            self.versions.insert(node, version.to_string());
        }
        self.changed = true;
        Ok(())
    }

    /// Deploys the fixture as it is now with `tool` (`fleet` is the
    /// orchestrator's binary, run with `fleet_args` after its usual ones),
    /// timed and with its activations watched, and checks that every node's
    /// profile on its target then points at the system of its current version.
    pub fn deploy(
        &mut self,
        tool: DeployTool,
        fleet: &Path,
        fleet_args: &[String],
    ) -> Result<Measured, TestbedError> {
        self.runs += 1;
        // A commit only when something changed: a no-op deploys the same
        // revision again.
        if self.shape.committed && self.changed {
            self.fixture.commit()?;
            self.changed = false;
        }
        let flake = format!("git+file://{}", self.fixture.dir());
        let log = self.dir.join(format!("logs/{:04}-{}.log", self.runs, tool.slug()));
        let ssh_options = self.testbeds[0].ssh_options().join(" ");
        let mut command = match tool {
            DeployTool::Fleet => {
                let mut c = Command::new(fleet);
                c.args(["deploy", "--flake", &flake, "--ssh-option", &ssh_options]).args(fleet_args);
                c
            }
            DeployTool::LowerBound => {
                let mut c = Command::new("bash");
                c.arg(self.dir.join("lower-bound-deploy.sh")).args([&flake, &ssh_options]);
                for (h, (testbed, nodes)) in self.testbeds.iter().zip(&self.hosts).enumerate() {
                    if h > 0 {
                        c.arg("--");
                    }
                    c.arg(testbed.address()).args(nodes);
                }
                c
            }
        };
        fs::create_dir_all(self.dir.join("logs"))
            .map_err(|e| TestbedError::new("create the log folder", e))?;
        let out = fs::File::create(&log).map_err(|e| TestbedError::new(format!("create {log}"), e))?;
        let err = out.try_clone().map_err(|e| TestbedError::new(format!("open {log}"), e))?;
        command.envs(crate::nix_env()).stdin(Stdio::null()).stdout(out).stderr(err);

        let mut watch = ActivationWatch::new(&self.testbeds)?;
        let done = AtomicBool::new(false);
        let started = Instant::now();
        let (measured, activated) = std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                let mut activated = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    watch.read(started, &mut activated);
                    std::thread::sleep(WATCH_EVERY);
                }
                watch.read(started, &mut activated);
                activated
            });
            let measured = run_measured(&mut command).map(|m| (m, started.elapsed()));
            done.store(true, Ordering::Relaxed);
            (measured, watcher.join().expect("the watcher does not panic"))
        });
        let ((status, usage), wall) = measured?;
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
        self.check_deployed(tool)?;
        Ok(Measured { wall, usage, activated })
    }

    /// Every node's profile points at the system of the version it has now.
    fn check_deployed(&self, tool: DeployTool) -> Result<(), TestbedError> {
        for (testbed, nodes) in self.testbeds.iter().zip(&self.hosts) {
            for (i, node) in nodes.iter().enumerate() {
                let profile = match i {
                    0 => crate::HOST_PROFILE.to_string(),
                    _ => crate::container_profile(node),
                };
                let expected = format!("-nixos-system-{node}-{}", self.versions[node]);
                match testbed.profile(&profile) {
                    Some(path) if path.ends_with(&expected) => {}
                    found => {
                        return Err(TestbedError::new(
                            format!("check the deploy with {tool:?}"),
                            format!("{node}'s profile points at {found:?}, not a path ending in {expected}"),
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// The targets' activation logs, read from where they ended when the watch
/// began.
struct ActivationWatch {
    logs: Vec<(Utf8PathBuf, u64, String)>,
}

impl ActivationWatch {
    fn new(testbeds: &[Testbed]) -> Result<ActivationWatch, TestbedError> {
        let logs = testbeds
            .iter()
            .map(|t| {
                let path = t.dir().join("activation.log");
                let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Ok((path, len, String::new()))
            })
            .collect::<Result<_, TestbedError>>()?;
        Ok(ActivationWatch { logs })
    }

    /// Appends each node activated since the last read: when (from
    /// `started`), its host's index, the node.
    fn read(&mut self, started: Instant, activated: &mut Vec<(Duration, usize, String)>) {
        for (host, (path, offset, partial)) in self.logs.iter_mut().enumerate() {
            let Ok(mut file) = fs::File::open(path.as_std_path()) else { continue };
            let mut text = String::new();
            if file.seek(SeekFrom::Start(*offset)).is_err() || file.read_to_string(&mut text).is_err() {
                continue;
            }
            *offset += text.len() as u64;
            partial.push_str(&text);
            let at = started.elapsed();
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                if let Some(node) = line.split_whitespace().next() {
                    activated.push((at, host, node.to_string()));
                }
            }
        }
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
