//! The testbed's sshd: its configuration and keys, and starting and stopping it
//! in the testbed's private mount namespace (and network namespace, if any).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::Utf8Path;

use crate::testbed::write;
use crate::{Testbed, TestbedError};

/// How long sshd gets to start listening.
pub(crate) const SSHD_START_TIMEOUT: Duration = Duration::from_secs(10);

impl Testbed {
    /// Starts the listening sshd (again, after [`Testbed::stop_sshd`]) on the same
    /// port, with the same keys, and waits until it accepts connections.
    pub fn start_sshd(&self) -> Result<(), TestbedError> {
        let mut sshd = self.sshd.lock().unwrap_or_else(|p| p.into_inner());
        if sshd.is_some() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("sshd.log"))
            .map_err(|e| TestbedError::new("open sshd.log", e))?;
        let mut command = match &self.netns {
            Some(netns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &netns.name, "unshare"]);
                cmd
            }
            None => Command::new("unshare"),
        };
        let mut child = command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            // A /run of its own: the target's /run/current-system is what its
            // host switch made it (the fixture's switch writes it when it finds
            // the marker), never this machine's. After a reboot (the file
            // `booting`, $6), the profile's system is the booted and the
            // current one, as a real boot makes them. With a non-root user
            // ($3: the testbed's etc), its account and sudoers rules are bound
            // over /etc here only, and a nix-daemon that trusts it serves its
            // `nix copy` (see sudo_user.rs).
            .arg(
                "mount --bind \"$1\" /nix && mount -t tmpfs -o mode=0755 testbed-run /run && \
                 mkdir -p /run/sshd && : >/run/fleet-testbed || exit 1
                 if [ -e \"$6\" ] && rm \"$6\" && system=$(readlink -e /nix/var/nix/profiles/system); then
                   ln -s \"$system\" /run/booted-system && ln -s \"$system\" /run/current-system || exit 1
                 fi
                 if [ -n \"$3\" ]; then
                   for file in passwd group shadow sudoers; do
                     mount --bind \"$3/$file\" \"/etc/$file\" || exit 1
                   done
                   mkdir -p \"$4\" && cp \"$3/../ssh/authorized_keys\" \"$4/\" &&
                     chown -R \"$5:\" \"$4\" || exit 1
                   rm -f /nix/var/nix/daemon-socket/socket
                   NIX_CONF_DIR=\"$3/nix\" nix-daemon >>\"$3/../nix-daemon.log\" 2>&1 &
                   tries=0
                   until [ -S /nix/var/nix/daemon-socket/socket ] || [ $tries -ge 200 ]; do
                     sleep 0.05; tries=$((tries + 1))
                   done
                 fi
                 exec /usr/sbin/sshd -D -e -f \"$2\"",
            )
            .arg("testbed")
            .arg(self.dir.join("nix"))
            .arg(self.dir.join("sshd_config"))
            .arg(if self.sudo_user.is_some() { self.dir.join("etc").to_string() } else { String::new() })
            .args([crate::sudo_user::HOME, crate::SUDO_USER])
            .arg(self.dir.join("booting"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| TestbedError::new("start sshd in a private mount namespace", e))?;
        // `unshare` and `sh` exec, so this is sshd's own pid: the fixture's
        // SSH-breaking switch reads it.
        write(&self.dir.join("sshd.pid"), &format!("{}\n", child.id()), false)?;
        let deadline = Instant::now() + SSHD_START_TIMEOUT;
        loop {
            if TcpStream::connect((self.listen_address().as_str(), self.port)).is_ok() {
                *sshd = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default();
                return Err(TestbedError::new("start sshd", format!("exited with {status}: {}", log.trim())));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(TestbedError::new(
                    "start sshd",
                    format!("not listening on port {} after {SSHD_START_TIMEOUT:?}", self.port),
                ));
            }
            std::thread::yield_now();
        }
    }

    /// The processes on the target that run from `dir` or hold a file under
    /// it (as the target sees its paths), sessions and detached ones alike.
    pub fn processes_using(&self, dir: &str) -> Vec<(u32, String)> {
        let sshd = self.sshd.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(std::process::Child::id);
        sshd.map(|sshd| crate::procfs::using_dir(sshd, dir)).unwrap_or_default()
    }

    /// Stops sshd and every session it serves, as when the host's network or
    /// sshd goes away: open connections drop, new ones are refused. Processes
    /// that detached from their session (activation jobs) go on.
    pub fn stop_sshd(&self) {
        if let Some(mut child) = self.sshd.lock().unwrap_or_else(|p| p.into_inner()).take() {
            for pid in crate::procfs::descendants(child.id()) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The PATH of the target's root: the stand-ins first.
pub(crate) fn root_path(dir: &Utf8Path) -> String {
    format!("{dir}/bin:{dir}/usr-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin")
}

/// The environment every session on the target gets, after its PATH.
pub(crate) fn session_env(dir: &Utf8Path) -> String {
    format!("NIX_CONF_DIR={dir}/etc/nix NIX_USER_CONF_FILES={dir}/etc/nix/nix.conf TESTBED_DIR={dir}")
}

pub(crate) fn sshd_config(dir: &Utf8Path, listen: &str, port: u16) -> String {
    let (path, env) = (root_path(dir), session_env(dir));
    format!(
        "ListenAddress {listen}\nPort {port}\nHostKey {dir}/ssh/host_key\nAuthorizedKeysFile {dir}/ssh/authorized_keys\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
         StrictModes no\nPidFile {dir}/sshd.pid\nLogLevel ERROR\nMaxStartups 100\n\
         SetEnv PATH={path} {env}\n"
    )
}

pub(crate) fn free_port() -> Result<u16, TestbedError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TestbedError::new("find a free loopback port", e))
}

pub(crate) fn keygen(path: &Utf8Path) -> Result<(), TestbedError> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fleet-testbed", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| TestbedError::new("run ssh-keygen", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(TestbedError::new(format!("generate {path}"), format!("ssh-keygen exited with {status}")))
    }
}
