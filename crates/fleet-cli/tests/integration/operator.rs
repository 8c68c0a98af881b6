//! What operators of colmena, deploy-rs and nh reach for, on the testbed:
//! `deploy --goal`, `deploy --ask`, `rollback` to existing generations and
//! `rollback --to N` (one node only; a rollback of every node asks), and
//! `exec`. Each asserts its effect on the target (its profiles, generations
//! and activation log), not only its exit status.

use crate::common;

use std::io::Write;
use std::process::Command;

use common::{stderr, stdout, Bed};
use fleet_testbed::fixture_profile;

/// The activations since `from`, as `NODE ACTION PATH` lines.
fn activations_since(bed: &Bed, from: usize) -> Vec<String> {
    let records = bed.testbed.activations().unwrap();
    records[from..].iter().map(|r| format!("{} {} {}", r.node, r.action, r.path)).collect::<Vec<_>>()
}

/// Runs `fleet ARGS...` on the bed and fails the test unless it succeeds.
fn ok(bed: &Bed, args: &[&str]) -> String {
    let out = bed.fleet(args);
    assert!(out.status.success(), "{args:?}:\n{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn each_goal_does_what_nixos_rebuild_means() {
    let mut bed = Bed::new("operator", "goals");
    ok(&bed, &["deploy"]);
    let (host_v1, container_v1) =
        (bed.profile_of("vps-arm").unwrap(), bed.profile_of("test-container").unwrap());
    for node in ["vps-arm", "test-container"] {
        bed.fixture.set_version(node, "2-goals").unwrap();
    }
    let host_v2 = bed.fixture.system_path("vps-arm").unwrap();
    let container_v2 = bed.fixture.system_path("test-container").unwrap();
    let profiles = || (bed.profile_of("vps-arm").unwrap(), bed.profile_of("test-container").unwrap());

    // dry-activate: the new systems' own dry-activate runs; no profile moves.
    let log = bed.testbed.activations().unwrap().len();
    let out = ok(&bed, &["deploy", "--goal", "dry-activate"]);
    assert!(out.contains("4 nodes: 2 dry-activated, 2 unchanged"), "{out}");
    assert_eq!(
        activations_since(&bed, log),
        [format!("vps-arm dry-activate {host_v2}"), format!("test-container dry-activate {container_v2}")]
    );
    assert_eq!(profiles(), (host_v1.clone(), container_v1.clone()));

    // test: activated now (the container's from inside it), the profiles stay.
    let log = bed.testbed.activations().unwrap().len();
    let out = ok(&bed, &["deploy", "--goal", "test"]);
    assert!(out.contains("4 nodes: 2 tested, 2 unchanged"), "{out}");
    assert_eq!(
        activations_since(&bed, log),
        [format!("vps-arm test {host_v2}"), format!("test-container test {container_v2}")]
    );
    assert_eq!(profiles(), (host_v1.clone(), container_v1.clone()));

    // boot: the profiles move; the host's boot runs, nothing is activated.
    let log = bed.testbed.activations().unwrap().len();
    let out = ok(&bed, &["deploy", "--goal", "boot"]);
    assert!(out.contains("4 nodes: 2 set for boot, 2 unchanged"), "{out}");
    assert_eq!(activations_since(&bed, log), [format!("vps-arm boot {host_v2}")]);
    assert_eq!(profiles(), (host_v2.clone(), container_v2.clone()));
    assert!(bed.state("pending/test-container").exists(), "profile and running system differ");
    let table = ok(&bed, &["status", "--container", "test-container"]);
    assert!(
        table.contains("not switched in full (unfinished, or --goal boot or test): deploy to switch"),
        "{table}"
    );

    // A switch afterwards activates even though the profiles already point
    // at the new systems, and leaves nothing pending.
    let log = bed.testbed.activations().unwrap().len();
    ok(&bed, &["deploy"]);
    assert_eq!(
        activations_since(&bed, log),
        [format!("vps-arm switch {host_v2}"), format!("test-container test {container_v2}")]
    );
    assert!(!bed.state("pending/test-container").exists());
    assert_eq!(
        bed.testbed.generations(&fixture_profile("test-container")),
        2,
        "boot made generation 2, switch none"
    );
}

#[test]
fn test_of_a_stopped_container_is_refused_and_a_bad_goal_is_a_usage_error() {
    let mut bed = Bed::new("operator", "goal_refused");
    ok(&bed, &["deploy"]);
    bed.fixture.set_version("test-container", "2-goal-refused").unwrap();
    std::fs::remove_file(bed.testbed.dir().join("running/test-container")).unwrap();
    let before = bed.snapshot();
    let out = bed.fleet(&["deploy", "--goal", "test", "--container", "test-container"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out)
        .contains("container@test-container is not running: test activates a running container only"));
    assert!(stdout(&out).contains("nothing was changed"), "{}", stdout(&out));
    assert_eq!(bed.snapshot().0, before.0);
    assert_eq!(bed.snapshot().1, before.1, "nothing activated");

    let out = bed.fleet(&["deploy", "--goal", "reboot"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --goal: `reboot` is not a goal; use one of switch, boot, test, dry-activate; to reboot \
         after the deploy, add --reboot (reboots when needed) or --reboot-always\n\
         (see `fleet help deploy`)\n"
    );
}

#[test]
fn rollbacks_walk_back_through_existing_generations_and_to_any_one() {
    let mut bed = Bed::new("operator", "rollback_to");
    let mut systems = Vec::new();
    for version in ["1", "2", "3"] {
        bed.fixture.set_version("test-container", &format!("{version}-rollback-to")).unwrap();
        ok(&bed, &["deploy", "--container", "test-container"]);
        systems.push(bed.profile_of("test-container").unwrap());
    }
    let link = || {
        std::fs::read_link(bed.testbed.dir().join(fixture_profile("test-container").trim_start_matches('/')))
            .unwrap()
    };
    assert_eq!(link().to_str(), Some("system-3-link"));

    let args = ["rollback", "--no-magic-rollback", "--container", "test-container"];
    ok(&bed, &args);
    assert_eq!(bed.profile_of("test-container").as_ref(), Some(&systems[1]));
    assert_eq!(link().to_str(), Some("system-2-link"), "the profile moved to generation 2");
    ok(&bed, &args);
    assert_eq!(
        bed.profile_of("test-container").as_ref(),
        Some(&systems[0]),
        "a second rollback goes further back"
    );
    assert_eq!(link().to_str(), Some("system-1-link"));
    let out = bed.fleet(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("has no earlier generation to roll back to (it has 1, 2, 3)"),
        "{}",
        stdout(&out)
    );

    let log = bed.testbed.activations().unwrap().len();
    ok(&bed, &["rollback", "--no-magic-rollback", "--container", "test-container", "--to", "3"]);
    assert_eq!(link().to_str(), Some("system-3-link"));
    assert_eq!(activations_since(&bed, log), [format!("test-container test {}", systems[2])]);
    assert_eq!(
        bed.testbed.generations(&fixture_profile("test-container")),
        3,
        "no rollback made a generation"
    );

    // A rollback whose switch fails moves the profile back to the generation
    // it was on, again making none (the stand-in's reload fails both ways).
    bed.testbed.set_fault("container@test-container", true).unwrap();
    let out = bed.fleet(&["rollback", "--no-magic-rollback", "--container", "test-container", "--to", "1"]);
    bed.testbed.set_fault("container@test-container", false).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("switching to"), "{}", stdout(&out));
    assert_eq!(link().to_str(), Some("system-3-link"));
    assert_eq!(bed.testbed.generations(&fixture_profile("test-container")), 3);

    let before = bed.snapshot();
    let out = bed.fleet(&["rollback", "--container", "test-container", "--to", "7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!(
            "{} has no generation 7 to roll back to (it has 1, 2, 3); nothing was changed",
            fixture_profile("test-container")
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(bed.snapshot(), before);
    let out = bed.fleet(&["rollback", "--to", "zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: --to takes a generation number (as `status` shows it), not `zero`")
    );

    // `status` shows the generation a rollback moved to.
    let status = ok(&bed, &["status", "--container", "test-container"]);
    let row = status.lines().find(|l| l.starts_with("test-container ")).unwrap_or_default();
    assert!(row.contains(" 3 (20"), "generation 3 with its date: {status}");

    // What is refused before anything changes: --to with more than one
    // node, a rollback of every node or --ask without a terminal.
    let out = bed.fleet(&["rollback", "--host", "vps-arm", "--to", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "error: --to 1 takes exactly one node, and 4 are selected (vps-arm, bgs-backend, \
             test-container, nannuo-bot): generation numbers are each profile's own"
        ),
        "{}",
        stderr(&out)
    );
    let out = bed.fleet(&["rollback"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("this rolls back every node, and stdin is no terminal"),
        "{}",
        stderr(&out)
    );
    let out = bed.fleet(&["rollback", "--container", "test-container", "--ask"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = ok(&bed, &["rollback", "--container", "test-container", "--to", "1", "--dry-run"]);
    assert_eq!(out, "would roll back 1 nodes:\n  test-container -> generation 1\n");
    assert_eq!(bed.snapshot(), before, "nothing was rolled back");
}

#[test]
fn ask_is_refused_without_a_terminal_unless_yes_answers_it() {
    let bed = Bed::new("operator", "ask");
    let before = bed.snapshot();
    let out = bed.fleet(&["deploy", "--ask"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --ask needs a terminal to ask on, and stdin is not one; pass --yes to deploy without asking\n\
         (see `fleet help deploy`)\n"
    );
    assert_eq!(bed.snapshot(), before, "nothing changed");

    let out = ok(&bed, &["deploy", "--ask", "--yes"]);
    assert!(out.contains("vps-arm (new: ") || out.contains("vps-arm ("), "the diffs come first: {out}");
    assert!(out.contains("4 nodes: 4 activated"), "{out}");
    assert_eq!(bed.profile_of("test-container"), bed.fixture.system_path("test-container").ok());
}

/// `fleet deploy --ask` in a pseudo-terminal (util-linux's `script`), with
/// `answer` typed in.
fn ask_on_a_terminal(bed: &Bed, answer: &str) -> String {
    let mut child = common::in_terminal(&[
        "deploy",
        "--ask",
        "--container",
        "test-container",
        "--flake",
        &bed.fixture.flake_ref(),
        "--ssh-option",
        &bed.testbed.ssh_options().join(" "),
    ]);
    // The terminal holds the typed line until the question reads it.
    child.stdin.as_mut().unwrap().write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let screen = stdout(&out);
    assert!(out.status.success(), "{screen}");
    screen
}

#[test]
fn ask_on_a_terminal_deploys_only_after_yes() {
    let bed = Bed::new("operator", "ask_pty");
    let before = bed.snapshot();
    let screen = ask_on_a_terminal(&bed, "n\n");
    assert!(screen.contains("Deploy these changes? [y/N]"), "{screen}");
    assert!(screen.contains("Not deployed: nothing was changed."), "{screen}");
    assert_eq!(bed.snapshot().0, before.0);
    assert_eq!(bed.snapshot().1, before.1);

    let screen = ask_on_a_terminal(&bed, "y\n");
    assert!(screen.contains("Deploy these changes? [y/N]"), "{screen}");
    assert!(screen.contains("activated"), "{screen}");
    assert_eq!(bed.profile_of("test-container"), bed.fixture.system_path("test-container").ok());
}

/// `fleet exec --flake FIXTURE --ssh-option ... -- COMMAND...` on the bed.
fn exec(bed: &Bed, command: &[&str]) -> std::process::Output {
    bed.command(&["exec"]).arg("--").args(command).output().unwrap()
}

#[test]
fn exec_runs_on_every_node_with_hostile_values_kept_as_arguments() {
    let bed = Bed::new("operator", "exec");
    ok(&bed, &["deploy"]);
    let pwned = bed.dir.join("pwned");
    let substitution = format!("$(touch {pwned})");
    let out = exec(&bed, &["printf", "%s\\n", "it's", &substitution, "a;b", "\"q\" `id`"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let expected = format!(
        "vps-arm        | it's\nvps-arm        | {substitution}\nvps-arm        | a;b\nvps-arm        | \"q\" `id`\n"
    );
    let host_lines: String =
        text.lines().filter(|l| l.starts_with("vps-arm ")).map(|l| format!("{l}\n")).collect();
    assert_eq!(host_lines, expected, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("test-container | ")).count(), 4, "{text}");
    assert!(!pwned.exists(), "no value reached a shell");
    assert!(text.contains("exec: 4 nodes: 4 ok, 0 failed"), "{text}");

    // Each node's exit status; the host runs directly, a container's command
    // inside it (the testbed's nixos-container says which in CONTAINER).
    let out = exec(
        &bed,
        &[
            "sh",
            "-c",
            "echo \"in ${CONTAINER:-the host}\"; [ \"${CONTAINER:-}\" != test-container ] || exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("vps-arm        | in the host\n"), "{text}");
    assert!(text.contains("test-container | in test-container\n"), "{text}");
    assert!(text.contains("exec: 4 nodes: 3 ok, 1 failed"), "{text}");
    assert!(
        text.contains("  test-container  exit 3\n") && text.contains("  vps-arm         exit 0\n"),
        "{text}"
    );

    let out = bed.fleet(&["exec", "--container", "test-container"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: exec needs the command to run after `--`"), "{}", stderr(&out));
}

/// Pins one connection and a bounded pool per host: a session per node at
/// once opened a connection each (31 handshakes, which sshd's default
/// `MaxStartups` 10:30:100 drops at random) or, over one connection, went
/// past its `MaxSessions` (10 by default).
#[test]
fn exec_reaches_30_containers_on_one_host_under_sshds_default_session_limits() {
    fleet_testbed::ensure_programs(fleet_testbed::TESTBED_PROGRAMS, true, &mut |l| eprintln!("{l}")).unwrap();
    let dir = common::scratch("operator", "exec_30");
    let testbed = fleet_testbed::Testbed::start(&dir.join("target")).unwrap();
    // sshd's own limits, not the testbed's higher MaxStartups.
    let config_path = testbed.dir().join("sshd_config");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config: String =
        config.lines().filter(|l| !l.starts_with("MaxStartups")).map(|l| format!("{l}\n")).collect();
    assert!(!config.contains("MaxSessions") && !config.contains("MaxStartups"), "{config}");
    std::fs::write(&config_path, config).unwrap();
    testbed.stop_sshd();
    testbed.start_sshd().unwrap();
    let names: Vec<String> = (1..=30).map(|i| format!("ct-{i:02}")).collect();
    let spec: Vec<(&str, &[&str])> = names.iter().map(|name| (name.as_str(), &[][..])).collect();
    let fixture = fleet_testbed::Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec).unwrap();
    // Each command lasts a second, so that the sessions overlap.
    let out = Command::new(env!("CARGO_BIN_EXE_fleet"))
        .args(["exec", "--flake", &fixture.flake_ref(), "--ssh-option", &testbed.ssh_options().join(" ")])
        .args(["--", "sh", "-c", "sleep 1; echo \"in ${CONTAINER:-the host}\""])
        .envs(fleet_testbed::nix_env())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for name in &names {
        assert!(text.contains(&format!("{name:7} | in {name}\n")), "{name}: {text}");
    }
    assert!(text.contains("exec: 31 nodes: 31 ok, 0 failed"), "{text}");
}
