//! Non-root targets: a deploy as a user whose sudo asks for a password, on a
//! testbed with a real sudo, a real sshd and a real `nix copy` to a
//! nix-daemon that trusts the user. The password reaches sudo on stdin only.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camino::Utf8Path;
use common::{scratch, stderr, stdout, Bed};
use fleet_nix::{RemoteScript, Sudo, SudoPassword, Target};
use fleet_testbed::{fixture_nodes, Testbed};

/// `fleet ARGS... [-- COMMAND...]` on `bed` with `input` on stdin, its caches
/// and temporary files in the test's folder; returns its output and every
/// place the password showed in a process's argv or environment while it ran.
fn run(bed: &Bed, (args, command): (&[&str], &[&str]), input: &str, password: &str) -> (Output, Vec<String>) {
    let (cache, tmp) = (bed.dir.join("cache"), bed.dir.join("tmp"));
    fs::create_dir_all(&cache).unwrap();
    fs::create_dir_all(&tmp).unwrap();
    let mut child = bed
        .command(args)
        .args(if command.is_empty() { &[][..] } else { &["--"][..] })
        .args(command)
        .env("XDG_CACHE_HOME", &cache)
        .env("TMPDIR", &tmp)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (done, password) = (Arc::clone(&done), password.to_string());
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            // Once more after the run ended, so that a scan covers its end.
            let mut last = false;
            while !last {
                last = done.load(Ordering::SeqCst);
                seen.extend(processes_showing(&password));
            }
            seen.into_iter().collect::<Vec<_>>()
        })
    };
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::SeqCst);
    (out, scanner.join().unwrap())
}

/// `/proc/PID/{cmdline,environ}` files that hold `password`, with the
/// process's name.
fn processes_showing(password: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for file in ["cmdline", "environ"] {
            let bytes = fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
            if contains(&bytes, password) {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                found.push(format!("{} ({}) {file}", comm.trim(), pid));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every regular file under `dir` whose content or name holds `password`.
fn files_showing(dir: &Utf8Path, password: &str, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = camino::Utf8PathBuf::from_path_buf(entry.path()).unwrap();
        let Ok(kind) = entry.file_type() else { continue };
        if path.as_str().contains(password) {
            found.push(path.to_string());
        }
        if kind.is_dir() {
            files_showing(&path, password, found);
        } else if kind.is_file() && fs::read(&path).is_ok_and(|bytes| contains(&bytes, password)) {
            found.push(path.to_string());
        }
    }
}

/// The (node, action) pairs of the activation log from `from` on.
fn activated(bed: &Bed, from: usize) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = bed.testbed.activations().unwrap()[from..]
        .iter()
        .map(|r| (r.node.clone(), r.action.clone()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn a_non_root_deploy_with_a_sudo_password_does_what_a_root_deploy_does_and_shows_the_password_nowhere() {
    let mut bed = Bed::with_sudo_user("sudo", "password_deploy");
    let user = bed.testbed.sudo_user().unwrap();
    let (name, password) = (user.name, user.password.clone());
    // A first system, deployed as root: what the failures below must keep.
    let root = bed.testbed.address();
    let out = bed.fleet(&["deploy", "--target", &root]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for node in fixture_nodes() {
        bed.fixture.set_version(node, "2-password_deploy").unwrap();
    }
    let untouched = bed.snapshot();

    // Without --sudo: refused on the target before anything changed, with
    // the way out named.
    let (out, _) = run(&bed, (&["deploy"], &[]), "", &password);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("logged in as `{name}`, not root")) && err.contains("pass --sudo"),
        "{err}"
    );
    assert_eq!(bed.snapshot(), untouched, "nothing changed without --sudo");

    // --sudo alone, where sudo asks for a password: the other option named.
    let (out, _) = run(&bed, (&["deploy", "--sudo"], &[]), "", &password);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("sudo on this target refused") && err.contains("--ask-sudo-password"), "{err}");
    assert_eq!(bed.snapshot(), untouched, "nothing changed with --sudo and no password");

    // No terminal and nothing on stdin: a usage error, nothing asked of the target.
    let (out, _) = run(&bed, (&["deploy", "--ask-sudo-password"], &[]), "", &password);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--ask-sudo-password: no sudo password was given"), "{}", stderr(&out));

    // A wrong password: one clear error naming sudo, nothing changed.
    let (out, _) = run(&bed, (&["deploy", "--ask-sudo-password"], &[]), "not-the-password\n", &password);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("sudo on this target refused the password given for `{name}`")), "{err}");
    assert_eq!(bed.snapshot(), untouched, "a wrong password changes nothing");

    // A user the target's Nix does not trust: the push is refused, with the fix.
    bed.testbed.set_sudo_user_trusted(false).unwrap();
    let (out, _) = run(&bed, (&["deploy", "--ask-sudo-password"], &[]), &format!("{password}\n"), &password);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("does not trust `fleet-deploy`") && err.contains("nix.settings.trusted-users"),
        "{err}"
    );
    assert_eq!(bed.snapshot(), untouched, "nothing changed when the push was refused");
    bed.testbed.set_sudo_user_trusted(true).unwrap();

    // The right one, on stdin (no terminal here): every node deployed.
    let (out, showing) =
        run(&bed, (&["deploy", "--ask-sudo-password"], &[]), &format!("{password}\n"), &password);
    let (out_text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{out_text}\n{err}");
    for node in fixture_nodes() {
        assert_eq!(bed.profile_of(node), bed.fixture.system_path(node).ok(), "{node}");
    }
    let as_user = activated(&bed, untouched.1);
    let bot_as_user = bed.profile_of("nannuo-bot");
    assert!(as_user.iter().any(|(node, _)| node == "vps-arm"), "{as_user:?}");
    assert!(showing.is_empty(), "the password showed in {showing:?}");
    assert!(!out_text.contains(&password) && !err.contains(&password), "the password is in the output");
    let mut in_files = Vec::new();
    files_showing(&bed.dir, &password, &mut in_files);
    assert!(in_files.is_empty(), "the password is in {in_files:?}");

    // The same change as root does the same on the target.
    for node in fixture_nodes() {
        bed.fixture.set_version(node, "3-password_deploy").unwrap();
    }
    let before = bed.testbed.activations().unwrap().len();
    let out = bed.fleet(&["deploy", "--target", &root]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for node in fixture_nodes() {
        assert_eq!(bed.profile_of(node), bed.fixture.system_path(node).ok(), "{node}");
    }
    assert_eq!(activated(&bed, before), as_user, "a root deploy activates the same way");

    // rollback, exec and status go through sudo too.
    let input = format!("{password}\n");
    let (out, _) = run(
        &bed,
        (&["rollback", "--container", "nannuo-bot", "--ask-sudo-password"], &[]),
        &input,
        &password,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(bed.profile_of("nannuo-bot"), bot_as_user, "rolled back to what the sudo deploy set");
    let exec = ["exec", "--host", "vps-arm", "--no-containers", "--ask-sudo-password"];
    let (out, showing) = run(&bed, (&exec, &["id", "-u"]), &input, &password);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("vps-arm | 0"), "{}", stdout(&out));
    let (out, _) = run(&bed, (&["status", "--ask-sudo-password"], &[]), &input, &password);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(showing.is_empty(), "the password showed in {showing:?}");
}

/// How much of stdin sudo reads (`sudo.sh` relies on it): one line, byte by
/// byte; the command gets the rest. Where sudo asks no password
/// (`NOPASSWD`), the password lines reach no command either.
#[test]
fn sudo_takes_its_password_line_and_the_command_gets_the_rest_of_stdin() {
    let testbed = Testbed::start_with_sudo_user(&scratch("sudo", "stdin")).unwrap();
    let user = testbed.sudo_user().unwrap();
    let as_user =
        Target::parse(&testbed.address_as(user.name)).unwrap().with_ssh_options(testbed.ssh_options());
    let password = Sudo::Password(SudoPassword::new(&user.password).unwrap());
    let script = RemoteScript::new("id -u; cat", Vec::<String>::new()).with_input("first\nsecond\n".into());
    let run = |sudo: &Sudo| as_user.clone().with_sudo(sudo.clone()).run(&script);
    assert_eq!(run(&password).unwrap(), "0\nfirst\nsecond\n");
    let err = run(&Sudo::NoPassword).unwrap_err().to_string();
    assert!(err.contains("sudo on this target refused") && err.contains("a password is required"), "{err}");
    let wrong = Sudo::Password(SudoPassword::new("wrong").unwrap());
    let err = run(&wrong).unwrap_err().to_string();
    assert!(err.contains("refused the password") && !err.contains("wrong"), "{err}");
    let err = run(&Sudo::No).unwrap_err().to_string();
    assert!(err.contains("not root") && err.contains("pass --sudo"), "{err}");

    testbed.set_sudo_password_required(false).unwrap();
    assert_eq!(run(&Sudo::NoPassword).unwrap(), "0\nfirst\nsecond\n");
    assert_eq!(run(&password).unwrap(), "0\nfirst\nsecond\n", "the password lines are not the command's");
}

/// `--ask-sudo-password` on a terminal (a pseudo-terminal from util-linux's
/// `script`): one prompt, and the password typed after it is not echoed.
#[test]
fn the_password_is_asked_once_on_the_terminal_without_echo() {
    let bed = Bed::with_sudo_user("sudo", "terminal");
    let password = bed.testbed.sudo_user().unwrap().password.clone();
    let mut child = common::in_terminal(&[
        "status",
        "--ask-sudo-password",
        "--flake",
        &bed.fixture.flake_ref(),
        "--ssh-option",
        &bed.testbed.ssh_options().join(" "),
    ]);
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (screen, mut stdout) = (Arc::clone(&screen), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                screen.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    };
    let prompt = "[fleet] sudo password for the target's user: ";
    let shown = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    fleet_testbed::wait_until("the prompt shows", Duration::from_secs(120), || shown().contains(prompt));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let screen = shown();
    assert!(status.success(), "{screen}");
    assert_eq!(screen.matches(prompt).count(), 1, "{screen}");
    assert!(!screen.contains(&password), "the typed password was echoed: {screen}");
}

#[test]
fn sudo_is_refused_for_a_local_target() {
    let out = common::fleet(&["deploy", "--sudo", "--target", "local"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--sudo is for a target reached over SSH"), "{}", stderr(&out));
}
