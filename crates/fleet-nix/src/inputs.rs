//! Locking a flake before its nodes are evaluated, with what nix fetches for
//! it (no `flake.lock`, or new inputs) told as it starts, so that the time
//! spent fetching can be said as such instead of passing for a slow
//! evaluation.

use crate::build_log::{BuildLog, BuildLogEvent};
use crate::{CommandError, Nix};

/// Nix's warnings when it writes a lock file: it fetched inputs it had no
/// lock for (Nix 2.8 gives no activity for a `path:` input's copy).
const LOCK_WRITTEN: [&str; 2] = ["creating lock file", "updating lock file"];

impl Nix {
    /// `nix flake metadata --json FLAKE`, which locks the flake first and
    /// fetches what a new lock needs. `on_fetch` hears what nix fetches as it
    /// starts it (a tree, Nix 2.10 and later; a download), or that it wrote a
    /// lock file for inputs it fetched (Nix 2.8 says nothing else of a
    /// `path:` input); nothing when the lock was complete.
    pub(crate) fn flake_metadata(
        &self,
        flake: &str,
        on_fetch: &mut dyn FnMut(&str),
    ) -> Result<String, CommandError> {
        self.run_fetching(vec!["flake", "metadata", "--json", flake], on_fetch)
    }

    /// `nix ARGS --log-format internal-json`, its stdout; its fetches told to
    /// `on_fetch` as they start.
    fn run_fetching(
        &self,
        mut args: Vec<&str>,
        on_fetch: &mut dyn FnMut(&str),
    ) -> Result<String, CommandError> {
        args.extend(["--log-format", "internal-json"]);
        let mut log = BuildLog::new();
        self.run_streaming(&args, &[], &mut |line| match log.read(line)? {
            BuildLogEvent::Fetching { what } => {
                on_fetch(&what);
                None
            }
            BuildLogEvent::Message { level, text } => {
                if LOCK_WRITTEN.iter().any(|sign| text.contains(sign)) {
                    on_fetch(&text);
                }
                (level <= 1).then_some(text)
            }
            _ => None,
        })
    }
}

/// The reference that names exactly the content `nix flake metadata --json`
/// described, so that each installable of an evaluation batch finds it at
/// once: Nix 2.8 fetches a flake again for every installable, which for a
/// `git+file:` tree is five `git` processes each, and for a `path:` folder a
/// copy and hash of the whole folder each (310 installables: 3.0 s and 2.6 s,
/// against 0.5 s pinned). It also keeps every batch on the one snapshot that
/// the evaluation cache's key names, however the tree changes meanwhile.
///
/// - A tree at a revision (a clean git tree, a forge's): the locked `url`,
///   which names the revision (`?rev=`, or a forge's path) and keeps `dir`;
///   Nix answers it from its fetcher cache. What the flake reads of itself
///   (`self.rev`, `self.revCount`, ...) is the same.
/// - A `path:` folder: its copy in the store, with the same `lastModified`
///   and `narHash`, which is what `self` holds either way.
/// - Anything else, and notably an uncommitted git tree: `None`, the flake as
///   given. A store copy of a dirty tree would not say `self.submodules`, nor
///   `self.dirtyRev` on newer Nix, so the systems could differ.
pub(crate) fn pinned_flake(metadata: &str) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_str(metadata).ok()?;
    let locked = metadata.get("locked")?;
    match locked.get("type")?.as_str()? {
        "path" => {
            let store_path = metadata.get("path")?.as_str()?;
            let name = store_path.strip_prefix("/nix/store/")?;
            let plain = |c: char| c.is_ascii_alphanumeric() || "+-._".contains(c);
            if name.is_empty() || !name.chars().all(plain) || metadata["original"].get("dir").is_some() {
                return None;
            }
            let nar_hash = locked.get("narHash")?.as_str()?;
            let last_modified = locked.get("lastModified")?.as_u64()?;
            Some(format!(
                "path:{store_path}?lastModified={last_modified}&narHash={}",
                percent_encoded(nar_hash)
            ))
        }
        _ => {
            let rev = locked.get("rev")?.as_str()?;
            let url = metadata.get("url")?.as_str()?;
            let hex = rev.len() >= 40 && rev.chars().all(|c| c.is_ascii_hexdigit());
            (hex && url.contains(rev) && !url.contains('#')).then(|| url.to_string())
        }
    }
}

/// `text` with every byte but letters, digits and `-._~` written `%XX`, as a
/// URL query value.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nix flake metadata --json` of a clean git tree, recorded from Nix
    /// 2.8.0 (`locks` left out).
    const CLEAN_GIT_2_8: &str = r#"{"description":"fleet testbed fixture","lastModified":1796708562,"locked":{"lastModified":1796708562,"narHash":"sha256-5vR1QMR80QaMOc/xnUKBww0/jx/4RyIbgm3k3Ai8TZo=","ref":"master","rev":"138145ddf6bd1e55c91302f4b3aedad3416c5218","revCount":8,"type":"git","url":"file:///tmp/prof10/fixture-7"},"original":{"type":"git","url":"file:///tmp/prof10/fixture-7"},"originalUrl":"git+file:///tmp/prof10/fixture-7","path":"/nix/store/nhv52ymwyx512kw9k6r13nrzmfmz9p4r-source","resolved":{"type":"git","url":"file:///tmp/prof10/fixture-7"},"resolvedUrl":"git+file:///tmp/prof10/fixture-7","revCount":8,"revision":"138145ddf6bd1e55c91302f4b3aedad3416c5218","url":"git+file:///tmp/prof10/fixture-7?ref=master&rev=138145ddf6bd1e55c91302f4b3aedad3416c5218"}"#;

    /// The same tree with an uncommitted change: no `rev`.
    const DIRTY_GIT_2_8: &str = r#"{"description":"fleet testbed fixture","lastModified":1796708562,"locked":{"lastModified":1796708562,"narHash":"sha256-U2dY5IoAoNXivLy2EjZ1/mtbAEB+q6QLtcM2+xrl9DE=","type":"git","url":"file:///tmp/prof10/fixture-7"},"original":{"type":"git","url":"file:///tmp/prof10/fixture-7"},"originalUrl":"git+file:///tmp/prof10/fixture-7","path":"/nix/store/2h2img9qcabn05nfrvhndrk78a87bxra-source","resolved":{"type":"git","url":"file:///tmp/prof10/fixture-7"},"resolvedUrl":"git+file:///tmp/prof10/fixture-7","url":"git+file:///tmp/prof10/fixture-7"}"#;

    /// A `path:` folder.
    const PATH_2_8: &str = r#"{"lastModified":1796708900,"locked":{"lastModified":1796708900,"narHash":"sha256-qpg+gUDcCETNLMl2wfOU+4bO4sz4T0Kzvkz4AAzCk8k=","path":"/tmp/selfpath","type":"path"},"original":{"path":"/tmp/selfpath","type":"path"},"originalUrl":"path:/tmp/selfpath","path":"/nix/store/x2k78wd1lak96z1fq6fcjsj7mcgxi5m0-source","resolved":{"path":"/tmp/selfpath","type":"path"},"resolvedUrl":"path:/tmp/selfpath","url":"path:/tmp/selfpath?lastModified=1796708900&narHash=sha256-qpg+gUDcCETNLMl2wfOU+4bO4sz4T0Kzvkz4AAzCk8k="}"#;

    #[test]
    fn a_clean_tree_is_pinned_to_its_revision() {
        assert_eq!(
            pinned_flake(CLEAN_GIT_2_8).as_deref(),
            Some("git+file:///tmp/prof10/fixture-7?ref=master&rev=138145ddf6bd1e55c91302f4b3aedad3416c5218")
        );
        // A forge's locked url names the revision in its path (written by hand:
        // no forge is reachable from this machine to record one).
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let forge = format!(
            r#"{{"locked":{{"owner":"o","repo":"r","rev":"{rev}","type":"github"}},"url":"github:o/r/{rev}"}}"#
        );
        assert_eq!(pinned_flake(&forge), Some(format!("github:o/r/{rev}")));
    }

    #[test]
    fn a_folder_is_pinned_to_its_copy_in_the_store() {
        assert_eq!(
            pinned_flake(PATH_2_8).as_deref(),
            Some(
                "path:/nix/store/x2k78wd1lak96z1fq6fcjsj7mcgxi5m0-source?lastModified=1796708900\
                 &narHash=sha256-qpg%2BgUDcCETNLMl2wfOU%2B4bO4sz4T0Kzvkz4AAzCk8k%3D"
            )
        );
        let in_a_subfolder = PATH_2_8.replace(r#""original":{"#, r#""original":{"dir":"sub","#);
        assert_eq!(pinned_flake(&in_a_subfolder), None, "the copy would lose `dir`");
    }

    #[test]
    fn an_uncommitted_tree_and_odd_metadata_stay_as_given() {
        assert_eq!(pinned_flake(DIRTY_GIT_2_8), None);
        let other_url = CLEAN_GIT_2_8.replace("&rev=138145dd", "&rev=00000000");
        assert_eq!(pinned_flake(&other_url), None, "a url without the locked rev");
        let odd_path = PATH_2_8.replace("/nix/store/x2k78", "/nix/store/?x2k78");
        assert_eq!(pinned_flake(&odd_path), None);
        assert_eq!(pinned_flake("not json"), None);
    }
}
