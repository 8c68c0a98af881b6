//! A testbed target whose init is real systemd: Debian's systemd booted as
//! PID 1 of `systemd-nspawn --directory=/ --volatile=yes` (the machine's `/usr`,
//! read-only, on an empty tmpfs root), with the testbed's store bound on
//! `/nix` and its sshd as a unit of that systemd, on a loopback port of this
//! machine's network (no private network). `systemctl`, `systemd-run`,
//! transient units, conditions and dependencies are the real ones; only what
//! a container unit runs is a stand-in (`fixture/container-start.sh`).

use std::fs;
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use camino::Utf8Path;

use crate::sshd::{free_port, sshd_config};
use crate::testbed::{prepare, write};
use crate::{ensure_programs, Testbed, TestbedError, SYSTEMD_PROGRAMS};

const UP: &str = include_str!("fixture/systemd-up.sh");

/// How long systemd gets to boot and the sshd unit to listen (about 10 s here).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Units the boot must not start: ssh's would take port 22 of this machine's
/// network (the root is a fresh tmpfs, so every preset is enabled), timers
/// would run Debian's maintenance jobs.
const MASKED: &[&str] = &["ssh.socket", "ssh.service", "timers.target"];

/// The running `systemd-nspawn` and the pid (in this namespace) of the
/// systemd it booted.
pub(crate) struct Init {
    nspawn: Mutex<Child>,
    pid1: Mutex<Option<u32>>,
}

impl Testbed {
    /// Starts a testbed in `dir` (emptied first) whose init is real systemd
    /// (systemd 252 in `systemd-nspawn --boot`), with no `systemctl` or
    /// `systemd-run` stand-ins: container units are written like nixpkgs'
    /// nixos-containers module's and started by that systemd. Dropping it
    /// kills that systemd and everything under it.
    pub fn start_systemd(dir: &Utf8Path) -> Result<Testbed, TestbedError> {
        ensure_programs(SYSTEMD_PROGRAMS, true, &mut |line| eprintln!("testbed: {line}"))
            .map_err(|e| TestbedError::new("find the systemd testbed's programs", e))?;
        prepare(dir, false)?;
        let port = free_port()?;
        write(&dir.join("sshd_config"), &sshd_config(dir, "127.0.0.1", port), false)?;
        let log = fs::File::create(dir.join("systemd.log"))
            .map_err(|e| TestbedError::new(format!("create {dir}/systemd.log"), e))?;
        let mut command = Command::new("systemd-nspawn");
        command
            .args(["--directory=/", "--volatile=yes", "--register=no", "--keep-unit", "--quiet"])
            .arg(format!("--machine=fleet-tb-{port}"))
            .arg(format!("--bind={dir}/nix:/nix"))
            .arg(format!("--bind={dir}"))
            .args(["--boot", "systemd.firstboot=off", "systemd.unit=basic.target"])
            .arg(format!("systemd.setenv=TESTBED_DIR={dir}"))
            .args(MASKED.iter().map(|unit| format!("systemd.mask={unit}")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| TestbedError::new("open systemd.log", e))?)
            .stderr(log);
        let nspawn = command.spawn().map_err(|e| TestbedError::new("start systemd-nspawn", e))?;
        let init = Init { nspawn: Mutex::new(nspawn), pid1: Mutex::new(None) };
        // Made before the boot finishes, so that a failed boot is stopped too.
        let testbed = Testbed {
            dir: dir.to_path_buf(),
            port,
            netns: None,
            sshd: Mutex::new(None),
            init: Some(init),
            sudo_user: None,
        };
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let booted = |out: &Output| {
            let state = String::from_utf8_lossy(&out.stdout);
            matches!(state.trim(), "running" | "degraded")
        };
        testbed.poll("boot systemd", deadline, || {
            Ok(testbed.find_pid1()?.is_some()
                && testbed.in_target(&["systemctl", "is-system-running"]).is_ok_and(|o| booted(&o)))
        })?;
        let up = testbed.in_target(&["sh", "-c", UP, "systemd-up", dir.as_str()])?;
        if !up.status.success() {
            return Err(TestbedError::new(
                "set up the systemd testbed",
                String::from_utf8_lossy(&up.stderr).trim().to_string(),
            ));
        }
        testbed
            .poll("start the sshd unit", deadline, || Ok(TcpStream::connect(("127.0.0.1", port)).is_ok()))?;
        Ok(testbed)
    }

    /// Runs a command inside the systemd testbed (in its systemd's
    /// namespaces, as a unit's process would see things), e.g. `systemctl
    /// show`. Only for a testbed made by [`Testbed::start_systemd`].
    pub fn in_target(&self, argv: &[&str]) -> Result<Output, TestbedError> {
        let step = || format!("run {} in the systemd testbed", argv.join(" "));
        let pid1 =
            self.find_pid1()?.ok_or_else(|| TestbedError::new(step(), "its systemd is not running"))?;
        Command::new("nsenter")
            .args(["-t", &pid1.to_string(), "-m", "-u", "-i", "-n", "-p", "--"])
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TestbedError::new(step(), e))
    }

    /// The pid of the testbed's systemd: the child of `systemd-nspawn` named
    /// `systemd`, once it exists.
    fn find_pid1(&self) -> Result<Option<u32>, TestbedError> {
        let init = self.init.as_ref().ok_or_else(|| {
            TestbedError::new("find the testbed's systemd", "it has none; use Testbed::start_systemd")
        })?;
        let mut pid1 = init.pid1.lock().unwrap_or_else(|p| p.into_inner());
        if pid1.is_none() {
            let mut nspawn = init.nspawn.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(Some(status)) = nspawn.try_wait() {
                let log = fs::read_to_string(self.dir.join("systemd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                return Err(TestbedError::new(
                    "boot systemd in systemd-nspawn",
                    format!(
                        "it exited with {status}: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                ));
            }
            *pid1 = crate::procfs::descendants(nspawn.id()).into_iter().find(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "systemd")
            });
        }
        Ok(*pid1)
    }

    /// Polls `done` until it holds or `deadline` passes. Each try starts
    /// processes, so tries are spaced by a tenth of a second.
    fn poll(
        &self,
        what: &str,
        deadline: Instant,
        mut done: impl FnMut() -> Result<bool, TestbedError>,
    ) -> Result<(), TestbedError> {
        while !done()? {
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.dir.join("systemd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                return Err(TestbedError::new(
                    what,
                    format!(
                        "not done within {BOOT_TIMEOUT:?}; the console's last lines: {}",
                        tail.join(" | ")
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Stops the testbed's systemd: SIGKILL to the container's PID 1 ends
    /// every process of its PID namespace, then `systemd-nspawn` exits.
    pub(crate) fn stop_init(&self) {
        let Some(init) = &self.init else { return };
        let mut nspawn = init.nspawn.lock().unwrap_or_else(|p| p.into_inner());
        for pid in crate::procfs::descendants(nspawn.id()) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let _ = nspawn.kill();
        let _ = nspawn.wait();
    }
}
