//! `demo`: the main job on a simulated VPS, start to finish.

use std::collections::BTreeSet;

use camino::Utf8PathBuf;
use fleet_deploy::{Kinds, Mode, Plan};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{ensure_programs, Fixture, Testbed, TESTBED_PROGRAMS};

use fleet_cli::{Args, Failure};

const HELP: &str = "\
Deploy an example fleet (a host and three containers) to a simulated VPS on this machine

Usage: {prog} demo [--keep]

Starts a testbed (its own /nix in a private mount namespace, a real sshd on a loopback
port), deploys the fleet, then changes one container, shows what a deploy would
change (a dry run with closure diffs), and deploys again: only that container is
pushed and activated. Installs nix-bin and openssh-server with apt-get when they are
missing and this is Debian as root; otherwise says what to install.

Options:
  --keep   Keep the testbed's folder (the target's /nix, logs, keys) for inspection
";

/// The container the demo changes between its two deploys.
const CHANGED: &str = "nannuo-bot";

/// Runs `demo`.
pub(crate) fn run(mut args: Args) -> Result<(), Failure> {
    if fleet_cli::wants_help(&mut args, HELP) {
        return Ok(());
    }
    let keep = args.flag("--keep");
    args.finish()?;
    ensure_programs(TESTBED_PROGRAMS, true, &mut |line| eprintln!("demo: {line}"))
        .map_err(|e| Failure::Config(e.to_string()))?;

    let dir =
        Utf8PathBuf::from_path_buf(std::env::temp_dir().join(format!("fleet-demo-{}", std::process::id())))
            .map_err(|_| Failure::Config("use the temporary folder: not a UTF-8 path".into()))?;
    let result = demo(&dir);
    if keep {
        eprintln!("demo: kept {dir} (the target's /nix is {dir}/target/nix)");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn demo(dir: &camino::Utf8Path) -> Result<(), Failure> {
    let testbed_failed = |e: fleet_testbed::TestbedError| Failure::Config(format!("set up the testbed: {e}"));
    let testbed = Testbed::start(&dir.join("target")).map_err(testbed_failed)?;
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).map_err(testbed_failed)?;
    println!("A simulated VPS listens at {} (real sshd, its own /nix).", testbed.address());
    println!("The example fleet, from {}/nix/fleet.nix:\n", fixture.dir());

    let nix = Testbed::nix();
    let load = || -> Result<Fleet, Failure> {
        let json = nix
            .eval_json_file(&fixture.dir().join("nix/fleet.nix"))
            .map_err(|e| Failure::Config(format!("read graph data: {e}")))?;
        Fleet::from_json(&json).map_err(|e| Failure::Config(e.to_string()))
    };
    let fleet = load()?;
    for node in fleet.nodes() {
        let deps = fleet.dependencies(&node.name);
        println!(
            "  {:<15} {:<9} after: {}",
            node.name,
            node.kind,
            if deps.is_empty() { "-".into() } else { deps.join(", ") }
        );
    }

    println!("\n== 1. First deploy: everything is new ==");
    let target = testbed.target();
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::Deploy)?;
    let store_before = testbed.store_paths();
    let log_before = testbed.activations().map_err(testbed_failed)?.len();

    println!("\n== 2. Change {CHANGED} (version 1 -> 2, one more package): what would a deploy do? ==");
    fixture.set_version(CHANGED, "2").map_err(testbed_failed)?;
    fixture.add_package(CHANGED, "libopus-1.5.2").map_err(testbed_failed)?;
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::DryRun)?;

    println!("\n== 3. Deploy it ==");
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::Deploy)?;

    let pushed: BTreeSet<String> = testbed.store_paths().difference(&store_before).cloned().collect();
    println!("\nPushed to the target by the second deploy:");
    for path in &pushed {
        println!("  {path}");
    }
    println!("Activated on the target by the second deploy:");
    for record in testbed.activations().map_err(testbed_failed)?.iter().skip(log_before) {
        println!("  {} ({}) {}", record.node, record.action, record.path);
    }
    println!("\nOnly {CHANGED} was pushed and activated; the other nodes were already current.");
    Ok(())
}

fn run_pipeline(
    fleet: &Fleet,
    fixture: &Fixture,
    nix: &fleet_nix::Nix,
    target: &Target,
    mode: Mode,
) -> Result<(), Failure> {
    let kinds = Kinds::standard();
    let plan = Plan::new(fleet, &kinds, &[], &[], &fixture.flake_ref())
        .map_err(|e| Failure::Config(e.to_string()))?;
    let summary = fleet_cli::execute(&plan, nix, mode, Some(target), &[], false)?;
    if summary.success() {
        Ok(())
    } else {
        Err(Failure::NodesFailed)
    }
}
