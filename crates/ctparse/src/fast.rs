//! The fast path: the fixed layout of the common entry, read in one forward
//! pass.
//!
//! Almost every line of a real table is a TCP, UDP or ICMP entry printed
//! the same way, field after field in the kernel's (or conntrack-tools')
//! fixed order:
//!
//! ```text
//! [ipv4     2 ]tcp      6 117 TIME_WAIT src=A dst=B sport=P dport=Q [packets=N bytes=N] [[UNREPLIED]]
//!     src=B dst=A sport=Q dport=P [packets=N bytes=N] [[ASSURED]] [mark=N] [secctx=S] [zone=N]
//!     [delta-time=N] [use=N]
//! ```
//!
//! This module reads exactly that layout with a cursor: it knows which key
//! comes next, so there is no tokenizing, no key dispatch and no bookkeeping
//! of partial tuples. The values go through the same grammar functions as
//! the general parser's, so they decode identically.
//!
//! The fast path never decides anything on its own: on the first byte that
//! departs from the layout (another protocol, a tab, an extra field, a
//! malformed value, a family mismatch) it gives up and the general parser
//! reads the line from the start, producing the flow or the precise error.
//! So it can make parsing faster but never different; the `fast_path`
//! tests check that on every fixture line, every generated dialect and
//! mutated lines.

use std::net::IpAddr;

use crate::flow::{Counters, Family, Flow, L4, Protocol, Status, Tuple};
use crate::grammar;
use crate::line::find_blank;
use crate::state::{State, TcpState};

/// The flow of `line` (without its `\n`, and without a trailing `\r`) if it
/// has the common layout; `None` otherwise, whatever the reason.
#[inline]
pub(crate) fn parse(line: &[u8]) -> Option<Flow<'_>> {
    let mut c = Cursor { line, pos: 0 };

    let (l3_number, column_family) = if c.rest().starts_with(b"ipv4 ") {
        c.pos += 4;
        c.spaces()?;
        c.literal(b"2")?;
        (Some(2), Some(Family::Ipv4))
    } else if c.rest().starts_with(b"ipv6 ") {
        c.pos += 4;
        c.spaces()?;
        c.literal(b"10")?;
        (Some(10), Some(Family::Ipv6))
    } else {
        (None, None)
    };
    if l3_number.is_some() {
        c.spaces()?;
    }

    let protocol = match c.word() {
        b"tcp" => Protocol::TCP,
        b"udp" => Protocol::UDP,
        b"icmp" => Protocol::ICMP,
        b"icmpv6" => Protocol::ICMPV6,
        _ => return None,
    };
    c.spaces()?;
    c.literal(match protocol {
        Protocol::TCP => b"6",
        Protocol::UDP => b"17",
        Protocol::ICMP => b"1",
        _ => b"58",
    })?;
    c.spaces()?;

    let timeout = c.word();
    if !timeout.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let timeout: i64 = grammar::decimal_as(timeout).ok()?;
    c.spaces()?;

    let state = if protocol == Protocol::TCP {
        let state = TcpState::parse(c.word())?;
        c.spaces()?;
        Some(State::Tcp(state))
    } else {
        None
    };

    // The original tuple fixes the family when there are no L3 columns.
    let src = c.value(b"src=")?;
    let (family, orig_src) = match column_family {
        Some(family) => (family, address(family, src)?),
        None => {
            let addr = grammar::ip(src).ok()?;
            (Family::of(&addr), addr)
        }
    };
    let orig = c.tuple_rest(family, protocol, orig_src)?;
    let orig_counters = c.counters()?;
    let mut status = Status::EMPTY;
    if c.flag(b"[UNREPLIED]")? {
        status.insert(Status::UNREPLIED);
    }
    let reply_src = address(family, c.value(b"src=")?)?;
    let reply = c.tuple_rest(family, protocol, reply_src)?;
    let reply_counters = c.counters()?;
    for (tag, flag) in [
        (&b"[ASSURED]"[..], Status::ASSURED),
        (b"[OFFLOAD]", Status::OFFLOAD),
        (b"[HW_OFFLOAD]", Status::HW_OFFLOAD),
    ] {
        // The three are exclusive: at most one is printed.
        if c.flag(tag)? {
            status.insert(flag);
            break;
        }
    }
    let mark = c.optional_number(b"mark=")?;
    let secctx = c.optional_value(b"secctx=");
    let zone = c.optional_number(b"zone=")?;
    let delta_time = c.optional_number(b"delta-time=")?;
    let use_count = c.optional_number(b"use=")?;
    if c.pos != line.len() {
        return None;
    }

    Some(Flow {
        raw: line,
        event_time: None,
        event: None,
        family,
        l3_number,
        protocol,
        timeout: Some(timeout),
        state,
        gre_timeouts: None,
        orig,
        reply,
        orig_zone: None,
        reply_zone: None,
        orig_counters,
        reply_counters,
        status,
        mark,
        secmark: None,
        secctx,
        zone,
        delta_time,
        start: None,
        stop: None,
        helper: None,
        use_count,
        id: None,
        labels: None,
        portid: None,
        progname: None,
        extra: Vec::new(),
    })
}

/// An address of `family`, chosen between the families exactly as the
/// general parser chooses.
#[inline]
fn address(family: Family, text: &[u8]) -> Option<IpAddr> {
    grammar::ip(text)
        .ok()
        .filter(|addr| Family::of(addr) == family)
}

/// A position in the line. Every method either consumes what it expects
/// and returns `Some`, or returns `None` (the caller gives up on the line).
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn rest(&self) -> &'a [u8] {
        &self.line[self.pos..]
    }

    /// The bytes up to the next blank (or the end); may be empty.
    #[inline]
    fn word(&mut self) -> &'a [u8] {
        let end = find_blank(self.line, self.pos);
        let word = &self.line[self.pos..end];
        self.pos = end;
        word
    }

    /// One or more spaces, or the end of the line.
    #[inline]
    fn spaces(&mut self) -> Option<()> {
        let start = self.pos;
        while self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        (self.pos > start || self.pos == self.line.len()).then_some(())
    }

    /// Exactly `text` as a whole word.
    #[inline]
    fn literal(&mut self, text: &[u8]) -> Option<()> {
        (self.word() == text).then_some(())
    }

    /// The value of `key=value` when the next word starts with `key`
    /// (including its `=`), consuming the word and the blanks after it.
    #[inline]
    fn optional_value(&mut self, key: &[u8]) -> Option<&'a [u8]> {
        if !self.rest().starts_with(key) {
            return None;
        }
        self.pos += key.len();
        let value = self.word();
        self.spaces()?;
        Some(value)
    }

    /// The value of the `key=value` that must come next.
    #[inline]
    fn value(&mut self, key: &[u8]) -> Option<&'a [u8]> {
        self.optional_value(key)
    }

    #[inline]
    fn number<T: TryFrom<u64>>(&mut self, key: &[u8]) -> Option<T> {
        grammar::decimal_as(self.value(key)?).ok()
    }

    /// `Some(None)` when the key is absent, `None` when its value is bad.
    #[inline]
    fn optional_number<T: TryFrom<u64>>(&mut self, key: &[u8]) -> Option<Option<T>> {
        if !self.rest().starts_with(key) {
            return Some(None);
        }
        self.number(key).map(Some)
    }

    /// `Some(true)` when the bracketed `tag` comes next (as a whole word).
    #[inline]
    fn flag(&mut self, tag: &[u8]) -> Option<bool> {
        if !self.rest().starts_with(tag) {
            return Some(false);
        }
        self.pos += tag.len();
        self.spaces()?;
        Some(true)
    }

    /// `packets=N bytes=N`, if present.
    #[inline]
    fn counters(&mut self) -> Option<Option<Counters>> {
        if !self.rest().starts_with(b"packets=") {
            return Some(None);
        }
        Some(Some(Counters {
            packets: self.number(b"packets=")?,
            bytes: self.number(b"bytes=")?,
        }))
    }

    /// The rest of a tuple after its `src=`.
    #[inline]
    fn tuple_rest(&mut self, family: Family, protocol: Protocol, src: IpAddr) -> Option<Tuple> {
        let dst = address(family, self.value(b"dst=")?)?;
        let l4 = if matches!(protocol, Protocol::TCP | Protocol::UDP) {
            L4::Ports {
                sport: self.number(b"sport=")?,
                dport: self.number(b"dport=")?,
            }
        } else {
            L4::Icmp {
                icmp_type: self.number(b"type=")?,
                code: self.number(b"code=")?,
                id: self.number(b"id=")?,
            }
        };
        Some(Tuple { src, dst, l4 })
    }
}
