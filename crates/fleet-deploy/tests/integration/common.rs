//! What the testbed tests share: a testbed with a fixture per test, running the
//! pipeline, and reading what happened.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use fleet_deploy::{Event, Kinds, Mode, Plan, Sink, Stage, Summary, STATE_DIR};
use fleet_graph::Fleet;
use fleet_nix::Target;
use fleet_testbed::{Testbed, TestbedError};

/// The shared [`fleet_testbed::Bed`] in a fresh folder named after the test,
/// driven through [`Plan`].
pub struct Bed {
    bed: fleet_testbed::Bed,
    /// The plan's switch timeout (`--switch-timeout`); `None`: its default.
    pub switch_timeout: Option<Duration>,
}

impl Deref for Bed {
    type Target = fleet_testbed::Bed;
    fn deref(&self) -> &fleet_testbed::Bed {
        &self.bed
    }
}

impl DerefMut for Bed {
    fn deref_mut(&mut self) -> &mut fleet_testbed::Bed {
        &mut self.bed
    }
}

impl Bed {
    pub fn new(test: &str) -> Bed {
        Bed::with(test, Testbed::start)
    }

    /// A testbed whose init is real systemd ([`Testbed::start_systemd`]).
    pub fn new_systemd(test: &str) -> Bed {
        Bed::with(test, Testbed::start_systemd)
    }

    /// A testbed whose network can be cut ([`Testbed::start_partitionable`]).
    pub fn partitionable(test: &str) -> Bed {
        Bed::with(test, Testbed::start_partitionable)
    }

    fn with(test: &str, start: fn(&Utf8Path) -> Result<Testbed, TestbedError>) -> Bed {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy").join(test);
        Bed { bed: fleet_testbed::Bed::start(dir, test, start).unwrap(), switch_timeout: None }
    }

    pub fn fleet(&self) -> Fleet {
        let json = Testbed::nix().eval_json_file(&self.fixture.dir().join("nix/fleet.nix")).unwrap();
        Fleet::from_json(&json).unwrap()
    }

    pub fn deploy(&self, containers: &[&str]) -> (Summary, Vec<String>) {
        self.deploy_to(containers, &self.testbed.target())
    }

    pub fn deploy_to(&self, containers: &[&str], target: &Target) -> (Summary, Vec<String>) {
        let events = Recorder::default();
        let summary = self.run(Mode::Deploy, containers, target, Some(Duration::from_secs(30)), &events);
        (summary, events.0.into_inner().unwrap())
    }

    pub fn run(
        &self,
        mode: Mode,
        containers: &[&str],
        target: &Target,
        confirm: Option<Duration>,
        sink: &dyn Sink,
    ) -> Summary {
        let fleet = self.fleet();
        let kinds = Kinds::standard();
        let containers: Vec<String> = containers.iter().map(|s| s.to_string()).collect();
        let plan = Plan::new(&fleet, &kinds, &[], &containers, &self.fixture.flake_ref())
            .unwrap()
            .with_confirm_timeout(confirm);
        let plan = match self.switch_timeout {
            Some(timeout) => plan.with_switch_timeout(timeout),
            None => plan,
        };
        let targets: BTreeMap<String, Target> = plan.targets(Some(target)).unwrap().into_iter().collect();
        plan.run(&Testbed::nix(), mode, &targets, sink)
    }

    pub fn activation_order(&self) -> Vec<String> {
        self.testbed.activations().unwrap().into_iter().map(|r| r.node).collect()
    }

    /// Each activation after the first `before`, as `NODE ACTION`.
    pub fn actions_since(&self, before: usize) -> Vec<String> {
        let records = self.testbed.activations().unwrap().split_off(before);
        records.iter().map(|r| format!("{} {}", r.node, r.action)).collect()
    }
}

/// A path under the target's state dir, as this machine sees it.
pub fn state(testbed: &Testbed, path: &str) -> Utf8PathBuf {
    testbed.on_target(&Utf8Path::new(STATE_DIR).join(path))
}

/// The target's lease record, field by field (see `sh/agent.sh`): epoch,
/// run, the agent's process group, expiry, boot id, the epoch the run holds
/// it since, holder; `None` when no run holds the lock.
pub fn lease(testbed: &Testbed) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(state(testbed, "deploy.lease")).ok()?;
    Some(text.split_whitespace().map(String::from).collect())
}

/// Records `node:stage` for every stage event.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<String>>);

impl Sink for Recorder {
    fn event(&self, event: Event<'_>) {
        if let Event::Stage { node, stage } = event {
            self.0.lock().unwrap().push(format!("{node}:{stage}"));
        }
    }
}

pub fn outcomes(summary: &Summary) -> Vec<String> {
    summary.nodes.iter().map(|n| format!("{}={}", n.node, n.outcome.label())).collect()
}

pub fn stages(events: &[String], stage: Stage) -> BTreeSet<String> {
    let suffix = format!(":{stage}");
    events.iter().filter_map(|e| e.strip_suffix(&suffix)).map(String::from).collect()
}

pub fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
