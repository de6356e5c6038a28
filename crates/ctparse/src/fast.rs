//! The fast path: the fixed layout of the common entry, read in one forward
//! pass.
//!
//! Almost every line of a real table is printed the same way, field after
//! field in the kernel's (or conntrack-tools') fixed order, whatever the
//! protocol (TCP, UDP, ICMP, ICMPv6, SCTP, DCCP, UDP-Lite, GRE, and
//! `unknown` for the generic tracker):
//!
//! ```text
//! [ipv4     2 ]tcp      6 117 TIME_WAIT src=A dst=B sport=P dport=Q [packets=N bytes=N] [[UNREPLIED]]
//!     src=B dst=A sport=Q dport=P [packets=N bytes=N] [[ASSURED]] [mark=N] [secctx=S] [zone=N]
//!     [delta-time=N] [use=N]
//! ```
//!
//! with the protocol's own tuple (`type= code= id=` for ICMP, `srckey=0x..
//! dstkey=0x..` for GRE, addresses only for `unknown`) and GRE's
//! `timeout=N, stream_timeout=N` pair before its first tuple. A second
//! reader of the same layout also takes `conntrack -E`'s event tag before
//! it (`    [NEW] `, after `[1700000000.123456]` with `-o timestamp`) and
//! `conntrack -o id`'s `id=N` after it, `-o ktimestamp`'s `[start=...]`
//! and `[stop=...]`, and `-o labels`; it is tried
//! where the first fails (see [`read_line`]).
//!
//! This module reads exactly that layout with a cursor: it knows which key
//! comes next, so there is no tokenizing, no key dispatch and no bookkeeping
//! of partial tuples. The values go through the same grammar functions as
//! the general parser's, so they decode identically; a reply address
//! whose bytes repeat the original tuple's (no NAT) is not decoded again,
//! being the same text. The columns before
//! the timeout (`ipv4     2 tcp      6 `), when spaced exactly as the
//! kernel prints them, are matched whole, one 16-byte compare a column.
//!
//! The fast path never decides anything on its own: on the first byte that
//! departs from the layout (another protocol, a tab, an extra field, a
//! malformed value, a family mismatch) it gives up and the general parser
//! reads the line from the start, producing the flow or the precise error.
//! So it can make parsing faster but never different; the `fast_path`
//! tests check that on every fixture line, every generated dialect and
//! mutated lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flow::{
    Counters, Event, Family, Flow, GreTimeouts, L4, Protocol, Status, Tuple, TupleKind,
};
use crate::grammar;
use crate::line::find_any;
use crate::state::{DccpState, SctpState, State, TcpState};

/// The families with the number printed after the name (the L3 columns).
const FAMILIES: [(&[u8], &[u8], Family); 2] = [
    (b"ipv4", b"2", Family::Ipv4),
    (b"ipv6", b"10", Family::Ipv6),
];

/// The named protocols with the number printed after the name.
const PROTOCOLS: [(&[u8], &[u8], Protocol); 8] = [
    (b"tcp", b"6", Protocol::TCP),
    (b"udp", b"17", Protocol::UDP),
    (b"icmp", b"1", Protocol::ICMP),
    (b"icmpv6", b"58", Protocol::ICMPV6),
    (b"sctp", b"132", Protocol::SCTP),
    (b"dccp", b"33", Protocol::DCCP),
    (b"udplite", b"136", Protocol::UDPLITE),
    (b"gre", b"47", Protocol::GRE),
];

/// A name and number column pair exactly as the kernel prints it
/// (`"%-8s %u "`, e.g. `tcp      6 `), or a word and its space, as the
/// first bytes of a little-endian `u128`: one compare finds it.
#[derive(Debug, Clone, Copy)]
struct Column {
    text: u128,
    mask: u128,
    len: usize,
}

impl Column {
    /// The printed form of `name` and `number` (both short: at most 16
    /// bytes in all, which the tables below keep).
    const fn new(name: &[u8], number: &[u8]) -> Column {
        let mut printed = Printed::new();
        printed.put(name);
        while printed.len < 9 {
            printed.put(b" ");
        }
        printed.put(number);
        printed.put(b" ");
        printed.column()
    }

    /// `word` and a space (at most 15 bytes in all).
    const fn word(word: &[u8]) -> Column {
        let mut printed = Printed::new();
        printed.put(word);
        printed.put(b" ");
        printed.column()
    }
}

/// The bytes of a [`Column`] while it is built (at compile time).
struct Printed {
    bytes: [u8; 16],
    len: usize,
}

impl Printed {
    const fn new() -> Printed {
        Printed {
            bytes: [0; 16],
            len: 0,
        }
    }

    const fn put(&mut self, text: &[u8]) {
        let mut i = 0;
        while i < text.len() {
            self.bytes[self.len] = text[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn column(&self) -> Column {
        Column {
            text: u128::from_le_bytes(self.bytes),
            mask: u128::MAX >> (8 * (16 - self.len)),
            len: self.len,
        }
    }
}

/// A table of names and numbers as the kernel prints them.
const fn columns<T: Copy, const N: usize>(table: [(&[u8], &[u8], T); N]) -> [(Column, T); N] {
    let mut columns = [(Column::new(b"", b""), table[0].2); N];
    let mut i = 0;
    while i < N {
        let (name, number, value) = table[i];
        columns[i] = (Column::new(name, number), value);
        i += 1;
    }
    columns
}

const FAMILY_COLUMNS: [(Column, Family); 2] = columns(FAMILIES);

/// The event tags of `conntrack -E` with their space.
const EVENTS: [(Column, Event); 3] = [
    (Column::word(b"[NEW]"), Event::New),
    (Column::word(b"[UPDATE]"), Event::Update),
    (Column::word(b"[DESTROY]"), Event::Destroy),
];
const PROTOCOL_COLUMNS: [(Column, Protocol); 8] = columns(PROTOCOLS);

/// Every TCP state's name as printed, with its space. The table is
/// searched in order, so the states that fill real tables come first.
const TCP_STATES: [(Column, TcpState); TcpState::COUNT] = {
    use TcpState::*;
    // The length is checked by the type, and each state appears once.
    let order: [TcpState; TcpState::COUNT] = [
        Established,
        TimeWait,
        SynSent,
        CloseWait,
        FinWait,
        SynRecv,
        LastAck,
        Close,
        SynSent2,
        None,
    ];
    let mut seen = [false; TcpState::COUNT];
    let mut words = [(Column::word(b""), None); TcpState::COUNT];
    let mut i = 0;
    while i < TcpState::COUNT {
        let state = order[i];
        assert!(!seen[state as usize], "a TCP state twice in the order");
        seen[state as usize] = true;
        words[i] = (Column::word(state.name().as_bytes()), state);
        i += 1;
    }
    words
};

/// The flow of `line` (without its `\n`, and without a trailing `\r`) if it
/// has the common layout; `None` otherwise, whatever the reason.
#[inline]
pub(crate) fn parse(line: &[u8]) -> Option<Flow<'_>> {
    // The whole line, up to its last byte: a `\r` or `\n` left in it is
    // part of its last value to the general parser, not a line end.
    parse_first_line(line).and_then(|(flow, _)| (flow.raw.len() == line.len()).then_some(flow))
}

/// The flow of the first line of `buf` if it has the common layout, and
/// where the next line starts. The line ends at `\n`, `\r\n` or the end
/// of `buf`, as the iterator would cut it: reading the line end in the same
/// scan saves a separate search for it. No field can run past the line end:
/// values stop at the first byte that cannot belong to them, and the only
/// free-form value (`secctx=`) is checked.
#[inline(always)]
pub(crate) fn parse_first_line(buf: &[u8]) -> Option<(Flow<'_>, usize)> {
    let mut flow = blank();
    let next = read_line::<false>(buf, &mut flow).or_else(|| read_line::<true>(buf, &mut flow))?;
    Some((flow, next))
}

/// [`read_first_line`], then the checks on the whole flow: counters come
/// for both directions or for neither (on one side only, the line was
/// cut, and the general parser says so). Made here, on the flow in
/// memory, rather than in the scan: in the scan, the one compare cost 7%
/// of `top-ips` (it kept the original's counters alive across the reply
/// tuple), here it costs nothing measurable.
///
/// With `EXTRAS`, the layout also has `conntrack -E`'s event tag before
/// the entry and `conntrack -o id`'s `id=` after it. They are a second
/// try, made where the plain layout failed, so that table listings (the
/// common case) scan exactly as before: checked in every line, the two
/// cost `/proc` listings 1.7% more instructions (callgrind). A flow read
/// with `EXTRAS` must not be reused without them: the plain reader never
/// writes `event` and `id`.
#[inline(always)]
pub(crate) fn read_line<'a, const EXTRAS: bool>(
    buf: &'a [u8],
    flow: &mut Flow<'a>,
) -> Option<usize> {
    let next = read_first_line::<EXTRAS>(buf, flow)?;
    // A line over the limit (a huge `secctx=`) is the general parser's
    // error; `next` counts the line end too, so a line just at the limit
    // goes there as well, and reads as it would here.
    (flow.orig_counters.is_some() == flow.reply_counters.is_some() && next <= crate::MAX_LINE)
        .then_some(next)
}

/// A flow to read lines into with [`read_line`]: the fields the
/// common layout never has are `None` (and stay so), the others hold
/// placeholders until a line is read.
pub(crate) fn blank<'a>() -> Flow<'a> {
    Flow::empty(&[])
}

/// [`parse_first_line`] into `flow`, which must come from [`blank`] (and
/// may hold an earlier line's fields): when the line has the common
/// layout, every field the layout can have is written and the flow is the
/// line's. Filling one flow line after line saves building and moving a
/// new one for each. On `None`, `flow` holds a mix of fields and must not
/// be read before the next successful call.
///
/// Not inlined: in a function of its own, with the caller's fold outside
/// it, the line's scan keeps its state in registers instead of spilling it
/// (1.6% fewer instructions than inlined).
#[inline(never)]
pub(crate) fn read_first_line<'a, const EXTRAS: bool>(
    buf: &'a [u8],
    flow: &mut Flow<'a>,
) -> Option<usize> {
    let mut c = Cursor { line: buf, pos: 0 };

    // `conntrack -E` prints the event first, right-aligned (`    [NEW] `),
    // after its time with `-o timestamp` (`[1700000000.123456]` and a tab).
    if EXTRAS {
        flow.event_time =
            if buf.first() == Some(&b'[') && buf.get(1).is_some_and(u8::is_ascii_digit) {
                // The general parser's token: up to the first `]`.
                let close = find_any(buf, 1, [b']', b'\n']);
                if buf.get(close) != Some(&b']') {
                    return None;
                }
                let time = grammar::event_timestamp(&buf[..=close])?;
                c.pos = close + 1;
                while matches!(c.line.get(c.pos), Some(b' ' | b'\t')) {
                    c.pos += 1;
                }
                Some(time)
            } else {
                None
            };
        c.skip_spaces();
        flow.event = c.known_column(&EVENTS);
    }

    // The kernel's own spacing of the columns is matched whole; any other
    // spacing is read word by word. The L3 columns are optional.
    let column_family = match c.known_column(&FAMILY_COLUMNS) {
        Some(family) => Some(family),
        None => c.family_words()?,
    };

    // The named protocols and their numbers as printed; `unknown` (the
    // generic tracker) goes with any number and prints addresses only.
    let (protocol, kind) = match c.known_column(&PROTOCOL_COLUMNS) {
        Some(protocol) => (protocol, protocol.tuple_kind()),
        None => c.protocol_words()?,
    };
    let timeout: i64 = c.decimal()?;

    // Stateful protocols print their state; the same names as the general
    // parser accepts (including its aliases).
    let state = match (protocol, kind) {
        (_, TupleKind::AddressOnly) => None,
        (Protocol::TCP, _) => Some(State::Tcp(match c.known_column(&TCP_STATES) {
            Some(state) => state,
            None => c.state_word(TcpState::parse)?,
        })),
        (Protocol::SCTP, _) => Some(State::Sctp(c.state_word(SctpState::from_name)?)),
        (Protocol::DCCP, _) => Some(State::Dccp(c.state_word(DccpState::parse)?)),
        _ => None,
    };
    // The kernel prints GRE's own pair: `timeout=180, stream_timeout=180`.
    let gre_timeouts = if kind == TupleKind::Gre && c.probe(b"timeout=") {
        c.pos += 8;
        let timeout = c.unsigned()?;
        // The comma belongs to the value (`timeout=180,`): no space before it.
        if !c.at(b",") {
            return None;
        }
        c.pos += 1;
        c.separator()?;
        Some(GreTimeouts {
            timeout,
            stream_timeout: c.number(b"stream_timeout=")?,
        })
    } else {
        None
    };

    // The original source fixes the family when there are no L3 columns.
    // Without NAT, the reply's addresses are the original's, swapped, and
    // printed the same: where the text repeats, so does the address.
    c.key(b"src=")?;
    let (orig_src, orig_src_text) = c.spanned(|c| c.address(column_family))?;
    let family = Family::of(&orig_src);
    flow.orig.src = orig_src;
    let orig_dst_text = c.tuple_rest(family, kind, &mut flow.orig, None)?;
    let orig_counters = c.counters()?;
    let mut status = Status::EMPTY;
    if c.flag(b"[UNREPLIED]")? {
        status.insert(Status::UNREPLIED);
    }
    c.key(b"src=")?;
    flow.reply.src = if c.repeat(orig_dst_text) {
        flow.orig.dst
    } else {
        c.address(Some(family))?
    };
    let earlier = (orig_src_text, flow.orig.src);
    c.tuple_rest(family, kind, &mut flow.reply, Some(earlier))?;
    let reply_counters = c.counters()?;
    // The three are exclusive: at most one is printed.
    if c.flag(b"[ASSURED]")? {
        status.insert(Status::ASSURED);
    } else if c.flag(b"[OFFLOAD]")? {
        status.insert(Status::OFFLOAD);
    } else if c.flag(b"[HW_OFFLOAD]")? {
        status.insert(Status::HW_OFFLOAD);
    }
    let mark = c.optional_number(b"mark=")?;
    let secctx = if c.probe(b"secctx=") {
        c.pos += 7;
        let value = c.word();
        // `\r` before the `\n` is the line terminator, not the value's.
        if value.contains(&b'\r') {
            return None;
        }
        c.separator()?;
        Some(value)
    } else {
        None
    };
    let zone = c.optional_number(b"zone=")?;
    let delta_time = c.optional_number(b"delta-time=")?;
    // `conntrack -o ktimestamp`: `[start=Mon Nov 23 16:09:39 2026]`, and
    // `[stop=...]` on an entry that is gone.
    if EXTRAS {
        flow.start = c.bracketed(b"[start=")?;
        flow.stop = c.bracketed(b"[stop=")?;
    }
    let use_count = c.optional_number(b"use=")?;
    // `conntrack -o id` prints the entry's id, then `-o labels` the
    // connlabel names (`labels=web,db`), or the bare word when it has none.
    if EXTRAS {
        flow.id = c.optional_number(b"id=")?;
        flow.labels = c.labels()?;
    }
    let raw = &buf[..c.pos];
    let next = c.line_end()?;

    flow.raw = raw;
    flow.family = family;
    flow.l3_number = column_family.map(Family::number);
    flow.protocol = protocol;
    flow.timeout = Some(timeout);
    flow.state = state;
    flow.gre_timeouts = gre_timeouts;
    flow.orig_counters = orig_counters;
    flow.reply_counters = reply_counters;
    flow.status = status;
    flow.mark = mark;
    flow.secctx = secctx;
    flow.zone = zone;
    flow.delta_time = delta_time;
    flow.use_count = use_count;
    Some(next)
}

/// Where a value was read: its text and the spaces after it (none at the
/// end of a line), as `start..start + len` in the buffer.
#[derive(Debug, Clone, Copy)]
struct Text {
    start: usize,
    len: usize,
}

/// A position in the line. Every method either consumes what it expects
/// and returns `Some`, or returns `None` (the caller gives up on the line).
/// Values are decoded while they are scanned, and each must end at a space
/// or at the end of the line, exactly where the general parser's token
/// would end.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// True when the line ends at `pos`: `\n`, `\r\n`, a final `\r`, or
    /// the end of the buffer.
    #[inline(always)]
    fn ends_at(&self, pos: usize) -> bool {
        match self.line.get(pos) {
            None | Some(b'\n') => true,
            Some(b'\r') => matches!(self.line.get(pos + 1), None | Some(b'\n')),
            _ => false,
        }
    }

    /// When the line ends here, where the next line starts.
    #[inline(always)]
    fn line_end(&self) -> Option<usize> {
        match self.line.get(self.pos) {
            None => Some(self.pos),
            Some(b'\n') => Some(self.pos + 1),
            Some(b'\r') => match self.line.get(self.pos + 1) {
                None => Some(self.pos + 1),
                Some(b'\n') => Some(self.pos + 2),
                Some(_) => None,
            },
            Some(_) => None,
        }
    }

    /// True when `text` comes next. A fixed-size comparison, so it compiles
    /// to a few integer compares rather than a `memcmp` call.
    #[inline(always)]
    fn at<const N: usize>(&self, text: &[u8; N]) -> bool {
        self.line
            .get(self.pos..self.pos + N)
            .and_then(|next| <&[u8; N]>::try_from(next).ok())
            == Some(text)
    }

    /// Consumes `key` (with its `=`), which must come next.
    #[inline(always)]
    fn key<const N: usize>(&mut self, key: &[u8; N]) -> Option<()> {
        self.probe(key).then(|| self.pos += N)
    }

    /// True when `key` comes next, after any further spaces (which are
    /// then consumed). A value's [`separator`](Cursor::separator) takes
    /// one space, as the kernel prints; a longer run is rare, and skipped
    /// here only when the key is not found at once.
    #[inline(always)]
    fn probe<const N: usize>(&mut self, key: &[u8; N]) -> bool {
        if self.at(key) {
            return true;
        }
        if self.line.get(self.pos) != Some(&b' ') {
            return false;
        }
        self.skip_spaces();
        self.at(key)
    }

    /// The value of the first of `columns` that comes next, consumed with
    /// any further spaces.
    #[inline(always)]
    fn known_column<T: Copy>(&mut self, columns: &[(Column, T)]) -> Option<T> {
        let next = self.block(self.pos)?;
        let &(column, value) = columns
            .iter()
            .find(|(column, _)| next & column.mask == column.text)?;
        self.pos += column.len;
        self.skip_spaces();
        Some(value)
    }

    /// A state name that `parse` knows, then its separator.
    #[inline(always)]
    fn state_word<T>(&mut self, parse: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
        let state = parse(self.word())?;
        self.separator()?;
        Some(state)
    }

    /// The L3 columns with any spacing: `Some(None)` when the line has
    /// none, `None` when they are there but not a name of [`FAMILIES`]
    /// with its number.
    #[inline(always)]
    fn family_words(&mut self) -> Option<Option<Family>> {
        let Some(&(name, number, family)) = FAMILIES.iter().find(|&&(name, _, _)| {
            self.line.get(self.pos..self.pos + name.len()) == Some(name)
                && self.line.get(self.pos + name.len()) == Some(&b' ')
        }) else {
            return Some(None);
        };
        self.pos += name.len();
        self.spaces()?;
        self.literal(number)?;
        self.spaces()?;
        Some(Some(family))
    }

    /// The protocol name and number columns with any spacing: a name of
    /// [`PROTOCOLS`] and its number, or `unknown` and any number.
    #[inline(always)]
    fn protocol_words(&mut self) -> Option<(Protocol, TupleKind)> {
        let name = self.word();
        self.spaces()?;
        if name == b"unknown" {
            return Some((Protocol(self.decimal()?), TupleKind::AddressOnly));
        }
        let &(_, number, protocol) = PROTOCOLS.iter().find(|&&(known, _, _)| known == name)?;
        self.literal(number)?;
        self.spaces()?;
        Some((protocol, protocol.tuple_kind()))
    }

    /// What `read` returns, with the text it consumed.
    #[inline(always)]
    fn spanned<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<(T, Text)> {
        let start = self.pos;
        let value = read(self)?;
        Some((
            value,
            Text {
                start,
                len: self.pos - start,
            },
        ))
    }

    /// Consumes the bytes of `text` (and any further spaces) when the
    /// same bytes come next and `text` ends in a space, so that they hold
    /// one whole token: the value read from `text` is this token's too.
    /// Compared 16 bytes at a time, up to 48 (the longest address text,
    /// 45 bytes, and its spaces; longer runs of spaces are decoded again).
    #[inline(always)]
    fn repeat(&mut self, text: Text) -> bool {
        let Text { start, len } = text;
        if len == 0 || len > 48 || self.line.get(start + len - 1) != Some(&b' ') {
            return false;
        }
        let mut done = 0;
        loop {
            let count = (len - done).min(16);
            let (Some(earlier), Some(next)) =
                (self.block(start + done), self.block(self.pos + done))
            else {
                return false;
            };
            if (earlier ^ next) & (u128::MAX >> (8 * (16 - count))) != 0 {
                return false;
            }
            done += count;
            if done == len {
                break;
            }
        }
        self.pos += len;
        self.skip_spaces();
        true
    }

    /// The 16 bytes at `at`, if there are as many.
    #[inline(always)]
    fn block(&self, at: usize) -> Option<u128> {
        let bytes = self.line.get(at..at.checked_add(16)?)?;
        Some(u128::from_le_bytes(bytes.try_into().ok()?))
    }

    /// The bytes up to the next blank or newline (or the end of the
    /// buffer); may be empty. Never past the line: the scan of a bad line
    /// costs its own length, not the rest of the buffer's.
    #[inline(always)]
    fn word(&mut self) -> &'a [u8] {
        let end = find_any(self.line, self.pos, [b' ', b'\t', b'\n']);
        let word = &self.line[self.pos..end];
        self.pos = end;
        word
    }

    /// The end of a value: a space (further ones are left to the next
    /// [`probe`](Cursor::probe)), or the end of the line.
    #[inline(always)]
    fn separator(&mut self) -> Option<()> {
        if self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
            return Some(());
        }
        self.ends_at(self.pos).then_some(())
    }

    /// One or more spaces, or the end of the line.
    #[inline(always)]
    fn spaces(&mut self) -> Option<()> {
        let start = self.pos;
        self.skip_spaces();
        (self.pos > start || self.ends_at(self.pos)).then_some(())
    }

    /// Any spaces.
    #[inline(always)]
    fn skip_spaces(&mut self) {
        while self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    /// Exactly `text` as a whole word.
    #[inline(always)]
    fn literal(&mut self, text: &[u8]) -> Option<()> {
        (self.word() == text).then_some(())
    }

    /// An unsigned decimal that fits in `T`, then its separator.
    #[inline(always)]
    fn decimal<T: TryFrom<u64>>(&mut self) -> Option<T> {
        let value = self.unsigned()?;
        self.separator()?;
        Some(value)
    }

    /// An unsigned decimal that fits in `T`, without its separator.
    #[inline(always)]
    fn unsigned<T: TryFrom<u64>>(&mut self) -> Option<T> {
        // A single digit and a space (`mark=0`, `zone=0`, `use=1`, ICMP's
        // `code=0`): three of the ten or so numbers of a line.
        if let Some(&[digit, b' ']) = self.line.get(self.pos..self.pos + 2) {
            let digit = digit.wrapping_sub(b'0');
            if digit <= 9 {
                self.pos += 1;
                return T::try_from(u64::from(digit)).ok();
            }
        }
        let value = match self.eight_digits() {
            Some(value) => value,
            None => self.digits()?,
        };
        T::try_from(value).ok()
    }

    /// Up to seven digits read eight bytes at a time (in a `u64`), when
    /// eight bytes are left and a non-digit comes within them; `None` (and
    /// the cursor unmoved) otherwise.
    #[inline(always)]
    fn eight_digits(&mut self) -> Option<u64> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let bytes: [u8; 8] = self.line.get(self.pos..self.pos + 8)?.try_into().ok()?;
        let word = u64::from_le_bytes(bytes);
        // A byte is a non-digit when subtracting `0` borrows (below 0x30)
        // or adding 0x46 sets its high bit (above 0x39); either sets the
        // high bit for every byte from 0x80. Digits neither borrow nor
        // carry, so only bytes after the first non-digit are disturbed.
        let not_digit =
            (word.wrapping_sub(ONES * 0x30) | word.wrapping_add(ONES * 0x46)) & (ONES * 0x80);
        let count = (not_digit.trailing_zeros() / 8) as usize;
        if count == 0 || count == 8 {
            return None;
        }
        // Keep the `count` digits, most significant first, as the high
        // bytes of a little-endian word (zeros before them are leading
        // zeros), then fold pairs, quads and octets.
        let digits = (word & (ONES * 0x0F)) << (8 * (8 - count));
        let pairs = (digits.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
        let quads = (pairs.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
        let value = quads.wrapping_mul(10_000 << 32 | 1) >> 32;
        self.pos += count;
        Some(value)
    }

    /// Digits folded one byte at a time, failing on overflow.
    #[inline(always)]
    fn digits(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(&b) = self.line.get(self.pos) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
            self.pos += 1;
        }
        (self.pos > start).then_some(value)
    }

    /// `key=N`, which must come next.
    #[inline(always)]
    fn number<T: TryFrom<u64>, const N: usize>(&mut self, key: &[u8; N]) -> Option<T> {
        self.key(key)?;
        self.decimal()
    }

    /// `Some(None)` when the key is absent, `None` when its value is bad.
    #[inline(always)]
    fn optional_number<T: TryFrom<u64>, const N: usize>(
        &mut self,
        key: &[u8; N],
    ) -> Option<Option<T>> {
        if !self.probe(key) {
            return Some(None);
        }
        self.pos += N;
        self.decimal().map(Some)
    }

    /// `Some(true)` when the bracketed `tag` comes next (as a whole word).
    #[inline(always)]
    fn flag<const N: usize>(&mut self, tag: &[u8; N]) -> Option<bool> {
        if !self.probe(tag) {
            return Some(false);
        }
        self.pos += N;
        self.separator()?;
        Some(true)
    }

    /// An address of `family` (either, when `None`), then its separator.
    /// Dotted quads are decoded in the scan; anything else (IPv6) goes
    /// through the general parser's address grammar, which chooses the
    /// family the same way.
    #[inline(always)]
    fn address(&mut self, family: Option<Family>) -> Option<IpAddr> {
        if family != Some(Family::Ipv6) {
            if let Some(addr) = self.ipv4() {
                return Some(IpAddr::V4(addr));
            }
            if family == Some(Family::Ipv4) {
                return None;
            }
        }
        if family != Some(Family::Ipv4)
            && let Some(addr) = self.ipv6_full_form()
        {
            return Some(IpAddr::V6(addr));
        }
        let addr = grammar::ip(self.word()).ok()?;
        if family.is_some_and(|family| Family::of(&addr) != family) {
            return None;
        }
        self.separator()?;
        Some(addr)
    }

    /// A dotted quad with the grammar of [`grammar::ipv4`] (1 to 3 digits
    /// an octet, at most 255, no leading zero) ending at a separator; the
    /// cursor does not move when there is none.
    #[inline(always)]
    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        let line = self.line;
        let mut pos = self.pos;
        let mut octets = [0u8; 4];
        for (index, octet) in octets.iter_mut().enumerate() {
            if index > 0 {
                if line.get(pos) != Some(&b'.') {
                    return None;
                }
                pos += 1;
            }
            let first = line.get(pos)?.wrapping_sub(b'0');
            if first > 9 {
                return None;
            }
            let mut value = u32::from(first);
            pos += 1;
            for _ in 0..2 {
                let Some(digit) = line.get(pos).map(|b| b.wrapping_sub(b'0')) else {
                    break;
                };
                if digit > 9 {
                    break;
                }
                if first == 0 {
                    return None;
                }
                value = value * 10 + u32::from(digit);
                pos += 1;
            }
            *octet = u8::try_from(value).ok()?;
        }
        if line.get(pos) != Some(&b' ') && !self.ends_at(pos) {
            return None;
        }
        self.pos = pos;
        self.separator()?;
        Some(Ipv4Addr::from(octets))
    }

    /// The kernel's `%pI6` form (eight groups of four hex digits), ending at
    /// a separator; the cursor does not move when there is none. Other
    /// forms are left to the general address grammar.
    #[inline(always)]
    fn ipv6_full_form(&mut self) -> Option<Ipv6Addr> {
        let text = self.line.get(self.pos..self.pos + 39)?;
        if self.line.get(self.pos + 39) != Some(&b' ') && !self.ends_at(self.pos + 39) {
            return None;
        }
        let addr = grammar::ipv6_full_form(text)?;
        self.pos += 39;
        self.separator()?;
        Some(addr)
    }

    /// `Some(Some(text))` for `key` (`[start=`), its text up to the first
    /// `]` of the line (any bytes, spaces too, as the general parser's
    /// bracketed token) and its separator; `Some(None)` when `key` is not
    /// next; `None` when the bracket is not closed on the line.
    #[inline(always)]
    fn bracketed<const N: usize>(&mut self, key: &[u8; N]) -> Option<Option<&'a [u8]>> {
        if !self.probe(key) {
            return Some(None);
        }
        let start = self.pos + N;
        let close = find_any(self.line, start, [b']', b'\n']);
        if self.line.get(close) != Some(&b']') {
            return None;
        }
        self.pos = close + 1;
        self.separator()?;
        Some(Some(&self.line[start..close]))
    }

    /// `Some(Some(names))` for `labels=names`, `Some(Some(""))` for a bare
    /// `labels`, `Some(None)` when neither is next; `None` when the value
    /// holds the line's `\r` (then the general parser decides).
    #[inline(always)]
    fn labels(&mut self) -> Option<Option<&'a [u8]>> {
        if self.probe(b"labels=") {
            self.pos += 7;
            let value = self.word();
            if value.contains(&b'\r') {
                return None;
            }
            self.separator()?;
            return Some(Some(value));
        }
        if self.at(b"labels") && self.ends_at_blank(self.pos + 6) {
            self.pos += 6;
            self.separator()?;
            return Some(Some(b""));
        }
        Some(None)
    }

    /// True when a space or the line's end comes at `pos`.
    #[inline(always)]
    fn ends_at_blank(&self, pos: usize) -> bool {
        self.line.get(pos) == Some(&b' ') || self.ends_at(pos)
    }

    /// `packets=N bytes=N`, if present.
    #[inline(always)]
    fn counters(&mut self) -> Option<Option<Counters>> {
        if !self.probe(b"packets=") {
            return Some(None);
        }
        Some(Some(Counters {
            packets: self.number(b"packets=")?,
            bytes: self.number(b"bytes=")?,
        }))
    }

    /// The rest of a tuple after its source, into `tuple`, returning
    /// where its destination was read. `earlier` is an address read
    /// before, with where: taken again when its text repeats here.
    #[inline(always)]
    fn tuple_rest(
        &mut self,
        family: Family,
        kind: TupleKind,
        tuple: &mut Tuple,
        earlier: Option<(Text, IpAddr)>,
    ) -> Option<Text> {
        self.key(b"dst=")?;
        let (dst, text) = match earlier {
            Some((text, addr)) if self.repeat(text) => (addr, text),
            _ => self.spanned(|c| c.address(Some(family)))?,
        };
        tuple.dst = dst;
        tuple.l4 = match kind {
            TupleKind::Ports => L4::Ports {
                sport: self.number(b"sport=")?,
                dport: self.number(b"dport=")?,
            },
            TupleKind::Icmp => L4::Icmp {
                icmp_type: self.number(b"type=")?,
                code: self.number(b"code=")?,
                id: self.number(b"id=")?,
            },
            TupleKind::Gre => L4::Gre {
                srckey: self.hex_key(b"srckey=0x")?,
                dstkey: self.hex_key(b"dstkey=0x")?,
            },
            TupleKind::AddressOnly => L4::None,
        };
        Some(text)
    }

    /// `key` (ending in `0x`), then hex digits of a `u32` (leading zeros
    /// allowed), then the separator.
    #[inline(always)]
    fn hex_key<const N: usize>(&mut self, key: &[u8; N]) -> Option<u32> {
        self.key(key)?;
        let start = self.pos;
        let mut value: u32 = 0;
        while let Some(digit) = self.line.get(self.pos).and_then(|&b| grammar::hex_digit(b)) {
            if value >> 28 != 0 {
                return None;
            }
            value = value << 4 | u32::from(digit);
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        self.separator()?;
        Some(value)
    }
}
