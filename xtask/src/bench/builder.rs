//! `bench deploy --builder`: a deploy whose builds are spread over this
//! machine and a remote builder (a second testbed, `--builders
//! 'ssh-ng://root@127.0.0.1 SYSTEM KEY 4'`). A host and 20 containers, each
//! build 1 s, all at new versions: once built here alone, once with the
//! builder. Where each system was built is read from the builder's store.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use camino::Utf8Path;
use fleet_cli::CliError;
use fleet_testbed::{skip_bashrc, Fixture, Testbed, FIXTURE_HOST, TESTBED_PROGRAMS};

use super::mixed::{deploy_events, failure, from_testbed};
use super::{prepare, this_program, tidy_up, Machine};

/// How many containers.
const CONTAINERS: usize = 20;
/// How long each container's build takes.
const BUILD_SECONDS: u32 = 1;
/// The builder's slots (the last field of its `--builders` line).
const BUILDER_SLOTS: u32 = 4;

/// One measured cold deploy.
struct Deploy {
    label: &'static str,
    wall: f64,
    /// Container systems found in the builder's store afterwards.
    on_builder: usize,
}

/// Runs the benchmark and prints its figures.
pub(super) fn run() -> Result<(), CliError> {
    let dir = prepare("builder", TESTBED_PROGRAMS)?;
    let fleet = this_program()?;
    eprintln!("bench: builder: starting two testbeds (target, builder) in {dir}");
    let result = tidy_up(&dir, measure(&dir, fleet.as_std_path()));
    let deploys = result?;
    println!(
        "## Builds spread over this machine and a builder: {CONTAINERS} containers, each build {BUILD_SECONDS}s\n"
    );
    println!("| deploy | wall | systems built on the builder | built here |");
    println!("|---|---:|---:|---:|");
    for deploy in &deploys {
        println!(
            "| {} | {:.2}s | {} | {} |",
            deploy.label,
            deploy.wall,
            deploy.on_builder,
            CONTAINERS - deploy.on_builder
        );
    }
    println!("\n- machine: {}", Machine::read().line());
    Ok(())
}

fn measure(dir: &Utf8Path, fleet: &std::path::Path) -> Result<Vec<Deploy>, CliError> {
    let testbed = Testbed::start(&dir.join("target")).map_err(from_testbed)?;
    let builder = Testbed::start(&dir.join("builder")).map_err(from_testbed)?;
    skip_bashrc(&testbed).map_err(from_testbed)?;
    let names: Vec<String> = (1..=CONTAINERS).map(|i| format!("ct-{i:02}")).collect();
    let spec: Vec<(&str, &[&str])> = names.iter().map(|name| (name.as_str(), &[][..])).collect();
    let mut fixture =
        Fixture::create_with(&dir.join("flake"), &testbed.address(), &spec).map_err(from_testbed)?;
    for name in &names {
        fixture.set_build_seconds(name, BUILD_SECONDS).map_err(from_testbed)?;
    }
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let set_versions = |fixture: &mut Fixture, version: &str| -> Result<(), CliError> {
        for name in std::iter::once(FIXTURE_HOST).chain(names.iter().map(String::as_str)) {
            fixture.set_version(name, &format!("{nonce:x}-{version}")).map_err(from_testbed)?;
        }
        Ok(())
    };
    let jobs = ["--jobs".to_string(), (CONTAINERS + 1).to_string()];
    // ssh-ng store URIs take no port; nix hands NIX_SSHOPTS to every ssh it runs.
    let port = builder.address().rsplit_once(':').map(|(_, port)| port.to_string()).unwrap_or_default();
    let ssh_opts =
        format!("-p {port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR");
    let key = builder.dir().join("ssh/id_ed25519");
    let platform = format!("{}-linux", std::env::consts::ARCH);
    let with_builder = [
        jobs.to_vec(),
        vec!["--builders".to_string(), format!("ssh-ng://root@127.0.0.1 {platform} {key} {BUILDER_SLOTS}")],
    ]
    .concat();

    // Seed: base packages on the target, every container running.
    set_versions(&mut fixture, "seed")?;
    deploy_events(dir, 1, fleet, &fixture, &testbed, &jobs, &[])?;
    let mut deploys = Vec::new();
    let measured =
        [(2, "here alone", "alone", &jobs[..]), (3, "here and the builder", "builder", &with_builder[..])];
    for (run, label, version, extra) in measured {
        set_versions(&mut fixture, version)?;
        let systems: Vec<String> = names
            .iter()
            .map(|name| fixture.system_path(name))
            .collect::<Result<_, _>>()
            .map_err(from_testbed)?;
        let started = Instant::now();
        deploy_events(dir, run, fleet, &fixture, &testbed, extra, &[("NIX_SSHOPTS", &ssh_opts)])?;
        let wall = started.elapsed().as_secs_f64();
        let there = builder.store_paths();
        let on_builder = systems.iter().filter(|system| there.contains(*system)).count();
        if run == 3 && on_builder == 0 {
            return Err(failure("read the builder's store", "no system was built there; see the logs"));
        }
        deploys.push(Deploy { label, wall, on_builder });
    }
    Ok(deploys)
}
