//! `fleet exec`'s conversation (`sh/exec.sh`): the line that says the
//! session is up, before the command's own output, which is the user's and
//! not decoded.

use super::shown;

/// `exec.sh`'s first line.
const RUNNING: &str = "running";

/// Reads the session's first line: `Err` names, escaped, a line that is not
/// [`RUNNING`].
pub(crate) fn session_started(line: &str) -> Result<(), String> {
    if line == RUNNING {
        Ok(())
    } else {
        Err(format!("the session answered `{}` instead of `{RUNNING}`", shown(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_running_line_starts_a_session() {
        assert_eq!(session_started("running"), Ok(()));
        for (line, shown) in [
            ("", ""),
            ("running ", "running "),
            ("Running", "Running"),
            ("hello", "hello"),
            ("run\u{1b}]52;c;AAAA\u{7}ning", "run\\u{1b}]52;c;AAAA\\u{7}ning"),
        ] {
            assert_eq!(
                session_started(line),
                Err(format!("the session answered `{shown}` instead of `running`")),
                "{line:?}"
            );
        }
    }

    /// The script's own first line, run by `sh` as the target runs it.
    #[test]
    fn exec_sh_says_it_first() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(include_str!("../sh/exec.sh"))
            .args(["exec", "echo", "its own output"])
            .output()
            .expect("sh runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert_eq!(lines.next().map(session_started), Some(Ok(())), "{text}");
        assert_eq!(lines.next(), Some("its own output"));
    }
}
