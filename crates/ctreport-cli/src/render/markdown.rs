//! GitHub-flavored markdown tables, ready to paste into an incident doc.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::Section;

pub fn write(out: &mut impl Write, sections: &[Section]) -> Result<(), Fatal> {
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "### {}", section.title)?;
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
            let cells: Vec<String> = row.iter().map(|c| escape(&c.plain())).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}

/// Pipes would end a cell early.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}
