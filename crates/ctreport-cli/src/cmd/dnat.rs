//! `ctreport dnat`: destination-NAT pairs (port forwards, load balancers).

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::run_report(
        "dnat",
        args,
        CsvShape::One("dnat"),
        Aggregates::DNAT,
        |report, summary, top| {
            report.dnat = Some(summary.dnat_rows(top));
        },
    )
}
