//! The command line's conventions, as a colmena, deploy-rs or nh user expects
//! them: help from the one table, `help CMD`, `--version`,
//! suggestions for typos, `--` for nix, completions that a real shell runs,
//! and a closed pipe that ends the program quietly.

use std::io::Read;
use std::process::{Command, Stdio};

use camino::Utf8PathBuf;
use fleet_cli::COMMANDS;
use fleet_testbed::Fixture;

use crate::common;

use common::{fleet, stderr, stdout};

fn scratch(test: &str) -> Utf8PathBuf {
    common::scratch("conventions", test)
}

fn usage_error(args: &[&str]) -> String {
    let out = fleet(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    stderr(&out)
}

#[test]
fn every_command_has_aligned_help_with_every_option_and_examples() {
    for command in COMMANDS {
        let help = stdout(&fleet(&[command.name, "--help"]));
        assert_eq!(
            help,
            stdout(&fleet(&["help", command.name])),
            "help {} differs from --help",
            command.name
        );
        let usage: String =
            help.lines().skip_while(|l| !l.starts_with("Usage: ")).take_while(|l| !l.is_empty()).collect();
        assert!(usage.starts_with(&format!("Usage: fleet {}", command.name)), "{help}");
        let options = help.split_once("\nOptions:\n").map(|(_, rest)| rest).unwrap_or_default();
        for option in command.options {
            // Every option is in the usage lines and listed, indented, under Options.
            assert!(
                usage.contains(&format!("[{}", option.synopsis())),
                "{}: {} not in {usage}",
                command.name,
                option.long
            );
            assert!(
                options.contains(&format!("\n  {}", option.entry()))
                    || options.starts_with(&format!("  {}", option.entry())),
                "{}: {}",
                command.name,
                option.long
            );
        }
        for line in options.lines().take_while(|l| !l.is_empty()) {
            assert!(line.starts_with("  "), "{}: option line not indented: {line:?}", command.name);
        }
        assert!(help.contains(&format!("\nExamples:\n  fleet {}", command.name)), "{help}");
        assert!(help.lines().all(|l| l.len() <= 100), "{help}");
    }
    let deploy = stdout(&fleet(&["help", "deploy"]));
    for option in [
        "--confirm-timeout SECS",
        "--no-magic-rollback",
        "--build-on-target",
        "--builders SPEC",
        "--substitute-on-destination",
    ] {
        assert!(deploy.contains(&format!("[{option}]")), "deploy's usage lacks {option}: {deploy}");
    }
    assert!(deploy.contains("\n  -- ARGS...         Pass ARGS on to nix"), "{deploy}");
    assert!(deploy.contains("\n  --flake REF        Flake to build from"), "{deploy}");
}

#[test]
fn version_names_the_release_and_the_git_revision() {
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let expect = match revision {
        Some(revision) => format!("fleet {} (git {revision})\n", env!("CARGO_PKG_VERSION")),
        None => format!("fleet {}\n", env!("CARGO_PKG_VERSION")),
    };
    for flag in ["--version", "-V"] {
        let out = fleet(&[flag]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        assert_eq!(stdout(&out), expect, "{flag}");
    }
}

#[test]
fn a_mistyped_command_or_option_gets_one_suggestion_and_one_hint() {
    assert_eq!(
        usage_error(&["deplyo"]),
        "error: unknown command `deplyo`; did you mean `deploy`?\n(see `fleet help`)\n"
    );
    assert_eq!(
        usage_error(&["help", "stauts"]),
        "error: unknown command `stauts`; did you mean `status`?\n(see `fleet help`)\n"
    );
    assert_eq!(
        usage_error(&["deploy", "--dry-rn"]),
        "error: unexpected argument `--dry-rn`; did you mean `--dry-run`?\n(see `fleet help deploy`)\n"
    );
    assert_eq!(
        usage_error(&["deploy", "--show-trace"]),
        "error: unexpected argument `--show-trace`; nix's own flags go after `--`, e.g. `deploy -- --show-trace`\n\
         (see `fleet help deploy`)\n"
    );
    assert_eq!(
        usage_error(&["build", "--dry-run"]),
        "error: unexpected argument `--dry-run`; `build` does not take it (`deploy`, `rollback`, `exec` do)\n(see `fleet help build`)\n"
    );
    assert_eq!(
        usage_error(&["status", "--no-such"]),
        "error: unexpected argument `--no-such`\n(see `fleet help status`)\n"
    );
    assert_eq!(
        usage_error(&["graph", "--dot=yes"]),
        "error: --dot takes no value\n(see `fleet help graph`)\n"
    );
}

/// Pins that a selection naming nothing gets the hint every usage error has.
#[test]
fn status_with_an_unknown_host_is_a_usage_error_with_the_hint() {
    let fixture = Fixture::create(&scratch("unknown_host").join("flake"), "root@127.0.0.1:9").unwrap();
    let shown = usage_error(&["status", "--flake", &fixture.flake_ref(), "--host", "nope"]);
    assert_eq!(shown, "error: `nope` is not a host (known: vps-arm)\n(see `fleet help status`)\n");
}

#[test]
fn arguments_after_double_dash_reach_nix() {
    let mut fixture = Fixture::create(&scratch("nix_args").join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_version("test-container", &format!("nix-args-{}", std::process::id())).unwrap();
    let flake = fixture.flake_ref();
    // nix's own setting, given after `--`, wins over the driver's --max-jobs:
    // with no build slots and no builders, nix refuses to build.
    let out = fleet(&["build", "--flake", &flake, "--container", "test-container", "--", "--max-jobs", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("unable to start any build"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // A flag nix does not know reaches it, and it says so.
    let out =
        fleet(&["build", "--flake", &flake, "--container", "test-container", "--", "--no-such-nix-flag"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("unrecognised flag '--no-such-nix-flag'"), "{}", stderr(&out));
    // Flags both evaluation and build take pass through to a good build.
    let out = fleet(&[
        "build",
        "--flake",
        &flake,
        "--container",
        "test-container",
        "--",
        "--show-trace",
        "--option",
        "cores",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("test-container /nix/store/"), "{}", stdout(&out));
    assert_eq!(
        usage_error(&["rollback", "--", "--show-trace"]),
        "error: `rollback` passes no arguments to nix; `--` is not an option of it\n(see `fleet help rollback`)\n"
    );
}

#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    let fixture = Fixture::create(&scratch("closed_pipe").join("flake"), "root@127.0.0.1:9").unwrap();
    for args in [vec!["graph", "--dot", "--flake", &fixture.flake_ref()], vec!["help", "deploy"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args(&args)
            .envs(fleet_testbed::nix_env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the program writes anything.
        drop(child.stdout.take());
        let mut shown = String::new();
        child.stderr.take().unwrap().read_to_string(&mut shown).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {shown}");
        assert!(shown.is_empty(), "{args:?}: {shown}");
    }
}

/// Runs `fleet` completion in bash with the generated script loaded, for the
/// words typed so far (the last one being completed).
fn bash_complete(script: &Utf8PathBuf, words: &[&str]) -> Vec<String> {
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{script}'; COMP_WORDS=({}); COMP_CWORD={}; _fleet; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

#[test]
fn bash_completes_commands_options_and_values_from_the_table() {
    let dir = scratch("completions");
    std::fs::create_dir_all(dir.join("flakes/one")).unwrap();
    let script = dir.join("fleet.bash");
    let out = fleet(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&script, &out.stdout).unwrap();
    fleet_testbed::ensure_programs(&[("shellcheck", "shellcheck")], true, &mut |l| eprintln!("{l}")).unwrap();
    let lint = Command::new("shellcheck").args(["-s", "bash", script.as_str()]).output().unwrap();
    assert!(lint.status.success(), "shellcheck: {}", String::from_utf8_lossy(&lint.stdout));
    assert_eq!(bash_complete(&script, &["fleet", "dep"]), ["deploy"]);
    assert_eq!(bash_complete(&script, &["fleet", "--v"]), ["--version"]);
    assert_eq!(bash_complete(&script, &["fleet", "deploy", "--dry"]), ["--dry-run"]);
    assert_eq!(bash_complete(&script, &["fleet", "deploy", "--sub"]), ["--substitute-on-destination"]);
    assert_eq!(bash_complete(&script, &["fleet", "build", "--dry"]), Vec::<String>::new());
    assert_eq!(bash_complete(&script, &["fleet", "completions", ""]), ["bash", "zsh", "fish"]);
    assert_eq!(bash_complete(&script, &["fleet", "help", "ro"]), ["rollback"]);
    let flakes = format!("{dir}/flakes/o");
    assert_eq!(
        bash_complete(&script, &["fleet", "deploy", "--flake", &flakes]),
        [format!("{dir}/flakes/one")]
    );
    assert_eq!(bash_complete(&script, &["fleet", "deploy", "--host", "--"]), Vec::<String>::new());
    assert_eq!(bash_complete(&script, &["fleet", "deploy", "--", "--dr"]), Vec::<String>::new());
    // Node names and tags come from the flake typed so far, through `graph --names`.
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_tags("vps-arm", &["prod"]).unwrap();
    fixture.set_tags("nannuo-bot", &["web", "chat"]).unwrap();
    let flake = fixture.flake_ref();
    let fleet_bin = env!("CARGO_BIN_EXE_fleet");
    assert_eq!(
        bash_complete(&script, &[fleet_bin, "deploy", "--flake", &flake, "--container", ""]),
        ["@chat", "@web", "bgs-backend", "nannuo-bot", "test-container"]
    );
    assert_eq!(
        bash_complete(&script, &[fleet_bin, "status", "--flake", &flake, "--host", ""]),
        ["@prod", "vps-arm"]
    );
    assert_eq!(
        bash_complete(&script, &[fleet_bin, "build", "--flake", &flake, "--container", "n"]),
        ["nannuo-bot"]
    );
    let every: Vec<String> = bash_complete(&script, &["fleet", "status", "--"]);
    let expect: Vec<&str> = COMMANDS
        .iter()
        .find(|c| c.name == "status")
        .unwrap()
        .options
        .iter()
        .map(|o| o.long)
        .chain(["--help"])
        .collect();
    assert_eq!(every, expect);
    assert_eq!(
        usage_error(&["completions", "tcsh"]),
        "error: no completions for `tcsh`; the shells are bash, zsh, fish\n(see `fleet help completions`)\n"
    );
}

#[test]
fn zsh_and_fish_load_their_scripts() {
    fleet_testbed::ensure_programs(&[("zsh", "zsh"), ("fish", "fish")], true, &mut |l| eprintln!("{l}"))
        .expect("zsh and fish are installed");
    let dir = scratch("completions_zsh_fish");
    std::fs::create_dir_all(&dir).unwrap();
    for shell in ["zsh", "fish"] {
        let out = fleet(&["completions", shell]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(dir.join(format!("fleet.{shell}")), &out.stdout).unwrap();
    }
    let zsh = Command::new("zsh").args(["-n", dir.join("fleet.zsh").as_str()]).output().unwrap();
    assert!(zsh.status.success(), "zsh -n: {}", String::from_utf8_lossy(&zsh.stderr));
    assert!(std::fs::read_to_string(dir.join("fleet.zsh")).unwrap().starts_with("#compdef fleet\n"));
    // fish completes for real: `complete -C` asks it what it would offer.
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_fleet")).parent().unwrap().display().to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let fish = |line: &str| {
        let program = format!("source {}; complete -C '{line}'", dir.join("fleet.fish"));
        let out = Command::new("fish")
            .args(["--no-config", "-c", &program])
            .env("PATH", &path)
            .envs(fleet_testbed::nix_env())
            .output()
            .unwrap();
        assert!(out.status.success(), "fish: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(fish("fleet dep"), ["deploy"]);
    assert!(
        fish("fleet deploy --dry").contains(&"--dry-run".to_string()),
        "{:?}",
        fish("fleet deploy --dry")
    );
    assert_eq!(fish("fleet completions "), ["bash", "fish", "zsh"]);
    let mut fixture = Fixture::create(&dir.join("flake"), "root@127.0.0.1:9").unwrap();
    fixture.set_tags("nannuo-bot", &["web"]).unwrap();
    let mut nodes = fish(&format!("fleet deploy --flake {} --container ", fixture.flake_ref()));
    nodes.sort();
    assert_eq!(nodes, ["@web", "bgs-backend", "nannuo-bot", "test-container"]);
}
