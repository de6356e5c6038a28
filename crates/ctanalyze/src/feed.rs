//! Push-style input: bytes handed over in pieces cut anywhere (an async
//! handler's buffers, a reader's pieces), turned into whole lines.

use crate::driver::{Analyzer, lines_in};
use crate::summary::Summary;

/// Whole lines out of pieces cut anywhere: the unfinished last line waits
/// for its end. Of a line longer than [`ctparse::MAX_LINE`] (never an
/// entry) only the start is kept, as [`ctparse::ChunkReader`] keeps it, so
/// that input without line ends cannot take all memory; the rest of it is
/// counted in `skipped`.
#[derive(Debug, Default)]
pub(crate) struct LineFeed {
    partial: Vec<u8>,
    /// Dropping the rest of an overlong line, up to its line end.
    skipping: bool,
    skipped: u64,
}

impl LineFeed {
    /// One byte more than a line may hold, even after a final `\r` is
    /// taken off: the parser then refuses the line as too long.
    const KEPT: usize = ctparse::MAX_LINE + 2;

    /// Hands `lines` the whole lines `bytes` completes, with the kept
    /// start of the first, in one slice (none when `bytes` ends no line).
    pub(crate) fn push(&mut self, mut bytes: &[u8], lines: impl FnOnce(&[u8])) {
        if self.skipping {
            let Some(end) = memchr::memchr(b'\n', bytes) else {
                self.skipped += bytes.len() as u64;
                return;
            };
            self.skipped += end as u64;
            self.skipping = false;
            bytes = &bytes[end..];
        }
        let Some(last) = memchr::memrchr(b'\n', bytes) else {
            self.keep(bytes);
            return;
        };
        let (complete, rest) = bytes.split_at(last + 1);
        if self.partial.is_empty() {
            lines(complete);
        } else {
            self.partial.extend_from_slice(complete);
            lines(&self.partial);
            self.partial.clear();
        }
        self.keep(rest);
    }

    /// Adds `bytes` to the unfinished line, up to [`LineFeed::KEPT`].
    fn keep(&mut self, bytes: &[u8]) {
        let room = LineFeed::KEPT.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.skipped += (bytes.len() - room) as u64;
            self.skipping = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// The unfinished last line (what was kept of it), without a line end.
    pub(crate) fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// Bytes of overlong lines dropped.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Builds a [`Summary`] from bytes pushed in pieces cut anywhere, for a
/// program that receives a dump rather than reading it (an async upload
/// handler, a buffer filled by its own loop). The lines are numbered and
/// counted as one pass over the whole input would, with `analyzer`'s
/// filter, aggregates and error limit; folded on the calling thread.
/// Memory is one piece plus one line (of at most [`ctparse::MAX_LINE`]
/// bytes) plus the summary's keys.
///
/// ```
/// use ctanalyze::{Analyzer, SummaryFeed};
/// let dump: &[u8] = b"\
/// udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1
/// garbage
/// udp      17 28 src=192.0.2.2 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.2 sport=53 dport=5353 mark=0 use=1";
/// let analyzer = Analyzer::new().max_errors(5);
/// let mut feed = SummaryFeed::new(&analyzer, 0);
/// for piece in dump.chunks(7) {
///     feed.push(piece);
/// }
/// let summary = feed.finish();
/// assert_eq!((summary.totals.flows, summary.totals.errors), (2, 1));
/// assert_eq!(summary.totals.error_samples.samples[0].error.line, 2);
/// assert_eq!(summary, analyzer.analyze_bytes(dump));
/// ```
#[derive(Debug)]
pub struct SummaryFeed {
    analyzer: Analyzer,
    input: usize,
    summary: Summary,
    lines: LineFeed,
    next_line: u64,
}

impl SummaryFeed {
    /// A feed for input number `input` (the index its error samples
    /// carry), counting as `analyzer` would.
    pub fn new(analyzer: &Analyzer, input: usize) -> SummaryFeed {
        SummaryFeed {
            summary: analyzer.fresh_summary(),
            analyzer: analyzer.clone(),
            input,
            lines: LineFeed::default(),
            next_line: 1,
        }
    }

    /// Counts the lines `bytes` completes; a line it leaves unfinished
    /// waits for the next piece.
    pub fn push(&mut self, bytes: &[u8]) {
        let SummaryFeed {
            analyzer,
            input,
            summary,
            lines,
            next_line,
        } = self;
        lines.push(bytes, |complete| {
            analyzer.fold_chunk(summary, *input, 0, *next_line, complete);
            *next_line += lines_in(complete);
        });
    }

    /// The summary of everything pushed, the last line counted even
    /// without its line end.
    pub fn finish(mut self) -> Summary {
        let last = std::mem::take(&mut self.lines.partial);
        if !last.is_empty() {
            let (input, next_line) = (self.input, self.next_line);
            self.analyzer
                .fold_chunk(&mut self.summary, input, 0, next_line, &last);
        }
        self.finish_cut()
    }

    /// The summary of the complete lines only, for input a read error
    /// cut: its unfinished last line lost its end, and a cut entry can
    /// read as a shorter, valid one (`dport=20` for `2048`), so it is not
    /// counted, as [`Analyzer::analyze_stream`] does not count it. Its
    /// bytes are in [`SummaryFeed::unfinished`] until then.
    pub fn finish_cut(mut self) -> Summary {
        self.summary.totals.bytes += self.lines.skipped();
        self.analyzer.finish(&mut self.summary);
        self.summary
    }

    /// The bytes of the line the pieces so far leave unfinished (at most
    /// [`ctparse::MAX_LINE`] and two bytes of it).
    pub fn unfinished(&self) -> &[u8] {
        self.lines.partial()
    }
}
