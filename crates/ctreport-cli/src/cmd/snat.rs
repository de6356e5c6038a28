//! `ctreport snat`: source-NAT pairs (masquerade, SNAT).

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::run_report(
        "snat",
        args,
        CsvShape::One("snat"),
        Aggregates::SNAT,
        |report, summary, top| {
            report.snat = Some(summary.snat_rows(top));
        },
    )
}
