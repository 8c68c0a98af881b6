//! Hostile graph data and bad luck from the command line, on the testbed:
//! values that must never reach a shell, names that must not leave the state
//! folder, graph data NixOS would refuse, control sockets on every way out, a
//! frozen deployer's report.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use common::{text, Bed};
use fleet_testbed::wait_until;

/// How long a test waits for something on the target to happen.
const WAIT: Duration = Duration::from_secs(60);

impl Bed {
    /// Writes graph data (the Nix text of `nodes = { ... };`) to a file of its own.
    fn graph(&self, name: &str, nodes: &str) -> Utf8PathBuf {
        let path = self.dir.join(format!("{name}.nix"));
        std::fs::write(&path, format!("{{\n  nodes = {{\n{nodes}\n  }};\n}}\n")).unwrap();
        path
    }

    /// Runs `args`, which must fail with exit 2 and `expect`, changing nothing.
    fn refused(&self, args: &[&str], expect: &str) {
        let before = self.snapshot();
        let out = self.fleet(args);
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {shown}");
        assert!(shown.contains(expect), "expected `{expect}` in:\n{shown}");
        assert_eq!(self.snapshot(), before, "nothing changed on the target");
    }
}

fn signal(pid: u32, name: &str) {
    assert!(Command::new("kill").args(["-s", name, &pid.to_string()]).status().unwrap().success());
}

/// A host with `target` and a bridge, for hand-written graph data.
fn host(name: &str, target: &str) -> String {
    format!(
        r#"    "{name}" = {{ kind = "host"; target = "{target}"; bridge = {{ name = "br0"; address = "10.233.0.1"; prefixLength = 24; }}; }};"#
    )
}

fn container(name: &str, extra: &str) -> String {
    format!(r#"    "{name}" = {{ kind = "container"; host = "vps-arm"; {extra} }};"#)
}

/// Graph data once reached a root shell on the target through a tcp
/// check's address. Addresses are now IPv4 or refused, and a check's
/// arguments stay arguments.
#[test]
fn graph_values_never_reach_a_shell() {
    let mut bed = Bed::new("hostile", "no_shell");
    let marker = bed.dir.join("pwned");
    bed.fixture
        .set_node_attrs(
            "vps-arm",
            &format!(r#"address = "$(touch {marker})"; checks = [ {{ tcp = 22; }} ];"#),
        )
        .unwrap();
    bed.refused(&["deploy"], "error: node `vps-arm` is not valid: `address = \"$(touch");
    bed.fixture
        .set_node_attrs(
            "vps-arm",
            &format!(r#"checks = [ {{ tcp = 22; address = "x/1;touch {marker};:"; }} ];"#),
        )
        .unwrap();
    bed.refused(&["deploy"], "`checks` item 1: `address = \"x/1;touch");
    // A check argument that a shell would run: it stays one argument of `test`.
    bed.fixture
        .set_node_attrs(
            "vps-arm",
            &format!(r#"checks = [ {{ command = [ "test" "!" "-e" "$(touch {marker})" ]; }} ];"#),
        )
        .unwrap();
    let out = bed.fleet(&["deploy", "--no-magic-rollback"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!marker.exists(), "nothing ran `touch`");
}

/// A host name that walks out of the state folder is refused before
/// anything runs, by every command.
#[test]
fn host_names_cannot_leave_the_state_folder() {
    let bed = Bed::new("hostile", "traversal");
    let outside = Utf8Path::new("/tmp/fleet-hostile-traversal");
    let _ = std::fs::remove_dir_all(outside);
    std::fs::create_dir_all(outside).unwrap();
    let name = "../../../../tmp/fleet-hostile-traversal/trav";
    let graph = bed.graph("traversal", &host(name, &bed.testbed.address()));
    for command in [&["rollback", "--no-magic-rollback"][..], &["deploy"], &["graph"]] {
        let args: Vec<&str> = command.iter().copied().chain(["--graph", graph.as_str()]).collect();
        bed.refused(&args, &format!("error: node `{name}` is not valid: its name (44 characters) breaks"));
    }
    let left: Vec<_> = std::fs::read_dir(outside).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "nothing was written outside the state folder: {left:?}");
    for bad in ["-x", "a.b", &"a".repeat(300)] {
        let graph = bed.graph("bad-name", &host(bad, &bed.testbed.address()));
        bed.refused(&["graph", "--graph", graph.as_str()], "is not valid: its name (");
    }
}

/// Graph data that NixOS or SSH would refuse, or that could run a
/// builder, is refused before anything runs.
#[test]
fn graph_data_nixos_would_refuse_is_refused_before_anything_runs() {
    let bed = Bed::new("hostile", "refused_graph");
    let target = bed.testbed.address();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "duplicate",
            [
                host("vps-arm", &target),
                container("a", r#"address = "10.233.0.5";"#),
                container("b", r#"address = "10.233.0.5";"#),
            ]
            .join("\n"),
            "error: node `b` is not valid: `address = \"10.233.0.5\"` is already the address of `a` on `vps-arm`",
        ),
        (
            "outside",
            [host("vps-arm", &target), container("a", r#"address = "192.168.1.5";"#)].join("\n"),
            "is outside its host's bridge subnet 10.233.0.0/24",
        ),
        (
            "not-an-ip",
            [host("vps-arm", &target), container("a", r#"address = "not an ip";"#)].join("\n"),
            "`address = \"not an ip\"` is not an IPv4 address",
        ),
        (
            "same-target",
            [host("vps-arm", &target), host("other", &target)].join("\n"),
            "is also the target of host `other`; one machine is one host",
        ),
        (
            "timeout",
            [
                host("vps-arm", &target),
                container("a", r#"address = "10.233.0.5"; checkTimeout = 9223372036854775807;"#),
            ]
            .join("\n"),
            "`checkTimeout` must be a number of seconds from 1 to 3600",
        ),
        (
            "dash-user",
            host("vps-arm", "-oProxyCommand=touch /tmp/fleet-pwned@127.0.0.1"),
            "has an invalid user `-oProxyCommand=touch /tmp/fleet-pwned`",
        ),
    ];
    for (name, nodes, expect) in &cases {
        let graph = bed.graph(name, nodes);
        bed.refused(&["deploy", "--graph", graph.as_str()], expect);
    }

    // Import from derivation: evaluating the graph would run a builder.
    let ran = bed.dir.join("builder-ran");
    let ifd = bed.dir.join("ifd.nix");
    std::fs::write(
        &ifd,
        format!(
            r#"{{ nodes = import (builtins.derivation {{ name = "ifd"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ran > {ran}; echo '{{ }}' > $out" ]; }}); }}"#
        ),
    )
    .unwrap();
    bed.refused(&["graph", "--graph", ifd.as_str()], "allow-import-from-derivation");
    assert!(!ran.exists(), "no builder ran");
}

/// The control sockets live in a private folder of the run, which
/// is removed, with its masters closed, however the deployer ends.
#[test]
fn control_sockets_are_private_and_removed_on_every_way_out() {
    let mut bed = Bed::new("hostile", "sockets");
    assert!(bed.fleet(&["deploy"]).status.success());
    bed.fixture.set_switch_seconds("test-container", 3).unwrap();
    for (round, signal_name) in ["TERM", "INT", "KILL"].into_iter().enumerate() {
        bed.fixture.set_version("test-container", &format!("{}-sockets", round + 2)).unwrap();
        let tmp = Utf8PathBuf::from(format!("/tmp/fleet-t7-{}-{round}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let mut deployer = bed
            .command(&["deploy", "--container", "test-container"])
            .env("TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = bed.state("jobs/test-container.status");
        let started = || std::fs::read_to_string(&status).unwrap_or_default().trim() == "started";
        wait_until("test-container's job runs", WAIT, started);
        let folders: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(folders.len(), 1, "one folder for the run: {folders:?}");
        let folder = folders[0].clone();
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("fleet-ssh-") && name.len() == "fleet-ssh-".len() + 16,
            "a random name: {name}"
        );
        let meta = std::fs::symlink_metadata(&folder).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid()),
            (0o700, std::fs::metadata("/proc/self").unwrap().uid())
        );
        assert!(std::fs::read_dir(&folder).unwrap().count() > 0, "the master's socket is in it");

        signal(deployer.id(), signal_name);
        deployer.wait().unwrap();
        wait_until(&format!("the folder is removed after SIG{signal_name}"), WAIT, || !folder.exists());
        let folder_text = folder.to_string_lossy().into_owned();
        wait_until("no ssh master of the run is left", WAIT, || {
            !std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&folder_text))
            })
        });
        wait_until("the orphaned job ends", WAIT, || !started());
        wait_until("the lock is released", WAIT, || !bed.state("deploy.lease").exists());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

/// A deployer frozen past the confirmation timeout reports what
/// happened (the host rolled back by itself), not what will.
#[test]
fn a_frozen_deployer_reports_the_rollback_in_the_past_tense() {
    let mut bed = Bed::new("hostile", "frozen");
    assert!(bed.fleet(&["deploy"]).status.success());
    let v1 = bed.profile_of("vps-arm");
    bed.fixture.set_version("vps-arm", "2-frozen").unwrap();
    // The host's health check holds the job until the deployer is frozen:
    // only then may the job report `switched`, so the deployer cannot have
    // confirmed already.
    let dir = bed.fixture.dir().to_path_buf();
    let (checking, gate) = (dir.join("checking"), dir.join("gate"));
    for file in [&checking, &gate] {
        let _ = std::fs::remove_file(file);
    }
    let hold = format!(r#"touch {checking}; while [ ! -e {gate} ]; do sleep 0.05; done"#);
    let check = format!(r#"checks = [ {{ command = [ "sh" "-c" "{hold}" ]; }} ]; checkTimeout = 120;"#);
    bed.fixture.set_node_attrs("vps-arm", &check).unwrap();
    let deployer = bed
        .command(&["deploy", "--confirm-timeout", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = bed.state("jobs/vps-arm.status");
    let read = || std::fs::read_to_string(&status).unwrap_or_default().trim().to_string();
    wait_until("the host switched and runs its health check", WAIT, || checking.exists());
    signal(deployer.id(), "STOP");
    std::fs::write(&gate, "").unwrap();
    wait_until("the host rolled back by itself", WAIT, || read().starts_with("rolled back"));
    signal(deployer.id(), "CONT");
    let out = deployer.wait_with_output().unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("vps-arm ") && l.contains(" rolled back ")), "{shown}");
    // Whether the deployer heard `switched` before it froze or only the
    // final status after, it reports the rollback that happened.
    assert!(shown.contains("rolled back: no confirmation from the deployer within 2s"), "{shown}");
    assert!(!shown.contains("rolls back by itself"), "no future tense: {shown}");
    assert_eq!(bed.profile_of("vps-arm"), v1);
}

/// The most memory `fleet` itself may hold while a target floods it.
const FLOOD_MEMORY_BOUND: u64 = 50 * 1000 * 1000;

/// Pins the cap on what the target prints: a stream kept whole lines, so one
/// line of 100 MB was 100 MB of the deployer's memory (and more, copied).
#[test]
fn a_command_that_prints_100_mb_without_a_newline_leaves_the_deployer_small() {
    let bed = Bed::new("hostile", "flood");
    let printed = bed.dir.join("flood.out");
    let mut cmd = bed.command(&["exec", "--host", "vps-arm"]);
    cmd.args(["--", "sh", "-c", "head -c 100000000 /dev/zero | tr '\\0' x; echo; echo after"])
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::null());
    let (status, usage) = fleet_testbed::run_measured(&mut cmd).unwrap();
    let shown = std::fs::read_to_string(&printed).unwrap();
    assert!(status.success(), "{status}: {}", &shown[shown.len().saturating_sub(2000)..]);
    eprintln!("fleet's peak memory: {} bytes", usage.peak_rss);
    assert!(
        usage.peak_rss < FLOOD_MEMORY_BOUND,
        "fleet held {} bytes, over {FLOOD_MEMORY_BOUND}",
        usage.peak_rss
    );
    // Every node ran it (a host's containers are selected with it); each
    // flood is one line cut at 64 KiB, the rest named, and what follows it
    // still arrives.
    let floods: Vec<&str> = shown.lines().filter(|l| l.contains("| xxxx")).collect();
    let after: Vec<&str> = shown.lines().filter(|l| l.ends_with("| after")).collect();
    assert!(floods.iter().any(|l| l.starts_with("vps-arm ")), "{}", &shown[..200]);
    assert_eq!(floods.len(), after.len(), "{after:?}");
    for flood in floods {
        let (_, line) = flood.split_once("| ").unwrap();
        assert_eq!(line, format!("{} ... 99.9 MB more", "x".repeat(64 * 1024)), "{}", &flood[..80]);
    }
}
