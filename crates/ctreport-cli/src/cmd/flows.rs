//! `ctreport flows`: the filtered flow records, one row per flow, as CSV or
//! newline-delimited JSON with stable column names.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use ctanalyze::{Filter, Totals};
use ctparse::{ChunkReader, Flow, L4, ParseError, ParseStats, Parser, Source, Status, line_chunks};
use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::{self, InputTotals, Stopped};
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

/// Where one piece's rows are formatted.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Json(W),
}

impl<W: Write> Sink<W> {
    fn new(format: FlowFormat, out: W) -> Sink<W> {
        match format {
            FlowFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
            FlowFormat::Json => Sink::Json(out),
        }
    }

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

/// Counts malformed lines and prints the first `max` as they come.
struct Errors {
    max: usize,
    count: u64,
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
    let mut out = Output {
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        header_written: false,
        spare: Vec::new(),
    };
    let mut errors = Errors {
        max: args.max_errors,
        count: 0,
    };
    let pass = Pass {
        filter: &filter,
        format: args.format,
        keep_errors: args.max_errors,
        pool: pool(args.input.threads)?,
    };
    let mut failed = false;
    for name in input::names(&args.input.files) {
        let opened = input::open(&name).map_err(Fatal::Input)?;
        let path = opened.name.clone();
        // This input's line counts; the next line is `counted.lines + 1`.
        let mut counted = Totals::default();
        let mut read_error = None;
        match opened.source {
            Source::Mapped(map) => {
                write_flows(&map, &pass, &path, &mut out, &mut errors, &mut counted)?;
            }
            Source::Stream(stream) => {
                let mut reader = ChunkReader::new(stream.0, 1 << 20);
                let mut chunk = Vec::new();
                loop {
                    match reader.next_chunk(&mut chunk) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            // The cut line is not a line: it is not read.
                            let stopped = Stopped {
                                line: counted.lines + 1,
                                column: reader.cut().len() as u64 + 1,
                                message: input::describe(&e),
                            };
                            // What was read before is written: say where it stops.
                            out.out.flush()?;
                            eprintln!(
                                "ctreport: {}:{}:{}: error: cannot read on: {}; the flows of \
                                 the lines before this one are written (a capture cut short or \
                                 a damaged file)",
                                path.display(),
                                stopped.line,
                                stopped.column,
                                stopped.message
                            );
                            read_error = Some(stopped);
                            break;
                        }
                    }
                    write_flows(&chunk, &pass, &path, &mut out, &mut errors, &mut counted)?;
                }
            }
        }
        // The same checks on each input as the reports make.
        let totals = InputTotals {
            path,
            bytes: 0,
            lines: counted.lines,
            flows: counted.flows,
            skipped: counted.skipped,
            errors: counted.errors,
            unterminated_entry: false,
            read_error,
            trailers: counted.trailers,
            shown: counted.shown,
        };
        out.out.flush()?;
        analysis::warn_about_input(&totals, &mut io::stderr().lock());
        failed |= totals.read_error.is_some() || totals.unusable();
    }
    out.out.flush()?;
    if errors.count > errors.max as u64 {
        eprintln!(
            "ctreport: {} more malformed lines not shown (--max-errors {})",
            crate::report::thousands(errors.count - errors.max as u64),
            errors.max
        );
    }
    Ok(if failed {
        Exit::Error
    } else if args.strict && errors.count > 0 {
        Exit::Malformed
    } else {
        Exit::Success
    })
}

/// How the rows are made: the same for every piece.
struct Pass<'a> {
    filter: &'a Filter,
    format: FlowFormat,
    /// Malformed lines a piece keeps to print (the first of them all are).
    keep_errors: usize,
    /// `None`: one thread, pieces in turn.
    pool: Option<rayon::ThreadPool>,
}

/// The pool for `threads` (0: one thread per core); `None` for one thread.
fn pool(threads: usize) -> Result<Option<rayon::ThreadPool>, Fatal> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    if threads <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(Some)
        .map_err(|e| Fatal::Input(format!("cannot start {threads} threads: {e}")))
}

/// Pieces of this much input are formatted on their own, a window of them
/// at a time on the pool: the output stays in input order, and memory is
/// a window's rows whatever the input's size.
const PIECE: usize = 256 << 10;
const WINDOW: usize = 16;

/// The output, and whether the CSV header is out (each piece's CSV
/// starts with it; only the first written keeps it).
struct Output<W: Write> {
    out: W,
    header_written: bool,
    /// Buffers of written pieces, for the next ones: allocated anew, each
    /// piece's would cost the kernel a fresh mapping (about a tenth of the
    /// time, measured).
    spare: Vec<Vec<u8>>,
}

/// One piece's rows, formatted, and its malformed lines (numbered from the
/// piece's first line).
struct Formatted {
    rows: Vec<u8>,
    errors: Vec<ParseError>,
    error_count: u64,
    stats: ParseStats,
}

/// Formats `bytes` into `rows` (empty, maybe with room from an earlier piece).
fn format_piece(bytes: &[u8], mut rows: Vec<u8>, pass: &Pass<'_>) -> Result<Formatted, Fatal> {
    rows.reserve(bytes.len() + bytes.len() / 4);
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut parser = Parser::new(bytes);
    {
        let mut sink = Sink::new(pass.format, &mut rows);
        for result in parser.by_ref() {
            match result {
                Ok(flow) if pass.filter.matches(&flow) => sink.write(&flow)?,
                Ok(_) => {}
                Err(error) => {
                    error_count += 1;
                    if errors.len() < pass.keep_errors {
                        errors.push(error);
                    }
                }
            }
        }
        sink.flush()?;
    }
    Ok(Formatted {
        rows,
        errors,
        error_count,
        stats: parser.stats(),
    })
}

/// Writes the matching flows of `bytes`, the lines after those `counted`
/// holds, and adds their line counts to it.
fn write_flows<W: Write>(
    bytes: &[u8],
    pass: &Pass<'_>,
    path: &Path,
    out: &mut Output<W>,
    errors: &mut Errors,
    counted: &mut Totals,
) -> Result<(), Fatal> {
    let pieces: Vec<&[u8]> = line_chunks(bytes, PIECE).collect();
    for window in pieces.chunks(WINDOW) {
        let buffers: Vec<Vec<u8>> = window
            .iter()
            .map(|_| out.spare.pop().unwrap_or_default())
            .collect();
        let formatted: Vec<Result<Formatted, Fatal>> = match &pass.pool {
            Some(pool) => pool.install(|| {
                window
                    .par_iter()
                    .zip(buffers)
                    .map(|(piece, rows)| format_piece(piece, rows, pass))
                    .collect()
            }),
            None => window
                .iter()
                .zip(buffers)
                .map(|(piece, rows)| format_piece(piece, rows, pass))
                .collect(),
        };
        for piece in formatted {
            let piece = piece?;
            let rows = match pass.format {
                FlowFormat::Csv if out.header_written => piece
                    .rows
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(&[][..], |end| &piece.rows[end + 1..]),
                _ => &piece.rows[..],
            };
            out.out.write_all(rows)?;
            out.header_written |= !piece.rows.is_empty();
            // The piece's lines follow those counted so far.
            for mut error in piece.errors {
                error.line += counted.lines;
                errors.report(path, &error);
            }
            errors.count += piece.error_count - piece.error_count.min(pass.keep_errors as u64);
            counted.add_stats(piece.stats);
            let mut rows = piece.rows;
            rows.clear();
            out.spare.push(rows);
        }
    }
    Ok(())
}
