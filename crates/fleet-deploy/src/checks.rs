//! Health checks declared in the graph data, turned into command lines that the
//! activation job runs on the target after switching a node.
//!
//! A node may set `checks`, a list of `{ command = [ ARGV ]; }` (run in the
//! node: inside a container, on a host), `{ tcp = PORT; }` or
//! `{ http = "/PATH"; port = PORT; }` (probed from the host at the node's
//! `address`, or `address` given in the check), and `checkTimeout` (seconds,
//! default 30) within which all must pass.

use fleet_graph::Node;
use fleet_nix::shell_quote;
use serde_json::Value;

use crate::NodeKind;

/// How long checks may take to pass when a node does not say.
pub(crate) const DEFAULT_CHECK_SECONDS: u64 = 30;

/// The node's `checkTimeout`, validated.
pub(crate) fn check_seconds(node: &Node) -> Result<u64, String> {
    match node.attrs.get("checkTimeout") {
        None => Ok(DEFAULT_CHECK_SECONDS),
        Some(value) => value
            .as_u64()
            .filter(|s| *s > 0)
            .ok_or_else(|| "`checkTimeout` must be a positive number of seconds".to_string()),
    }
}

/// The node's checks as command lines: the kind's defaults, then those declared.
pub(crate) fn check_commands(kind: &dyn NodeKind, node: &Node) -> Result<Vec<String>, String> {
    let mut commands = kind.default_checks(node);
    let declared = match node.attrs.get("checks") {
        None => return Ok(commands),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`checks` must be a list of checks".into()),
    };
    for (i, check) in declared.iter().enumerate() {
        let bad = |what: &str| format!("`checks` item {}: {what}", i + 1);
        let Value::Object(fields) = check else {
            return Err(bad(
                "expected { command = [ ... ]; }, { tcp = PORT; } or { http = \"/PATH\"; port = PORT; }",
            ));
        };
        let address = match fields.get("address") {
            None => node.attr_str("address").unwrap_or("127.0.0.1").to_string(),
            Some(Value::String(address)) => address.clone(),
            Some(_) => return Err(bad("`address` must be a string")),
        };
        let port = |value: Option<&Value>| {
            value
                .and_then(Value::as_u64)
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))
        };
        let command = if let Some(argv) = fields.get("command") {
            let argv: Vec<String> = argv
                .as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
                .ok_or_else(|| bad("`command` must be a non-empty list of strings"))?;
            kind.check_command(node, &argv)
        } else if fields.contains_key("tcp") {
            let port = port(fields.get("tcp"))?;
            let probe = format!(": </dev/tcp/{address}/{port}");
            ["timeout", "5", "bash", "-c", &probe].map(shell_quote).join(" ")
        } else if let Some(path) = fields.get("http") {
            let path = path
                .as_str()
                .filter(|p| p.starts_with('/'))
                .ok_or_else(|| bad("`http` must be a path starting with /"))?;
            let url = format!("http://{address}:{}{path}", port(fields.get("port"))?);
            ["curl", "-fsS", "-o", "/dev/null", "--max-time", "5", &url].map(shell_quote).join(" ")
        } else {
            return Err(bad("expected `command`, `tcp` or `http`"));
        };
        commands.push(command);
    }
    Ok(commands)
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
            Ok(commands) => commands.join("\n"),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn declared_checks_become_command_lines() {
        check(
            r#"[{"command":["curl","-f","http://localhost/a b"]},{"tcp":7700},{"http":"/health","port":80}]"#,
            "systemctl is-active --quiet container@web\n\
             nixos-container run web -- curl -f 'http://localhost/a b'\n\
             timeout 5 bash -c ': </dev/tcp/10.0.0.5/7700'\n\
             curl -fsS -o /dev/null --max-time 5 http://10.0.0.5:80/health",
        );
    }

    #[test]
    fn malformed_checks_are_named() {
        check(r#"[{"tcp":0}]"#, "error: `checks` item 1: the port must be a number from 1 to 65535");
        check(r#"[{"command":[]}]"#, "error: `checks` item 1: `command` must be a non-empty list of strings");
        check(r#"[{"ping":1}]"#, "error: `checks` item 1: expected `command`, `tcp` or `http`");
        check(r#"{"tcp":1}"#, "error: `checks` must be a list of checks");
    }
}
