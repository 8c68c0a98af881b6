//! The evaluation cache: the derivations of an earlier evaluation, kept by
//! everything a pure evaluation of the flake reads, so that the same content
//! (a commit, or an uncommitted tree) is evaluated once.
//!
//! A pure flake evaluation reads the flake's source (its tracked files, copied
//! to the store: `locked.narHash`, or that copy's content-addressed `path`),
//! the flake's own metadata (`self.lastModified`, `self.rev`, a dirty tree's
//! `dirtyRev`: all in `locked`), its inputs as `flake.lock` pins them
//! (`locks`), and the Nix that evaluates (`builtins.nixVersion`). The key is
//! all of these; a file holds one key's
//! derivations and is used only when the key it stores is the one asked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What pins a flake's content, from `nix flake metadata --json`: `locked`
/// (with a `narHash` on Nix 2.8 and 2.18 for a git tree clean or dirty, and
/// for a `path:` flake) or the source's store `path` (which Nix names by the
/// content's hash, and which newer Nix reports where `locked` has no
/// `narHash`), with the lock graph of the inputs. `None` when neither is
/// there: then nothing pins the content and nothing is reused.
pub(crate) fn content_key(metadata: &str) -> Option<Value> {
    let metadata: Value = serde_json::from_str(metadata).ok()?;
    let locked = metadata.get("locked").filter(|l| l.is_object())?;
    let nar_hash = locked.get("narHash").and_then(Value::as_str);
    let path = metadata.get("path").and_then(Value::as_str).filter(|p| p.starts_with("/nix/store/"));
    if nar_hash.is_none() && path.is_none() {
        return None;
    }
    Some(serde_json::json!({
        "locked": locked,
        "path": path,
        "locks": metadata.get("locks").cloned().unwrap_or(Value::Null),
    }))
}

/// What one file holds: its key and the derivations by attribute.
#[derive(Serialize, Deserialize)]
struct Stored {
    key: Value,
    derivations: BTreeMap<String, String>,
}

/// The derivations of one key, by attribute.
pub(crate) struct EvalCache {
    file: PathBuf,
    key: Value,
}

impl EvalCache {
    /// The cache of `key` in `dir`, in a file named by a hash of the key.
    pub(crate) fn new(dir: &Path, key: Value) -> EvalCache {
        let file = dir.join(format!("{:016x}.json", fnv1a(key.to_string().as_bytes())));
        EvalCache { file, key }
    }

    /// What an earlier run stored for this key; nothing if the file is
    /// missing, unreadable, or holds another key (two keys with one hash).
    pub(crate) fn load(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| serde_json::from_str::<Stored>(&text).ok())
            .filter(|stored| stored.key == self.key)
            .map(|stored| stored.derivations)
            .unwrap_or_default()
    }

    /// Stores `known`, whole, replacing the file at once (a rename), so that a
    /// concurrent reader sees the old file or the new one. A cache that cannot
    /// be written is only a cache: the next run evaluates again.
    pub(crate) fn save(&self, known: &BTreeMap<String, String>) {
        let Some(dir) = self.file.parent() else { return };
        let stored = Stored { key: self.key.clone(), derivations: known.clone() };
        let text = serde_json::to_string(&stored).expect("JSON values serialise");
        let partial = self.file.with_extension(format!("{}.partial", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&partial, text))
            .and_then(|()| std::fs::rename(&partial, &self.file));
        let _ = std::fs::remove_file(&partial);
    }
}

/// FNV-1a, 64 bits: a file name for a key (the key itself is checked on load,
/// so a collision costs an evaluation, never a wrong derivation).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nix flake metadata --json` of a git flake with an uncommitted change,
    /// recorded from Nix 2.8.0 (Debian's nix-bin): no `revision`, a `narHash`.
    const DIRTY_2_8: &str = r#"{"lastModified":1796692082,"locked":{"lastModified":1796692082,"narHash":"sha256-tFO8YYvPtbdoZuVRg3qoGvILOBRlGXJH3UI1DY1VYg0=","type":"git","url":"file:///tmp/evx/f"},"locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"type":"git","url":"file:///tmp/evx/f"},"originalUrl":"git+file:///tmp/evx/f","path":"/nix/store/3p42hgp80c98bhxrna80m0fj4sriji23-source","resolved":{"type":"git","url":"file:///tmp/evx/f"},"resolvedUrl":"git+file:///tmp/evx/f","url":"git+file:///tmp/evx/f"}"#;

    /// The same for Nix 2.18 and later, in the shape their source writes it
    /// (not recorded on this machine, which has only 2.8): `dirtyRevision` at
    /// the top, `dirtyRev` and `dirtyShortRev` in `locked`.
    const DIRTY_2_18: &str = r#"{"dirtyRevision":"0f3e1b2c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c-dirty","lastModified":1796692082,"locked":{"dirtyRev":"0f3e1b2c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c-dirty","dirtyShortRev":"0f3e1b2-dirty","lastModified":1796692082,"narHash":"sha256-tFO8YYvPtbdoZuVRg3qoGvILOBRlGXJH3UI1DY1VYg0=","type":"git","url":"file:///tmp/evx/f"},"locks":{"nodes":{"root":{}},"root":"root","version":7},"original":{"type":"git","url":"file:///tmp/evx/f"},"originalUrl":"git+file:///tmp/evx/f","path":"/nix/store/3p42hgp80c98bhxrna80m0fj4sriji23-source","resolved":{"type":"git","url":"file:///tmp/evx/f"},"resolvedUrl":"git+file:///tmp/evx/f","url":"git+file:///tmp/evx/f"}"#;

    #[test]
    fn a_dirty_tree_is_pinned_on_both_nix_versions() {
        let old = content_key(DIRTY_2_8).expect("2.8 pins a dirty tree by its narHash");
        let new = content_key(DIRTY_2_18).expect("2.18 pins a dirty tree by its narHash");
        assert_eq!(old["locked"]["narHash"], new["locked"]["narHash"]);
        // What the flake can read of itself differs, so the keys do.
        assert_ne!(old, new);
    }

    #[test]
    fn the_store_path_pins_content_without_a_nar_hash() {
        let key =
            content_key(r#"{"locked":{"type":"git","url":"file:///f"},"path":"/nix/store/abc-source"}"#);
        assert_eq!(key.expect("pinned by its path")["path"], "/nix/store/abc-source");
        assert_eq!(content_key(r#"{"locked":{"type":"git","url":"file:///f"}}"#), None);
        assert_eq!(content_key("not json"), None);
    }

    #[test]
    fn an_input_locked_elsewhere_changes_the_key() {
        let with_input = |rev: &str| {
            DIRTY_2_8.replace(
                r#""locks":{"nodes":{"root":{}}"#,
                &format!(
                    r#""locks":{{"nodes":{{"root":{{"inputs":{{"nixpkgs":"nixpkgs"}}}},"nixpkgs":{{"locked":{{"rev":"{rev}"}}}}}}"#
                ),
            )
        };
        assert_ne!(content_key(&with_input("a")), content_key(&with_input("b")));
    }

    #[test]
    fn a_file_is_read_only_for_its_own_key() {
        let dir = std::env::temp_dir().join(format!("fleet-eval-cache-{}", std::process::id()));
        let known: BTreeMap<String, String> = [("a".to_string(), "/nix/store/x.drv".to_string())].into();
        let cache = EvalCache::new(&dir, serde_json::json!({"k": 1}));
        cache.save(&known);
        assert_eq!(cache.load(), known);
        let other = EvalCache { file: cache.file.clone(), key: serde_json::json!({"k": 2}) };
        assert!(other.load().is_empty(), "another key in the same file reads nothing");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
