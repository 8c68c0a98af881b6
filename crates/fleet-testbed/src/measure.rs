//! Measuring a process from outside: its own CPU time and peak memory, not
//! those of the programs it starts.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::TestbedError;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`): 100 on every
/// Linux architecture this runs on.
const CLOCK_TICKS: u64 = 100;

/// How often a measured child's `/proc` entries are read while it runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// What a process spent itself, not counting the programs it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfUsage {
    /// User plus system CPU time of every thread (10 ms resolution).
    pub cpu: Duration,
    /// Peak resident memory (`VmHWM`), in bytes.
    pub peak_rss: u64,
}

/// Runs `command` to its end and measures, from outside, the CPU time and peak
/// memory of that process alone (not of the programs it starts).
///
/// `wait4`'s resource usage would add every descendant the child reaped (each
/// `nix` it ran), so the child's own `/proc/PID/stat` times are read once it
/// is a zombie, before it is reaped; its peak memory (`VmHWM`, which only
/// grows) is read while it runs, since a zombie has none.
pub fn run_measured(command: &mut Command) -> Result<(std::process::ExitStatus, SelfUsage), TestbedError> {
    let mut child = command.spawn().map_err(|e| TestbedError::new(format!("start {command:?}"), e))?;
    let proc_dir = format!("/proc/{}", child.id());
    let mut peak_kib = 0;
    let cpu = loop {
        let stat = fs::read_to_string(format!("{proc_dir}/stat"))
            .map_err(|e| TestbedError::new(format!("read {proc_dir}/stat"), e))?;
        let (state, cpu) = parse_stat(&stat).ok_or_else(|| {
            TestbedError::new(format!("read {proc_dir}/stat"), format!("unexpected `{stat}`"))
        })?;
        if state == 'Z' {
            break cpu;
        }
        if let Some(kib) = crate::procfs::status_kib(child.id(), "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let status = child.wait().map_err(|e| TestbedError::new(format!("wait for {command:?}"), e))?;
    Ok((status, SelfUsage { cpu, peak_rss: peak_kib * 1024 }))
}

/// The state letter and the user plus system CPU time of a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(char, Duration)> {
    // Fields after the parenthesised name, from the state (field 3): utime is
    // field 14 and stime field 15, both in clock ticks, summed over threads.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((state, Duration::from_millis((ticks(11)? + ticks(12)?) * 1000 / CLOCK_TICKS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_alone_from_outside() {
        // The shell spends little itself; the awk it starts spins for a while.
        let (status, usage) = run_measured(
            Command::new("sh").args(["-c", "awk 'BEGIN { for (i = 0; i < 3000000; i++) s += i }'; exit 3"]),
        )
        .unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(usage.peak_rss > 0, "{usage:?}");
        assert!(usage.cpu < Duration::from_millis(100), "the shell's own time, not awk's: {usage:?}");
    }

    #[test]
    fn stat_lines_parse() {
        let stat = "42 (a (b) c) Z 1 42 42 0 -1 4194560 100 0 0 0 250 30 7 9 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(stat), Some(('Z', Duration::from_millis(2800))));
        assert_eq!(parse_stat("garbage"), None);
    }
}
