//! Value grammar: nom parsers for the pieces of a line (numbers, addresses,
//! keys). Private, so that a nom upgrade never changes the public API.
//!
//! The error type is a two-variant `Copy` enum that keeps no input, so
//! failing and backtracking cost nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, digit1, hex_digit1};
use nom::combinator::{all_consuming, opt};

/// Why a value did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Not the expected syntax.
    Syntax,
    /// The right syntax, but too large for its type.
    Overflow,
}

impl<I> nom::error::ParseError<I> for Fail {
    fn from_error_kind(_input: I, _kind: nom::error::ErrorKind) -> Self {
        Fail::Syntax
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, Fail>;

/// Runs a nom parser over a whole token: it must consume all of it.
pub(crate) fn whole<'a, T>(
    token: &'a [u8],
    parser: impl Parser<&'a [u8], Output = T, Error = Fail>,
) -> Result<T, Fail> {
    match all_consuming(parser).parse(token) {
        Ok((_, value)) => Ok(value),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(Fail::Syntax),
    }
}

/// Folds ASCII digits into a `u64`, failing (not wrapping) on overflow.
fn fold_decimal(digits: &[u8]) -> Result<u64, Fail> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(d - b'0')))
            .ok_or(Fail::Overflow)
    })
}

/// An unsigned decimal number.
pub(crate) fn decimal(input: &[u8]) -> Res<'_, u64> {
    let (rest, digits) = digit1(input)?;
    match fold_decimal(digits) {
        Ok(value) => Ok((rest, value)),
        Err(fail) => Err(nom::Err::Failure(fail)),
    }
}

/// An unsigned decimal that must fit in `T`. Hand-written: this runs for
/// most fields of every line, where the combinator version cost a third of
/// the parse time.
#[inline]
pub(crate) fn decimal_as<T: TryFrom<u64>>(token: &[u8]) -> Result<T, Fail> {
    if token.is_empty() {
        return Err(Fail::Syntax);
    }
    let mut value: u64 = 0;
    for &b in token {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(Fail::Syntax);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(Fail::Overflow)?;
    }
    T::try_from(value).map_err(|_| Fail::Overflow)
}

/// A signed decimal (very old kernels printed negative timeouts).
pub(crate) fn signed_decimal(token: &[u8]) -> Result<i64, Fail> {
    let (negative, magnitude) = whole(token, (opt(char('-')), decimal))?;
    let magnitude = i64::try_from(magnitude).map_err(|_| Fail::Overflow)?;
    Ok(if negative.is_some() {
        -magnitude
    } else {
        magnitude
    })
}

/// `0x` followed by hex digits, as GRE keys are printed (`srckey=0x1f`).
pub(crate) fn hex_u32(token: &[u8]) -> Result<u32, Fail> {
    let digits = whole(token, |i| {
        let (i, _) = tag(&b"0x"[..]).parse(i)?;
        hex_digit1(i)
    })?;
    let digits = trim_leading_zeros(digits);
    if digits.len() > 8 {
        return Err(Fail::Overflow);
    }
    Ok(digits.iter().fold(0u32, |acc, &d| {
        (acc << 4) | hex_digit(d).map_or(0, u32::from)
    }))
}

fn trim_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros.min(digits.len().saturating_sub(1))..]
}

/// The value of a hex digit of either case; `None` for any other byte.
#[inline(always)]
pub(crate) fn hex_digit(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// One dotted-quad octet: 1 to 3 digits, at most 255, no leading zero.
#[cfg(test)]
fn octet(input: &[u8]) -> Res<'_, u8> {
    let (rest, digits) = digit1(input)?;
    if digits.len() > 3 || (digits.len() > 1 && digits[0] == b'0') {
        return Err(nom::Err::Error(Fail::Syntax));
    }
    match fold_decimal(digits).map(u8::try_from) {
        Ok(Ok(value)) => Ok((rest, value)),
        _ => Err(nom::Err::Error(Fail::Syntax)),
    }
}

/// A dotted-quad IPv4 address, as `inet_ntoa` and the kernel's `%pI4` print
/// it: four decimal octets of 1 to 3 digits, no leading zeros, at most 255.
/// Hand-written for the hot path; [`ipv4_combinators`] is the reference it
/// is tested against.
#[inline]
pub(crate) fn ipv4(token: &[u8]) -> Result<Ipv4Addr, Fail> {
    let mut octets = [0u8; 4];
    let mut index = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    let mut leading_zero = false;
    for &b in token {
        if b == b'.' {
            if digits == 0 || index == 3 {
                return Err(Fail::Syntax);
            }
            octets[index] = value as u8;
            index += 1;
            value = 0;
            digits = 0;
            continue;
        }
        let digit = b.wrapping_sub(b'0');
        if digit > 9 || digits == 3 || (digits == 1 && leading_zero) {
            return Err(Fail::Syntax);
        }
        leading_zero = digits == 0 && digit == 0;
        value = value * 10 + u32::from(digit);
        if value > 255 {
            return Err(Fail::Syntax);
        }
        digits += 1;
    }
    if index != 3 || digits == 0 {
        return Err(Fail::Syntax);
    }
    octets[3] = value as u8;
    Ok(Ipv4Addr::from(octets))
}

/// The same grammar with nom combinators: the readable reference for [`ipv4`].
#[cfg(test)]
pub(crate) fn ipv4_combinators(token: &[u8]) -> Result<Ipv4Addr, Fail> {
    let (a, _, b, _, c, _, d) = whole(
        token,
        (octet, char('.'), octet, char('.'), octet, char('.'), octet),
    )?;
    Ok(Ipv4Addr::new(a, b, c, d))
}

/// An IPv6 address in either form: the kernel's `%pI6` (eight 4-digit
/// groups) or `inet_ntop`'s compressed form, both to the same value.
pub(crate) fn ipv6(token: &[u8]) -> Result<Ipv6Addr, Fail> {
    if let Some(addr) = ipv6_full_form(token).or_else(|| ipv6_compressed(token)) {
        return Ok(addr);
    }
    // Every byte is checked to be ASCII here, so the UTF-8 view cannot fail;
    // std's parser then handles `::`, embedded IPv4 and leading zeros.
    let text = whole(
        token,
        take_while1(|b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
    )?;
    let text = std::str::from_utf8(text).map_err(|_| Fail::Syntax)?;
    text.parse().map_err(|_| Fail::Syntax)
}

/// The compressed form `inet_ntop` prints (what `conntrack -L` shows):
/// groups of one to four hex digits, at most one `::` for a run of zero
/// groups, e.g. `2001:db8::1`, decoded in one pass. `None` for anything
/// else (embedded IPv4 `::ffff:192.0.2.1`, a malformed token), which std's
/// parser then reads or rejects: where this gives an address, std's
/// parser gives the same one (a property test checks it), four to five
/// times faster than its UTF-8 check and combinators on real addresses.
pub(crate) fn ipv6_compressed(token: &[u8]) -> Option<Ipv6Addr> {
    let mut groups = [0u16; 8];
    // Groups read, and where `::` stands among them.
    let mut count = 0;
    let mut gap = None;
    let mut at = 0;
    if token.starts_with(b"::") {
        gap = Some(0);
        at = 2;
    }
    while at < token.len() {
        // One group of one to four digits.
        let mut value: u16 = 0;
        let start = at;
        while let Some(digit) = token.get(at).and_then(|&b| hex_digit(b)) {
            if at - start == 4 {
                return None;
            }
            value = value << 4 | u16::from(digit);
            at += 1;
        }
        if at == start || count == 8 {
            return None;
        }
        groups[count] = value;
        count += 1;
        match token.get(at..at + 2) {
            None if at == token.len() => break,
            // `::`, once, and not at the very end after a group (`1::`
            // ends the loop below).
            Some(b"::") if gap.is_none() => {
                gap = Some(count);
                at += 2;
            }
            _ if token.get(at) == Some(&b':') && token.get(at + 1) != Some(&b':') => at += 1,
            _ => return None,
        }
        // A `:` must be followed by a group (`::` may end the token).
        if at == token.len() && gap != Some(count) {
            return None;
        }
    }
    match gap {
        None if count == 8 => Some(Ipv6Addr::from(groups)),
        // `::` stands for at least one zero group.
        Some(gap) if count <= 7 => {
            let tail = count - gap;
            groups.copy_within(gap..count, 8 - tail);
            groups[gap..8 - tail].fill(0);
            Some(Ipv6Addr::from(groups))
        }
        _ => None,
    }
}

/// The kernel's `%pI6` form, eight groups of exactly four hex digits
/// (`2001:0db8:0000:0000:0000:0000:0000:0001`), decoded directly; `None` for
/// any other shape, which then goes through the general parser.
#[inline]
pub(crate) fn ipv6_full_form(token: &[u8]) -> Option<Ipv6Addr> {
    let token: &[u8; 39] = token.try_into().ok()?;
    let colons = [4, 9, 14, 19, 24, 29, 34];
    if colons.iter().any(|&at| token[at] != b':') {
        return None;
    }
    let four = |at: usize| {
        let bytes: [u8; 4] = token[at..at + 4].try_into().unwrap_or_default();
        u64::from(u32::from_le_bytes(bytes))
    };
    let mut groups = [0u16; 8];
    for (pair, out) in groups.chunks_exact_mut(2).enumerate() {
        let at = pair * 10;
        let both = hex_groups(four(at) | four(at + 5) << 32)?;
        out[0] = both as u16;
        out[1] = (both >> 32) as u16;
    }
    Some(Ipv6Addr::from(groups))
}

/// Two groups of four hex digits (either case), one in each half of `x`
/// (first character in the lowest byte), decoded together rather than a
/// byte at a time: their values in bits 0..16 and 32..48, or `None` if any
/// byte is not a hex digit.
#[inline(always)]
fn hex_groups(x: u64) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    if x & HIGH != 0 {
        return None;
    }
    // Every byte is below 0x80, so adding up to 0x7F to each cannot carry
    // into the next: the high bit of `x + (0x80 - lo)` says `byte >= lo`,
    // that of `x + (0x7F - hi)` says `byte > hi`.
    let in_range = |x: u64, lo: u8, hi: u8| {
        x.wrapping_add(ONES * u64::from(0x80 - lo)) & !x.wrapping_add(ONES * u64::from(0x7F - hi))
    };
    let digit = in_range(x, b'0', b'9') & HIGH;
    let letter = in_range(x | (ONES * 0x20), b'a', b'f') & HIGH;
    if digit | letter != HIGH {
        return None;
    }
    // The low nibble is the value of a digit, and nine less for a letter.
    let nibbles = (x & (ONES * 0x0F)) + (letter >> 7) * 9;
    // In each half, byte 0 becomes nibbles `n0 n1` and byte 2 `n2 n3`
    // (the first character is the most significant).
    let pairs = (nibbles << 4 | nibbles >> 8) & 0x00FF_00FF_00FF_00FF;
    const LOW_BYTES: u64 = 0x0000_00FF_0000_00FF;
    Some((pairs & LOW_BYTES) << 8 | (pairs >> 16) & LOW_BYTES)
}

/// An address of either family; the family is chosen by the presence of `:`.
pub(crate) fn ip(token: &[u8]) -> Result<IpAddr, (Fail, bool)> {
    // An IPv6 address has a `:` within its first five bytes; an IPv4
    // address never has one.
    if token.iter().take(5).any(|&b| b == b':') {
        ipv6(token).map(IpAddr::V6).map_err(|f| (f, true))
    } else {
        ipv4(token).map(IpAddr::V4).map_err(|f| (f, false))
    }
}

/// The `[1700000000.123456]` prefix of `conntrack -E -o timestamp`, which
/// conntrack pads inside the brackets (`[%-8ld.%-6ld]`): the digits, trimmed.
pub(crate) fn event_timestamp(token: &[u8]) -> Option<&[u8]> {
    if token.get(1).is_none_or(|b| !b.is_ascii_digit()) {
        return None;
    }
    let inner = token
        .strip_prefix(b"[")?
        .strip_suffix(b"]")?
        .trim_ascii_end();
    whole(inner, (digit1, opt((char('.'), digit1))))
        .ok()
        .map(|_| inner)
}

/// A word of lowercase letters, digits and `_` (protocol names, `unknown`).
pub(crate) fn is_lower_word(token: &[u8]) -> bool {
    !token.is_empty()
        && token[0].is_ascii_lowercase()
        && token
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// True for tokens made of digits only (a number column).
pub(crate) fn is_number(token: &[u8]) -> bool {
    !token.is_empty() && token.iter().all(u8::is_ascii_digit)
}

/// True for tokens that look like a state name (`ESTABLISHED`, `SYN_SENT2`).
pub(crate) fn is_state_word(token: &[u8]) -> bool {
    !token.is_empty()
        && token[0].is_ascii_uppercase()
        && token
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal_as::<u16>(b"65535"), Ok(65535));
        assert_eq!(decimal_as::<u16>(b"65536"), Err(Fail::Overflow));
        assert_eq!(decimal_as::<u64>(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            decimal_as::<u64>(b"18446744073709551616"),
            Err(Fail::Overflow)
        );
        assert_eq!(decimal_as::<u32>(b"12a"), Err(Fail::Syntax));
        assert_eq!(decimal_as::<u32>(b""), Err(Fail::Syntax));
        assert_eq!(decimal_as::<u32>(b"-1"), Err(Fail::Syntax));
        assert_eq!(signed_decimal(b"-12"), Ok(-12));
        assert_eq!(signed_decimal(b"431999"), Ok(431_999));
        assert_eq!(signed_decimal(b"--1"), Err(Fail::Syntax));
    }

    #[test]
    fn hex_keys() {
        assert_eq!(hex_u32(b"0x0"), Ok(0));
        assert_eq!(hex_u32(b"0x1f"), Ok(31));
        assert_eq!(hex_u32(b"0xFFFFFFFF"), Ok(u32::MAX));
        assert_eq!(hex_u32(b"0x000000001"), Ok(1));
        assert_eq!(hex_u32(b"0x100000000"), Err(Fail::Overflow));
        assert_eq!(hex_u32(b"1f"), Err(Fail::Syntax));
        assert_eq!(hex_u32(b"0x"), Err(Fail::Syntax));
    }

    #[test]
    fn ipv4_addresses() {
        assert_eq!(ipv4(b"192.0.2.1"), Ok(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(ipv4(b"0.0.0.0"), Ok(Ipv4Addr::UNSPECIFIED));
        for bad in [
            &b"192.0.2"[..],
            b"192.0.2.256",
            b"192.0.2.1.",
            b"192.0.02.1",
            b"192.0.2.1x",
            b"1922.0.2.1",
            b"",
        ] {
            assert_eq!(
                ipv4(bad),
                Err(Fail::Syntax),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fast_ipv4_agrees_with_the_combinator_grammar() {
        let mut cases: Vec<Vec<u8>> = [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4x",
            "",
            "1000.1.1.1",
            "0.0.0.00",
            "10.0.0.255",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        // Every token of up to 4 bytes over a small alphabet.
        let alphabet = b"0159.x";
        for len in 0..=4u32 {
            for n in 0..alphabet.len().pow(len) {
                let mut token = Vec::new();
                let mut k = n;
                for _ in 0..len {
                    token.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                cases.push(token);
            }
        }
        for a in [0u8, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255] {
            cases.push(format!("{a}.{a}.{a}.{a}").into_bytes());
            cases.push(format!("{a}0.1.1.1").into_bytes());
        }
        for case in cases {
            assert_eq!(
                ipv4(&case),
                ipv4_combinators(&case),
                "{}",
                String::from_utf8_lossy(&case)
            );
        }
    }

    #[test]
    fn ipv6_both_forms_are_equal() {
        let full = ipv6(b"2001:0db8:0000:0000:0000:0000:0000:0001").unwrap();
        let short = ipv6(b"2001:db8::1").unwrap();
        assert_eq!(full, short);
        assert!(ipv6(b"::ffff:192.0.2.1").is_ok());
        // The fast full form agrees with the general parser.
        for text in [
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            "FFFF:ffff:0000:0001:0a0B:0000:0000:0009",
        ] {
            let general: Ipv6Addr = text.parse().unwrap();
            assert_eq!(ipv6_full_form(text.as_bytes()), Some(general));
        }
        assert_eq!(
            ipv6_full_form(b"2001:0db8:0000:0000:0000:0000:0000:000g"),
            None
        );
        assert_eq!(
            ipv6_full_form(b"2001:0db8:0000:0000:0000:0000:0000.0001"),
            None
        );
        assert!(ipv6(b"2001:db8:::1").is_err());
        assert!(ipv6(b"2001:db8::g").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// The eight-groups decoder against a plain reading (the shape
        /// checked byte by byte, then std's parser), on full-form addresses
        /// with one byte replaced, mostly by one near the edges of the hex
        /// ranges (`/ : @ G \` g`) or with the high bit set, where a
        /// word-at-a-time check could go wrong; and on other lengths.
        #[test]
        fn ipv6_full_form_agrees_with_a_plain_reading(
            digits in proptest::collection::vec(
                proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                32,
            ),
            replace in proptest::option::of((
                0usize..39,
                proptest::prop_oneof![
                    3 => proptest::sample::select(b"/:@G`gFf09\x00\x7f\x80\xb0\xb9\xc1\xe6\xff".to_vec()),
                    1 => proptest::prelude::any::<u8>(),
                ],
            )),
            length in proptest::prop_oneof![8 => proptest::strategy::Just(39usize), 1 => 37usize..42],
        ) {
            let mut token = Vec::new();
            for (i, group) in digits.chunks(4).enumerate() {
                if i > 0 {
                    token.push(b':');
                }
                token.extend_from_slice(group);
            }
            if let Some((at, byte)) = replace {
                token[at] = byte;
            }
            token.resize(length, b'0');
            let shaped = token.len() == 39
                && token.iter().enumerate().all(|(i, &b)| {
                    if i % 5 == 4 { b == b':' } else { b.is_ascii_hexdigit() }
                });
            let plain = shaped
                .then(|| std::str::from_utf8(&token).ok()?.parse::<Ipv6Addr>().ok())
                .flatten();
            proptest::prop_assert_eq!(ipv6_full_form(&token), plain);
            proptest::prop_assert_eq!(shaped, plain.is_some());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]

        /// Where the compressed-form decoder gives an address, std's
        /// parser gives the same: on tokens of hex digits and colons (many
        /// near misses: five-digit groups, `:::`, two `::`, nine groups,
        /// a lone `:` at either end) and a few other bytes.
        #[test]
        fn ipv6_compressed_agrees_with_std(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    6 => proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                    3 => proptest::strategy::Just(b':'),
                    1 => proptest::sample::select(b".gG/@ \x00\xff".to_vec()),
                ],
                0..42,
            ),
        ) {
            if let Some(addr) = ipv6_compressed(&bytes) {
                let text = std::str::from_utf8(&bytes).unwrap();
                proptest::prop_assert_eq!(text.parse::<Ipv6Addr>().ok(), Some(addr), "{}", text);
            }
        }

        /// Every address as `inet_ntop` (and std) prints it is read here,
        /// but those with an embedded IPv4 part, which std's parser reads.
        #[test]
        fn ipv6_compressed_reads_printed_addresses(
            bits in proptest::prelude::any::<u128>(),
            zeros in proptest::sample::select(vec![0u128, 0xFFFF_0000, 0xFFFF_FFFF_0000_0000, !0 << 64, !0 >> 64, !0 << 32]),
            upper in proptest::prelude::any::<bool>(),
        ) {
            let addr = Ipv6Addr::from(bits & !zeros);
            let mut text = addr.to_string();
            if upper {
                text = text.to_uppercase();
            }
            let read = ipv6_compressed(text.as_bytes());
            if text.contains('.') {
                proptest::prop_assert_eq!(read, None);
                proptest::prop_assert_eq!(ipv6(text.as_bytes()), Ok(addr));
            } else {
                proptest::prop_assert_eq!(read, Some(addr), "{}", text);
            }
        }
    }

    #[test]
    fn ipv6_compressed_examples() {
        let read = |text: &str| ipv6_compressed(text.as_bytes());
        for text in [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1::",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8",
            "fe80::abcd:EF01",
        ] {
            assert_eq!(read(text), Some(text.parse().unwrap()), "{text}");
        }
        for text in [
            "",
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            ":1::",
            "1::2:",
            "12345::",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8::",
            "1:2:3:4:5:6:7",
            "::ffff:192.0.2.1",
            "2001:db8::g",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    #[test]
    fn event_timestamps() {
        assert_eq!(
            event_timestamp(b"[1700000000.123456]"),
            Some(&b"1700000000.123456"[..])
        );
        assert_eq!(
            event_timestamp(b"[1700000000.1234  ]"),
            Some(&b"1700000000.1234"[..])
        );
        assert_eq!(event_timestamp(b"[NEW]"), None);
        assert_eq!(event_timestamp(b"[12x]"), None);
    }
}
