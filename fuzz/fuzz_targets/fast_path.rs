//! `RUSTC_BOOTSTRAP=1 cargo fuzz run fast_path`: differential check of the
//! fast path against the general parser. Wherever the fast path reads a
//! line, the general parser must read the very same flow, and the iterator
//! (whose fast path finds line ends itself), in both its forms, must yield
//! what the general parser gives line by line. A disagreement would be
//! silently wrong numbers, the worst failure of this tool.
#![no_main]

use ctparse::Line;
use ctparse::testing::{fast_path, general_line_by_line, general_parser, lent_by_pieces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (expected, _) = general_line_by_line(data);
    let got: Vec<_> = ctparse::Parser::new(data).collect();
    assert_eq!(got, expected);
    // The internal form lends what it yields (compared in debug form), and
    // mends an entry conntrack's stderr was spliced into, which the
    // iterator yields as two errors.
    let lines = data.split(|&b| b == b'\n');
    if !lines.clone().any(ctparse::continues_on_next_line) {
        let mut lent = Vec::new();
        ctparse::Parser::new(data).for_each_ref(|item| lent.push(format!("{:?}", item.cloned())));
        let expected: Vec<String> = expected.iter().map(|item| format!("{item:?}")).collect();
        assert_eq!(lent, expected);
    }
    // Cut into pieces of whole lines anywhere (as the analyzer's readers
    // cut), then parsed piece by piece: the same items and counts as one
    // pass, a mended entry included.
    let whole = lent_by_pieces(&[data]);
    for size in [1, 7, 200] {
        let pieces: Vec<&[u8]> = ctparse::line_chunks(data, size).collect();
        assert_eq!(lent_by_pieces(&pieces), whole, "pieces of {size}");
    }
    for line in lines {
        if let Some(fast) = fast_path(line) {
            match general_parser(line) {
                Ok(Line::Flow(general)) => assert_eq!(fast, general),
                other => panic!("fast path read {fast:?}, general parser gave {other:?}"),
            }
        }
    }
});

