//! Calls to `nix`: evaluate graph data, build closures, copy them, read them.

use std::process::Command;

use camino::Utf8Path;
use serde::Deserialize;

use crate::build_log::{derivation_name, BuildLog, BuildLogEvent};
use crate::command::{self, CommandError, Failure};
use crate::restrict::GraphFile;
use crate::target::{SshTarget, Target};
/// Read by [`CommandError::is_nix_too_old`].
pub(crate) use crate::version::NIX_TOO_OLD;

/// Every flake and `nix` command this driver runs needs these, whatever the
/// user's nix.conf enables.
const FEATURES: &[&str] = &["--extra-experimental-features", "nix-command flakes"];

/// The hint printed when `nix` is missing.
const INSTALL_NIX: &str =
    "install Nix (on Debian: `apt-get install nix-bin`; elsewhere see https://nixos.org/download)";

/// A handle on the local `nix`, with the environment its commands run in.
#[derive(Debug, Clone, Default)]
pub struct Nix {
    env: Vec<(String, String)>,
    /// Passed to every build (e.g. `--builders SPEC`).
    build_args: Vec<String>,
    /// Passed to every evaluation and build: they may change what evaluates
    /// (e.g. `--impure`, `--override-input`), so no evaluation is reused.
    eval_args: Vec<String>,
    /// Let the target fetch from its substituters what it can, instead of
    /// receiving everything from here.
    substitute_on_destination: bool,
    /// Derivations whose `out` path the local store was found to hold, with
    /// that path: asked for many at once (see [`Nix::built_outputs`]).
    pub(crate) built: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

/// One store path of a closure with its NAR size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PathInfo {
    /// The store path.
    pub path: String,
    /// Its NAR size in bytes.
    #[serde(rename = "narSize")]
    pub nar_size: u64,
}

#[derive(Deserialize)]
struct PathInfoEntry {
    #[serde(rename = "narSize")]
    nar_size: u64,
}

/// Reads `nix path-info --json`: a list of `{path, narSize}` up to Nix 2.18, an
/// object keyed by path since.
fn parse_path_infos(json: &str) -> Result<Vec<PathInfo>, String> {
    if let Ok(list) = serde_json::from_str::<Vec<PathInfo>>(json) {
        return Ok(list);
    }
    let by_path: std::collections::BTreeMap<String, PathInfoEntry> =
        serde_json::from_str(json).map_err(|e| format!("not a list or map of path infos: {e}"))?;
    Ok(by_path.into_iter().map(|(path, entry)| PathInfo { path, nar_size: entry.nar_size }).collect())
}

#[derive(Deserialize)]
struct DrvBuildResult {
    #[serde(rename = "drvPath")]
    drv_path: String,
    outputs: std::collections::BTreeMap<String, String>,
}

/// A Nix string literal that reads back as exactly `text`: the one audited
/// place that puts a value into Nix source.
pub fn nix_string(text: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `--store` arguments and environment that make a nix command work on
/// `target`'s store (none for this machine's).
fn store_args(target: &Target) -> (Vec<String>, Vec<(&'static str, String)>) {
    match target {
        Target::Local => (Vec::new(), Vec::new()),
        Target::Ssh(ssh) => (
            vec!["--store".into(), format!("ssh-ng://{}", ssh.destination())],
            vec![("NIX_SSHOPTS", ssh.connection_args().join(" "))],
        ),
    }
}

impl Nix {
    /// A driver that runs `nix` from PATH with the current environment.
    pub fn new() -> Nix {
        Nix::default()
    }

    /// The same driver with one more environment variable for every command
    /// (e.g. `NIX_CONF_DIR` for a test's own Nix configuration).
    pub fn with_env(mut self, key: &str, value: &str) -> Nix {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The same driver, passing `args` to every build (e.g. `--builders SPEC`
    /// for Nix's distributed builds).
    pub fn with_build_args(mut self, args: impl IntoIterator<Item = String>) -> Nix {
        self.build_args.extend(args);
        self
    }

    /// The same driver, passing `args` to every evaluation and build (the
    /// arguments after `--` on the command line).
    pub fn with_eval_args(mut self, args: impl IntoIterator<Item = String>) -> Nix {
        self.eval_args.extend(args);
        self
    }

    /// Arguments for every evaluation.
    pub(crate) fn eval_args(&self) -> &[String] {
        &self.eval_args
    }

    /// Whether evaluations see nothing but the flake: no extra arguments.
    pub(crate) fn eval_args_are_plain(&self) -> bool {
        self.eval_args.is_empty()
    }

    /// The same driver, copying with `--substitute-on-destination`.
    pub fn substituting_on_destination(mut self, on: bool) -> Nix {
        self.substitute_on_destination = on;
        self
    }

    /// Fails with an install hint unless `nix` is on PATH.
    pub fn check_installed(&self) -> Result<(), CommandError> {
        command::find_program("nix", INSTALL_NIX).map(drop)
    }

    /// `nix eval --json --file FILE`: the file's value as JSON text. Graph data
    /// is pure data, so import-from-derivation is off (evaluating it never
    /// builds or runs anything) and it is evaluated in restricted mode: it
    /// reads nothing but its own folder (see [`crate::GRAPH_MAY_READ`]).
    pub fn eval_json_file(&self, file: &Utf8Path) -> Result<String, CommandError> {
        let args = GraphFile::resolve(file)?.eval_args();
        self.run(&["eval"].into_iter().chain(args.iter().map(String::as_str)).collect::<Vec<_>>())
    }

    /// Makes `link` a garbage-collector root of the local store path `path`
    /// (`nix build --out-link LINK PATH`), so that `nix-collect-garbage` keeps
    /// it for as long as the link exists.
    pub fn add_root(&self, link: &Utf8Path, path: &str) -> Result<(), CommandError> {
        self.run(&["build", "--out-link", link.as_str(), path]).map(drop)
    }

    /// One `nix build --json --no-link --max-jobs JOBS` of already evaluated
    /// derivations, in `store` (here, or a target's store when building there,
    /// which must hold the derivations: see [`Nix::copy_derivations_to`]): nix
    /// schedules every build. `on_log` gets nix's progress as it comes (see
    /// [`BuildLogEvent`]). Returns each derivation's `out` path by derivation.
    /// Any failed build fails the whole call, but only once nix has built
    /// every other derivation it could (`--keep-going`).
    pub fn build_derivations(
        &self,
        drvs: &[String],
        jobs: usize,
        store: &Target,
        on_log: &mut dyn FnMut(BuildLogEvent),
    ) -> Result<std::collections::HashMap<String, String>, CommandError> {
        let jobs = jobs.to_string();
        // One derivation that fails must not stop the others' builds.
        let extra: &[&str] =
            if drvs.len() > 1 { &["--max-jobs", &jobs, "--keep-going"] } else { &["--max-jobs", &jobs] };
        let mut log = BuildLog::new();
        let stdout = self.run_build(extra, drvs, store, &mut |line| {
            let event = log.read(line)?;
            let text = match &event {
                BuildLogEvent::Message { level, text } if *level <= 1 => Some(text.clone()),
                BuildLogEvent::LogLine { drv, line } => Some(format!("{}> {line}", derivation_name(drv))),
                _ => None,
            };
            on_log(event);
            text
        })?;
        let results: Vec<DrvBuildResult> = serde_json::from_str(&stdout).map_err(|e| CommandError {
            command: format!("nix build --json --no-link ... ({} derivations)", drvs.len()),
            failure: Failure::Output(e.to_string()),
        })?;
        Ok(results.into_iter().filter_map(|r| Some((r.drv_path, r.outputs.get("out")?.clone()))).collect())
    }

    /// The derivations among the closures of `drvs` that `store` lacks the
    /// outputs of, so that a build of `drvs` would build them (`nix build
    /// --dry-run`); substitutable ones are not counted.
    pub fn derivations_to_build(&self, drvs: &[String], store: &Target) -> Result<Vec<String>, CommandError> {
        let mut log = BuildLog::new();
        let mut listing = false;
        let mut found = Vec::new();
        self.run_build(&["--dry-run"], drvs, store, &mut |line| {
            let BuildLogEvent::Message { text, .. } = log.read(line)? else { return None };
            // "these 2 derivations will be built:" (or "this derivation will
            // be built:"), then one indented store path a message.
            if let Some(path) = text.strip_prefix("  ").filter(|p| p.starts_with('/')) {
                if listing && path.ends_with(".drv") {
                    found.push(path.to_string());
                }
                return None;
            }
            listing = text.contains("will be built");
            Some(text)
        })?;
        Ok(found)
    }

    /// `nix copy --derivation` of `drvs` to the target, so that it can build them.
    pub fn copy_derivations_to(&self, target: &Target, drvs: &[String]) -> Result<(), CommandError> {
        self.copy(target, drvs, &["--derivation"])
    }

    /// `nix copy --to ssh-ng://...` of `paths` and their closures. Nothing to
    /// do for a local target, whose store already holds them.
    pub fn copy_to(&self, target: &Target, paths: &[String]) -> Result<(), CommandError> {
        let substitute: &[&str] =
            if self.substitute_on_destination { &["--substitute-on-destination"] } else { &[] };
        self.copy(target, paths, substitute)
    }

    fn copy(&self, target: &Target, paths: &[String], extra: &[&str]) -> Result<(), CommandError> {
        let Target::Ssh(ssh) = target else { return Ok(()) };
        if paths.is_empty() {
            return Ok(());
        }
        let store = format!("ssh-ng://{}", ssh.destination());
        // The target's daemon runs as root over SSH, so it trusts what the
        // deployer built; like nix-copy-closure, don't demand signatures.
        let mut args: Vec<&str> = vec!["copy", "--quiet", "--no-check-sigs", "--to", &store];
        args.extend(extra);
        args.extend(paths.iter().map(String::as_str));
        let ssh_opts = ssh.connection_args().join(" ");
        self.run_with(&args, &[("NIX_SSHOPTS", &ssh_opts)]).map(drop).map_err(|e| untrusted_hint(e, ssh))
    }

    /// The closures of local store paths or links to them (profiles), with NAR
    /// sizes, in order: from the Nix database in one query when it can answer,
    /// else with `nix path-info`, the paths in parallel.
    pub fn local_closures(&self, paths: &[String]) -> Result<Vec<Vec<PathInfo>>, CommandError> {
        let resolved: Vec<String> = paths
            .iter()
            .map(|p| std::fs::canonicalize(p).map_or_else(|_| p.clone(), |r| r.display().to_string()))
            .collect();
        if let Some(closures) = crate::store_db::closures(&resolved) {
            return Ok(closures);
        }
        std::thread::scope(|scope| {
            let readers: Vec<_> =
                resolved.iter().map(|path| scope.spawn(move || self.closure(&Target::Local, path))).collect();
            readers
                .into_iter()
                .map(|reader| reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    }

    /// The closure of `path`, with NAR sizes: in the local store, or read from
    /// the target's store over SSH (nothing is copied either way).
    pub fn closure(&self, target: &Target, path: &str) -> Result<Vec<PathInfo>, CommandError> {
        let (store_args, env) = store_args(target);
        let mut args: Vec<&str> = vec!["path-info", "--json", "--recursive"];
        args.extend(store_args.iter().map(String::as_str));
        args.push(path);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stdout = self.run_with(&args, &env)?;
        parse_path_infos(&stdout).map_err(|reason| CommandError {
            command: format!("nix {}", args.join(" ")),
            failure: Failure::Output(reason),
        })
    }

    /// `nix ARGS`, its stdout.
    pub(crate) fn run(&self, args: &[&str]) -> Result<String, CommandError> {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Result<String, CommandError> {
        command::run(&mut self.command(args, extra_env)?)
    }

    /// `nix build --json --no-link --log-format internal-json EXTRA... DRVS...`
    /// in `store`, with the driver's build and evaluation arguments, its
    /// stderr lines handed to `on_line` as they come.
    fn run_build(
        &self,
        extra: &[&str],
        drvs: &[String],
        store: &Target,
        on_line: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<String, CommandError> {
        let (store_args, env) = store_args(store);
        let mut args: Vec<&str> = vec!["build", "--json", "--no-link", "--log-format", "internal-json"];
        args.extend(extra);
        args.extend(store_args.iter().map(String::as_str));
        args.extend(self.build_args.iter().map(String::as_str));
        args.extend(self.eval_args.iter().map(String::as_str));
        args.extend(drvs.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.run_streaming(&args, &env, on_line)
    }

    pub(crate) fn run_streaming(
        &self,
        args: &[&str],
        extra_env: &[(&str, &str)],
        on_line: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<String, CommandError> {
        command::run_streaming(&mut self.command(args, extra_env)?, on_line)
    }

    /// `nix ARGS` with this driver's environment, not started.
    pub(crate) fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Result<Command, CommandError> {
        let program = command::find_program("nix", INSTALL_NIX)?;
        let mut cmd = Command::new(program);
        cmd.args(FEATURES).args(args);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        for (key, value) in extra_env {
            cmd.env(key, value);
        }
        Ok(cmd)
    }
}

/// What Nix says when the target's daemon refuses unsigned paths from a
/// user it does not trust: 2.8's words, and 2.18's and later.
const UNTRUSTED: &[&str] = &["lacks a valid signature", "lacks a signature by a trusted key"];

/// `error` with the fix added when the target refused the push because its
/// login user is not one of its Nix's `trusted-users`.
fn untrusted_hint(mut error: CommandError, ssh: &SshTarget) -> CommandError {
    if let Failure::Exit { stderr_tail, .. } = &mut error.failure {
        if UNTRUSTED.iter().any(|words| stderr_tail.contains(words)) {
            let user = ssh.user.as_deref().unwrap_or("the SSH user");
            stderr_tail.push_str(&format!(
                "\nfleet: the target's Nix does not trust `{user}` to add what this machine built: add it to \
                 `nix.settings.trusted-users` on the target (or deploy as root)"
            ));
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver on the testbed's Nix configuration (fleet-testbed's
    /// `nix-conf`; this crate cannot depend on the testbed, which depends on it),
    /// so that no test reads the machine's.
    fn test_nix() -> Nix {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fleet-testbed/nix-conf");
        Nix::new()
            .with_env("NIX_CONF_DIR", dir)
            .with_env("NIX_USER_CONF_FILES", &format!("{dir}/nix.conf"))
            .with_env("NIX_CONFIG", "")
    }

    #[test]
    fn nix_strings_read_back_unchanged() {
        let nix = test_nix();
        for text in ["plain", "a \"quoted\" ${not} $x \\ back", "line\nbreak", "$${x}"] {
            let out = nix.run(&["eval", "--json", "--expr", &nix_string(text)]).unwrap();
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
        }
    }

    #[test]
    fn the_database_and_path_info_read_the_same_closure() {
        let nix = test_nix();
        let out = nix
            .run(&[
                "build",
                "--json",
                "--no-link",
                "--impure",
                "--expr",
                "let dep = derivation { name = \"dep-1.0\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo dep > $out\" ]; }; \
                 in derivation { name = \"top-2.0\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo ${dep} > $out\" ]; }",
            ])
            .unwrap();
        let top = out.split("\"out\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let mut from_db =
            crate::store_db::closures(std::slice::from_ref(&top)).expect("the database answers").remove(0);
        let mut from_nix = nix.closure(&Target::Local, &top).unwrap();
        from_db.sort_by(|a, b| a.path.cmp(&b.path));
        from_nix.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(from_db.len(), 2);
        assert_eq!(from_db, from_nix);
    }

    #[test]
    fn path_info_in_both_json_shapes() {
        let expect = vec![PathInfo { path: "/nix/store/a-x".into(), nar_size: 7 }];
        assert_eq!(
            parse_path_infos(r#"[{"path":"/nix/store/a-x","narSize":7,"valid":true}]"#),
            Ok(expect.clone())
        );
        assert_eq!(parse_path_infos(r#"{"/nix/store/a-x":{"narSize":7,"references":[]}}"#), Ok(expect));
        assert!(parse_path_infos("3").is_err());
    }
}
