//! What the target says is data, and a run that lost its lease changes
//! nothing: a container's root writing hostile links into its profile
//! folder, a second deployer taking the lock at the worst moments, a late
//! confirmation, a moved clock, checks that try to outlive their job, and a
//! rollback after an out-of-band `boot`. Each test asserts from the target's
//! profiles, activation log and state files.

use crate::common;

use std::os::unix::fs::symlink;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use camino::Utf8PathBuf;
use common::*;
use fleet_deploy::{AgentSession, Event, Mode, Outcome, Sink, Stage, STATE_DIR};
use fleet_testbed::{wait_until, Testbed, FIXTURE_HOST, HOST_PROFILE};

/// How long this file's waits may take.
const WAIT: Duration = Duration::from_secs(60);

/// A path on the target, as this machine sees it.
fn on_target(testbed: &Testbed, path: &str) -> Utf8PathBuf {
    testbed.dir().join(path.trim_start_matches('/'))
}

fn failure(summary: &fleet_deploy::Summary, node: &str) -> String {
    let report = summary.nodes.iter().find(|n| n.node == node).expect("the node is reported");
    match &report.outcome {
        Outcome::Failed(error) | Outcome::RolledBack(error) => error.to_string(),
        other => panic!("{node} did not fail: {}", other.label()),
    }
}

/// Runs `mode` for `containers` in a thread, failing the test if it takes
/// longer than the file's bound: a probe must end in bounded time.
fn bounded(bed: &Bed, mode: Mode, containers: &[&str]) -> fleet_deploy::Summary {
    let done = Mutex::new(None);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let summary = bed.run(mode, containers, &bed.testbed.target(), None, &Recorder::default());
            *done.lock().unwrap() = Some(summary);
        });
        wait_until("the run ends", WAIT, || done.lock().unwrap().is_some());
    });
    done.into_inner().unwrap().unwrap()
}

/// Links a container's root can make in its own profile folder (nspawn binds
/// `per-container/NAME` read-write): `status` and `rollback` run nothing,
/// forge nothing for another node, end in bounded time, and name the link.
#[test]
fn hostile_links_in_a_containers_profile_folder_are_named_and_run_nothing() {
    let bed = Bed::new("hostile_links");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let host_system = bed.profile_of(FIXTURE_HOST).unwrap();
    let folder = on_target(&bed.testbed, "/nix/var/nix/profiles/per-container/test-container");
    let pwned = on_target(&bed.testbed, "/root/PWNED");
    let activations = bed.activation_order().len();
    // A folder whose name holds a line break and tabs: the old probe printed
    // it raw, making a second line, for the host, that said it ran `forged`.
    let forged = "x\nnode\tvps-arm\t/nix/store/0123456789abcdfghijklmnpqrsvwxyz-forged";
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("system", "system-a[$(cd;touch${IFS}PWNED)]-link"),
                ("system-a[$(cd;touch${IFS}PWNED)]-link", "x"),
            ],
            "links to `system-a[$(cd;touch${IFS}PWNED)]-link`, which is not a generation link",
        ),
        (&[("system", forged)], "which is not a store path"),
        (
            &[("system", "system-999999999999-link"), ("system-999999999999-link", "x")],
            "system-999999999999-link",
        ),
    ];
    for (links, expect) in cases {
        std::fs::remove_dir_all(&folder).unwrap();
        std::fs::create_dir_all(folder.join(forged)).unwrap();
        for (name, target) in links {
            symlink(target, folder.join(name)).unwrap();
        }
        let status = bounded(&bed, Mode::Status, &[]);
        let message = failure(&status, "test-container");
        assert!(message.contains(expect), "{expect}: {message}");
        assert!(!message.contains('\n') || !message.contains("\tvps-arm"), "escaped: {message}");
        let host = status.nodes.iter().find(|n| n.node == FIXTURE_HOST).unwrap();
        assert_eq!(host.old.as_deref(), Some(host_system.as_str()), "the host's line is its own");
        let rollback = bounded(&bed, Mode::Rollback, &["test-container"]);
        assert!(failure(&rollback, "test-container").contains(expect));
        assert!(!pwned.exists(), "a link's name ran as code");
        assert_eq!(bed.activation_order().len(), activations, "nothing was activated");
    }
}

/// The lost update: run A's session drops just after it launched X (its
/// agent ends and releases the lock); run B deploys X; A's new agent finds
/// that B held the lock in between, and A stops instead of launching its
/// older system again. X ends on B's system; A says it was fenced.
#[test]
fn a_group_that_another_run_interrupted_is_fenced_and_keeps_the_newer_system() {
    let mut bed = Bed::new("lost_update");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    bed.fixture.set_version("test-container", "2-lost_update").unwrap();
    // B deploys from a fixture of its own, where X has another version.
    let b_dir = bed.fixture.dir().join("../b-flake");
    let mut b_fixture = fleet_testbed::Fixture::create(&b_dir, &bed.testbed.address()).unwrap();
    b_fixture.set_version("test-container", "3-lost_update").unwrap();
    let b_system = b_fixture.system_path("test-container").unwrap();
    let json = Testbed::nix().eval_json_file(&b_dir.join("nix/fleet.nix")).unwrap();
    let b_fleet = fleet_graph::Fleet::from_json(&json).unwrap();
    let kinds = fleet_deploy::Kinds::standard();
    let b_plan =
        fleet_deploy::Plan::new(&b_fleet, &kinds, &[], &["test-container".into()], &b_fixture.flake_ref())
            .unwrap();
    let b_targets = b_plan.targets(Some(&bed.testbed.target())).unwrap();

    struct Interrupt<'a> {
        testbed: &'a Testbed,
        b: &'a (dyn Fn() -> fleet_deploy::Summary + Sync),
        done: Mutex<Option<fleet_deploy::Summary>>,
    }
    impl Sink for Interrupt<'_> {
        fn event(&self, event: Event<'_>) {
            let Event::Stage { node: "test-container", stage: Stage::Activate } = event else { return };
            let mut done = self.done.lock().unwrap();
            if done.is_some() {
                return;
            }
            // A's session dies; its agent ends and the lock is free.
            let record = lease(self.testbed).expect("A holds the lock");
            let kill =
                Command::new("kill").args(["-KILL", "--", &format!("-{}", record[2])]).status().unwrap();
            assert!(kill.success());
            wait_until("A's agent is gone", WAIT, || {
                std::fs::metadata(format!("/proc/{}", record[2])).is_err()
            });
            *done = Some((self.b)());
        }
    }
    let run_b = || b_plan.run(&Testbed::nix(), Mode::Deploy, &b_targets, &Recorder::default());
    let interrupt = Interrupt { testbed: &bed.testbed, b: &run_b, done: Mutex::new(None) };
    let a = bed.run(Mode::Deploy, &["test-container"], &bed.testbed.target(), None, &interrupt);
    let b = interrupt.done.into_inner().unwrap().expect("B ran");
    assert!(b.success(), "{:?}", outcomes(&b));
    assert_eq!(bed.profile_of("test-container").as_deref(), Some(b_system.as_str()), "X is on B's system");
    let message = failure(&a, "test-container");
    assert!(message.contains("fenced: another run held the deploy lock"), "{message}");
}

/// Writes an executable stand-in first on the target's PATH.
fn stand_in(testbed: &Testbed, program: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = testbed.dir().join("bin").join(program);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Stops or continues the processes of the agent that holds the lock: an
/// agent that is alive but says nothing, as when its deployer hangs.
fn signal_agent(testbed: &Testbed, signal: &str) -> String {
    let record = lease(testbed).expect("an agent holds the lock");
    let status = Command::new("kill").args([signal, "--", &format!("-{}", record[2])]).status().unwrap();
    assert!(status.success());
    format!("-{}", record[2])
}

/// A run whose lease another run takes over after its job started, but
/// before the switch, switches nothing: the job checks the lease again
/// after it set the profile, and puts the profile back.
#[test]
fn a_job_whose_lease_was_taken_over_before_its_switch_switches_nothing() {
    let mut bed = Bed::new("taken_before_switch");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let v1 = bed.profile_of("test-container");
    let reached = bed.testbed.dir().join("nix-env-reached");
    let gate = bed.testbed.dir().join("nix-env-gate");
    // The job's `nix-env --set` waits, bounded, until the test opens the gate.
    stand_in(
        &bed.testbed,
        "nix-env",
        &format!(
            "#!/bin/sh\n: >{reached}\ni=0\nwhile [ ! -e {gate} ] && [ $i -lt 1200 ]; do i=$((i + 1)); sleep 0.05; done\n\
             exec /usr/bin/nix-env \"$@\"\n"
        ),
    );
    bed.fixture.set_version("test-container", "2-taken_before_switch").unwrap();
    let activations = bed.activation_order().len();
    let (a, thief) = std::thread::scope(|scope| {
        let a = scope.spawn(|| bed.deploy(&["test-container"]).0);
        wait_until("A's job sets the profile", WAIT, || reached.exists());
        let a_group = signal_agent(&bed.testbed, "-STOP");
        // B takes the lock once A's lease ran out.
        let mut thief = None;
        wait_until("B takes the lock", WAIT, || {
            thief = AgentSession::acquire(&bed.testbed.target()).ok();
            thief.is_some()
        });
        std::fs::write(&gate, "").unwrap();
        let a = a.join().unwrap();
        let _ = Command::new("kill").args(["-CONT", "--", &a_group]).status();
        (a, thief)
    });
    // A cannot hear its job any more (B holds the lock); the job's own
    // status says what it did.
    let message = failure(&a, "test-container");
    assert!(message.contains("the lock could not be taken again"), "{message}");
    wait_until("A's job ends", WAIT, || {
        std::fs::read_to_string(state(&bed.testbed, "jobs/test-container.status"))
            .is_ok_and(|s| s.starts_with("refused"))
    });
    let status = std::fs::read_to_string(state(&bed.testbed, "jobs/test-container.status")).unwrap();
    assert!(status.contains("no longer holds the deploy lock"), "{status}");
    assert_eq!(bed.profile_of("test-container"), v1, "the profile is back where it was");
    assert_eq!(bed.activation_order().len(), activations, "nothing was switched");
    assert!(!state(&bed.testbed, "pending/test-container").exists());
    drop(thief);
}

/// A confirmation names its run: one written for run A does not confirm run
/// B's switch, which rolls back when its own confirmation does not come.
#[test]
fn a_late_confirmation_of_another_run_confirms_nothing() {
    let mut bed = Bed::new("late_confirmation");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let v1 = bed.profile_of(FIXTURE_HOST).unwrap();
    bed.fixture.set_version(FIXTURE_HOST, "2-late_confirmation").unwrap();
    let v2 = bed.fixture.system_path(FIXTURE_HOST).unwrap();
    // Run B's host job, confirmed within 3 s or rolled back; A's late
    // confirmation lands while it waits.
    let b = AgentSession::acquire(&bed.testbed.target()).unwrap();
    let epoch = lease(&bed.testbed).unwrap()[0].clone();
    let out = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command flakes", "build", "--no-link"])
        .arg(format!(
            "{}#nixosConfigurations.{FIXTURE_HOST}.config.system.build.toplevel",
            bed.fixture.flake_ref()
        ))
        .envs(fleet_testbed::nix_env())
        .status()
        .unwrap();
    assert!(out.success());
    Testbed::nix().copy_to(&bed.testbed.target(), std::slice::from_ref(&v2)).unwrap();
    let spec = format!(
        "kind=host\nprofile={HOST_PROFILE}\nsystem={v2}\nexpect={v1}\nconfirm=3\ncheck-timeout=5\n\
         switch-timeout=60\nverb=switch\ngeneration=\n"
    );
    std::fs::write(state(&bed.testbed, &format!("jobs/{FIXTURE_HOST}.spec")), spec).unwrap();
    std::fs::write(state(&bed.testbed, &format!("jobs/{FIXTURE_HOST}.run")), format!("{}\n", b.run()))
        .unwrap();
    let _ = std::fs::remove_file(state(&bed.testbed, &format!("jobs/{FIXTURE_HOST}.status")));
    let job = format!("{STATE_DIR}/bin/{}-job.sh", b.run());
    let script = fleet_nix::RemoteScript::new(
        r#"setsid -f sh "$@" </dev/null >/dev/null 2>&1"#,
        [job.as_str(), STATE_DIR, b.run(), &epoch, FIXTURE_HOST],
    );
    bed.testbed.target().run(&script).unwrap();
    let status = || {
        std::fs::read_to_string(state(&bed.testbed, &format!("jobs/{FIXTURE_HOST}.status")))
            .unwrap_or_default()
    };
    wait_until("B's job waits for its confirmation", WAIT, || status().trim() == "switched");
    std::fs::write(state(&bed.testbed, &format!("jobs/{FIXTURE_HOST}.confirm")), "run-a\n").unwrap();
    wait_until("B's job ends", WAIT, || !matches!(status().trim(), "switched" | "started" | ""));
    assert!(status().starts_with("rolled back: no confirmation from the deployer within 3s"), "{}", status());
    assert_eq!(bed.profile_of(FIXTURE_HOST).as_deref(), Some(v1.as_str()));
    drop(b);
}

/// The target's wall clock moved an hour forward, then back: a live holder
/// keeps its lock, and a silent one loses it when its lease runs out on the
/// monotonic clock, not an hour later.
#[test]
fn moving_the_targets_clock_neither_ends_a_live_lease_nor_keeps_a_dead_one() {
    let bed = Bed::new("clock_moves");
    let offset = bed.testbed.dir().join("clock-offset");
    // `date` that reads the time an offset away; `date -d` (formatting a given
    // time) is left alone.
    stand_in(
        &bed.testbed,
        "date",
        &format!(
            "#!/bin/sh\ncase \" $* \" in *' -d '*) exec /bin/date \"$@\" ;; esac\n\
             exec /bin/date -d \"@$(( $(/bin/date +%s) + $(cat {offset} 2>/dev/null || echo 0) ))\" \"$@\"\n"
        ),
    );
    let target = bed.testbed.target();
    let a = AgentSession::acquire(&target).unwrap();
    std::fs::write(&offset, "3600").unwrap();
    let shifted = target.run(&fleet_nix::RemoteScript::new("date +%s", Vec::<String>::new())).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(shifted.trim().parse::<u64>().unwrap() > now + 3000, "the stand-in moved the clock");
    let refused = AgentSession::acquire(&target).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("another deploy holds the lock"), "{refused}");
    std::fs::write(&offset, "-3600").unwrap();
    let a_group = signal_agent(&bed.testbed, "-STOP");
    let mut b = None;
    wait_until("the silent holder's lease runs out", WAIT, || {
        b = AgentSession::acquire(&target).ok();
        b.is_some()
    });
    let _ = Command::new("kill").args(["-CONT", "--", &a_group]).status();
    let b = b.unwrap();
    assert!(
        b.took_over.as_deref().unwrap_or_default().contains("whose lease had run out"),
        "{:?}",
        b.took_over
    );
    drop(a);
}

/// A check that leaves a process behind, in its group or in a session of its
/// own, ends with its job: the job does not wait for it, and it does not keep
/// the node's lock, so the next deploy of the node goes ahead.
#[test]
fn what_a_check_leaves_running_neither_holds_its_job_nor_the_node() {
    let mut bed = Bed::new("escaping_checks");
    bed.fixture
        .set_node_attrs(
            "test-container",
            r#"checks = [ { command = [ "sh" "-c" "sleep 1000.5 & exit 0" ]; }
                          { command = [ "sh" "-c" "setsid sleep 1000.75 & exit 0" ]; } ]; checkTimeout = 5;"#,
        )
        .unwrap();
    let first = bounded(&bed, Mode::Deploy, &["test-container"]);
    assert_eq!(outcomes(&first), ["test-container=activated"]);
    bed.fixture.set_version("test-container", "2-escaping_checks").unwrap();
    let second = bounded(&bed, Mode::Deploy, &["test-container"]);
    assert_eq!(outcomes(&second), ["test-container=activated"], "the node's lock was free");
    let left: Vec<Vec<u8>> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| c.starts_with(b"sleep\x001000."))
        .collect();
    assert!(!left.contains(&b"sleep\x001000.5\x00".to_vec()), "what stayed in the check's group was killed");
    let _ = Command::new("pkill").args(["-f", "^sleep 1000.75$"]).status();
}

/// After an out-of-band `boot` (the profile moved, the running system did
/// not), a failed switch goes back to what runs, and the profile back to
/// what the `boot` chose.
#[test]
fn a_failed_switch_after_an_out_of_band_boot_goes_back_to_what_runs() {
    let mut bed = Bed::new("after_boot");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let running = bed.profile_of(FIXTURE_HOST).unwrap();
    bed.fixture.set_version(FIXTURE_HOST, "2-after_boot").unwrap();
    let fleet = bed.fleet();
    let kinds = fleet_deploy::Kinds::standard();
    let plan = fleet_deploy::Plan::new(&fleet, &kinds, &[], &[], &bed.fixture.flake_ref())
        .unwrap()
        .with_goal(fleet_deploy::Goal::Boot);
    let targets = plan.targets(Some(&bed.testbed.target())).unwrap();
    let boot = plan.run(&Testbed::nix(), Mode::Deploy, &targets, &Recorder::default());
    let booted = bed.profile_of(FIXTURE_HOST).unwrap();
    assert!(boot.success() && booted != running, "{:?}", outcomes(&boot));
    // As `nixos-rebuild boot` leaves it: no mark of fleet's.
    std::fs::remove_file(state(&bed.testbed, &format!("pending/{FIXTURE_HOST}"))).unwrap();
    bed.fixture.set_version(FIXTURE_HOST, "3-after_boot").unwrap();
    bed.fixture.fail_switch(FIXTURE_HOST, true).unwrap();
    let (failed, _) = bed.deploy(&[]);
    assert!(failure(&failed, FIXTURE_HOST).contains("rolled back"), "{:?}", outcomes(&failed));
    let last = bed.testbed.activations().unwrap().pop().unwrap();
    assert_eq!((last.action.as_str(), last.path.as_str()), ("switch", running.as_str()), "back to what ran");
    assert_eq!(bed.profile_of(FIXTURE_HOST), Some(booted), "the profile is where the boot put it");
}
