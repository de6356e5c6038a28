//! `ctreport diff`: what changed between two snapshots.

use std::io::{self, BufWriter, Write};

use ctanalyze::Aggregates;
use ctanalyze::doctor::diff::{AddressChange, Change, NatChange, SummaryDiff, diff_grouped};
use serde::Serialize;

use crate::analysis::{self, Pass};
use crate::cli::DiffArgs;
use crate::exit::{Exit, Fatal};
use crate::render;
use crate::report::{Cell, ErrorJson, InputJson, Part, Report, Section};

/// The report: both inputs, the changes, the malformed lines of both.
#[derive(Debug, Serialize)]
struct DiffReport {
    /// `ctreport.diff/1`.
    schema: &'static str,
    /// The earlier input, then the later one.
    inputs: Vec<InputJson>,
    #[serde(flatten)]
    diff: SummaryDiff,
    errors: Vec<ErrorJson>,
}

/// Every column of the document's tables, for CSV: the header is the same
/// for every pair of dumps, whichever parts they have.
const CSV_COLUMNS: &[&str] = &[
    "metric",
    "before",
    "after",
    "delta",
    "protocol",
    "state",
    "address",
    "network",
    "new",
    "original",
    "translated",
    "gone",
    "input",
    "line",
    "column",
    "error",
];

pub fn run(args: &DiffArgs) -> Result<Exit, Fatal> {
    let filter = args.filter.to_filter().map_err(Fatal::Usage)?;
    let max_errors = args.output.max_errors;
    analysis::refuse_repeated_streams([args.before.as_path(), args.after.as_path()])?;
    // The same file twice (a slip of tab completion) has no change to show.
    let same = |path: &std::path::Path| std::fs::canonicalize(path).ok();
    if args.before.as_os_str() != "-"
        && same(&args.before).is_some_and(|b| Some(b) == same(&args.after))
    {
        say!(
            "ctreport: warning: {} and {} are the same file: no change can show",
            args.before.display(),
            args.after.display()
        );
    }
    let mut analyses = Vec::new();
    for file in [&args.before, &args.after] {
        let analysis = analysis::run(Pass {
            files: std::slice::from_ref(file),
            filter: filter.clone(),
            threads: args.pass.threads,
            quiet: args.pass.quiet,
            keep_errors: max_errors,
            aggregates: Aggregates::ALL,
        })?;
        analysis::print_errors(&analysis, max_errors);
        analysis.refuse_events("diff compares two snapshots of the table")?;
        analyses.push(analysis);
    }
    let (before, after) = (&analyses[0], &analyses[1]);
    let mut report = DiffReport {
        schema: "ctreport.diff/1",
        inputs: Vec::new(),
        diff: diff_grouped(
            &before.summary,
            &after.summary,
            args.output.top,
            args.prefix,
        ),
        errors: Vec::new(),
    };
    for analysis in &analyses {
        let base = Report::new("diff", analysis, max_errors);
        report.inputs.extend(base.inputs);
        report.errors.extend(base.errors);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // An input cut short opens the document, as it opens the reports.
    let document: Vec<Part> = crate::report::incomplete(&report.inputs)
        .map(Part::Table)
        .into_iter()
        .chain(parts(&report.diff))
        .collect();
    render::write_document(
        &mut out,
        &document,
        &report,
        args.output.format,
        CSV_COLUMNS,
    )?;
    out.flush()?;
    Ok(super::exit_for(&[before, after], args.output.strict))
}

fn changes(key: &'static str, title: &'static str, first: &'static str, rows: &[Change]) -> Part {
    let rows = rows.iter().map(|c| {
        vec![
            Cell::Text(c.name.clone()),
            Cell::Int(c.before),
            Cell::Int(c.after),
            Cell::Signed(c.delta),
        ]
    });
    Part::Table(Section::new(
        key,
        title,
        &[first, "before", "after", "delta"],
        rows.collect(),
    ))
}

/// Which way a ranked table goes: growth shows whether a key is new,
/// shrinkage whether it is gone.
#[derive(Clone, Copy)]
enum Way {
    Grew,
    Shrank,
}

impl Way {
    fn flag(self) -> &'static str {
        match self {
            Way::Grew => "new",
            Way::Shrank => "gone",
        }
    }

    fn cell(self, new: bool, gone: bool) -> Cell {
        let yes = match self {
            Way::Grew => new,
            Way::Shrank => gone,
        };
        Cell::text(if yes { "yes" } else { "no" })
    }
}

fn addresses(
    key: &'static str,
    title: &'static str,
    way: Way,
    rows: &[AddressChange],
    grouped: bool,
) -> Part {
    let rows = rows.iter().map(|g| {
        vec![
            Cell::Text(g.address.clone()),
            Cell::Int(g.before),
            Cell::Int(g.after),
            Cell::Signed(g.delta),
            way.cell(g.new, g.gone),
        ]
    });
    Part::Table(Section::new(
        key,
        title,
        &[
            if grouped { "network" } else { "address" },
            "before",
            "after",
            "delta",
            way.flag(),
        ],
        rows.collect(),
    ))
}

fn dnat(key: &'static str, title: &'static str, way: Way, rows: &[NatChange]) -> Part {
    let rows = rows.iter().map(|g| {
        vec![
            Cell::text(g.protocol),
            Cell::Text(g.original.clone()),
            Cell::Text(g.translated.clone()),
            Cell::Int(g.before),
            Cell::Int(g.after),
            Cell::Signed(g.delta),
            way.cell(g.new, g.gone),
        ]
    });
    Part::Table(Section::new(
        key,
        title,
        &[
            "protocol",
            "original",
            "translated",
            "before",
            "after",
            "delta",
            way.flag(),
        ],
        rows.collect(),
    ))
}

fn parts(d: &SummaryDiff) -> Vec<Part> {
    let grouped = d.prefixes.is_some();
    let title = |addresses: &'static str, networks: &'static str| match grouped {
        true => networks,
        false => addresses,
    };
    vec![
        changes("totals", "Totals", "metric", &d.totals),
        changes("protocols", "Protocols", "protocol", &d.protocols),
        changes("states", "States", "state", &d.states),
        addresses(
            "sources",
            title("Sources that grew", "Source networks that grew"),
            Way::Grew,
            &d.sources,
            grouped,
        ),
        addresses(
            "destinations",
            title("Destinations that grew", "Destination networks that grew"),
            Way::Grew,
            &d.destinations,
            grouped,
        ),
        dnat("dnat", "DNAT pairs that grew", Way::Grew, &d.dnat),
        addresses(
            "sources_shrunk",
            title("Sources that shrank", "Source networks that shrank"),
            Way::Shrank,
            &d.sources_shrunk,
            grouped,
        ),
        addresses(
            "destinations_shrunk",
            title(
                "Destinations that shrank",
                "Destination networks that shrank",
            ),
            Way::Shrank,
            &d.destinations_shrunk,
            grouped,
        ),
        dnat(
            "dnat_shrunk",
            "DNAT pairs that shrank",
            Way::Shrank,
            &d.dnat_shrunk,
        ),
    ]
}
