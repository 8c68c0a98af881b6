//! `demo`: the main job on a simulated VPS, start to finish.

use std::collections::BTreeSet;

use camino::Utf8PathBuf;
use fleet_deploy::{Kinds, Mode, Plan};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{ensure_programs, Fixture, Testbed, TESTBED_PROGRAMS};

use fleet_cli::{Args, CliError};

/// The container the demo changes between its two deploys.
const CHANGED: &str = "nannuo-bot";

/// Runs `demo`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let keep = args.flag("--keep");
    let stop = args.flag("--stop");
    let dir = args.value("--dir")?.map(Utf8PathBuf::from);
    args.finish()?;
    let temporary = |name: String| {
        Utf8PathBuf::from_path_buf(std::env::temp_dir().join(name)).map_err(|_| {
            CliError::Config("the temporary folder is not a UTF-8 path; set TMPDIR to one that is".into())
        })
    };
    let kept_dir = || dir.clone().map_or_else(|| temporary(KEPT.to_string()), Ok);
    if stop {
        if keep {
            return Err(CliError::Usage("--stop and --keep exclude each other".into()));
        }
        let dir = kept_dir()?;
        let stopped = Testbed::stop_kept(&dir.join("target")).map_err(|e| CliError::Config(e.to_string()))?;
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "demo: {} and removed {dir}",
            if stopped { "stopped the simulated VPS" } else { "nothing was running" }
        );
        return Ok(());
    }
    ensure_programs(TESTBED_PROGRAMS, true, &mut |line| eprintln!("demo: {line}"))
        .map_err(|e| CliError::Config(e.to_string()))?;

    if keep {
        let dir = kept_dir()?;
        if Testbed::stop_kept(&dir.join("target")).map_err(|e| CliError::Config(e.to_string()))? {
            eprintln!("demo: stopped the simulated VPS an earlier `demo --keep` left in {dir}");
        }
        return demo(&dir, true);
    }
    let dir = dir.map_or_else(|| temporary(format!("fleet-demo-{}", std::process::id())), Ok)?;
    let result = demo(&dir, false);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The folder `demo --keep` and `demo --stop` use in the temporary folder.
const KEPT: &str = "fleet-demo";

fn demo(dir: &camino::Utf8Path, keep: bool) -> Result<(), CliError> {
    let testbed_failed = |e: fleet_testbed::TestbedError| CliError::Config(e.to_string());
    let testbed = Testbed::start(&dir.join("target")).map_err(testbed_failed)?;
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).map_err(testbed_failed)?;
    say(&format!("A simulated VPS listens at {} (real sshd, its own /nix).", testbed.address()))?;
    say(&format!("The example fleet, from {}/nix/fleet.nix:\n", fixture.dir()))?;

    let nix = Testbed::nix();
    let load = || -> Result<Fleet, CliError> {
        let json = nix
            .eval_json_file(&fixture.dir().join("nix/fleet.nix"))
            .map_err(|e| CliError::Config(format!("the demo's graph data does not evaluate: {e}")))?;
        Fleet::from_json(&json).map_err(|e| CliError::Config(e.to_string()))
    };
    let fleet = load()?;
    for node in fleet.nodes() {
        let deps = fleet.dependencies(&node.name);
        say(&format!(
            "  {:<15} {:<9} after: {}",
            node.name,
            node.kind,
            if deps.is_empty() { "-".into() } else { deps.join(", ") }
        ))?;
    }

    say("\n== 1. First deploy: everything is new ==")?;
    let target = testbed.target();
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::Deploy)?;
    let store_before = testbed.store_paths();
    let log_before = testbed.activations().map_err(testbed_failed)?.len();

    say(&format!("\n== 2. Change {CHANGED} (version 1 -> 2, one more package): what would a deploy do? =="))?;
    fixture.set_version(CHANGED, "2").map_err(testbed_failed)?;
    fixture.add_package(CHANGED, "libopus-1.5.2").map_err(testbed_failed)?;
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::DryRun)?;

    say("\n== 3. Deploy it ==")?;
    run_pipeline(&fleet, &fixture, &nix, &target, Mode::Deploy)?;

    let pushed: BTreeSet<String> = testbed.store_paths().difference(&store_before).cloned().collect();
    say("\nPushed to the target by the second deploy:")?;
    for path in &pushed {
        say(&format!("  {path}"))?;
    }
    say("Activated on the target by the second deploy:")?;
    for record in testbed.activations().map_err(testbed_failed)?.iter().skip(log_before) {
        say(&format!("  {} ({}) {}", record.node, record.action, record.path))?;
    }
    say(&format!("\nOnly {CHANGED} was pushed and activated; the other nodes were already current."))?;
    if keep {
        say(&kept_text(dir, &fixture, &testbed))?;
        testbed.keep_running();
    }
    Ok(())
}

/// What `demo --keep` prints: the options that reach the simulated VPS, a
/// command to paste, and how to stop it.
fn kept_text(dir: &camino::Utf8Path, fixture: &Fixture, testbed: &Testbed) -> String {
    let flake = fixture.flake_ref();
    let target = testbed.address();
    let ssh = testbed.ssh_options().join(" ");
    let env: Vec<String> = fleet_testbed::nix_env()
        .into_iter()
        .map(|(key, value)| format!("{key}={}", sh_quote(value)))
        .collect();
    let stop = if dir.file_name() == Some(KEPT)
        && dir.parent() == Utf8PathBuf::from_path_buf(std::env::temp_dir()).ok().as_deref()
    {
        "cargo xtask demo --stop".to_string()
    } else {
        format!("cargo xtask demo --stop --dir {}", sh_quote(dir.as_str()))
    };
    format!(
        "\nThe simulated VPS keeps running (its folder: {dir}). Point any command at it with:\n\
         \x20 --flake {}\n\
         \x20 --target {}\n\
         \x20 --ssh-option {}\n\
         For example, with the demo's own Nix configuration:\n\
         \x20 {} cargo xtask status --flake {} --target {} --ssh-option {}\n\
         (status, diff, deploy and rollback take the same options.)\n\
         Stop it with: {stop}",
        sh_quote(&flake),
        sh_quote(&target),
        sh_quote(&ssh),
        env.join(" "),
        sh_quote(&flake),
        sh_quote(&target),
        sh_quote(&ssh),
    )
}

/// `text` as one shell word: bare when that is safe, else in single quotes.
fn sh_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A line on stdout; a closed pipe ends the demo quietly.
fn say(line: &str) -> Result<(), CliError> {
    fleet_cli::print(&format!("{line}\n"))
}

fn run_pipeline(
    fleet: &Fleet,
    fixture: &Fixture,
    nix: &fleet_nix::Nix,
    target: &Target,
    mode: Mode,
) -> Result<(), CliError> {
    let kinds = Kinds::standard();
    let plan = Plan::new(fleet, &kinds, &[], &[], &fixture.flake_ref())
        .map_err(|e| CliError::Config(e.to_string()))?;
    let summary = fleet_cli::execute(&plan, nix, mode, Some(target), (&[], &fleet_nix::Sudo::No))?;
    if summary.success() {
        Ok(())
    } else {
        Err(CliError::NodesFailed)
    }
}
