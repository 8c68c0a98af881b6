//! The real parts of the GitOps test around the VPS: a bare repository served
//! by `git daemon` on loopback, the real `webhook` daemon on the hook
//! definition the host uses (nix/webhook-hook.nix, through
//! scripts/checks/webhook-hooks.nix) with scripts/gitops-trigger.sh as its
//! command, and GitHub's side of a delivery (body, HMAC signature, headers).

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fleet_testbed::wait_until;

/// The repository the hook is pinned to, as GitHub names it.
pub const REPOSITORY: &str = "acme/fleet";

/// A daemon this test started; stopped (by its pid) when dropped.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the repository").to_path_buf()
}

/// Runs a command to its end; panics with its stderr if it fails.
pub fn run(command: &mut Command) -> String {
    let out = command.stdin(Stdio::null()).output().expect("the command starts");
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn wait_for_port(what: &str, port: u16) {
    wait_until(what, Duration::from_secs(30), || TcpStream::connect(("127.0.0.1", port)).is_ok());
}

/// `git daemon` serving every repository under `base` at `git://127.0.0.1:PORT/`.
pub fn git_daemon(base: &Path) -> (Daemon, String) {
    let port = free_port();
    let child = Command::new("git")
        .args(["daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon starts");
    let daemon = Daemon(child);
    wait_for_port("git daemon listens", port);
    (daemon, format!("git://127.0.0.1:{port}"))
}

/// The real webhook daemon as services.webhook starts it (`-template`, the
/// secret in its environment), on the host's hook definition, with
/// scripts/gitops-trigger.sh as the command and `env` added to its
/// environment (which webhook hands on to the command). Returns the hook's URL.
pub fn webhook(dir: &Path, secret: &str, env: &[(String, String)]) -> (Daemon, String) {
    let trigger = repo_root().join("scripts/gitops-trigger.sh");
    let apply =
        format!("f: f {{ executeCommand = \"{}\"; repository = \"{REPOSITORY}\"; }}", trigger.display());
    let hooks = run(fleet_testbed::hermetic(Command::new("nix").args([
        "--extra-experimental-features",
        "nix-command",
        "eval",
        "--raw",
        "--file",
    ]))
    .arg(repo_root().join("scripts/checks/webhook-hooks.nix"))
    .args(["--apply", &apply]));
    fs::write(dir.join("hooks.json"), hooks).expect("write hooks.json");
    let port = free_port();
    let log = fs::File::create(dir.join("webhook.log")).expect("create webhook.log");
    let child = Command::new("webhook")
        .args([
            "-ip",
            "127.0.0.1",
            "-port",
            &port.to_string(),
            "-urlprefix",
            "hooks",
            "-template",
            "-verbose",
        ])
        .arg("-hooks")
        .arg(dir.join("hooks.json"))
        .env("GITOPS_WEBHOOK_SECRET", secret)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .expect("webhook starts");
    let daemon = Daemon(child);
    wait_for_port("webhook listens", port);
    (daemon, format!("http://127.0.0.1:{port}/hooks/deploy"))
}

/// Writes an executable file.
pub fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).expect("write the file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("make it executable");
}

/// A `workflow_run` delivery as GitHub sends it for a successful CI run of
/// `sha` on main, signed with `secret`, with its `X-GitHub-Delivery` id.
pub struct Delivery {
    /// The body, byte for byte as signed.
    pub body: String,
    /// `sha256=HEX`, the `X-Hub-Signature-256` header.
    pub signature: String,
    /// The delivery's GUID.
    pub id: String,
}

impl Delivery {
    /// The delivery for `sha`, signed with `secret`.
    pub fn new(dir: &Path, sha: &str, secret: &str) -> Delivery {
        let body = serde_json::json!({
            "action": "completed",
            "repository": { "full_name": REPOSITORY },
            "workflow_run": {
                "head_sha": sha, "head_branch": "main", "event": "push",
                "path": ".github/workflows/ci.yml", "status": "completed", "conclusion": "success",
                "head_repository": { "full_name": REPOSITORY },
            },
        })
        .to_string();
        let id = fs::read_to_string("/proc/sys/kernel/random/uuid").expect("a fresh GUID").trim().to_string();
        let file = dir.join(format!("delivery-{id}.json"));
        fs::write(&file, &body).expect("write the body");
        let hmac = run(Command::new("openssl").args(["dgst", "-sha256", "-hmac", secret, "-r"]).arg(&file));
        let signature = format!("sha256={}", hmac.split_whitespace().next().expect("a digest"));
        Delivery { body, signature, id }
    }

    /// Posts it to `url`; returns the response's body.
    pub fn post(&self, url: &str) -> String {
        run(Command::new("curl")
            .args(["-s", "--max-time", "10", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(["-H", "X-GitHub-Event: workflow_run"])
            .args(["-H", &format!("X-GitHub-Delivery: {}", self.id)])
            .args(["-H", &format!("X-Hub-Signature-256: {}", self.signature)])
            .args(["--data-binary", &self.body, url]))
    }
}
