//! A network namespace for a partitionable testbed, so that a partition drops
//! packets for real.

use std::process::{Command, Stdio};

use crate::TestbedError;

/// Programs a partitionable testbed needs, with their Debian packages.
pub const NETNS_PROGRAMS: &[(&str, &str)] = &[("ip", "iproute2"), ("iptables", "iptables")];

/// A network namespace with a veth pair to this one: `outside` here,
/// `inside` in the namespace, a /30 between them. Deleted on drop (which
/// deletes the pair too).
pub(crate) struct Netns {
    pub(crate) name: String,
    pub(crate) inside: String,
}

impl Netns {
    pub(crate) fn create(port: u16) -> Result<Netns, TestbedError> {
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

impl Netns {
    /// Drops every packet that reaches the namespace, or stops dropping them.
    pub(crate) fn drop_packets(&self, drop: bool) -> Result<(), TestbedError> {
        let verb = if drop { "-I" } else { "-D" };
        run(Command::new("ip").args(["netns", "exec", &self.name, "iptables", verb, "INPUT", "-j", "DROP"]))
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
