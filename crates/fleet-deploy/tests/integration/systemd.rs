//! The pipeline against a testbed whose init is real systemd (systemd 252 in
//! systemd-nspawn): container units written like nixpkgs' nixos-containers
//! module's from the repository's mkContainer, the host switch's unit handling
//! as switch-to-configuration-ng does it, real `systemctl` and `systemd-run`.

use crate::common;

use common::*;
use std::time::Duration;

use fleet_testbed::FIXTURE_HOST;

/// A host switch starts `machines.target`, which wants
/// every new container's unit; the per-container profile is set only after
/// the host, so that start must be skipped (ConditionPathExists), not fail
/// and roll the host back.
#[test]
fn adding_containers_to_the_host_does_not_roll_it_back() {
    let bed = Bed::new_systemd("systemd_first_deploy");
    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"],
        "{summary:#?}"
    );
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );
    let actions = bed.actions_since(0);
    assert_eq!(actions[0], format!("{FIXTURE_HOST} switch"), "{actions:?}");
    assert_eq!(
        actions.len(),
        4,
        "one switch, then each container started once, by the orchestrator: {actions:?}"
    );
    for report in &summary.nodes[1..] {
        let unit = format!("container@{}.service", report.node);
        let state = bed.testbed.in_target(&["systemctl", "is-active", &unit]).unwrap();
        assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "active", "{unit}");
    }
}

/// The job's timeout kills only the `systemd-run`
/// client; the switch's unit is PID 1's and would go on beside the rollback.
/// It must be stopped, and be gone, before the rollback's switch starts.
#[test]
fn a_switch_past_its_timeout_is_stopped_before_the_rollback() {
    let mut bed = Bed::new_systemd("systemd_switch_timeout");
    bed.deploy(&[]);
    let before = bed.testbed.activations().unwrap();
    bed.fixture.set_version(FIXTURE_HOST, "2-systemd_switch_timeout").unwrap();
    bed.fixture.set_switch_seconds(FIXTURE_HOST, 120).unwrap();
    bed.switch_timeout = Some(Duration::from_secs(3));

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(outcomes(&summary)[0], "vps-arm=rolled back", "{summary:#?}");
    let units =
        bed.testbed.in_target(&["systemctl", "list-units", "--plain", "--no-legend", "fleet-*"]).unwrap();
    let units = String::from_utf8_lossy(&units.stdout).into_owned();
    let left: Vec<&str> = units.lines().filter(|l| !l.starts_with("fleet-testbed-sshd")).collect();
    assert!(left.is_empty(), "the timed-out switch's unit is gone once the job ends: {left:?}");

    let records = bed.testbed.activations().unwrap().split_off(before.len());
    let report = &summary.nodes[0];
    let switched: Vec<(&str, Option<&String>)> =
        records.iter().map(|r| (r.action.as_str(), Some(&r.path))).collect();
    assert_eq!(switched, [("switch", report.new.as_ref()), ("switch", report.old.as_ref())], "{records:?}");
    let log = std::fs::read_to_string(state(&bed.testbed, "jobs/vps-arm.log")).unwrap();
    let job = &log[log.rfind(" job: ").unwrap()..];
    let stopped = job.find("it was stopped").unwrap_or_else(|| panic!("the job stopped the switch: {job}"));
    let rolling_back = job.find("rolling back to").unwrap_or_else(|| panic!("the job rolled back: {job}"));
    assert!(stopped < rolling_back, "stopped before the rollback: {job}");
}

/// With `Requires=`, systemd restarts nannuo-bot along
/// with bgs-backend, unchecked and on whatever its profile holds. With
/// `Wants=` and `After=` only the container whose unit changed restarts, and
/// the orchestrator checks it.
#[test]
fn restarting_a_container_does_not_restart_the_containers_that_depend_on_it() {
    let mut bed = Bed::new_systemd("systemd_restart_cascade");
    bed.deploy(&[]);
    let main_pid = |bed: &Bed, node: &str| {
        let unit = format!("container@{node}.service");
        let out =
            bed.testbed.in_target(&["systemctl", "show", "--property=MainPID", "--value", &unit]).unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let nannuo_before = main_pid(&bed, "nannuo-bot");
    let before = bed.testbed.activations().unwrap().len();
    bed.fixture.set_unit_revision("bgs-backend", 2).unwrap();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=restarted", "test-container=unchanged", "nannuo-bot=unchanged"]
    );
    let actions = bed.actions_since(before);
    assert_eq!(actions, ["vps-arm switch", "bgs-backend start"], "nothing else was restarted");
    assert_eq!(main_pid(&bed, "nannuo-bot"), nannuo_before, "nannuo-bot kept running");
}

/// nixos-containers' `timeoutStartSec` (default "1min")
/// bounds a container's reload too; systemd killed a 90 s switch that the
/// job allows (240 s) and the container was rolled back.
#[test]
fn a_container_switch_of_90_seconds_succeeds_with_the_default_timeout() {
    let mut bed = Bed::new_systemd("systemd_slow_container_switch");
    bed.deploy(&[]);
    bed.fixture.set_version("test-container", "2-systemd_slow_container_switch").unwrap();
    bed.fixture.set_switch_seconds("test-container", 90).unwrap();

    let (summary, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&summary), ["test-container=activated"], "{summary:#?}");
    assert_eq!(bed.profile_of("test-container"), summary.nodes[0].new);
}

/// A drop-in under /run changes what a container's unit
/// runs, and comparing the old and the new host system cannot see it; the
/// record the unit wrote when it started can.
#[test]
fn a_drop_in_added_since_a_container_started_restarts_it_at_the_next_host_switch() {
    let mut bed = Bed::new_systemd("systemd_drop_in");
    bed.deploy(&[]);
    let drop_in = "mkdir -p /run/systemd/system/container@bgs-backend.service.d && \
                   printf '[Service]\\nEnvironment=FLEET_TEST=1\\n' \
                   >/run/systemd/system/container@bgs-backend.service.d/test.conf && systemctl daemon-reload";
    let added = bed.testbed.in_target(&["sh", "-c", drop_in]).unwrap();
    assert!(added.status.success(), "{added:?}");
    let before = bed.testbed.activations().unwrap().len();
    bed.fixture.set_version(FIXTURE_HOST, "2-systemd_drop_in").unwrap();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=restarted", "test-container=unchanged", "nannuo-bot=unchanged"]
    );
    let actions = bed.actions_since(before);
    assert_eq!(actions, ["vps-arm switch", "bgs-backend start"]);
}

/// After a host switch made without the orchestrator
/// (here its own `switch-to-configuration`, as `nh os switch` runs it), the
/// deploy finds the host unchanged; a container still on its earlier unit
/// must be restarted all the same.
#[test]
fn after_an_out_of_band_host_switch_a_container_on_its_earlier_unit_is_restarted() {
    let mut bed = Bed::new_systemd("systemd_out_of_band");
    bed.deploy(&[]);
    bed.fixture.set_unit_revision("bgs-backend", 2).unwrap();
    let system = switch_host_out_of_band(&bed);
    assert_eq!(bed.profile_of(FIXTURE_HOST).as_deref(), Some(system.as_str()));
    let before = bed.testbed.activations().unwrap().len();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=unchanged", "bgs-backend=restarted", "test-container=unchanged", "nannuo-bot=unchanged"]
    );
    let actions = bed.actions_since(before);
    assert_eq!(actions, ["bgs-backend start"]);
}

/// Builds the fixture's host system, puts it in the target's store and
/// switches the host to it on the target, as `nh os switch` does: profile,
/// then `switch-to-configuration switch`. Returns the system.
fn switch_host_out_of_band(bed: &Bed) -> String {
    let system = bed.fixture.system_path(FIXTURE_HOST).unwrap();
    let attribute = format!(
        "{}#nixosConfigurations.{FIXTURE_HOST}.config.system.build.toplevel",
        bed.fixture.flake_ref()
    );
    let store = format!("local?root={}", bed.testbed.dir());
    for args in [
        vec!["build", "--no-link", attribute.as_str()],
        vec!["copy", "--no-check-sigs", "--to", &store, &system],
    ] {
        let out = std::process::Command::new("nix")
            .args(["--extra-experimental-features", "nix-command flakes"])
            .args(&args)
            .envs(fleet_testbed::nix_env())
            .output()
            .unwrap();
        assert!(out.status.success(), "nix {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = bed.testbed.dir();
    let switch = format!(
        "NIX_CONF_DIR={dir}/etc/nix nix-env -p /nix/var/nix/profiles/system --set {system} && \
         TESTBED_DIR={dir} {system}/bin/switch-to-configuration switch"
    );
    let out = bed.testbed.in_target(&["sh", "-c", &switch]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    system
}

/// The light stand-ins (`fixture/systemctl`, `systemd-run`) against real
/// systemd: the same deploys on both testbeds activate the same nodes the
/// same way: a first deploy (starts), a new container system (a reload:
/// `test`), a changed container unit (a restart, which the real unit's
/// stand-in init records as a start). Independent nodes activate at once, so
/// each deploy's activations are compared as a sorted list; graph order is
/// the other tests' concern.
#[test]
fn the_light_stand_ins_activate_as_real_systemd_does() {
    let scenario = |mut bed: Bed| {
        let mut steps = Vec::new();
        let mut deploy = |bed: &Bed| {
            let (summary, _) = bed.deploy(&[]);
            let before: usize =
                steps.iter().map(|(_, actions): &(Vec<String>, Vec<String>)| actions.len()).sum();
            let mut actions: Vec<String> = bed.testbed.activations().unwrap()[before..]
                .iter()
                .map(|r| format!("{} {}", r.node, if r.action == "restart" { "start" } else { &r.action }))
                .collect();
            actions.sort();
            steps.push((outcomes(&summary), actions));
        };
        deploy(&bed);
        bed.fixture.set_version("nannuo-bot", "2-stand-ins").unwrap();
        deploy(&bed);
        bed.fixture.set_unit_revision("test-container", 2).unwrap();
        deploy(&bed);
        steps
    };
    let light = scenario(Bed::new("stand_ins_light"));
    let real = scenario(Bed::new_systemd("stand_ins_systemd"));
    assert_eq!(light, real);
}

/// For a container, the job's timeout kills the `systemctl
/// reload` client, and the reload job (the container's switch) would go on;
/// cancelling the job would not end it either. The container is stopped,
/// then started again on its old system.
#[test]
fn a_container_switch_past_its_timeout_is_stopped_before_the_rollback() {
    let mut bed = Bed::new_systemd("systemd_container_switch_timeout");
    bed.deploy(&[]);
    let before = bed.testbed.activations().unwrap().len();
    bed.fixture.set_version("test-container", "2-systemd_container_switch_timeout").unwrap();
    bed.fixture.set_switch_seconds("test-container", 120).unwrap();
    bed.switch_timeout = Some(Duration::from_secs(3));

    let (summary, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&summary), ["test-container=rolled back"], "{summary:#?}");
    let report = &summary.nodes[0];
    let records = bed.testbed.activations().unwrap().split_off(before);
    let switched: Vec<(&str, Option<&String>)> =
        records.iter().map(|r| (r.action.as_str(), Some(&r.path))).collect();
    assert_eq!(switched, [("test", report.new.as_ref()), ("start", report.old.as_ref())], "{records:?}");
    let state = bed
        .testbed
        .in_target(&["systemctl", "show", "--property=ActiveState,ControlPID", "container@test-container"])
        .unwrap();
    let state = String::from_utf8_lossy(&state.stdout).into_owned();
    assert!(
        state.contains("ActiveState=active") && state.contains("ControlPID=0"),
        "no reload left: {state}"
    );
}

/// A change of only `ExecReload` needs no restart (the
/// next reload reads the loaded unit) and, with `X-RestartIfChanged=false`,
/// switch-to-configuration-ng skips the unit: the container keeps running,
/// neither reloaded nor restarted.
#[test]
fn a_change_of_only_exec_reload_neither_reloads_nor_restarts_the_container() {
    let mut bed = Bed::new_systemd("systemd_exec_reload");
    bed.deploy(&[]);
    let before = bed.testbed.activations().unwrap().len();
    bed.fixture.set_reload_revision("bgs-backend", 2).unwrap();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=unchanged", "test-container=unchanged", "nannuo-bot=unchanged"]
    );
    assert_eq!(bed.actions_since(before), ["vps-arm switch"]);
}
