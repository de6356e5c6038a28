//! `ctreport top-ips`: the busiest source (or destination) addresses.

use crate::cli::{By, TopIpsArgs};
use crate::exit::{Exit, Fatal};

pub fn run(args: &TopIpsArgs) -> Result<Exit, Fatal> {
    let (command, key) = match args.by {
        By::Src => ("top-ips", "top_sources"),
        By::Dst => ("top-ips", "top_destinations"),
    };
    super::run_report(
        command,
        &args.report,
        Some(key),
        |report, summary, top| match args.by {
            By::Src => report.top_sources = Some(summary.top_source_rows(top)),
            By::Dst => report.top_destinations = Some(summary.top_destination_rows(top)),
        },
    )
}
