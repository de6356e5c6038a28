//! Micro-benchmarks: parse only, summary with one and with all threads,
//! chunk splitting, top-N selection. Every benchmark first asserts the
//! count it must find, so a broken fast path cannot look fast.
//!
//! `cargo bench -p ctanalyze --bench analyze` (release profile). The dump
//! is generated in memory by `ctgen` (seed 1, /proc dialect).

use std::sync::LazyLock;

use ctanalyze::{Analyzer, Summary};
use ctparse::{Dialect, Parser, line_chunks};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

const FLOWS: u64 = 200_000;

static DUMP: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut dump = Vec::new();
    let options = ctgen::Options {
        flows: FLOWS,
        dialect: Dialect::Proc,
        ..ctgen::Options::default()
    };
    let written = ctgen::generate(&mut dump, &options).unwrap();
    assert_eq!(written.flows, FLOWS);
    dump
});

static SUMMARY: LazyLock<Summary> =
    LazyLock::new(|| Analyzer::new().threads(1).analyze_bytes(&DUMP));

fn main() {
    divan::main();
}

fn throughput<'a, 'b>(bencher: Bencher<'a, 'b>) -> Bencher<'a, 'b> {
    bencher
        .counter(BytesCount::new(DUMP.len()))
        .counter(ItemsCount::new(FLOWS))
}

#[divan::bench]
fn parse_only(bencher: Bencher<'_, '_>) {
    assert_eq!(
        Parser::new(&DUMP).filter(Result::is_ok).count() as u64,
        FLOWS
    );
    throughput(bencher).bench(|| Parser::new(black_box(&DUMP)).filter(Result::is_ok).count());
}

/// The same pass through `for_each_ref`, the internal form the analyzer
/// folds with (each flow lent where it was parsed, not moved out).
#[divan::bench]
fn parse_only_for_each_ref(bencher: Bencher<'_, '_>) {
    let count = |dump: &[u8]| {
        let mut flows = 0u64;
        Parser::new(dump).for_each_ref(|item| flows += u64::from(item.is_ok()));
        flows
    };
    assert_eq!(count(&DUMP), FLOWS);
    throughput(bencher).bench(|| count(black_box(&DUMP)));
}

#[divan::bench(args = [1, 2])]
fn summary(bencher: Bencher<'_, '_>, threads: usize) {
    let analyzer = Analyzer::new().threads(threads);
    assert_eq!(analyzer.analyze_bytes(&DUMP).totals.flows, FLOWS);
    throughput(bencher).bench(|| analyzer.analyze_bytes(black_box(&DUMP)));
}

#[divan::bench]
fn chunk_splitting(bencher: Bencher<'_, '_>) {
    let lines: usize = line_chunks(&DUMP, 1 << 20)
        .map(|c| memchr::memchr_iter(b'\n', c).count())
        .sum();
    assert_eq!(lines as u64, FLOWS);
    bencher
        .counter(BytesCount::new(DUMP.len()))
        .bench(|| line_chunks(black_box(&DUMP), 1 << 20).count());
}

#[divan::bench(args = [10, 1000])]
fn top_n_sources(bencher: Bencher<'_, '_>, n: usize) {
    assert_eq!(SUMMARY.sources.total(), FLOWS);
    assert_eq!(SUMMARY.sources.top(n).len(), n.min(SUMMARY.sources.len()));
    bencher.bench(|| SUMMARY.sources.top(black_box(n)));
}
