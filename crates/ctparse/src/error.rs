//! Parse errors: owned, `Send`, and precise about where and what.

use std::fmt;
use std::path::Path;

/// The longest offending token an error keeps (in bytes); longer ones are
/// cut and marked with `...`, so that a 10 MB garbage line does not make a
/// 10 MB error.
pub const MAX_TOKEN_LEN: usize = 64;

/// A malformed line.
///
/// Owned (it does not borrow the dump), so it can be sent across threads,
/// collected and reported after the dump is unmapped. `Display` prints
/// `line:column: message`; use [`ParseError::display_in`] to prefix a path
/// as in `dump.txt:1234:17: unknown TCP state "SYN_SNT"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParseError {
    /// 1-based line number in the input.
    pub line: u64,
    /// 1-based byte column where the offending token starts.
    pub column: usize,
    /// What was wrong.
    pub kind: ErrorKind,
    /// The offending token (at most [`MAX_TOKEN_LEN`] bytes of it, then
    /// `...`), printable ASCII as is and every other byte, `"` and `\\` as
    /// `\xNN` escapes, so a message is always one clean line; empty when
    /// the problem is something missing.
    pub token: String,
}

impl ParseError {
    pub(crate) fn new(line: u64, column: usize, kind: ErrorKind, token: &[u8]) -> ParseError {
        let shown = &token[..token.len().min(MAX_TOKEN_LEN)];
        let mut text = escape(shown);
        if token.len() > MAX_TOKEN_LEN {
            text.push_str("...");
        }
        ParseError {
            line,
            column,
            kind,
            token: text,
        }
    }

    /// The message without position: `unknown TCP state "SYN_SNT"`.
    pub fn message(&self) -> String {
        if self.token.is_empty() {
            self.kind.to_string()
        } else {
            format!("{} \"{}\"", self.kind, self.token)
        }
    }

    /// Displays the error as `PATH:LINE:COLUMN: MESSAGE`.
    pub fn display_in<'e>(&'e self, path: &'e Path) -> impl fmt::Display + 'e {
        DisplayIn { error: self, path }
    }
}

/// Printable ASCII stays; anything else (control bytes, NUL, invalid or
/// non-ASCII UTF-8, quotes, backslashes) becomes `\xNN`.
fn escape(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes {
        if (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\' {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    text
}

struct DisplayIn<'e> {
    error: &'e ParseError,
    path: &'e Path,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.error)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message())
    }
}

impl std::error::Error for ParseError {}

/// A field of a conntrack line, for naming it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the field printed as its name
pub enum Field {
    L3Number,
    L4Number,
    Timeout,
    Src,
    Dst,
    Sport,
    Dport,
    IcmpType,
    IcmpCode,
    IcmpId,
    SrcKey,
    DstKey,
    ZoneOrig,
    ZoneReply,
    Packets,
    Bytes,
    Mark,
    Secmark,
    Secctx,
    Zone,
    DeltaTime,
    Start,
    Stop,
    Helper,
    Use,
    Id,
    Labels,
    GreTimeout,
    GreStreamTimeout,
    Portid,
    Progname,
}

impl Field {
    /// The name as printed in a dump (`dst`, `zone-orig`, `delta-time`).
    pub fn name(self) -> &'static str {
        match self {
            Field::L3Number => "L3 protocol number",
            Field::L4Number => "L4 protocol number",
            Field::Timeout => "timeout",
            Field::Src => "src",
            Field::Dst => "dst",
            Field::Sport => "sport",
            Field::Dport => "dport",
            Field::IcmpType => "type",
            Field::IcmpCode => "code",
            Field::IcmpId => "id",
            Field::SrcKey => "srckey",
            Field::DstKey => "dstkey",
            Field::ZoneOrig => "zone-orig",
            Field::ZoneReply => "zone-reply",
            Field::Packets => "packets",
            Field::Bytes => "bytes",
            Field::Mark => "mark",
            Field::Secmark => "secmark",
            Field::Secctx => "secctx",
            Field::Zone => "zone",
            Field::DeltaTime => "delta-time",
            Field::Start => "start",
            Field::Stop => "stop",
            Field::Helper => "helper",
            Field::Use => "use",
            Field::Id => "id",
            Field::Labels => "labels",
            Field::GreTimeout => "timeout",
            Field::GreStreamTimeout => "stream_timeout",
            Field::Portid => "portid",
            Field::Progname => "progname",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which tuple of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The original direction (first tuple).
    Original,
    /// The reply direction (second tuple).
    Reply,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Original => "original",
            Direction::Reply => "reply",
        })
    }
}

/// Conntrack output that is not a table listing, recognised by its first
/// word so that it is named rather than reported as a bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Foreign {
    /// `conntrack -L -o xml` (`<?xml ...`, `<conntrack>`, `<flow>...`).
    Xml,
    /// `conntrack -L -o save` (`-A -t 431999 -u SEEN_REPLY,ASSURED -s ...`).
    Save,
    /// `conntrack -S` (`cpu=0 found=0 ...`) or
    /// `/proc/net/stat/nf_conntrack` (a header of names, rows of hex).
    Statistics,
    /// `/proc/net/nf_conntrack_expect`, `conntrack -L expect` or
    /// `conntrack -E expect` (`297 l3proto = 2 proto=6 ...`, `300 proto=6
    /// ...`, `[NEW] 300 proto=6 ...`).
    Expectations,
    /// A line of one number: the entry count of `conntrack -C` or
    /// `nf_conntrack_count`.
    Count,
    /// The conntrack sysctls (`net.netfilter.nf_conntrack_max = 262144`,
    /// or `grep -r . /proc/sys/net/netfilter`'s
    /// `/proc/sys/net/netfilter/nf_conntrack_max:262144`).
    Sysctl,
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Foreign::Xml => "`conntrack -o xml` output, which ctreport does not read (capture without -o xml)",
            Foreign::Save => "`conntrack -o save` output, which ctreport does not read (capture without -o save)",
            Foreign::Statistics => "conntrack statistics (`conntrack -S` or /proc/net/stat/nf_conntrack); `ctreport doctor --stats FILE` reads them",
            Foreign::Expectations => "conntrack expectations (/proc/net/nf_conntrack_expect, `conntrack -L expect` or `-E expect`), which ctreport does not read",
            Foreign::Count => "a count of entries (`conntrack -C`, nf_conntrack_count), not a listing of them: capture `conntrack -L` or /proc/net/nf_conntrack",
            Foreign::Sysctl => "conntrack sysctls (`sysctl -a`); `ctreport doctor --sysctl FILE` reads them",
        })
    }
}

/// What was wrong with a line. The `Display` form is the message without the
/// offending token, lowercase, without a trailing period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line ends before the protocol columns are complete.
    MissingProtocol,
    /// The L3 column names a family conntrack never prints (`ipv5`).
    UnknownFamily,
    /// The L3 name does not match its number (`ipv4 10`).
    FamilyMismatch {
        /// The name printed.
        name: &'static str,
        /// The number printed.
        number: u16,
    },
    /// The L4 protocol name is not one conntrack prints.
    UnknownProtocol,
    /// The L4 protocol name does not match its number (`tcp 17`).
    ProtocolMismatch {
        /// The number printed.
        number: u8,
        /// The name conntrack prints for that number.
        expected: &'static str,
    },
    /// A number that is not a decimal (or, for GRE keys, hex) number.
    InvalidNumber(Field),
    /// A number too large for its field (`sport=70000`).
    OutOfRange(Field),
    /// Not an IPv4 address where one was expected.
    InvalidIpv4(Field),
    /// Not an IPv6 address where one was expected.
    InvalidIpv6(Field),
    /// Not an IP address at all.
    InvalidAddress(Field),
    /// The addresses of the line are not all of the family of its L3 column.
    AddressFamilyMismatch(Field),
    /// A state name the protocol does not have (`SYN_SNT`).
    UnknownState {
        /// `TCP`, `SCTP` or `DCCP`.
        protocol: &'static str,
    },
    /// A state-like token on a protocol without states.
    UnexpectedState,
    /// A `[FLAG]` conntrack never prints.
    UnknownFlag,
    /// The same flag twice.
    DuplicateFlag,
    /// More than one of `[ASSURED]`, `[OFFLOAD]`, `[HW_OFFLOAD]`.
    ConflictingFlags,
    /// `[UNREPLIED]` anywhere but between the two tuples.
    MisplacedFlag,
    /// The same field twice in one place.
    DuplicateField(Field),
    /// A tuple lacks a field its protocol prints.
    MissingField {
        /// The tuple.
        direction: Direction,
        /// The field.
        field: Field,
    },
    /// A tuple field its protocol never prints (`sport=` on ICMP).
    UnexpectedField(Field),
    /// Only one tuple: the line is cut or not a conntrack entry.
    MissingReplyTuple,
    /// No tuple at all.
    MissingTuple,
    /// A token that is neither `key=value`, `[FLAG]`, nor where a column belongs.
    UnexpectedToken,
    /// A key conntrack prints, without its `=value` (`mark`).
    MissingValue,
    /// The line ends inside a field: its last token is the start of a key
    /// conntrack prints (`spo` of `sport=`), as when a capture is cut short.
    CutShort,
    /// Bytes that are not printable text (binary data, NUL, invalid
    /// UTF-8): a damaged file or not a capture.
    NotText,
    /// An unterminated `[start=...` / `[stop=...` / `[FLAG`.
    UnterminatedBracket,
    /// A conntrack-tools message spliced into the middle of an entry, as
    /// `conntrack -L 2>&1` produces when stderr interleaves with buffered
    /// stdout; the rest of the entry is on the next line.
    /// [`Parser::for_each_ref`](crate::Parser::for_each_ref) mends such an
    /// entry when the next line is in its buffer; this error is for the
    /// rest (the iterator, a message that reports a failure, a rest that
    /// does not complete the entry).
    SplicedToolMessage,
    /// A line of another conntrack output than a table listing, which
    /// ctreport recognises but does not read.
    NotAnEntry(Foreign),
    /// A conntrack-tools message that reports a failure (`Operation
    /// failed: ...`, an unknown option, `WARNING: We have hit ENOBUFS!`):
    /// the capture around it is incomplete or not a listing at all.
    ToolFailure,
    /// A line longer than [`MAX_LINE`](crate::MAX_LINE) bytes: no entry
    /// is that long, and a stream keeps only its start (the error's token).
    LineTooLong,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::MissingProtocol => write!(f, "line ends before the protocol columns"),
            ErrorKind::UnknownFamily => write!(f, "unknown L3 family"),
            ErrorKind::FamilyMismatch { name, number } => {
                write!(f, "L3 family {name} does not match number {number}")
            }
            ErrorKind::UnknownProtocol => write!(f, "unknown L4 protocol name"),
            ErrorKind::ProtocolMismatch { number, expected } => write!(
                f,
                "L4 protocol name does not match number {number} (which prints as {expected})"
            ),
            ErrorKind::InvalidNumber(field) => write!(f, "invalid number in {field}"),
            ErrorKind::OutOfRange(field) => write!(f, "number out of range in {field}"),
            ErrorKind::InvalidIpv4(field) => write!(f, "invalid IPv4 address in {field}"),
            ErrorKind::InvalidIpv6(field) => write!(f, "invalid IPv6 address in {field}"),
            ErrorKind::InvalidAddress(field) => write!(f, "invalid address in {field}"),
            ErrorKind::AddressFamilyMismatch(field) => {
                write!(
                    f,
                    "address family of {field} differs from the line's family"
                )
            }
            ErrorKind::UnknownState { protocol } => write!(f, "unknown {protocol} state"),
            ErrorKind::UnexpectedState => write!(f, "state on a protocol without states"),
            ErrorKind::UnknownFlag => write!(f, "unknown flag"),
            ErrorKind::DuplicateFlag => write!(f, "duplicate flag"),
            ErrorKind::ConflictingFlags => {
                write!(f, "more than one of [ASSURED], [OFFLOAD], [HW_OFFLOAD]")
            }
            ErrorKind::MisplacedFlag => write!(f, "[UNREPLIED] outside the two tuples"),
            ErrorKind::DuplicateField(field) => write!(f, "duplicate {field}"),
            ErrorKind::MissingField { direction, field } => {
                write!(f, "{direction} tuple has no {field}")
            }
            ErrorKind::UnexpectedField(field) => {
                write!(f, "{field} is not a field of this protocol's tuple")
            }
            ErrorKind::MissingReplyTuple => write!(f, "missing reply tuple"),
            ErrorKind::MissingTuple => write!(f, "missing original tuple"),
            ErrorKind::UnexpectedToken => write!(f, "unexpected token"),
            ErrorKind::MissingValue => write!(f, "key without its =value"),
            ErrorKind::CutShort => write!(
                f,
                "line cut short inside a field (a capture cut off, or a line split in two)"
            ),
            ErrorKind::NotText => {
                write!(f, "bytes that are not text (binary data or a damaged file)")
            }
            ErrorKind::UnterminatedBracket => write!(f, "unterminated bracket"),
            ErrorKind::SplicedToolMessage => write!(
                f,
                "conntrack's stderr spliced into this entry (send stderr to a file of its own, 2>conntrack.err, to keep both whole); the entry continues on the next line:"
            ),
            ErrorKind::NotAnEntry(foreign) => write!(f, "not a table entry: {foreign}"),
            ErrorKind::ToolFailure => write!(
                f,
                "conntrack-tools reported a failure: the capture is incomplete or not a listing:"
            ),
            ErrorKind::LineTooLong => write!(
                f,
                "line longer than {} bytes, not a conntrack entry (entries take under 1 KiB); it starts",
                crate::MAX_LINE
            ),
        }
    }
}
