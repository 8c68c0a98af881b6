//! Every remote step bounded from the deployer's side: a target that accepts
//! the connection and then says nothing is given up at the step's limit, the
//! step named, and the host's lock released.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{state, Bed, Recorder};
use fleet_deploy::{Kinds, Mode, Outcome, Plan, Summary};
use fleet_nix::Target;
use fleet_testbed::{wait_until, Testbed};

/// The step limit the runs here use.
const ANSWER: Duration = Duration::from_secs(3);

/// A line of `script` (a file in `src/sh`) that none of the other scripts
/// the deployer runs holds, and that shell quoting leaves as it is: a session
/// whose command holds it runs that script.
fn line_only_in(script: &str) -> String {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/src/sh/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let others: Vec<String> =
        ["agent.sh", "job.sh", "confirm.sh", "probe.sh", "units.sh", "prelude.sh", "exec.sh"]
            .into_iter()
            .filter(|name| *name != script)
            .map(read)
            .collect();
    read(script)
        .lines()
        .map(str::trim)
        .find(|line| line.len() >= 12 && !line.contains('\'') && others.iter().all(|o| !o.contains(line)))
        .unwrap_or_else(|| panic!("{script} has a line of its own"))
        .to_string()
}

/// A deploy of every node with steps limited to [`ANSWER`], in a thread of
/// its own, waited for boundedly: a run that hangs fails the test.
fn deploy(bed: &Bed) -> Summary {
    let fleet = bed.fleet();
    let flake = bed.fixture.flake_ref();
    let target = bed.testbed.target();
    let (sender, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let kinds = Kinds::standard();
        let plan = Plan::new(&fleet, &kinds, &[], &[], &flake)
            .unwrap()
            .with_confirm_timeout(Some(Duration::from_secs(30)))
            .with_answer_timeout(ANSWER);
        let targets: BTreeMap<String, Target> = plan.targets(Some(&target)).unwrap().into_iter().collect();
        let _ = sender.send(plan.run(&Testbed::nix(), Mode::Deploy, &targets, &Recorder::default()));
    });
    let mut summary = None;
    wait_until("the run ends", Duration::from_secs(120), || {
        summary = summary.take().or_else(|| finished.try_recv().ok());
        summary.is_some()
    });
    summary.unwrap()
}

/// Every node's error, as text.
fn errors(summary: &Summary) -> String {
    let failed = |n: &fleet_deploy::NodeReport| match &n.outcome {
        Outcome::Failed(error) | Outcome::RolledBack(error) => Some(format!("{error}\n")),
        _ => None,
    };
    summary.nodes.iter().filter_map(failed).collect()
}

#[test]
fn a_target_that_says_nothing_is_given_up_at_the_step_limit_with_the_lock_released() {
    let bed = Bed::new("silent_target");
    let before = bed.testbed.store_paths();

    // The probe's session is accepted and then silent (the lock is held by
    // then): the run gives it up, names it, and releases the lock.
    bed.testbed.stall_sessions_running(Some(&line_only_in("probe.sh"))).unwrap();
    let summary = deploy(&bed);
    assert!(!summary.success(), "{summary:#?}");
    let shown = errors(&summary);
    assert!(shown.contains("the probe gave no answer within 3s and was given up"), "{shown}");
    let lock = state(&bed.testbed, "deploy.lock");
    wait_until("the deploy lock is free", Duration::from_secs(30), || {
        std::process::Command::new("flock").args(["-n", lock.as_str(), "true"]).status().unwrap().success()
    });
    assert_eq!(bed.testbed.store_paths(), before, "nothing was pushed");

    // The agent's own session silent: its first line is given up.
    bed.testbed.stall_sessions_running(Some(&line_only_in("agent.sh"))).unwrap();
    let shown = errors(&deploy(&bed));
    assert!(shown.contains("the deploy agent's first line (`locked`) gave no answer within 3s"), "{shown}");

    // Answered again, the next run deploys.
    bed.testbed.stall_sessions_running(None).unwrap();
    let summary = deploy(&bed);
    assert!(summary.success(), "{summary:#?}");
}

#[test]
fn an_exec_session_that_says_nothing_is_given_up_at_the_step_limit() {
    let bed = Bed::new("silent_exec");
    let (fleet, target) = (bed.fleet(), bed.testbed.target());
    let node = fleet.node(fleet_testbed::FIXTURE_HOST).unwrap();
    let exec = |argv: &[&str]| {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let (node, target) = (node.clone(), target.clone());
        let (sender, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (kinds, mut lines) = (Kinds::standard(), Vec::new());
            let result = fleet_deploy::exec_on(kinds.of(&node), &node, &target, &argv, ANSWER, &mut |line| {
                lines.push(line.to_string())
            });
            let _ = sender.send((result, lines));
        });
        let mut ended = None;
        wait_until("the exec ends", Duration::from_secs(60), || {
            ended = ended.take().or_else(|| finished.try_recv().ok());
            ended.is_some()
        });
        ended.unwrap()
    };

    bed.testbed.stall_sessions_running(Some(&line_only_in("exec.sh"))).unwrap();
    let (result, lines) = exec(&["echo", "hello"]);
    let error = result.unwrap_err();
    assert!(
        error.to_string().contains("the exec session's first line gave no answer within 3s and was given up"),
        "{error}"
    );
    assert!(error.to_string().contains(&format!("exec on {}", fleet_testbed::FIXTURE_HOST)), "{error}");
    assert!(lines.is_empty(), "{lines:?}");

    // Answered again, the command runs; a command that is silent for longer
    // than the limit after its session answered is not given up.
    bed.testbed.stall_sessions_running(None).unwrap();
    let (result, lines) = exec(&["sh", "-c", "sleep 4; echo hello; exit 3"]);
    assert_eq!((result.unwrap(), lines), (3, vec!["hello".to_string()]));
}
