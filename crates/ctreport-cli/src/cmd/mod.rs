//! One file per subcommand.

pub mod check;
pub mod diff;
pub mod dnat;
pub mod doctor;
pub mod flows;
pub mod protocols;
pub mod snat;
pub mod states;
pub mod summary;
pub mod top_ips;
pub mod top_ports;

use std::io::{self, BufWriter, Write};

use ctanalyze::{Aggregates, Networks, Prefixes, StateRow, Summary};
use ctparse::Protocol;

use crate::analysis::{self, Analysis, Pass};
use crate::cli::{By, Format, ReportArgs};
use crate::exit::{Exit, Fatal};
use crate::render::{self, CsvShape};
use crate::report::Report;

/// Runs a report subcommand: analyze (computing only `aggregates`, the
/// keyed aggregates `fill` uses), print malformed lines, fill the report's
/// sections with `fill`, render it to stdout (`csv` says what CSV holds).
pub fn run_report(
    command: &str,
    args: &ReportArgs,
    csv: CsvShape<'_>,
    aggregates: Aggregates,
    fill: impl FnOnce(&mut Report, &Summary, usize),
) -> Result<Exit, Fatal> {
    let filter = args.filter.to_filter().map_err(Fatal::Usage)?;
    let analysis = analysis::run(Pass {
        files: &args.input.files,
        filter,
        threads: args.input.threads,
        quiet: args.input.quiet,
        keep_errors: args.output.max_errors,
        aggregates,
    })?;
    analysis::print_errors(&analysis, args.output.max_errors);
    // Tables, markdown and JSON say it in their `events` section; a CSV
    // without that section cannot.
    if args.output.format == Format::Csv
        && !csv.holds("events")
        && analysis.summary.events.iter().any(|&n| n > 0)
    {
        say!(
            "ctreport: note: the input holds `conntrack -E` events: the CSV's counts are of \
             events (NEW, UPDATE, DESTROY), not of table entries"
        );
    }
    let mut report = Report::new(command, &analysis, args.output.max_errors);
    fill(&mut report, &analysis.summary, args.output.top);
    report.count_distinct(&analysis.summary);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    render::write(&mut out, &report, args.output.format, csv)?;
    out.flush()?;
    Ok(exit_for(&[&analysis], args.output.strict))
}

/// The networks of the sources (`by` [`By::Src`]) or destinations, the
/// top `top` of them, with their count in `distinct`.
pub fn fill_networks(
    report: &mut Report,
    summary: &Summary,
    by: By,
    prefixes: Prefixes,
    top: usize,
) {
    let (addresses, key) = match by {
        By::Src => (&summary.sources, "top_source_networks"),
        By::Dst => (&summary.destinations, "top_destination_networks"),
    };
    // Grouped from the exact per-address counts, after the pass.
    let networks = Networks::group(addresses, prefixes);
    let rows = Some(networks.top_rows(top));
    match by {
        By::Src => report.top_source_networks = rows,
        By::Dst => report.top_destination_networks = rows,
    }
    report.prefixes = Some(prefixes);
    report.distinct.insert(key, networks.len() as u64);
}

/// A usage error when the report's rows are of something (a state,
/// ports) that the flows of the `-p` protocol never have: an empty table
/// would read as "none of them", not "not a question for this protocol".
/// `what` is "state" or "ports"; `which` says which protocols have it.
pub fn refuse_protocol(
    command: &str,
    protocol: Option<Protocol>,
    has: impl Fn(Protocol) -> bool,
    what: &str,
    which: &str,
) -> Result<(), Fatal> {
    let Some(without) = protocol.filter(|&p| !has(p)) else {
        return Ok(());
    };
    let name = without.name_or_number();
    Err(Fatal::Usage(format!(
        "{command}: protocol {name} has no {what}: {which} \
         (`ctreport protocols -p {name}` counts its flows)"
    )))
}

/// The protocol-state sections: TCP's unless the flows are filtered to
/// another protocol, SCTP's and DCCP's when they have entries or are the
/// protocol filtered to (then empty is an answer).
pub fn fill_states(report: &mut Report, summary: &Summary, protocol: Option<Protocol>) {
    let shown = |rows: Vec<StateRow>, own: Protocol| {
        (protocol == Some(own)
            || (protocol.is_none() && (own == Protocol::TCP || !rows.is_empty())))
        .then_some(rows)
    };
    report.tcp_states = shown(summary.tcp_state_rows(), Protocol::TCP);
    report.sctp_states = shown(summary.sctp_state_rows(), Protocol::SCTP);
    report.dccp_states = shown(summary.dccp_state_rows(), Protocol::DCCP);
}

/// `Error` when an input could not be read to its end (the report is
/// printed, but of part of it) or gave no entry but malformed lines (the
/// wrong file, a failed capture); else `Malformed` when `--strict` and any
/// line was malformed.
pub fn exit_for(analyses: &[&Analysis], strict: bool) -> Exit {
    if analyses.iter().any(|a| a.incomplete() || a.unusable()) {
        Exit::Error
    } else if strict && analyses.iter().any(|a| a.summary.totals.errors > 0) {
        Exit::Malformed
    } else {
        Exit::Success
    }
}
