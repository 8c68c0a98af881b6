//! Why an SSH connection failed, told apart from what `ssh` (or nix's ssh
//! store) printed: a name that does not resolve, a refused connection, a
//! failed authentication, a host key that does not match, a timeout, or a
//! connection lost on the way. The first three will fail the same way again,
//! and so will a refusal at the first contact with a host (a refusal later
//! in a run is sshd restarting), so nothing retries those; the deploy says
//! which it was and what to check.

use std::fmt;

use crate::CommandError;

/// Why a connection to a target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The target's host name does not resolve.
    NameResolution,
    /// Nothing accepts connections on the target's address and port.
    Refused,
    /// The target refused this machine's keys.
    Authentication,
    /// The target's host key is unknown or does not match `known_hosts`.
    HostKey,
    /// The target did not answer in time (`ConnectTimeout`, or a partition).
    Timeout,
    /// The connection broke while in use, or the network has no route now.
    Lost,
}

/// What ssh prints for each, most specific first: with `BatchMode`, a host
/// key that is not known also ends in "Host key verification failed".
const SIGNS: &[(&str, Unreachable)] = &[
    ("Could not resolve hostname", Unreachable::NameResolution),
    ("Host key verification failed", Unreachable::HostKey),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", Unreachable::HostKey),
    ("Permission denied", Unreachable::Authentication),
    ("Too many authentication failures", Unreachable::Authentication),
    ("Connection refused", Unreachable::Refused),
    ("Connection timed out", Unreachable::Timeout),
    ("Operation timed out", Unreachable::Timeout),
    ("Connection reset", Unreachable::Lost),
    ("Connection closed", Unreachable::Lost),
    ("connection closed", Unreachable::Lost),
    ("No route to host", Unreachable::Lost),
    ("Network is unreachable", Unreachable::Lost),
    ("kex_exchange_identification", Unreachable::Lost),
    ("unexpected end-of-file", Unreachable::Lost),
];

impl Unreachable {
    /// Why `error`'s connection failed, if it is a connection failure.
    pub fn of(error: &CommandError) -> Option<Unreachable> {
        if matches!(error.failure, crate::Failure::Disconnected(_)) {
            return Some(Unreachable::Lost);
        }
        let tail = error.stderr_tail();
        SIGNS.iter().find(|(sign, _)| tail.contains(sign)).map(|(_, kind)| *kind)
    }

    /// Whether trying again can help. The same name, keys and host key
    /// give the same answer; so does a port that refused the first contact
    /// of a run, while a refusal after the host answered is sshd restarting.
    pub fn worth_retrying(self, first_contact: bool) -> bool {
        match self {
            Unreachable::Timeout | Unreachable::Lost => true,
            Unreachable::Refused => !first_contact,
            Unreachable::NameResolution | Unreachable::Authentication | Unreachable::HostKey => false,
        }
    }

    /// The failure for a person: what happened, whether it was tried again
    /// (`tried_again`), what to check, and what ssh said (never the internal
    /// command line).
    pub fn explain(self, error: &CommandError, tried_again: bool) -> String {
        let once = !tried_again && !matches!(self, Unreachable::Timeout | Unreachable::Lost);
        let note = if once { ", so it was not tried again" } else { "" };
        let said = match &error.failure {
            crate::Failure::Disconnected(how) => how.as_str(),
            _ => error.stderr_tail(),
        };
        format!("{self}{note} ({})\n{}", self.hint(), crate::command::indent(said))
    }

    /// What to check, for the error message.
    pub fn hint(self) -> &'static str {
        match self {
            Unreachable::NameResolution => "check the host's `target` in the graph data, or --target",
            Unreachable::Refused => "check the target's address and port, and that sshd runs there",
            Unreachable::Authentication => {
                "check the target's user and that it accepts your key (--ssh-option \"-i KEY\")"
            }
            Unreachable::HostKey => {
                "check the host key in ~/.ssh/known_hosts against the target's (ssh-keyscan), \
                 then connect once by hand to accept it"
            }
            Unreachable::Timeout => "check that the target is up and reachable from here",
            Unreachable::Lost => "check the network between here and the target",
        }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreachable::NameResolution => "the target's host name does not resolve",
            Unreachable::Refused => "the target refused the connection",
            Unreachable::Authentication => "the target refused this machine's SSH keys",
            Unreachable::HostKey => "the target's host key is not the one known here",
            Unreachable::Timeout => "the connection to the target timed out",
            Unreachable::Lost => "the connection to the target was lost",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;

    fn failed(stderr_tail: &str) -> CommandError {
        CommandError {
            command: "ssh h".into(),
            failure: Failure::Exit { code: Some(255), stderr_tail: stderr_tail.into() },
        }
    }

    #[test]
    fn what_ssh_prints_names_one_kind() {
        // OpenSSH's messages (ssh.c, sshconnect.c, sshconnect2.c).
        let cases = [
            ("ssh: Could not resolve hostname x.invalid: Name or service not known", Unreachable::NameResolution),
            ("ssh: connect to host 127.0.0.1 port 1: Connection refused", Unreachable::Refused),
            ("root@h: Permission denied (publickey).", Unreachable::Authentication),
            ("No ED25519 host key is known for [h]:22 and you have requested strict checking.\nHost key verification failed.", Unreachable::HostKey),
            ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", Unreachable::Timeout),
            ("Connection reset by 10.0.0.1 port 22", Unreachable::Lost),
        ];
        for (text, kind) in cases {
            assert_eq!(Unreachable::of(&failed(text)), Some(kind), "{text}");
        }
        assert_eq!(Unreachable::of(&failed("error: builder for '/nix/store/x.drv' failed")), None);
        let at_first: Vec<bool> = cases.iter().map(|(_, kind)| kind.worth_retrying(true)).collect();
        assert_eq!(at_first, [false, false, false, false, true, true]);
        let later: Vec<bool> = cases.iter().map(|(_, kind)| kind.worth_retrying(false)).collect();
        assert_eq!(later, [false, true, false, false, true, true]);
    }
}
