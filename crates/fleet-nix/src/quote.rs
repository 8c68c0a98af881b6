//! Quoting for the remote shell: the single audited function that turns an
//! argument into shell text.

/// Quotes `arg` so that a POSIX shell reads it back as exactly one word,
/// unchanged. Plain words stay readable; anything else goes in single quotes.
pub fn shell_quote(arg: &str) -> String {
    let plain =
        !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    fn check(arg: &str, expect: &str) {
        assert_eq!(shell_quote(arg), expect);
    }

    #[test]
    fn quotes_what_a_shell_would_interpret() {
        check("/nix/store/abc-x", "/nix/store/abc-x");
        check("container@web", "container@web");
        check("", "''");
        check("a b", "'a b'");
        check("$(reboot)", "'$(reboot)'");
        check("it's", r"'it'\''s'");
        check("a\nb", "'a\nb'");
    }

    #[test]
    fn a_real_shell_reads_back_the_same_word() {
        for arg in ["", "a b", "it's", "$HOME `id` \"q\" \\", "*", "~root", "a\nb;c|d&e"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(arg)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), arg);
        }
    }
}
