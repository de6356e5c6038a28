//! Aligned text for a terminal: numbers right-aligned with thousands
//! separators, percentages where they help.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::{Prose, Section};

pub fn write(out: &mut impl Write, sections: &[Section]) -> Result<(), Fatal> {
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", section.title)?;
        if section.rows.is_empty() {
            writeln!(out, "  (none)")?;
            continue;
        }
        let cells: Vec<Vec<String>> = section
            .rows
            .iter()
            .map(|row| row.iter().map(|c| c.pretty()).collect())
            .collect();
        let numeric: Vec<bool> = (0..section.columns.len())
            .map(|col| section.rows.iter().all(|row| row[col].is_numeric()))
            .collect();
        let widths: Vec<usize> = section
            .columns
            .iter()
            .enumerate()
            .map(|(col, name)| {
                cells
                    .iter()
                    .map(|row| row[col].chars().count())
                    .chain([name.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = section.columns.iter().map(|c| c.to_uppercase()).collect();
        line(out, &header, &widths, &numeric)?;
        for row in &cells {
            line(out, row, &widths, &numeric)?;
        }
    }
    Ok(())
}

fn line(
    out: &mut impl Write,
    cells: &[String],
    widths: &[usize],
    numeric: &[bool],
) -> Result<(), Fatal> {
    let mut text = String::from(" ");
    for (col, cell) in cells.iter().enumerate() {
        text.push(' ');
        let pad = widths[col].saturating_sub(cell.chars().count());
        if numeric[col] {
            text.extend(std::iter::repeat_n(' ', pad));
            text.push_str(cell);
        } else {
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', pad));
        }
        text.push(' ');
    }
    writeln!(out, "{}", text.trim_end())?;
    Ok(())
}

/// The widest a prose line gets before it wraps (commands never wrap).
const PROSE_WIDTH: usize = 100;

/// Prose for a terminal: bullets or numbers, paragraphs wrapped, commands
/// indented verbatim.
pub fn write_prose(out: &mut impl Write, prose: &Prose) -> Result<(), Fatal> {
    writeln!(out, "{}", prose.title)?;
    if prose.items.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (i, item) in prose.items.iter().enumerate() {
        let marker = if prose.numbered {
            format!("{}. ", i + 1)
        } else {
            "- ".to_owned()
        };
        let indent = " ".repeat(2 + marker.len());
        let mut first = true;
        let mut lead = |out: &mut dyn Write, line: &str| -> std::io::Result<()> {
            if first {
                first = false;
                writeln!(out, "  {marker}{line}")
            } else {
                writeln!(out, "{indent}{line}")
            }
        };
        if let Some(title) = &item.title {
            lead(out, title)?;
        }
        for line in wrap(&item.text, PROSE_WIDTH - indent.len()) {
            lead(out, &line)?;
        }
        for command in &item.commands {
            for line in command.lines() {
                writeln!(out, "{indent}  {line}")?;
            }
        }
    }
    Ok(())
}

/// Greedy word wrap at `width` characters (a longer word gets a line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_is_greedy_and_keeps_long_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            ["averyveryverylongword", "x"]
        );
        assert!(wrap("   ", 10).is_empty());
    }
}
