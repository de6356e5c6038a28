//! `ctreport top-ips`: the busiest source (or destination) addresses.

use crate::cli::{By, TopIpsArgs};
use crate::exit::{Exit, Fatal};
use ctanalyze::Aggregates;

pub fn run(args: &TopIpsArgs) -> Result<Exit, Fatal> {
    let (command, key, aggregate) = match args.by {
        By::Src => ("top-ips", "top_sources", Aggregates::SOURCES),
        By::Dst => ("top-ips", "top_destinations", Aggregates::DESTINATIONS),
    };
    super::run_report(
        command,
        &args.report,
        Some(key),
        aggregate,
        |report, summary, top| match args.by {
            By::Src => report.top_sources = Some(summary.top_source_rows(top)),
            By::Dst => report.top_destinations = Some(summary.top_destination_rows(top)),
        },
    )
}
