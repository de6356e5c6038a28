//! Exact, parallel, mergeable aggregates over conntrack flows.
//!
//! `ctanalyze` turns the flows [`ctparse`] reads into the numbers an
//! on-call engineer needs when the table is full: protocol and family
//! counts, TCP (SCTP, DCCP) states, status flags, top sources,
//! destinations and destination ports, DNAT and SNAT pairs, zones, marks,
//! accounting totals and a histogram of remaining timeouts.
//!
//! The main types:
//!
//! - [`Summary`]: every aggregate of a pass. Each part implements
//!   [`Merge`], whose law (identity and associative, commutative merge) is
//!   what lets chunks be folded on any thread and combined.
//! - [`Filter`]: `conntrack -L`'s selection options (family, protocol,
//!   state, addresses or prefixes, ports, mark/mask, zone, status, NAT).
//! - [`Analyzer`]: the driver: line-aligned chunks folded in parallel on a
//!   rayon pool (or sequentially with one thread, the reference path),
//!   streams read in bounded batches; [`SummaryFeed`] for bytes pushed in
//!   pieces instead.
//! - [`Counter`]: exact counts over open key sets with deterministic top-N
//!   (count descending, then key ascending; `0` means all);
//!   [`AddressCounter`], the same for addresses in half the memory of a
//!   `Counter<IpAddr>` for IPv4 ones.
//! - [`Networks`]: per-address counts grouped by [`Prefixes`] (IPv4 /24,
//!   IPv6 /64, ...) after the pass, with the addresses each network holds.
//!
//! Memory grows with the number of distinct keys (addresses, ports, NAT
//! pairs, distinct remaining timeouts), never with the number of flows:
//! every flow is folded into counters and dropped.
//!
//! # Example
//!
//! ```
//! use ctanalyze::{Analyzer, Filter};
//! use ctparse::{Protocol, State, TcpState};
//!
//! let dump = b"\
//! ipv4     2 tcp      6 110 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2
//! ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.7 dst=198.51.100.2 sport=40001 dport=8080 src=203.0.113.5 dst=192.0.2.7 sport=80 dport=40001 [ASSURED] mark=0 zone=0 use=2
//! ipv4     2 udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2
//! ";
//! let tcp_only = Filter { protocol: Some(Protocol::TCP), ..Filter::default() };
//! let summary = Analyzer::new().filter(tcp_only).analyze_bytes(dump);
//! assert_eq!((summary.totals.flows, summary.totals.matched), (3, 2));
//! assert_eq!(summary.state(State::Tcp(TcpState::TimeWait)), 1);
//! let dnat = summary.dnat_rows(10);
//! assert_eq!(dnat[0].original, "198.51.100.2:8080");
//! assert_eq!(dnat[0].translated, "203.0.113.5:80");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod doctor;
mod driver;
mod feed;
mod filter;
mod merge;
mod networks;
mod report;
mod summary;

pub use driver::{Analyzer, DEFAULT_CHUNK_SIZE, Progress, ReadError, ThreadsError};
pub use feed::SummaryFeed;
pub use filter::{Cidr, Filter, FilterError, MarkMatch, Nat, StatusMatch};
pub use merge::{AddressCounter, Counter, Counts, Merge};
pub use networks::{NetworkRow, Networks, Prefixes};
pub use report::{
    AccountingRow, AddressBytesRow, AddressRow, EventRow, FamilyRow, FlagsRow, MarkRow, NO_STATE,
    NatRow, PortRow, ProtocolRow, StateRow, ZoneRow,
};
pub use summary::{
    Accounting, Aggregates, DnatKey, Endpoint, ErrorSample, ErrorSamples, FlagCounts, Protocols,
    SnatKey, StateCounts, Summary, TimeoutKey, Totals,
};
