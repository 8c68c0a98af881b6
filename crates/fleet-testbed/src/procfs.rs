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

/// The processes in the mount namespace of process `pid` (not `pid` itself)
/// whose command line names a path under `dir`, or that hold a file open
/// under it, with their command lines: what runs from, or still uses, that
/// folder as the namespace sees it.
pub fn using_dir(pid: u32, dir: &str) -> Vec<(u32, String)> {
    let namespace = |p: &str| fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    let Some(wanted) = namespace(&pid.to_string()) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(other) = name.parse::<u32>() else { continue };
        if other == pid || namespace(&name).as_ref() != Some(&wanted) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{name}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let holds = fs::read_dir(format!("/proc/{name}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)));
        if holds || cmdline.contains(dir) {
            found.push((other, cmdline.chars().take(200).collect()));
        }
    }
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
