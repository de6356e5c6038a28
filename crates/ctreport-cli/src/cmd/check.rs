//! `ctreport check`: parse only; every malformed line on stdout.
//!
//! The in-order pass of `flows`, without rows: malformed lines come out in
//! input order as they are found, so memory stays bounded however many
//! there are (a wrong file of millions of lines lists them all).

use ctanalyze::Filter;

use super::flows::{ErrorsTo, Streaming, stream};
use crate::cli::CheckArgs;
use crate::exit::{Exit, Fatal};
use crate::report::thousands;

pub fn run(args: &CheckArgs) -> Result<Exit, Fatal> {
    // With its reader gone (`check dump | head`), the pass still reads to
    // the end: the exit status is the verdict on the whole input.
    let streamed = stream(&Streaming {
        input: &args.input,
        filter: &Filter::default(),
        rows: None,
        errors: ErrorsTo::Stdout(args.format),
        before_cut: "the malformed lines before this one are listed",
    })?;
    let count = |field: fn(&crate::analysis::InputTotals) -> u64| {
        streamed.inputs.iter().map(field).sum::<u64>()
    };
    let (lines, flows) = (count(|i| i.lines), count(|i| i.flows));
    say!(
        "ctreport: {} line{}: {} flow{}, {} skipped, {} malformed",
        thousands(lines),
        if lines == 1 { "" } else { "s" },
        thousands(flows),
        if flows == 1 { "" } else { "s" },
        thousands(count(|i| i.skipped)),
        thousands(streamed.errors)
    );
    Ok(if streamed.failed() {
        Exit::Error
    } else if streamed.errors > 0 {
        Exit::Malformed
    } else {
        Exit::Success
    })
}
