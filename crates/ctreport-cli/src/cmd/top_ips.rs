//! `ctreport top-ips`: the busiest source (or destination) addresses, or
//! networks with `--prefix`.

use crate::cli::{By, TopIpsArgs};
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;
use ctanalyze::Aggregates;

pub fn run(args: &TopIpsArgs) -> Result<Exit, Fatal> {
    let (key, aggregate) = match (args.by, args.prefix) {
        (By::Src, None) => ("top_sources", Aggregates::SOURCES),
        (By::Dst, None) => ("top_destinations", Aggregates::DESTINATIONS),
        (By::Src, Some(_)) => ("top_source_networks", Aggregates::SOURCES),
        (By::Dst, Some(_)) => ("top_destination_networks", Aggregates::DESTINATIONS),
    };
    super::run_report(
        "top-ips",
        &args.report,
        CsvShape::One(key),
        aggregate,
        |report, summary, top| {
            let Some(prefixes) = args.prefix else {
                match args.by {
                    By::Src => report.top_sources = Some(summary.top_source_rows(top)),
                    By::Dst => report.top_destinations = Some(summary.top_destination_rows(top)),
                }
                return;
            };
            super::fill_networks(report, summary, args.by, prefixes, top);
        },
    )
}
