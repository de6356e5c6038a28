//! `ctreport flows`: the filtered flow records, one row per flow, as CSV or
//! newline-delimited JSON with stable column names.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use ctanalyze::Filter;
use ctparse::{ChunkReader, Flow, L4, Parser, Source, Status};
use serde::Serialize;

use crate::cli::{FlowFormat, FlowsArgs};
use crate::exit::{Exit, Fatal};
use crate::input;

/// One flow as a row. Field names are the CSV header and JSON keys; a field
/// a line does not carry is empty in CSV and `null` in JSON.
#[derive(Debug, Serialize)]
struct FlowRow<'a> {
    family: &'static str,
    protocol: &'static str,
    protocol_number: u8,
    timeout: Option<i64>,
    state: Option<&'static str>,
    src: String,
    dst: String,
    sport: Option<u16>,
    dport: Option<u16>,
    reply_src: String,
    reply_dst: String,
    reply_sport: Option<u16>,
    reply_dport: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: Option<u16>,
    assured: bool,
    unreplied: bool,
    offload: bool,
    hw_offload: bool,
    dnat: bool,
    snat: bool,
    mark: Option<u32>,
    zone: Option<u16>,
    orig_packets: Option<u64>,
    orig_bytes: Option<u64>,
    reply_packets: Option<u64>,
    reply_bytes: Option<u64>,
    delta_time: Option<u64>,
    #[serde(rename = "use")]
    use_count: Option<u32>,
    id: Option<u32>,
    event: Option<&'static str>,
    #[serde(skip)]
    _flow: std::marker::PhantomData<&'a ()>,
}

impl<'a> FlowRow<'a> {
    fn new(flow: &Flow<'a>) -> FlowRow<'a> {
        let (icmp_type, icmp_code, icmp_id) = match flow.orig.l4 {
            L4::Icmp {
                icmp_type,
                code,
                id,
            } => (Some(icmp_type), Some(code), Some(id)),
            _ => (None, None, None),
        };
        FlowRow {
            family: flow.family.name(),
            protocol: flow.protocol.name(),
            protocol_number: flow.protocol.number(),
            timeout: flow.timeout,
            state: flow.state.map(|s| s.name()),
            src: flow.orig.src.to_string(),
            dst: flow.orig.dst.to_string(),
            sport: flow.orig.l4.src_port(),
            dport: flow.orig.l4.dst_port(),
            reply_src: flow.reply.src.to_string(),
            reply_dst: flow.reply.dst.to_string(),
            reply_sport: flow.reply.l4.src_port(),
            reply_dport: flow.reply.l4.dst_port(),
            icmp_type,
            icmp_code,
            icmp_id,
            assured: flow.status.contains(Status::ASSURED),
            unreplied: flow.status.contains(Status::UNREPLIED),
            offload: flow.status.contains(Status::OFFLOAD),
            hw_offload: flow.status.contains(Status::HW_OFFLOAD),
            dnat: flow.is_dnat(),
            snat: flow.is_snat(),
            mark: flow.mark,
            zone: flow.zone,
            orig_packets: flow.orig_counters.map(|c| c.packets),
            orig_bytes: flow.orig_counters.map(|c| c.bytes),
            reply_packets: flow.reply_counters.map(|c| c.packets),
            reply_bytes: flow.reply_counters.map(|c| c.bytes),
            delta_time: flow.delta_time,
            use_count: flow.use_count,
            id: flow.id,
            event: flow.event.map(|e| match e {
                ctparse::Event::New => "new",
                ctparse::Event::Update => "update",
                ctparse::Event::Destroy => "destroy",
            }),
            _flow: std::marker::PhantomData,
        }
    }
}

enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Json(W),
}

impl<W: Write> Sink<W> {
    fn write(&mut self, flow: &Flow<'_>) -> Result<(), Fatal> {
        let row = FlowRow::new(flow);
        match self {
            Sink::Csv(w) => w.serialize(row)?,
            Sink::Json(w) => {
                serde_json::to_writer(&mut *w, &row)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Fatal> {
        match self {
            Sink::Csv(w) => w.flush()?,
            Sink::Json(w) => w.flush()?,
        }
        Ok(())
    }
}

/// Counts malformed lines and prints the first `max` as they come; counts
/// entries and trailers too, for the checks on each input.
struct Errors {
    max: usize,
    count: u64,
    entries: u64,
    trailers: u64,
    shown: u64,
}

impl Errors {
    fn report(&mut self, path: &Path, error: &ctparse::ParseError) {
        self.count += 1;
        if self.count <= self.max as u64 {
            eprintln!("ctreport: {}", error.display_in(path));
        }
    }
}

pub fn run(args: &FlowsArgs) -> Result<Exit, Fatal> {
    let filter = args.filter.to_filter().map_err(Fatal::Usage)?;
    let stdout = io::stdout();
    let out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut sink = match args.format {
        FlowFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
        FlowFormat::Json => Sink::Json(out),
    };
    let mut errors = Errors {
        max: args.max_errors,
        count: 0,
        entries: 0,
        trailers: 0,
        shown: 0,
    };
    let mut incomplete = false;
    let mut unusable = false;
    for name in input::names(&args.input.files) {
        let opened = input::open(&name).map_err(Fatal::Input)?;
        let path = opened.name.clone();
        let before = (errors.count, errors.entries, errors.trailers, errors.shown);
        let mut lines = 0;
        let mut read_error = None;
        match opened.source {
            Source::Mapped(map) => {
                lines = write_flows(&map, 1, &filter, &path, &mut sink, &mut errors)? - 1;
            }
            Source::Stream(stream) => {
                let mut reader = ChunkReader::new(stream.0, 1 << 20);
                let mut chunk = Vec::new();
                let mut first_line = 1;
                loop {
                    match reader.next_chunk(&mut chunk) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            // What was read before is written: say where it stops.
                            sink.flush()?;
                            // The cut line is not a line: it is not read.
                            eprintln!(
                                "ctreport: {}:{first_line}:{}: error: cannot read on: {}; the \
                                 flows of the lines before this one are written (a capture cut \
                                 short or a damaged file)",
                                path.display(),
                                reader.cut().len() + 1,
                                input::describe(&e)
                            );
                            incomplete = true;
                            read_error = Some(crate::analysis::Stopped {
                                line: first_line,
                                column: reader.cut().len() as u64 + 1,
                                message: input::describe(&e),
                            });
                            break;
                        }
                    }
                    first_line =
                        write_flows(&chunk, first_line, &filter, &path, &mut sink, &mut errors)?;
                    lines = first_line - 1;
                }
            }
        }
        // The same checks on each input as the reports make.
        let totals = crate::analysis::InputTotals {
            path,
            bytes: 0,
            lines,
            flows: errors.entries - before.1,
            skipped: 0,
            errors: errors.count - before.0,
            unterminated_entry: false,
            read_error,
            trailers: errors.trailers - before.2,
            shown: errors.shown - before.3,
        };
        sink.flush()?;
        crate::analysis::warn_about_input(&totals, &mut io::stderr().lock());
        unusable |= totals.flows == 0 && totals.errors > 0;
    }
    sink.flush()?;
    if errors.count > errors.max as u64 {
        eprintln!(
            "ctreport: {} more malformed lines not shown (--max-errors {})",
            crate::report::thousands(errors.count - errors.max as u64),
            errors.max
        );
    }
    Ok(if incomplete || unusable {
        Exit::Error
    } else if args.strict && errors.count > 0 {
        Exit::Malformed
    } else {
        Exit::Success
    })
}

/// Writes the matching flows of `bytes`; returns the next line number.
fn write_flows<W: Write>(
    bytes: &[u8],
    first_line: u64,
    filter: &Filter,
    path: &Path,
    sink: &mut Sink<W>,
    errors: &mut Errors,
) -> Result<u64, Fatal> {
    let mut parser = Parser::starting_at_line(bytes, first_line);
    for result in parser.by_ref() {
        match result {
            Ok(flow) => {
                errors.entries += 1;
                if filter.matches(&flow) {
                    sink.write(&flow)?;
                }
            }
            Err(error) => errors.report(path, &error),
        }
    }
    let stats = parser.stats();
    errors.trailers += stats.trailers;
    errors.shown = errors.shown.saturating_add(stats.shown);
    Ok(parser.line() + 1)
}
