//! `cargo +nightly fuzz run parse`: no input makes the parser panic, the
//! iterator always reaches the end, and its counts always add up.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parser = ctparse::Parser::new(data);
    let yielded = parser.by_ref().count() as u64;
    let stats = parser.stats();
    assert_eq!(stats.lines, stats.flows + stats.skipped + stats.errors);
    assert_eq!(yielded, stats.flows + stats.errors);
    // Every chunking of the same bytes sees the same lines.
    let chunked: u64 = ctparse::line_chunks(data, 7).map(|c| ctparse::Parser::new(c).count() as u64).sum();
    assert_eq!(chunked, yielded);
});
