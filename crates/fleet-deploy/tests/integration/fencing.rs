//! The target protocol under bad luck, on the testbed: a run that
//! lost its lock, a dropped session, a check that never returns, an
//! out-of-band switch, secrets in job logs. Each test asserts from the target's
//! profiles, activation log, lease record and files.

use crate::common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use common::*;
use fleet_deploy::{AgentSession, Event, Mode, Outcome, Sink, Stage, STATE_DIR};
use fleet_nix::RemoteScript;
use fleet_testbed::{container_profile, fixture_nodes, wait_until, Testbed};

/// Kills the agent's processes on the target (its session dies, as when the
/// connection drops or someone kills the session); the jobs go on.
fn kill_agent(testbed: &Testbed) {
    let record = lease(testbed).expect("an agent holds the lock");
    let status = Command::new("kill").args(["-KILL", "--", &format!("-{}", record[2])]).status().unwrap();
    assert!(status.success());
}

fn job_status(testbed: &Testbed, node: &str) -> String {
    std::fs::read_to_string(state(testbed, &format!("jobs/{node}.status")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// How long this file's waits may take.
const WAIT: Duration = Duration::from_secs(60);

/// Failure 1: a run whose session died, and whose lock another run took,
/// launches nothing and names the other run; the other run keeps the lock.
#[test]
fn a_run_that_lost_its_lock_launches_nothing_and_names_the_run_that_holds_it() {
    let bed = Bed::new("lost_lock");
    struct Thief<'a> {
        testbed: &'a Testbed,
        taken: std::sync::Mutex<Option<AgentSession>>,
    }
    impl Sink for Thief<'_> {
        fn event(&self, event: Event<'_>) {
            if let Event::Stage { stage: Stage::Push, .. } = event {
                let mut taken = self.taken.lock().unwrap();
                if taken.is_none() {
                    kill_agent(self.testbed);
                    *taken = Some(AgentSession::acquire(&self.testbed.target()).unwrap());
                }
            }
        }
    }
    let thief = Thief { testbed: &bed.testbed, taken: Default::default() };
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &thief);
    let other = thief.taken.lock().unwrap().as_ref().unwrap().run().to_string();
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=failed", "bgs-backend=skipped", "test-container=skipped", "nannuo-bot=skipped"]
    );
    let Outcome::Failed(error) = &summary.nodes[0].outcome else { unreachable!() };
    let message = error.to_string();
    assert!(message.contains("the lock could not be taken again, so nothing more was launched"), "{message}");
    assert!(message.contains("another deploy holds the lock on this target"), "{message}");
    assert!(message.contains(&format!("(run {other})")), "names the other run: {message}");
    assert!(bed.activation_order().is_empty(), "nothing was activated");
    for node in fixture_nodes() {
        assert_eq!(bed.profile_of(node), None);
        assert!(!state(&bed.testbed, &format!("jobs/{node}.run")).exists(), "no job of {node} was launched");
    }
    assert_eq!(lease(&bed.testbed).unwrap()[1], other, "the other run still holds the lock");
    drop(thief);
    wait_until("the lock is released", WAIT, || lease(&bed.testbed).is_none());
}

/// Failure 8: a session dropped mid-activation is reopened, and the report
/// says what the jobs did (all activated), not "failed".
#[test]
fn a_session_dropped_mid_activation_is_reattached_and_reports_what_happened() {
    let mut bed = Bed::new("reattach");
    for (node, _) in fleet_testbed::FIXTURE_CONTAINERS {
        bed.fixture.set_switch_seconds(node, 1).unwrap();
    }
    let dropped = AtomicBool::new(false);
    let summary = std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_until("test-container's job runs", WAIT, || {
                job_status(&bed.testbed, "test-container") == "started"
            });
            kill_agent(&bed.testbed);
            dropped.store(true, Ordering::SeqCst);
        });
        let events = Recorder::default();
        bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &events)
    });
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );
    for report in &summary.nodes {
        assert_eq!(bed.profile_of(&report.node), report.new, "{} is on the system reported", report.node);
    }
    let mut activated = bed.activation_order();
    activated.sort();
    assert_eq!(activated, ["bgs-backend", "nannuo-bot", "test-container", "vps-arm"], "each once");
    wait_until("the lock is released", WAIT, || lease(&bed.testbed).is_none());
}

/// A launch cut off after the agent recorded the run and before the job
/// began (here its launcher waits on a log that is a FIFO nobody reads) leaves
/// a run record and nothing else: the reattached run launches it again, it
/// does not wait for a job that never began.
#[test]
fn a_launch_cut_off_before_its_job_began_is_launched_again() {
    let bed = Bed::new("cut_launch");
    let log = state(&bed.testbed, "jobs/bgs-backend.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    assert!(Command::new("mkfifo").arg(&log).status().unwrap().success());
    let summary = std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_until("bgs-backend's launch is cut off before its job", WAIT, || {
                let run =
                    std::fs::read_to_string(state(&bed.testbed, "jobs/bgs-backend.run")).unwrap_or_default();
                lease(&bed.testbed).is_some_and(|record| run.trim() == record[1])
            });
            assert!(!state(&bed.testbed, "jobs/bgs-backend.pid").exists(), "the job did not begin");
            kill_agent(&bed.testbed);
            std::fs::remove_file(&log).unwrap();
        });
        let events = Recorder::default();
        bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &events)
    });
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=activated", "bgs-backend=activated", "test-container=activated", "nannuo-bot=activated"]
    );
    let mut activated = bed.activation_order();
    activated.sort();
    assert_eq!(activated, ["bgs-backend", "nannuo-bot", "test-container", "vps-arm"], "each once");
}

/// Failure 3: a check that never returns is killed at the check timeout, the
/// node rolls back, and the next deploy neither blocks nor activates anything.
#[test]
fn a_check_that_never_returns_is_killed_at_its_timeout() {
    let mut bed = Bed::new("hung_check");
    let (first, _) = bed.deploy(&["test-container"]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let v1 = bed.profile_of("test-container");
    // A duration no other test uses, to find the process.
    bed.fixture
        .set_node_attrs(
            "test-container",
            r#"checks = [ { command = [ "sleep" "3600.25" ]; } ]; checkTimeout = 2;"#,
        )
        .unwrap();
    bed.fixture.set_version("test-container", "2-hung_check").unwrap();
    let (second, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&second), ["test-container=rolled back"]);
    let Outcome::RolledBack(error) = &second.nodes[0].outcome else { unreachable!() };
    assert!(
        error.to_string().contains("health check failed for 2s: `checks` item 1 (a command) failed"),
        "{error}"
    );
    assert_eq!(bed.profile_of("test-container"), v1);
    let hung = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline == b"sleep\x003600.25\x00");
    assert!(!hung, "the check's process was killed");
    let before = bed.activation_order().len();
    let (third, _) = bed.deploy(&["test-container"]);
    assert_eq!(
        outcomes(&third),
        ["test-container=rolled back"],
        "the next deploy runs, and the check fails again"
    );
    let after = bed.testbed.activations().unwrap().split_off(before);
    assert_eq!(after.len(), 2, "one try and one rollback, nothing else: {after:?}");
}

/// Failure 5: after an out-of-band switch (nixos-rebuild, nh), a failed
/// deploy rolls back to what was running, not to what fleet last activated.
#[test]
fn rollback_returns_to_the_system_that_was_running() {
    let mut bed = Bed::new("out_of_band");
    let (first, _) = bed.deploy(&["test-container"]);
    assert!(first.success());
    let a1 = bed.profile_of("test-container").unwrap();

    // Out of band: build b1, copy it, set the profile and switch, as nh would.
    bed.fixture.set_version("test-container", "b1-out_of_band").unwrap();
    let nix = Testbed::nix();
    let built = bed.run(Mode::Build, &["test-container"], &bed.testbed.target(), None, &Recorder::default());
    let b1 = built.nodes[0].new.clone().expect("b1 is built");
    nix.copy_to(&bed.testbed.target(), std::slice::from_ref(&b1)).unwrap();
    let profile = container_profile("test-container");
    let switch = RemoteScript::new(
        r#"nix-env -p "$1" --set "$2" && systemctl reload "container@$3""#,
        [profile.as_str(), b1.as_str(), "test-container"],
    );
    bed.testbed.target().run(&switch).unwrap();
    assert_eq!(bed.profile_of("test-container"), Some(b1.clone()));

    bed.fixture.set_version("test-container", "c1-out_of_band").unwrap();
    bed.fixture.fail_switch("test-container", true).unwrap();
    let (summary, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&summary), ["test-container=rolled back"]);
    assert_eq!(
        bed.profile_of("test-container"),
        Some(b1.clone()),
        "back on b1, which was running, not a1 ({a1})"
    );
    let last = bed.testbed.activations().unwrap().pop().unwrap();
    assert_eq!(last.path, b1, "b1 was activated again");
}

/// Failure 6: what a check prints (a secret, say) lands only in files no one
/// else can read: the state dir is 0700, its files 0600.
#[test]
fn job_logs_and_state_are_private() {
    let mut bed = Bed::new("private");
    bed.fixture
        .set_node_attrs(
            "test-container",
            r#"checks = [ { command = [ "sh" "-c" "echo DB_PASSWORD=hunter2; exit 1" ]; } ]; checkTimeout = 1;"#,
        )
        .unwrap();
    let (summary, _) = bed.deploy(&[]);
    assert!(
        outcomes(&summary).contains(&"test-container=rolled back".to_string()),
        "{:?}",
        outcomes(&summary)
    );
    let log = std::fs::read_to_string(state(&bed.testbed, "jobs/test-container.status")).unwrap();
    assert!(log.contains("hunter2"), "the check's output is kept: {log}");
    let root = state(&bed.testbed, "");
    let mut open = Vec::new();
    let mut walk = vec![root.clone()];
    while let Some(dir) = walk.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = Utf8PathBuf::from_path_buf(entry.path()).unwrap();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk.push(path.clone());
            }
            if meta.mode() & 0o077 != 0 && !meta.file_type().is_symlink() {
                open.push(format!("{path} {:o}", meta.mode() & 0o777));
            }
        }
    }
    let root_mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
    assert_eq!(root_mode, 0o700, "the state dir");
    assert!(open.is_empty(), "readable by others: {open:?}");
    assert!(Utf8Path::new(&root).join("jobs").is_dir());
}

/// Failure 3, the other half: a job of a run that does not hold the lock
/// never starts, even if it is launched (as by a stale launcher).
#[test]
fn a_job_of_a_run_without_the_lock_refuses_to_start() {
    let bed = Bed::new("fenced_job");
    let (first, _) = bed.deploy(&["test-container"]);
    assert!(first.success());
    let before = bed.activation_order().len();
    let holder = AgentSession::acquire(&bed.testbed.target()).unwrap();
    // The job file that the holder's agent installed, launched for a run that
    // is not the holder's, with a spec that would switch the node.
    let job = format!("{STATE_DIR}/bin/{}-job.sh", holder.run());
    let new = first.nodes[0].new.clone().unwrap();
    let spec = format!(
        "kind=container\nprofile={}\nsystem={new}\nexpect={}\nconfirm=0\ncheck-timeout=1\n\
         switch-timeout=5\nverb=switch\ngeneration=\n",
        container_profile("test-container"),
        new,
    );
    std::fs::write(state(&bed.testbed, "jobs/test-container.spec"), spec).unwrap();
    let args = [job.as_str(), STATE_DIR, "some-other-run", "1", "test-container"];
    let out = bed.testbed.target().run(&RemoteScript::new(r#"sh "$@" || echo "exit $?""#, args)).unwrap();
    // Run by hand, the job writes its log's lines to stdout, before the exit.
    assert_eq!(out.trim().lines().last(), Some("exit 4"), "{out}");
    assert!(job_status(&bed.testbed, "test-container")
        .starts_with("refused: run some-other-run no longer holds the deploy lock (held by run "));
    assert_eq!(bed.activation_order().len(), before, "nothing was activated");
    drop(holder);
}

/// Every step bounded: a switch that does not finish within the switch
/// timeout is stopped, and the node rolls back to what was running.
#[test]
fn a_switch_that_hangs_is_stopped_at_its_timeout_and_rolled_back() {
    let mut bed = Bed::new("hung_switch");
    let (first, _) = bed.deploy(&["test-container"]);
    assert!(first.success());
    let v1 = bed.profile_of("test-container");
    bed.fixture.set_version("test-container", "2-hung_switch").unwrap();
    bed.fixture.set_switch_seconds("test-container", 3600).unwrap();
    let fleet = bed.fleet();
    let kinds = fleet_deploy::Kinds::standard();
    let plan = fleet_deploy::Plan::new(
        &fleet,
        &kinds,
        &[],
        &["test-container".to_string()],
        &bed.fixture.flake_ref(),
    )
    .unwrap()
    .with_switch_timeout(Duration::from_secs(2));
    let targets = plan.targets(Some(&bed.testbed.target())).unwrap();
    let summary = plan.run(&Testbed::nix(), Mode::Deploy, &targets, &Recorder::default());
    assert_eq!(outcomes(&summary), ["test-container=rolled back"]);
    let Outcome::RolledBack(error) = &summary.nodes[0].outcome else { unreachable!() };
    let message = error.to_string();
    assert!(message.contains("rolled back: switching to") && message.contains("failed"), "{message}");
    assert!(message.contains("did not finish within 2s; it was stopped"), "the log says why: {message}");
    assert_eq!(bed.profile_of("test-container"), v1, "back on the system that was running");
    let hung = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline == b"sleep\x003600\x00");
    assert!(!hung, "the switch's processes were stopped");
}

/// An expired lease is taken over, and said so: its holder still holds the
/// flock (a frozen agent), but stopped renewing long ago.
#[test]
fn an_expired_lease_is_taken_over_and_reported() {
    let bed = Bed::new("expired_lease");
    let dir = state(&bed.testbed, "");
    std::fs::create_dir_all(&dir).unwrap();
    // A stand-in for a frozen agent of run `frozen-run`: it holds the lock's
    // flock and never renews its lease, which ended in 2001.
    let mut frozen = Command::new("sh")
        .args(["-c", r#"exec 9>>"$1"; flock 9 && echo held && while :; do sleep 1; done"#, "fleet"])
        .arg(dir.join("deploy.lock"))
        .arg("frozen-run")
        // A group of its own, as an agent's session is.
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(frozen.stdout.take().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let pid = frozen.id();
    // Its lease ended long ago on this boot's clock.
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    std::fs::write(
        dir.join("deploy.lease"),
        format!("7 frozen-run {pid} 1 {} 7 ghost@elsewhere (pid 7)\n", boot.trim()),
    )
    .unwrap();

    #[derive(Default)]
    struct Notices(std::sync::Mutex<Vec<String>>);
    impl Sink for Notices {
        fn event(&self, event: Event<'_>) {
            if let Event::Notice { message, .. } = event {
                self.0.lock().unwrap().push(message.to_string());
            }
        }
    }
    let notices = Notices::default();
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &notices);
    assert!(summary.success(), "{:?}", outcomes(&summary));
    let notices = notices.0.into_inner().unwrap();
    assert!(
        notices.iter().any(|n| n
            == "took over the deploy lock from ghost@elsewhere (pid 7) (run frozen-run), whose lease had run out"),
        "{notices:?}"
    );
    assert!(frozen.wait().unwrap().code().is_none(), "the frozen agent was ended");
    for report in &summary.nodes {
        assert_eq!(bed.profile_of(&report.node), report.new);
    }
}
