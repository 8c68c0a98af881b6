//! A target that accepts the connection and then says nothing: a gate in
//! front of every command the testbed's sshd runs (`ForceCommand`,
//! `stall/gate.sh`), which leaves silent the sessions whose command holds a
//! chosen text and runs every other one as sshd would.

use std::fs;

use crate::{Testbed, TestbedError};

/// The gate sshd runs for every session once stalling is on.
const GATE: &str = include_str!("stall/gate.sh");

impl Testbed {
    /// From now on, every new SSH session whose command contains `text` is
    /// accepted and then says nothing (for 10 minutes, or until sshd stops);
    /// `None` lets every session run again. The first call restarts sshd with
    /// the gate, which drops the sessions open then.
    pub fn stall_sessions_running(&self, text: Option<&str>) -> Result<(), TestbedError> {
        let dir = self.dir();
        let (gate, chosen) = (dir.join("stall-gate.sh"), dir.join("stall-text"));
        let write = |path: &camino::Utf8Path, text: &str| {
            fs::write(path, text).map_err(|e| TestbedError::new(format!("write {path}"), e))
        };
        write(&chosen, text.unwrap_or(""))?;
        if gate.exists() {
            return Ok(());
        }
        write(&gate, GATE)?;
        let config_path = dir.join("sshd_config");
        let config = fs::read_to_string(&config_path)
            .map_err(|e| TestbedError::new(format!("read {config_path}"), e))?;
        write(&config_path, &format!("{config}ForceCommand /bin/sh '{gate}' '{chosen}'\n"))?;
        self.stop_sshd();
        self.start_sshd()
    }
}
