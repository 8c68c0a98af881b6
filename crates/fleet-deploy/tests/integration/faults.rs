//! Faults injected on the testbed: failed switches, failing health checks, a
//! host that cuts the deployer off, sshd going away during the copy. Each test
//! asserts from the target's profiles and activation log that nothing was lost
//! and no node was left half-switched.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use fleet_deploy::{Event, Mode, Outcome, Sink, Stage};
use fleet_testbed::{fixture_nodes, Testbed, FIXTURE_HOST};

/// Each node's system, as the summary reports it after a deploy.
fn systems(summary: &fleet_deploy::Summary) -> Vec<(String, Option<String>)> {
    summary.nodes.iter().map(|n| (n.node.clone(), n.new.clone())).collect()
}

/// The job status the target recorded for `node`.
fn job_status(testbed: &Testbed, node: &str) -> String {
    std::fs::read_to_string(state(testbed, &format!("jobs/{node}.status")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// No activation is left marked as unfinished on the target.
fn assert_nothing_pending(testbed: &Testbed) {
    let left: Vec<_> = std::fs::read_dir(state(testbed, "pending"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "unfinished activations: {left:?}");
}

#[test]
fn a_failed_container_switch_rolls_back_and_skips_its_dependents() {
    let mut bed = Bed::new("failed_switch");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success());
    let v1 = systems(&first);
    for node in ["bgs-backend", "nannuo-bot", "test-container"] {
        bed.fixture.set_version(node, "2-failed_switch").unwrap();
    }
    bed.fixture.fail_switch("bgs-backend", true).unwrap();
    let log_length = bed.activation_order().len();

    let (summary, _) = bed.deploy(&[]);
    assert_eq!(
        outcomes(&summary),
        ["vps-arm=unchanged", "bgs-backend=rolled back", "test-container=activated", "nannuo-bot=skipped"]
    );
    let Outcome::RolledBack(error) = &summary.nodes[1].outcome else { unreachable!() };
    assert!(error.to_string().contains("rolled back: switching to"), "{error}");
    assert_eq!(summary.nodes[3].outcome, Outcome::Skipped("dependency `bgs-backend` rolled back".into()));

    let old = |node: &str| v1.iter().find(|(n, _)| n == node).unwrap().1.clone();
    assert_eq!(bed.profile_of("bgs-backend"), old("bgs-backend"), "back on its previous system");
    assert_eq!(bed.profile_of("nannuo-bot"), old("nannuo-bot"), "a skipped node is untouched");
    assert_eq!(bed.profile_of("test-container"), summary.nodes[2].new);
    let records = bed.testbed.activations().unwrap().split_off(log_length);
    let bgs: Vec<String> =
        records.iter().filter(|r| r.node == "bgs-backend").map(|r| r.path.clone()).collect();
    assert_eq!(
        bgs,
        [summary.nodes[1].new.clone().unwrap(), old("bgs-backend").unwrap()],
        "tried the new system, then re-activated the old one"
    );
    assert!(records.iter().all(|r| r.node != "nannuo-bot"));
    assert_nothing_pending(&bed.testbed);
}

#[test]
fn a_failing_health_check_rolls_the_node_back() {
    let mut bed = Bed::new("health_check");
    let unhealthy = bed.testbed.dir().join("faults/unhealthy");
    bed.fixture
        .set_node_attrs(
            "test-container",
            &format!(r#"checks = [ {{ command = [ "test" "!" "-e" "{unhealthy}" ]; }} ]; checkTimeout = 2;"#),
        )
        .unwrap();
    let (first, _) = bed.deploy(&[]);
    assert!(first.success(), "{:?}", outcomes(&first));
    let v1 = bed.profile_of("test-container");

    bed.testbed.set_fault("unhealthy", true).unwrap();
    bed.fixture.set_version("test-container", "2-health_check").unwrap();
    let (summary, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&summary), ["test-container=rolled back"]);
    let Outcome::RolledBack(error) = &summary.nodes[0].outcome else { unreachable!() };
    let message = error.to_string();
    assert!(message.contains("health check failed for 2s"), "{message}");
    // By its place in the list: its arguments stay out of messages.
    assert!(message.contains("`checks` item 1 (a command) failed"), "names the failing check: {message}");
    assert!(!message.contains(unhealthy.as_str()), "{message}");
    // Only the failed step: not the first deploy's job, nor the notes the
    // status already says.
    assert!(!message.contains(": activat"), "{message}");
    assert!(!message.contains("rolling back to"), "{message}");
    assert_eq!(message.matches("health check failed").count(), 1, "{message}");
    assert_eq!(bed.profile_of("test-container"), v1);
    let last = bed.testbed.activations().unwrap().pop().unwrap();
    assert_eq!(
        (last.node.as_str(), Some(last.path)),
        ("test-container", v1),
        "the old system was re-activated"
    );
    assert_nothing_pending(&bed.testbed);
}

#[test]
fn a_host_that_loses_contact_after_switching_reverts_by_itself() {
    let mut bed = Bed::new("lost_contact");
    let (first, _) = bed.deploy(&[]);
    assert!(first.success());
    let v1 = bed.profile_of(FIXTURE_HOST);

    bed.fixture.set_version(FIXTURE_HOST, "2-lost_contact").unwrap();
    bed.fixture.set_version("test-container", "2-lost_contact").unwrap();
    bed.fixture.break_ssh_on_switch(FIXTURE_HOST).unwrap();
    let confirm = Some(Duration::from_secs(3));
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), confirm, &Recorder::default());
    // The agent's session outlives the broken sshd, so the report says what
    // happened, in the past tense, not what a frozen deployer last saw.
    let Outcome::RolledBack(error) = &summary.nodes[0].outcome else { panic!("{:?}", outcomes(&summary)) };
    assert_eq!(error.stage, Stage::Confirm);
    assert!(
        error.to_string().contains(
            "the target was not confirmed, and it rolled back by itself: rolled back: no confirmation from the deployer within 3s"
        ),
        "{error}"
    );
    assert!(!error.to_string().contains("rolls back by itself"), "no future tense: {error}");
    assert_eq!(summary.nodes[2].outcome, Outcome::Skipped("dependency `vps-arm` rolled back".into()));
    let v2 = summary.nodes[0].new.clone();

    // The revert happens on the target without us: wait for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !job_status(&bed.testbed, FIXTURE_HOST).starts_with("rolled back") {
        assert!(Instant::now() < deadline, "no revert; status: {}", job_status(&bed.testbed, FIXTURE_HOST));
        std::thread::yield_now();
    }
    assert_eq!(
        job_status(&bed.testbed, FIXTURE_HOST),
        "rolled back: no confirmation from the deployer within 3s"
    );
    assert_eq!(bed.profile_of(FIXTURE_HOST), v1, "the host is back on its previous system");
    let host_paths: Vec<Option<String>> = bed
        .testbed
        .activations()
        .unwrap()
        .into_iter()
        .filter(|r| r.node == FIXTURE_HOST)
        .map(|r| Some(r.path))
        .collect();
    assert_eq!(host_paths, [v1.clone(), v2, v1], "switched to the new system, then back");
    assert_nothing_pending(&bed.testbed);
}

/// Stops the target's sshd when the push starts and, if `restart`, starts it
/// again when the pipeline reports its first retry.
struct SshdOutage<'a> {
    testbed: &'a Testbed,
    restart: bool,
    stopped: AtomicBool,
    retries: std::sync::Mutex<Vec<(Stage, u32)>>,
}

impl SshdOutage<'_> {
    fn new(testbed: &Testbed, restart: bool) -> SshdOutage<'_> {
        SshdOutage { testbed, restart, stopped: AtomicBool::new(false), retries: Default::default() }
    }
}

impl Sink for SshdOutage<'_> {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Stage { stage: Stage::Push, .. } if !self.stopped.swap(true, Ordering::SeqCst) => {
                self.testbed.stop_sshd();
            }
            Event::Retry { stage, attempt, .. } => {
                self.retries.lock().unwrap().push((stage, attempt));
                if self.restart {
                    self.testbed.start_sshd().unwrap();
                }
            }
            _ => {}
        }
    }
}

#[test]
fn sshd_going_down_during_the_copy_is_retried() {
    let bed = Bed::new("copy_retried");
    let outage = SshdOutage::new(&bed.testbed, true);
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &outage);
    assert!(summary.success(), "{:?}", outcomes(&summary));
    assert_eq!(*outage.retries.lock().unwrap(), [(Stage::Push, 1)]);
    for report in &summary.nodes {
        assert_eq!(bed.profile_of(&report.node), report.new);
    }
}

#[test]
fn sshd_staying_down_during_the_copy_fails_cleanly_and_changes_nothing() {
    let bed = Bed::new("copy_gave_up");
    let outage = SshdOutage::new(&bed.testbed, false);
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), None, &outage);
    for report in &summary.nodes {
        let Outcome::Failed(error) = &report.outcome else { panic!("{:?}", outcomes(&summary)) };
        assert_eq!((error.stage, error.tries), (Stage::Push, 4));
        let message = error.to_string();
        assert!(
            message.contains("gave up after 4 tries") && message.contains("Connection refused"),
            "{message}"
        );
    }
    assert_eq!(outage.retries.lock().unwrap().len(), 3);
    assert!(
        bed.testbed.store_paths().iter().all(|p| !p.contains("nixos-system")),
        "no system reached the target"
    );
    for node in fixture_nodes() {
        assert_eq!(bed.profile_of(node), None);
    }
    assert!(bed.activation_order().is_empty());
}

#[test]
fn a_tcp_health_check_gates_the_activation() {
    let mut bed = Bed::new("tcp_check");
    // A port on loopback that the test opens and closes; the check probes it
    // from the target (the testbed shares this machine's network).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    bed.fixture
        .set_node_attrs(
            "test-container",
            &format!(r#"checks = [ {{ tcp = {port}; address = "127.0.0.1"; }} ]; checkTimeout = 2;"#),
        )
        .unwrap();
    let (first, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&first), ["test-container=activated"], "the port is open");
    let v1 = bed.profile_of("test-container");

    drop(listener);
    bed.fixture.set_version("test-container", "2-tcp_check").unwrap();
    let (second, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&second), ["test-container=rolled back"], "the port is closed");
    let Outcome::RolledBack(error) = &second.nodes[0].outcome else { unreachable!() };
    assert!(error.to_string().contains(&format!("/dev/tcp/127.0.0.1/{port}")), "{error}");
    assert_eq!(bed.profile_of("test-container"), v1);
}

#[test]
fn an_http_health_check_must_answer_2xx() {
    use std::io::{Read, Write};
    let mut bed = Bed::new("http_check");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers /health with 200 and anything else with 503, until the test ends.
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let n = stream.read(&mut request).unwrap_or(0);
            let healthy = String::from_utf8_lossy(&request[..n]).starts_with("GET /health ");
            let status = if healthy { "200 OK" } else { "503 Service Unavailable" };
            let _ = stream.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    });
    let check = |path: &str| {
        format!(
            r#"checks = [ {{ http = "{path}"; port = {port}; address = "127.0.0.1"; }} ]; checkTimeout = 2;"#
        )
    };
    bed.fixture.set_node_attrs("test-container", &check("/health")).unwrap();
    let (first, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&first), ["test-container=activated"]);

    bed.fixture.set_node_attrs("test-container", &check("/broken")).unwrap();
    bed.fixture.set_version("test-container", "2-http_check").unwrap();
    let (second, _) = bed.deploy(&["test-container"]);
    assert_eq!(outcomes(&second), ["test-container=rolled back"]);
    let Outcome::RolledBack(error) = &second.nodes[0].outcome else { unreachable!() };
    assert!(error.to_string().contains("/broken") && error.to_string().contains("503"), "{error}");
}
