//! Evaluating the nodes' derivations: a pool of `nix` processes, each taking
//! a batch of nodes, as many at once as there are workers and the memory
//! budget allows; and, for a flake whose content is pinned by a hash (a
//! commit, an uncommitted tree, a `path:` flake), the derivations of an
//! earlier evaluation of the very same content reused instead
//! (`eval_cache.rs`).
//!
//! A batch is one `nix build --dry-run --json` of several installables: one
//! process, one load of the flake, and every attribute that Nix's own
//! evaluation cache holds read from it (no `--impure`, no `--expr`, which
//! would bypass it), of the flake pinned to the content its metadata
//! described (`inputs::pinned_flake`), so that Nix finds it for each
//! installable without fetching it again. A worker takes its fair part of the nodes (nodes /
//! workers), but no more than its share of the memory budget (budget /
//! workers; without a budget, 1 GiB) holds, going by the most a node has
//! taken so far: one node until a worker has ended. A worker exits after its batch, so one that
//! grew past its share is replaced before the next, as nix-eval-jobs does
//! with `--max-memory-size`. The budget is for all workers together: a new
//! one starts only when what the running ones hold, plus what one is
//! expected to take (its share, until one has finished; then the largest
//! peak seen), fits; and when together they hold more, the newest stops and
//! its nodes wait for room. One worker always runs. A batch that fails is
//! split: each of its nodes is evaluated on its own, so that an error names
//! its node and the others are still evaluated.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::capture::{self, Drain, Keep};
use crate::command::CommandError;
use crate::eval_batch::Worker;
use crate::eval_cache::{content_key, EvalCache};
use crate::inputs::pinned_flake;
use crate::nix::Nix;

/// How often the pool looks at its workers' memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The version of the evaluation cache's files.
const CACHE_VERSION: &str = "eval-v2";

/// How evaluation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalSettings {
    /// How many evaluating `nix` processes may run at once (at least one).
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
    /// Evaluating processes started (a batch each).
    pub processes: usize,
    /// Nodes whose derivation was reused.
    pub reused: usize,
    /// The largest resident memory of all workers together, in bytes.
    pub peak_total_rss: u64,
    /// The most workers that ran at once.
    pub most_at_once: usize,
    /// Workers that held more than their share of the budget (budget /
    /// workers) when they ended; the next batch got a fresh one.
    pub over_budget: usize,
    /// Nodes whose worker was stopped because all together held more than
    /// the budget; they were evaluated again when there was room.
    pub requeued: usize,
}

impl Nix {
    /// The derivation of each `flake#attribute`, in order, evaluated in
    /// batches (see the module's documentation). `on_each` hears of each
    /// node as it is known, by index: a batch's nodes when it ends. Where nix
    /// gets no extra arguments, the flake's metadata is read first: it locks
    /// the flake (`on_fetch` hears `Some` of each fetch that takes, then
    /// `None` once the fetching is over, only if there was any), keys the
    /// evaluations kept (see [`EvalSettings`]), and pins the content that
    /// every batch evaluates (`inputs::pinned_flake`).
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
        let metadata = self.plain_metadata(flake, &mut |what| {
            fetched = true;
            on_fetch(Some(what));
        });
        if fetched {
            on_fetch(None);
        }
        let cache =
            metadata.as_deref().zip(settings.cache_dir.as_deref()).and_then(|(m, dir)| self.cache_at(m, dir));
        let pinned = metadata.as_deref().and_then(pinned_flake);
        let flake = pinned.as_deref().unwrap_or(flake);
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
        // What a batch may hold: the share, or without a budget a default,
        // so that no process grows with every node (20 NixOS systems in one
        // evaluation hold gigabytes).
        let batch_share = share.unwrap_or(DEFAULT_BATCH_MEMORY);
        // Each worker's fair part of the nodes: more per process would leave
        // a core idle.
        let fair = queue.len().div_ceil(workers).max(1);
        // The nodes of a batch that failed, each evaluated on its own so that
        // an error is its node's and the others still get theirs.
        let mut alone: Vec<usize> = Vec::new();
        let mut running: Vec<Worker> = Vec::new();
        let mut largest_peak = 0u64;
        let mut per_node = 0u64;
        while !queue.is_empty() || !alone.is_empty() || !running.is_empty() {
            for worker in &mut running {
                worker.peak = worker.peak.max(resident(worker.child.id()).unwrap_or(0));
            }
            let mut holding: u64 = running.iter().map(|w| w.peak).sum();
            stats.peak_total_rss = stats.peak_total_rss.max(holding);
            if let Some(budget) = settings.memory_budget {
                // Past the budget: the newest worker gives way and its nodes
                // wait for room; what it held says how big one is.
                if holding > budget && running.len() > 1 {
                    let mut newest = running.pop().expect("more than one runs");
                    largest_peak = largest_peak.max(newest.peak);
                    per_node = per_node.max(newest.peak / newest.batch.len() as u64);
                    holding -= newest.peak;
                    let _ = newest.child.kill();
                    let _ = newest.child.wait();
                    let _ = (newest.stdout.finish(), newest.stderr.finish());
                    stats.requeued += newest.batch.len();
                    queue.extend(newest.batch.iter().rev());
                }
            }
            // Before any worker has finished, one is taken to need its share.
            let estimate = if largest_peak > 0 { largest_peak } else { share.unwrap_or(0) };
            let fits =
                |holding: u64| settings.memory_budget.is_none_or(|budget| holding + estimate <= budget);
            while running.len() < workers && (running.is_empty() || fits(holding)) {
                let batch = match alone.pop() {
                    Some(index) => vec![index],
                    None => {
                        let size = fair.min(batch_by_memory(batch_share, per_node));
                        let batch: Vec<usize> = (0..size).map_while(|_| queue.pop()).collect();
                        if batch.is_empty() {
                            break;
                        }
                        batch
                    }
                };
                let batch_attributes: Vec<&str> = batch.iter().map(|&i| attributes[i].as_str()).collect();
                match self.spawn_batch(flake, &batch_attributes, workers > 1) {
                    Ok(mut child) => {
                        let stdout = child.stdout.take().expect("stdout is piped");
                        let stderr = child.stderr.take().expect("stderr is piped");
                        stats.processes += 1;
                        running.push(Worker {
                            batch,
                            child,
                            stdout: Drain::start(stdout, Keep::Head, capture::STDOUT_CAP),
                            stderr: Drain::start(stderr, Keep::Tail, capture::STDERR_CAP),
                            peak: 0,
                        })
                    }
                    Err(error) => {
                        for index in batch {
                            let result = Err(error.clone());
                            on_each(index, &result);
                            results[index] = Some(result);
                        }
                    }
                }
                holding += estimate;
            }
            stats.most_at_once = stats.most_at_once.max(running.len());
            let mut i = 0;
            while i < running.len() {
                if let Ok(None) = running[i].child.try_wait() {
                    i += 1;
                    continue;
                }
                let worker = running.remove(i);
                largest_peak = largest_peak.max(worker.peak);
                per_node = per_node.max(worker.peak / worker.batch.len() as u64);
                if share.is_some_and(|share| worker.peak > share) {
                    stats.over_budget += 1;
                }
                let batch = worker.batch.clone();
                let batch_attributes: Vec<&str> = batch.iter().map(|&i| attributes[i].as_str()).collect();
                match self.finish_batch(flake, &batch_attributes, worker) {
                    Err(_) if batch.len() > 1 => alone.extend(batch.iter().rev()),
                    Err(error) => {
                        stats.evaluated += 1;
                        let result = Err(error);
                        on_each(batch[0], &result);
                        results[batch[0]] = Some(result);
                    }
                    Ok(drvs) => {
                        for (index, drv) in batch.into_iter().zip(drvs) {
                            known.insert(attributes[index].clone(), drv.clone());
                            stats.evaluated += 1;
                            let result = Ok(Evaluated { drv, reused: false });
                            on_each(index, &result);
                            results[index] = Some(result);
                        }
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
            Some(dir) => self
                .plain_metadata(flake, &mut |_| {})
                .and_then(|metadata| self.cache_at(&metadata, dir))
                .as_ref()
                .map(EvalCache::load)
                .unwrap_or_default(),
            None => BTreeMap::new(),
        };
        attributes
            .iter()
            .map(|attribute| known.get(attribute).filter(|drv| std::path::Path::new(drv).exists()).cloned())
            .collect()
    }

    /// `nix flake metadata --json` of `flake` when evaluations get no extra
    /// arguments (which could make them read something else); `None` then,
    /// or when it fails (the evaluation will say why). It locks the flake
    /// first: `on_fetch` hears of what that fetches.
    fn plain_metadata(&self, flake: &str, on_fetch: &mut dyn FnMut(&str)) -> Option<String> {
        self.eval_args_are_plain().then(|| self.flake_metadata(flake, on_fetch).ok()).flatten()
    }

    /// Where earlier evaluations of the content `metadata` describes are kept
    /// in `dir`, if a hash pins that content (a git tree, clean or not, or a
    /// `path:` flake, hashed as it is now; see [`content_key`]), keyed also by
    /// this Nix's version and the system. Not by where the configuration was
    /// read from (the driver's environment): a deploy and a later `status`
    /// find it in different ways, and a pure evaluation reads none of it.
    /// `None` when nothing pins the content.
    fn cache_at(&self, metadata: &str, dir: &std::path::Path) -> Option<EvalCache> {
        let mut key = content_key(metadata)?;
        key["nix"] = self.run(&["--version"]).ok()?.trim().into();
        key["system"] = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS).into();
        Some(EvalCache::new(dir, key))
    }
}

/// What one batch may hold without a memory budget: as much as
/// nix-eval-jobs' default `--max-memory-size` (4 GiB) would take ten NixOS
/// systems to reach, a fraction of it, so that a batch of costly systems
/// stays small and one of cached ones (a few MB each) takes every node.
const DEFAULT_BATCH_MEMORY: u64 = 1 << 30;

/// How many nodes a worker may take so that it stays within `share`, given
/// the most a node has taken (`per_node`, 0 before any worker ended): one
/// until that is known, as many as fit after.
fn batch_by_memory(share: u64, per_node: u64) -> usize {
    match per_node {
        0 => 1,
        _ => usize::try_from(share / per_node).unwrap_or(usize::MAX).max(1),
    }
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

/// `$XDG_CACHE_HOME/fleet/eval-v2`, else `~/.cache/fleet/eval-v2`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_what_the_share_allows() {
        assert_eq!(batch_by_memory(512 << 20, 0), 1, "one until a node's size is known");
        assert_eq!(batch_by_memory(512 << 20, 400 << 20), 1);
        assert_eq!(batch_by_memory(512 << 20, 30 << 20), 17);
    }
}
