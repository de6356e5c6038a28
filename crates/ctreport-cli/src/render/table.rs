//! Aligned text for a terminal: numbers right-aligned with thousands
//! separators, percentages where they help.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::Section;

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
