//! Reading a child's pipes while it runs, each by a thread of its own (as
//! ripgrep's grep-cli does), keeping at most a set number of bytes and
//! counting the rest: no child blocks on a full pipe that nobody reads, and
//! nothing a child (or a target) prints can exhaust the deployer's memory.

use std::io::{BufRead, ErrorKind, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Instant;

/// The most of a command's stdout that is kept; more is an error that says
/// how much more there was.
pub(crate) const STDOUT_CAP: usize = 64 * 1024 * 1024;

/// The most of a command's stderr that is kept, its end: errors show only its
/// last lines.
pub(crate) const STDERR_CAP: usize = 64 * 1024;

/// The most of one line that is kept; the rest of it is counted and named at
/// its end (`... 3.2 GB more`).
pub(crate) const LINE_CAP: usize = 64 * 1024;

/// Which part of a pipe's bytes is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first bytes (output that is parsed: more is an error).
    Head,
    /// The last bytes (stderr, for its tail).
    Tail,
}

/// What was read from one pipe until it closed.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    /// The bytes kept.
    pub(crate) bytes: Vec<u8>,
    /// How many more were read and not kept.
    pub(crate) more: u64,
}

impl Captured {
    /// The kept bytes as text, with a first line that says how much came
    /// before them when the start was not kept.
    pub(crate) fn tail_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        if self.more == 0 {
            return text.into_owned();
        }
        // The first kept line is likely cut; it goes with the rest, unless
        // it is the only one.
        let whole = text.split_once('\n').map_or(&*text, |(_, rest)| rest);
        format!("... {} more before this\n{whole}", human_bytes(self.more))
    }
}

/// A thread reading one pipe to its end.
pub(crate) struct Drain(Receiver<Captured>);

impl Drain {
    /// Starts reading `pipe`, keeping at most `cap` bytes of it.
    pub(crate) fn start(pipe: impl Read + Send + 'static, keep: Keep, cap: usize) -> Drain {
        let (done, read) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(read_capped(pipe, keep, cap));
        });
        Drain(read)
    }

    /// What was read, once the pipe closed (every writer ended).
    pub(crate) fn finish(self) -> Captured {
        self.0.recv().unwrap_or_default()
    }

    /// [`Drain::finish`], if the pipe closes before `deadline`; `None` if it
    /// is still open then (its thread goes on reading until it closes).
    pub(crate) fn finish_by(&self, deadline: Instant) -> Option<Captured> {
        match self.0.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(captured) => Some(captured),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Captured::default()),
        }
    }
}

/// Reads `pipe` to its end (or its first read error), keeping at most `cap` bytes.
fn read_capped(mut pipe: impl Read, keep: Keep, cap: usize) -> Captured {
    let mut captured = Captured::default();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        match keep {
            Keep::Head => {
                let take = n.min(cap - captured.bytes.len());
                captured.bytes.extend_from_slice(&chunk[..take]);
                captured.more += (n - take) as u64;
            }
            Keep::Tail => {
                captured.bytes.extend_from_slice(&chunk[..n]);
                // Trimmed in halves, so that each byte is moved about once.
                if captured.bytes.len() > 2 * cap {
                    let excess = captured.bytes.len() - cap;
                    captured.bytes.drain(..excess);
                    captured.more += excess as u64;
                }
            }
        }
    }
    if keep == Keep::Tail && captured.bytes.len() > cap {
        let excess = captured.bytes.len() - cap;
        captured.bytes.drain(..excess);
        captured.more += excess as u64;
    }
    captured
}

/// The next line of `reader` without its line ending, at most `cap` bytes of
/// it kept (the rest read, counted and named at its end); `None` at the end.
/// Bytes that are not UTF-8 become U+FFFD rather than ending the stream.
pub(crate) fn read_line_capped(reader: &mut impl BufRead, cap: usize) -> std::io::Result<Option<String>> {
    let mut kept = Vec::new();
    let mut more = 0u64;
    let mut any = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        any = true;
        let newline = buf.iter().position(|&b| b == b'\n');
        let part = &buf[..newline.unwrap_or(buf.len())];
        let take = part.len().min(cap - kept.len());
        kept.extend_from_slice(&part[..take]);
        more += (part.len() - take) as u64;
        let used = newline.map_or(buf.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if more == 0 && kept.last() == Some(&b'\r') {
        kept.pop();
    }
    let mut line = String::from_utf8_lossy(&kept).into_owned();
    if more > 0 {
        line.push_str(&format!(" ... {} more", human_bytes(more)));
    }
    Ok(Some(line))
}

/// `line`, or its first `cap` bytes (at a character boundary) with how much
/// more it had.
pub(crate) fn shorten(line: &str, cap: usize) -> std::borrow::Cow<'_, str> {
    if line.len() <= cap {
        return line.into();
    }
    let end = (0..=cap).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
    format!("{} ... {} more", &line[..end], human_bytes((line.len() - end) as u64)).into()
}

/// A byte count as a person reads it: `512 B`, `64.0 kB`, `3.2 GB` (powers of 1000).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        let shown: Vec<String> =
            [0, 999, 1000, 64 * 1024, 3_200_000_000, 999_960, u64::MAX].map(human_bytes).to_vec();
        assert_eq!(shown, ["0 B", "999 B", "1.0 kB", "65.5 kB", "3.2 GB", "1.0 MB", "18446.7 PB"]);
    }

    #[test]
    fn a_drain_keeps_its_cap_and_counts_the_rest() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let head = read_capped(&bytes[..], Keep::Head, 1000);
        assert_eq!((&head.bytes[..], head.more), (&bytes[..1000], 99_000));
        let tail = read_capped(&bytes[..], Keep::Tail, 1000);
        assert_eq!((&tail.bytes[..], tail.more), (&bytes[99_000..], 99_000));
        let small = read_capped(&b"short"[..], Keep::Tail, 1000);
        assert_eq!((&small.bytes[..], small.more), (&b"short"[..], 0));
    }

    #[test]
    fn a_cut_tail_says_how_much_came_before() {
        let captured = Captured { bytes: b"ut line\nlast line\n".to_vec(), more: 3_200_000_000 };
        assert_eq!(captured.tail_text(), "... 3.2 GB more before this\nlast line\n");
    }

    #[test]
    fn shortened_lines_end_at_a_character() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("ééééé", 3), "é ... 8 B more");
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_named() {
        let text = format!("short\r\n{}\nlast", "x".repeat(5000));
        let mut reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut lines = Vec::new();
        while let Some(line) = read_line_capped(&mut reader, 100).unwrap() {
            lines.push(line);
        }
        assert_eq!(
            lines,
            ["short".to_string(), format!("{} ... 4.9 kB more", "x".repeat(100)), "last".into()]
        );
        let mut bad = &b"a\xffb\n"[..];
        assert_eq!(read_line_capped(&mut bad, 100).unwrap().as_deref(), Some("a\u{fffd}b"));
    }
}
