//! JSON: the typed report serialized by serde, pretty-printed.

use std::io::Write;

use crate::exit::Fatal;
use crate::report::Report;

pub fn write(out: &mut impl Write, report: &Report) -> Result<(), Fatal> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}
