//! What `/proc` says about processes, for the testbed and the benchmarks: a
//! process's descendants and its memory.

use std::fs;

/// Every process below `root` (not `root` itself), found through each of its
/// threads' `children` file, so that only the tree is read, not all of /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let pid = found[i];
        for thread in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let children = fs::read_to_string(thread.path().join("children")).unwrap_or_default();
            found.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// A `kB` field (`VmRSS`, `VmHWM`) of process `pid`'s `/proc/PID/status`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    status_field_kib(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?, field)
}

/// A `kB` field of a `/proc/PID/status` text, in KiB.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_in_kib() {
        let status = "Name:\tx\nVmHWM:\t   1234 kB\nVmRSS:\t  99 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(1234));
        assert_eq!(status_field_kib(status, "VmRSS"), Some(99));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        assert!(status_kib(std::process::id(), "VmRSS").is_some_and(|kib| kib > 0));
    }

    #[test]
    fn a_child_is_a_descendant() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = descendants(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(!found.contains(&std::process::id()));
    }
}
