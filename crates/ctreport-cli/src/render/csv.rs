//! CSV: a header row, plain numbers. Several sections become one long
//! table with a leading `section` column and the union of their columns
//! (a cell a section does not have is empty); a subcommand's one section
//! is a table of its own.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::Section;

/// Writes the sections whose keys are in `primary` (all of them when
/// `None`): a subcommand about one section writes it as a plain table,
/// one about several writes them with the `section` column, whichever of
/// them the data has, so that its columns never depend on the data.
pub fn write(
    out: &mut impl Write,
    sections: &[Section],
    primary: Option<&[&str]>,
) -> Result<(), Fatal> {
    let mut writer = csv::Writer::from_writer(out);
    let chosen: Vec<&Section> = match primary {
        Some(keys) => sections.iter().filter(|s| keys.contains(&s.key)).collect(),
        None => sections.iter().collect(),
    };
    if let (Some([_]), [section]) = (primary, chosen.as_slice()) {
        writer.write_record(&section.columns)?;
        for row in &section.rows {
            writer.write_record(row.iter().map(|c| c.plain()))?;
        }
        writer.flush()?;
        return Ok(());
    }
    let sections = chosen;
    let mut columns: Vec<&str> = Vec::new();
    for section in &sections {
        for name in &section.columns {
            if !columns.contains(name) {
                columns.push(name);
            }
        }
    }
    writer.write_record(std::iter::once("section").chain(columns.iter().copied()))?;
    for section in &sections {
        for row in &section.rows {
            let mut record = vec![String::new(); columns.len()];
            for (name, cell) in section.columns.iter().zip(row) {
                if let Some(at) = columns.iter().position(|c| c == name) {
                    record[at] = cell.plain();
                }
            }
            writer.write_record(std::iter::once(section.key.to_owned()).chain(record))?;
        }
    }
    writer.flush()?;
    Ok(())
}
