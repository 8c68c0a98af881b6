//! Version ordering, exactly as `builtins.compareVersions`.

use std::cmp::Ordering;

/// Compares two version strings the way `builtins.compareVersions` does.
///
/// Both strings are split into components: `.` and `-` separate components, a run of digits
/// is one component and a run of other characters is another (`2.3a` is `2`, `3`, `a`).
/// Components are compared pairwise, a missing component counting as the empty string:
///
/// - two numbers compare numerically (a digit run too large for a 32-bit signed integer is
///   not a number to Nix and compares as a string);
/// - the empty string is lower than a number (`1.0 < 1.0.1`);
/// - `pre` is lower than anything but `pre` (`1.0pre1 < 1.0`);
/// - any other string is lower than a number (`2.3a < 2.3.1`);
/// - two strings compare bytewise (`1.0 < 1.0a`, `alpha < beta`, `beta < rc`).
///
/// The result is [`Ordering::Equal`] for versions that differ only in separators or leading
/// zeros (`1.0` and `1.00`, `1-0` and `1.0`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut pa, mut pb) = (0, 0);
    while pa < a.len() || pb < b.len() {
        let ca = next_component(a, &mut pa);
        let cb = next_component(b, &mut pb);
        if component_lt(ca, cb) {
            return Ordering::Less;
        }
        if component_lt(cb, ca) {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

fn is_separator(c: u8) -> bool {
    c == b'.' || c == b'-'
}

/// Skips separators, then returns the next run of digits or of other non-separators.
/// Returns the empty component at the end of the string.
fn next_component<'a>(s: &'a [u8], pos: &mut usize) -> &'a [u8] {
    while *pos < s.len() && is_separator(s[*pos]) {
        *pos += 1;
    }
    let start = *pos;
    if start == s.len() {
        return &[];
    }
    if s[start].is_ascii_digit() {
        while *pos < s.len() && s[*pos].is_ascii_digit() {
            *pos += 1;
        }
    } else {
        while *pos < s.len() && !s[*pos].is_ascii_digit() && !is_separator(s[*pos]) {
            *pos += 1;
        }
    }
    &s[start..*pos]
}

/// The component as Nix reads it with `string2Int<int>`: digits that fit an `i32`.
fn as_number(c: &[u8]) -> Option<i32> {
    if c.is_empty() || !c.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // All ASCII digits, so valid UTF-8; leading zeros are accepted, overflow is not.
    std::str::from_utf8(c).ok()?.parse().ok()
}

fn component_lt(c1: &[u8], c2: &[u8]) -> bool {
    match (as_number(c1), as_number(c2)) {
        (Some(n1), Some(n2)) => n1 < n2,
        (_, n2) if c1.is_empty() && n2.is_some() => true,
        _ if c1 == b"pre" && c2 != b"pre" => true,
        _ if c2 == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => c1 < c2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expect` is `<`, `=` or `>`: how `a` compares to `b`. Also checks the reverse.
    fn check(a: &str, b: &str, expect: &str) {
        let sym = |o: Ordering| match o {
            Ordering::Less => "<",
            Ordering::Equal => "=",
            Ordering::Greater => ">",
        };
        assert_eq!(sym(compare_versions(a, b)), expect, "{a:?} vs {b:?}");
        assert_eq!(
            sym(compare_versions(b, a)),
            sym(compare_versions(a, b).reverse()),
            "reverse of {a:?} vs {b:?}"
        );
    }

    #[test]
    fn orderings() {
        check("1.0", "2.3", "<");
        check("2.1", "2.3", "<");
        check("2.3", "2.3", "=");
        check("2.5", "2.3", ">");
        check("3.1", "2.3", ">");
        check("2.3.1", "2.3", ">");
        check("2.3.1", "2.3a", ">");
        check("2.3pre1", "2.3", "<");
        check("2.3pre3", "2.3pre12", "<");
        check("2.3a", "2.3c", "<");
        check("2.3pre1", "2.3c", "<");
        check("2.3pre1", "2.3q", "<");
        check("1.0", "1.00", "=");
        check("1-0", "1.0", "=");
        check("1.0.", "1.0", "=");
        check("1.0", "1.0a", "<");
        check("1.0rc1", "1.0", ">");
        check("1.0alpha", "1.0beta", "<");
        check("", "", "=");
        check("", "0", "<");
        check("", "a", "<");
        check("pre", "", "<");
        check("2024-01-01", "2023-12-31", ">");
        check("unstable-2024-01-01", "0.1", "<");
        // 2147483648 overflows Nix's int, so it is a string, and a string is below a number.
        check("1.2147483647", "1.2147483648", ">");
        check("1.2147483648", "1.2147483649", "<");
        check("1.0000000000000000000001", "1.1", "=");
    }
}
