//! `ctreport summary`: every section.

use ctanalyze::{Aggregates, Prefixes};

use crate::cli::{By, ReportArgs};
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;

/// Every keyed aggregate but the timeout histogram (which only `doctor` reads).
const SHOWN: Aggregates = Aggregates::SOURCES
    .union(Aggregates::DESTINATIONS)
    .union(Aggregates::PORTS)
    .union(Aggregates::DNAT)
    .union(Aggregates::SNAT)
    .union(Aggregates::ZONES)
    .union(Aggregates::MARKS)
    .union(Aggregates::SOURCE_BYTES);

/// Every column a section of the summary can have, for CSV: the header is
/// the same for every dump, whichever sections it fills.
const CSV_COLUMNS: &[&str] = &[
    "metric",
    "value",
    "event",
    "family",
    "count",
    "percent",
    "protocol",
    "number",
    "state",
    "flag",
    "address",
    "network",
    "addresses",
    "port",
    "original",
    "translated",
    "zone",
    "mark",
    "hex",
    "bytes",
    "input",
    "line",
    "column",
    "error",
];

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    let csv = CsvShape::Many {
        keys: None,
        columns: CSV_COLUMNS,
    };
    super::run_report("summary", args, csv, SHOWN, |report, summary, top| {
        report.families = Some(summary.family_rows());
        report.protocols = Some(summary.protocol_rows());
        super::fill_states(report, summary, args.filter.protocol);
        report.flags = Some(summary.flags.into());
        report.top_sources = Some(summary.top_source_rows(top));
        super::fill_networks(report, summary, By::Src, Prefixes::DEFAULT, top);
        report.top_destinations = Some(summary.top_destination_rows(top));
        report.top_ports = Some(summary.top_port_rows(top));
        report.dnat = Some(summary.dnat_rows(top));
        report.snat = Some(summary.snat_rows(top));
        report.zones = Some(summary.zone_rows(top));
        report.marks = Some(summary.mark_rows(top));
        if summary.accounting.flows_with_counters > 0 {
            report.accounting = Some(summary.accounting.into());
            report.top_sources_by_bytes = Some(summary.top_source_bytes_rows(top));
        }
    })
}
