//! Zero-copy parsing of Linux connection-tracking table dumps.
//!
//! `ctparse` reads every line format the kernel and conntrack-tools print
//! for a conntrack table, and identifies the format per line, so one file
//! may mix them:
//!
//! - `/proc/net/nf_conntrack` (the kernel's `ct_seq_show`) and the older
//!   `/proc/net/ip_conntrack`;
//! - `conntrack -L`, with `-o extended`, `-o id`, `-o ktimestamp`, `-o labels`;
//! - `conntrack -E` events (`[NEW]`, `[UPDATE]`, `[DESTROY]`, with the
//!   `-o timestamp` prefix and the `[USERSPACE]` suffix);
//! - conntrack-tools' trailer and messages and blank lines, which are skipped
//!   and counted rather than reported as errors.
//!
//! The main types:
//!
//! - [`Flow`]: one entry, borrowing the dump bytes (no copies, no allocation
//!   unless a line carries unknown `key=value` fields).
//! - [`Parser`]: an iterator of `Result<Flow, ParseError>` over a buffer that
//!   never stops at a bad line ([`Parser::for_each_ref`] is its faster
//!   internal form for full passes), and [`parse_line`] for a single line.
//! - [`ParseError`]: owned, with line, column, kind and offending token.
//! - [`Source`], [`MappedFile`], [`ChunkReader`], [`line_chunks`]:
//!   memory-mapped files (also read in pieces with `pread`),
//!   bounded-memory streaming for `/proc` files, pipes and stdin, and
//!   line-aligned chunks for parallel consumers.
//! - [`render`]: the inverse of parsing, for tests and generators.
//!
//! No input makes the parser panic: invalid UTF-8, NUL bytes, huge lines
//! (over [`MAX_LINE`] bytes) and truncated lines all become
//! [`ParseError`]s.
//!
//! # Example
//!
//! ```
//! use ctparse::{Parser, Protocol, TcpState, State};
//!
//! let dump = b"\
//! ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=198.51.100.5 sport=51234 dport=443 src=198.51.100.5 dst=192.0.2.10 sport=443 dport=51234 [ASSURED] mark=0 zone=0 use=2
//! ipv6     10 udp      17 25 src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0035 sport=5353 dport=53 [UNREPLIED] src=2001:0db8:0000:0000:0000:0000:0000:0035 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=53 dport=5353 mark=0 zone=0 use=2
//! icmp     1 29 src=192.0.2.10 dst=203.0.113.9 type=8 code=0 id=7 src=203.0.113.9 dst=192.0.2.10 type=0 code=0 id=7 mark=0 use=1
//! ";
//! let flows: Vec<_> = Parser::new(dump).collect::<Result<_, _>>()?;
//! assert_eq!(flows.len(), 3);
//! assert_eq!(flows[0].state, Some(State::Tcp(TcpState::Established)));
//! assert_eq!(flows[1].orig.src.to_string(), "2001:db8::1");
//! assert_eq!(flows[2].protocol, Protocol::ICMP);
//! # Ok::<(), ctparse::ParseError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod fast;
mod flow;
mod grammar;
mod guard;
mod iter;
mod line;
mod render;
mod source;
mod state;

pub use error::{Direction, ErrorKind, Field, Foreign, MAX_TOKEN_LEN, ParseError};
pub use flow::{
    Counters, Event, Family, Flow, GreTimeouts, L4, Protocol, Status, Tuple, TupleKind,
};
pub use guard::exit_when_mapped_file_shrinks;
pub use iter::{ParseStats, Parser};
pub use line::{Line, SkipReason, continues_on_next_line, parse_line, splice_safe_cut};
pub use render::{Dialect, render};
pub use source::{Changed, ChunkReader, LineChunks, MappedFile, Source, Stream, line_chunks};
pub use state::{DccpState, SctpState, State, TcpState};

/// The longest line read, in bytes, without its line end: a longer one is
/// an error ([`ErrorKind::LineTooLong`]) wherever it comes from. Entries
/// take under 1 KiB, even with every `conntrack -o` field and a long
/// security context; the limit is what bounds the memory of a stream
/// (a [`ChunkReader`] keeps only the start of a longer line), so that a
/// corrupt or hostile input, gigabytes without a line end, cannot take
/// it all.
pub const MAX_LINE: usize = 64 * 1024;

/// Test hooks: the two parsing paths separately, so tests outside this
/// crate can check that the fast path agrees with the general parser. Not
/// part of the supported API.
#[doc(hidden)]
pub mod testing {
    use crate::{Flow, Line, ParseError};

    /// The fast path alone: `None` when the line is not in the common layout.
    pub fn fast_path(line: &[u8]) -> Option<Flow<'_>> {
        crate::fast::parse(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// The general parser alone.
    pub fn general_parser(line: &[u8]) -> Result<Line<'_>, ParseError> {
        crate::line::parse_general(line.strip_suffix(b"\r").unwrap_or(line), 1)
    }

    /// What [`Parser`](crate::Parser) must yield for `buf`, and its line
    /// count: every line (cut at `\n`) through the general parser alone,
    /// errors numbered by line, skipped lines left out.
    pub fn general_line_by_line(buf: &[u8]) -> (Vec<Result<Flow<'_>, ParseError>>, u64) {
        let mut pieces: Vec<&[u8]> = buf.split(|&b| b == b'\n').collect();
        if buf.is_empty() || buf.ends_with(b"\n") {
            pieces.pop();
        }
        let mut out = Vec::new();
        for (index, line) in pieces.iter().enumerate() {
            match general_parser(line) {
                Ok(Line::Flow(flow)) => out.push(Ok(flow)),
                Ok(Line::Skipped(_)) => {}
                Err(mut error) => {
                    error.line = index as u64 + 1;
                    out.push(Err(error));
                }
            }
        }
        (out, pieces.len() as u64)
    }

    /// What [`Parser::for_each_ref`](crate::Parser::for_each_ref) lends
    /// over consecutive `pieces` of one input, each parsed on its own as
    /// the analyzer's readers do (in debug form, errors numbered in the
    /// whole input), and the counts summed: `lines`, `flows`, `skipped`,
    /// `errors`, `trailers`, `shown`. Cut by [`line_chunks`](crate::line_chunks)
    /// of any size, the result must be that of the whole input as one piece.
    pub fn lent_by_pieces(pieces: &[&[u8]]) -> (Vec<String>, [u64; 6]) {
        let mut items = Vec::new();
        let mut counts = [0u64; 6];
        let mut first_line = 1;
        for piece in pieces {
            let mut parser = crate::Parser::starting_at_line(piece, first_line);
            parser.for_each_ref(|item| items.push(format!("{:?}", item.cloned())));
            let s = parser.stats();
            let piece_counts = [s.lines, s.flows, s.skipped, s.errors, s.trailers, s.shown];
            for (sum, n) in counts.iter_mut().zip(piece_counts) {
                *sum += n;
            }
            first_line += s.lines;
        }
        (items, counts)
    }

    /// True when `flow` has only the fields of the fast path's layout, so
    /// the fast path must read its line when the line is printed the
    /// canonical way (single spaces between fields, no tabs).
    pub fn in_fast_layout(flow: &Flow<'_>) -> bool {
        use crate::{L4, Protocol, State, Status, TupleKind};
        let flags = Status::UNREPLIED | Status::ASSURED | Status::OFFLOAD | Status::HW_OFFLOAD;
        let one_exclusive_flag = [Status::ASSURED, Status::OFFLOAD, Status::HW_OFFLOAD]
            .iter()
            .filter(|&&flag| flow.status.contains(flag))
            .count()
            <= 1;
        // `unknown  N` lines print addresses only, and no state.
        let (kind, state_fits) = match (flow.orig.l4, flow.protocol) {
            (L4::None, _) => (TupleKind::AddressOnly, flow.state.is_none()),
            (_, Protocol::TCP) => (TupleKind::Ports, matches!(flow.state, Some(State::Tcp(_)))),
            (_, Protocol::SCTP) => (TupleKind::Ports, matches!(flow.state, Some(State::Sctp(_)))),
            (_, Protocol::DCCP) => (TupleKind::Ports, matches!(flow.state, Some(State::Dccp(_)))),
            (_, protocol) => (protocol.tuple_kind(), flow.state.is_none()),
        };
        let l4_fits = |l4: L4| match kind {
            TupleKind::Ports => matches!(l4, L4::Ports { .. }),
            TupleKind::Icmp => matches!(l4, L4::Icmp { .. }),
            TupleKind::Gre => matches!(l4, L4::Gre { .. }),
            TupleKind::AddressOnly => l4 == L4::None,
        };
        state_fits
            && l4_fits(flow.orig.l4)
            && l4_fits(flow.reply.l4)
            && flow.l3_number.is_none_or(|n| n == flow.family.number())
            && flow.timeout.is_some_and(|t| t >= 0)
            && (flow.gre_timeouts.is_none() || kind == TupleKind::Gre)
            && flow.orig_zone.is_none()
            && flow.reply_zone.is_none()
            && flags.contains(flow.status)
            && one_exclusive_flag
            && flow.secmark.is_none()
            && flow.helper.is_none()
            && flow.portid.is_none()
            && flow.progname.is_none()
            && flow.extra.is_empty()
    }
}
