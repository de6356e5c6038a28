//! `ctreport states`: flows per TCP state (SCTP and DCCP when present).

use ctanalyze::Aggregates;
use ctparse::Protocol;

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    let protocol = args.filter.protocol;
    if let Some(stateless) =
        protocol.filter(|p| ![Protocol::TCP, Protocol::SCTP, Protocol::DCCP].contains(p))
    {
        // The name as `-p` takes it, the number where there is none.
        let name = match stateless.name() {
            "unknown" => stateless.number().to_string(),
            name => name.to_owned(),
        };
        return Err(Fatal::Usage(format!(
            "states: protocol {name} has no state: only TCP, SCTP and DCCP entries print one \
             (`ctreport protocols -p {name}` counts its flows)"
        )));
    }
    // CSV holds the state sections shown: TCP's alone as a plain table,
    // with SCTP's or DCCP's too in the `section` form.
    super::run_report(
        "states",
        args,
        Some(&["tcp_states", "sctp_states", "dccp_states"]),
        Aggregates::NONE,
        |report, summary, _| super::fill_states(report, summary, protocol),
    )
}
