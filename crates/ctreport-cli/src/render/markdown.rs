//! GitHub-flavored markdown tables, ready to paste into an incident doc.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::{Prose, Section};

pub fn write(out: &mut impl Write, sections: &[Section]) -> Result<(), Fatal> {
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "### {}", section.heading())?;
        writeln!(out)?;
        if section.rows.is_empty() {
            writeln!(out, "_none_")?;
            continue;
        }
        writeln!(out, "| {} |", section.columns.join(" | "))?;
        let align: Vec<&str> = (0..section.columns.len())
            .map(|col| {
                if section.rows.iter().all(|row| row[col].is_numeric()) {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        writeln!(out, "| {} |", align.join(" | "))?;
        for row in &section.rows {
            // As a reader wants them (`1,585`, `64.0 MiB`, `100.0%`): the
            // document is read, not parsed; CSV and JSON are for that.
            let cells: Vec<String> = row.iter().map(|c| escape(&c.pretty())).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}

/// Prose as a list: bold titles, paragraphs, commands in `sh` code blocks.
pub fn write_prose(out: &mut impl Write, prose: &Prose) -> Result<(), Fatal> {
    writeln!(out, "### {}", prose.title)?;
    writeln!(out)?;
    if prose.items.is_empty() {
        writeln!(out, "_none_")?;
        return Ok(());
    }
    for (i, item) in prose.items.iter().enumerate() {
        let marker = if prose.numbered {
            format!("{}. ", i + 1)
        } else {
            "- ".to_owned()
        };
        let indent = " ".repeat(marker.len());
        // A loose list (blank lines between items) only when an item has
        // several blocks; findings stay a tight list.
        let blocks = item.title.is_some() || !item.commands.is_empty();
        if i > 0 && blocks {
            writeln!(out)?;
        }
        match &item.title {
            Some(title) => {
                writeln!(out, "{marker}**{title}**")?;
                writeln!(out)?;
                writeln!(out, "{indent}{}", item.text)?;
            }
            None => writeln!(out, "{marker}{}", item.text)?,
        }
        if !item.commands.is_empty() {
            writeln!(out)?;
            writeln!(out, "{indent}```sh")?;
            for command in &item.commands {
                for line in command.lines() {
                    writeln!(out, "{indent}{line}")?;
                }
            }
            writeln!(out, "{indent}```")?;
        }
    }
    Ok(())
}

/// Pipes would end a cell early, and a line break the row (a file name
/// may hold one): shown as `\n` and `\r`.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_stays_in_its_row_and_column() {
        assert_eq!(escape("a|b\nc\rd"), "a\\|b\\nc\\rd");
    }
}
