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
        // A long title (an explanation in parentheses) wraps as prose does.
        for piece in wrap(&section.heading(), PROSE_WIDTH) {
            writeln!(out, "{piece}")?;
        }
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
        // A long text in the last column (doctor's counter meanings) wraps
        // under itself rather than run to hundreds of characters.
        let mut widths = widths;
        let last = widths.len() - 1;
        let before_last = 2 + widths[..last].iter().map(|w| w + 2).sum::<usize>();
        let room = PROSE_WIDTH.saturating_sub(before_last).max(MIN_WRAPPED);
        let wraps = !numeric[last] && widths[last] > room;
        if wraps {
            widths[last] = room;
        }
        let header: Vec<String> = section.columns.iter().map(|c| c.to_uppercase()).collect();
        line(out, &header, &widths, &numeric)?;
        for row in &cells {
            if !wraps {
                line(out, row, &widths, &numeric)?;
                continue;
            }
            let mut pieces = wrap(&row[last], room).into_iter();
            let mut first = row.clone();
            first[last] = pieces.next().unwrap_or_default();
            line(out, &first, &widths, &numeric)?;
            for piece in pieces {
                writeln!(out, "{}{piece}", " ".repeat(before_last))?;
            }
        }
    }
    Ok(())
}

/// The narrowest a wrapped last column gets, however wide the others.
const MIN_WRAPPED: usize = 30;

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
    use crate::report::Cell;

    #[test]
    fn a_long_last_column_wraps_under_itself() {
        let meaning = "word ".repeat(40);
        let section = Section::new(
            "stats",
            "Statistics",
            &["counter", "total", "meaning"],
            vec![vec![
                Cell::text("drop"),
                Cell::Int(464),
                Cell::Text(meaning.trim_end().to_owned()),
            ]],
        );
        let mut out = Vec::new();
        write(&mut out, &[section]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.iter().all(|l| l.chars().count() <= PROSE_WIDTH),
            "{text}"
        );
        assert!(
            lines[2].starts_with("  drop       464  word word"),
            "{text}"
        );
        // Continuation lines start under the column.
        let column = lines[2].find("word").unwrap();
        assert!(
            lines[3..].iter().all(|l| l.find("word") == Some(column)),
            "{text}"
        );
        let words: usize = lines[2..].iter().map(|l| l.matches("word").count()).sum();
        assert_eq!(words, 40);
    }

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
