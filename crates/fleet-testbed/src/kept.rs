//! A testbed that outlives its process: `demo --keep` leaves the simulated
//! VPS running, and `demo --stop` stops it later from its folder.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use camino::Utf8Path;

use crate::procfs::descendants;
use crate::sshd::SSHD_START_TIMEOUT;
use crate::{Testbed, TestbedError};

impl Testbed {
    /// Leaves the sshd running when this value is gone (`demo --keep`): the
    /// simulated VPS stays up, with its folder, until [`Testbed::stop_kept`].
    pub fn keep_running(self) {
        // Dropping a `Child` neither kills nor waits for it.
        drop(self.sshd.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// Stops the sshd of a testbed kept running in `dir` (by its pid file, and
    /// only if that process is still this testbed's sshd), with every session
    /// it serves, and removes `dir`. Returns whether an sshd was running.
    pub fn stop_kept(dir: &Utf8Path) -> Result<bool, TestbedError> {
        let pid =
            fs::read_to_string(dir.join("sshd.pid")).ok().and_then(|text| text.trim().parse::<u32>().ok());
        let config = dir.join("sshd_config");
        let running = pid.filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("sshd") && cmdline.contains(config.as_str()) && is_alive(*pid)
        });
        if let Some(pid) = running {
            for child in descendants(pid) {
                let _ = Command::new("kill").args(["-KILL", &child.to_string()]).status();
            }
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            let deadline = Instant::now() + SSHD_START_TIMEOUT;
            while is_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| TestbedError::new(format!("remove {dir}"), e))?;
        }
        Ok(running.is_some())
    }
}

/// Whether process `pid` exists and is not a zombie waiting for its parent.
pub(crate) fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}
