//! Untrusted text made safe for a terminal: what a target, a container or a
//! build printed is shown, never obeyed.
//!
//! A terminal acts on control characters: ESC starts sequences that move the
//! cursor, retitle the window or write the clipboard (OSC 52), `\r` returns to
//! the start of the line so that later text hides earlier text (a forged
//! `ok` or another node's prefix), and bidi controls such as U+202E reorder
//! what is shown. Every such character is shown as an escape instead: C0
//! controls and DEL as `\r`, `\n` or `\xNN`, C1 controls (U+0080 to U+009F)
//! and Unicode's invisible format, bidi and line-separator characters as
//! `\u{NNNN}`. Tabs stay: they only move right and hide nothing. Newlines
//! stay in [`terminal_text`] (a multi-line message) and are escaped by
//! [`terminal_line`] (one line that must stay one). A backslash is left as
//! it is: text that spells `\x1b` reads as those four characters and acts on
//! nothing.

use std::fmt::Write;

/// Unicode's invisible characters that change how text is shown (general
/// categories Cf, Zl and Zp, as of Unicode 15): soft hyphen, Arabic and
/// Syriac marks, zero-width characters, bidi embeddings, overrides and
/// isolates, word joiners, the byte order mark, interlinear annotation and
/// tag characters.
const INVISIBLE: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// `text` for a terminal, its lines kept: every control character but `\n`
/// and `\t`, and every invisible format character, shown as an escape.
pub fn terminal_text(text: &str) -> String {
    escape(text, true)
}

/// `text` for a terminal as one line: as [`terminal_text`], and `\n` shown
/// as `\n` too.
pub fn terminal_line(text: &str) -> String {
    escape(text, false)
}

/// JSON text (as serde_json writes it) with what serde leaves raw and a
/// terminal may act on, DEL, C1 controls and the invisible characters above,
/// written as `\uXXXX` escapes: the same JSON value, safe to print. Those
/// characters can only occur inside JSON strings, where the escape means
/// the same character.
pub fn json_text(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c) || is_invisible(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|(first, last)| (*first..=*last).contains(&c))
}

fn escape(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\n' if keep_newlines => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        for (raw, shown) in [
            // OSC 52: writes the clipboard of whoever reads the output.
            ("\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
            // CSI: clears the screen, moves the cursor up.
            ("\x1b[2J\x1b[1A", "\\x1b[2J\\x1b[1A"),
            // `\r`: a forged `ok` over the real line.
            ("failed\rok    ", "failed\\rok    "),
            ("nul\0del\x7fbs\x08", "nul\\x00del\\x7fbs\\x08"),
            // C1: CSI and OSC in one character each.
            ("\u{9b}2J\u{9d}0;t\u{9c}", "\\u{9b}2J\\u{9d}0;t\\u{9c}"),
            // Bidi: `txt.exe` shown as `exe.txt`.
            ("a\u{202e}txt.exe", "a\\u{202e}txt.exe"),
            ("\u{2066}x\u{2069}\u{200b}\u{feff}\u{e0041}", "\\u{2066}x\\u{2069}\\u{200b}\\u{feff}\\u{e0041}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
        ] {
            assert_eq!(terminal_text(raw), shown, "{raw:?}");
            assert_eq!(terminal_line(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn plain_text_tabs_and_newlines_are_kept_where_they_belong() {
        let text = "build\tok: naïve – 日本語 ✓ \\x1b\nnext";
        assert_eq!(terminal_text(text), text);
        assert_eq!(terminal_line(text), "build\tok: naïve – 日本語 ✓ \\x1b\\nnext");
        assert_eq!(terminal_line("web | ok\r\nweb | faked"), "web | ok\\r\\nweb | faked");
    }

    #[test]
    fn json_keeps_its_value_and_loses_what_a_terminal_obeys() {
        let text = "\x1b]52;c;eA==\x07 \u{9b}2J a\u{202e}b \u{e0041} \x7f naïve";
        let json = json_text(&serde_json::to_string(text).unwrap());
        assert_eq!(json, r#""\u001b]52;c;eA==\u0007 \u009b2J a\u202eb \udb40\udc41 \u007f naïve""#);
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
    }
}
