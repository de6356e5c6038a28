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
