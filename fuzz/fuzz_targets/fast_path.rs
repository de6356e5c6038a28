//! `RUSTC_BOOTSTRAP=1 cargo fuzz run fast_path`: differential check of the
//! fast path against the general parser. Wherever the fast path reads a
//! line, the general parser must read the very same flow; a disagreement
//! would be silently wrong numbers, the worst failure of this tool.
#![no_main]

use ctparse::Line;
use ctparse::testing::{fast_path, general_parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if let Some(fast) = fast_path(line) {
            match general_parser(line) {
                Ok(Line::Flow(general)) => assert_eq!(fast, general),
                other => panic!("fast path read {fast:?}, general parser gave {other:?}"),
            }
        }
    }
});
