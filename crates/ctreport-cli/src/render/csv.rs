//! CSV: a header row, plain numbers. Several sections become one long
//! table with a leading `section` column and the columns the subcommand
//! declares (a cell a section does not have is empty); a subcommand's one
//! section is a table of its own.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::Section;

/// What a subcommand's CSV holds. Its header never depends on the data:
/// a script reading column 5 reads the same column for every dump.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'a> {
    /// The section of this key, as a plain table of its own columns.
    One(&'a str),
    /// The sections present of these keys (every section when `None`), in
    /// one table: a leading `section` column, then `columns`, every column
    /// any of them can have, in this order.
    Many {
        keys: Option<&'a [&'a str]>,
        columns: &'a [&'a str],
    },
}

impl Shape<'_> {
    /// Whether the CSV holds the section of `key` when the report has it.
    pub fn holds(&self, key: &str) -> bool {
        match *self {
            Shape::One(own) => own == key,
            Shape::Many { keys, .. } => keys.is_none_or(|keys| keys.contains(&key)),
        }
    }
}

/// Writes `sections` as `shape` says. A section column missing from a
/// `Many` shape's `columns` is added after them rather than dropped (a
/// test runs every subcommand on every fixture to keep that from
/// happening).
pub fn write(out: &mut impl Write, sections: &[Section], shape: Shape<'_>) -> Result<(), Fatal> {
    let mut writer = csv::Writer::from_writer(out);
    let (keys, declared) = match shape {
        Shape::One(key) => {
            if let Some(section) = sections.iter().find(|s| s.key == key) {
                writer.write_record(&section.columns)?;
                for row in &section.rows {
                    writer.write_record(row.iter().map(|c| c.plain()))?;
                }
            }
            writer.flush()?;
            return Ok(());
        }
        Shape::Many { keys, columns } => (keys, columns),
    };
    let sections: Vec<&Section> = match keys {
        Some(keys) => sections.iter().filter(|s| keys.contains(&s.key)).collect(),
        None => sections.iter().collect(),
    };
    let mut columns: Vec<&str> = declared.to_vec();
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
