//! `ChunkReader` cuts a stream into runs of whole lines: whatever the chunk
//! size and however the reads split the bytes, the chunks put back
//! together are the input, every chunk but the last ends a line, and
//! parsing chunk by chunk counts and numbers lines as one pass does.

use std::io::{self, Read};

use ctparse::{ChunkReader, Parser};
use proptest::prelude::*;

/// Reads of at most `step` bytes, as a slow pipe gives them.
/// When `fails` is set, a read at the end of the bytes fails instead of
/// ending the stream, as a truncated gzip file does.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
    fails: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fails && self.bytes.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut short"));
        }
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn chunks(bytes: &[u8], chunk_size: usize, step: usize) -> Vec<Vec<u8>> {
    let fails = false;
    let mut reader = ChunkReader::new(Trickle { bytes, step, fails }, chunk_size);
    let mut chunk = Vec::new();
    let mut out = Vec::new();
    while reader.next_chunk(&mut chunk).unwrap() {
        out.push(chunk.clone());
    }
    out
}

fn check(bytes: &[u8], chunk_size: usize, step: usize) -> Result<(), TestCaseError> {
    let cut = chunks(bytes, chunk_size, step);
    prop_assert_eq!(cut.concat(), bytes.to_vec());
    prop_assert!(cut.iter().all(|chunk| !chunk.is_empty()));
    if let Some((_, whole)) = cut.split_last() {
        prop_assert!(whole.iter().all(|chunk| chunk.ends_with(b"\n")));
    }
    // Parsing chunk by chunk, numbering lines on, gives one pass's items.
    let mut whole = Parser::new(bytes);
    let expected: Vec<_> = whole.by_ref().collect();
    let mut got = Vec::new();
    let mut next_line = 1;
    let mut lines = 0;
    for chunk in &cut {
        let mut parser = Parser::starting_at_line(chunk, next_line);
        got.extend(parser.by_ref());
        lines += parser.stats().lines;
        next_line = parser.line() + 1;
    }
    prop_assert_eq!(got, expected);
    prop_assert_eq!(lines, whole.stats().lines);
    Ok(())
}

const LINE: &str = "tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] use=2";

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Good and bad lines with `\n`, `\r\n`, lone `\r` and blank lines,
    /// with or without a final newline, in chunks of 1 byte up to more
    /// than the input, read 1 byte up to 4 KiB at a time.
    #[test]
    fn chunks_are_whole_lines_and_parse_as_one_pass(
        pieces in prop::collection::vec(
            prop_oneof![
                Just(LINE.to_owned()),
                Just("garbage".to_owned()),
                Just("tcp      6 117 TIME_WAIT src=192.0.2.300".to_owned()),
                Just(String::new()),
                "[a \\r]{0,12}",
            ],
            0..12,
        ),
        ends in prop::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r"), Just("")], 12),
        chunk_size in 1usize..400,
        step in prop_oneof![Just(1usize), 1usize..64, Just(4096)],
    ) {
        let mut bytes = Vec::new();
        for (piece, end) in pieces.iter().zip(&ends) {
            bytes.extend_from_slice(piece.as_bytes());
            bytes.extend_from_slice(end.as_bytes());
        }
        check(&bytes, chunk_size, step)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// A stream that fails part way gives every whole line read before the
    /// failure, in whole-line chunks, then the error once, then its end;
    /// the line the failure cut short is kept apart.
    #[test]
    fn bytes_read_before_an_error_come_before_it(
        lines in 0usize..20,
        cut in 0usize..4000,
        chunk_size in 1usize..400,
        step in prop_oneof![Just(1usize), 1usize..64, Just(4096)],
    ) {
        let whole = format!("{LINE}\n").repeat(lines);
        let bytes = &whole.as_bytes()[..cut.min(whole.len())];
        let fails = true;
        let mut reader = ChunkReader::new(Trickle { bytes, step, fails }, chunk_size);
        let mut chunk = Vec::new();
        let mut got = Vec::new();
        let error = loop {
            match reader.next_chunk(&mut chunk) {
                Ok(true) => {
                    prop_assert!(!chunk.is_empty());
                    got.push(chunk.clone());
                }
                Ok(false) => prop_assert!(false, "the stream ended without its error"),
                Err(error) => break error,
            }
        };
        prop_assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let whole_lines = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
        prop_assert_eq!(got.concat(), bytes[..whole_lines].to_vec());
        prop_assert_eq!(reader.cut(), &bytes[whole_lines..]);
        prop_assert!(got.iter().all(|chunk| chunk.ends_with(b"\n")));
        prop_assert!(!reader.next_chunk(&mut chunk).unwrap());
        prop_assert!(chunk.is_empty());
    }
}

#[test]
fn a_chunk_size_of_usize_max_reads_the_whole_stream_as_one_chunk() {
    let bytes = format!("{LINE}\n{LINE}\r\ngarbage\n{LINE}").into_bytes();
    let cut = chunks(&bytes, usize::MAX, 7);
    assert_eq!(cut, vec![bytes.clone()]);
    check(&bytes, usize::MAX, 7).unwrap();
}

/// Line numbers stop at `u64::MAX` rather than overflow: a parser told
/// its chunk starts at the last line number reads on without panicking,
/// in both of its forms.
#[test]
fn line_numbers_saturate_at_the_last_one() {
    let good = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
    let mut buf = Vec::new();
    for _ in 0..3 {
        buf.extend_from_slice(good);
        buf.extend_from_slice(b"garbage\n");
    }
    let lines: Vec<u64> = Parser::starting_at_line(&buf, u64::MAX)
        .filter_map(Result::err)
        .map(|e| e.line)
        .collect();
    assert_eq!(lines, [u64::MAX; 3]);
    let mut parser = Parser::starting_at_line(&buf, u64::MAX);
    let mut flows = 0;
    parser.for_each_ref(|item| flows += u64::from(item.is_ok()));
    assert_eq!((flows, parser.stats().lines), (3, 6));
}

/// A line longer than `MAX_LINE` is an error wherever it is read, and a
/// stream keeps only its start: the chunks stay small however long the
/// line (1 MiB here, 16 chunks' worth, in reads of every size), the lines around it read as
/// in one pass over the whole buffer, with the same numbers, and every
/// byte is either handed out or counted as skipped.
#[test]
fn overlong_lines_are_errors_and_a_stream_keeps_only_their_start() {
    use ctparse::{ErrorKind, MAX_LINE};
    let good = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1";
    // A valid entry whose security context makes it one byte too long,
    // which the fast path would read, and one just at the limit.
    let entry_of = |len: usize| {
        let mut line = good.to_vec();
        line.extend_from_slice(b" secctx=");
        line.resize(len, b'a');
        line
    };
    let long_entry = entry_of(MAX_LINE + 1);
    let limit_entry = entry_of(MAX_LINE);
    assert!(ctparse::parse_line(&limit_entry).is_ok());
    let error = ctparse::parse_line(&long_entry).unwrap_err();
    assert_eq!((&error.kind, error.column), (&ErrorKind::LineTooLong, 1));
    assert!(
        error
            .to_string()
            .starts_with("1:1: line longer than 65536 bytes"),
        "{error}"
    );

    let garbage = vec![0u8; 1 << 20];
    for ending in [&b"\n"[..], b"\r\n"] {
        let mut buf = Vec::new();
        for line in [
            &good[..],
            &garbage,
            good,
            &long_entry,
            &limit_entry,
            good,
            &garbage,
        ] {
            buf.extend_from_slice(line);
            buf.extend_from_slice(ending);
        }
        // Without its last line end too: the stream ends inside the line.
        for bytes in [&buf[..], &buf[..buf.len() - ending.len()]] {
            let expected: Vec<_> = Parser::new(bytes).collect();
            let kinds: Vec<_> = expected
                .iter()
                .map(|item| item.as_ref().err().map(|e| (e.line, e.kind.clone())))
                .collect();
            assert_eq!(
                kinds,
                [
                    None,
                    Some((2, ErrorKind::LineTooLong)),
                    None,
                    Some((4, ErrorKind::LineTooLong)),
                    None,
                    None,
                    Some((7, ErrorKind::LineTooLong)),
                ]
            );
            for step in [1 << 12, 100_000, 1 << 20] {
                let mut reader = ChunkReader::new(
                    Trickle {
                        bytes,
                        step,
                        fails: false,
                    },
                    1 << 16,
                );
                let mut chunk = Vec::new();
                let (mut got, mut handed_out, mut next_line) = (Vec::new(), 0, 1);
                while reader.next_chunk(&mut chunk).unwrap() {
                    // The chunk size, the kept start, one read: never the line.
                    assert!(chunk.len() < garbage.len() / 2, "{}", chunk.len());
                    handed_out += chunk.len() as u64;
                    let mut parser = Parser::starting_at_line(&chunk, next_line);
                    got.extend(
                        parser
                            .by_ref()
                            .map(|item| item.map(|flow| flow.raw.to_vec())),
                    );
                    next_line = parser.line() + 1;
                }
                let expected: Vec<_> = expected
                    .iter()
                    .map(|item| item.clone().map(|flow| flow.raw.to_vec()))
                    .collect();
                assert_eq!(got, expected, "step {step}");
                assert_eq!(handed_out + reader.skipped(), bytes.len() as u64);
                assert!(reader.skipped() > 0);
            }
        }
    }
}

/// A read error inside a line too long to keep: the bytes of the cut line
/// (its kept start and the rest read past) are the cut's, not skipped, so
/// chunks, skipped bytes and the cut add up to every byte read.
#[test]
fn a_read_error_inside_an_overlong_line_cuts_all_of_it() {
    use ctparse::MAX_LINE;
    let good = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
    let mut bytes = good.to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
    for step in [1 << 12, 1 << 20] {
        let trickle = Trickle {
            bytes: &bytes,
            step,
            fails: true,
        };
        let mut reader = ChunkReader::new(trickle, 1 << 16);
        let mut chunk = Vec::new();
        let mut handed_out = Vec::new();
        let error = loop {
            match reader.next_chunk(&mut chunk) {
                Ok(true) => handed_out.extend_from_slice(&chunk),
                Ok(false) => panic!("the stream fails"),
                Err(error) => break error,
            }
        };
        assert_eq!(error.to_string(), "cut short");
        assert_eq!(handed_out, good);
        assert_eq!(reader.skipped(), 0, "step {step}");
        assert_eq!(reader.cut_len(), 1 << 20, "step {step}");
        assert_eq!(reader.cut(), &bytes[good.len()..good.len() + MAX_LINE + 2]);
    }
}

/// A regular file that its filesystem cannot map (a sysfs attribute
/// reports 4,096 bytes and refuses `mmap` with ENODEV) is streamed, not
/// refused with "No such device".
#[cfg(target_os = "linux")]
#[test]
fn a_file_that_cannot_be_mapped_is_streamed() {
    let path = std::path::Path::new("/sys/devices/system/cpu/online");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have sysfs ({} is missing)",
            path.display()
        );
        eprintln!(
            "\n*** SKIPPED: {} is missing (no sysfs) ***\n",
            path.display()
        );
        return;
    }
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.is_file() && meta.len() > 0, "{meta:?}");
    let ctparse::Source::Stream(mut stream) = ctparse::Source::open(path).unwrap() else {
        panic!("a sysfs attribute cannot be mapped");
    };
    let mut bytes = Vec::new();
    stream.0.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, std::fs::read(path).unwrap());
    assert!(bytes.ends_with(b"\n"), "{bytes:?}");
}

/// A directory is an error when it is opened, not a stream that fails on
/// its first read.
#[test]
fn a_directory_is_an_error_when_opened() {
    let dir = std::env::temp_dir();
    let Err(error) = ctparse::Source::open(&dir) else {
        panic!("{} opened", dir.display());
    };
    assert_eq!(error.kind(), std::io::ErrorKind::IsADirectory);
}

const TRAILER: &str = "conntrack v1.4.7 (conntrack-tools): 9 flow entries have been shown.";

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// `conntrack -L 2>&1` splices its trailer into entries: wherever it
    /// lands (any byte of any line, several times, in a row), pieces cut
    /// by `line_chunks` or a stream's `ChunkReader` of any size read as
    /// one pass over the whole input, mended entries included.
    #[test]
    fn spliced_entries_read_alike_however_the_input_is_cut(
        lines in prop::collection::vec(
            (prop_oneof![Just(LINE), Just("garbage")], prop::option::of(0usize..200)),
            1..10,
        ),
        crlf in any::<bool>(),
        last_newline in any::<bool>(),
        chunk_size in 1usize..600,
        step in prop_oneof![Just(1usize), 1usize..64, Just(4096)],
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        for (line, splice) in &lines {
            match splice {
                Some(at) if *at < line.len() => {
                    text.push_str(&line[..*at]);
                    text.push_str(TRAILER);
                    text.push_str(end);
                    text.push_str(&line[*at..]);
                }
                _ => text.push_str(line),
            }
            text.push_str(end);
        }
        if !last_newline {
            text.truncate(text.len() - end.len());
        }
        let bytes = text.as_bytes();
        let whole = ctparse::testing::lent_by_pieces(&[bytes]);
        let pieces: Vec<&[u8]> = ctparse::line_chunks(bytes, chunk_size).collect();
        prop_assert_eq!(&ctparse::testing::lent_by_pieces(&pieces), &whole);
        let streamed = chunks(bytes, chunk_size, step);
        let streamed: Vec<&[u8]> = streamed.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(&ctparse::testing::lent_by_pieces(&streamed), &whole);
    }
}
