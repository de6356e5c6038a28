//! The parallel driver equals the sequential reference: 1, 2 and 7
//! threads, odd chunk sizes, mapped and streamed input, on generated dumps
//! and on every fixture.

use std::path::Path;

use ctanalyze::{Aggregates, Analyzer, Filter, Summary, SummaryFeed};
use ctparse::{Dialect, Parser};
use proptest::prelude::*;

/// The plainest possible pass: one parser over the whole buffer.
fn naive(bytes: &[u8], filter: &Filter, max_errors: usize) -> Summary {
    let mut summary = Summary::with_error_limit(max_errors);
    let mut parser = Parser::new(bytes);
    parser.for_each_ref(|result| match result {
        Ok(flow) => summary.add_filtered(flow, filter),
        Err(error) => summary.totals.error_samples.add(ctanalyze::ErrorSample {
            input: 0,
            chunk_offset: 0,
            error,
        }),
    });
    summary.totals.add_stats(parser.stats());
    summary.totals.bytes = bytes.len() as u64;
    summary
}

/// Every path, with every aggregate and the doctor's breakdown, against
/// [`naive`] (with the breakdown of the flows that pass the filter).
fn check_all_paths(bytes: &[u8], filter: &Filter, chunk_size: usize) -> Result<(), TestCaseError> {
    let mut reference = naive(bytes, filter, 7);
    Parser::new(bytes).for_each_ref(|result| {
        if let Ok(flow) = result
            && filter.matches(flow)
        {
            reference.breakdown.add(flow);
        }
    });
    for threads in [1, 2, 7] {
        let analyzer = Analyzer::new()
            .threads(threads)
            .chunk_size(chunk_size)
            .max_errors(7)
            .aggregates(Aggregates::ALL | Aggregates::BREAKDOWN)
            .filter(filter.clone());
        let mapped = analyzer.analyze_bytes(bytes);
        prop_assert_eq!(
            &mapped,
            &reference,
            "mapped, {} threads, chunks of {}",
            threads,
            chunk_size
        );
        let streamed = analyzer.analyze_stream(0, bytes).unwrap();
        prop_assert_eq!(&streamed, &reference, "streamed, {} threads", threads);
        let file = analyze_file(&analyzer, bytes);
        prop_assert_eq!(&file, &reference, "file, {} threads", threads);
        // Pushed in pieces of the chunk size, cut anywhere.
        let mut feed = SummaryFeed::new(&analyzer, 0);
        for piece in bytes.chunks(chunk_size) {
            feed.push(piece);
        }
        prop_assert_eq!(&feed.finish(), &reference, "fed, {} threads", threads);
    }
    Ok(())
}

/// `bytes` as a file opened with [`ctparse::Source::open`] (mapped, and
/// read in pieces, when not empty).
fn analyze_file(analyzer: &Analyzer, bytes: &[u8]) -> Summary {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ctanalyze-parallel-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.txt");
    std::fs::write(&path, bytes).unwrap();
    let source = ctparse::Source::open(&path).unwrap();
    let summary = analyzer.analyze_source(0, source).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    summary
}

/// A mapped file is read in pieces of 256 KiB: lines cut by a piece's
/// end, a line longer than a piece, and malformed lines in any piece
/// count as in one sequential pass, with the same line numbers.
#[test]
fn a_file_read_in_pieces_equals_the_sequential_pass() {
    let mut bytes = generated(11, 9_000, 53, Dialect::Proc);
    // A malformed line of 300 KiB in the middle, and no line end at the end.
    let middle = bytes.len() / 2;
    let middle = middle + bytes[middle..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let long: Vec<u8> = std::iter::repeat_n(b'x', 300 << 10)
        .chain([b'\n'])
        .collect();
    bytes.splice(middle..middle, long);
    bytes.pop();
    assert!(bytes.len() > 4 * (256 << 10), "{}", bytes.len());
    let reference = naive(&bytes, &Filter::default(), 1000);
    assert!(reference.totals.errors > 100);
    for threads in [1, 2] {
        // One chunk (many pieces), and the automatic split.
        for chunk_size in [Some(1 << 30), None] {
            let mut analyzer = Analyzer::new().threads(threads).max_errors(1000);
            if let Some(size) = chunk_size {
                analyzer = analyzer.chunk_size(size);
            }
            assert_eq!(
                analyze_file(&analyzer, &bytes),
                reference,
                "{threads} threads, chunks of {chunk_size:?}"
            );
        }
    }
}

/// `bytes` as a file, analyzed from its map on one thread in chunks of
/// 64 KiB, with `change` made to the file (at its path) once, after the
/// first chunk: as another process would while the pass runs.
fn analyzed_while_changed(
    name: &str,
    bytes: &[u8],
    change: impl Fn(&Path) + Send + Sync + 'static,
) -> Result<Summary, ctanalyze::ReadError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = std::env::temp_dir().join(format!("ctanalyze-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.txt");
    std::fs::write(&path, bytes).unwrap();
    let source = ctparse::Source::open(&path).unwrap();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let (to_change, at) = (done.clone(), path.clone());
    let analyzer = Analyzer::new()
        .threads(1)
        .chunk_size(64 << 10)
        .max_errors(20)
        .progress(std::sync::Arc::new(move |_| {
            if !to_change.swap(true, Ordering::SeqCst) {
                change(&at);
            }
        }));
    let result = analyzer.analyze_source(0, source);
    assert!(done.load(Ordering::SeqCst));
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

/// A mapped file that another process truncates while it is read gives
/// an error saying so, not a summary of a mix of its versions, nor the
/// `SIGBUS` of reading the vanished pages from the map.
#[test]
fn a_file_that_shrinks_while_read_is_an_error() {
    let bytes = generated(17, 6_000, 0, Dialect::Proc);
    assert!(bytes.len() > 8 * (64 << 10), "{}", bytes.len());
    // Emptied, as `> dump.txt` does.
    let error = analyzed_while_changed("shrinks", &bytes, |path| {
        std::fs::File::create(path).unwrap();
    })
    .unwrap_err();
    assert_eq!(error.error().kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(
        error.error().to_string().contains(&format!(
            "the file shrank while it was read (it had {} bytes when opened)",
            bytes.len()
        )),
        "{}",
        error.error()
    );
    // Only the chunk read before the cut (64 KiB to its line end) counts.
    let read = error.partial().totals.bytes;
    assert!((64 << 10..(64 << 10) + 1024).contains(&read), "{read}");
}

/// A stream read at its writer's pace does not hold the analyzer's pool:
/// another pass on the same pool (a clone of the analyzer) runs to its end
/// while the stream waits for its writer.
#[test]
fn a_slow_stream_does_not_hold_the_pool() {
    use std::sync::mpsc;
    use std::time::Duration;
    /// Bytes that come when the test sends them; the end when it drops
    /// its sender.
    struct Writer(mpsc::Receiver<Vec<u8>>, Vec<u8>);
    impl std::io::Read for Writer {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(bytes) => self.1 = bytes,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }
    let bytes = generated(23, 2_000, 0, Dialect::Proc);
    let analyzer = Analyzer::new().threads(2).chunk_size(4096);
    let (write, written) = mpsc::channel();
    let streaming = {
        let analyzer = analyzer.clone();
        std::thread::spawn(move || analyzer.analyze_stream(0, Writer(written, Vec::new())))
    };
    write.send(bytes[..bytes.len() / 2].to_vec()).unwrap();
    // The stream waits for the rest; another pass on the pool meanwhile.
    let (done, finished) = mpsc::channel();
    let other = bytes.clone();
    std::thread::spawn(move || done.send(analyzer.analyze_bytes(&other)).unwrap());
    let summary = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a pass on the pool waited for another pass's stream");
    assert_eq!(summary.totals.flows, 2_000);
    write.send(bytes[bytes.len() / 2..].to_vec()).unwrap();
    drop(write);
    let streamed = streaming.join().unwrap().unwrap();
    assert!(
        streamed == summary,
        "the stream and the bytes count differently"
    );
}

/// A mapped file truncated after it was opened and before the pass
/// starts is an error too, on every thread count and chunk size, without
/// [`ctparse::exit_when_mapped_file_shrinks`]: the pass cuts its chunks
/// with positional reads, never from the map, whose pages past the new
/// end would fault (`SIGBUS`, the test process killed).
#[test]
fn a_file_truncated_before_the_pass_is_an_error() {
    let bytes = generated(19, 6_000, 0, Dialect::Proc);
    let dir = std::env::temp_dir().join(format!("ctanalyze-truncated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.txt");
    for (threads, chunk_size) in [(1, None), (2, None), (2, Some(64 << 10))] {
        std::fs::write(&path, &bytes).unwrap();
        let source = ctparse::Source::open(&path).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(bytes.len() as u64 / 3).unwrap();
        let mut analyzer = Analyzer::new().threads(threads);
        if let Some(size) = chunk_size {
            analyzer = analyzer.chunk_size(size);
        }
        let error = analyzer.analyze_source(0, source).unwrap_err();
        assert_eq!(
            error.error().kind(),
            std::io::ErrorKind::UnexpectedEof,
            "{threads} threads, chunks of {chunk_size:?}: {}",
            error.error()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A mapped file rewritten while it is read, without shrinking, gives an
/// error too: no read comes back short, but its first bytes are not
/// those of when it was opened. An append (a `conntrack -E` log still
/// growing) is no error: the bytes read are those of then, and only they
/// are counted. Both are made at once after the file is written: within
/// the filesystem's timestamp tick, so the time cannot tell; the bytes do.
#[test]
fn a_file_rewritten_while_read_is_an_error_and_an_append_is_not() {
    use std::io::Write;
    let bytes = generated(19, 6_000, 0, Dialect::Proc);
    let reference = naive(&bytes, &Filter::default(), 20);
    // The same size: the first family name in capitals.
    let error = analyzed_while_changed("rewritten", &bytes, |path| {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.write_all(b"IPV4").unwrap();
    })
    .unwrap_err();
    assert!(
        error
            .error()
            .get_ref()
            .is_some_and(|e| e.is::<ctparse::Changed>()),
        "{}",
        error.error()
    );
    // The first line again, at the end.
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let first = bytes[..=end].to_vec();
    let summary = analyzed_while_changed("appended", &bytes, move |path| {
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(&first).unwrap();
    })
    .unwrap();
    assert_eq!(summary.totals.flows, reference.totals.flows);
    assert_eq!(summary.totals.lines, reference.totals.lines);
}

/// Lines longer than `ctparse::MAX_LINE` (3 MiB of NULs, longer than a
/// stream's chunk, and one of a valid entry made too long by its security
/// context) are malformed on every path, the streamed one keeping only
/// their start; every byte still counts, and the doctor's breakdown fed
/// in pieces agrees.
#[test]
fn overlong_lines_count_alike_on_every_path() {
    let mut bytes = generated(13, 2_000, 0, Dialect::Proc);
    let entry = bytes.split(|&b| b == b'\n').next().unwrap().to_vec();
    let mut long_entry = entry.clone();
    long_entry.extend_from_slice(b" secctx=");
    long_entry.resize(ctparse::MAX_LINE + 1, b'a');
    let mut insert = |at: usize, line: &[u8]| {
        let at = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
        bytes.splice(at..at, line.iter().copied().chain([b'\n']));
    };
    insert(1_000, &vec![0; 3 << 20]);
    insert(100, &long_entry);
    let reference = naive(&bytes, &Filter::default(), 7);
    assert_eq!(reference.totals.errors, 2);
    assert_eq!(reference.totals.flows, 2_000);
    check_all_paths(&bytes, &Filter::default(), 4096).unwrap();

    let whole = ctanalyze::doctor::Breakdown::from_bytes(&bytes);
    let mut feed = ctanalyze::doctor::BreakdownFeed::default();
    for piece in bytes.chunks(100_000) {
        feed.push(piece);
    }
    assert_eq!(feed.finish(), whole);
}

/// `conntrack -L 2>&1` splices its trailer into the entry that stdout's
/// last block cuts. On every path (chunks of any size, a file's pieces of
/// 256 KiB, a stream's chunks, pushes cut anywhere) the entry is mended
/// from its two parts as one pass over the whole buffer mends it: also
/// when the splice's line end falls just before a file piece's end, where
/// a cut after whole lines would part them.
#[test]
fn a_spliced_entry_is_mended_on_every_path_wherever_the_input_is_cut() {
    let listing = generated(3, 1_600, 0, Dialect::Conntrack);
    let flows = Parser::new(&listing).count();
    let trailer =
        format!("conntrack v1.4.7 (conntrack-tools): {flows} flow entries have been shown.\n");
    let piece = 256 << 10;
    assert!(listing.len() > piece + 4096);
    // The line across the first piece's end, and the one before it.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            listing
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let across = starts.partition_point(|&s| s <= piece) - 1;
    let mut cuts = Vec::new();
    for line in [across - 1, across] {
        let (start, end) = (starts[line], starts[line + 1] - 1);
        // The splice's line end at the piece's end or just before it, and
        // cuts anywhere in the entry.
        let before_end = (piece - 1).saturating_sub(start + trailer.len());
        for at in [
            before_end,
            before_end.saturating_sub(1),
            1,
            (end - start) / 2,
            end - start - 1,
        ] {
            if (1..end - start).contains(&at) {
                cuts.push(start + at);
            }
        }
    }
    let reference = naive(&listing, &Filter::default(), 7);
    for cut in cuts {
        let mut bytes = listing[..cut].to_vec();
        bytes.extend_from_slice(trailer.as_bytes());
        bytes.extend_from_slice(&listing[cut..]);
        let mended = naive(&bytes, &Filter::default(), 7);
        assert_eq!(mended.totals.errors, 0, "cut at {cut}");
        assert_eq!(
            (mended.totals.trailers, mended.totals.shown),
            (1, flows as u64)
        );
        // The same flows as the listing without its trailer.
        let mut without = mended.clone();
        without.totals = reference.totals.clone();
        assert_eq!(without, reference, "cut at {cut}");
        for chunk_size in [1, 4099, 1 << 20] {
            if let Err(e) = check_all_paths(&bytes, &Filter::default(), chunk_size) {
                panic!("cut at {cut}, chunks of {chunk_size}: {e}");
            }
        }
    }
}

fn generated(seed: u64, flows: u64, malformed_every: u64, dialect: Dialect) -> Vec<u8> {
    let mut out = Vec::new();
    let options = ctgen::Options {
        flows,
        seed,
        malformed_every,
        dialect,
        clients: 500,
        syn_flood: false,
    };
    ctgen::generate(&mut out, &options).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn parallel_equals_sequential_on_generated_dumps(
        seed in any::<u64>(),
        flows in 0u64..3000,
        malformed_every in prop::sample::select(vec![0u64, 1, 13, 401]),
        dialect in prop::sample::select(vec![Dialect::Proc, Dialect::Conntrack, Dialect::ConntrackExtended]),
        chunk_size in prop::sample::select(vec![1usize, 7, 333, 4099, 65_537]),
        tcp_only in any::<bool>(),
    ) {
        let bytes = generated(seed, flows, malformed_every, dialect);
        let filter = if tcp_only {
            Filter { protocol: Some(ctparse::Protocol::TCP), ..Filter::default() }
        } else {
            Filter::default()
        };
        check_all_paths(&bytes, &filter, chunk_size)?;
    }
}

#[test]
fn parallel_equals_sequential_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "txt") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 8, "fixtures not found: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        for chunk_size in [1, 3, 101, 1 << 20] {
            if let Err(e) = check_all_paths(&bytes, &Filter::default(), chunk_size) {
                panic!("{}: {e}", path.display());
            }
        }
    }
}

/// A source whose counters add up to zero bytes is still listed in
/// `source_bytes` (with 0), and one without counters is not, on every
/// path: the driver folds sources and their bytes together and splits
/// them at the end.
#[test]
fn sources_with_zero_bytes_and_without_counters_are_kept_apart() {
    let bytes: &[u8] = b"\
udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 packets=1 bytes=0 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 packets=0 bytes=0 mark=0 use=1
udp      17 29 src=192.0.2.2 dst=198.51.100.53 sport=5354 dport=53 src=198.51.100.53 dst=192.0.2.2 sport=53 dport=5354 mark=0 use=1
udp      17 29 src=192.0.2.3 dst=198.51.100.53 sport=5355 dport=53 packets=1 bytes=76 src=198.51.100.53 dst=192.0.2.3 sport=53 dport=5355 packets=1 bytes=92 mark=0 use=1
";
    let reference = naive(bytes, &Filter::default(), 7);
    let addr = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(reference.sources.len(), 3);
    assert_eq!(reference.source_bytes.len(), 2);
    assert_eq!(reference.source_bytes.get(&addr("192.0.2.1")), 0);
    assert_eq!(reference.source_bytes.get(&addr("192.0.2.3")), 168);
    for chunk_size in [1, 200, 4096] {
        check_all_paths(bytes, &Filter::default(), chunk_size).unwrap();
    }
    // Only the bytes, without the flow counts.
    let only_bytes = Analyzer::new()
        .threads(2)
        .chunk_size(1)
        .aggregates(Aggregates::SOURCE_BYTES)
        .analyze_bytes(bytes);
    assert!(only_bytes.sources.is_empty());
    assert_eq!(only_bytes.source_bytes, reference.source_bytes);
}

/// Counters are read from the dump: sums past `u64::MAX` saturate, on
/// every path, instead of panicking (debug) or wrapping (release).
#[test]
fn counter_sums_saturate_instead_of_overflowing() {
    let max = u64::MAX;
    let line = |sport: u32, bytes: u64| {
        format!(
            "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport={sport} dport=53 packets={max} \
             bytes={bytes} src=198.51.100.53 dst=192.0.2.1 sport=53 dport={sport} packets=1 \
             bytes={bytes} mark=0 use=1\n"
        )
    };
    let bytes = [line(5353, max), line(5354, max), line(5355, 7)].concat();
    let reference = naive(bytes.as_bytes(), &Filter::default(), 7);
    assert_eq!(reference.accounting.orig_packets, max);
    assert_eq!(reference.accounting.orig_bytes, max);
    assert_eq!(reference.accounting.reply_packets, 3);
    assert_eq!(reference.source_bytes.total(), max);
    for chunk_size in [1, 300, 4096] {
        check_all_paths(bytes.as_bytes(), &Filter::default(), chunk_size).unwrap();
    }
}

#[test]
fn error_lines_are_absolute_whatever_the_chunking() {
    let bytes = generated(7, 500, 50, Dialect::Proc);
    let reference = naive(&bytes, &Filter::default(), 100);
    assert_eq!(reference.totals.errors, 10);
    let lines: Vec<u64> = reference
        .totals
        .error_samples
        .samples
        .iter()
        .map(|s| s.error.line)
        .collect();
    // Flow lines 1..=50, then the malformed line 51, and so on.
    assert_eq!(lines, (1..=10).map(|i| i * 51).collect::<Vec<_>>());
    let chunked = Analyzer::new()
        .threads(2)
        .chunk_size(97)
        .max_errors(100)
        .analyze_bytes(&bytes);
    assert_eq!(chunked.totals.error_samples, reference.totals.error_samples);
}

/// `reference` with every keyed aggregate outside `kept` emptied.
fn restricted(reference: &Summary, kept: Aggregates) -> Summary {
    let mut expected = reference.clone();
    let keep = |aggregate| kept.contains(aggregate);
    if !keep(Aggregates::SOURCES) {
        expected.sources = Default::default();
    }
    if !keep(Aggregates::DESTINATIONS) {
        expected.destinations = Default::default();
    }
    if !keep(Aggregates::PORTS) {
        expected.destination_ports = Default::default();
    }
    if !keep(Aggregates::DNAT) {
        expected.dnat = Default::default();
    }
    if !keep(Aggregates::SNAT) {
        expected.snat = Default::default();
    }
    if !keep(Aggregates::ZONES) {
        expected.zones = Default::default();
    }
    if !keep(Aggregates::MARKS) {
        expected.marks = Default::default();
    }
    if !keep(Aggregates::SOURCE_BYTES) {
        expected.source_bytes = Default::default();
    }
    if !keep(Aggregates::TIMEOUTS) {
        expected.timeouts = Default::default();
    }
    expected
}

#[test]
fn a_pass_computes_exactly_the_aggregates_asked_for() {
    let bytes = generated(11, 3000, 97, Dialect::Proc);
    let reference = naive(&bytes, &Filter::default(), 7);
    let singles = [
        Aggregates::SOURCES,
        Aggregates::DESTINATIONS,
        Aggregates::PORTS,
        Aggregates::DNAT,
        Aggregates::SNAT,
        Aggregates::ZONES,
        Aggregates::MARKS,
        Aggregates::SOURCE_BYTES,
        Aggregates::TIMEOUTS,
    ];
    // Every aggregate is non-empty on this dump, so emptying one is visible.
    for aggregate in singles {
        assert_ne!(
            restricted(&reference, Aggregates::ALL ^ aggregate),
            reference,
            "{aggregate:?} is empty on the test dump"
        );
    }
    let mut sets = vec![Aggregates::NONE, Aggregates::ALL];
    sets.extend(singles);
    sets.push(Aggregates::SOURCES | Aggregates::TIMEOUTS | Aggregates::SNAT);
    for kept in sets {
        for threads in [1, 2] {
            let summary = Analyzer::new()
                .threads(threads)
                .chunk_size(4099)
                .max_errors(7)
                .aggregates(kept)
                .analyze_bytes(&bytes);
            assert_eq!(
                summary,
                restricted(&reference, kept),
                "{kept:?}, {threads} threads"
            );
        }
    }
}

/// A reader that hands out at most `step` bytes per call, then fails with
/// an I/O error after `fail_after` bytes (if set).
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
    fail_after: Option<usize>,
    read: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.fail_after.is_some_and(|limit| self.read >= limit) {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        self.read += n;
        Ok(n)
    }
}

#[test]
fn streams_of_many_chunks_equal_the_sequential_pass() {
    // About 6 MB: several 1 MiB stream chunks, with malformed lines in them.
    let bytes = generated(5, 30_000, 997, Dialect::Proc);
    assert!(bytes.len() > 5 << 20);
    let reference = naive(&bytes, &Filter::default(), 50);
    for (threads, step) in [(1, 65_536), (2, 4093), (3, 1 << 20)] {
        let analyzer = Analyzer::new().threads(threads).max_errors(50);
        let reader = Trickle {
            bytes: &bytes,
            step,
            fail_after: None,
            read: 0,
        };
        let streamed = analyzer.analyze_stream(0, reader).unwrap();
        assert_eq!(streamed, reference, "{threads} threads, reads of {step}");
    }
}

/// The automatic split of a mapped input (shrinking chunks, at least 1 MiB
/// each) on a buffer of several of them: the same summary as one pass.
#[test]
fn the_automatic_split_equals_the_sequential_pass() {
    let bytes = generated(9, 30_000, 997, Dialect::Conntrack);
    assert!(bytes.len() > 5 << 20);
    let reference = naive(&bytes, &Filter::default(), 50);
    for threads in [1, 2, 3] {
        let mapped = Analyzer::new()
            .threads(threads)
            .max_errors(50)
            .analyze_bytes(&bytes);
        assert_eq!(mapped, reference, "{threads} threads");
    }
}

#[test]
fn a_read_error_mid_stream_keeps_what_was_read() {
    let bytes = generated(5, 30_000, 0, Dialect::Proc);
    let fail_after = 3 << 20;
    let step = 100_000;
    for threads in [1, 2] {
        let reader = Trickle {
            bytes: &bytes,
            step,
            fail_after: Some(fail_after),
            read: 0,
        };
        let error = Analyzer::new()
            .threads(threads)
            .max_errors(50)
            .analyze_stream(0, reader)
            .unwrap_err();
        assert_eq!(error.error().to_string(), "disk on fire");
        let cut = usize::try_from(error.cut()).unwrap();
        let (_, partial) = error.into_parts();
        // Every whole line read before the error is analyzed, exactly as a
        // pass over those bytes counts them; the cut line is set apart.
        let whole = usize::try_from(partial.totals.bytes).unwrap();
        let read = whole + cut;
        assert!(
            (fail_after..fail_after + step).contains(&read),
            "{read} bytes, {threads} threads"
        );
        assert!(cut > 0, "the cut falls inside a line");
        assert!(bytes[..whole].ends_with(b"\n") && !bytes[whole..read].contains(&b'\n'));
        assert_eq!(
            partial,
            naive(&bytes[..whole], &Filter::default(), 50),
            "{threads} threads"
        );
    }
}

/// A feed cut short as a read error cuts a stream: `finish_cut` leaves the
/// unfinished line out, as the analyzer's read error does, and holds its
/// bytes; `finish` counts it.
#[test]
fn a_feed_cut_short_counts_as_a_stream_cut_short() {
    let bytes = generated(5, 30_000, 0, Dialect::Proc);
    let fail_after = 3 << 20;
    let analyzer = Analyzer::new().threads(2).max_errors(50);
    let reader = Trickle {
        bytes: &bytes,
        step: fail_after,
        fail_after: Some(fail_after),
        read: 0,
    };
    let error = analyzer.analyze_stream(0, reader).unwrap_err();
    let cut = usize::try_from(error.cut()).unwrap();
    let (_, partial) = error.into_parts();
    // What the stream read before the error: its whole lines, then the cut.
    let read = usize::try_from(partial.totals.bytes).unwrap() + cut;
    let mut feed = SummaryFeed::new(&analyzer, 0);
    for piece in bytes[..read].chunks(100_000) {
        feed.push(piece);
    }
    assert_eq!(feed.unfinished(), &bytes[read - cut..read]);
    assert!(cut > 0);
    assert_eq!(feed.finish_cut(), partial);
    let mut feed = SummaryFeed::new(&analyzer, 0);
    feed.push(&bytes[..read]);
    let whole = feed.finish();
    assert_eq!(whole, naive(&bytes[..read], &Filter::default(), 50));
    assert_eq!(whole.totals.lines, partial.totals.lines + 1);
}

/// Cut inside a line too long to keep, a feed and a stream agree: only
/// the whole lines before it are counted, bytes included.
#[test]
fn a_cut_inside_an_overlong_line_counts_only_the_lines_before_it() {
    let bytes = generated(3, 200, 0, Dialect::Proc);
    let mut cut = bytes.clone();
    cut.extend(std::iter::repeat_n(b'x', 3 << 20));
    let analyzer = Analyzer::new().threads(2).max_errors(5);
    let reader = Trickle {
        bytes: &cut,
        step: 1 << 16,
        fail_after: Some(cut.len()),
        read: 0,
    };
    let error = analyzer.analyze_stream(0, reader).unwrap_err();
    assert_eq!(error.cut(), 3 << 20);
    let (_, partial) = error.into_parts();
    let reference = naive(&bytes, &Filter::default(), 5);
    assert_eq!(partial, reference);
    let mut feed = SummaryFeed::new(&analyzer, 0);
    for piece in cut.chunks(100_000) {
        feed.push(piece);
    }
    assert_eq!(feed.unfinished().len(), ctparse::MAX_LINE + 2);
    assert_eq!(feed.finish_cut(), reference);
}

#[test]
fn a_read_error_says_how_far_reading_got() {
    let bytes = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 \
        src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\nudp      17";
    let reader = Trickle {
        bytes,
        step: 1,
        fail_after: Some(bytes.len()),
        read: 0,
    };
    let error = Analyzer::new()
        .threads(1)
        .analyze_stream(0, reader)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "reading stopped after 1 line and 11 bytes of the next: disk on fire"
    );
    assert_eq!(error.cut(), 11);
    assert_eq!(error.partial().totals.flows, 1);
    assert_eq!(std::io::Error::from(error).to_string(), "disk on fire");
}
