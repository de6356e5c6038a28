//! Byte-level helpers for the small text inputs (sysctl and statistics
//! files): lines found with `memchr`, ASCII numbers, printable tokens.

/// The lines of `text`, numbered from 1, without `\n` or `\r\n`.
pub(crate) struct Lines<'a> {
    text: &'a [u8],
    number: u64,
}

impl<'a> Lines<'a> {
    /// The lines of `text`, after a UTF-8 byte-order mark (a file saved by
    /// a Windows editor: without this its first setting was lost). The
    /// columns of the first line then count from after the mark.
    pub(crate) fn new(text: &'a [u8]) -> Lines<'a> {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        Lines { text, number: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.text.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.text) {
            Some(end) => (&self.text[..end], &self.text[end + 1..]),
            None => (self.text, &[][..]),
        };
        self.text = rest;
        self.number += 1;
        Some((self.number, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `bytes` without leading and trailing spaces and tabs, with the 0-based
/// column where it starts (`offset` is the column of `bytes[0]`).
pub(crate) fn trim(bytes: &[u8], offset: usize) -> (usize, &[u8]) {
    let start = bytes
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |e| e + 1);
    (offset + start, &bytes[start..end])
}

/// The blank-separated tokens of `line`, each with its 0-based column.
pub(crate) fn tokens(line: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < line.len() && is_blank(line[at]) {
            at += 1;
        }
        if at == line.len() {
            return None;
        }
        let start = at;
        while at < line.len() && !is_blank(line[at]) {
            at += 1;
        }
        Some((start, &line[start..at]))
    })
}

/// A decimal `u64` from ASCII digits only (no sign, no overflow).
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// A hexadecimal `u64` (no `0x` prefix), as `/proc/net/stat` prints them.
pub(crate) fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some((n << 4) | u64::from(v))
    })
}

/// The longest token shown in a message.
const SHOWN: usize = 40;

/// A token for a message: printable ASCII as is, anything else as `\xNN`,
/// at most [`SHOWN`] bytes then `...`.
pub(crate) fn shown(token: &[u8]) -> String {
    let mut out = String::new();
    for &b in token.iter().take(SHOWN) {
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if token.len() > SHOWN {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_strip_crlf_and_count_a_last_line_without_newline() {
        let lines: Vec<_> = Lines::new(b"a\r\n\nb").collect();
        assert_eq!(lines, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]);
        assert_eq!(Lines::new(b"").count(), 0);
        let marked: Vec<_> = Lines::new(b"\xef\xbb\xbfa\r\nb").collect();
        assert_eq!(marked, [(1, &b"a"[..]), (2, b"b")]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_decimal(b"262144"), Some(262144));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_hex(b"000001be"), Some(446));
        assert_eq!(parse_hex(b"FFFFFFFFFFFFFFFF"), Some(u64::MAX));
        assert_eq!(parse_hex(b"10000000000000000"), None);
        assert_eq!(parse_hex(b"0x10"), None);
    }

    #[test]
    fn tokens_and_trim_keep_columns() {
        let toks: Vec<_> = tokens(b"cpu=0   \tfound=0 ").collect();
        assert_eq!(toks, vec![(0, &b"cpu=0"[..]), (9, &b"found=0"[..])]);
        assert_eq!(trim(b"  x y \t", 3), (5, &b"x y"[..]));
        assert_eq!(trim(b"   ", 0).1, b"");
        assert_eq!(shown(b"a\"\xff"), "a\\x22\\xff");
    }

    proptest::proptest! {
        /// Neither input parser (sysctl, statistics) panics on any input,
        /// and every error either reports points into that input.
        #[test]
        fn input_parsers_never_panic_and_errors_point_into_the_input(
            text in "[a-z_./:=0-9 \t\n#;x-]{0,300}",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            use crate::doctor::{Stats, Sysctl};
            for bytes in [text.as_bytes(), &raw[..]] {
                let lines = Lines::new(bytes).collect::<Vec<_>>();
                for errors in [Sysctl::parse(bytes).1, Stats::parse(bytes).1] {
                    for e in errors {
                        proptest::prop_assert!(e.line >= 1 && e.line <= lines.len() as u64, "{e:?}");
                        let line = lines[(e.line - 1) as usize].1;
                        proptest::prop_assert!(e.column >= 1 && e.column <= line.len() + 1, "{e:?}");
                    }
                }
            }
        }
    }
}
