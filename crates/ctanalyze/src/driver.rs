//! The parallel driver: line-aligned chunks folded into fresh accumulators
//! on a rayon pool, merged at the end. No locks or atomics per flow.

use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use ctparse::{ChunkReader, Parser, Source, line_chunks};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::feed::LineFeed;
use crate::filter::Filter;
use crate::merge::Merge;
use crate::summary::{Aggregates, ErrorSample, Pending, Summary};

/// A callback told how many input bytes were just processed (called once
/// per chunk, from any thread).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How a stream's reading failed: the error, and the bytes of the line it
/// cut short.
type Stop = (io::Error, u64);

/// A stream that could not be read to its end: a gzip or zstd file cut
/// short, an I/O error. Nothing read before the failure is lost:
/// [`partial`](ReadError::partial) is the finished summary of every whole
/// line read, [`cut`](ReadError::cut) the length of the line the failure
/// cut short (not counted: its end is lost, and a cut entry can read as a
/// shorter, valid one), and [`error`](ReadError::error) says why reading
/// stopped. Converts into the [`io::Error`] for callers that only want the
/// error.
///
/// Or a mapped file that shrank, failed or was written to while it was
/// read ([`Analyzer::analyze_source`]): then `partial` is of the chunks
/// read, which need not be a prefix of the file, its error samples keep
/// chunk-relative lines, and `cut` is 0.
#[derive(Debug)]
pub struct ReadError {
    error: io::Error,
    cut: u64,
    partial: Box<Summary>,
}

impl ReadError {
    /// Why reading stopped.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The summary of what was read before the error.
    pub fn partial(&self) -> &Summary {
        &self.partial
    }

    /// Bytes of the line the error cut short (0 when it came right after
    /// a line end): the line after the summary's last.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// The error and the summary of what was read before it.
    pub fn into_parts(self) -> (io::Error, Summary) {
        (self.error, *self.partial)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.partial.totals.lines;
        write!(
            f,
            "reading stopped after {lines} line{}",
            if lines == 1 { "" } else { "s" }
        )?;
        if self.cut > 0 {
            write!(f, " and {} bytes of the next", self.cut)?;
        }
        write!(f, ": {}", self.error)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        e.error
    }
}

/// Runs a pass over dumps: parses, filters and aggregates into a [`Summary`].
///
/// ```
/// use ctanalyze::Analyzer;
/// let dump = b"\
/// tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 use=1
/// tcp      6 431999 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=40001 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40001 [ASSURED] mark=0 use=1
/// udp      17 29 src=192.0.2.9 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.9 sport=53 dport=5353 mark=0 use=1
/// ";
/// let summary = Analyzer::new().threads(2).analyze_bytes(dump);
/// assert_eq!(summary.totals.flows, 3);
/// let top = summary.sources.top(1);
/// assert_eq!((top[0].0.to_string().as_str(), top[0].1), ("192.0.2.1", 2));
/// ```
#[derive(Clone)]
pub struct Analyzer {
    filter: Filter,
    threads: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
    /// `None`: chosen from the input size and thread count.
    chunk_size: Option<usize>,
    max_errors: usize,
    progress: Option<Progress>,
    aggregates: Aggregates,
}

/// The error of [`Analyzer::try_threads`]: the operating system refused
/// to start the threads asked for.
#[derive(Debug, Clone)]
pub struct ThreadsError {
    threads: usize,
    /// The operating system's reason.
    reason: String,
}

impl ThreadsError {
    /// The threads asked for (0: one per core).
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.threads {
            0 => write!(f, "cannot start a thread per core: {}", self.reason),
            n => write!(f, "cannot start {n} threads: {}", self.reason),
        }
    }
}

impl std::error::Error for ThreadsError {}

/// Whether rayon's global pool runs: started here, as rayon's first use
/// would start it, so that where the operating system refuses the threads
/// the reason comes back instead of rayon's panic. Kept: after a failed
/// start rayon never tries again, and its next use would panic.
fn global_pool() -> Result<(), &'static str> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| match rayon::ThreadPoolBuilder::new().build_global() {
        Ok(()) => Ok(()),
        // Started before (by the program, say): no cause to give.
        Err(error) if std::error::Error::source(&error).is_none() => Ok(()),
        Err(error) => Err(error.to_string()),
    });
    started.as_ref().map(|_| ()).map_err(String::as_str)
}

/// Whether a pass without a pool of its own can run on rayon's current
/// pool: the calling thread's, or the global one.
fn current_pool() -> Result<(), &'static str> {
    match rayon::current_thread_index() {
        Some(_) => Ok(()),
        None => global_pool(),
    }
}

impl fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyzer")
            .field("filter", &self.filter)
            .field("threads", &self.threads)
            .field("chunk_size", &self.chunk_size)
            .field("max_errors", &self.max_errors)
            .field("aggregates", &self.aggregates)
            .finish_non_exhaustive()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new()
    }
}

/// The smallest automatic chunk size, and the chunk size of streams: large
/// enough that per-chunk overhead vanishes.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// The bytes a worker reads from a mapped file at a time (see
/// `Analyzer::analyze_file`): small enough to stay in a core's L2 while
/// they are parsed (256 KiB measured 0.99x of 1 MiB).
const READ_PIECE: usize = 256 << 10;

impl Analyzer {
    /// An analyzer with no filter, all available threads, chunks sized
    /// automatically (see [`Analyzer::chunk_size`]) and the first 20
    /// errors kept.
    pub fn new() -> Analyzer {
        Analyzer {
            filter: Filter::default(),
            threads: 0,
            pool: None,
            chunk_size: None,
            max_errors: 20,
            progress: None,
            aggregates: Aggregates::ALL,
        }
    }

    /// Counts only flows that pass `filter`.
    pub fn filter(mut self, filter: Filter) -> Analyzer {
        self.filter = filter;
        self
    }

    /// Uses `threads` threads; 0 means rayon's default (one per core), and 1
    /// runs the sequential reference path without rayon.
    ///
    /// With 0 the pass runs on the current rayon pool (the global one,
    /// unless the analyzer is called from inside another pool), with as
    /// many threads as it has. A streamed pass folds on threads of its
    /// own, as many, so that a slow stream (a pipe, a network upload)
    /// never holds the pool's threads while it waits for its writer.
    ///
    /// Where the operating system refuses to start the threads (a
    /// process or cgroup limit on tasks, as on a host in trouble), the
    /// analyzer runs on the calling thread alone, with the same results;
    /// [`try_threads`](Analyzer::try_threads) says so instead.
    pub fn threads(mut self, threads: usize) -> Analyzer {
        if self.start_threads(threads).is_err() {
            (self.threads, self.pool) = (1, None);
        }
        self
    }

    /// [`threads`](Analyzer::threads), or the error of the operating
    /// system when it refuses to start the threads.
    ///
    /// With 0, outside any rayon pool, this starts rayon's global pool
    /// as rayon's first use would (rayon itself panics when that fails);
    /// after such a failure the global pool is gone for the process, and
    /// only an analyzer of its own threads, or of one, can run.
    pub fn try_threads(mut self, threads: usize) -> Result<Analyzer, ThreadsError> {
        self.start_threads(threads)?;
        Ok(self)
    }

    /// Sets `threads`, starting the pool they need.
    fn start_threads(&mut self, threads: usize) -> Result<(), ThreadsError> {
        let failed = |reason: String| ThreadsError { threads, reason };
        self.threads = threads;
        self.pool = None;
        match threads {
            1 => {}
            0 => current_pool().map_err(|reason| failed(reason.to_owned()))?,
            _ => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|error| failed(error.to_string()))?;
                self.pool = Some(Arc::new(pool));
            }
        }
        Ok(())
    }

    /// Splits input into chunks of about `bytes` bytes (at least 1). By
    /// default a mapped input is cut into shrinking chunks, each about a
    /// quarter of a thread's share of what is left and at least
    /// [`DEFAULT_CHUNK_SIZE`], so that the threads finish together; a
    /// stream is read in chunks of [`DEFAULT_CHUNK_SIZE`]. A stream's
    /// chunks are never smaller than that, whatever `bytes` says: a
    /// streamed pass holds about (2 x threads + 2) chunks.
    pub fn chunk_size(mut self, bytes: usize) -> Analyzer {
        self.chunk_size = Some(bytes.max(1));
        self
    }

    /// The chunks of a mapped input, whole lines each. Every thread keeps
    /// one accumulator whatever the number of chunks, so a chunk costs
    /// only its hand-out; what matters is that the threads finish
    /// together. Large chunks first, then smaller and smaller ones, as
    /// OpenMP's guided schedule does: few hand-outs, and at the end no
    /// thread is left with a large chunk while the others wait. (Sixteen
    /// equal chunks a thread left one thread folding a last 25 MiB chunk
    /// alone for 16 ms of a 340 ms `summary`, `benches/RESULTS.md`.)
    fn chunks<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        let mut rest = bytes;
        while let Some(chunk) = line_chunks(rest, self.chunk_target(rest.len())).next() {
            rest = &rest[chunk.len()..];
            chunks.push(chunk);
        }
        chunks
    }

    /// The size the next chunk is cut at (at its first line end from
    /// there), with `rest` bytes of the input left: the size asked for,
    /// or a quarter of a thread's share of the rest and at least
    /// [`DEFAULT_CHUNK_SIZE`].
    fn chunk_target(&self, rest: usize) -> usize {
        match self.chunk_size {
            Some(size) => size.max(1),
            None => (rest / (4 * self.effective_threads())).max(DEFAULT_CHUNK_SIZE),
        }
    }

    /// [`chunks`](Analyzer::chunks) of a mapped file, as `(offset, length)`,
    /// found with positional reads instead of in the map: each cut goes
    /// after the first line end at or past its target, and after the rest
    /// of an entry conntrack's stderr was spliced into when the line
    /// before it is one. A file that comes back shorter than it was
    /// opened is an error.
    fn file_chunks(&self, file: &ctparse::MappedFile) -> io::Result<Vec<(usize, usize)>> {
        let len = file.len();
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < len {
            let rest = len - start;
            let size = self.chunk_target(rest);
            let mut end = if rest <= size {
                len
            } else {
                line_end_after(file, start + size - 1)?
            };
            while end < len && ctparse::continues_on_next_line(&last_line_before(file, end)?) {
                end = line_end_after(file, end)?;
            }
            chunks.push((start, end - start));
            start = end;
        }
        Ok(chunks)
    }

    /// Keeps the first `n` malformed lines (by position) in the summary.
    pub fn max_errors(mut self, n: usize) -> Analyzer {
        self.max_errors = n;
        self
    }

    /// Computes only the keyed aggregates in `aggregates` (all by default);
    /// the others stay empty in the result. Totals and the dense counts
    /// are always computed.
    pub fn aggregates(mut self, aggregates: Aggregates) -> Analyzer {
        self.aggregates = aggregates;
        self
    }

    /// Reports progress to `progress`.
    pub fn progress(mut self, progress: Progress) -> Analyzer {
        self.progress = Some(progress);
        self
    }

    /// The filter in use.
    pub fn current_filter(&self) -> &Filter {
        &self.filter
    }

    /// Analyzes a buffer (input index 0).
    pub fn analyze_bytes(&self, bytes: &[u8]) -> Summary {
        self.analyze_input_bytes(0, bytes)
    }

    /// Analyzes a buffer as input number `input`: its error samples say
    /// so, and summaries of several buffers merge with their errors told
    /// apart and in input order.
    ///
    /// ```
    /// use ctanalyze::{Analyzer, Merge};
    /// let analyzer = Analyzer::new().max_errors(10);
    /// let mut all = analyzer.analyze_input_bytes(0, b"garbage\n");
    /// all.merge(analyzer.analyze_input_bytes(1, b"more garbage\n"));
    /// let inputs: Vec<usize> = all.totals.error_samples.samples.iter().map(|s| s.input).collect();
    /// assert_eq!(inputs, [0, 1]);
    /// ```
    pub fn analyze_input_bytes(&self, input: usize, bytes: &[u8]) -> Summary {
        let chunks = self.chunks(bytes);
        let base = bytes.as_ptr() as usize;
        let pieces = PieceLines::default();
        let mut summary = self.fold_all(&chunks, |acc, chunk| {
            pieces.fold(self, acc, input, chunk.as_ptr() as usize - base, chunk);
        });
        pieces.resolve(&mut summary);
        self.finish(&mut summary);
        summary
    }

    /// Analyzes a source: a mapped file in parallel chunks, a stream in
    /// bounded batches of chunks. `input` tags its errors (the index of the
    /// file among several).
    ///
    /// Several inputs merge into one result, and each input's own
    /// [`Totals`](crate::Totals) stay available from its part:
    ///
    /// ```
    /// use ctanalyze::{Analyzer, Merge, Summary};
    /// use ctparse::Source;
    ///
    /// let before: &[u8] = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 \
    /// src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
    /// let after: &[u8] = b"garbage\n";
    /// let analyzer = Analyzer::new().max_errors(5);
    /// let mut all = Summary::with_error_limit(5);
    /// let mut per_input = Vec::new();
    /// for (index, bytes) in [before, after].into_iter().enumerate() {
    ///     let part = analyzer.analyze_source(index, Source::from_reader(bytes))?;
    ///     per_input.push(part.totals.clone());
    ///     all.merge(part);
    /// }
    /// assert_eq!((per_input[0].flows, per_input[1].errors), (1, 1));
    /// assert_eq!((all.totals.lines, all.totals.flows, all.totals.errors), (2, 1, 1));
    /// // The error remembers which input it came from.
    /// assert_eq!(all.totals.error_samples.samples[0].input, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// A stream that fails part way gives a [`ReadError`] holding the
    /// summary of what was read before the failure.
    pub fn analyze_source(&self, input: usize, source: Source) -> Result<Summary, ReadError> {
        match source {
            Source::Stream(stream) => self.analyze_stream(input, stream.0),
            Source::Mapped(file) => self.analyze_file(input, &file),
        }
    }

    /// Analyzes a mapped file: the chunks are cut in the map, and each is
    /// read with positional reads into its worker's buffer, a piece of
    /// [`READ_PIECE`] bytes at a time. The pieces stay in the worker's
    /// cache, and the pass takes no page fault for the bytes it reads nor
    /// an unmapping of them at the end (against parsing the map itself:
    /// `summary` 0.947x with 2 threads, 0.939x with 1, benches/RESULTS.md
    /// session 11).
    ///
    /// Where a read comes back short (another process truncated the file)
    /// or fails, the pass stops with that error: what was read may mix
    /// two versions of the file, and the map's vanished pages would fault
    /// (`SIGBUS`) if the rest were taken from there. A file written to
    /// during the pass without shrinking gives [`ctparse::Changed`]. The
    /// error's partial summary is then of the chunks read, not a prefix of
    /// the file, and its error lines are not resolved.
    ///
    /// The loop is [`ChunkReader`]'s (whole lines, a cut line carried to
    /// the next piece) written again on purpose: `ChunkReader` zero-fills
    /// its buffer before every read, and over a `pread` range it measured
    /// 1.024x with 2 threads and 1.030x with 1 against this loop, which
    /// keeps its buffer's bytes from piece to piece. A `ChunkReader` with a
    /// buffer of its own would serve both (and streams would gain too).
    fn analyze_file(&self, input: usize, file: &ctparse::MappedFile) -> Result<Summary, ReadError> {
        // Cut with positional reads too: a file truncated since it was
        // opened is an error here, not a fault on its vanished pages.
        let chunks = match self.file_chunks(file) {
            Ok(chunks) => chunks,
            Err(error) => {
                let mut partial = self.fresh_summary();
                self.finish(&mut partial);
                return Err(ReadError {
                    error,
                    cut: 0,
                    partial: Box::new(partial),
                });
            }
        };
        let failed = Mutex::new(None);
        // The malformed lines' numbers, without reading the map again.
        let pieces = PieceLines::default();
        let fold_piece = |acc: &mut Summary, at: usize, piece: &[u8]| {
            pieces.fold(self, acc, input, at, piece);
        };
        // `want` bytes of the file from `at` into `buf` from `from`; `None`
        // (the error kept) where the read fails or comes back short.
        let read_into = |buf: &mut Vec<u8>, from: usize, want: usize, at: usize| {
            if buf.len() < from + want {
                buf.resize(from + want, 0);
            }
            read_exactly(file, &mut buf[from..from + want], at)
                .map_err(|error| {
                    let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                    failed.get_or_insert(error);
                })
                .ok()
        };
        thread_local! {
            static PIECE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut summary = self.fold_all(&chunks, |acc, &(offset, chunk_len)| {
            PIECE.with_borrow_mut(|buf| {
                // Bytes of the chunk read so far, the start of those in
                // `buf`, and how many are there (a line cut by the last
                // read waits at the front for its end).
                let (mut read, mut start, mut held) = (0, 0, 0);
                while read < chunk_len {
                    let want = (chunk_len - read).min(READ_PIECE);
                    let Some(()) = read_into(buf, held, want, offset + read) else {
                        return;
                    };
                    read += want;
                    held += want;
                    // Whole lines (all of them at the chunk's end), the
                    // parts of an entry conntrack's stderr was spliced
                    // into kept together.
                    let end = if read == chunk_len {
                        held
                    } else {
                        let end = memchr::memrchr(b'\n', &buf[..held]).map_or(0, |e| e + 1);
                        // (A piece of one such line is not cut before it.)
                        ctparse::splice_safe_cut(&buf[..held], end).unwrap_or(end)
                    };
                    if end == 0 && held > LineFeed::KEPT {
                        // A line over the limit (gigabytes of NULs, say):
                        // its start is kept, for the parser to refuse, and
                        // the rest read past up to its end, as a stream's.
                        let mut line_end = chunk_len;
                        while read < chunk_len {
                            let want = (chunk_len - read).min(READ_PIECE);
                            let Some(()) = read_into(buf, LineFeed::KEPT, want, offset + read)
                            else {
                                return;
                            };
                            let past = &buf[LineFeed::KEPT..LineFeed::KEPT + want];
                            if let Some(at) = memchr::memchr(b'\n', past) {
                                line_end = read + at + 1;
                                break;
                            }
                            read += want;
                        }
                        fold_piece(acc, offset + start, &buf[..LineFeed::KEPT]);
                        // Every byte counts, those read past too.
                        acc.totals.bytes += (line_end - start - LineFeed::KEPT) as u64;
                        (start, read, held) = (line_end, line_end, 0);
                        continue;
                    }
                    if end > 0 {
                        fold_piece(acc, offset + start, &buf[..end]);
                        buf.copy_within(end..held, 0);
                        start += end;
                        held -= end;
                    }
                }
            });
        });
        let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
        if failed.is_none() {
            pieces.resolve(&mut summary);
            // Written to since it was opened (to the same size or larger,
            // which no read comes back short for): a mix of versions.
            failed = file.unchanged().err();
        }
        self.finish(&mut summary);
        match failed {
            None => Ok(summary),
            Some(error) => Err(ReadError {
                error,
                cut: 0,
                partial: Box::new(summary),
            }),
        }
    }

    /// Streams `reader` in whole-line chunks: memory stays bounded by
    /// about (threads x 2) chunks however long the stream is.
    ///
    /// With one thread, chunks are read and folded in turn (the reference
    /// path). With more, a reader thread reads (and decompresses) ahead
    /// while the pool folds, so a stream takes about as long as the slower
    /// of the two rather than their sum.
    ///
    /// When a read fails, the lines read before it are analyzed and the
    /// error comes as a [`ReadError`] holding their summary.
    pub fn analyze_stream(
        &self,
        input: usize,
        reader: impl Read + Send,
    ) -> Result<Summary, ReadError> {
        let (mut summary, read) = self.fold_stream(input, reader);
        self.finish(&mut summary);
        match read {
            Ok(()) => Ok(summary),
            Err((error, cut)) => Err(ReadError {
                error,
                cut,
                partial: Box::new(summary),
            }),
        }
    }

    /// [`analyze_stream`](Analyzer::analyze_stream) before the finishing
    /// step: the summary of what was read, and how reading ended.
    fn fold_stream(&self, input: usize, reader: impl Read + Send) -> (Summary, Result<(), Stop>) {
        let chunk_size = self
            .chunk_size
            .unwrap_or(DEFAULT_CHUNK_SIZE)
            .max(DEFAULT_CHUNK_SIZE);
        if self.effective_threads() > 1 {
            return self.analyze_stream_pipelined(input, reader, chunk_size);
        }
        self.fold_stream_sequential(input, reader, chunk_size)
    }

    /// [`fold_stream`](Analyzer::fold_stream) on the calling thread.
    fn fold_stream_sequential(
        &self,
        input: usize,
        reader: impl Read,
        chunk_size: usize,
    ) -> (Summary, Result<(), Stop>) {
        let mut reader = ChunkReader::new(reader, chunk_size);
        let mut total = Summary::with_error_limit(self.max_errors);
        let mut next_line = 1u64;
        let mut chunk = Vec::new();
        loop {
            match reader.next_chunk(&mut chunk) {
                Ok(true) => {
                    self.fold_chunk(&mut total, input, 0, next_line, &chunk);
                    next_line += lines_in(&chunk);
                }
                read => {
                    // What was read before an error or the end is folded.
                    total.totals.bytes += reader.skipped();
                    let end = read.map(drop).map_err(|error| stopped(&reader, error));
                    return (total, end);
                }
            }
        }
    }

    /// The calling thread reads and sends numbered chunks through a
    /// channel of `threads` slots; each of `threads` folding threads takes
    /// the next chunk, folds it into its one accumulator and sends the
    /// buffer back for reuse. At most about 2 x threads + 2 chunks exist
    /// at once.
    ///
    /// The folding threads are threads of their own, not the pool's: a
    /// stream is read at the pace of its writer (a pipe, an upload), and
    /// pool threads waiting for its chunks would hold up every other pass
    /// on the pool, and the caller's own rayon work, until it ended. Where
    /// the operating system starts fewer, the others fold it all; where it
    /// starts none, the stream is read on the sequential path.
    fn analyze_stream_pipelined(
        &self,
        input: usize,
        reader: impl Read + Send,
        chunk_size: usize,
    ) -> (Summary, Result<(), Stop>) {
        let threads = self.effective_threads();
        let (full_tx, full_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        // Shared by the folding threads only: when the last of them ends,
        // even by a panic, the channel closes and the reading is released.
        let full_rx = Arc::new(Mutex::new(full_rx));
        std::thread::scope(|scope| {
            let folding: Vec<_> = (0..threads)
                .map_while(|_| {
                    let (full_rx, empty_tx) = (Arc::clone(&full_rx), empty_tx.clone());
                    let fold = move || {
                        let mut acc = Summary::with_error_limit(self.max_errors);
                        loop {
                            // A poisoned lock only means another folding
                            // thread panicked, which is raised below.
                            let next = full_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            let Ok((first_line, chunk)) = next else {
                                return acc;
                            };
                            self.fold_chunk(&mut acc, input, 0, first_line, &chunk);
                            // The reading may have finished already; then
                            // the buffer is simply freed.
                            let _ = empty_tx.send(chunk);
                        }
                    };
                    std::thread::Builder::new().spawn_scoped(scope, fold).ok()
                })
                .collect();
            drop((full_rx, empty_tx));
            if folding.is_empty() {
                return self.fold_stream_sequential(input, reader, chunk_size);
            }
            // How reading ended, and the bytes of overlong lines it dropped.
            let mut reader = ChunkReader::new(reader, chunk_size);
            let mut next_line = 1u64;
            let end = loop {
                let mut chunk = empty_rx.try_recv().unwrap_or_default();
                match reader.next_chunk(&mut chunk) {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(error) => break Err(stopped(&reader, error)),
                }
                let first_line = next_line;
                next_line += lines_in(&chunk);
                if full_tx.send((first_line, chunk)).is_err() {
                    // The folding side is gone (it panicked): stop.
                    break Ok(());
                }
            };
            drop(full_tx);
            let mut summary = Summary::with_error_limit(self.max_errors);
            let mut panicked = None;
            for thread in folding {
                match thread.join() {
                    Ok(part) => summary.merge(part),
                    Err(panic) => {
                        panicked.get_or_insert(panic);
                    }
                }
            }
            if let Some(panic) = panicked {
                std::panic::resume_unwind(panic);
            }
            summary.totals.bytes += reader.skipped();
            (summary, end)
        })
    }

    /// Folds every item into accumulators and merges them. With one thread,
    /// in order into one accumulator (the reference path). Otherwise each
    /// pool thread keeps exactly one accumulator and takes the next item
    /// from a shared index (one atomic operation per chunk, none per flow),
    /// so at most `threads` sets of maps are alive at once: memory follows
    /// the distinct keys, not the number of chunks or flows.
    fn fold_all<T: Sync>(&self, items: &[T], fold: impl Fn(&mut Summary, &T) + Sync) -> Summary {
        let fresh = || Summary::with_error_limit(self.max_errors);
        if self.effective_threads() == 1 || items.len() <= 1 {
            let mut acc = fresh();
            for item in items {
                fold(&mut acc, item);
            }
            return acc;
        }
        let next = AtomicUsize::new(0);
        let worker = |_: rayon::BroadcastContext<'_>| {
            let mut acc = fresh();
            while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                fold(&mut acc, item);
            }
            acc
        };
        let parts = match &self.pool {
            Some(pool) => pool.broadcast(worker),
            None => rayon::broadcast(worker),
        };
        self.in_pool(|| {
            parts.into_iter().fold(fresh(), |mut all, part| {
                all.merge_parallel(part);
                all
            })
        })
    }

    /// An empty summary keeping as many errors as this analyzer does.
    pub(crate) fn fresh_summary(&self) -> Summary {
        Summary::with_error_limit(self.max_errors)
    }

    /// [`Summary::finish`], on the pool's threads when there is a pool.
    pub(crate) fn finish(&self, summary: &mut Summary) {
        if self.effective_threads() == 1 {
            summary.finish(false);
        } else {
            self.in_pool(|| summary.finish(true));
        }
    }

    /// Runs `work` in the analyzer's pool (rayon's global pool when it
    /// has none), so that `rayon::join` in it uses the analyzer's threads.
    fn in_pool<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => rayon::scope(|_| work()),
        }
    }

    /// The threads a pass runs on: 1 on the sequential path, which is
    /// also where an analyzer of the current pool runs when rayon's global
    /// pool could not start (see [`Analyzer::threads`]).
    fn effective_threads(&self) -> usize {
        match (self.threads, &self.pool) {
            (1, _) => 1,
            (_, Some(pool)) => pool.current_num_threads(),
            _ if current_pool().is_err() => 1,
            _ => rayon::current_num_threads(),
        }
    }

    /// Folds one chunk sequentially into `acc`: whole lines, the first of
    /// them line `first_line` of the input; `offset` is the chunk's byte
    /// offset when error lines are resolved later (0 when `first_line` is
    /// absolute).
    pub(crate) fn fold_chunk(
        &self,
        acc: &mut Summary,
        input: usize,
        offset: u64,
        first_line: u64,
        chunk: &[u8],
    ) {
        let mut parser = Parser::starting_at_line(chunk, first_line);
        // Without a filter, skip its dozen checks per flow.
        let everything = self.filter == Filter::default();
        // Keys wait in a batch and go into the maps a run at a time.
        let mut pending = Pending::default();
        parser.for_each_ref(|result| match result {
            Ok(flow) => {
                if everything || self.filter.matches(flow) {
                    acc.add_batched(flow, self.aggregates, &mut pending);
                    if pending.is_full() {
                        pending.flush_into(acc);
                    }
                } else {
                    acc.totals.filtered_events += u64::from(flow.event.is_some());
                }
            }
            Err(error) => acc.totals.error_samples.add(ErrorSample {
                input,
                chunk_offset: offset,
                error,
            }),
        });
        pending.flush_into(acc);
        acc.totals.add_stats(parser.stats());
        acc.totals.bytes += chunk.len() as u64;
        if let Some(progress) = &self.progress {
            progress(chunk.len() as u64);
        }
    }
}

/// The lines a chunk starts: its line ends, and one more when it does not
/// end with one.
pub(crate) fn lines_in(chunk: &[u8]) -> u64 {
    memchr_count(chunk) + u64::from(chunk.last() != Some(&b'\n'))
}

/// How reading `reader` ended on `error`: with the bytes of the line it cut.
fn stopped<R: Read>(reader: &ChunkReader<R>, error: io::Error) -> Stop {
    (error, reader.cut_len())
}

fn memchr_count(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Where the line holding byte `at` of `file` ends: just past its line
/// end, or at the end of the file.
fn line_end_after(file: &ctparse::MappedFile, at: usize) -> io::Result<usize> {
    let len = file.len();
    let mut window = vec![0; 64 << 10];
    let mut from = at;
    while from < len {
        let want = window.len().min(len - from);
        read_exactly(file, &mut window[..want], from)?;
        if let Some(i) = memchr::memchr(b'\n', &window[..want]) {
            return Ok(from + i + 1);
        }
        from += want;
    }
    Ok(len)
}

/// The line of `file` that ends at `end` (with its line end), or as much
/// of it as a line may hold and one byte more (a longer one never
/// continues on the next).
fn last_line_before(file: &ctparse::MappedFile, end: usize) -> io::Result<Vec<u8>> {
    let from = end.saturating_sub(ctparse::MAX_LINE + 3);
    let mut window = vec![0; end - from];
    read_exactly(file, &mut window, from)?;
    let body = window.strip_suffix(b"\n").unwrap_or(&window);
    let start = memchr::memrchr(b'\n', body).map_or(0, |at| at + 1);
    window.drain(..start);
    Ok(window)
}

/// `buf.len()` bytes of `file` from `at`; a short read is an error (the
/// file shrank).
fn read_exactly(file: &ctparse::MappedFile, buf: &mut [u8], at: usize) -> io::Result<()> {
    match file.read_at(buf, at as u64)? {
        got if got == buf.len() => Ok(()),
        _ => Err(shrank(file.len())),
    }
}

/// The error of a mapped file that came back shorter than its `size`.
fn shrank(size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "the file shrank while it was read (it had {size} bytes when opened): another process truncated or rewrote it"
        ),
    )
}

/// The lines of every piece of an input folded, by its offset: what the
/// malformed lines' chunk-relative numbers are resolved from, without
/// counting the input's line ends again.
#[derive(Debug, Default)]
struct PieceLines(Mutex<Vec<(u64, u64)>>);

impl PieceLines {
    /// Folds `piece`, at `offset` in the input, into `acc`, and keeps its
    /// line count.
    fn fold(
        &self,
        analyzer: &Analyzer,
        acc: &mut Summary,
        input: usize,
        offset: usize,
        piece: &[u8],
    ) {
        let before = acc.totals.lines;
        analyzer.fold_chunk(acc, input, offset as u64, 1, piece);
        let lines = acc.totals.lines - before;
        let mut pieces = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pieces.push((offset as u64, lines));
    }

    /// Turns the chunk-relative error lines of `summary` into line numbers
    /// of the whole input.
    fn resolve(self, summary: &mut Summary) {
        if summary.totals.error_samples.samples.is_empty() {
            return;
        }
        let mut pieces = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        pieces.sort_unstable();
        // Lines before each piece.
        let mut before = 0u64;
        let starts: Vec<(u64, u64)> = pieces
            .iter()
            .map(|&(offset, lines)| {
                let start = (offset, before);
                before += lines;
                start
            })
            .collect();
        for sample in &mut summary.totals.error_samples.samples {
            let at = starts.partition_point(|&(offset, _)| offset < sample.chunk_offset);
            let lines_before = starts.get(at).map_or(before, |&(_, lines)| lines);
            sample.error.line += lines_before;
            sample.chunk_offset = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole lines, in order, all of the input; large chunks first, none
    /// below the minimum but the last; few of them.
    #[test]
    fn automatic_chunks_shrink_to_the_minimum() {
        let line = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 \
src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
        let bytes = line.repeat((40 << 20) / line.len());
        for threads in [2, 5] {
            let chunks = Analyzer::new().threads(threads).chunks(&bytes);
            assert_eq!(chunks.concat(), bytes);
            assert!(chunks.iter().all(|chunk| chunk.ends_with(b"\n")));
            let (last, rest) = chunks.split_last().unwrap();
            assert!(rest.iter().all(|chunk| chunk.len() >= DEFAULT_CHUNK_SIZE));
            assert!(last.len() <= DEFAULT_CHUNK_SIZE + line.len());
            // A thread's first chunk is about a quarter of its share.
            let first = chunks[0].len();
            let quarter = bytes.len() / (4 * threads);
            assert!(first >= quarter && first < quarter + line.len(), "{first}");
            assert!(
                chunks
                    .windows(2)
                    .all(|w| w[0].len() + line.len() >= w[1].len())
            );
            assert!(chunks.len() < 40 * threads, "{} chunks", chunks.len());
        }
        // A size asked for is kept.
        let fixed = Analyzer::new().chunk_size(1 << 20).chunks(&bytes);
        assert!(
            fixed[..fixed.len() - 1]
                .iter()
                .all(|c| c.len() - (1 << 20) < line.len())
        );
        assert_eq!(fixed.concat(), bytes);
    }
}
