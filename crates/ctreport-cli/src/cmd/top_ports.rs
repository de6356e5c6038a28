//! `ctreport top-ports`: the busiest (protocol, destination port) pairs.

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::run_report(
        "top-ports",
        args,
        CsvShape::One("top_ports"),
        Aggregates::PORTS,
        |report, summary, top| {
            report.top_ports = Some(summary.top_port_rows(top));
        },
    )
}
