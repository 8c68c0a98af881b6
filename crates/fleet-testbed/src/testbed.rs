//! Starting and inspecting one simulated VPS.

use std::collections::BTreeSet;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use fleet_nix::{Nix, Target};

use crate::{ensure_programs, TestbedError, TESTBED_PROGRAMS};

const SYSTEMCTL: &str = include_str!("fixture/systemctl");
const SYSTEMD_RUN: &str = include_str!("fixture/systemd-run");
const NIXOS_CONTAINER: &str = include_str!("fixture/nixos-container");

/// How long sshd gets to start listening.
pub(crate) const SSHD_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running simulated VPS. Dropping it stops its sshd.
pub struct Testbed {
    dir: Utf8PathBuf,
    port: u16,
    /// The network namespace sshd runs in, if any (see [`Testbed::start_partitionable`]).
    netns: Option<Netns>,
    /// The listening sshd; `None` while stopped by [`Testbed::stop_sshd`].
    pub(crate) sshd: Mutex<Option<Child>>,
}

/// One line of the activation log: which node's system did what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// The node (host or container name).
    pub node: String,
    /// `switch` (host), `test` (container reload) or `start` (container boot).
    pub action: String,
    /// The system store path that was activated.
    pub path: String,
}

impl Testbed {
    /// Starts a testbed in `dir` (emptied first): keys, nix.conf, stand-ins and
    /// an sshd whose sessions see `dir/nix` as `/nix`.
    /// Missing programs are installed first where that is possible (Debian, as
    /// root), so that tests run on a fresh machine.
    pub fn start(dir: &Utf8Path) -> Result<Testbed, TestbedError> {
        Testbed::start_in(dir, false)
    }

    /// Like [`Testbed::start`], with sshd in a network namespace of its own,
    /// reached over a veth pair, so that [`Testbed::partition`] can drop the
    /// target's packets for real (iptables `DROP`, not a refused connection).
    pub fn start_partitionable(dir: &Utf8Path) -> Result<Testbed, TestbedError> {
        ensure_programs(NETNS_PROGRAMS, true, &mut |line| eprintln!("testbed: {line}"))
            .map_err(|e| TestbedError::new("find the network namespace programs", e))?;
        Testbed::start_in(dir, true)
    }

    fn start_in(dir: &Utf8Path, partitionable: bool) -> Result<Testbed, TestbedError> {
        ensure_programs(TESTBED_PROGRAMS, true, &mut |line| eprintln!("testbed: {line}"))
            .map_err(|e| TestbedError::new("find the testbed's programs", e))?;
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| TestbedError::new(format!("clear {dir}"), e))?;
        }
        for sub in ["nix", "bin", "ssh", "etc/nix", "faults", "running"] {
            mkdir(&dir.join(sub))?;
        }
        mkdir(Utf8Path::new("/run/sshd"))?;
        mkdir(Utf8Path::new("/nix"))?;
        keygen(&dir.join("ssh/host_key"))?;
        keygen(&dir.join("ssh/id_ed25519"))?;
        copy(&dir.join("ssh/id_ed25519.pub"), &dir.join("ssh/authorized_keys"))?;
        write(&dir.join("etc/nix/nix.conf"), crate::NIX_CONF, false)?;
        write(&dir.join("bin/systemctl"), SYSTEMCTL, true)?;
        write(&dir.join("bin/systemd-run"), SYSTEMD_RUN, true)?;
        write(&dir.join("bin/nixos-container"), NIXOS_CONTAINER, true)?;
        write(&dir.join("activation.log"), "", false)?;

        let port = free_port()?;
        let netns = if partitionable { Some(Netns::create(port)?) } else { None };
        let listen = netns.as_ref().map_or("127.0.0.1".to_string(), |n| n.inside.clone());
        write(&dir.join("sshd_config"), &sshd_config(dir, &listen, port), false)?;
        let testbed = Testbed { dir: dir.to_path_buf(), port, netns, sshd: Mutex::new(None) };
        testbed.hide_nix(false)?;
        testbed.start_sshd()?;
        Ok(testbed)
    }

    /// The target as the orchestrator addresses it, with the testbed's key and
    /// host-key settings.
    pub fn target(&self) -> Target {
        Target::parse(&self.address()).expect("the testbed address parses").with_ssh_options([
            "-i".to_string(),
            self.dir.join("ssh/id_ed25519").to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ])
    }

    /// `root@ADDRESS:PORT`: loopback, or the namespace's end of the veth pair.
    pub fn address(&self) -> String {
        format!("root@{}:{}", self.listen_address(), self.port)
    }

    fn listen_address(&self) -> String {
        self.netns.as_ref().map_or("127.0.0.1".to_string(), |n| n.inside.clone())
    }

    /// Drops every packet that reaches the target (`iptables -I INPUT -j DROP`
    /// in its namespace), or stops dropping them. Only for a testbed made by
    /// [`Testbed::start_partitionable`].
    pub fn partition(&self, drop: bool) -> Result<(), TestbedError> {
        let netns = self.netns.as_ref().ok_or_else(|| {
            TestbedError::new("partition the target", "it has no network namespace; use start_partitionable")
        })?;
        let verb = if drop { "-I" } else { "-D" };
        run(Command::new("ip").args(["netns", "exec", &netns.name, "iptables", verb, "INPUT", "-j", "DROP"]))
    }

    /// The ssh options of [`Testbed::target`], as `--ssh-option` values.
    pub fn ssh_options(&self) -> Vec<String> {
        match self.target() {
            Target::Ssh(ssh) => ssh.options,
            Target::Local => Vec::new(),
        }
    }

    /// A local `nix` with the project's configuration (see [`crate::nix_env`]).
    pub fn nix() -> Nix {
        crate::nix_env().into_iter().fold(Nix::new(), |nix, (key, value)| nix.with_env(key, value))
    }

    /// The testbed's folder; `dir/nix` is the target's `/nix`.
    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// Every activation so far, oldest first.
    pub fn activations(&self) -> Result<Vec<ActivationRecord>, TestbedError> {
        let path = self.dir.join("activation.log");
        let text = fs::read_to_string(&path).map_err(|e| TestbedError::new(format!("read {path}"), e))?;
        text.lines()
            .map(|line| {
                let mut fields = line.split_whitespace();
                match (fields.next(), fields.next(), fields.next()) {
                    (Some(node), Some(action), Some(path)) => {
                        Ok(ActivationRecord { node: node.into(), action: action.into(), path: path.into() })
                    }
                    _ => Err(TestbedError::new("parse activation log", format!("bad line `{line}`"))),
                }
            })
            .collect()
    }

    /// The store path a profile on the target points at, following its
    /// generation links as the target would; `None` if it does not exist.
    pub fn profile(&self, profile: &str) -> Option<String> {
        let mut at = Utf8PathBuf::from(profile);
        for _ in 0..16 {
            let on_disk = self.on_target(&at);
            match fs::read_link(&on_disk) {
                Ok(link) => {
                    let link = Utf8PathBuf::from_path_buf(link).ok()?;
                    at = if link.is_absolute() { link } else { at.parent()?.join(link) };
                }
                Err(_) => return on_disk.exists().then(|| at.to_string()),
            }
        }
        None
    }

    /// Generations of a profile on the target (its `NAME-N-link` entries).
    pub fn generations(&self, profile: &str) -> usize {
        let path = Utf8Path::new(profile);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return 0;
        };
        let prefix = format!("{name}-");
        fs::read_dir(self.on_target(parent))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let file = e.file_name().to_string_lossy().into_owned();
                        file.starts_with(&prefix) && file.ends_with("-link")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every store path in the target's store.
    pub fn store_paths(&self) -> BTreeSet<String> {
        fs::read_dir(self.dir.join("nix/store"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| format!("/nix/store/{}", e.file_name().to_string_lossy()))
                    .filter(|p| !p.ends_with(".lock") && !p.ends_with("/.links"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Makes a stand-in unit fail (`container@NAME`, `systemd-run`) or work again.
    pub fn set_fault(&self, unit: &str, fail: bool) -> Result<(), TestbedError> {
        let path = self.dir.join("faults").join(unit);
        if fail {
            write(&path, "", false)
        } else {
            fs::remove_file(&path)
                .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                .map_err(|e| TestbedError::new(format!("remove {path}"), e))
        }
    }

    /// A path as seen by the target, mapped to where it lives on this machine.
    fn on_target(&self, path: &Utf8Path) -> Utf8PathBuf {
        match path.strip_prefix("/nix") {
            Ok(rest) => self.dir.join("nix").join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

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
            .arg("mount --bind \"$1\" /nix && exec /usr/sbin/sshd -D -e -f \"$2\"")
            .arg("testbed")
            .arg(self.dir.join("nix"))
            .arg(self.dir.join("sshd_config"))
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

    /// Hides `nix` from the target's PATH (or shows it again), as on a machine
    /// without Nix.
    pub fn hide_nix(&self, hide: bool) -> Result<(), TestbedError> {
        let usr_bin = self.dir.join("usr-bin");
        let _ = fs::remove_file(&usr_bin);
        let _ = fs::remove_dir_all(&usr_bin);
        if !hide {
            return std::os::unix::fs::symlink("/usr/bin", &usr_bin)
                .map_err(|e| TestbedError::new(format!("link {usr_bin}"), e));
        }
        mkdir(&usr_bin)?;
        let entries = fs::read_dir("/usr/bin").map_err(|e| TestbedError::new("list /usr/bin", e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("nix") {
                std::os::unix::fs::symlink(entry.path(), usr_bin.join(&name))
                    .map_err(|e| TestbedError::new(format!("link {name}"), e))?;
            }
        }
        Ok(())
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop_sshd();
    }
}

/// Programs a partitionable testbed needs, with their Debian packages.
pub const NETNS_PROGRAMS: &[(&str, &str)] = &[("ip", "iproute2"), ("iptables", "iptables")];

/// A network namespace with a veth pair to this one: `outside` here,
/// `inside` in the namespace, a /30 between them. Deleted on drop (which
/// deletes the pair too).
struct Netns {
    name: String,
    inside: String,
}

impl Netns {
    fn create(port: u16) -> Result<Netns, TestbedError> {
        // One /30 per port, in 10.250.0.0/16: apart from other testbeds'.
        let block = u32::from(port) % 16_000 * 4;
        let at = |host: u32| format!("10.250.{}.{}", (block + host) / 256, (block + host) % 256);
        let name = format!("fleet-tb-{port}");
        let (outside_link, inside_link) = (format!("fvh{port}"), format!("fvt{port}"));
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let netns = Netns { name: name.clone(), inside: at(2) };
        let ns = |args: &[&str]| run(Command::new("ip").args(["netns", "exec", &name]).args(args));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        run(Command::new("ip").args([
            "link",
            "add",
            &outside_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside_link,
        ]))?;
        run(Command::new("ip").args(["link", "set", &inside_link, "netns", &name]))?;
        run(Command::new("ip").args(["addr", "add", &format!("{}/30", at(1)), "dev", &outside_link]))?;
        run(Command::new("ip").args(["link", "set", &outside_link, "up"]))?;
        ns(&["ip", "link", "set", "lo", "up"])?;
        ns(&["ip", "addr", "add", &format!("{}/30", at(2)), "dev", &inside_link])?;
        ns(&["ip", "link", "set", &inside_link, "up"])?;
        Ok(netns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a setup command, which must succeed.
fn run(cmd: &mut Command) -> Result<(), TestbedError> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| TestbedError::new(format!("run {shown}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::new(
            format!("run {shown}"),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn sshd_config(dir: &Utf8Path, listen: &str, port: u16) -> String {
    format!(
        "ListenAddress {listen}\nPort {port}\nHostKey {dir}/ssh/host_key\nAuthorizedKeysFile {dir}/ssh/authorized_keys\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
         StrictModes no\nPidFile {dir}/sshd.pid\nLogLevel ERROR\nMaxStartups 100\n\
         SetEnv PATH={dir}/bin:{dir}/usr-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin NIX_CONF_DIR={dir}/etc/nix NIX_USER_CONF_FILES={dir}/etc/nix/nix.conf TESTBED_DIR={dir}\n"
    )
}

fn free_port() -> Result<u16, TestbedError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TestbedError::new("find a free loopback port", e))
}

fn keygen(path: &Utf8Path) -> Result<(), TestbedError> {
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

fn mkdir(path: &Utf8Path) -> Result<(), TestbedError> {
    fs::create_dir_all(path).map_err(|e| TestbedError::new(format!("create {path}"), e))
}

fn copy(from: &Utf8Path, to: &Utf8Path) -> Result<(), TestbedError> {
    fs::copy(from, to).map(drop).map_err(|e| TestbedError::new(format!("copy {from} to {to}"), e))
}

fn write(path: &Utf8Path, text: &str, executable: bool) -> Result<(), TestbedError> {
    fs::write(path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))?;
    if executable {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| TestbedError::new(format!("chmod {path}"), e))?;
    }
    Ok(())
}
