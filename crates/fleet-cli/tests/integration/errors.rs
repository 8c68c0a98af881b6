//! Errors that say what happened: a connection that cannot succeed (a name
//! that does not resolve, a refused port) is told apart, not retried, and
//! said in words with what to check and ssh's own line, never with the
//! internal command line and its scripts.

use crate::common;

use common::{stderr, stdout, Bed};

/// A loopback port that nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_refused_connection_or_an_unknown_name_is_not_retried_and_says_so() {
    let bed = Bed::new("errors", "unreachable");
    let before = bed.snapshot();
    let refused = format!("root@127.0.0.1:{}", closed_port());
    let cases = [
        (
            refused.as_str(),
            "the target refused the connection, so it was not tried again",
            "Connection refused",
        ),
        (
            "root@no-such-host.invalid",
            "the target's host name does not resolve, so it was not tried again",
            "Could not resolve hostname no-such-host.invalid",
        ),
    ];
    for (target, said, ssh_said) in cases {
        let out = bed.fleet(&["deploy", "--host", "vps-arm", "--no-containers", "--target", target]);
        let (text, log) = (stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{target}: {text}{log}");
        assert!(!log.contains("trying again") && !text.contains("tries"), "{target}: retried:\n{log}");
        assert!(text.contains(&format!("error: failed to lock vps-arm: {said} (check ")), "{target}: {text}");
        assert!(text.contains("    | ssh: ") && text.contains(ssh_said), "{target}: {text}");
        for internal in ["sh -c", "-line script>", "/nix/var/fleet"] {
            assert!(
                !text.contains(internal) && !log.contains(internal),
                "{target}: shows {internal}:\n{text}{log}"
            );
        }
        let events = bed.fleet(&["deploy", "--no-containers", "--target", target, "--json-events"]);
        assert!(!stdout(&events).contains("\"event\":\"retry\""), "{target}: {}", stdout(&events));
    }
    assert_eq!(bed.snapshot(), before, "nothing changed on the target");
}
