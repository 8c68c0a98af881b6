//! Reading closures straight from the local Nix database, as dix does: one
//! `sqlite3` query instead of a `nix path-info` process per closure, which
//! spends most of its time starting nix. Read-only, and only a fast path:
//! whenever the database cannot answer (no `sqlite3`, no read access, a path
//! it does not know), the caller falls back to `nix path-info`.

use std::collections::BTreeSet;
use std::process::Command;

use crate::command;
use crate::{Nix, PathInfo};

/// Where Nix keeps its database, unless `NIX_STATE_DIR` moves it.
const DEFAULT_STATE_DIR: &str = "/nix/var/nix";

/// The closures of `roots` (store paths) with NAR sizes, in the order given, or
/// `None` when the database cannot answer.
pub(crate) fn closures(roots: &[String]) -> Option<Vec<Vec<PathInfo>>> {
    let literals: Vec<String> = roots.iter().map(|root| sql_store_path(root)).collect::<Option<_>>()?;
    let sqlite = which::which("sqlite3").ok()?;
    let mut query = String::from("WITH RECURSIVE ");
    let walks: Vec<String> = literals
        .iter()
        .enumerate()
        .map(|(i, root)| {
            format!(
                "c{i}(id) AS (SELECT id FROM ValidPaths WHERE path = {root} \
                 UNION SELECT reference FROM Refs JOIN c{i} ON referrer = c{i}.id)"
            )
        })
        .collect();
    query.push_str(&walks.join(", "));
    let selects: Vec<String> = (0..literals.len())
        .map(|i| format!("SELECT {i}, path, narSize FROM ValidPaths WHERE id IN c{i}"))
        .collect();
    query.push(' ');
    query.push_str(&selects.join(" UNION ALL "));
    query.push(';');
    let mut cmd = sqlite_command(&sqlite);
    cmd.arg(query);
    let stdout = command::run(&mut cmd).ok()?;
    let mut closures: Vec<Vec<PathInfo>> = vec![Vec::new(); roots.len()];
    for line in stdout.lines() {
        let mut fields = line.split('\t');
        let index: usize = fields.next()?.parse().ok()?;
        let path = fields.next()?.to_string();
        let nar_size = fields.next()?.parse().ok()?;
        closures.get_mut(index)?.push(PathInfo { path, nar_size });
    }
    // A root the database does not know gives an empty closure: not ours to answer.
    closures
        .iter()
        .zip(roots)
        .all(|(closure, root)| closure.iter().any(|p| &p.path == root))
        .then_some(closures)
}

impl Nix {
    /// The `out` path of `drv`, when the local store already holds it: then
    /// nothing needs building, and no nix process is started to learn it. Read
    /// from the derivation file and the Nix database (or what
    /// [`Nix::built_outputs`] found); `None` whenever either cannot tell (then
    /// build as usual).
    pub fn built_output(&self, drv: &str) -> Option<String> {
        self.built_outputs(&[drv.to_string()]).pop().flatten()
    }

    /// [`Nix::built_output`] of many derivations with one query of the Nix
    /// database (a no-op deploy's nodes all at once, instead of a `sqlite3`
    /// each), and none for those already found; what it finds is remembered.
    pub fn built_outputs(&self, drvs: &[String]) -> Vec<Option<String>> {
        let cached: Vec<Option<String>> = {
            let built = self.built.lock().unwrap_or_else(|p| p.into_inner());
            drvs.iter().map(|drv| built.get(drv).cloned()).collect()
        };
        let outs: Vec<Option<String>> = drvs
            .iter()
            .zip(&cached)
            .map(|(drv, cached)| match cached {
                Some(_) => None,
                None => out_path_of_derivation(&std::fs::read_to_string(drv).ok()?),
            })
            .collect();
        let known: Vec<String> = outs.iter().flatten().cloned().collect();
        let valid = match known.is_empty() {
            true => BTreeSet::new(),
            false => valid_paths(&known).unwrap_or_default(),
        };
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        drvs.iter()
            .zip(cached.into_iter().zip(outs))
            .map(|(drv, (cached, out))| {
                cached.or_else(|| {
                    let out = out.filter(|out| valid.contains(out))?;
                    built.insert(drv.clone(), out.clone());
                    Some(out)
                })
            })
            .collect()
    }
}

/// The `out` path a derivation file (`Derive([("out","/nix/store/...",...`)
/// names; `None` for one without a fixed `out` path (content-addressed).
fn out_path_of_derivation(aterm: &str) -> Option<String> {
    let rest = aterm.strip_prefix("Derive([")?;
    let start = rest.find("(\"out\",\"")? + "(\"out\",\"".len();
    let path = &rest[start..start + rest[start..].find('"')?];
    path.starts_with("/nix/store/").then(|| path.to_string())
}

/// How many paths one query asks about: its text travels as one argument,
/// which Linux caps at 128 KiB.
const PATHS_PER_QUERY: usize = 1000;

/// Which of `paths` the local store holds as valid paths, or `None` when the
/// database cannot answer.
fn valid_paths(paths: &[String]) -> Option<BTreeSet<String>> {
    let sqlite = which::which("sqlite3").ok()?;
    let mut valid = BTreeSet::new();
    for chunk in paths.chunks(PATHS_PER_QUERY) {
        let literals: Vec<String> = chunk.iter().map(|path| sql_store_path(path)).collect::<Option<_>>()?;
        let query = format!("SELECT path FROM ValidPaths WHERE path IN ({});", literals.join(","));
        let mut cmd = sqlite_command(&sqlite);
        cmd.arg(query);
        valid.extend(command::run(&mut cmd).ok()?.lines().map(str::to_string));
    }
    Some(valid)
}

/// `sqlite3` on the Nix database, read-only, waiting while another reader
/// sets up the write-ahead log's index: several queries at once otherwise
/// fail now and then with `database is locked`.
fn sqlite_command(sqlite: &std::path::Path) -> Command {
    let state = std::env::var("NIX_STATE_DIR").unwrap_or_else(|_| DEFAULT_STATE_DIR.to_string());
    let mut cmd = Command::new(sqlite);
    cmd.args(["-readonly", "-batch", "-cmd", ".timeout 5000", "-separator", "\t"])
        .arg(format!("{state}/db/db.sqlite"));
    cmd
}

/// `path` as an SQL string literal, if it is a plain store path: only the
/// characters Nix allows in store paths, so no quoting can go wrong.
fn sql_store_path(path: &str) -> Option<String> {
    let name = path.strip_prefix("/nix/store/")?;
    let plain = !name.is_empty()
        && !name.contains('/')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b));
    plain.then(|| format!("'{path}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derivations_out_path_is_read_from_its_file() {
        let drv = r#"Derive([("dev","/nix/store/aaa-x-dev","",""),("out","/nix/store/bbb-x","","")],[],[],"x86_64-linux","/bin/sh",[],[("out","/nix/store/bbb-x")])"#;
        assert_eq!(out_path_of_derivation(drv).as_deref(), Some("/nix/store/bbb-x"));
        assert_eq!(out_path_of_derivation(r#"Derive([("out","","sha256","")],[])"#), None);
        assert_eq!(out_path_of_derivation("garbage"), None);
    }

    #[test]
    fn only_plain_store_paths_reach_the_query() {
        assert_eq!(sql_store_path("/nix/store/abc-hello-2.12"), Some("'/nix/store/abc-hello-2.12'".into()));
        assert_eq!(sql_store_path("/nix/store/abc-x'; DROP TABLE Refs; --"), None);
        assert_eq!(sql_store_path("/nix/store/abc/bin"), None);
        assert_eq!(sql_store_path("/tmp/x"), None);
    }
}
