//! One line to one [`Flow`]: dialect detection and field assembly.
//!
//! Every dialect shares one shape, so one parser serves them all:
//!
//! ```text
//! [event time] [EVENT] [l3name l3num] l4name l4num [timeout] [STATE] key=value... [FLAG]...
//! ```
//!
//! Tuples are recognised by position: the first `src=` opens the original
//! tuple and the second opens the reply tuple; `packets=`/`bytes=` belong to
//! the tuple they follow. Unknown `key=value` fields are kept raw.

use std::net::IpAddr;

use crate::error::{Direction, ErrorKind, Field, Foreign, ParseError};
use crate::flow::{
    Counters, Event, Family, Flow, GreTimeouts, L4, Protocol, Status, Tuple, TupleKind,
};
use crate::grammar::{self, Fail};
use crate::state::{DccpState, SctpState, State, TcpState};

/// What one line of a dump is.
// Boxing the flow would cost an allocation per line; skipped lines are rare.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A conntrack entry or event.
    Flow(Flow<'a>),
    /// A line that is not a flow and not an error.
    Skipped(SkipReason),
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Empty or only white space.
    Blank,
    /// A comment: the first word starts with `#` (a note someone added
    /// to a saved capture, such as the host's name). Neither the kernel
    /// nor conntrack-tools print one.
    Comment,
    /// A message conntrack-tools prints around a listing that reports
    /// what was done, such as its trailer `conntrack v1.4.7
    /// (conntrack-tools): 12 flow entries have been shown.`, or a notice
    /// (it goes to stderr and lands in `2>&1` captures). Messages that
    /// report a failure are errors ([`ErrorKind::ToolFailure`]).
    ToolMessage,
    /// An `EXPECTING:` line: Linux 2.4's `/proc/net/ip_conntrack` listed
    /// expectations among the entries.
    Expectation,
    /// conntrack-tools' trailer, with the number of entries (or events)
    /// it says it printed: `conntrack v1.4.7 (conntrack-tools): 85 flow
    /// entries have been shown.` A listing that holds fewer lost some.
    Trailer(u64),
}

/// Parses one line (without its line terminator; a trailing `\r` is
/// ignored). Errors report line 1; [`crate::Parser`] reports real line numbers.
///
/// ```
/// use ctparse::{parse_line, Line, Protocol};
///
/// let line = b"udp      17 29 src=192.0.2.7 dst=198.51.100.9 sport=5353 dport=53 \
///     [UNREPLIED] src=198.51.100.9 dst=192.0.2.7 sport=53 dport=5353 mark=0 use=1";
/// let Line::Flow(flow) = parse_line(line)? else { panic!("not a flow") };
/// assert_eq!(flow.protocol, Protocol::UDP);
/// assert!(flow.is_unreplied());
/// # Ok::<(), ctparse::ParseError>(())
/// ```
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    parse_numbered(line, 1)
}

pub(crate) fn parse_numbered(line: &[u8], number: u64) -> Result<Line<'_>, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(flow) = crate::fast::parse(line) {
        return Ok(Line::Flow(flow));
    }
    parse_general(line, number)
}

/// The general parser alone, for any line (without its `\r`).
pub(crate) fn parse_general(line: &[u8], number: u64) -> Result<Line<'_>, ParseError> {
    // First, whatever the line holds: a stream keeps only the start of a
    // longer one, and the result must not depend on where a line was read.
    if line.len() > crate::MAX_LINE {
        return Err(ParseError::new(number, 1, ErrorKind::LineTooLong, line));
    }
    let mut tokens = Tokens::new(line);
    let Some(first) = tokens.clone().next() else {
        return Ok(Line::Skipped(SkipReason::Blank));
    };
    if first.bytes.starts_with(b"#") {
        return Ok(Line::Skipped(SkipReason::Comment));
    }
    let text = &line[first.start..];
    if TOOL_MESSAGES.iter().any(|prefix| text.starts_with(prefix)) {
        if let Some(failure) = tool_failure(text) {
            let column = line.len() - failure.len() + 1;
            return Err(ParseError::new(
                number,
                column,
                ErrorKind::ToolFailure,
                failure,
            ));
        }
        return Ok(Line::Skipped(
            trailer_count(text).map_or(SkipReason::ToolMessage, SkipReason::Trailer),
        ));
    }
    if first.bytes == b"EXPECTING:" {
        return Ok(Line::Skipped(SkipReason::Expectation));
    }
    // Named at its first word after an event's prefixes (`conntrack -E
    // expect` prints them as `-E` does).
    let mut words = tokens.clone().skip_while(|t| {
        grammar::event_timestamp(t.bytes).is_some()
            || matches!(t.bytes, b"[NEW]" | b"[UPDATE]" | b"[DESTROY]")
    });
    if let Some(word) = words.next()
        && let Some(foreign) = foreign(word.bytes, words.next().map(|t| t.bytes))
    {
        return Err(ParseError::new(
            number,
            word.start + 1,
            ErrorKind::NotAnEntry(foreign),
            word.bytes,
        ));
    }
    let builder = Builder::new(line, number);
    builder
        .parse(&mut tokens)
        .map(Line::Flow)
        .map_err(|error| spliced(line, number).unwrap_or(error))
}

/// `conntrack -L 2>&1` can splice conntrack's stderr trailer into the middle
/// of an entry (stdout is block-buffered): `... dstkey=0x4242 paconntrack
/// v1.4.7 (conntrack-tools): 85 flow entries have been shown.`, with the
/// rest of the entry on the next line. Name that cause instead of the
/// symptom.
fn spliced(line: &[u8], number: u64) -> Option<ParseError> {
    splice_at(line).map(|(start, marker)| {
        ParseError::new(
            number,
            start + 1,
            ErrorKind::SplicedToolMessage,
            &line[start..marker],
        )
    })
}

/// Where a conntrack-tools message starts inside `line`, after some other
/// text (and where its `(conntrack-tools)` marker is), if one does.
fn splice_at(line: &[u8]) -> Option<(usize, usize)> {
    let marker = memchr::memmem::find(line, TOOL_MARKER)?;
    let start = memchr::memmem::rfind(&line[..marker], b"conntrack v")?;
    (start > 0).then_some((start, marker))
}

/// Whether `line` (with or without its line end) is the start of an entry
/// that a conntrack-tools message was spliced into, as `conntrack -L
/// 2>&1` leaves the entry that stdout's last block cut, with the rest of
/// the entry on the next line. [`Parser::for_each_ref`](crate::Parser::for_each_ref)
/// mends the two when both are in its buffer, so a reader that cuts input
/// into pieces of whole lines should not cut after such a line. It costs
/// a search of the line: for the lines a cut falls after, not every line.
/// A line longer than [`MAX_LINE`](crate::MAX_LINE) (and its line end) is
/// an error whatever it holds, and never continues.
///
/// ```
/// let line = b"tcp      6 431740 ESTABLISHEconntrack v1.4.7 (conntrack-tools): 4061 flow entries have been shown.\n";
/// assert!(ctparse::continues_on_next_line(line));
/// assert!(!ctparse::continues_on_next_line(b"conntrack v1.4.7 (conntrack-tools): 4061 flow entries have been shown.\n"));
/// ```
pub fn continues_on_next_line(line: &[u8]) -> bool {
    line.len() <= crate::MAX_LINE + 2 && splice_at(line).is_some()
}

/// Where a reader that would cut `buf` at `end` (just after a line end,
/// or at its end) should cut it so that the two parts of an entry
/// conntrack's stderr was spliced into stay in one piece: at `end` when
/// the last line of `buf[..end]` does not [continue on the next
/// one](continues_on_next_line); before that line when it does and is not
/// the first; `None` when it does and is the first (the cut belongs after
/// the next line's end, which a reader may have to read first). An `end`
/// past the end of `buf` is taken as its end.
///
/// ```
/// let buf = b"a\nudp 17 29 src=1conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n92.0.2.1 ...\n";
/// let end = buf.iter().rposition(|&b| b == b'\n').unwrap();
/// let after_splice = buf[..end].iter().rposition(|&b| b == b'\n').unwrap() + 1;
/// assert_eq!(ctparse::splice_safe_cut(buf, after_splice), Some(2));
/// assert_eq!(ctparse::splice_safe_cut(buf, 2), Some(2));
/// assert_eq!(ctparse::splice_safe_cut(&buf[2..], after_splice - 2), None);
/// ```
pub fn splice_safe_cut(buf: &[u8], end: usize) -> Option<usize> {
    // Past the end is at the end.
    let end = end.min(buf.len());
    let start = end - last_line(&buf[..end]).len();
    if !continues_on_next_line(&buf[start..end]) {
        Some(end)
    } else {
        (start > 0).then_some(start)
    }
}

/// The last line of `buf`, with its line end (empty when `buf` is).
pub(crate) fn last_line(buf: &[u8]) -> &[u8] {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    &buf[memchr::memrchr(b'\n', body).map_or(0, |at| at + 1)..]
}

/// The other conntrack output a line belongs to, told by its first two
/// words; `None` for anything that may be an entry.
fn foreign(first: &[u8], second: Option<&[u8]>) -> Option<Foreign> {
    let second = second.unwrap_or_default();
    if first.starts_with(b"<?xml")
        || first.starts_with(b"<conntrack")
        || first.starts_with(b"</conntrack")
        || first.starts_with(b"<flow")
    {
        return Some(Foreign::Xml);
    }
    if matches!(first, b"-A" | b"-I" | b"-U" | b"-D") && second.starts_with(b"-") {
        return Some(Foreign::Save);
    }
    let hex_column = |word: &[u8]| word.len() == 8 && word.iter().all(u8::is_ascii_hexdigit);
    if first.starts_with(b"cpu=")
        || (hex_column(first) && hex_column(second))
        || (first == b"entries" && matches!(second, b"searched" | b"clashres" | b"found"))
    {
        return Some(Foreign::Statistics);
    }
    let number = first.iter().all(u8::is_ascii_digit);
    if number && (second == b"l3proto" || second.starts_with(b"proto=")) {
        return Some(Foreign::Expectations);
    }
    if number && second.is_empty() {
        return Some(Foreign::Count);
    }
    let setting = |word: &[u8]| {
        [
            "net.netfilter.nf_conntrack_",
            "nf_conntrack_",
            "net.nf_conntrack_max",
        ]
        .iter()
        .any(|prefix| word.starts_with(prefix.as_bytes()))
    };
    if (setting(first) && (second == b"=" || first.contains(&b'=')))
        || first.starts_with(b"/proc/sys/net/netfilter/")
    {
        return Some(Foreign::Sysctl);
    }
    None
}

/// The failure a conntrack-tools message reports, if it reports one: its
/// text after `(conntrack-tools): ` (`Operation failed: ...`, `unknown
/// option ...`), or a whole `WARNING:` line that says output was lost
/// (`We have hit ENOBUFS! We are losing events.`, `unsupported l3proto
/// 7, skipping.`). The trailer and the other reports of what was done
/// (`85 flow entries have been shown.`, `connection tracking table has
/// been emptied.`), warnings about options, notices and follow-up lines
/// are not failures.
fn tool_failure(text: &[u8]) -> Option<&[u8]> {
    if text.starts_with(b"WARNING: ") {
        let lost = [&b"losing events"[..], b"skipping"]
            .iter()
            .any(|words| memchr::memmem::find(text, words).is_some());
        return lost.then_some(text);
    }
    if !text.starts_with(b"conntrack v") {
        return None;
    }
    let message = tool_message(text)?;
    let done = memchr::memmem::find(message, b" been ").is_some();
    (!done).then_some(message)
}

/// The count of a trailer, `conntrack v1.4.7 (conntrack-tools): 85 flow
/// entries have been shown.` (`flow events` after `conntrack -E`).
fn trailer_count(text: &[u8]) -> Option<u64> {
    let message = tool_message(text)?;
    let digits = message.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &message[digits..];
    let shown = [
        &b" flow entries have been shown."[..],
        b" flow events have been shown.",
    ]
    .iter()
    .any(|tail| rest.trim_ascii_end() == *tail);
    if digits == 0 || !shown {
        return None;
    }
    std::str::from_utf8(&message[..digits]).ok()?.parse().ok()
}

/// What conntrack-tools puts between its name and version and its message
/// (`conntrack v1.4.7 (conntrack-tools): ...`).
const TOOL_MARKER: &[u8] = b" (conntrack-tools): ";

/// The message of a conntrack-tools line: what follows [`TOOL_MARKER`].
fn tool_message(text: &[u8]) -> Option<&[u8]> {
    let at = memchr::memmem::find(text, TOOL_MARKER)?;
    Some(&text[at + TOOL_MARKER.len()..])
}

/// How the messages conntrack-tools prints around a listing begin (from
/// conntrack-tools' `conntrack.c` and libnetfilter_conntrack). They go to
/// stderr, and land in the middle of `2>&1` captures.
const TOOL_MESSAGES: &[&[u8]] = &[
    // The trailer, "Operation failed", "table has been emptied", and others.
    b"conntrack v",
    b"NOTICE: ",
    b"WARNING: ",
    // Printed after "WARNING: We have hit ENOBUFS!".
    b"This message means that the current netlink socket buffer size is too small.",
    b"Please, check --buffer-size in conntrack(8) manpage.",
    b"Try `conntrack -h'",
    // `-o labels` without a connlabel.conf.
    b"nfct_labelmap_new: ",
];

/// The keys of `key=value` fields, recognised in one step (by length and
/// first byte, then one comparison) rather than by a chain of comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Src,
    Dst,
    Sport,
    Dport,
    Type,
    Code,
    Id,
    GreSrc,
    GreDst,
    ZoneOrig,
    ZoneReply,
    Packets,
    Bytes,
    Timeout,
    StreamTimeout,
    Mark,
    Secmark,
    Secctx,
    Zone,
    DeltaTime,
    Use,
    Portid,
    Helper,
    Labels,
    Progname,
    Other,
    /// Before the first key.
    None,
}

/// `name` as a state of `protocol`, and the protocol's label for messages
/// (`TCP`); `None` for a protocol without states.
fn protocol_state(protocol: Protocol, name: &[u8]) -> Option<(Option<State>, &'static str)> {
    Some(match protocol {
        Protocol::TCP => (TcpState::parse(name).map(State::Tcp), TcpState::LABEL),
        Protocol::SCTP => (
            SctpState::from_name(name).map(State::Sctp),
            SctpState::LABEL,
        ),
        Protocol::DCCP => (DccpState::parse(name).map(State::Dccp), DccpState::LABEL),
        _ => return None,
    })
}

/// The keys [`Key::classify`] knows, for the messages of words without
/// `=` (the test `key_names_classify` keeps the two in step).
const KEY_NAMES: [&[u8]; 25] = [
    b"id",
    b"src",
    b"dst",
    b"use",
    b"type",
    b"code",
    b"mark",
    b"zone",
    b"sport",
    b"dport",
    b"bytes",
    b"srckey",
    b"dstkey",
    b"secctx",
    b"labels",
    b"helper",
    b"portid",
    b"packets",
    b"timeout",
    b"secmark",
    b"progname",
    b"zone-orig",
    b"zone-reply",
    b"delta-time",
    b"stream_timeout",
];

impl Key {
    #[inline]
    fn classify(key: &[u8]) -> Key {
        let candidate = match (key.len(), key.first()) {
            (2, Some(b'i')) => (Key::Id, &b"id"[..]),
            (3, Some(b's')) => (Key::Src, &b"src"[..]),
            (3, Some(b'd')) => (Key::Dst, &b"dst"[..]),
            (3, Some(b'u')) => (Key::Use, &b"use"[..]),
            (4, Some(b't')) => (Key::Type, &b"type"[..]),
            (4, Some(b'c')) => (Key::Code, &b"code"[..]),
            (4, Some(b'm')) => (Key::Mark, &b"mark"[..]),
            (4, Some(b'z')) => (Key::Zone, &b"zone"[..]),
            (5, Some(b's')) => (Key::Sport, &b"sport"[..]),
            (5, Some(b'd')) => (Key::Dport, &b"dport"[..]),
            (5, Some(b'b')) => (Key::Bytes, &b"bytes"[..]),
            (6, Some(b's')) if key[3] == b'k' => (Key::GreSrc, &b"srckey"[..]),
            (6, Some(b'd')) => (Key::GreDst, &b"dstkey"[..]),
            (6, Some(b's')) => (Key::Secctx, &b"secctx"[..]),
            (6, Some(b'l')) => (Key::Labels, &b"labels"[..]),
            (6, Some(b'h')) => (Key::Helper, &b"helper"[..]),
            (6, Some(b'p')) => (Key::Portid, &b"portid"[..]),
            (7, Some(b'p')) => (Key::Packets, &b"packets"[..]),
            (7, Some(b't')) => (Key::Timeout, &b"timeout"[..]),
            (7, Some(b's')) => (Key::Secmark, &b"secmark"[..]),
            (8, Some(b'p')) => (Key::Progname, &b"progname"[..]),
            (9, Some(b'z')) => (Key::ZoneOrig, &b"zone-orig"[..]),
            (10, Some(b'z')) => (Key::ZoneReply, &b"zone-reply"[..]),
            (10, Some(b'd')) => (Key::DeltaTime, &b"delta-time"[..]),
            (14, Some(b's')) => (Key::StreamTimeout, &b"stream_timeout"[..]),
            _ => return Key::Other,
        };
        if same_bytes(candidate.1, key) {
            candidate.0
        } else {
            Key::Other
        }
    }

    /// Keys that belong to a tuple or directly follow one.
    fn is_tuple_key(self) -> bool {
        matches!(
            self,
            Key::Src
                | Key::Dst
                | Key::Sport
                | Key::Dport
                | Key::Type
                | Key::Code
                | Key::GreSrc
                | Key::GreDst
                | Key::ZoneOrig
                | Key::ZoneReply
                | Key::Packets
                | Key::Bytes
        )
    }
}

/// Equality of two short byte strings (keys are at most 14 bytes) without
/// a `memcmp` call.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// A token and where it starts.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    bytes: &'a [u8],
    start: usize,
}

/// Splits a line on runs of spaces and tabs. A token that starts with `[`
/// runs to its `]`, so bracketed text with spaces (`[start=Mon Nov  3
/// 10:00:00 2026]`, `[1700000000.1234  ]`) stays one token.
#[derive(Debug, Clone)]
struct Tokens<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    /// The tokens of `line`; a UTF-8 byte-order mark before them (a file
    /// saved by a Windows editor) is not one. Columns still count it.
    fn new(line: &'a [u8]) -> Tokens<'a> {
        let pos = if line.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        Tokens { line, pos }
    }
}

impl<'a> Tokens<'a> {
    /// The next token, only if it satisfies `accept`.
    fn next_if(&mut self, accept: impl FnOnce(&[u8]) -> bool) -> Option<Token<'a>> {
        let mut peek = self.clone();
        let token = peek.next().filter(|t| accept(t.bytes))?;
        *self = peek;
        Some(token)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    #[inline]
    fn next(&mut self) -> Option<Token<'a>> {
        let line = self.line;
        let mut start = self.pos;
        while start < line.len() && (line[start] == b' ' || line[start] == b'\t') {
            start += 1;
        }
        if start >= line.len() {
            self.pos = start;
            return None;
        }
        let end = if line[start] == b'[' {
            match memchr::memchr(b']', &line[start..]) {
                Some(close) => start + close + 1,
                None => line.len(),
            }
        } else {
            find_blank(line, start + 1)
        };
        self.pos = end;
        Some(Token {
            bytes: &line[start..end],
            start,
        })
    }
}

/// The index of the first space or tab at or after `from` (or the line's
/// length).
#[inline]
pub(crate) fn find_blank(line: &[u8], from: usize) -> usize {
    find_any(line, from, [b' ', b'\t'])
}

/// The index of the first of `stops` at or after `from` (or the buffer's
/// length). Tokens are short, so a vectorised search pays its setup cost on
/// every call; this tests eight bytes at a time in a `u64` instead.
#[inline(always)]
pub(crate) fn find_any<const N: usize>(buf: &[u8], from: usize, stops: [u8; N]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = buf.get(i..i + 8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        // A byte of `word ^ stop` is zero where `word` has `stop`; the
        // lowest flagged byte is always a true match.
        let found = stops.iter().fold(0, |found, &stop| {
            let x = word ^ (ONES * u64::from(stop));
            found | (x.wrapping_sub(ONES) & !x)
        }) & HIGHS;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < buf.len() && !stops.contains(&buf[i]) {
        i += 1;
    }
    i
}

/// The pieces of one tuple as they arrive.
#[derive(Debug, Default, Clone, Copy)]
struct PartialTuple {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: Option<u16>,
    dport: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    icmp_id: Option<u16>,
    srckey: Option<u32>,
    dstkey: Option<u32>,
    /// Column of the `src=` token, for errors about the whole tuple.
    column: usize,
}

struct Builder<'a> {
    line: &'a [u8],
    number: u64,
    flow: Flow<'a>,
    tuples: [PartialTuple; 2],
    /// How many `src=` have been seen: 0 before the first tuple, 1 in the
    /// original tuple, 2 in the reply tuple.
    tuples_seen: usize,
    /// The previous key, to tell an ICMP `id=` (right after `code=`) from the
    /// `conntrack -o id` entry id.
    previous_key: Key,
    /// `packets=` waiting for its `bytes=`.
    pending_packets: Option<u64>,
    /// GRE `timeout=` waiting for its `stream_timeout=`.
    pending_gre_timeout: Option<u32>,
    /// The L4 name column said `unknown`: the kernel has no tracker for the
    /// protocol (Linux 6.16+ for DCCP, kernels built without SCTP or GRE
    /// tracking), so the generic tracker printed addresses only.
    printed_unknown: bool,
    /// Where the first field that belongs after both tuples appeared while
    /// only the original tuple had been seen: where the reply is missing.
    first_trailing_field: Option<usize>,
}

impl<'a> Builder<'a> {
    fn new(line: &'a [u8], number: u64) -> Builder<'a> {
        Builder {
            line,
            number,
            flow: Flow::empty(line),
            tuples: [PartialTuple::default(); 2],
            tuples_seen: 0,
            previous_key: Key::None,
            pending_packets: None,
            pending_gre_timeout: None,
            first_trailing_field: None,
            printed_unknown: false,
        }
    }

    fn error(&self, token: Token<'_>, kind: ErrorKind) -> ParseError {
        ParseError::new(self.number, token.start + 1, kind, token.bytes)
    }

    fn error_at(&self, column: usize, kind: ErrorKind) -> ParseError {
        ParseError::new(self.number, column, kind, b"")
    }

    fn end_column(&self) -> usize {
        self.line.len() + 1
    }

    fn parse(mut self, tokens: &mut Tokens<'a>) -> Result<Flow<'a>, ParseError> {
        self.prefixes(tokens);
        self.protocol_columns(tokens)?;
        self.timeout_and_state(tokens)?;
        for token in tokens.by_ref() {
            if self.previous_key == Key::Portid
                && let Some(name) = token.bytes.strip_prefix(b"progname=")
            {
                // conntrack prints the program's name last (`[USERSPACE]
                // portid=N progname=COMM`), as the kernel keeps it: `comm`
                // may hold spaces, `=` and brackets. The rest of the line.
                let rest = &self.line[token.start + token.bytes.len() - name.len()..];
                let end = rest
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |last| last + 1);
                self.previous_key = Key::Progname;
                self.text(token, &rest[..end], Field::Progname, |f| &mut f.progname)?;
                break;
            }
            self.field(token)?;
        }
        self.finish()
    }

    /// `[1700000000.123456]` and `[NEW]`/`[UPDATE]`/`[DESTROY]`.
    fn prefixes(&mut self, tokens: &mut Tokens<'a>) {
        if let Some(token) = tokens.next_if(|t| grammar::event_timestamp(t).is_some()) {
            self.flow.event_time = grammar::event_timestamp(token.bytes);
        }
        let event = |t: &[u8]| match t {
            b"[NEW]" => Some(Event::New),
            b"[UPDATE]" => Some(Event::Update),
            b"[DESTROY]" => Some(Event::Destroy),
            _ => None,
        };
        if let Some(token) = tokens.next_if(|t| event(t).is_some()) {
            self.flow.event = event(token.bytes);
        }
    }

    /// `[l3name l3num] l4name l4num`.
    fn protocol_columns(&mut self, tokens: &mut Tokens<'a>) -> Result<(), ParseError> {
        let name = self.next_or_missing(tokens)?;
        let number = self.next_or_missing(tokens)?;
        let mut peek = tokens.clone();
        let has_l3 = match (peek.next(), peek.next()) {
            _ if matches!(name.bytes, b"ipv4" | b"ipv6") => true,
            // `unknown  2 tcp  6 ...` has L3 columns; `unknown  253 599 ...`
            // (a generic protocol without L3 columns) does not: only an L4
            // name followed by a number can follow an L3 pair.
            (Some(l4_name), Some(l4_number)) => {
                grammar::is_lower_word(l4_name.bytes)
                    && grammar::is_lower_word(name.bytes)
                    && grammar::is_number(l4_number.bytes)
            }
            _ => false,
        };
        if has_l3 {
            self.l3_columns(name, number)?;
            let l4_name = self.next_or_missing(tokens)?;
            let l4_number = self.next_or_missing(tokens)?;
            self.l4_columns(l4_name, l4_number)
        } else {
            self.l4_columns(name, number)
        }
    }

    fn next_or_missing(&self, tokens: &mut Tokens<'a>) -> Result<Token<'a>, ParseError> {
        tokens
            .next()
            .ok_or_else(|| self.error_at(self.end_column(), ErrorKind::MissingProtocol))
    }

    fn l3_columns(&mut self, name: Token<'a>, number: Token<'a>) -> Result<(), ParseError> {
        let value: u16 = grammar::decimal_as(number.bytes)
            .map_err(|fail| self.error(number, number_error(fail, Field::L3Number)))?;
        let family = match name.bytes {
            b"ipv4" => Some(Family::Ipv4),
            b"ipv6" => Some(Family::Ipv6),
            b"unknown" => None,
            _ => return Err(self.error(name, ErrorKind::UnknownFamily)),
        };
        let consistent = match family {
            Some(family) => family.number() == value,
            None => value != 2 && value != 10,
        };
        if !consistent {
            let printed = family.map_or("unknown", Family::name);
            return Err(self.error(
                name,
                ErrorKind::FamilyMismatch {
                    name: printed,
                    number: value,
                },
            ));
        }
        if let Some(family) = family {
            self.flow.family = family;
        }
        self.flow.l3_number = Some(value);
        Ok(())
    }

    fn l4_columns(&mut self, name: Token<'a>, number: Token<'a>) -> Result<(), ParseError> {
        let value: u8 = grammar::decimal_as(number.bytes)
            .map_err(|fail| self.error(number, number_error(fail, Field::L4Number)))?;
        let protocol = Protocol(value);
        let named = match name.bytes {
            b"unknown" => None,
            other => match Protocol::from_name(other) {
                Some(named) => Some(named),
                None => return Err(self.error(name, ErrorKind::UnknownProtocol)),
            },
        };
        // A name must go with its own number. `unknown` may go with any
        // number: the kernel's name table changes between versions (Linux
        // 6.16 dropped DCCP tracking and prints `unknown  33`, while
        // conntrack-tools still prints `dccp     33`).
        if named.is_some_and(|named| named != protocol) {
            return Err(self.error(
                name,
                ErrorKind::ProtocolMismatch {
                    number: value,
                    expected: protocol.name(),
                },
            ));
        }
        self.flow.protocol = protocol;
        self.printed_unknown = named.is_none();
        Ok(())
    }

    /// The optional timeout column and the optional state column.
    fn timeout_and_state(&mut self, tokens: &mut Tokens<'a>) -> Result<(), ParseError> {
        if let Some(token) =
            tokens.next_if(|t| t.first().is_some_and(|&b| b.is_ascii_digit() || b == b'-'))
        {
            let timeout = grammar::signed_decimal(token.bytes)
                .map_err(|fail| self.error(token, number_error(fail, Field::Timeout)))?;
            self.flow.timeout = Some(timeout);
        }
        if let Some(token) = tokens.next_if(grammar::is_state_word) {
            self.flow.state = Some(self.state(token)?);
        }
        Ok(())
    }

    /// Why `token`, a word without `=` among the fields, is not one: bytes
    /// that are not text, a key without its value, a key cut short at the
    /// end of the line, a state in lower case, or none of these.
    fn bare_word(&self, token: Token<'a>) -> ErrorKind {
        let bytes = token.bytes;
        // Control bytes or invalid UTF-8; other text (`hélper`) is a word.
        if bytes.iter().any(u8::is_ascii_control) || std::str::from_utf8(bytes).is_err() {
            return ErrorKind::NotText;
        }
        if KEY_NAMES.contains(&bytes) {
            return ErrorKind::MissingValue;
        }
        let rest = &self.line[token.start + bytes.len()..];
        if rest.iter().all(u8::is_ascii_whitespace)
            && KEY_NAMES.iter().any(|k| k.starts_with(bytes))
        {
            return ErrorKind::CutShort;
        }
        // `established` where the state goes (no state and no tuple yet):
        // a state, but not as the kernel prints it.
        if self.flow.state.is_some() || self.tuples_seen > 0 {
            return ErrorKind::UnexpectedToken;
        }
        match protocol_state(self.flow.protocol, &bytes.to_ascii_uppercase()) {
            Some((Some(_), protocol)) => ErrorKind::UnknownState { protocol },
            _ => ErrorKind::UnexpectedToken,
        }
    }

    fn state(&self, token: Token<'a>) -> Result<State, ParseError> {
        let Some((state, label)) = protocol_state(self.flow.protocol, token.bytes) else {
            return Err(self.error(token, ErrorKind::UnexpectedState));
        };
        state.ok_or_else(|| self.error(token, ErrorKind::UnknownState { protocol: label }))
    }

    /// One `key=value` or `[FLAG]` token after the columns.
    fn field(&mut self, token: Token<'a>) -> Result<(), ParseError> {
        if token.bytes[0] == b'[' {
            return self.bracketed(token);
        }
        // Keys are short: a plain scan, no vectorised search setup.
        let Some(eq) = token.bytes.iter().position(|&b| b == b'=') else {
            if token.bytes == b"labels" {
                return self.text(token, b"", Field::Labels, |f| &mut f.labels);
            }
            return Err(self.error(token, self.bare_word(token)));
        };
        let (name, value) = (&token.bytes[..eq], &token.bytes[eq + 1..]);
        if name.is_empty() {
            return Err(self.error(token, ErrorKind::UnexpectedToken));
        }
        let key = Key::classify(name);
        let previous = std::mem::replace(&mut self.previous_key, key);
        let icmp_id = key == Key::Id && previous == Key::Code;
        if !key.is_tuple_key() && !icmp_id {
            self.note_trailing_field(token);
        }
        match key {
            Key::Src => {
                if self.tuples_seen == 2 {
                    return Err(self.error(token, ErrorKind::DuplicateField(Field::Src)));
                }
                self.no_pending_packets(token.start + 1)?;
                self.tuples_seen += 1;
                let addr = self.address(token, value, Field::Src)?;
                let tuple = &mut self.tuples[self.tuples_seen - 1];
                tuple.src = Some(addr);
                tuple.column = token.start + 1;
            }
            Key::Dst => {
                let addr = self.address(token, value, Field::Dst)?;
                let slot = &mut self.tuple(token)?.dst;
                set_once(slot, addr)
                    .map_err(|()| self.error(token, ErrorKind::DuplicateField(Field::Dst)))?;
            }
            Key::Sport => self.tuple_number(token, value, Field::Sport, |t| &mut t.sport)?,
            Key::Dport => self.tuple_number(token, value, Field::Dport, |t| &mut t.dport)?,
            Key::Type => self.tuple_number(token, value, Field::IcmpType, |t| &mut t.icmp_type)?,
            Key::Code => self.tuple_number(token, value, Field::IcmpCode, |t| &mut t.icmp_code)?,
            Key::Id if icmp_id => {
                self.tuple_number(token, value, Field::IcmpId, |t| &mut t.icmp_id)?;
            }
            Key::GreSrc | Key::GreDst => {
                let field = if key == Key::GreSrc {
                    Field::SrcKey
                } else {
                    Field::DstKey
                };
                let parsed = grammar::hex_u32(value)
                    .map_err(|fail| self.error(token, number_error(fail, field)))?;
                let tuple = self.tuple(token)?;
                let slot = if field == Field::SrcKey {
                    &mut tuple.srckey
                } else {
                    &mut tuple.dstkey
                };
                set_once(slot, parsed)
                    .map_err(|()| self.error(token, ErrorKind::DuplicateField(field)))?;
            }
            Key::ZoneOrig => {
                let zone = self.number(token, value, Field::ZoneOrig)?;
                set_once(&mut self.flow.orig_zone, zone)
                    .map_err(|()| self.error(token, ErrorKind::DuplicateField(Field::ZoneOrig)))?;
            }
            Key::ZoneReply => {
                let zone = self.number(token, value, Field::ZoneReply)?;
                set_once(&mut self.flow.reply_zone, zone)
                    .map_err(|()| self.error(token, ErrorKind::DuplicateField(Field::ZoneReply)))?;
            }
            Key::Packets => {
                let packets = self.number(token, value, Field::Packets)?;
                if self.counters(token)?.is_some() || self.pending_packets.is_some() {
                    return Err(self.error(token, ErrorKind::DuplicateField(Field::Packets)));
                }
                self.pending_packets = Some(packets);
            }
            Key::Bytes => {
                let bytes = self.number(token, value, Field::Bytes)?;
                // `bytes=` is printed right after its `packets=`.
                let Some(packets) = self
                    .pending_packets
                    .take()
                    .filter(|_| previous == Key::Packets)
                else {
                    return Err(self.error(token, ErrorKind::UnexpectedToken));
                };
                *self.counters(token)? = Some(Counters { packets, bytes });
            }
            Key::Timeout if self.flow.protocol == Protocol::GRE && self.tuples_seen == 0 => {
                // GRE prints `timeout=180, stream_timeout=180` (note the comma).
                let timeout = self.number(
                    token,
                    value.strip_suffix(b",").unwrap_or(value),
                    Field::GreTimeout,
                )?;
                if self.flow.gre_timeouts.is_some() || self.pending_gre_timeout.is_some() {
                    return Err(self.error(token, ErrorKind::DuplicateField(Field::GreTimeout)));
                }
                self.pending_gre_timeout = Some(timeout);
            }
            Key::StreamTimeout
                if previous == Key::Timeout && self.pending_gre_timeout.is_some() =>
            {
                let stream_timeout = self.number(token, value, Field::GreStreamTimeout)?;
                let timeout = self.pending_gre_timeout.take().unwrap_or_default();
                self.flow.gre_timeouts = Some(GreTimeouts {
                    timeout,
                    stream_timeout,
                });
            }
            Key::Mark => self.scalar(token, value, Field::Mark, |f| &mut f.mark)?,
            Key::Secmark => self.scalar(token, value, Field::Secmark, |f| &mut f.secmark)?,
            Key::Zone => self.scalar(token, value, Field::Zone, |f| &mut f.zone)?,
            Key::DeltaTime => self.scalar(token, value, Field::DeltaTime, |f| &mut f.delta_time)?,
            Key::Use => self.scalar(token, value, Field::Use, |f| &mut f.use_count)?,
            Key::Id => self.scalar(token, value, Field::Id, |f| &mut f.id)?,
            Key::Portid => self.scalar(token, value, Field::Portid, |f| &mut f.portid)?,
            Key::Secctx => self.text(token, value, Field::Secctx, |f| &mut f.secctx)?,
            Key::Helper => self.text(token, value, Field::Helper, |f| &mut f.helper)?,
            Key::Labels => self.text(token, value, Field::Labels, |f| &mut f.labels)?,
            Key::Progname => self.text(token, value, Field::Progname, |f| &mut f.progname)?,
            // The kernel and conntrack-tools print keys in lower-case
            // letters, digits, `-` and `_`: any other unknown key is
            // damage, such as a state glued to the next key
            // (`ESTABLISHEDzone-orig=1`), which would leave the entry
            // without its state. Named an unknown state where one of the
            // protocol's states starts it, before the tuples.
            _ if !name.iter().all(|&b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
            }) =>
            {
                let glued = self.flow.state.is_none()
                    && self.tuples_seen == 0
                    && (1..token.bytes.len()).any(|end| {
                        matches!(
                            protocol_state(self.flow.protocol, &token.bytes[..end]),
                            Some((Some(_), _))
                        )
                    });
                let kind = match protocol_state(self.flow.protocol, name) {
                    Some((_, protocol)) if glued => ErrorKind::UnknownState { protocol },
                    _ => ErrorKind::UnexpectedToken,
                };
                return Err(self.error(token, kind));
            }
            _ => self.flow.extra.push((name, value)),
        }
        Ok(())
    }

    fn bracketed(&mut self, token: Token<'a>) -> Result<(), ParseError> {
        if token.bytes.last() != Some(&b']') {
            return Err(self.error(token, ErrorKind::UnterminatedBracket));
        }
        let inner = &token.bytes[1..token.bytes.len() - 1];
        if let Some(time) = inner.strip_prefix(b"start=") {
            return set_once(&mut self.flow.start, time)
                .map_err(|()| self.error(token, ErrorKind::DuplicateField(Field::Start)));
        }
        if let Some(time) = inner.strip_prefix(b"stop=") {
            return set_once(&mut self.flow.stop, time)
                .map_err(|()| self.error(token, ErrorKind::DuplicateField(Field::Stop)));
        }
        if token.bytes != b"[UNREPLIED]" {
            self.note_trailing_field(token);
        }
        let Some(flag) = Status::from_tag(token.bytes) else {
            return Err(self.error(token, ErrorKind::UnknownFlag));
        };
        if self.flow.status.contains(flag) {
            return Err(self.error(token, ErrorKind::DuplicateFlag));
        }
        let exclusive = Status::ASSURED | Status::OFFLOAD | Status::HW_OFFLOAD;
        if exclusive.contains(flag) && self.flow.status.intersects(exclusive) {
            return Err(self.error(token, ErrorKind::ConflictingFlags));
        }
        // [UNREPLIED] is printed after the original tuple, before the reply.
        if flag == Status::UNREPLIED && self.tuples_seen != 1 {
            return Err(self.error(token, ErrorKind::MisplacedFlag));
        }
        self.flow.status.insert(flag);
        Ok(())
    }

    fn address(&self, token: Token<'a>, value: &[u8], field: Field) -> Result<IpAddr, ParseError> {
        grammar::ip(value).map_err(|(_, v6)| {
            let kind = if v6 {
                ErrorKind::InvalidIpv6(field)
            } else {
                ErrorKind::InvalidIpv4(field)
            };
            self.error(token, kind)
        })
    }

    /// The tuple a tuple field belongs to: the one the last `src=` opened.
    fn tuple(&mut self, token: Token<'a>) -> Result<&mut PartialTuple, ParseError> {
        match self.tuples_seen {
            0 => Err(self.error(token, ErrorKind::MissingTuple)),
            n => Ok(&mut self.tuples[n - 1]),
        }
    }

    fn tuple_number<T: TryFrom<u64> + Copy>(
        &mut self,
        token: Token<'a>,
        value: &[u8],
        field: Field,
        slot: impl FnOnce(&mut PartialTuple) -> &mut Option<T>,
    ) -> Result<(), ParseError> {
        let parsed = self.number(token, value, field)?;
        let tuple = self.tuple(token)?;
        set_once(slot(tuple), parsed)
            .map_err(|()| self.error(token, ErrorKind::DuplicateField(field)))
    }

    /// The counters of the tuple the last `src=` opened.
    fn counters(&mut self, token: Token<'a>) -> Result<&mut Option<Counters>, ParseError> {
        match self.tuples_seen {
            0 => Err(self.error(token, ErrorKind::MissingTuple)),
            1 => Ok(&mut self.flow.orig_counters),
            _ => Ok(&mut self.flow.reply_counters),
        }
    }

    fn number<T: TryFrom<u64>>(
        &self,
        token: Token<'a>,
        value: &[u8],
        field: Field,
    ) -> Result<T, ParseError> {
        grammar::decimal_as(value).map_err(|fail| self.error(token, number_error(fail, field)))
    }

    fn scalar<T: TryFrom<u64>>(
        &mut self,
        token: Token<'a>,
        value: &[u8],
        field: Field,
        slot: impl for<'f> FnOnce(&'f mut Flow<'a>) -> &'f mut Option<T>,
    ) -> Result<(), ParseError> {
        let parsed = self.number(token, value, field)?;
        set_once(slot(&mut self.flow), parsed)
            .map_err(|()| self.error(token, ErrorKind::DuplicateField(field)))
    }

    fn text(
        &mut self,
        token: Token<'a>,
        value: &'a [u8],
        field: Field,
        slot: impl for<'f> FnOnce(&'f mut Flow<'a>) -> &'f mut Option<&'a [u8]>,
    ) -> Result<(), ParseError> {
        set_once(slot(&mut self.flow), value)
            .map_err(|()| self.error(token, ErrorKind::DuplicateField(field)))
    }

    fn note_trailing_field(&mut self, token: Token<'a>) {
        if self.tuples_seen == 1 && self.first_trailing_field.is_none() {
            self.first_trailing_field = Some(token.start + 1);
        }
    }

    /// A `packets=` of the current tuple must have had its `bytes=`.
    fn no_pending_packets(&self, column: usize) -> Result<(), ParseError> {
        if self.pending_packets.is_none() {
            return Ok(());
        }
        let direction = if self.tuples_seen == 1 {
            Direction::Original
        } else {
            Direction::Reply
        };
        Err(self.error_at(
            column,
            ErrorKind::MissingField {
                direction,
                field: Field::Bytes,
            },
        ))
    }

    /// Checks completeness and assembles the tuples.
    fn finish(mut self) -> Result<Flow<'a>, ParseError> {
        match self.tuples_seen {
            0 => return Err(self.error_at(self.end_column(), ErrorKind::MissingTuple)),
            1 => {
                let column = self.first_trailing_field.unwrap_or(self.end_column());
                return Err(self.error_at(column, ErrorKind::MissingReplyTuple));
            }
            _ => {}
        }
        self.no_pending_packets(self.end_column())?;
        // Counters are printed for both directions or for neither; on one
        // side only, the line was cut (a truncated capture's last line).
        let missing_counters = match (&self.flow.orig_counters, &self.flow.reply_counters) {
            (Some(_), None) => Some(Direction::Reply),
            (None, Some(_)) => Some(Direction::Original),
            _ => None,
        };
        if let Some(direction) = missing_counters {
            return Err(self.error_at(
                self.end_column(),
                ErrorKind::MissingField {
                    direction,
                    field: Field::Packets,
                },
            ));
        }
        if self.pending_gre_timeout.is_some() {
            return Err(self.error_at(
                self.end_column(),
                ErrorKind::MissingField {
                    direction: Direction::Original,
                    field: Field::GreStreamTimeout,
                },
            ));
        }
        let family_from_column = self.flow.l3_number.and_then(|n| match n {
            2 => Some(Family::Ipv4),
            10 => Some(Family::Ipv6),
            _ => None,
        });
        let orig = self.assemble(0, Direction::Original)?;
        let reply = self.assemble(1, Direction::Reply)?;
        let family = family_from_column.unwrap_or_else(|| Family::of(&orig.src));
        for (addr, field, tuple) in [
            (orig.src, Field::Src, 0),
            (orig.dst, Field::Dst, 0),
            (reply.src, Field::Src, 1),
            (reply.dst, Field::Dst, 1),
        ] {
            if Family::of(&addr) != family {
                let column = self.tuples[tuple].column;
                return Err(self.error_at(column, ErrorKind::AddressFamilyMismatch(field)));
            }
        }
        self.flow.family = family;
        self.flow.orig = orig;
        self.flow.reply = reply;
        Ok(self.flow)
    }

    fn assemble(&self, index: usize, direction: Direction) -> Result<Tuple, ParseError> {
        let t = &self.tuples[index];
        let missing = |field| self.error_at(t.column, ErrorKind::MissingField { direction, field });
        let unexpected = |field| self.error_at(t.column, ErrorKind::UnexpectedField(field));
        let src = t.src.ok_or_else(|| missing(Field::Src))?;
        let dst = t.dst.ok_or_else(|| missing(Field::Dst))?;
        let has_ports = t.sport.is_some() || t.dport.is_some();
        let has_icmp = t.icmp_type.is_some() || t.icmp_code.is_some() || t.icmp_id.is_some();
        let has_keys = t.srckey.is_some() || t.dstkey.is_some();
        let kind = if self.printed_unknown {
            TupleKind::AddressOnly
        } else {
            self.flow.protocol.tuple_kind()
        };
        let l4 = match kind {
            TupleKind::Ports => {
                if has_icmp {
                    return Err(unexpected(Field::IcmpType));
                }
                if has_keys {
                    return Err(unexpected(Field::SrcKey));
                }
                L4::Ports {
                    sport: t.sport.ok_or_else(|| missing(Field::Sport))?,
                    dport: t.dport.ok_or_else(|| missing(Field::Dport))?,
                }
            }
            TupleKind::Icmp => {
                if has_ports {
                    return Err(unexpected(Field::Sport));
                }
                if has_keys {
                    return Err(unexpected(Field::SrcKey));
                }
                L4::Icmp {
                    icmp_type: t.icmp_type.ok_or_else(|| missing(Field::IcmpType))?,
                    code: t.icmp_code.ok_or_else(|| missing(Field::IcmpCode))?,
                    id: t.icmp_id.ok_or_else(|| missing(Field::IcmpId))?,
                }
            }
            TupleKind::Gre => {
                if has_ports {
                    return Err(unexpected(Field::Sport));
                }
                if has_icmp {
                    return Err(unexpected(Field::IcmpType));
                }
                L4::Gre {
                    srckey: t.srckey.ok_or_else(|| missing(Field::SrcKey))?,
                    dstkey: t.dstkey.ok_or_else(|| missing(Field::DstKey))?,
                }
            }
            TupleKind::AddressOnly => {
                if has_ports {
                    return Err(unexpected(Field::Sport));
                }
                if has_icmp {
                    return Err(unexpected(Field::IcmpType));
                }
                if has_keys {
                    return Err(unexpected(Field::SrcKey));
                }
                L4::None
            }
        };
        Ok(Tuple { src, dst, l4 })
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), ()> {
    if slot.is_some() {
        return Err(());
    }
    *slot = Some(value);
    Ok(())
}

fn number_error(fail: Fail, field: Field) -> ErrorKind {
    match fail {
        Fail::Syntax => ErrorKind::InvalidNumber(field),
        Fail::Overflow => ErrorKind::OutOfRange(field),
    }
}

#[cfg(test)]
mod tests {
    use super::{KEY_NAMES, Key, find_any, find_blank, parse_line};
    use crate::ErrorKind;

    #[test]
    fn key_names_classify() {
        let mut keys = Vec::new();
        for name in KEY_NAMES {
            let key = Key::classify(name);
            assert_ne!(key, Key::Other, "{}", String::from_utf8_lossy(name));
            assert!(!keys.contains(&key), "{}", String::from_utf8_lossy(name));
            keys.push(key);
        }
    }

    /// A UTF-8 byte-order mark before a line (the first line of a file
    /// saved by a Windows editor) is not read as part of its first word;
    /// error columns still count its three bytes.
    #[test]
    fn a_byte_order_mark_is_not_part_of_the_line() {
        let line = "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.1 dst=192.0.2.2 sport=1 \
                    dport=2 src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1 [ASSURED] use=1";
        let marked = format!("\u{feff}{line}");
        let (Ok(super::Line::Flow(plain)), Ok(super::Line::Flow(mut flow))) =
            (parse_line(line.as_bytes()), parse_line(marked.as_bytes()))
        else {
            panic!("both lines are entries");
        };
        assert_eq!(flow.raw, marked.as_bytes());
        flow.raw = plain.raw;
        assert_eq!(flow, plain);
        // A key out of the printers' alphabet is malformed; an unknown
        // state where a state starts it, before the tuples.
        for (token, state) in [
            ("ESTABLISHEDzone-orig=1", true),
            ("ESTAB=LISHED", false),
            ("FOO=1", false),
            ("foo.bar=1", false),
        ] {
            let damaged = line.replace("ESTABLISHED", token);
            let error = parse_line(damaged.as_bytes()).unwrap_err();
            assert_eq!(error.column, 27, "{token}");
            assert_eq!(
                matches!(error.kind, ErrorKind::UnknownState { protocol: "TCP" }),
                state,
                "{token}: {:?}",
                error.kind
            );
        }
        let bad = format!("\u{feff}{}", line.replace("sport=1 ", "sport=x "));
        let error = parse_line(bad.as_bytes()).unwrap_err();
        assert_eq!(error.column, bad.find("sport=x").unwrap() + 1);
    }

    /// A word without `=` among the fields says what it most likely is.
    #[test]
    fn bare_words_are_named() {
        let tuple = "src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2";
        let reply = "src=192.0.2.2 dst=192.0.2.1 sport=2 dport=1";
        let kind = |line: String| {
            let error = parse_line(line.as_bytes()).unwrap_err();
            (error.kind, error.column, error.token)
        };
        // Cut short: the last token starts a key.
        let cut = format!("tcp      6 100 ESTABLISHED {tuple} src=192.0.2.2 dst=192.0.2.1 spo");
        assert_eq!(
            kind(cut.clone()),
            (ErrorKind::CutShort, cut.len() - 2, "spo".into())
        );
        // The same word before other fields is no cut.
        let inside = format!("tcp      6 100 ESTABLISHED {tuple} spo {reply}");
        assert_eq!(kind(inside).0, ErrorKind::UnexpectedToken);
        // A key without its value, anywhere.
        let bare = format!("tcp      6 100 ESTABLISHED {tuple} {reply} mark use=1");
        assert_eq!(kind(bare).0, ErrorKind::MissingValue);
        let last = format!("tcp      6 100 ESTABLISHED {tuple} {reply} mark");
        assert_eq!(kind(last).0, ErrorKind::MissingValue);
        // Bytes that are not text.
        let binary = format!("tcp      6 100 ESTABLISHED {tuple} {reply} \u{1}\u{7f} use=1");
        assert_eq!(kind(binary).0, ErrorKind::NotText);
        // A state in lower case is a state, misprinted; on UDP, a word.
        let lower = format!("tcp      6 100 established {tuple} {reply}");
        assert_eq!(
            kind(lower),
            (
                ErrorKind::UnknownState { protocol: "TCP" },
                16,
                "established".into()
            )
        );
        let udp = format!("udp      17 100 established {tuple} {reply}");
        assert_eq!(kind(udp).0, ErrorKind::UnexpectedToken);
        // Elsewhere on the line, after the state, it is just a word.
        let later = format!("tcp      6 100 ESTABLISHED {tuple} close {reply}");
        assert_eq!(kind(later).0, ErrorKind::UnexpectedToken);
        // Text that is not ASCII is a word, not binary.
        let accented = format!("tcp      6 100 ESTABLISHED {tuple} {reply} hélper use=1");
        assert_eq!(kind(accented).0, ErrorKind::UnexpectedToken);
    }

    #[test]
    fn find_blank_and_find_any_agree_with_a_plain_scan() {
        let plain = |line: &[u8], from: usize, stops: &[u8]| {
            (from..line.len())
                .find(|&i| stops.contains(&line[i]))
                .unwrap_or(line.len())
        };
        let alphabet = [
            b'a',
            b' ',
            b'\t',
            0x80,
            0xff,
            0x20 ^ 0x80,
            0x09 ^ 0x01,
            b'=',
            b'\n',
            b'\r',
            0x0a ^ 0x80,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..40 {
            for _ in 0..50 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                for from in 0..=len {
                    let here = || format!("{line:?} from {from}");
                    assert_eq!(
                        find_blank(&line, from),
                        plain(&line, from, b" \t"),
                        "{}",
                        here()
                    );
                    let newline = find_any(&line, from, [b' ', b'\t', b'\n']);
                    assert_eq!(newline, plain(&line, from, b" \t\n"), "{}", here());
                }
            }
        }
    }
}
