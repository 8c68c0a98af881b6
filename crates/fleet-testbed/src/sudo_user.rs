//! A testbed target's non-root login user, whose sudo asks for a password:
//! its account, its sudoers rules and a nix-daemon that trusts it, all in
//! files of the testbed's own folder that the target's private mount
//! namespace binds over `/etc`; this machine's `/etc` is never changed.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use camino::Utf8Path;

use crate::testbed::write;
use crate::TestbedError;

/// The login name of the testbed's non-root user.
pub const SUDO_USER: &str = "fleet-deploy";

/// Its home, with its `authorized_keys`: in the target's own `/run` (a tmpfs
/// of its namespace, made when sshd starts), so that the user reaches it
/// wherever the testbed's folder is (under `/root`, mode 0700, it could not).
pub(crate) const HOME: &str = "/run/fleet-user";

/// What the testbed's `sshd_config` says for the user, at its end: its key
/// and a PATH it can reach (root's, with the stand-ins, is sudo's
/// `secure_path`).
pub(crate) fn sshd_match(dir: &Utf8Path) -> String {
    format!(
        "Match User {SUDO_USER}\n  AuthorizedKeysFile {HOME}/authorized_keys\n  \
         SetEnv PATH=/usr/local/bin:/usr/bin:/bin {}\n",
        crate::sshd::session_env(dir)
    )
}

/// Its uid and gid: far above the ones a distribution hands out.
const SUDO_UID: u32 = 64_123;

/// The non-root user of a testbed started by [`crate::Testbed::start_with_sudo_user`].
pub struct SudoUser {
    /// Its login name, [`SUDO_USER`].
    pub name: &'static str,
    /// The password its sudo asks for: random per testbed, known only to this
    /// process and, as a hash, to the target's shadow file.
    pub password: String,
}

/// Writes the user's account (this machine's `passwd` and `group` with the
/// user added, a `shadow` with its password hash and every other account
/// locked) and its sudoers rules under `dir`, and the target's nix.conf
/// that trusts it. Its home, with its authorized key, is [`HOME`].
pub(crate) fn prepare(dir: &Utf8Path) -> Result<SudoUser, TestbedError> {
    let password = random_password()?;
    let etc = dir.join("etc");
    let passwd = read("/etc/passwd")?;
    let line = format!("{SUDO_USER}:x:{SUDO_UID}:{SUDO_UID}:fleet testbed:{HOME}:/bin/sh\n");
    write(&etc.join("passwd"), &format!("{passwd}{line}"), false)?;
    let group = read("/etc/group")?;
    write(&etc.join("group"), &format!("{group}{SUDO_USER}:x:{SUDO_UID}:\n"), false)?;
    // Every account of this machine locked in the copy (`*`, no hashes of
    // this machine's passwords in the testbed's folder); root still logs in
    // with its key.
    let mut shadow: String = passwd
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|name| !name.is_empty())
        .map(|name| format!("{name}:*:19000:0:99999:7:::\n"))
        .collect();
    shadow.push_str(&format!("{SUDO_USER}:{}:19000:0:99999:7:::\n", hash(&password)?));
    secret_file(&etc.join("shadow"), &shadow, 0o640)?;
    write_sudoers(dir, true)?;
    write_nix_conf(dir, true)?;
    Ok(SudoUser { name: SUDO_USER, password })
}

/// Writes the target's sudoers rules: the user may run anything as root,
/// with its password if `password` (else `NOPASSWD`). The file is bound
/// into the target's namespace, so a rewrite (same inode) applies at once.
pub(crate) fn write_sudoers(dir: &Utf8Path, password: bool) -> Result<(), TestbedError> {
    // env_keep and secure_path: the testbed's Nix configuration and
    // stand-ins reach root's commands, as a NixOS target's own configuration
    // does through /etc.
    // Without syslog: this machine's journal is not the testbed's.
    let tag = if password { "" } else { "NOPASSWD: " };
    let sudoers = format!(
        "Defaults env_keep += \"NIX_CONF_DIR NIX_USER_CONF_FILES TESTBED_DIR\"\n\
         Defaults secure_path = \"{}\"\n\
         Defaults !lecture\nDefaults !syslog\n\
         root ALL=(ALL:ALL) ALL\n{SUDO_USER} ALL=(ALL:ALL) {tag}ALL\n",
        crate::sshd::root_path(dir)
    );
    secret_file(&dir.join("etc/sudoers"), &sudoers, 0o440)
}

/// Writes the target's nix.conf, whose daemon trusts the user if `trusted`
/// (`nix.settings.trusted-users` on NixOS), else only root, Nix's default.
pub(crate) fn write_nix_conf(dir: &Utf8Path, trusted: bool) -> Result<(), TestbedError> {
    let users = if trusted { format!("root {SUDO_USER}") } else { "root".into() };
    write(&dir.join("etc/nix/nix.conf"), &format!("{}trusted-users = {users}\n", crate::NIX_CONF), false)
}

fn read(path: &str) -> Result<String, TestbedError> {
    fs::read_to_string(path).map_err(|e| TestbedError::new(format!("read {path}"), e))
}

/// Writes `text` to `path` with `mode`, readable by root alone (sudo refuses
/// a sudoers file others may write).
fn secret_file(path: &Utf8Path, text: &str, mode: u32) -> Result<(), TestbedError> {
    write(path, text, false)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| TestbedError::new(format!("chmod {path}"), e))
}

/// 24 random hex digits.
fn random_password() -> Result<String, TestbedError> {
    let mut bytes = [0u8; 12];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| TestbedError::new("read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The password's SHA-512 crypt hash, from `openssl passwd`, given the
/// password on stdin (never in its arguments).
fn hash(password: &str) -> Result<String, TestbedError> {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TestbedError::new("run openssl passwd", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}").map_err(|e| TestbedError::new("write to openssl passwd", e))?;
    }
    let out = child.wait_with_output().map_err(|e| TestbedError::new("run openssl passwd", e))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(TestbedError::new(
            "hash the sudo password",
            format!(
                "openssl passwd exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(hash)
}
