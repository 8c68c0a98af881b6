//! Shared SSH connections for one run, in a private folder that a watchdog
//! removes however the run ends.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::command::{CommandError, Failure};
use crate::target::{Sharing, SshTarget, Target};

/// Shared SSH connections for one run: every script, probe and copy to a
/// target goes through one master connection instead of a handshake each.
///
/// The control sockets live in a private folder made for the run: a random
/// name, mode 0700, its owner checked. A watchdog process closes the masters
/// and removes the folder when the run ends, however it ends (dropping this,
/// a signal, or SIGKILL: its stdin is a pipe from this process).
pub struct Connections {
    dir: PathBuf,
    shared: Mutex<Vec<SshTarget>>,
    watchdog: Mutex<Option<Child>>,
}

/// The watchdog that cleans up a run's socket folder (see [`Connections`]).
const CLEANUP: &str = include_str!("cleanup.sh");

impl Connections {
    /// A new private folder for the control sockets, in the temporary folder
    /// (`TMPDIR`) when its path is short enough for a socket (about 100
    /// bytes), else in `/tmp`.
    pub fn new() -> Result<Connections, CommandError> {
        let base = std::env::temp_dir();
        let base = if base.as_os_str().len() <= 40 { base } else { PathBuf::from("/tmp") };
        Connections::new_in(&base)
    }

    /// [`Connections::new`] in `base`.
    pub fn new_in(base: &Path) -> Result<Connections, CommandError> {
        let dir = base.join(format!("fleet-ssh-{}", random_hex()?));
        let failed = |what: &str, e: String| CommandError {
            command: format!("{what} {}", dir.display()),
            failure: Failure::Spawn(e),
        };
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| failed("mkdir", e.to_string()))?;
        private_folder(&dir).map_err(|e| failed("check", e))?;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(CLEANUP)
            .arg("fleet-cleanup")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed("start the cleanup of", e.to_string()))?;
        Ok(Connections { dir, shared: Default::default(), watchdog: Mutex::new(Some(watchdog)) })
    }

    /// The folder that holds the control sockets.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `target` with its connections shared (a local target is returned as is).
    pub fn share(&self, target: &Target) -> Target {
        let Target::Ssh(ssh) = target else {
            return Target::Local;
        };
        let mut ssh = ssh.clone();
        ssh.sharing = Sharing::Shared(format!("{}/%C", self.dir.display()));
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).push(ssh.clone());
        Target::Ssh(ssh)
    }
}

/// Eight random bytes from the kernel, in hex.
fn random_hex() -> Result<String, CommandError> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(|e| {
        CommandError { command: "read /dev/urandom".into(), failure: Failure::Spawn(e.to_string()) }
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that `dir` is a real folder (not a link), owned by this process's
/// user, that no one else may enter.
fn private_folder(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    // /proc/self belongs to this process's effective user.
    let me = std::fs::metadata("/proc/self").map_err(|e| format!("read /proc/self: {e}"))?.uid();
    if !meta.is_dir() {
        return Err("not a folder".into());
    }
    if meta.uid() != me {
        return Err(format!("owned by uid {}, not by this user (uid {me})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!("mode {:o}: others may enter it", meta.mode() & 0o777));
    }
    Ok(())
}

impl Drop for Connections {
    fn drop(&mut self) {
        for ssh in self.shared.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = Command::new("ssh")
                .args(ssh.connection_args())
                .args(["-O", "exit"])
                .arg(ssh.destination())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut watchdog) = self.watchdog.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn socket_folders_are_private_random_and_removed() {
        let base = std::env::temp_dir().join(format!("fleet-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let (a, b) = (Connections::new_in(&base).unwrap(), Connections::new_in(&base).unwrap());
        assert_ne!(a.dir(), b.dir(), "a random name per run");
        let meta = std::fs::symlink_metadata(a.dir()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let dir = a.dir().to_path_buf();
        drop(a);
        assert!(!dir.exists(), "removed when the run ends");

        // A folder someone else made (or made open) is refused.
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(private_folder(&open), Err("mode 777: others may enter it".into()));
        std::os::unix::fs::symlink(&open, base.join("link")).unwrap();
        assert_eq!(private_folder(&base.join("link")), Err("not a folder".into()));
        drop(b);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
