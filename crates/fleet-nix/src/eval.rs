//! Evaluating the nodes' derivations: a pool of `nix eval` processes, one node
//! each, as many at once as there are workers and the memory budget allows;
//! and, for a flake whose content is pinned by a hash, the derivations of an
//! earlier evaluation of the very same content reused instead.
//!
//! A worker evaluates one node and exits, so a worker that grew past its
//! share of the budget (budget / workers) is replaced before the next node, as
//! nix-eval-jobs does with `--max-memory-size`. The budget is for all workers
//! together: a new one starts only when what the running ones hold, plus what
//! one is expected to take (its share, until one has finished; then the
//! largest peak seen), fits; and when together they hold more, the newest
//! stops and its node waits for room. One worker always runs.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

use crate::capture::{self, Drain, Keep};
use crate::command::{self, CommandError, Failure};
use crate::nix::Nix;

/// How often the pool looks at its workers' memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The version of the evaluation cache's files.
const CACHE_VERSION: &str = "eval-v1";

/// How evaluation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalSettings {
    /// How many `nix eval` processes may run at once (at least one).
    pub workers: usize,
    /// Resident memory all workers together may hold, in bytes; `None` for
    /// no limit.
    pub memory_budget: Option<u64>,
    /// Where derivations of earlier evaluations are kept, by flake content;
    /// `None` evaluates every node every time.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for EvalSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        EvalSettings { workers: cores, memory_budget: None, cache_dir: default_cache_dir() }
    }
}

/// One node's derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    /// The derivation (`/nix/store/...drv`).
    pub drv: String,
    /// Whether it came from an earlier evaluation of the same flake content.
    pub reused: bool,
}

/// What the pool did, for benchmarks and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Nodes evaluated by a worker.
    pub evaluated: usize,
    /// Nodes whose derivation was reused.
    pub reused: usize,
    /// The largest resident memory of all workers together, in bytes.
    pub peak_total_rss: u64,
    /// The most workers that ran at once.
    pub most_at_once: usize,
    /// Workers that held more than their share of the budget (budget /
    /// workers) when they ended; the next node got a fresh one.
    pub over_budget: usize,
    /// Workers stopped because all together held more than the budget; their
    /// nodes were evaluated again when there was room.
    pub requeued: usize,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    locked: Locked,
    /// Present for a git flake only when its tree is clean.
    revision: Option<String>,
}

#[derive(Deserialize, Default)]
struct Locked {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default, rename = "narHash")]
    nar_hash: Option<String>,
}

/// A running worker: the attribute's index, the process, the threads that
/// read its output while it runs (a worker that writes more than a pipe holds
/// must not wait for the pool) and its peak.
struct Worker {
    index: usize,
    child: Child,
    stdout: Drain,
    stderr: Drain,
    peak: u64,
}

impl Nix {
    /// The derivation of each `flake#attribute`, in order, each evaluated on
    /// its own (see the module's documentation). `on_each` hears of each
    /// node as it is known, by index. Where evaluations are kept (see
    /// [`EvalSettings`]) and nix gets no extra arguments, reading the flake's
    /// content hash locks it first, and `on_fetch` hears `Some` of each fetch
    /// that takes, then `None` once the fetching is over (only if there was
    /// any).
    pub fn evaluate(
        &self,
        flake: &str,
        attributes: &[String],
        settings: &EvalSettings,
        on_each: &mut dyn FnMut(usize, &Result<Evaluated, CommandError>),
        on_fetch: &mut dyn FnMut(Option<&str>),
    ) -> (Vec<Result<Evaluated, CommandError>>, EvalStats) {
        let mut stats = EvalStats::default();
        let mut fetched = false;
        let cache = match &settings.cache_dir {
            Some(dir) if self.eval_args_are_plain() => self.cache_for(flake, dir, &mut |what| {
                fetched = true;
                on_fetch(Some(what));
            }),
            _ => None,
        };
        if fetched {
            on_fetch(None);
        }
        let mut known: BTreeMap<String, String> = cache.as_ref().map(EvalCache::load).unwrap_or_default();
        let mut results: Vec<Option<Result<Evaluated, CommandError>>> = vec![None; attributes.len()];
        let mut queue: Vec<usize> = Vec::new();
        let mut reused: Vec<(usize, String)> = Vec::new();
        for (index, attribute) in attributes.iter().enumerate() {
            match known.get(attribute).filter(|drv| std::path::Path::new(drv).exists()) {
                Some(drv) => reused.push((index, drv.clone())),
                None => queue.push(index),
            }
        }
        // Whether each is built already, asked of the Nix database at once:
        // a no-op's nodes then need one query, not one each.
        self.built_outputs(&reused.iter().map(|(_, drv)| drv.clone()).collect::<Vec<_>>());
        for (index, drv) in reused {
            let result = Ok(Evaluated { drv, reused: true });
            on_each(index, &result);
            results[index] = Some(result);
            stats.reused += 1;
        }
        queue.reverse();

        let workers = settings.workers.max(1);
        let share = settings.memory_budget.map(|budget| budget / workers as u64);
        let mut running: Vec<Worker> = Vec::new();
        let mut largest_peak = 0u64;
        while !queue.is_empty() || !running.is_empty() {
            for worker in &mut running {
                worker.peak = worker.peak.max(resident(worker.child.id()).unwrap_or(0));
            }
            let mut holding: u64 = running.iter().map(|w| w.peak).sum();
            stats.peak_total_rss = stats.peak_total_rss.max(holding);
            if let Some(budget) = settings.memory_budget {
                // Past the budget: the newest worker gives way and its node
                // waits for room; what it held says how big one is.
                if holding > budget && running.len() > 1 {
                    let mut newest = running.pop().expect("more than one runs");
                    largest_peak = largest_peak.max(newest.peak);
                    holding -= newest.peak;
                    let _ = newest.child.kill();
                    let _ = newest.child.wait();
                    let _ = (newest.stdout.finish(), newest.stderr.finish());
                    queue.push(newest.index);
                    stats.requeued += 1;
                }
            }
            // Before any worker has finished, one is taken to need its share.
            let estimate = if largest_peak > 0 { largest_peak } else { share.unwrap_or(0) };
            let fits =
                |holding: u64| settings.memory_budget.is_none_or(|budget| holding + estimate <= budget);
            while running.len() < workers && (running.is_empty() || fits(holding)) {
                let Some(index) = queue.pop() else { break };
                match self.spawn_eval(flake, &attributes[index], workers > 1) {
                    Ok(mut child) => {
                        let stdout = child.stdout.take().expect("stdout is piped");
                        let stderr = child.stderr.take().expect("stderr is piped");
                        running.push(Worker {
                            index,
                            child,
                            stdout: Drain::start(stdout, Keep::Head, capture::LINE_CAP),
                            stderr: Drain::start(stderr, Keep::Tail, capture::STDERR_CAP),
                            peak: 0,
                        })
                    }
                    Err(error) => {
                        let result = Err(error);
                        on_each(index, &result);
                        results[index] = Some(result);
                    }
                }
                holding += estimate;
            }
            stats.most_at_once = stats.most_at_once.max(running.len());
            let mut i = 0;
            while i < running.len() {
                match running[i].child.try_wait() {
                    Ok(None) => i += 1,
                    _ => {
                        let worker = running.remove(i);
                        largest_peak = largest_peak.max(worker.peak);
                        if share.is_some_and(|share| worker.peak > share) {
                            stats.over_budget += 1;
                        }
                        let index = worker.index;
                        let result = self.finish_eval(flake, &attributes[index], worker);
                        if let Ok(evaluated) = &result {
                            known.insert(attributes[index].clone(), evaluated.drv.clone());
                        }
                        stats.evaluated += 1;
                        on_each(index, &result);
                        results[index] = Some(result);
                    }
                }
            }
            if !running.is_empty() {
                std::thread::sleep(SAMPLE_EVERY);
            }
        }
        if let Some(cache) = &cache {
            cache.save(&known);
        }
        let results =
            results.into_iter().map(|r| r.expect("every attribute was evaluated or reused")).collect();
        (results, stats)
    }

    /// `nix eval --raw FLAKE#ATTRIBUTE.drvPath`, started. Beside other
    /// workers (`among_others`), its garbage collector marks on one thread:
    /// the workers already use every core, and parallel marking in each of
    /// them only makes them wait for each other.
    fn spawn_eval(&self, flake: &str, attribute: &str, among_others: bool) -> Result<Child, CommandError> {
        let installable = installable(flake, attribute);
        let mut cmd: Command = self.command(&["eval", "--raw", &installable], &[])?;
        cmd.args(self.eval_args());
        if among_others {
            cmd.env("GC_MARKERS", "1");
        }
        let shown = command::display(&cmd);
        crate::verbose::started(&shown);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CommandError { command: shown, failure: Failure::Spawn(e.to_string()) })
    }

    /// The derivation a finished worker printed, or its failure.
    fn finish_eval(
        &self,
        flake: &str,
        attribute: &str,
        mut worker: Worker,
    ) -> Result<Evaluated, CommandError> {
        let shown = format!("nix eval --raw {}", installable(flake, attribute));
        let status = worker.child.wait();
        let (stdout, stderr) = (worker.stdout.finish(), worker.stderr.finish());
        let status = status
            .map_err(|e| CommandError { command: shown.clone(), failure: Failure::Spawn(e.to_string()) })?;
        if !status.success() {
            return Err(CommandError {
                command: shown,
                failure: Failure::Exit {
                    code: status.code(),
                    stderr_tail: command::tail(&stderr.tail_text()),
                },
            });
        }
        let stdout = String::from_utf8_lossy(&stdout.bytes).trim().to_string();
        if !(stdout.starts_with("/nix/store/") && stdout.ends_with(".drv")) {
            return Err(CommandError {
                command: shown,
                failure: Failure::Output(format!("`{}` is not a derivation", stdout.escape_debug())),
            });
        }
        Ok(Evaluated { drv: stdout, reused: false })
    }

    /// The derivation of each `flake#attribute` from the last evaluation of
    /// the flake's current content here (the evaluation cache), evaluating
    /// nothing: `None` for an attribute not evaluated since the content
    /// changed, and for all of them when the content is not pinned by a hash
    /// or there is no cache.
    pub fn known_derivations(
        &self,
        flake: &str,
        attributes: &[String],
        settings: &EvalSettings,
    ) -> Vec<Option<String>> {
        let known = match &settings.cache_dir {
            Some(dir) if self.eval_args_are_plain() => {
                self.cache_for(flake, dir, &mut |_| {}).as_ref().map(EvalCache::load).unwrap_or_default()
            }
            _ => BTreeMap::new(),
        };
        attributes
            .iter()
            .map(|attribute| known.get(attribute).filter(|drv| std::path::Path::new(drv).exists()).cloned())
            .collect()
    }

    /// Where earlier evaluations of `flake`'s current content are kept, if
    /// that content is pinned by a hash: a git flake with a clean tree, or a
    /// `path:` flake (hashed as it is now). `None` for a dirty tree or for
    /// other kinds of flake. Reading the content's hash locks the flake
    /// first: `on_fetch` hears of what that fetches.
    fn cache_for(
        &self,
        flake: &str,
        dir: &std::path::Path,
        on_fetch: &mut dyn FnMut(&str),
    ) -> Option<EvalCache> {
        let json = self.flake_metadata(flake, on_fetch).ok()?;
        let metadata: Metadata = serde_json::from_str(&json).ok()?;
        let nar_hash = metadata.locked.nar_hash?;
        let pinned = match metadata.locked.kind.as_str() {
            "git" => metadata.revision.is_some(),
            "path" => true,
            _ => false,
        };
        pinned.then(|| EvalCache { file: dir.join(format!("{}.json", file_name(&nar_hash))) })
    }
}

/// `FLAKE#ATTRIBUTE.drvPath`, each attribute component quoted.
fn installable(flake: &str, attribute: &str) -> String {
    let path: Vec<String> = attribute.split('.').map(|part| format!("\"{part}\"")).collect();
    format!("{flake}#{}.drvPath", path.join("."))
}

/// A process's resident memory in bytes, from `/proc`.
fn resident(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `$XDG_CACHE_HOME/fleet/eval-v1`, else `~/.cache/fleet/eval-v1`.
pub fn default_cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| std::path::Path::new(&h).join(".cache"))
        })?;
    Some(base.join("fleet").join(CACHE_VERSION))
}

/// A hash as a file name: only letters, digits, `-` and `_`.
fn file_name(hash: &str) -> String {
    hash.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// The derivations of one flake content, by attribute.
struct EvalCache {
    file: std::path::PathBuf,
}

impl EvalCache {
    /// What an earlier run stored; nothing if the file is missing or unreadable.
    fn load(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Stores `known`, whole, replacing the file at once (a rename), so that a
    /// concurrent reader sees the old file or the new one. A cache that cannot
    /// be written is only a cache: the next run evaluates again.
    fn save(&self, known: &BTreeMap<String, String>) {
        let Some(dir) = self.file.parent() else { return };
        let text = serde_json::to_string(known).expect("strings serialise");
        let partial = self.file.with_extension(format!("{}.partial", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&partial, text))
            .and_then(|()| std::fs::rename(&partial, &self.file));
        let _ = std::fs::remove_file(&partial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installables_quote_every_component() {
        assert_eq!(
            installable("path:/f", "nixosConfigurations.vps-arm.config.system.build.toplevel"),
            "path:/f#\"nixosConfigurations\".\"vps-arm\".\"config\".\"system\".\"build\".\"toplevel\".drvPath"
        );
    }

    #[test]
    fn hashes_make_plain_file_names() {
        assert_eq!(file_name("sha256-ab+/c="), "sha256-ab__c_");
    }

    #[test]
    fn metadata_of_clean_and_dirty_trees() {
        let clean: Metadata =
            serde_json::from_str(r#"{"locked":{"type":"git","narHash":"sha256-x"},"revision":"abc"}"#)
                .unwrap();
        assert!(clean.revision.is_some() && clean.locked.nar_hash.is_some());
        let dirty: Metadata =
            serde_json::from_str(r#"{"locked":{"type":"git","narHash":"sha256-x"}}"#).unwrap();
        assert!(dirty.revision.is_none());
    }
}
