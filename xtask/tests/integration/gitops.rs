//! GitOps end to end, with real parts: a bare repository served by `git
//! daemon` on loopback (the forge's git side), the real `webhook` daemon on
//! the host's hook definition, a forge stand-in that records the commit
//! statuses it receives (`gitops/forge.rs`), and the fleet testbed as the VPS,
//! where `scripts/gitops-deploy.sh` runs `fleet deploy --target local`.
//!
//! The systemd unit cannot run here (no systemd PID 1): the hook's
//! `systemctl start --no-block gitops-deploy@INSTANCE.service` reaches a
//! stand-in (`gitops/systemctl.sh`) that runs the unit's script as the unit
//! would: same argument, the unit's environment, as root on the VPS. The
//! orchestrator is `cargo xtask`, which is `fleet` for every user command.
//!
//! Pins the queue of one: commit B, delivered while A deploys, waits and is
//! deployed after A (the script before it refused B as busy: B was dropped).

#[path = "gitops/forge.rs"]
mod forge;
#[path = "gitops/parts.rs"]
mod parts;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use camino::Utf8PathBuf;
use fleet_testbed::{wait_until, Fixture, Testbed};
use forge::Forge;
use parts::{git_daemon, repo_root, run, webhook, write_executable, Delivery, REPOSITORY};

const SECRET: &str = "the-shared-webhook-secret";
const TOKEN: &str = "the-status-token";
const TARGET_URL: &str = "https://grafana.example.org/d/gitops";
const SYSTEMCTL: &str = include_str!("gitops/systemctl.sh");
/// Long enough for two deploys on a busy machine.
const DEPLOY_LIMIT: Duration = Duration::from_secs(300);

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// The exit code of each ended unit run of `instance`, in order.
fn ended(units: &Path, instance: &str) -> Vec<String> {
    read(&units.join("ended"))
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{instance} ")).map(str::to_string))
        .collect()
}

/// The statuses posted under `context`, as (commit, state), in order.
fn statuses(forge: &Forge, context: &str) -> Vec<(String, String)> {
    forge
        .received()
        .into_iter()
        .filter(|r| r.body["context"] == context)
        .map(|r| {
            let commit = r.request.rsplit('/').next().unwrap_or_default().to_string();
            (commit, r.body["state"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn a_commit_delivered_during_a_deploy_is_deployed_after_it_and_reported() {
    fleet_testbed::ensure_programs(
        &[("webhook", "webhook"), ("git", "git"), ("curl", "curl"), ("openssl", "openssl"), ("jq", "jq")],
        true,
        &mut |line| eprintln!("gitops: {line}"),
    )
    .expect("the test's programs are installed");
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gitops_end_to_end");
    let _ = fs::remove_dir_all(&dir);
    let units = dir.join("units");
    for sub in ["forge", "units", "standin"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let testbed = Testbed::start(&dir.join("testbed")).expect("the testbed starts");

    // The repository: the fixture flake with its (empty) lock file; A's
    // nannuo-bot build waits for a gate the test opens.
    let gate = dir.join("gate");
    let mut fixture = Fixture::create(&dir.join("flake"), &testbed.address()).unwrap();
    fs::write(
        fixture.dir().join("flake.lock"),
        "{\"nodes\":{\"root\":{}},\"root\":\"root\",\"version\":7}\n",
    )
    .unwrap();
    fixture.gate_build("nannuo-bot", &gate).unwrap();
    let bare = dir.join("forge/fleet.git");
    run(Command::new("git").args(["init", "--quiet", "--bare", bare.as_str()]));
    let push = |fixture: &Fixture| -> String {
        fixture.commit().unwrap();
        run(Command::new("git").current_dir(fixture.dir()).args([
            "push",
            "--quiet",
            bare.as_str(),
            "HEAD:refs/heads/main",
        ]));
        run(Command::new("git").current_dir(fixture.dir()).args(["rev-parse", "HEAD"])).trim().to_string()
    };
    let a = push(&fixture);
    let (_git, git_url) = git_daemon(dir.join("forge").as_std_path());

    let forge = Forge::start();
    fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let state = dir.join("state");
    let textfile = dir.join("textfile/gitops-deploy.prom");
    // The unit's Environment= lines, as nix/gitops.nix sets them.
    let unit_env = [
        format!("GITOPS_REPO_URL={git_url}/fleet.git"),
        "GITOPS_BRANCH=main".into(),
        format!("GITOPS_STATE_DIR={state}"),
        "GITOPS_LOCK_TIMEOUT=7200".into(),
        format!("XDG_CACHE_HOME={state}/cache"),
        format!("FLEET_BIN={}", env!("CARGO_BIN_EXE_xtask")),
        format!("GITOPS_STATUS_REPOSITORY={REPOSITORY}"),
        format!("GITOPS_STATUS_API={}", forge.url),
        format!("GITOPS_STATUS_TOKEN_FILE={dir}/token"),
        format!("GITOPS_STATUS_TARGET_URL={TARGET_URL}"),
        format!("GITOPS_TEXTFILE={textfile}"),
        format!("GITOPS_ON_FAILURE={dir}/on-failure"),
    ];
    write_executable(
        dir.join("on-failure").as_std_path(),
        &format!("#!/bin/sh\necho \"$*\" >>{dir}/failures\n"),
    );
    fs::write(dir.join("unit.env"), unit_env.join("\n") + "\n").unwrap();
    write_executable(dir.join("standin/systemctl").as_std_path(), SYSTEMCTL);
    let ssh_port = testbed.address().rsplit(':').next().unwrap().to_string();
    let path = format!("{dir}/standin:{}", std::env::var("PATH").unwrap_or_default());
    let webhook_env: Vec<(String, String)> = [
        ("PATH", path),
        ("E2E_UNITS", units.to_string()),
        ("E2E_UNIT_ENV", format!("{dir}/unit.env")),
        ("E2E_SCRIPT", repo_root().join("scripts/gitops-deploy.sh").display().to_string()),
        ("E2E_SSH_PORT", ssh_port),
        ("E2E_SSH_KEY", format!("{}/ssh/id_ed25519", testbed.dir())),
        ("E2E_SSH_TARGET", "root@127.0.0.1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (_webhook, url) = webhook(dir.as_std_path(), SECRET, &webhook_env);

    // A is delivered and starts deploying; its build waits at the gate.
    let deliver_a = Delivery::new(dir.as_std_path(), &a, SECRET);
    assert_eq!(deliver_a.post(&url).trim(), "deploy requested");
    let a_instance = format!("{a}-{}", deliver_a.id);
    let a_log = units.join(format!("{a_instance}.log"));
    wait_until("A's deploy started", DEPLOY_LIMIT, || {
        read(a_log.as_std_path()).contains(&format!("deploying {a}"))
    });

    // B is pushed and delivered while A deploys.
    fixture.set_version("nannuo-bot", "2").unwrap();
    let b = push(&fixture);
    let deliver_b = Delivery::new(dir.as_std_path(), &b, SECRET);
    assert_eq!(deliver_b.post(&url).trim(), "deploy requested");
    let b_instance = format!("{b}-{}", deliver_b.id);
    let b_log = units.join(format!("{b_instance}.log"));
    wait_until("B waits for A or ended", DEPLOY_LIMIT, || {
        read(b_log.as_std_path()).contains("waits in the queue")
            || !ended(units.as_std_path(), &b_instance).is_empty()
    });
    fs::write(&gate, "").unwrap();
    wait_until("A's and B's units ended", DEPLOY_LIMIT, || {
        !ended(units.as_std_path(), &a_instance).is_empty()
            && !ended(units.as_std_path(), &b_instance).is_empty()
    });
    let a_text = read(a_log.as_std_path());
    assert_eq!(ended(units.as_std_path(), &a_instance), ["0"], "A's unit failed:\n{a_text}");
    let b_text = read(b_log.as_std_path());
    assert_eq!(
        ended(units.as_std_path(), &b_instance),
        ["0"],
        "B was not deployed after A (dropped):\n{b_text}"
    );
    assert!(b_text.contains("waits in the queue"), "B waited for A:\n{b_text}");
    assert_eq!(
        testbed.profile("/nix/var/nix/profiles/per-container/nannuo-bot/system"),
        Some(fixture.system_path("nannuo-bot").unwrap()),
        "the VPS runs B's nannuo-bot"
    );
    assert_eq!(read(state.join("last-deployed").as_std_path()).trim(), b);
    let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the state folder (a private repository's mirror) is private");
    assert!(state.join("cache/nix/gitv3").is_dir(), "Nix's fetcher cache is under the persisted state");
    let deploy_log = read(state.join("deploy.log").as_std_path());
    let deployed: Vec<&str> = deploy_log
        .lines()
        .filter(|l| l.contains(" deployed: "))
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(deployed, [a.as_str(), b.as_str()], "A, then B:\n{deploy_log}");

    let overall = "fleet/deploy";
    // The statuses, in order: overall and per node, A pending and success,
    // then B pending and success; each with the token, the summary line and
    // the link.
    let in_order = |context: &str| {
        let want = [(&a, "pending"), (&a, "success"), (&b, "pending"), (&b, "success")]
            .map(|(c, s)| (c.to_string(), s.to_string()));
        assert_eq!(statuses(&forge, context), want, "statuses of {context}: {:#?}", forge.received());
    };
    in_order(overall);
    for node in ["vps-arm", "bgs-backend", "nannuo-bot", "test-container"] {
        in_order(&format!("{overall}/{node}"));
    }
    let received = forge.received();
    assert!(received.iter().all(|r| r.request.starts_with(&format!("POST /repos/{REPOSITORY}/statuses/"))));
    assert!(received.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    assert!(received.iter().all(|r| r.body["target_url"] == TARGET_URL));
    let last = received.iter().rfind(|r| r.body["context"] == overall).unwrap();
    assert_eq!(last.body["description"], "4 nodes: 1 activated, 3 unchanged", "B's summary line");
    let b_bot = received.iter().rfind(|r| r.body["context"] == "fleet/deploy/nannuo-bot").unwrap();
    assert_eq!(b_bot.body["description"], "activated");

    // The textfile names B and each node's outcome.
    let metrics = read(textfile.as_std_path());
    assert!(metrics.contains(&format!("gitops_deployed_commit_info{{commit=\"{b}\"}} 1\n")), "{metrics}");
    assert!(
        metrics.contains("gitops_deploy_node_success{node=\"nannuo-bot\",outcome=\"activated\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gitops_deploy_success{commit=\"")
            && metrics.contains("gitops_deploy_duration_seconds ")
    );

    // A replayed delivery (GitHub's Redeliver keeps the id) runs the unit,
    // which does nothing.
    let activations = testbed.activations().unwrap();
    let posted = forge.received().len();
    assert_eq!(deliver_b.post(&url).trim(), "deploy requested");
    wait_until("the replay's unit ended", DEPLOY_LIMIT, || {
        ended(units.as_std_path(), &b_instance).len() == 2
    });
    assert_eq!(ended(units.as_std_path(), &b_instance), ["0", "0"]);
    assert!(read(b_log.as_std_path()).contains("a replay does nothing"));
    assert_eq!(testbed.activations().unwrap(), activations, "a replay activates nothing");
    assert_eq!(forge.received().len(), posted, "a replay posts no status");

    // A forged delivery (another secret) is refused by webhook before any
    // unit starts: its answer is not the hook's.
    let started = read(units.join("started").as_std_path());
    let forged = Delivery::new(dir.as_std_path(), &a, "not-the-secret");
    assert_ne!(forged.post(&url).trim(), "deploy requested");
    assert_eq!(read(units.join("started").as_std_path()), started, "a forged delivery starts no unit");

    // C fails on one node (its switch fails and it rolls back): failure
    // statuses, overall and for that node, and the failure hook.
    fixture.set_version("test-container", "2").unwrap();
    fixture.fail_switch("test-container", true).unwrap();
    let c = push(&fixture);
    let deliver_c = Delivery::new(dir.as_std_path(), &c, SECRET);
    assert_eq!(deliver_c.post(&url).trim(), "deploy requested");
    let c_instance = format!("{c}-{}", deliver_c.id);
    wait_until("C's unit ended", DEPLOY_LIMIT, || !ended(units.as_std_path(), &c_instance).is_empty());
    assert_eq!(ended(units.as_std_path(), &c_instance), ["1"], "C failed");
    let with_end = |end: &str| [(c.clone(), "pending".to_string()), (c.clone(), end.to_string())];
    assert_eq!(statuses(&forge, overall)[4..], with_end("failure"));
    assert_eq!(statuses(&forge, "fleet/deploy/test-container")[4..], with_end("failure"));
    assert_eq!(statuses(&forge, "fleet/deploy/nannuo-bot")[4..], with_end("success"));
    let container =
        forge.received().into_iter().rfind(|r| r.body["context"] == "fleet/deploy/test-container").unwrap();
    assert!(
        container.body["description"].as_str().unwrap().starts_with("rolled back: "),
        "{:?}",
        container.body
    );
    let failures = read(&dir.join("failures").into_std_path_buf());
    assert_eq!(failures, format!("{c} 1 4 nodes: 1 rolled back, 3 unchanged\n"), "the failure hook ran once");

    // No rewind after the partial failure: a new delivery for B (a re-run of
    // its CI) is refused, since C is the last attempted commit.
    let activations = testbed.activations().unwrap();
    let again_b = Delivery::new(dir.as_std_path(), &b, SECRET);
    assert_eq!(again_b.post(&url).trim(), "deploy requested");
    let again_instance = format!("{b}-{}", again_b.id);
    wait_until("B's second unit ended", DEPLOY_LIMIT, || {
        !ended(units.as_std_path(), &again_instance).is_empty()
    });
    assert_eq!(ended(units.as_std_path(), &again_instance), ["3"], "B refused");
    let again_log = read(units.join(format!("{again_instance}.log")).as_std_path());
    assert!(again_log.contains(&format!("not a descendant of the last attempted commit {c}")), "{again_log}");
    assert_eq!(testbed.activations().unwrap(), activations, "nothing was rewound");
}
