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
//!   never stops at a bad line, and [`parse_line`] for a single line.
//! - [`ParseError`]: owned, with line, column, kind and offending token.
//! - [`Source`], [`ChunkReader`], [`line_chunks`]: memory-mapped files,
//!   bounded-memory streaming for `/proc` files, pipes and stdin, and
//!   line-aligned chunks for parallel consumers.
//! - [`render`]: the inverse of parsing, for tests and generators.
//!
//! No input makes the parser panic: invalid UTF-8, NUL bytes, huge lines
//! and truncated lines all become [`ParseError`]s.
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
mod flow;
mod grammar;
mod iter;
mod line;
mod render;
mod source;
mod state;

pub use error::{Direction, ErrorKind, Field, MAX_TOKEN_LEN, ParseError};
pub use flow::{
    Counters, Event, Family, Flow, GreTimeouts, L4, Protocol, Status, Tuple, TupleKind,
};
pub use iter::{ParseStats, Parser};
pub use line::{Line, SkipReason, parse_line};
pub use render::{Dialect, render};
pub use source::{ChunkReader, LineChunks, Source, Stream, line_chunks};
pub use state::{DccpState, SctpState, State, TcpState};
