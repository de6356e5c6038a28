//! Output formats: one file per format, all reading the same report.

mod csv;

pub use csv::Shape as CsvShape;
mod json;
mod markdown;
mod table;

use std::io::Write;

use serde::Serialize;

use crate::cli::Format;
use crate::exit::Fatal;
use crate::report::{Part, Report, Section};

/// Writes `report` in `format`; `csv` says what CSV holds.
pub fn write(
    out: &mut impl Write,
    report: &Report,
    format: Format,
    csv: CsvShape<'_>,
) -> Result<(), Fatal> {
    match format {
        Format::Table => table::write(out, &report.sections()),
        Format::Markdown => markdown::write(out, &report.sections()),
        Format::Csv => csv::write(out, &report.sections(), csv),
        Format::Json => json::write(out, report),
    }
}

/// Writes a document of tables and prose in `format`: JSON is `typed`
/// serialized; CSV is one long table with a `section` column, prose as
/// rows of `item`, `title`, `text`, `commands`, under `csv_columns` (every
/// column the document can have); table and markdown output show every
/// part in order.
pub fn write_document(
    out: &mut impl Write,
    parts: &[Part],
    typed: &impl Serialize,
    format: Format,
    csv_columns: &[&str],
) -> Result<(), Fatal> {
    match format {
        Format::Json => json::write(out, typed),
        Format::Csv => {
            let tables: Vec<Section> = parts
                .iter()
                .map(|part| match part {
                    Part::Table(section) => section.clone(),
                    Part::Prose(prose) => prose.to_section(),
                })
                .collect();
            let shape = CsvShape::Many {
                keys: None,
                columns: csv_columns,
            };
            csv::write(out, &tables, shape)
        }
        Format::Table | Format::Markdown => {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                match (part, format) {
                    (Part::Table(section), Format::Table) => {
                        table::write(out, std::slice::from_ref(section))?;
                    }
                    (Part::Table(section), _) => {
                        markdown::write(out, std::slice::from_ref(section))?;
                    }
                    (Part::Prose(prose), Format::Table) => table::write_prose(out, prose)?,
                    (Part::Prose(prose), _) => markdown::write_prose(out, prose)?,
                }
            }
            Ok(())
        }
    }
}
