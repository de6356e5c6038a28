//! Output formats: one file per format, all reading the same report.

mod csv;
mod json;
mod markdown;
mod table;

use std::io::Write;

use crate::cli::Format;
use crate::exit::Fatal;
use crate::report::Report;

/// Writes `report` in `format`. `primary` names the section a
/// single-section subcommand is about: CSV then holds only that table.
pub fn write(
    out: &mut impl Write,
    report: &Report,
    format: Format,
    primary: Option<&str>,
) -> Result<(), Fatal> {
    match format {
        Format::Table => table::write(out, &report.sections()),
        Format::Markdown => markdown::write(out, &report.sections()),
        Format::Csv => csv::write(out, &report.sections(), primary),
        Format::Json => json::write(out, report),
    }
}
