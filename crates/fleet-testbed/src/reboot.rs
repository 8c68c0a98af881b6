//! Reboots of the simulated VPS: its `systemctl reboot` stand-in asks for one
//! (the file `reboot-requested`), and a test that deploys with `--reboot`
//! runs the deploy inside [`Testbed::serving_reboots`], which answers: sshd
//! and every session it serves go away, the running containers are started
//! again, and sshd comes back with a fresh `/run` whose booted and current
//! system are the profile's, as after a real boot. A file `faults/reboot`
//! makes the target never come back; `faults/container@NAME`, that container
//! fail to start at boot.

use std::fs;
use std::time::Duration;

use crate::testbed::write;
use crate::{Testbed, TestbedError};

/// How often [`Testbed::serving_reboots`] looks for a request.
const POLL: Duration = Duration::from_millis(20);

impl Testbed {
    /// Runs `work` (say, `fleet deploy --reboot`) on a thread of its own and
    /// answers every reboot the target asks for meanwhile; returns what
    /// `work` returned.
    pub fn serving_reboots<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, TestbedError> {
        std::thread::scope(|scope| {
            let worker = scope.spawn(work);
            let mut served = Ok(());
            while !worker.is_finished() {
                if served.is_ok() && self.dir.join("reboot-requested").exists() {
                    served = self.reboot();
                }
                std::thread::sleep(POLL);
            }
            let result = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            served.map(|()| result)
        })
    }

    /// Reboots the target now (see the file).
    pub fn reboot(&self) -> Result<(), TestbedError> {
        let request = self.dir.join("reboot-requested");
        fs::remove_file(&request).map_err(|e| TestbedError::new(format!("remove {request}"), e))?;
        self.stop_sshd();
        let log = self.dir.join("reboots.log");
        let before = fs::read_to_string(&log).unwrap_or_default();
        write(&log, &format!("{before}reboot\n"), false)?;
        if self.dir.join("faults/reboot").exists() {
            return Ok(());
        }
        // The containers that ran start again at boot (autoStart), but for
        // those whose unit is made to fail (`set_fault("container@NAME")`).
        let mut running: Vec<String> = fs::read_dir(self.dir.join("running"))
            .map_err(|e| TestbedError::new("list running containers", e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        running.sort();
        let activations = self.dir.join("activation.log");
        let mut text = fs::read_to_string(&activations).unwrap_or_default();
        for name in running {
            if self.dir.join(format!("faults/container@{name}")).exists() {
                let marker = self.dir.join("running").join(&name);
                fs::remove_file(&marker).map_err(|e| TestbedError::new(format!("remove {marker}"), e))?;
                continue;
            }
            let path = self.profile(&crate::container_profile(&name)).unwrap_or_default();
            text.push_str(&format!("{name} start {path}\n"));
        }
        write(&activations, &text, false)?;
        write(&self.dir.join("booting"), "", false)?;
        self.start_sshd()
    }

    /// How many times the target was rebooted.
    pub fn reboots(&self) -> usize {
        fs::read_to_string(self.dir.join("reboots.log")).map_or(0, |text| text.lines().count())
    }
}
