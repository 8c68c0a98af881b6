//! The one definition of each activation command, `src/activation.txt`,
//! against everything that activates a node: the kinds (the activation job
//! with the kind's script), the bench's lower bound and the testbed's init
//! stand-ins. Each is run here with recording stand-ins first on `PATH`, and
//! what it ran (and, for the stand-ins, what they made the system do) must be
//! what the definition lists, in order.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use camino::Utf8PathBuf;
use fleet_deploy::{Goal, Kinds};
use fleet_graph::Fleet;

/// The definition's text.
const DEFINITION: &str = include_str!("../../src/activation.txt");
/// The activation job, as the agent installs it: after the prelude it uses.
const JOB: &str = concat!(include_str!("../../src/sh/prelude.sh"), include_str!("../../src/sh/job.sh"));
/// The test's node names: words no path here contains.
const HOST: &str = "hostq";
const CONTAINER: &str = "nodeq";

/// One command of the definition.
#[derive(Debug)]
struct Row {
    kind: String,
    /// A goal, or another verb of the kind's script (`restart`).
    goal: String,
    case: Option<String>,
    command: String,
    effect: Option<String>,
}

/// The definition: each kind's profile, and the commands.
fn definition() -> (BTreeMap<String, String>, Vec<Row>) {
    let mut profiles = BTreeMap::new();
    let mut rows = Vec::new();
    for line in DEFINITION.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (head, rest) = line.split_once(": ").unwrap_or_else(|| panic!("no `: ` in `{line}`"));
        let words: Vec<&str> = head.split_whitespace().collect();
        match words[..] {
            [kind, "profile"] => {
                profiles.insert(kind.to_string(), rest.to_string());
            }
            [kind, goal] | [kind, goal, _] => {
                let (command, effect) = match rest.split_once(" => ") {
                    Some((command, effect)) => (command, Some(effect.to_string())),
                    None => (rest, None),
                };
                rows.push(Row {
                    kind: kind.into(),
                    goal: goal.into(),
                    case: words.get(2).map(|c| c.to_string()),
                    command: command.into(),
                    effect,
                });
            }
            _ => panic!("not a definition line: `{line}`"),
        }
    }
    (profiles, rows)
}

/// Every program the definition's commands start.
fn programs() -> Vec<&'static str> {
    let mut programs: Vec<&'static str> = DEFINITION
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .filter(|(head, _)| !head.ends_with(" profile"))
        .filter_map(|(_, command)| command.split_whitespace().next())
        .collect();
    programs.sort_unstable();
    programs.dedup();
    programs
}

/// The commands of `kind` for `goal` (and `case`, for a container), in order.
fn rows<'a>(rows: &'a [Row], kind: &str, goal: &str, case: Option<&str>) -> Vec<&'a Row> {
    rows.iter().filter(|r| r.kind == kind && r.goal == goal && r.case.as_deref() == case).collect()
}

/// Where the recording stand-ins hand a command on to.
#[derive(Clone, Copy)]
enum StandIns {
    /// The testbed's init stand-ins, which make the fake systems record their
    /// activation; `nix-env` sets the profile link.
    Testbed,
    /// Nothing happens (for the bench's lower bound, whose profiles are this
    /// machine's real paths): only `is-active` answers, from the running marker.
    Inert,
}

/// A folder with recording stand-ins, as the target of one run.
struct Scene {
    dir: Utf8PathBuf,
}

impl Scene {
    fn new(name: &str, stand_ins: StandIns, running: bool) -> Scene {
        let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("activation").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["bin", "running", "profiles", "state/jobs"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        if running {
            std::fs::write(dir.join("running").join(CONTAINER), "").unwrap();
        }
        let fixture = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fleet-testbed/src/fixture");
        let record = "printf '%s\\n' \"${0##*/} $*\" >>\"$TESTBED_DIR/trace\"\n";
        // Every program the definition names is recorded, so that a step with a
        // new program is seen as soon as the definition lists it.
        for program in programs() {
            let then = match (stand_ins, program) {
                (StandIns::Testbed, "nix-env") => {
                    "[ \"$1 $3\" = '-p --set' ] && mkdir -p \"${2%/*}\" && ln -sfn \"$4\" \"$2\"\n"
                        .to_string()
                }
                (StandIns::Testbed, _) if fixture.join(program).exists() => {
                    format!("exec sh {fixture}/{program} \"$@\"\n")
                }
                (StandIns::Testbed, _) => format!(
                    "echo 'the testbed has no stand-in for {program}: add crates/fleet-testbed/src/fixture/{program}' >&2\n\
                     exit 127\n"
                ),
                (StandIns::Inert, "systemctl") => {
                    "[ \"$1\" != is-active ] || [ -e \"$TESTBED_DIR/running/${3#container@}\" ]\n".to_string()
                }
                (StandIns::Inert, _) => String::new(),
            };
            write_script(&dir.join("bin").join(program), &format!("#!/bin/sh\n{record}{then}"));
        }
        // For the bench's lower bound: nix builds nothing and copies nothing, ssh
        // runs the remote command here, and no folder is made under /nix.
        write_script(
            &dir.join("bin/nix"),
            "#!/bin/sh\ncase \" $* \" in *' build '*) ;; *) exit 0 ;; esac\nprintf '['\nsep=\nfor a; do\n  \
             case $a in *nixosConfigurations.*)\n    n=${a#*nixosConfigurations.\\\"} n=${n%%\\\"*}\n    \
             printf '%s{\"outputs\":{\"out\":\"/nix/store/00000000000000000000000000000000-nixos-system-%s-1\"}}' \
             \"$sep\" \"$n\"\n    sep=, ;;\n  esac\ndone\necho ']'\n",
        );
        write_script(
            &dir.join("bin/ssh"),
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -p | -o | -i) shift 2 ;; -*) shift ;; *) break ;; esac; done\n\
             shift\nexec sh -c \"$*\"\n",
        );
        let mkdir = if Path::new("/bin/mkdir").exists() { "/bin/mkdir" } else { "/usr/bin/mkdir" };
        write_script(
            &dir.join("bin/mkdir"),
            &format!(
                "#!/bin/sh\ncase \"$*\" in *' /nix/var/nix/profiles'*) exit 0 ;; esac\nexec {mkdir} \"$@\"\n"
            ),
        );
        Scene { dir }
    }

    /// `program ARGS...` with the stand-ins first on PATH.
    fn command(&self, program: &str) -> Command {
        let path = format!("{}:{}", self.dir.join("bin"), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new(program);
        cmd.env("PATH", path)
            .env("TESTBED_DIR", &self.dir)
            .env("TESTBED_PROFILES", self.dir.join("profiles"))
            .env("NIX_SSHOPTS", "");
        cmd
    }

    /// What ran, and what the systems recorded, as the definition writes them.
    fn observed(&self, replace: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let read = |file: &str| {
            let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            text.lines().map(|line| normalize(line, replace)).collect::<Vec<_>>()
        };
        (read("trace"), read("activation.log"))
    }
}

fn write_script(path: &camino::Utf8Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A lease record that run `run` holds at `epoch` (see `sh/agent.sh`), with
/// time left on this machine's clock.
fn lease_record(run: &str, epoch: u32) -> String {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
    let up: u64 = uptime.split('.').next().unwrap().parse().unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    format!("{epoch} {run} 1 {} {} {epoch} test\n", up + 3600, boot.trim())
}

/// A line with the run's values replaced by the definition's names.
fn normalize(line: &str, replace: &[(&str, &str)]) -> String {
    let mut line = line.to_string();
    for (value, name) in replace {
        line = line.replace(value, name);
    }
    line.split(' ')
        .map(|word| match word {
            _ if word.starts_with("--unit=") => "--unit=UNIT",
            _ if word.starts_with("--property=RuntimeMaxSec=") => "--property=RuntimeMaxSec=SECONDS",
            _ => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kind's script as the built-in kinds give it.
fn kind_script(kind: &str) -> &'static str {
    let fleet = Fleet::from_json(&format!(
        r#"{{"nodes":{{"{HOST}":{{"kind":"host"}},"{CONTAINER}":{{"kind":"container","host":"{HOST}"}}}}}}"#
    ))
    .unwrap();
    let name = if kind == "host" { HOST } else { CONTAINER };
    let node = fleet.node(name).unwrap();
    Kinds::standard().of(node).switch_script()
}

#[test]
fn the_kinds_profiles_are_the_definitions() {
    let (profiles, _) = definition();
    let fleet = Fleet::from_json(&format!(
        r#"{{"nodes":{{"{HOST}":{{"kind":"host"}},"{CONTAINER}":{{"kind":"container","host":"{HOST}"}}}}}}"#
    ))
    .unwrap();
    let kinds = Kinds::standard();
    for name in [HOST, CONTAINER] {
        let node = fleet.node(name).unwrap();
        let kind = kinds.of(node);
        assert_eq!(kind.profile(node).replace(CONTAINER, "NODE"), profiles[kind.name()], "{name}");
    }
}

#[test]
fn the_kinds_and_the_testbed_stand_ins_do_what_the_definition_says() {
    let (_, all) = definition();
    // Every goal for every kind (a container running or stopped), and every
    // other verb the definition lists.
    let mut cases: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for goal in Goal::ALL.map(Goal::name) {
        cases.push(("host", goal, None));
        cases.push(("container", goal, Some("running")));
        cases.push(("container", goal, Some("stopped")));
    }
    for row in &all {
        let case = (row.kind.as_str(), row.goal.as_str(), row.case.as_deref());
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    for (kind, goal, case) in cases {
        let expected = rows(&all, kind, goal, case);
        assert!(!expected.is_empty(), "the definition lists no command for {kind} {goal} {case:?}");
        let label = format!("{kind}-{goal}-{}", case.unwrap_or("any"));
        let scene = Scene::new(&label, StandIns::Testbed, case == Some("running"));
        let node = if kind == "host" { HOST } else { CONTAINER };
        let profile = match kind {
            "host" => scene.dir.join("profiles/system"),
            _ => scene.dir.join(format!("profiles/per-container/{CONTAINER}/system")),
        };
        let system = scene.dir.join("system");
        std::fs::create_dir_all(system.join("bin")).unwrap();
        std::fs::write(system.join("nixos-version"), "1\n").unwrap();
        write_script(
            &system.join("bin/switch-to-configuration"),
            &format!("#!/bin/sh\necho \"{node} $1 {system}\" >>\"$TESTBED_DIR/activation.log\"\n"),
        );
        let state = scene.dir.join("state");
        std::fs::create_dir_all(state.join("bin")).unwrap();
        std::fs::write(state.join(format!("bin/run-1-kind-{kind}.sh")), kind_script(kind)).unwrap();
        std::fs::write(scene.dir.join("job.sh"), JOB).unwrap();
        std::fs::write(state.join("deploy.lease"), lease_record("run-1", 1)).unwrap();
        let spec = [
            format!("kind={kind}"),
            format!("profile={profile}"),
            format!("system={system}"),
            "expect=".into(),
            "confirm=0".into(),
            "check-timeout=5".into(),
            "switch-timeout=60".into(),
            format!("verb={goal}"),
            "generation=".into(),
        ];
        std::fs::write(state.join(format!("jobs/{node}.spec")), spec.join("\n") + "\n").unwrap();
        let out = scene
            .command("sh")
            .arg(scene.dir.join("job.sh"))
            .args([state.as_str(), "run-1", "1", node])
            .output()
            .unwrap();
        let status = std::fs::read_to_string(state.join(format!("jobs/{node}.status"))).unwrap_or_default();
        let log = std::fs::read_to_string(state.join(format!("jobs/{node}.log"))).unwrap_or_default();
        let refused = kind == "container" && goal == "test" && case == Some("stopped");
        assert_eq!(
            (out.status.code(), status.split(':').next().unwrap_or_default().trim()),
            if refused { (Some(3), "refused") } else { (Some(0), "ok") },
            "{label}: {status}\n{log}{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let replace = [(profile.as_str(), "PROFILE"), (system.as_str(), "SYSTEM"), (node, "NODE")];
        let (trace, effects) = scene.observed(&replace);
        let commands: Vec<&str> = expected.iter().map(|r| r.command.as_str()).collect();
        assert_eq!(trace, commands, "{label}: what the job and the kind's script ran");
        let wanted: Vec<String> =
            expected.iter().filter_map(|r| r.effect.as_ref()).map(|e| format!("NODE {e} SYSTEM")).collect();
        assert_eq!(effects, wanted, "{label}: what the testbed's stand-ins made the system do");
    }
}

#[test]
fn the_bench_lower_bound_runs_the_definitions_switch() {
    let (profiles, all) = definition();
    let scripts = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench");
    let script = "lower-bound-deploy.sh";
    for case in ["running", "stopped"] {
        let scene = Scene::new(&format!("{script}-{case}"), StandIns::Inert, case == "running");
        let out = scene
            .command("bash")
            .arg(scripts.join(script))
            .args(["path:/nowhere", "", "root@example.org:22", HOST, CONTAINER])
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        let system =
            |node: &str| format!("/nix/store/00000000000000000000000000000000-nixos-system-{node}-1");
        let container_profile = profiles["container"].replace("NODE", CONTAINER);
        let (host_system, container_system) = (system(HOST), system(CONTAINER));
        let (trace, _) = scene.observed(&[
            (&container_profile, "PROFILE"),
            (&profiles["host"], "PROFILE"),
            (&host_system, "SYSTEM"),
            (&container_system, "SYSTEM"),
            (CONTAINER, "NODE"),
        ]);
        let expected: Vec<&str> = rows(&all, "host", "switch", None)
            .into_iter()
            .chain(rows(&all, "container", "switch", Some(case)))
            .map(|r| r.command.as_str())
            .collect();
        assert_eq!(trace, expected, "{script}, container {case}");
    }
}
