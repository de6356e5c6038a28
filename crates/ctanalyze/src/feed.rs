//! Push-style input: bytes handed over in pieces cut anywhere (an async
//! handler's buffers, a reader's pieces), turned into whole lines.

use crate::driver::{Analyzer, lines_in};
use crate::summary::Summary;

/// Whole lines out of pieces cut anywhere: the unfinished last line waits
/// for its end, and the lines a piece holds whole are handed over in
/// place. Of an unfinished line longer than [`ctparse::MAX_LINE`] (never
/// an entry) only the start is kept, as [`ctparse::ChunkReader`] keeps
/// it, so that input without line ends cannot take all memory; the rest of
/// it is counted in `skipped`.
#[derive(Debug, Default)]
pub(crate) struct LineFeed {
    partial: Vec<u8>,
    /// Where the unfinished line starts in `partial`: after the whole
    /// lines that wait for it, the start of an entry conntrack's stderr
    /// was spliced into (0 when none waits).
    line_start: usize,
    /// Dropping the rest of an overlong line, up to its line end.
    skipping: bool,
    /// Bytes dropped of overlong lines that have ended.
    skipped: u64,
    /// Bytes dropped of the unfinished line.
    dropping: u64,
}

impl LineFeed {
    /// One byte more than a line may hold, even after a final `\r` is
    /// taken off: the parser then refuses the line as too long.
    pub(crate) const KEPT: usize = ctparse::MAX_LINE + 2;

    /// The most bytes of whole lines held for the line after them: a few
    /// lines that [continue on the next](ctparse::continues_on_next_line)
    /// in a row (each is at most `KEPT`), however many a hostile input
    /// holds.
    const HELD: usize = 4 * LineFeed::KEPT;

    /// Hands `lines` the whole lines `bytes` completes, in order: the
    /// waiting line (what was kept of it) alone, then those `bytes` holds
    /// whole, in place. A line that [continues on the next
    /// one](ctparse::continues_on_next_line) (conntrack's stderr spliced
    /// into an entry) waits for it, and the two are handed together.
    pub(crate) fn push(&mut self, mut bytes: &[u8], mut lines: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            loop {
                let Some(end) = memchr::memchr(b'\n', bytes) else {
                    self.keep(bytes);
                    return;
                };
                self.keep(&bytes[..end]);
                self.partial.push(b'\n');
                self.skipping = false;
                self.skipped += std::mem::take(&mut self.dropping);
                bytes = &bytes[end + 1..];
                // The line just completed waits in turn when it continues
                // on the next one.
                let completed = &self.partial[self.line_start..];
                if !ctparse::continues_on_next_line(completed)
                    || self.partial.len() > LineFeed::HELD
                {
                    break;
                }
                self.line_start = self.partial.len();
            }
            lines(&self.partial);
            self.partial.clear();
            self.line_start = 0;
        }
        let Some(last) = memchr::memrchr(b'\n', bytes) else {
            self.keep(bytes);
            return;
        };
        // Not after the start of an entry conntrack's stderr was spliced
        // into: it waits, with what follows it, for its rest.
        let cut = ctparse::splice_safe_cut(bytes, last + 1).unwrap_or(0);
        let (complete, rest) = bytes.split_at(cut);
        if !complete.is_empty() {
            lines(complete);
        }
        match memchr::memrchr(b'\n', rest) {
            // The waiting line (no longer than a line may be), whole.
            Some(end) => {
                self.partial.extend_from_slice(&rest[..=end]);
                self.line_start = self.partial.len();
                self.keep(&rest[end + 1..]);
            }
            None => self.keep(rest),
        }
    }

    /// Adds `bytes` to the unfinished line, up to [`LineFeed::KEPT`] bytes
    /// of it; the rest is dropped.
    fn keep(&mut self, bytes: &[u8]) {
        let room = if self.skipping {
            0
        } else {
            LineFeed::KEPT.saturating_sub(self.partial.len() - self.line_start)
        };
        let kept = bytes.len().min(room);
        self.partial.extend_from_slice(&bytes[..kept]);
        let dropped = (bytes.len() - kept) as u64;
        if dropped > 0 {
            self.dropping += dropped;
            self.skipping = true;
        }
    }

    /// The unfinished last line (what was kept of it), without a line
    /// end; after a line that waits for the rest of its entry (see
    /// [`push`](LineFeed::push)), when there is one.
    pub(crate) fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// The whole lines held: a line waiting for the rest of its entry
    /// (empty when none is).
    pub(crate) fn whole(&self) -> &[u8] {
        memchr::memrchr(b'\n', &self.partial).map_or(&[], |end| &self.partial[..=end])
    }

    /// Bytes dropped of overlong lines that have ended, and of the
    /// unfinished line too when `with_unfinished`.
    pub(crate) fn skipped(&self, with_unfinished: bool) -> u64 {
        self.skipped + if with_unfinished { self.dropping } else { 0 }
    }
}

/// Builds a [`Summary`] from bytes pushed in pieces cut anywhere, for a
/// program that receives a dump rather than reading it (an async upload
/// handler, a buffer filled by its own loop). The lines are numbered and
/// counted as one pass over the whole input would, with `analyzer`'s
/// filter, aggregates and error limit, folded on the calling thread (the
/// finishing step uses the analyzer's pool, as its passes do). Besides
/// the summary's keys, it holds at most one unfinished line, of at most
/// [`ctparse::MAX_LINE`] bytes and two, and the few whole lines that wait
/// for it (the start of an entry conntrack's stderr was spliced into, at
/// most four lines' worth): lines a piece holds whole are read in place.
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
    pub fn finish(self) -> Summary {
        self.done(true)
    }

    /// The summary of the complete lines only, for input a read error
    /// cut: its unfinished last line lost its end, and a cut entry can
    /// read as a shorter, valid one (`dport=20` for `2048`), so it is not
    /// counted (nor its bytes), as [`Analyzer::analyze_stream`] does not
    /// count it. What was kept of it is in [`SummaryFeed::unfinished`].
    pub fn finish_cut(self) -> Summary {
        self.done(false)
    }

    fn done(mut self, with_last: bool) -> Summary {
        // Cut short, the whole lines held are lines; only the cut one is not.
        let last = if with_last {
            std::mem::take(&mut self.lines.partial)
        } else {
            self.lines.whole().to_vec()
        };
        if !last.is_empty() {
            let (input, next_line) = (self.input, self.next_line);
            self.analyzer
                .fold_chunk(&mut self.summary, input, 0, next_line, &last);
        }
        self.summary.totals.bytes += self.lines.skipped(with_last);
        self.analyzer.finish(&mut self.summary);
        self.summary
    }

    /// The bytes of the line the pieces so far leave unfinished (at most
    /// [`ctparse::MAX_LINE`] and two bytes of it), after the line it
    /// completes when that one waits for it (an entry conntrack's stderr
    /// was spliced into, mended from the two).
    pub fn unfinished(&self) -> &[u8] {
        self.lines.partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushed in pieces of any size, the lines handed over read as one
    /// pass: a spliced entry waits for its rest (two in a row too), and an
    /// overlong line after one is cut at its own limit, not at one shared
    /// with the line before it.
    #[test]
    fn a_spliced_entry_waits_for_its_rest() {
        use ctparse::testing::lent_by_pieces;
        let entry = "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1";
        let trailer = "conntrack v1.4.7 (conntrack-tools): 9 flow entries have been shown.";
        let (head, rest) = entry.split_at(50);
        let long = "x".repeat(70_000);
        for input in [
            format!("{entry}\n{head}{trailer}\n{rest}\n{entry}\n"),
            format!("{entry}\n{head}{trailer}\n{head}{trailer}\n{rest}\n{entry}\n"),
            format!("{entry}\n{head}{trailer}\n{rest}{long}\n{entry}\n"),
        ] {
            let bytes = input.as_bytes();
            let whole = lent_by_pieces(&[bytes]);
            for size in [1, 7, 64, 200, 100_000] {
                let mut feed = LineFeed::default();
                let mut handed: Vec<Vec<u8>> = Vec::new();
                for piece in bytes.chunks(size) {
                    feed.push(piece, |lines| handed.push(lines.to_vec()));
                }
                assert!(feed.partial().is_empty(), "{size}");
                let handed: Vec<&[u8]> = handed.iter().map(Vec::as_slice).collect();
                let (items, counts) = lent_by_pieces(&handed);
                let dropped = feed.skipped(false);
                // The overlong line's end is dropped, not handed: the same
                // error, the same counts.
                assert_eq!(
                    (items, counts),
                    whole.clone(),
                    "pieces of {size}: dropped {dropped}"
                );
            }
        }
    }

    /// Completing a waiting line does not gather the piece's other lines
    /// behind it: they are handed over in place, and the held line stays
    /// within its bound whatever the pieces.
    #[test]
    fn a_waiting_line_is_completed_alone() {
        let line = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
        let mut feed = LineFeed::default();
        let mut seen = Vec::new();
        feed.push(&line[..20], |lines| seen.extend_from_slice(lines));
        let mut piece = line[20..].to_vec();
        piece.extend(line.repeat(80_000)); // about 10 MiB of whole lines
        piece.extend_from_slice(b"tail");
        let mut handed = Vec::new();
        feed.push(&piece, |lines| handed.push(lines.len()));
        assert_eq!(handed, [line.len(), line.len() * 80_000]);
        assert_eq!(feed.partial(), b"tail");
        assert!(
            feed.partial.capacity() < 1 << 20,
            "{}",
            feed.partial.capacity()
        );
        // An endless line: its start is kept, the rest counted as dropped,
        // then its end hands it over with the lines after it.
        for _ in 0..40 {
            feed.push(&[b'x'; 1 << 16], |_| panic!("no line ends"));
        }
        assert_eq!(feed.partial().len(), LineFeed::KEPT);
        let dropped = 4 + 40 * (1 << 16) - LineFeed::KEPT as u64;
        assert_eq!((feed.skipped(true), feed.skipped(false)), (dropped, 0));
        let mut handed = Vec::new();
        feed.push(b"x\nnext\n", |lines| handed.push(lines.to_vec()));
        assert_eq!(handed.len(), 2);
        assert_eq!(handed[0].len(), LineFeed::KEPT + 1);
        assert_eq!(handed[1], b"next\n");
        assert_eq!(feed.skipped(false), dropped + 1);
    }
}
