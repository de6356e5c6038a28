//! `ctreport check`: parse only; every malformed line on stdout.

use std::io::{self, BufWriter, Write};

use ctanalyze::{Aggregates, Filter};

use crate::analysis::{self, Pass};
use crate::cli::CheckArgs;
use crate::exit::{Exit, Fatal};
use crate::report::thousands;

pub fn run(args: &CheckArgs) -> Result<Exit, Fatal> {
    let analysis = analysis::run(Pass {
        files: &args.input.files,
        filter: Filter::default(),
        threads: args.input.threads,
        quiet: args.input.quiet,
        keep_errors: usize::MAX,
        tap: None,
        // Parse and count lines only.
        aggregates: Aggregates::NONE,
    })?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for sample in &analysis.summary.totals.error_samples.samples {
        writeln!(
            out,
            "{}",
            sample.error.display_in(analysis.path(sample.input))
        )?;
    }
    out.flush()?;
    analysis::warn_about_inputs(&analysis, &mut io::stderr().lock());
    let t = &analysis.summary.totals;
    eprintln!(
        "ctreport: {} line{}: {} flows, {} skipped, {} malformed",
        thousands(t.lines),
        if t.lines == 1 { "" } else { "s" },
        thousands(t.flows),
        thousands(t.skipped),
        thousands(t.errors)
    );
    Ok(if analysis.incomplete() || analysis.unusable() {
        Exit::Error
    } else if t.errors > 0 {
        Exit::Malformed
    } else {
        Exit::Success
    })
}
