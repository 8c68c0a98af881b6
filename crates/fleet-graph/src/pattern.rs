//! Selection by name, tag or glob: what `--host` and `--container` accept.
//! `@TAG` matches the nodes whose `tags` list holds TAG; a name with `*`
//! (any run of characters) or `?` (one character) is a glob; anything else is
//! a node's name. A tag or glob that matches nothing is the same error as an
//! unknown name, with the names that would have been accepted.

use serde_json::Value;

use crate::data::Node;
use crate::GraphError;

impl Node {
    /// The node's `tags` from the graph data (validated when it was read).
    pub fn tags(&self) -> Vec<&str> {
        match self.attrs.get("tags") {
            Some(Value::Array(tags)) => tags.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether `text` selects by tag or glob rather than by name.
pub(crate) fn is_pattern(text: &str) -> bool {
    text.starts_with('@') || text.contains(['*', '?'])
}

/// Whether `node` is selected by `pattern` (a name, `@TAG` or a glob).
pub(crate) fn matches(pattern: &str, node: &Node) -> bool {
    match pattern.strip_prefix('@') {
        Some(tag) => node.tags().contains(&tag),
        None => glob(pattern, &node.name),
    }
}

/// The names `given` stands for among `candidates`: a name as it is (the
/// caller checks it), a tag or glob as the candidates it matches, in their
/// order, each once. A tag or glob that matches none of them is an error
/// naming `kind` and the candidates.
pub(crate) fn expand(given: &[String], candidates: &[&Node], kind: &str) -> Result<Vec<String>, GraphError> {
    let mut names: Vec<String> = Vec::new();
    for item in given {
        let found: Vec<String> = if is_pattern(item) {
            let found: Vec<String> =
                candidates.iter().filter(|n| matches(item, n)).map(|n| n.name.clone()).collect();
            if found.is_empty() {
                return Err(GraphError::UnknownSelection {
                    name: item.clone(),
                    kind: kind.to_string(),
                    known: candidates.iter().map(|n| n.name.clone()).collect(),
                });
            }
            found
        } else {
            vec![item.clone()]
        };
        for name in found {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Whether `text` matches the glob `pattern` (`*` any run of characters,
/// possibly empty; `?` exactly one; everything else itself).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            // Let the last `*` take one more character and try again.
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Checks a node's `tags`: absent, or a list of tags made of letters,
/// digits, `-`, `_` and `.` (so that `@TAG` and globs never mistake one).
pub(crate) fn check_tags(node: &str, tags: Option<&Value>) -> Result<(), GraphError> {
    let valid = |tag: &Value| {
        tag.as_str().is_some_and(|t| {
            !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    };
    match tags {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(valid) => Ok(()),
        Some(_) => Err(GraphError::Malformed {
            at: format!("nodes.{node}.tags"),
            reason: "must be a list of tags made of letters, digits, `-`, `_` and `.`, e.g. [ \"web\" ]"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_and_single_characters() {
        for (pattern, text, expect) in [
            ("bgs-*", "bgs-backend", true),
            ("bgs-*", "bgs-", true),
            ("bgs-*", "nannuo-bot", false),
            ("*-bot", "nannuo-bot", true),
            ("*o*o*", "nannuo-bot", true),
            ("vps-???", "vps-arm", true),
            ("vps-??", "vps-arm", false),
            ("vps-arm", "vps-arm", true),
            ("*", "", true),
            ("a*b*c", "abxbc", true),
            ("a*b*c", "abxb", false),
        ] {
            assert_eq!(glob(pattern, text), expect, "{pattern} on {text}");
        }
    }

    #[test]
    fn tags_must_be_a_list_of_plain_words() {
        assert!(check_tags("a", None).is_ok());
        assert!(check_tags("a", Some(&serde_json::json!(["web", "prod-1", "x.y"]))).is_ok());
        for bad in [
            serde_json::json!("web"),
            serde_json::json!(["we b"]),
            serde_json::json!([1]),
            serde_json::json!(["@x"]),
        ] {
            let err = check_tags("a", Some(&bad)).unwrap_err().to_string();
            assert!(err.starts_with("the graph data at `nodes.a.tags` must be a list of tags"), "{err}");
        }
    }
}
