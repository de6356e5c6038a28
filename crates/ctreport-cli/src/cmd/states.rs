//! `ctreport states`: flows per TCP state (SCTP and DCCP when present).

use crate::cli::ReportArgs;
use crate::exit::{Exit, Fatal};
use ctanalyze::Aggregates;

pub fn run(args: &ReportArgs) -> Result<Exit, Fatal> {
    super::run_report(
        "states",
        args,
        Some("tcp_states"),
        Aggregates::NONE,
        |report, summary, _| {
            report.tcp_states = Some(summary.tcp_state_rows());
            let sctp = summary.sctp_state_rows();
            report.sctp_states = (!sctp.is_empty()).then_some(sctp);
            let dccp = summary.dccp_state_rows();
            report.dccp_states = (!dccp.is_empty()).then_some(dccp);
        },
    )
}
