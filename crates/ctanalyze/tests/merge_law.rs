//! The merge law, aggregate by aggregate: `Default` is the identity, and
//! merging the folds of the parts of any split equals folding the whole,
//! in either order.

use std::fmt::Debug;

use ctanalyze::{ErrorSample, Merge, Summary};
use ctparse::Parser;
use proptest::prelude::*;

/// Folds lines `[start, end)` of `dump` sequentially, numbering them from `start + 1`.
fn fold(lines: &[&[u8]], start: usize, end: usize) -> Summary {
    let mut summary = Summary::with_error_limit(5);
    for (i, line) in lines[start..end].iter().enumerate() {
        let number = (start + i + 1) as u64;
        let mut parser = Parser::starting_at_line(line, number);
        for result in parser.by_ref() {
            match result {
                Ok(flow) => summary.add(&flow),
                Err(error) => summary.totals.error_samples.add(ErrorSample {
                    input: 0,
                    chunk_offset: 0,
                    error,
                }),
            }
        }
        summary.totals.add_stats(parser.stats());
        summary.totals.bytes += line.len() as u64;
    }
    summary
}

fn check_law<A: Merge + Clone + PartialEq + Debug>(
    whole: A,
    left: A,
    right: A,
) -> Result<(), TestCaseError> {
    let mut with_identity = whole.clone();
    with_identity.merge(A::default());
    prop_assert_eq!(
        &with_identity,
        &whole,
        "merging the identity changed the aggregate"
    );
    let mut identity_first = A::default();
    identity_first.merge(whole.clone());
    prop_assert_eq!(
        &identity_first,
        &whole,
        "identity merged with the aggregate is not the aggregate"
    );
    let mut left_right = left.clone();
    left_right.merge(right.clone());
    prop_assert_eq!(
        &left_right,
        &whole,
        "merge(fold(a), fold(b)) != fold(a ++ b)"
    );
    let mut right_left = right;
    right_left.merge(left);
    prop_assert_eq!(&right_left, &whole, "merge is not commutative");
    Ok(())
}

fn dump(seed: u64, flows: u64, malformed_every: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let options = ctgen::Options {
        flows,
        seed,
        malformed_every,
        clients: 50,
        ..ctgen::Options::default()
    };
    ctgen::generate(&mut out, &options).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_aggregate_obeys_the_merge_law(
        seed in any::<u64>(),
        flows in 0u64..300,
        malformed_every in prop::sample::select(vec![0u64, 3, 17]),
        split in any::<prop::sample::Index>(),
    ) {
        let bytes = dump(seed, flows, malformed_every);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let at = split.index(lines.len() + 1);
        let whole = fold(&lines, 0, lines.len());
        let (left, right) = (fold(&lines, 0, at), fold(&lines, at, lines.len()));

        check_law(whole.totals.clone(), left.totals.clone(), right.totals.clone())?;
        check_law(whole.families, left.families, right.families)?;
        check_law(whole.protocols, left.protocols, right.protocols)?;
        check_law(whole.flags, left.flags, right.flags)?;
        check_law(whole.states, left.states, right.states)?;
        check_law(whole.sources.clone(), left.sources.clone(), right.sources.clone())?;
        check_law(whole.destinations.clone(), left.destinations.clone(), right.destinations.clone())?;
        check_law(
            whole.destination_ports.clone(),
            left.destination_ports.clone(),
            right.destination_ports.clone(),
        )?;
        check_law(whole.dnat.clone(), left.dnat.clone(), right.dnat.clone())?;
        check_law(whole.snat.clone(), left.snat.clone(), right.snat.clone())?;
        check_law(whole.zones.clone(), left.zones.clone(), right.zones.clone())?;
        check_law(whole.marks.clone(), left.marks.clone(), right.marks.clone())?;
        check_law(whole.accounting, left.accounting, right.accounting)?;
        check_law(whole.source_bytes.clone(), left.source_bytes.clone(), right.source_bytes.clone())?;
        check_law(whole.timeouts.clone(), left.timeouts.clone(), right.timeouts.clone())?;
        // And the whole summary, which merges all of the above.
        check_law(whole, left, right)?;
    }

    /// Associativity over three parts, grouped both ways.
    #[test]
    fn merge_is_associative(seed in any::<u64>(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let bytes = dump(seed, 120, 7);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let (mut i, mut j) = (a.index(lines.len() + 1), b.index(lines.len() + 1));
        if i > j {
            std::mem::swap(&mut i, &mut j);
        }
        let parts = [fold(&lines, 0, i), fold(&lines, i, j), fold(&lines, j, lines.len())];
        let mut left_first = parts[0].clone();
        left_first.merge(parts[1].clone());
        left_first.merge(parts[2].clone());
        let mut right_first = parts[1].clone();
        right_first.merge(parts[2].clone());
        let mut grouped = parts[0].clone();
        grouped.merge(right_first);
        prop_assert_eq!(&left_first, &grouped);
        prop_assert_eq!(left_first, fold(&lines, 0, lines.len()));
    }
}
