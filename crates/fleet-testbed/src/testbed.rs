//! Starting and inspecting one simulated VPS.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Child;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use fleet_nix::{Nix, Target};

use crate::netns::{Netns, NETNS_PROGRAMS};
use crate::sshd::{free_port, keygen, sshd_config};
use crate::sudo_user::SudoUser;
use crate::{ensure_programs, TestbedError, TESTBED_PROGRAMS};

const SYSTEMCTL: &str = include_str!("fixture/systemctl");
const SYSTEMD_RUN: &str = include_str!("fixture/systemd-run");
const NIXOS_CONTAINER: &str = include_str!("fixture/nixos-container");

/// A running simulated VPS. Dropping it stops its sshd.
pub struct Testbed {
    pub(crate) dir: Utf8PathBuf,
    pub(crate) port: u16,
    /// The network namespace sshd runs in, if any (see [`Testbed::start_partitionable`]).
    pub(crate) netns: Option<Netns>,
    /// The listening sshd; `None` while stopped by [`Testbed::stop_sshd`],
    /// and on a testbed whose init is real systemd (its sshd is a unit there).
    pub(crate) sshd: Mutex<Option<Child>>,
    /// The systemd that is the target's init, for [`Testbed::start_systemd`].
    pub(crate) init: Option<crate::systemd::Init>,
    /// The non-root login user, for [`Testbed::start_with_sudo_user`].
    pub(crate) sudo_user: Option<SudoUser>,
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
        Testbed::start_in(dir, false, false)
    }

    /// Like [`Testbed::start`], with a non-root login user whose sudo asks
    /// for a password ([`Testbed::sudo_user`]), and a nix-daemon on the
    /// target that trusts it, as `nix.settings.trusted-users` does on NixOS.
    pub fn start_with_sudo_user(dir: &Utf8Path) -> Result<Testbed, TestbedError> {
        Testbed::start_in(dir, false, true)
    }

    /// The non-root user of a testbed from [`Testbed::start_with_sudo_user`].
    pub fn sudo_user(&self) -> Option<&SudoUser> {
        self.sudo_user.as_ref()
    }

    /// Makes the non-root user's sudo ask for its password, or not
    /// (`NOPASSWD`), from the next sudo on.
    pub fn set_sudo_password_required(&self, required: bool) -> Result<(), TestbedError> {
        if self.sudo_user.is_none() {
            return Err(TestbedError::new("change the sudoers rules", "this testbed has no sudo user"));
        }
        crate::sudo_user::write_sudoers(&self.dir, required)
    }

    /// Makes the target's nix-daemon trust the non-root user, or not (only
    /// root), restarting sshd and the daemon with it.
    pub fn set_sudo_user_trusted(&self, trusted: bool) -> Result<(), TestbedError> {
        if self.sudo_user.is_none() {
            return Err(TestbedError::new("change the trusted users", "this testbed has no sudo user"));
        }
        crate::sudo_user::write_nix_conf(&self.dir, trusted)?;
        self.stop_sshd();
        self.start_sshd()
    }

    /// Like [`Testbed::start`], with sshd in a network namespace of its own,
    /// reached over a veth pair, so that [`Testbed::partition`] can drop the
    /// target's packets for real (iptables `DROP`, not a refused connection).
    pub fn start_partitionable(dir: &Utf8Path) -> Result<Testbed, TestbedError> {
        ensure_programs(NETNS_PROGRAMS, true, &mut |line| eprintln!("testbed: {line}"))
            .map_err(|e| TestbedError::new("find the network namespace programs", e))?;
        Testbed::start_in(dir, true, false)
    }

    fn start_in(dir: &Utf8Path, partitionable: bool, sudo_user: bool) -> Result<Testbed, TestbedError> {
        prepare(dir, true)?;
        let sudo_user = if sudo_user { Some(crate::sudo_user::prepare(dir)?) } else { None };
        let port = free_port()?;
        let netns = if partitionable { Some(Netns::create(port)?) } else { None };
        let listen = netns.as_ref().map_or("127.0.0.1".to_string(), |n| n.inside.clone());
        let mut config = sshd_config(dir, &listen, port);
        if sudo_user.is_some() {
            config.push_str(&crate::sudo_user::sshd_match(dir));
        }
        write(&dir.join("sshd_config"), &config, false)?;
        let testbed =
            Testbed { dir: dir.to_path_buf(), port, netns, sshd: Mutex::new(None), init: None, sudo_user };
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
        self.address_as("root")
    }

    /// `USER@ADDRESS:PORT`, e.g. for [`Testbed::sudo_user`].
    pub fn address_as(&self, user: &str) -> String {
        format!("{user}@{}:{}", self.listen_address(), self.port)
    }

    pub(crate) fn listen_address(&self) -> String {
        self.netns.as_ref().map_or("127.0.0.1".to_string(), |n| n.inside.clone())
    }

    /// Drops every packet that reaches the target (`iptables -I INPUT -j DROP`
    /// in its namespace), or stops dropping them. Only for a testbed made by
    /// [`Testbed::start_partitionable`].
    pub fn partition(&self, drop: bool) -> Result<(), TestbedError> {
        let netns = self.netns.as_ref().ok_or_else(|| {
            TestbedError::new("partition the target", "it has no network namespace; use start_partitionable")
        })?;
        netns.drop_packets(drop)
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
    pub fn on_target(&self, path: &Utf8Path) -> Utf8PathBuf {
        match path.strip_prefix("/nix") {
            Ok(rest) => self.dir.join("nix").join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Hides `nix` from the target's PATH (or shows it again), as on a machine
    /// without Nix.
    pub fn hide_nix(&self, hide: bool) -> Result<(), TestbedError> {
        link_usr_bin(&self.dir, hide)
    }
}

/// Links `dir/usr-bin`, which the target's PATH holds, to `/usr/bin`, or, with
/// `hide`, to a copy of it without `nix*`.
fn link_usr_bin(dir: &Utf8Path, hide: bool) -> Result<(), TestbedError> {
    let usr_bin = dir.join("usr-bin");
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

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop_sshd();
        self.stop_init();
    }
}

/// Empties `dir` and writes what every testbed target has there: keys,
/// nix.conf, the stand-ins (those of the init system only if `init_stand_ins`)
/// and an empty activation log.
pub(crate) fn prepare(dir: &Utf8Path, init_stand_ins: bool) -> Result<(), TestbedError> {
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
    // With a real init only nixos-container is stood in for.
    if init_stand_ins {
        write(&dir.join("bin/systemctl"), SYSTEMCTL, true)?;
        write(&dir.join("bin/systemd-run"), SYSTEMD_RUN, true)?;
    }
    write(&dir.join("bin/nixos-container"), NIXOS_CONTAINER, true)?;
    write(&dir.join("activation.log"), "", false)?;
    link_usr_bin(dir, false)
}

pub(crate) fn mkdir(path: &Utf8Path) -> Result<(), TestbedError> {
    fs::create_dir_all(path).map_err(|e| TestbedError::new(format!("create {path}"), e))
}

pub(crate) fn copy(from: &Utf8Path, to: &Utf8Path) -> Result<(), TestbedError> {
    fs::copy(from, to).map(drop).map_err(|e| TestbedError::new(format!("copy {from} to {to}"), e))
}

pub(crate) fn write(path: &Utf8Path, text: &str, executable: bool) -> Result<(), TestbedError> {
    fs::write(path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))?;
    if executable {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| TestbedError::new(format!("chmod {path}"), e))?;
    }
    Ok(())
}
