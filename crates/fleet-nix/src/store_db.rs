//! Reading closures straight from the local Nix database, as dix does: one
//! `sqlite3` query instead of a `nix path-info` process per closure, which
//! spends most of its time starting nix. Read-only, and only a fast path:
//! whenever the database cannot answer (no `sqlite3`, no read access, a path
//! it does not know), the caller falls back to `nix path-info`.

use std::process::Command;

use crate::command;
use crate::PathInfo;

/// Where Nix keeps its database, unless `NIX_STATE_DIR` moves it.
const DEFAULT_STATE_DIR: &str = "/nix/var/nix";

/// The closures of `roots` (store paths) with NAR sizes, in the order given, or
/// `None` when the database cannot answer.
pub(crate) fn closures(roots: &[String]) -> Option<Vec<Vec<PathInfo>>> {
    let literals: Vec<String> = roots.iter().map(|root| sql_store_path(root)).collect::<Option<_>>()?;
    let sqlite = which::which("sqlite3").ok()?;
    let state = std::env::var("NIX_STATE_DIR").unwrap_or_else(|_| DEFAULT_STATE_DIR.to_string());
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
    let mut cmd = Command::new(sqlite);
    cmd.args(["-readonly", "-batch", "-separator", "\t"]).arg(format!("{state}/db/db.sqlite")).arg(query);
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

/// Whether the local store holds `path` as a valid path, or `None` when the
/// database cannot answer.
pub(crate) fn is_valid(path: &str) -> Option<bool> {
    let literal = sql_store_path(path)?;
    let sqlite = which::which("sqlite3").ok()?;
    let state = std::env::var("NIX_STATE_DIR").unwrap_or_else(|_| DEFAULT_STATE_DIR.to_string());
    let query = format!("SELECT count(*) FROM ValidPaths WHERE path = {literal};");
    let mut cmd = Command::new(sqlite);
    cmd.args(["-readonly", "-batch"]).arg(format!("{state}/db/db.sqlite")).arg(query);
    match command::run(&mut cmd).ok()?.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
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
    fn only_plain_store_paths_reach_the_query() {
        assert_eq!(sql_store_path("/nix/store/abc-hello-2.12"), Some("'/nix/store/abc-hello-2.12'".into()));
        assert_eq!(sql_store_path("/nix/store/abc-x'; DROP TABLE Refs; --"), None);
        assert_eq!(sql_store_path("/nix/store/abc/bin"), None);
        assert_eq!(sql_store_path("/tmp/x"), None);
    }
}
