//! `ctreport doctor`: the table-full post-mortem of one dump, with the
//! sysctls and statistics captured with it.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ctanalyze::doctor::notrack::Target;
use ctanalyze::doctor::{Diagnosis, Doctor, InputError, Origin, Stats, Sysctl};
use ctanalyze::{AddressRow, Aggregates, Filter};
use serde::Serialize;

use crate::analysis::{self, Pass};
use crate::cli::DoctorArgs;
use crate::exit::{Exit, Fatal};
use crate::report::{
    Cell, ErrorJson, InputJson, Item, Part, Prose, Report, Section, TotalsJson, network_section,
    percent, thousands,
};
use crate::{input, render};

/// The report: the usual inputs, totals and errors around the diagnosis.
#[derive(Debug, Serialize)]
struct DoctorReport {
    /// `ctreport.doctor/1`.
    schema: &'static str,
    inputs: Vec<InputJson>,
    /// The `--sysctl` file, if given.
    sysctl_file: Option<String>,
    /// The `--stats` file, if given.
    stats_file: Option<String>,
    totals: Option<TotalsJson>,
    #[serde(flatten)]
    diagnosis: Diagnosis,
    /// Malformed lines of the dump, then of the side inputs.
    errors: Vec<ErrorJson>,
}

/// A side input, read whole (they are a few KiB).
struct Side<T> {
    path: PathBuf,
    value: T,
    errors: Vec<InputError>,
}

/// What a side input must hold to be used: the option that names it, a
/// test on what was parsed, and what the file was expected to be.
struct Expect<T> {
    option: &'static str,
    usable: fn(&T) -> bool,
    what: &'static str,
}

const SYSCTL: Expect<Sysctl> = Expect {
    option: "--sysctl",
    usable: |sysctl| !sysctl.is_empty(),
    what: "no nf_conntrack_* setting (expected `sysctl -a`, `sysctl net.netfilter` or `grep -r . /proc/sys/net/netfilter` output)",
};

const STATS: Expect<Stats> = Expect {
    option: "--stats",
    usable: |stats| stats.iter().next().is_some(),
    what: "no conntrack counter (expected `conntrack -S` output or /proc/net/stat/nf_conntrack)",
};

/// The largest side input read: `sysctl -a` and the statistics take a
/// few KiB even on hosts with many CPUs and namespaces' worth of keys.
const SIDE_INPUT_MAX: u64 = 16 << 20;

/// Reads a side input. One that holds nothing usable (an empty file, the
/// wrong file) stops the run: a diagnosis without it would read as if
/// it had been considered.
fn read_side<T>(
    path: &Path,
    parse: fn(&[u8]) -> (T, Vec<InputError>),
    expect: &Expect<T>,
) -> Result<Side<T>, Fatal> {
    // Opened as a dump is: compressed side inputs are read, archives and
    // executables refused, standard input named `<stdin>`.
    let opened = input::open_as(path, Some(expect.option))
        .map_err(|e| Fatal::Input(format!("{} {e}", expect.option)))?;
    let path = opened.name.as_path();
    // At most one byte over the limit: enough to tell it was passed.
    let limit = SIDE_INPUT_MAX + 1;
    let mut bytes = Vec::new();
    match opened.source {
        ctparse::Source::Mapped(map) => {
            bytes.extend_from_slice(&map[..map.len().min(limit as usize)])
        }
        ctparse::Source::Stream(stream) => {
            stream.0.take(limit).read_to_end(&mut bytes).map_err(|e| {
                Fatal::Input(format!("{}: {}", path.display(), input::describe(&e)))
            })?;
        }
    }
    if bytes.len() as u64 > SIDE_INPUT_MAX {
        return Err(Fatal::Input(format!(
            "{} {} is larger than {} MiB, far more than such a listing takes (the wrong file?)",
            expect.option,
            path.display(),
            SIDE_INPUT_MAX >> 20,
        )));
    }
    let (value, errors) = parse(&bytes);
    if !(expect.usable)(&value) {
        let first = errors.first().map_or(String::new(), |e| {
            format!(
                "; {} malformed line{}, the first: {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                e.display_in(path)
            )
        });
        return Err(Fatal::Input(format!(
            "{} {} holds {}{first}",
            expect.option,
            path.display(),
            expect.what
        )));
    }
    Ok(Side {
        path: path.to_owned(),
        value,
        errors,
    })
}

/// Every column of the document's tables and prose, for CSV: the header is
/// the same for every dump, whichever parts it has.
const CSV_COLUMNS: &[&str] = &[
    "item",
    "title",
    "text",
    "commands",
    "metric",
    "value",
    "source",
    "protocol",
    "number",
    "count",
    "percent",
    "state",
    "flag",
    "address",
    "network",
    "addresses",
    "original",
    "translated",
    "timer",
    "now",
    "from",
    "try",
    "by",
    "entries",
    "short timer",
    "longer",
    "gone",
    "of table",
    "peer",
    "zone",
    "original source",
    "held",
    "closing",
    "outside",
    "port range",
    "of ports",
    "held run",
    "run drops",
    "drops before 6.5",
    "kind",
    "match",
    "internal",
    "inside pairs",
    "counter",
    "total",
    "meaning",
];

pub fn run(args: &DoctorArgs) -> Result<Exit, Fatal> {
    let max_errors = args.output.max_errors;
    analysis::refuse_repeated_streams(
        [Some(&args.dump), args.sysctl.as_ref(), args.stats.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path),
    )?;
    let sysctl = args
        .sysctl
        .as_deref()
        .map(|p| read_side(p, Sysctl::parse, &SYSCTL))
        .transpose()?;
    if let Some(side) = &sysctl {
        for conflict in side.value.conflicts() {
            say!("ctreport: warning: {}", conflict.display_in(&side.path));
        }
    }
    let stats = args
        .stats
        .as_deref()
        .map(|p| read_side(p, Stats::parse, &STATS))
        .transpose()?;
    // The breakdown is folded in the same pass: the dump is parsed once.
    let mut analysis = analysis::run(Pass {
        files: std::slice::from_ref(&args.dump),
        filter: Filter::default(),
        threads: args.pass.threads,
        quiet: args.pass.quiet,
        keep_errors: max_errors,
        aggregates: Aggregates::ALL | Aggregates::BREAKDOWN,
    })?;
    analysis::print_errors(&analysis, max_errors);
    analysis.refuse_events("doctor diagnoses the table itself")?;
    let mut side_errors = Vec::new();
    for (path, errors) in [
        sysctl.as_ref().map(|s| (&s.path, &s.errors)),
        stats.as_ref().map(|s| (&s.path, &s.errors)),
    ]
    .into_iter()
    .flatten()
    {
        for error in errors.iter().take(max_errors) {
            say!("ctreport: {}", error.display_in(path));
        }
        if errors.len() > max_errors {
            say!(
                "ctreport: {}: {} more malformed lines not shown (--max-errors {max_errors})",
                path.display(),
                errors.len() - max_errors
            );
        }
        side_errors.extend(errors.iter().take(max_errors).map(|e| ErrorJson {
            path: path.display().to_string(),
            line: e.line,
            column: e.column,
            message: e.message.clone(),
        }));
    }

    let mut doctor = Doctor::new()
        .max(args.max)
        .buckets(args.buckets)
        .object_size(args.object_size)
        .top(args.output.top);
    for &(timer, seconds) in &args.what_if {
        doctor = doctor.propose(timer, seconds);
    }
    let breakdown = std::mem::take(&mut analysis.summary.breakdown);
    let mut diagnosis = doctor.diagnose(
        &analysis.summary,
        &breakdown,
        sysctl.as_ref().map(|s| &s.value),
        stats.as_ref().map(|s| &s.value),
    );
    // First: every figure after it is of part of the table.
    for input in &analysis.inputs {
        if let Some(stopped) = &input.read_error {
            diagnosis.findings.insert(
                0,
                format!(
                    "{} could not be read to its end ({} at line {}): every figure below is of \
                     the {} lines read before, not of the whole table.",
                    input.path.display(),
                    stopped.message,
                    stopped.line,
                    thousands(input.lines),
                ),
            );
        }
        if input.unusable() {
            diagnosis.findings.insert(
                0,
                format!(
                    "{} gave no conntrack entry, only {} malformed line{}: it is not a capture \
                     of /proc/net/nf_conntrack or `conntrack -L` (the wrong file, or a capture \
                     that failed), and nothing below describes a table.",
                    input.path.display(),
                    thousands(input.errors),
                    if input.errors == 1 { "" } else { "s" },
                ),
            );
        }
    }
    let base = Report::new("doctor", &analysis, max_errors);
    let report = DoctorReport {
        schema: "ctreport.doctor/1",
        inputs: base.inputs,
        sysctl_file: sysctl.as_ref().map(|s| s.path.display().to_string()),
        stats_file: stats.as_ref().map(|s| s.path.display().to_string()),
        totals: base.totals,
        diagnosis,
        errors: base.errors.into_iter().chain(side_errors).collect(),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    render::write_document(
        &mut out,
        &parts(&report),
        &report,
        args.output.format,
        CSV_COLUMNS,
    )?;
    out.flush()?;
    let malformed = analysis.summary.totals.errors > 0 || !report.errors.is_empty();
    Ok(if analysis.incomplete() || analysis.unusable() {
        Exit::Error
    } else if args.output.strict && malformed {
        Exit::Malformed
    } else {
        Exit::Success
    })
}

fn table(
    key: &'static str,
    title: &'static str,
    columns: &[&'static str],
    rows: Vec<Vec<Cell>>,
) -> Part {
    Part::Table(Section::new(key, title, columns, rows))
}

fn origin(origin: Option<Origin>) -> Cell {
    Cell::text(origin.map_or("", Origin::name))
}

/// The document: findings, the tables, recommendations, gaps.
fn parts(report: &DoctorReport) -> Vec<Part> {
    let d = &report.diagnosis;
    let entries = d.fill.entries;
    let pct = |n: u64| Cell::Percent(percent(n, entries));
    let mut parts = vec![Part::Prose(Prose {
        key: "findings",
        title: "Findings",
        numbered: false,
        items: d
            .findings
            .iter()
            .map(|f| Item {
                title: None,
                text: f.clone(),
                commands: Vec::new(),
            })
            .collect(),
    })];

    let f = &d.fill;
    let mut rows = vec![vec![
        Cell::text("entries in the dump"),
        Cell::Int(entries),
        Cell::text("dump"),
    ]];
    let mut row = |name: &str, value: Option<Cell>, from: Cell| {
        if let Some(value) = value {
            rows.push(vec![Cell::text(name), value, from]);
        }
    };
    row(
        "nf_conntrack_count",
        f.count.map(Cell::Int),
        Cell::text("sysctl"),
    );
    row(
        "entries",
        f.stats_entries.map(Cell::Int),
        Cell::text("stats"),
    );
    row("nf_conntrack_max", f.max.map(Cell::Int), origin(f.max_from));
    row(
        "fill",
        f.fill_percent.map(Cell::Percent),
        Cell::text("entries / max"),
    );
    // Fuller by another count (read at another moment): what the findings
    // judge the table by.
    let (peak, _) = f.peak();
    // As the cells show them (99.95 shows as 99.9%, not 100.0%).
    let shown = |p: Option<f64>| p.map(|p| Cell::Percent(p).pretty());
    if peak > entries && shown(f.peak_fill_percent) != shown(f.fill_percent) {
        let by = if f.count == Some(peak) {
            "nf_conntrack_count / max"
        } else {
            "stats entries / max"
        };
        row(
            "fill, largest count",
            f.peak_fill_percent.map(Cell::Percent),
            Cell::text(by),
        );
    }
    row(
        "nf_conntrack_buckets",
        f.buckets.map(Cell::Int),
        origin(f.buckets_from),
    );
    row(
        "entries per bucket",
        f.entries_per_bucket.map(Cell::Ratio),
        Cell::text("entries / buckets"),
    );
    row(
        "entries per bucket at max",
        f.entries_per_bucket_at_max.map(Cell::Ratio),
        Cell::text("max / buckets"),
    );
    row(
        "average hash chain",
        f.average_chain.map(Cell::Ratio),
        Cell::text("2 x entries / buckets"),
    );
    row(
        "bytes per entry",
        Some(Cell::Int(f.object_size)),
        origin(Some(f.object_size_from)),
    );
    row(
        "memory of the entries",
        Some(Cell::Bytes(f.memory_bytes)),
        Cell::text("entries x bytes"),
    );
    row(
        "memory at max",
        f.memory_at_max_bytes.map(Cell::Bytes),
        Cell::text("max x bytes"),
    );
    row(
        "hash table",
        f.hash_table_bytes.map(Cell::Bytes),
        Cell::text("buckets x 8"),
    );
    parts.push(table("fill", "Fill", &["metric", "value", "source"], rows));

    let c = &d.composition;
    let rows = c.protocols.iter().map(|r| {
        vec![
            Cell::text(r.protocol),
            Cell::Id(u64::from(r.number)),
            Cell::Int(r.count),
            pct(r.count),
        ]
    });
    parts.push(table(
        "protocols",
        "Protocols",
        &["protocol", "number", "count", "percent"],
        rows.collect(),
    ));
    let rows = c
        .tcp_states
        .iter()
        .map(|r| vec![Cell::text(r.state), Cell::Int(r.count), pct(r.count)]);
    parts.push(table(
        "tcp_states",
        "TCP states (percent of all entries)",
        &["state", "count", "percent"],
        rows.collect(),
    ));
    // Offloaded entries print no [ASSURED]: a row of their own, when any.
    let offloaded = (c.offloaded > 0).then_some(("offloaded (ASSURED not shown)", c.offloaded));
    let rows = [("ASSURED", c.assured)]
        .into_iter()
        .chain(offloaded)
        .chain([
            ("not ASSURED", c.not_assured),
            ("of those, UNREPLIED", c.unreplied),
        ])
        .map(|(name, n)| vec![Cell::text(name), Cell::Int(n), pct(n)]);
    parts.push(table(
        "assured",
        "ASSURED (kept when full) and not (evictable)",
        &["flag", "count", "percent"],
        rows.collect(),
    ));
    let rows = c.not_assured_by_state.iter().map(|r| {
        vec![
            Cell::text(r.protocol),
            Cell::text(r.state),
            Cell::Int(r.count),
            pct(r.count),
        ]
    });
    parts.push(table(
        "not_assured",
        "Not ASSURED (evictable) by state",
        &["protocol", "state", "count", "percent"],
        rows.collect(),
    ));
    let addresses = |key, title, list: &[AddressRow]| {
        let rows = list.iter().map(|r| {
            vec![
                Cell::Text(r.address.clone()),
                Cell::Int(r.count),
                pct(r.count),
            ]
        });
        table(key, title, &["address", "count", "percent"], rows.collect())
    };
    parts.push(addresses("top_sources", "Top sources", &c.top_sources));
    parts.push(Part::Table(network_section(
        "top_source_networks",
        "Top source networks",
        &c.top_source_networks,
        entries,
    )));
    parts.push(addresses(
        "top_destinations",
        "Top destinations",
        &c.top_destinations,
    ));
    let rows = c.top_dnat.iter().map(|r| {
        vec![
            Cell::text(r.protocol),
            Cell::Text(r.original.clone()),
            Cell::Text(r.translated.clone()),
            Cell::Int(r.count),
            pct(r.count),
        ]
    });
    parts.push(table(
        "top_dnat",
        "Top DNAT services",
        &["protocol", "original", "translated", "count", "percent"],
        rows.collect(),
    ));

    let rows = d.snat_ports.iter().map(|r| {
        vec![
            Cell::text(r.protocol),
            Cell::Text(r.translated.clone()),
            Cell::Text(r.peer.clone()),
            Cell::Int(u64::from(r.zone)),
            Cell::text(r.source_text()),
            Cell::Int(r.entries),
            Cell::Int(r.held),
            Cell::Int(r.closing),
            Cell::Int(r.outside),
            Cell::Text(format!("{}-{}", r.first_port, r.last_port)),
            Cell::Percent(r.percent),
            Cell::Text(
                r.held_run
                    .map_or(String::new(), |(a, b)| format!("{a}-{b}")),
            ),
            // Runs with gaps have an estimate too; spread ports none.
            if r.held_run.is_some() || r.run_failure_percent > 0.0 {
                Cell::Percent(r.run_failure_percent)
            } else {
                Cell::text("")
            },
            // The closing entries' ports held too, as before 6.5.
            if r.held_run.is_some() || r.run_failure_percent_with_closing > 0.0 {
                Cell::Percent(r.run_failure_percent_with_closing)
            } else {
                Cell::text("")
            },
        ]
    });
    parts.push(table(
        "snat_ports",
        "SNAT source ports (entries translated to one address toward one peer each need a port of \
         their own; held: ports of the range NAT picks from when the rule gives none; closing: TCP \
         TIME_WAIT or CLOSE, whose ports kernels since 6.5 may give to new connections; outside: ports \
         outside the range; of ports: held of the range; held run: the held ports when they form one \
         run; run drops: the new connections that cannot keep their port for which NAT finds none; \
         drops before 6.5: the same with the closing ports held, as kernels before 6.5 keep them; \
         spaces that drop new connections first)",
        &[
            "protocol",
            "translated",
            "peer",
            "zone",
            "original source",
            "entries",
            "held",
            "closing",
            "outside",
            "port range",
            "of ports",
            "held run",
            "run drops",
            "drops before 6.5",
        ],
        rows.collect(),
    ));

    let rows = d.timeouts.iter().map(|w| {
        vec![
            Cell::Text(w.protocols()),
            Cell::text(w.state),
            // As --what-if takes it: `tcp_timeout_established`.
            Cell::text(w.sysctl.trim_start_matches("net.netfilter.nf_conntrack_")),
            Cell::Int(w.configured),
            Cell::text(w.configured_from.name()),
            Cell::Int(w.proposed),
            // Whose try: the doctor's (which it may recommend) or asked.
            Cell::text(match (w.asked, w.asked_too) {
                (true, _) => "asked",
                (false, true) => "doctor, asked",
                (false, false) => "doctor",
            }),
            Cell::Int(w.entries),
            Cell::Int(w.short_timer),
            Cell::Int(w.longer),
            Cell::Int(w.gone),
            Cell::Percent(w.percent),
            Cell::Percent(w.table_percent),
        ]
    });
    parts.push(table(
        "timeouts",
        "Timeout what-if (gone: idle in their state at least the tried timeout; short timer: TCP \
         entries that may be on the shorter unacknowledged-data or retransmission timer, of unknown \
         age, not counted as gone; longer: more time left than the timeout now, so on another \
         timeout, not counted as gone)",
        &[
            "protocol",
            "state",
            "timer",
            "now",
            "from",
            "try",
            "by",
            "entries",
            "short timer",
            "longer",
            "gone",
            "percent",
            "of table",
        ],
        rows.collect(),
    ));

    let rows = d.notrack.iter().map(|candidate| {
        let (kind, matched, internal) = match &candidate.target {
            Target::Port {
                protocol,
                port,
                destinations,
            } => {
                let to = match destinations.as_slice() {
                    [] => String::new(),
                    addrs => format!(" to {}", addrs.join(", ")),
                };
                ("port", format!("{protocol} dport {port}{to}"), "")
            }
            Target::Pair {
                source,
                destination,
                internal,
            } => (
                "pair",
                ctanalyze::doctor::notrack::Pair::new(source, destination).to_string(),
                if *internal { "yes" } else { "no" },
            ),
        };
        vec![
            Cell::text(kind),
            Cell::Text(matched),
            Cell::Int(candidate.count),
            Cell::Percent(candidate.percent),
            Cell::text(internal),
            Cell::Text(
                candidate
                    .inside_pairs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]
    });
    parts.push(table(
        "notrack",
        "NOTRACK candidates (never NATed, at least 10% of the table; a port inside pairs: all its \
         entries are between them)",
        &[
            "kind",
            "match",
            "count",
            "percent",
            "internal",
            "inside pairs",
        ],
        rows.collect(),
    ));

    if let Some(stats) = &d.stats {
        let mut rows = vec![vec![
            Cell::text("(cpus)"),
            Cell::Int(stats.cpus as u64),
            Cell::Text(format!(
                "{}: one line per CPU; the counters below are their sums",
                stats.format.name()
            )),
        ]];
        if let Some(n) = stats.entries {
            rows.push(vec![
                Cell::text("(entries)"),
                Cell::Int(n),
                Cell::text("the namespace's entry count when read: one value, the same on every CPU line, not summed"),
            ]);
        }
        rows.extend(stats.counters.iter().map(|c| {
            vec![
                Cell::Text(c.name.clone()),
                Cell::Int(c.value),
                Cell::text(c.meaning),
            ]
        }));
        parts.push(table(
            "stats",
            "Statistics",
            &["counter", "total", "meaning"],
            rows,
        ));
    }

    parts.push(Part::Prose(Prose {
        key: "recommendations",
        title: "Recommendations",
        numbered: true,
        items: d
            .recommendations
            .iter()
            .map(|r| Item {
                title: Some(r.title.clone()),
                text: r.rationale.clone(),
                commands: r.commands.clone(),
            })
            .collect(),
    }));
    if !d.not_assessed.is_empty() {
        parts.push(Part::Prose(Prose {
            key: "not_assessed",
            title: "Not assessed",
            numbered: false,
            items: d
                .not_assessed
                .iter()
                .map(|text| Item {
                    title: None,
                    text: text.clone(),
                    commands: Vec::new(),
                })
                .collect(),
        }));
    }
    for part in &mut parts {
        if let Part::Table(section) = part {
            section.note_distinct(&d.composition.distinct);
        }
    }
    parts
}
