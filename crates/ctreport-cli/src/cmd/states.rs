//! `ctreport states`: flows per TCP state (SCTP and DCCP when present).

use ctanalyze::Aggregates;
use ctparse::Protocol;

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use crate::render::CsvShape;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    let protocol = args.filter.protocol;
    super::refuse_protocol(
        "states",
        protocol,
        Protocol::has_states,
        "state",
        "only TCP, SCTP and DCCP entries print one",
    )?;
    // CSV holds the state sections shown: the filtered protocol's as a
    // plain table; without a filter, every one present with the `section`
    // column (also when TCP's is the only one: the columns stay the same
    // for every dump), after the INCOMPLETE section of an input that could
    // not be read to its end.
    let csv = match protocol {
        Some(Protocol::TCP) => CsvShape::One("tcp_states"),
        Some(Protocol::SCTP) => CsvShape::One("sctp_states"),
        Some(Protocol::DCCP) => CsvShape::One("dccp_states"),
        _ => CsvShape::Many {
            keys: Some(&["incomplete", "tcp_states", "sctp_states", "dccp_states"]),
            columns: &[
                "state", "count", "percent", "input", "line", "column", "error",
            ],
        },
    };
    super::run_report(
        "states",
        args,
        csv,
        Aggregates::NONE,
        |report, summary, _| super::fill_states(report, summary, protocol),
    )
}
