//! `ctreport top-ports`: the busiest (protocol, destination port) pairs.

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;
use ctparse::{Protocol, TupleKind};

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::refuse_protocol(
        "top-ports",
        args.filter.protocol,
        |p: Protocol| p.tuple_kind() == TupleKind::Ports,
        "ports",
        "only TCP, UDP, UDP-Lite, SCTP and DCCP entries print them",
    )?;
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
