//! JSON: the typed report serialized by serde, pretty-printed.

use std::io::Write;

use serde::Serialize;

use crate::exit::Fatal;

pub fn write(out: &mut impl Write, report: &impl Serialize) -> Result<(), Fatal> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}
