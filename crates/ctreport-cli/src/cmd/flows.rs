//! `ctreport flows`: the filtered flow records, one row per flow, as CSV or
//! newline-delimited JSON with stable column names.
//!
//! Its pass, [`stream`], reads the inputs in order with bounded memory
//! (pieces parsed on the pool a window at a time, written in input order);
//! `check` runs the same pass without rows.

use std::fmt::Write as _;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::IpAddr;
use std::path::Path;

use ctanalyze::{Filter, Totals};
use ctparse::{ChunkReader, Flow, L4, ParseError, ParseStats, Parser, Source, Status, line_chunks};
use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::{self, InputTotals, Stopped};
use crate::cli::{CheckFormat, FlowFormat, FlowsArgs, InputArgs};
use crate::exit::{Exit, Fatal};
use crate::input;
use crate::report::ErrorJson;

/// One flow as a row. Field names are the CSV header and JSON keys; a field
/// a line does not carry is empty in CSV and `null` in JSON.
#[derive(Debug, Serialize)]
struct FlowRow<'a> {
    family: &'static str,
    protocol: &'static str,
    protocol_number: u8,
    timeout: Option<i64>,
    state: Option<&'static str>,
    src: Address,
    dst: Address,
    sport: Option<u16>,
    dport: Option<u16>,
    reply_src: Address,
    reply_dst: Address,
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
            src: Address(flow.orig.src),
            dst: Address(flow.orig.dst),
            sport: flow.orig.l4.src_port(),
            dport: flow.orig.l4.dst_port(),
            reply_src: Address(flow.reply.src),
            reply_dst: Address(flow.reply.dst),
            reply_sport: flow.reply.l4.src_port(),
            reply_dport: flow.reply.l4.dst_port(),
            icmp_type,
            icmp_code,
            icmp_id,
            assured: flow.status.contains(Status::ASSURED),
            unreplied: flow.status.contains(Status::UNREPLIED),
            // Hardware offload is offload too, as `-u OFFLOAD` selects it.
            offload: flow.is_offloaded(),
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
            // As the reports name it, and conntrack prints it: `NEW`.
            event: flow.event.map(ctparse::Event::name),
            _flow: std::marker::PhantomData,
        }
    }
}

/// An address in its canonical text (RFC 5952 for IPv6), formatted on
/// the stack: four `String`s a row were a tenth of `flows`' time.
#[derive(Debug)]
struct Address(IpAddr);

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = Text::default();
        match self.0 {
            IpAddr::V4(addr) => {
                for (i, octet) in addr.octets().into_iter().enumerate() {
                    if i > 0 {
                        text.push(b'.');
                    }
                    if octet >= 100 {
                        text.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        text.push(b'0' + octet / 10 % 10);
                    }
                    text.push(b'0' + octet % 10);
                }
            }
            // std's text, without the allocation: at most 45 bytes.
            IpAddr::V6(addr) => {
                let _ = write!(text, "{addr}");
            }
        }
        serializer.serialize_str(text.as_str())
    }
}

/// Room for the longest address text (45 bytes).
struct Text {
    bytes: [u8; 48],
    len: usize,
}

impl Default for Text {
    fn default() -> Text {
        Text {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl Text {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
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
            // No field can need quotes (names from fixed tables, numbers,
            // addresses, booleans), so none is scanned for them: 9% of
            // `flows`' time. The `flows_csv_rows_have_the_header_s_fields`
            // test holds every fixture to it.
            FlowFormat::Csv => Sink::Csv(Box::new(
                csv::WriterBuilder::new()
                    .quote_style(csv::QuoteStyle::Never)
                    .from_writer(out),
            )),
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

/// Where malformed lines go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorsTo {
    /// The first `max` on stderr as `ctreport: FILE:LINE:COL: MESSAGE`,
    /// then how many were not shown (`flows`: stdout holds the rows).
    Stderr { max: usize },
    /// Every one on stdout, in the format asked for (`check`).
    Stdout(CheckFormat),
}

/// Counts malformed lines and writes them as they come.
struct Errors {
    to: ErrorsTo,
    count: u64,
}

impl Errors {
    /// How many of a piece's malformed lines it keeps to write.
    fn keep(&self) -> usize {
        match self.to {
            ErrorsTo::Stderr { max } => max,
            // A piece of short malformed lines holds tens of thousands: a
            // window of them would take hundreds of megabytes. The rest of
            // such a piece is read again at its turn (see `Pieces::emit`).
            ErrorsTo::Stdout(_) => PIECE_ERRORS,
        }
    }

    /// Whether every malformed line is written (not only the first few).
    fn all(&self) -> bool {
        matches!(self.to, ErrorsTo::Stdout(_))
    }

    fn report<W: Write>(
        &mut self,
        path: &Path,
        error: &ParseError,
        out: &mut Output<W>,
    ) -> Result<(), Fatal> {
        self.count += 1;
        match self.to {
            ErrorsTo::Stderr { max } if self.count <= max as u64 => {
                say!("ctreport: {}", error.display_in(path));
            }
            ErrorsTo::Stderr { .. } => {}
            ErrorsTo::Stdout(format) => out.write_all(&listed(format, path, error)?)?,
        }
        Ok(())
    }
}

/// A malformed line as `check` lists it, with its line end: CSV and JSON
/// hold the fields of the reports' errors ([`ErrorJson`]).
fn listed(format: CheckFormat, path: &Path, error: &ParseError) -> Result<Vec<u8>, Fatal> {
    match format {
        CheckFormat::Text => Ok(format!("{}\n", error.display_in(path)).into_bytes()),
        _ => record(format, &ErrorJson::new(path, error)),
    }
}

/// An error as a CSV record or a JSON line (`check`'s machine formats).
fn record(format: CheckFormat, error: &ErrorJson) -> Result<Vec<u8>, Fatal> {
    Ok(match format {
        CheckFormat::Json => {
            let mut line = serde_json::to_vec(error)?;
            line.push(b'\n');
            line
        }
        _ => csv_line(|w| w.serialize(error))?,
    })
}

/// One CSV record, quoted where its fields need it, as `write` makes it.
fn csv_line(
    write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>,
) -> Result<Vec<u8>, Fatal> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    write(&mut writer)?;
    writer.into_inner().map_err(|e| Fatal::from(e.into_error()))
}

/// An in-order pass over inputs: what `flows` and `check` share.
pub(crate) struct Streaming<'a> {
    pub input: &'a InputArgs,
    pub filter: &'a Filter,
    /// The rows of the matching flows, or none (`check`).
    pub rows: Option<FlowFormat>,
    pub errors: ErrorsTo,
    /// How a cut input's message ends: what was done with the lines before.
    pub before_cut: &'a str,
}

/// What a streamed pass read.
pub(crate) struct Streamed {
    pub inputs: Vec<InputTotals>,
    /// Malformed lines in all inputs.
    pub errors: u64,
}

impl Streamed {
    /// An input could not be read to its end, or gave no entry but
    /// malformed lines.
    pub fn failed(&self) -> bool {
        self.inputs
            .iter()
            .any(|i| i.read_error.is_some() || i.unusable())
    }
}

pub fn run(args: &FlowsArgs) -> Result<Exit, Fatal> {
    let filter = args.filter.to_filter().map_err(Fatal::Usage)?;
    let streamed = stream(&Streaming {
        input: &args.input,
        filter: &filter,
        rows: Some(args.format),
        errors: ErrorsTo::Stderr {
            max: args.max_errors,
        },
        before_cut: "the flows of the lines before this one are written",
    })?;
    Ok(if streamed.failed() {
        Exit::Error
    } else if args.strict && streamed.errors > 0 {
        Exit::Malformed
    } else {
        Exit::Success
    })
}

/// Reads every input in order: pieces parsed on the pool, a window at a
/// time, their rows and malformed lines written in input order, so that
/// memory is a window's whatever the inputs' size. Warns about each input
/// as the reports do.
pub(crate) fn stream(streaming: &Streaming<'_>) -> Result<Streamed, Fatal> {
    let stdout = io::stdout();
    // Rows or malformed lines stream to a terminal: no bar to draw over them.
    let quiet = streaming.input.quiet || stdout.is_terminal();
    let mut out = Output {
        closed: false,
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        header_written: false,
        spare: Vec::new(),
    };
    let mut errors = Errors {
        to: streaming.errors,
        count: 0,
    };
    // The header comes first, even with no line to list: a table of none.
    if let ErrorsTo::Stdout(CheckFormat::Csv) = errors.to {
        out.write_all(&csv_line(|w| {
            w.write_record(["path", "line", "column", "message"])
        })?)?;
    }
    let pass = Pass {
        filter: streaming.filter,
        format: streaming.rows,
        keep_errors: errors.keep(),
        pool: pool(streaming.input.threads),
    };
    let names = input::names(&streaming.input.files);
    analysis::warn_repeated_inputs(&names)?;
    // A missing or unreadable input fails before anything is written;
    // then each is opened in turn, so that any number of files can be
    // read (one descriptor at a time), and a pipe named twice is read once.
    for name in &names {
        input::preflight(name).map_err(Fatal::Input)?;
    }
    let mut inputs = Vec::new();
    for name in &names {
        let opened = input::open(name).map_err(Fatal::Input)?;
        let bar = input::progress_bar(&opened, quiet);
        let path = opened.name.clone();
        let unpack = opened.unpack;
        // This input's line counts; the next line is `counted.lines + 1`.
        let mut counted = Totals::default();
        let mut read_error = None;
        let tail = analysis::LastLine::default();
        let mut pieces = Pieces {
            pass: &pass,
            path: &path,
            out: &mut out,
            errors: &mut errors,
            counted: &mut counted,
            bar: bar.as_ref(),
        };
        match opened.source {
            Source::Mapped(map) => {
                pieces.write(&map)?;
                tail.add(&map);
                // Written to while read: the lines listed may mix versions.
                map.unchanged()
                    .map_err(|e| Fatal::Input(input::mapped_failed(&path, &e)))?;
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
                                line: pieces.counted.lines + 1,
                                column: reader.cut_len() + 1,
                                message: input::describe(&e),
                            };
                            // `check` in CSV or JSON lists it too: a consumer of
                            // stdout alone must not take it for a clean input.
                            if let ErrorsTo::Stdout(
                                format @ (CheckFormat::Csv | CheckFormat::Json),
                            ) = streaming.errors
                            {
                                let stop = ErrorJson {
                                    path: path.display().to_string(),
                                    line: stopped.line,
                                    column: usize::try_from(stopped.column).unwrap_or(usize::MAX),
                                    message: format!("cannot read on: {}", stopped.message),
                                };
                                pieces.out.write_all(&record(format, &stop)?)?;
                            }
                            // What was read before is written: say where it stops.
                            pieces.out.flush()?;
                            say!(
                                "ctreport: {}:{}:{}: error: cannot read on: {}; {} (a capture \
                                 cut short or a damaged file)",
                                path.display(),
                                stopped.line,
                                stopped.column,
                                stopped.message,
                                streaming.before_cut
                            );
                            read_error = Some(stopped);
                            break;
                        }
                    }
                    pieces.write(&chunk)?;
                    tail.add(&chunk);
                }
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        // The same checks on each input as the reports make.
        let totals = InputTotals {
            path,
            bytes: 0,
            lines: counted.lines,
            flows: counted.flows,
            skipped: counted.skipped,
            errors: counted.errors,
            failures: counted.failures,
            // After a read error the last bytes are the cut line, said so.
            unterminated_entry: read_error.is_none() && tail.is_entry(),
            read_error,
            trailers: counted.trailers,
            shown: counted.shown,
            unpack,
        };
        out.flush()?;
        analysis::warn_about_input(&totals, &mut io::stderr().lock());
        inputs.push(totals);
    }
    out.flush()?;
    if let ErrorsTo::Stderr { max } = errors.to
        && errors.count > max as u64
    {
        say!(
            "ctreport: {} more malformed lines not shown (--max-errors {max})",
            crate::report::thousands(errors.count - max as u64),
        );
    }
    Ok(Streamed {
        inputs,
        errors: errors.count,
    })
}

/// How the rows are made: the same for every piece.
struct Pass<'a> {
    filter: &'a Filter,
    /// `None`: no rows, malformed lines only.
    format: Option<FlowFormat>,
    /// Malformed lines a piece keeps to write (the first of them all are).
    keep_errors: usize,
    /// `None`: one thread, pieces in turn.
    pool: Option<rayon::ThreadPool>,
}

/// The pool for `threads` (0: one thread per core); `None` for one
/// thread, and with a warning where the system refuses to start them,
/// as [`analysis::threads`] does.
fn pool(threads: usize) -> Option<rayon::ThreadPool> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    if threads <= 1 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| analysis::warn_one_thread(format!("cannot start {threads} threads: {e}")))
        .ok()
}

/// Pieces of this much input are formatted on their own, a window of them
/// at a time on the pool: the output stays in input order, and memory is
/// a window's rows whatever the input's size.
const PIECE: usize = 256 << 10;
const WINDOW: usize = 16;
/// Malformed lines a piece keeps when all of them are written.
const PIECE_ERRORS: usize = 4096;
/// Without rows a piece keeps only its malformed lines: a wider window
/// waits less often for the slowest piece.
const WINDOW_WITHOUT_ROWS: usize = 64;

/// The output, and whether the CSV header is out (each piece's CSV
/// starts with it; only the first written keeps it).
struct Output<W: Write> {
    out: W,
    /// The reader is gone (a broken pipe: `check dump | head`): nothing
    /// more is written, but the pass goes on to its verdict (exit status,
    /// warnings) without formatting rows.
    closed: bool,
    header_written: bool,
    /// Buffers of written pieces, for the next ones: allocated anew, each
    /// piece's would cost the kernel a fresh mapping (about a tenth of the
    /// time, measured).
    spare: Vec<Vec<u8>>,
}

impl<W: Write> Output<W> {
    /// Writes `bytes`, unless the reader is gone.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), Fatal> {
        let written = match self.closed {
            true => Ok(()),
            false => self.out.write_all(bytes),
        };
        self.closing(written)
    }

    fn flush(&mut self) -> Result<(), Fatal> {
        let flushed = match self.closed {
            true => Ok(()),
            false => self.out.flush(),
        };
        self.closing(flushed)
    }

    /// A broken pipe closes the output; other errors are errors.
    fn closing(&mut self, result: io::Result<()>) -> Result<(), Fatal> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            result => Ok(result?),
        }
    }
}

/// One piece's rows, formatted, and its malformed lines (numbered from the
/// piece's first line).
struct Formatted {
    rows: Vec<u8>,
    errors: Vec<ParseError>,
    error_count: u64,
    stats: ParseStats,
}

/// Formats `bytes` into `rows` (empty, maybe with room from an earlier
/// piece) in `format`; none: malformed lines only.
fn format_piece(
    bytes: &[u8],
    mut rows: Vec<u8>,
    pass: &Pass<'_>,
    format: Option<FlowFormat>,
) -> Result<Formatted, Fatal> {
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut parser = Parser::new(bytes);
    let mut keep_error = |error: ParseError| {
        error_count += 1;
        if errors.len() < pass.keep_errors {
            errors.push(error);
        }
    };
    match format {
        Some(format) => {
            rows.reserve(bytes.len() + bytes.len() / 4);
            let mut sink = Sink::new(format, &mut rows);
            // The parser's own loop, which also mends an entry conntrack's
            // stderr was spliced into; after a failed write, only counts.
            let mut written = Ok(());
            parser.for_each_ref(|result| match result {
                Ok(flow) if written.is_ok() && pass.filter.matches(flow) => {
                    written = sink.write(flow);
                }
                Ok(_) => {}
                Err(error) => keep_error(error),
            });
            written?;
            sink.flush()?;
        }
        // Nothing to write: the parser's own loop, without moving flows out.
        None => parser.for_each_ref(|result| {
            if let Err(error) = result {
                keep_error(error);
            }
        }),
    }
    Ok(Formatted {
        rows,
        errors,
        error_count,
        stats: parser.stats(),
    })
}

/// Writes the pieces of one input, in order.
struct Pieces<'p, 'a, W: Write> {
    pass: &'p Pass<'a>,
    path: &'p Path,
    out: &'p mut Output<W>,
    errors: &'p mut Errors,
    /// The input's lines so far; the next piece's follow them.
    counted: &'p mut Totals,
    bar: Option<&'p indicatif::ProgressBar>,
}

impl<W: Write> Pieces<'_, '_, W> {
    /// Writes the matching flows and malformed lines of `bytes`, the lines
    /// after those counted, and counts its lines.
    fn write(&mut self, bytes: &[u8]) -> Result<(), Fatal> {
        let pass = self.pass;
        let pieces: Vec<&[u8]> = line_chunks(bytes, PIECE).collect();
        let window = match pass.format {
            Some(_) => WINDOW,
            None => WINDOW_WITHOUT_ROWS,
        };
        for window in pieces.chunks(window) {
            let buffers: Vec<Vec<u8>> = window
                .iter()
                .map(|_| self.out.spare.pop().unwrap_or_default())
                .collect();
            // Once the reader is gone, rows are not made, only counted.
            let format = pass.format.filter(|_| !self.out.closed);
            let formatted: Vec<Result<Formatted, Fatal>> = match &pass.pool {
                Some(pool) => pool.install(|| {
                    window
                        .par_iter()
                        .zip(buffers)
                        .map(|(piece, rows)| format_piece(piece, rows, pass, format))
                        .collect()
                }),
                None => window
                    .iter()
                    .zip(buffers)
                    .map(|(piece, rows)| format_piece(piece, rows, pass, format))
                    .collect(),
            };
            for (piece, bytes) in formatted.into_iter().zip(window) {
                let mut piece = piece?;
                match self.bar {
                    // Malformed lines for the terminal (stderr) are written
                    // with the bar cleared.
                    Some(bar) if !self.errors.all() && !piece.errors.is_empty() => {
                        bar.suspend(|| {
                            self.emit(&mut piece, bytes)?;
                            self.out.flush()
                        })?;
                    }
                    _ => self.emit(&mut piece, bytes)?,
                }
                self.counted.add_stats(piece.stats);
                if let Some(bar) = self.bar {
                    bar.inc(bytes.len() as u64);
                }
                let mut rows = piece.rows;
                rows.clear();
                self.out.spare.push(rows);
            }
        }
        Ok(())
    }

    /// Writes one piece's rows and malformed lines; its lines follow those
    /// counted so far.
    fn emit(&mut self, piece: &mut Formatted, bytes: &[u8]) -> Result<(), Fatal> {
        let (pass, out) = (self.pass, &mut *self.out);
        let rows = match pass.format {
            Some(FlowFormat::Csv) if out.header_written => piece
                .rows
                .iter()
                .position(|&b| b == b'\n')
                .map_or(&[][..], |end| &piece.rows[end + 1..]),
            _ => &piece.rows[..],
        };
        out.write_all(rows)?;
        out.header_written |= !piece.rows.is_empty();
        let before = self.counted.lines;
        let kept = piece.errors.len() as u64;
        if out.closed {
            self.errors.count += piece.error_count;
            return Ok(());
        }
        if self.errors.all() && piece.error_count > kept {
            // More than the piece kept: all of them, read again here.
            let mut written = Ok(());
            Parser::new(bytes).for_each_ref(|result| {
                if let (Err(mut error), Ok(())) = (result, &written) {
                    error.line += before;
                    written = self.errors.report(self.path, &error, out);
                }
            });
            return written;
        }
        for mut error in piece.errors.drain(..) {
            error.line += before;
            self.errors.report(self.path, &error, out)?;
        }
        self.errors.count += piece.error_count - kept;
        Ok(())
    }
}
