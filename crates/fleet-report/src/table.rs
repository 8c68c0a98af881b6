//! Aligned text tables, shared by the summary and the status table.

use crate::escape::terminal_line;

/// Renders `rows` (the first is the header) in columns two spaces apart, each
/// as wide as its widest cell; a column whose `right_aligned` entry is true is
/// aligned right. Trailing spaces are trimmed; each cell is one line, its
/// control characters escaped.
pub(crate) fn render(rows: &[Vec<String>], right_aligned: &[bool]) -> String {
    // Cells hold what targets report (paths, dates): escaped before they are measured.
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| terminal_line(cell)).collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|cell| cell.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &width))| {
                if right_aligned.get(c).copied().unwrap_or(false) {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns_left_or_right() {
        let rows = vec![
            vec!["NODE".to_string(), "TIME".to_string()],
            vec!["a-long-name".to_string(), "1.5s".to_string()],
            vec!["b".to_string(), "10.25s".to_string()],
        ];
        assert_eq!(
            super::render(&rows, &[false, true]),
            "NODE           TIME\na-long-name    1.5s\nb            10.25s\n"
        );
    }
}
