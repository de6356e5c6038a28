//! `ctreport protocols`: flows per L4 protocol.

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::run_report(
        "protocols",
        args,
        CsvShape::One("protocols"),
        Aggregates::NONE,
        |report, summary, _| {
            report.protocols = Some(summary.protocol_rows());
        },
    )
}
