//! Health checks declared in the graph data, turned into argument vectors that
//! the activation job runs on the target after switching a node.
//!
//! A node may set `checks`, a list of `{ command = [ ARGV ]; }` (run in the
//! node: inside a container, on a host), `{ tcp = PORT; }` or
//! `{ http = "/PATH"; port = PORT; }` (probed from the host at the node's
//! `address`, or `address` given in the check), and `checkTimeout` (seconds,
//! default 30, at most an hour) within which all must pass. A check is never
//! shell text: values reach the target only as arguments.

use fleet_graph::Node;
use serde_json::Value;

use crate::NodeKind;

/// How long checks may take to pass when a node does not say.
pub(crate) const DEFAULT_CHECK_SECONDS: u64 = 30;
/// The longest `checkTimeout` accepted.
pub(crate) const MAX_CHECK_SECONDS: u64 = 3600;

/// The fixed probe a `tcp` check runs: bash opens `/dev/tcp/ADDRESS/PORT`;
/// address and port are its positional arguments, never part of the text.
const TCP_PROBE: &str = r#": <"/dev/tcp/$1/$2""#;

/// One health check: the argument vector the job runs, and how it is named in
/// messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What the check is, for messages: `` `ARGV` `` for a kind's own,
    /// `` `checks` item N (a command) `` for a declared command, `tcp
    /// ADDRESS:PORT`, `http URL`.
    pub label: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
}

impl Check {
    /// A check that runs `argv`, labelled with it.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Check {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        Check { label: format!("`{}`", argv.join(" ")), argv }
    }
}

/// The node's `checkTimeout`, validated.
pub(crate) fn check_seconds(node: &Node) -> Result<u64, String> {
    match node.attrs.get("checkTimeout") {
        None => Ok(DEFAULT_CHECK_SECONDS),
        Some(value) => value.as_u64().filter(|s| (1..=MAX_CHECK_SECONDS).contains(s)).ok_or_else(|| {
            format!("`checkTimeout` must be a number of seconds from 1 to {MAX_CHECK_SECONDS}")
        }),
    }
}

/// No newline or other control character: every value travels as one line.
fn plain(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// The node's checks: the kind's defaults, then those declared.
pub(crate) fn check_commands(kind: &dyn NodeKind, node: &Node) -> Result<Vec<Check>, String> {
    let mut checks = kind.default_checks(node);
    let declared = match node.attrs.get("checks") {
        None => return Ok(checks),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`checks` must be a list of checks".into()),
    };
    for (i, check) in declared.iter().enumerate() {
        let bad = |what: &str| format!("`checks` item {}: {what}", i + 1);
        let Value::Object(fields) = check else {
            return Err(bad(
                "it must be { command = [ ... ]; }, { tcp = PORT; } or { http = \"/PATH\"; port = PORT; }",
            ));
        };
        let address = match fields.get("address") {
            None => node.attr_str("address").unwrap_or("127.0.0.1").to_string(),
            Some(Value::String(address)) => address.clone(),
            Some(_) => return Err(bad("`address` must be a string")),
        };
        if address.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(bad(&format!(
                "`address = \"{}\"` is not an IPv4 address; write four numbers, e.g. \"10.233.0.10\"",
                address.escape_debug()
            )));
        }
        let port = |value: Option<&Value>| {
            value
                .and_then(Value::as_u64)
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))
        };
        let check = if let Some(argv) = fields.get("command") {
            let argv: Vec<String> = argv
                .as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
                .ok_or_else(|| bad("`command` must be a non-empty list of strings"))?;
            if !argv.iter().all(|a| plain(a)) {
                return Err(bad("`command` arguments must not hold newlines or other control characters"));
            }
            // Its arguments may hold what only the target should see: they
            // stay out of the label, which reaches logs and terminals.
            Check {
                label: format!("`checks` item {} (a command)", i + 1),
                ..Check::new(kind.node_command(node, &argv))
            }
        } else if fields.contains_key("tcp") {
            let port = port(fields.get("tcp"))?.to_string();
            let argv = ["timeout", "5", "bash", "-c", TCP_PROBE, "fleet-check", &address, &port];
            Check { label: format!("tcp {address}:{port}"), ..Check::new(argv) }
        } else if let Some(path) = fields.get("http") {
            let path = path
                .as_str()
                .filter(|p| p.starts_with('/') && p.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| bad("`http` must be a path starting with / without spaces"))?;
            let url = format!("http://{address}:{}{path}", port(fields.get("port"))?);
            Check {
                label: format!("http {url}"),
                ..Check::new(["curl", "-fsS", "-o", "/dev/null", "--max-time", "5", &url])
            }
        } else {
            return Err(bad("it needs `command`, `tcp` or `http`"));
        };
        checks.push(check);
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerKind;

    fn check(checks: &str, expect: &str) {
        let node = Node {
            name: "web".into(),
            kind: "container".into(),
            host: Some("h".into()),
            depends_on: vec![],
            attrs: serde_json::from_str(&format!(r#"{{"address":"10.0.0.5","checks":{checks}}}"#)).unwrap(),
        };
        let got = match check_commands(&ContainerKind, &node) {
            Ok(checks) => {
                checks.iter().map(|c| format!("{} = {:?}", c.label, c.argv)).collect::<Vec<_>>().join("\n")
            }
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn declared_checks_become_argument_vectors() {
        check(
            r#"[{"command":["curl","-f","http://localhost/a b"]},{"tcp":7700},{"http":"/health","port":80}]"#,
            "`systemctl is-active --quiet container@web` = [\"systemctl\", \"is-active\", \"--quiet\", \"container@web\"]\n\
             `checks` item 1 (a command) = [\"nixos-container\", \"run\", \"web\", \"--\", \"curl\", \"-f\", \"http://localhost/a b\"]\n\
             tcp 10.0.0.5:7700 = [\"timeout\", \"5\", \"bash\", \"-c\", \": <\\\"/dev/tcp/$1/$2\\\"\", \"fleet-check\", \"10.0.0.5\", \"7700\"]\n\
             http http://10.0.0.5:80/health = [\"curl\", \"-fsS\", \"-o\", \"/dev/null\", \"--max-time\", \"5\", \"http://10.0.0.5:80/health\"]",
        );
    }

    #[test]
    fn malformed_checks_are_named() {
        check(r#"[{"tcp":0}]"#, "error: `checks` item 1: the port must be a number from 1 to 65535");
        check(r#"[{"command":[]}]"#, "error: `checks` item 1: `command` must be a non-empty list of strings");
        check(r#"[{"ping":1}]"#, "error: `checks` item 1: it needs `command`, `tcp` or `http`");
        check(r#"{"tcp":1}"#, "error: `checks` must be a list of checks");
    }

    /// Graph data must never reach a shell on the target: a value that would
    /// is refused, or stays one argument.
    #[test]
    fn hostile_values_are_refused_or_stay_arguments() {
        check(
            r#"[{"tcp":22,"address":"x/1;touch /tmp/m;:"}]"#,
            "error: `checks` item 1: `address = \"x/1;touch /tmp/m;:\"` is not an IPv4 address; write four numbers, e.g. \"10.233.0.10\"",
        );
        check(
            r#"[{"command":["sh","-c","a\nb"]}]"#,
            "error: `checks` item 1: `command` arguments must not hold newlines or other control characters",
        );
        check(
            r#"[{"http":"/a b","port":80}]"#,
            "error: `checks` item 1: `http` must be a path starting with / without spaces",
        );
    }
}
