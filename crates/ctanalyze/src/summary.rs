//! Every aggregate of one pass, and how a flow feeds them.

use std::net::IpAddr;

use ctparse::{
    DccpState, Family, Flow, L4, ParseError, ParseStats, Protocol, SctpState, State, Status,
    TcpState,
};

use crate::doctor::Breakdown;
use crate::filter::Filter;
use crate::merge::{AddressCounter, Counter, Merge, Sharded, addresses};

/// Line and flow counts, and the first malformed lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Input bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines that parsed as flows.
    pub flows: u64,
    /// Flows that passed the filter (all of them without a filter).
    pub matched: u64,
    /// Blank lines and tool messages.
    pub skipped: u64,
    /// Malformed lines.
    pub errors: u64,
    /// Of `errors`, conntrack-tools' own failure messages (not entries).
    pub failures: u64,
    /// conntrack-tools trailers read (`85 flow entries have been shown.`).
    pub trailers: u64,
    /// The entries (or events) those trailers say were printed: a
    /// listing with fewer `flows` lost some.
    pub shown: u64,
    /// `conntrack -E` events the filter left out (the summary's event
    /// counts are of matched flows): with them, every event read.
    pub filtered_events: u64,
    /// The first malformed lines, by position; at most the analyzer's
    /// `max_errors`.
    pub error_samples: ErrorSamples,
}

impl Totals {
    /// Adds the line counts of a parser pass.
    pub fn add_stats(&mut self, stats: ParseStats) {
        self.lines += stats.lines;
        self.flows += stats.flows;
        self.skipped += stats.skipped;
        self.errors += stats.errors;
        self.failures += stats.failures;
        self.trailers += stats.trailers;
        self.shown = self.shown.saturating_add(stats.shown);
    }
}

impl Merge for Totals {
    fn merge(&mut self, other: Self) {
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.flows += other.flows;
        self.matched += other.matched;
        self.skipped += other.skipped;
        self.errors += other.errors;
        self.failures += other.failures;
        self.trailers += other.trailers;
        self.shown = self.shown.saturating_add(other.shown);
        self.filtered_events += other.filtered_events;
        self.error_samples.merge(other.error_samples);
    }
}

/// A malformed line and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSample {
    /// The index of the input (file) it came from.
    pub input: usize,
    /// The byte offset of the chunk that held it; its `error.line` counts
    /// from that chunk's first line until the analyzer resolves it to the
    /// line number in the whole input (then this is 0).
    pub chunk_offset: u64,
    /// The error.
    pub error: ParseError,
}

impl ErrorSample {
    fn position(&self) -> (usize, u64, u64, usize) {
        (
            self.input,
            self.chunk_offset,
            self.error.line,
            self.error.column,
        )
    }
}

/// The first `limit` errors by position in the input: merged from any
/// split, it keeps the same ones as a sequential pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorSamples {
    /// How many to keep.
    pub limit: usize,
    /// Kept errors, ordered by position.
    pub samples: Vec<ErrorSample>,
}

impl ErrorSamples {
    /// Keeps `sample` when it is among the first `limit` by position.
    pub fn add(&mut self, sample: ErrorSample) {
        if self.limit == 0 {
            return;
        }
        if self.samples.len() == self.limit
            && self
                .samples
                .last()
                .is_some_and(|last| last.position() <= sample.position())
        {
            return;
        }
        let at = self
            .samples
            .partition_point(|s| s.position() <= sample.position());
        self.samples.insert(at, sample);
        self.samples.truncate(self.limit);
    }
}

impl Merge for ErrorSamples {
    fn merge(&mut self, other: Self) {
        self.limit = self.limit.max(other.limit);
        // Both lists are sorted: merge them, keep the first `limit`.
        let mut merged =
            Vec::with_capacity((self.samples.len() + other.samples.len()).min(self.limit));
        let mut mine = std::mem::take(&mut self.samples).into_iter().peekable();
        let mut theirs = other.samples.into_iter().peekable();
        while merged.len() < self.limit {
            let take_mine = match (mine.peek(), theirs.peek()) {
                (Some(a), Some(b)) => a.position() <= b.position(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_mine {
                mine.next()
            } else {
                theirs.next()
            });
        }
        self.samples = merged;
    }
}

/// Counts of the bracketed status flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagCounts {
    /// `[ASSURED]`
    pub assured: u64,
    /// `[UNREPLIED]`
    pub unreplied: u64,
    /// Offloaded to a flowtable, in software or hardware (`[OFFLOAD]` and
    /// `[HW_OFFLOAD]`): the kernel's `IPS_OFFLOAD`, which hardware offload
    /// sets too, as `conntrack -L -u OFFLOAD` selects it.
    pub offload: u64,
    /// Of those, offloaded to hardware (`[HW_OFFLOAD]`).
    pub hw_offload: u64,
}

impl Merge for FlagCounts {
    fn merge(&mut self, other: Self) {
        self.assured += other.assured;
        self.unreplied += other.unreplied;
        self.offload += other.offload;
        self.hw_offload += other.hw_offload;
    }
}

/// Protocol-state counts: dense tables indexed by the kernel's state index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// TCP entries per state.
    pub tcp: [u64; TcpState::COUNT],
    /// TCP entries printed without a state (offloaded entries, `[DESTROY]`
    /// events): counted here rather than dropped.
    pub tcp_without_state: u64,
    /// SCTP entries per state.
    pub sctp: [u64; SctpState::COUNT],
    /// DCCP entries per state.
    pub dccp: [u64; DccpState::COUNT],
}

impl Merge for StateCounts {
    fn merge(&mut self, other: Self) {
        self.tcp.merge(other.tcp);
        self.tcp_without_state += other.tcp_without_state;
        self.sctp.merge(other.sctp);
        self.dccp.merge(other.dccp);
    }
}

/// Accounting totals, from `packets=` / `bytes=` (with `nf_conntrack_acct`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Flows that carried counters.
    pub flows_with_counters: u64,
    /// Original-direction packets.
    pub orig_packets: u64,
    /// Original-direction bytes.
    pub orig_bytes: u64,
    /// Reply-direction packets.
    pub reply_packets: u64,
    /// Reply-direction bytes.
    pub reply_bytes: u64,
}

impl Merge for Accounting {
    fn merge(&mut self, other: Self) {
        self.flows_with_counters += other.flows_with_counters;
        self.orig_packets = self.orig_packets.saturating_add(other.orig_packets);
        self.orig_bytes = self.orig_bytes.saturating_add(other.orig_bytes);
        self.reply_packets = self.reply_packets.saturating_add(other.reply_packets);
        self.reply_bytes = self.reply_bytes.saturating_add(other.reply_bytes);
    }
}

/// An address with the port when the protocol has ports: `addr:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The address.
    pub addr: IpAddr,
    /// The port, for protocols with ports.
    pub port: Option<u16>,
}

impl std::fmt::Display for Endpoint {
    /// `192.0.2.1:80`, `[2001:db8::1]:80`, or the bare address without a port.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(port)) => write!(f, "[{a}]:{port}"),
            (a, Some(port)) => write!(f, "{a}:{port}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

/// The key of a DNAT pair: the destination the client used and the one
/// the connection was translated to (the reply's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnatKey {
    /// The L4 protocol.
    pub protocol: Protocol,
    /// Original destination.
    pub original: Endpoint,
    /// Reply source: where the connection really goes.
    pub translated: Endpoint,
}

/// The key of an SNAT pair: the original source address and the address it
/// was translated to (the reply's destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnatKey {
    /// The L4 protocol.
    pub protocol: Protocol,
    /// Original source address.
    pub original: IpAddr,
    /// Reply destination address.
    pub translated: IpAddr,
}

/// A set of the keyed aggregates of a [`Summary`]: the ones a pass
/// computes. Each costs a hash-map update per flow, so a report that
/// shows only some of them asks for only those
/// ([`Analyzer::aggregates`](crate::Analyzer::aggregates)). The dense
/// counts (families, protocols, flags, states, accounting totals) are
/// always computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregates(u16);

impl Aggregates {
    /// None of the keyed aggregates.
    pub const NONE: Aggregates = Aggregates(0);
    /// [`Summary::sources`].
    pub const SOURCES: Aggregates = Aggregates(1);
    /// [`Summary::destinations`].
    pub const DESTINATIONS: Aggregates = Aggregates(1 << 1);
    /// [`Summary::destination_ports`].
    pub const PORTS: Aggregates = Aggregates(1 << 2);
    /// [`Summary::dnat`].
    pub const DNAT: Aggregates = Aggregates(1 << 3);
    /// [`Summary::snat`].
    pub const SNAT: Aggregates = Aggregates(1 << 4);
    /// [`Summary::zones`].
    pub const ZONES: Aggregates = Aggregates(1 << 5);
    /// [`Summary::marks`].
    pub const MARKS: Aggregates = Aggregates(1 << 6);
    /// [`Summary::source_bytes`].
    pub const SOURCE_BYTES: Aggregates = Aggregates(1 << 7);
    /// [`Summary::timeouts`].
    pub const TIMEOUTS: Aggregates = Aggregates(1 << 8);
    /// Every aggregate above (not [`BREAKDOWN`](Aggregates::BREAKDOWN)).
    pub const ALL: Aggregates = Aggregates((1 << 9) - 1);
    /// [`Summary::breakdown`], the doctor's counts: asked for on its own
    /// (it keeps every address pair, millions in a full table).
    pub const BREAKDOWN: Aggregates = Aggregates(1 << 9);

    /// Both sets together (`|` in a `const`).
    pub const fn union(self, other: Aggregates) -> Aggregates {
        Aggregates(self.0 | other.0)
    }

    /// True when every aggregate of `other` is in `self`.
    #[inline]
    pub fn contains(self, other: Aggregates) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Aggregates {
    type Output = Aggregates;

    fn bitor(self, other: Aggregates) -> Aggregates {
        self.union(other)
    }
}

impl std::ops::BitXor for Aggregates {
    type Output = Aggregates;

    /// The aggregates in exactly one of the two sets (`ALL ^ x`: all but `x`).
    fn bitxor(self, other: Aggregates) -> Aggregates {
        Aggregates(self.0 ^ other.0)
    }
}

impl Default for Aggregates {
    /// [`Aggregates::ALL`].
    fn default() -> Self {
        Aggregates::ALL
    }
}

/// The key of the remaining-timeout histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeoutKey {
    /// The L4 protocol.
    pub protocol: Protocol,
    /// The state, for stateful protocols.
    pub state: Option<State>,
    /// Held by the generic tracker ([`Flow::is_generic`]): on the
    /// generic timer whatever the protocol.
    pub generic: bool,
    /// Seconds left before the entry expires.
    pub remaining: i64,
}

/// Every aggregate of one pass over flows.
///
/// Exact and mergeable ([`Merge`]): `Summary::default()` is the identity,
/// and folding any split of the input and merging the parts equals folding
/// the whole. Memory grows with the number of distinct keys (addresses,
/// ports, NAT pairs, distinct remaining timeouts), never with the number of
/// flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Line, flow and error counts.
    pub totals: Totals,
    /// Flows per family, indexed ipv4 = 0, ipv6 = 1.
    pub families: [u64; 2],
    /// `conntrack -E` events among the flows, indexed in
    /// [`ctparse::Event::ALL`]'s order: NEW, UPDATE, DESTROY (all zero for a table
    /// listing).
    pub events: [u64; 3],
    /// Flows per L4 protocol number.
    pub protocols: Protocols,
    /// Flag counts.
    pub flags: FlagCounts,
    /// Per-state counts of stateful protocols.
    pub states: StateCounts,
    /// Flows per original source address.
    pub sources: AddressCounter,
    /// Flows per original destination address.
    pub destinations: AddressCounter,
    /// Flows per (protocol, original destination port), for protocols with ports.
    pub destination_ports: Counter<(Protocol, u16)>,
    /// Destination-NATed flows per (original destination, translated).
    pub dnat: Counter<DnatKey>,
    /// Source-NATed flows per (original source, translated).
    pub snat: Counter<SnatKey>,
    /// Flows per zone (`zone=`; 0 when the line has none).
    pub zones: Counter<u16>,
    /// Flows per mark (lines without `mark=` are not counted).
    pub marks: Counter<u32>,
    /// Accounting totals.
    pub accounting: Accounting,
    /// Bytes (both directions) per original source, when counters are present.
    pub source_bytes: AddressCounter,
    /// Flows per (protocol, state, remaining timeout).
    pub timeouts: Counter<TimeoutKey>,
    /// The doctor's counts (UDP timers, NOTRACK candidates, what early
    /// drop may evict), folded in the same pass when the analyzer is asked
    /// for [`Aggregates::BREAKDOWN`]; empty otherwise.
    pub breakdown: Breakdown,
    /// `sources` and `source_bytes` together while the analyzer folds
    /// (one map update a flow instead of two); always empty in a summary
    /// the analyzer hands out (see [`Summary::finish`]).
    by_source: BySource,
}

/// Flows and bytes per source, in one map per family: an IPv4 key is a
/// `u32`, so its bucket is 24 bytes instead of the 40 an `IpAddr` key
/// takes, and it hashes as one integer. Sharded: a flood of random
/// sources puts millions of keys in each thread's map.
#[derive(Clone, Default, PartialEq, Eq)]
struct BySource {
    v4: Sharded<u32, SourceTally>,
    v6: Sharded<u128, SourceTally>,
}

/// Keys shown as the addresses they are.
impl std::fmt::Debug for BySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl BySource {
    #[inline]
    fn add(&mut self, addr: IpAddr, tally: SourceTally) {
        match addr {
            IpAddr::V4(addr) => self.v4.entry(addr.to_bits()).add(tally),
            IpAddr::V6(addr) => self.v6.entry(addr.to_bits()).add(tally),
        }
    }

    /// How many IPv4 and IPv6 sources have a tally for which `counted`
    /// holds.
    fn count(&self, counted: impl Fn(&SourceTally) -> bool) -> (usize, usize) {
        let v4 = self.v4.values().filter(|tally| counted(tally)).count();
        let v6 = self.v6.values().filter(|tally| counted(tally)).count();
        (v4, v6)
    }

    /// Every source with its tally.
    fn iter(&self) -> impl Iterator<Item = (IpAddr, &SourceTally)> {
        addresses(self.v4.iter(), self.v6.iter())
    }

    fn merge(&mut self, other: BySource) {
        self.v4.merge(other.v4, SourceTally::add);
        self.v6.merge(other.v6, SourceTally::add);
    }
}

/// One source's share of `sources` and `source_bytes`, in 16 bytes: with
/// a flag of its own it took 24, and an IPv6 source's bucket 48 instead
/// of 32 (4 million random sources: `summary` peaks at 361 MB instead
/// of 416 for IPv4 ones, 682 instead of 716 for IPv6 ones).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct SourceTally {
    /// Flows, for `sources` (0: not counted there), and in the top bit
    /// ([`SourceTally::LISTED`]) whether the source is in `source_bytes`
    /// (it may have 0 bytes). No table holds 2^63 flows; the count
    /// saturates below the bit.
    flows_and_listed: u64,
    /// Bytes, for `source_bytes` when listed there.
    bytes: u64,
}

impl SourceTally {
    const LISTED: u64 = 1 << 63;

    /// `flows` flows, and no bytes.
    fn of_flows(flows: u64) -> SourceTally {
        SourceTally {
            flows_and_listed: flows.min(!SourceTally::LISTED),
            bytes: 0,
        }
    }

    /// `bytes` bytes (in `source_bytes` even when 0), and no flow.
    fn of_bytes(bytes: u64) -> SourceTally {
        SourceTally {
            flows_and_listed: SourceTally::LISTED,
            bytes,
        }
    }

    fn flows(&self) -> u64 {
        self.flows_and_listed & !SourceTally::LISTED
    }

    /// Whether the source is in `source_bytes`.
    fn with_bytes(&self) -> bool {
        self.flows_and_listed & SourceTally::LISTED != 0
    }

    fn add(&mut self, other: SourceTally) {
        // Two counts below 2^63 sum below 2^64.
        let flows = (self.flows() + other.flows()).min(!SourceTally::LISTED);
        let listed = (self.flows_and_listed | other.flows_and_listed) & SourceTally::LISTED;
        self.flows_and_listed = flows | listed;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

impl std::fmt::Debug for SourceTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTally")
            .field("flows", &self.flows())
            .field("bytes", &self.bytes)
            .field("with_bytes", &self.with_bytes())
            .finish()
    }
}

/// A dense count per L4 protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols(pub [u64; 256]);

impl Default for Protocols {
    fn default() -> Self {
        Protocols([0; 256])
    }
}

impl Merge for Protocols {
    fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

impl Summary {
    /// An empty summary that keeps the first `max_errors` errors.
    pub fn with_error_limit(max_errors: usize) -> Summary {
        let mut summary = Summary::default();
        summary.totals.error_samples.limit = max_errors;
        summary
    }

    /// Counts `flow` if it passes `filter`.
    #[inline]
    pub fn add_filtered(&mut self, flow: &Flow<'_>, filter: &Filter) {
        if filter.matches(flow) {
            self.add(flow);
        } else {
            self.totals.filtered_events += u64::from(flow.event.is_some());
        }
    }

    /// Counts `flow` in every aggregate (and in `totals.matched`) but the
    /// doctor's [`breakdown`](Summary::breakdown), which only an
    /// [`Analyzer`](crate::Analyzer) asked for
    /// [`Aggregates::BREAKDOWN`] fills (or [`Breakdown::add`]). The line
    /// counts of `totals` (`lines`, `flows`, `skipped`, `errors`) are the
    /// parser's: add them with [`Totals::add_stats`] after a pass of your
    /// own, as the analyzer does.
    #[inline]
    pub fn add(&mut self, flow: &Flow<'_>) {
        self.add_only(flow, Aggregates::ALL);
    }

    /// Counts `flow` in the dense counts (families, protocols, flags,
    /// states, accounting totals, `totals.matched`) and in the keyed
    /// aggregates of `aggregates`; the others stay empty.
    ///
    /// ```
    /// use ctanalyze::{Aggregates, Summary};
    /// let line = b"tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 \
    /// src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 use=1";
    /// let ctparse::Line::Flow(flow) = ctparse::parse_line(line)? else { unreachable!() };
    /// let mut summary = Summary::default();
    /// summary.add_only(&flow, Aggregates::SOURCES);
    /// assert_eq!((summary.sources.len(), summary.destinations.len()), (1, 0));
    /// assert_eq!(summary.flags.assured, 1);
    /// # Ok::<(), ctparse::ParseError>(())
    /// ```
    #[inline]
    pub fn add_only(&mut self, flow: &Flow<'_>, aggregates: Aggregates) {
        self.add_dense(flow);
        self.add_breakdown(flow, aggregates);
        feed_keys(flow, aggregates, self);
    }

    /// Counts `flow` like [`add_only`](Summary::add_only), but leaves its
    /// keys in `pending` until [`Pending::flush_into`] applies them.
    #[inline]
    pub(crate) fn add_batched(
        &mut self,
        flow: &Flow<'_>,
        aggregates: Aggregates,
        pending: &mut Pending,
    ) {
        self.add_dense(flow);
        if aggregates.contains(Aggregates::BREAKDOWN) {
            self.breakdown.add_but_pair(flow);
            pending.pairs.push((flow.orig.src, flow.orig.dst));
        }
        feed_keys(flow, aggregates, pending);
        pending.flows += 1;
    }

    /// `flow` in [`breakdown`](Summary::breakdown), when asked for.
    #[inline]
    fn add_breakdown(&mut self, flow: &Flow<'_>, aggregates: Aggregates) {
        if aggregates.contains(Aggregates::BREAKDOWN) {
            self.breakdown.add(flow);
        }
    }

    /// The dense counts of `flow`: families, protocols, flags, states,
    /// accounting totals and `totals.matched`.
    #[inline]
    fn add_dense(&mut self, flow: &Flow<'_>) {
        self.totals.matched += 1;
        self.families[match flow.family {
            Family::Ipv4 => 0,
            Family::Ipv6 => 1,
        }] += 1;
        self.protocols.0[usize::from(flow.protocol.number())] += 1;
        if let Some(event) = flow.event {
            self.events[event as usize] += 1;
        }

        let status = flow.status;
        self.flags.assured += u64::from(status.contains(Status::ASSURED));
        self.flags.unreplied += u64::from(status.contains(Status::UNREPLIED));
        self.flags.offload += u64::from(flow.is_offloaded());
        self.flags.hw_offload += u64::from(status.contains(Status::HW_OFFLOAD));

        match flow.state {
            Some(State::Tcp(s)) => self.states.tcp[s.index()] += 1,
            Some(State::Sctp(s)) => self.states.sctp[s.index()] += 1,
            Some(State::Dccp(s)) => self.states.dccp[s.index()] += 1,
            None if flow.protocol == Protocol::TCP => self.states.tcp_without_state += 1,
            None => {}
        }

        if flow.orig_counters.is_some() || flow.reply_counters.is_some() {
            let orig = flow.orig_counters.unwrap_or_default();
            let reply = flow.reply_counters.unwrap_or_default();
            let a = &mut self.accounting;
            a.flows_with_counters += 1;
            // Saturating: the counters come from the dump.
            a.orig_packets = a.orig_packets.saturating_add(orig.packets);
            a.orig_bytes = a.orig_bytes.saturating_add(orig.bytes);
            a.reply_packets = a.reply_packets.saturating_add(reply.packets);
            a.reply_bytes = a.reply_bytes.saturating_add(reply.bytes);
        }
    }

    /// Moves the analyzer's combined per-source counts into `sources`
    /// and `source_bytes`. The analyzer calls it once, on the merged
    /// result: the split costs two updates per distinct source, against
    /// one per flow saved. With `parallel` (inside the analyzer's pool,
    /// which it then uses), the two maps are built on two threads: this
    /// runs after the parallel pass, while the other threads would wait.
    pub(crate) fn finish(&mut self, parallel: bool) {
        let by_source = std::mem::take(&mut self.by_source);
        // One counter from the tallies: of each source, the count `value`
        // takes from its tally, when it has one.
        let counter = |value: fn(&SourceTally) -> Option<u64>| {
            let mut counter = AddressCounter::default();
            // Room for every key at once: a map of 99,392 sources grown
            // step by step is rehashed 17 times.
            let (v4, v6) = by_source.count(|tally| value(tally).is_some());
            counter.reserve(v4, v6);
            for (addr, tally) in by_source.iter() {
                if let Some(n) = value(tally) {
                    counter.add_n(addr, n);
                }
            }
            counter
        };
        let sources = || counter(|tally| (tally.flows() > 0).then_some(tally.flows()));
        let source_bytes = || counter(|tally| tally.with_bytes().then_some(tally.bytes));
        let (sources, source_bytes) = if parallel {
            rayon::join(sources, source_bytes)
        } else {
            (sources(), source_bytes())
        };
        self.sources.merge(sources);
        self.source_bytes.merge(source_bytes);
    }

    /// [`Merge::merge`], with the largest maps merged on other threads of
    /// the current pool while the rest merge here: the per-source counts
    /// and the doctor's address pairs (1.8 million in the 4M-line
    /// benchmark dump: merged alone, 90 ms of `doctor` with the other
    /// thread idle), after the parallel pass.
    pub(crate) fn merge_parallel(&mut self, mut other: Summary) {
        let mut by_source = std::mem::take(&mut self.by_source);
        let their_sources = std::mem::take(&mut other.by_source);
        let mut pairs = std::mem::take(&mut self.breakdown.pairs);
        let their_pairs = std::mem::take(&mut other.breakdown.pairs);
        rayon::join(
            || pairs.merge(their_pairs),
            || rayon::join(|| by_source.merge(their_sources), || self.merge(other)),
        );
        self.by_source = by_source;
        self.breakdown.pairs = pairs;
    }

    /// Flows of family `family`.
    pub fn family(&self, family: Family) -> u64 {
        self.families[match family {
            Family::Ipv4 => 0,
            Family::Ipv6 => 1,
        }]
    }

    /// Flows of protocol `protocol`.
    pub fn protocol(&self, protocol: Protocol) -> u64 {
        self.protocols.0[usize::from(protocol.number())]
    }

    /// Matched flows neither `[ASSURED]` nor offloaded: those early drop
    /// may evict when the table is full (an offloaded entry prints
    /// `[OFFLOAD]` where an assured one prints `[ASSURED]`).
    pub fn not_assured(&self) -> u64 {
        self.totals
            .matched
            .saturating_sub(self.flags.assured)
            .saturating_sub(self.flags.offload)
    }

    /// Flows in `state`.
    pub fn state(&self, state: State) -> u64 {
        match state {
            State::Tcp(s) => self.states.tcp[s.index()],
            State::Sctp(s) => self.states.sctp[s.index()],
            State::Dccp(s) => self.states.dccp[s.index()],
        }
    }
}

/// The keys `flow` adds to the keyed aggregates of `aggregates`: the one
/// place that decides them, whether they go straight into a summary's maps
/// or into a [`Pending`] batch.
#[inline]
fn feed_keys(flow: &Flow<'_>, aggregates: Aggregates, sink: &mut impl KeySink) {
    let wants = |aggregate| aggregates.contains(aggregate);
    if wants(Aggregates::SOURCES) {
        sink.add_source(flow.orig.src);
    }
    if wants(Aggregates::DESTINATIONS) {
        sink.add_destination(flow.orig.dst);
    }
    if wants(Aggregates::PORTS)
        && let L4::Ports { dport, .. } = flow.orig.l4
    {
        sink.add_port((flow.protocol, dport));
    }
    if wants(Aggregates::DNAT) && flow.is_dnat() {
        sink.add_dnat(DnatKey {
            protocol: flow.protocol,
            original: Endpoint {
                addr: flow.orig.dst,
                port: flow.orig.l4.dst_port(),
            },
            translated: Endpoint {
                addr: flow.reply.src,
                port: flow.reply.l4.src_port(),
            },
        });
    }
    if wants(Aggregates::SNAT) && flow.is_snat() {
        sink.add_snat(SnatKey {
            protocol: flow.protocol,
            original: flow.orig.src,
            translated: flow.reply.dst,
        });
    }
    if wants(Aggregates::ZONES) {
        sink.add_zone(flow.zone.unwrap_or(0));
    }
    if wants(Aggregates::MARKS)
        && let Some(mark) = flow.mark
    {
        sink.add_mark(mark);
    }
    if wants(Aggregates::SOURCE_BYTES)
        && (flow.orig_counters.is_some() || flow.reply_counters.is_some())
    {
        let orig = flow.orig_counters.unwrap_or_default();
        let reply = flow.reply_counters.unwrap_or_default();
        sink.add_source_bytes(flow.orig.src, orig.bytes.saturating_add(reply.bytes));
    }
    if wants(Aggregates::TIMEOUTS)
        && let Some(remaining) = flow.timeout
    {
        sink.add_timeout(TimeoutKey {
            protocol: flow.protocol,
            state: flow.state,
            generic: flow.is_generic(),
            remaining,
        });
    }
}

/// Where [`feed_keys`] puts a flow's keys.
trait KeySink {
    fn add_source(&mut self, addr: IpAddr);
    fn add_destination(&mut self, addr: IpAddr);
    fn add_port(&mut self, key: (Protocol, u16));
    fn add_dnat(&mut self, key: DnatKey);
    fn add_snat(&mut self, key: SnatKey);
    fn add_zone(&mut self, zone: u16);
    fn add_mark(&mut self, mark: u32);
    fn add_source_bytes(&mut self, addr: IpAddr, bytes: u64);
    fn add_timeout(&mut self, key: TimeoutKey);
}

/// Straight into the maps, one flow at a time.
impl KeySink for Summary {
    fn add_source(&mut self, addr: IpAddr) {
        self.sources.add(addr);
    }
    fn add_destination(&mut self, addr: IpAddr) {
        self.destinations.add(addr);
    }
    fn add_port(&mut self, key: (Protocol, u16)) {
        self.destination_ports.add(key);
    }
    fn add_dnat(&mut self, key: DnatKey) {
        self.dnat.add(key);
    }
    fn add_snat(&mut self, key: SnatKey) {
        self.snat.add(key);
    }
    fn add_zone(&mut self, zone: u16) {
        self.zones.add(zone);
    }
    fn add_mark(&mut self, mark: u32) {
        self.marks.add(mark);
    }
    fn add_source_bytes(&mut self, addr: IpAddr, bytes: u64) {
        self.source_bytes.add_n(addr, bytes);
    }
    fn add_timeout(&mut self, key: TimeoutKey) {
        self.timeouts.add(key);
    }
}

/// The keys of a run of flows, waiting to be applied map by map.
///
/// On a large table the keyed maps outgrow the caches, and an update is a
/// wait for memory (up to two cache misses in a hashbrown map: the
/// control bytes, then the bucket). Between two updates of one map, the parser
/// runs a couple of thousand instructions, so the processor never has
/// more than a miss or two in flight. Applied as a run of updates to one
/// map after another, the misses of neighbouring updates overlap; and a
/// run of equal keys (zone 0, mark 0, the busiest port) is one update.
/// A flow's source and its bytes are one update of a combined map, which
/// [`Summary::finish`] splits into `sources` and `source_bytes` once, at
/// the end. `summary` of the 4M-line generated dump: about 20% faster on
/// one thread, 10% on two, before the combined map (`benches/RESULTS.md`).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Flows whose keys are held.
    flows: usize,
    /// Per flow, its source's share of `sources` and `source_bytes`.
    sources: Vec<(IpAddr, SourceTally)>,
    destinations: Vec<IpAddr>,
    ports: Vec<(Protocol, u16)>,
    dnat: Vec<DnatKey>,
    snat: Vec<SnatKey>,
    /// The doctor's address pairs ([`Breakdown::pairs`]).
    pairs: Vec<(IpAddr, IpAddr)>,
    zones: Vec<u16>,
    marks: Vec<u32>,
    timeouts: Vec<TimeoutKey>,
}

impl Pending {
    /// How many flows a batch holds before it is applied: enough updates
    /// in a row to overlap their misses, few enough to stay in L1.
    pub(crate) const FLOWS: usize = 64;

    /// True when the batch is full.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.flows >= Pending::FLOWS
    }

    /// Applies every held key to `summary` and empties the batch.
    pub(crate) fn flush_into(&mut self, summary: &mut Summary) {
        self.flows = 0;
        for &(addr, tally) in &self.sources {
            summary.by_source.add(addr, tally);
        }
        summary.destinations.add_runs(&self.destinations);
        summary.destination_ports.add_runs(&self.ports);
        summary.dnat.add_runs(&self.dnat);
        summary.snat.add_runs(&self.snat);
        for &(source, destination) in &self.pairs {
            summary.breakdown.pairs.add(source, destination);
        }
        summary.zones.add_runs(&self.zones);
        summary.marks.add_runs(&self.marks);
        summary.timeouts.add_runs(&self.timeouts);
        self.sources.clear();
        self.destinations.clear();
        self.ports.clear();
        self.dnat.clear();
        self.snat.clear();
        self.pairs.clear();
        self.zones.clear();
        self.marks.clear();
        self.timeouts.clear();
    }
}

impl KeySink for Pending {
    fn add_source(&mut self, addr: IpAddr) {
        self.sources.push((addr, SourceTally::of_flows(1)));
    }
    fn add_destination(&mut self, addr: IpAddr) {
        self.destinations.push(addr);
    }
    fn add_port(&mut self, key: (Protocol, u16)) {
        self.ports.push(key);
    }
    fn add_dnat(&mut self, key: DnatKey) {
        self.dnat.push(key);
    }
    fn add_snat(&mut self, key: SnatKey) {
        self.snat.push(key);
    }
    fn add_zone(&mut self, zone: u16) {
        self.zones.push(zone);
    }
    fn add_mark(&mut self, mark: u32) {
        self.marks.push(mark);
    }
    fn add_source_bytes(&mut self, addr: IpAddr, bytes: u64) {
        let tally = SourceTally::of_bytes(bytes);
        // Into the last entry when it is the same source, as it is when
        // `add_source` just pushed this flow's (both are wanted): one map
        // update for both. Tallies add up, so any same-source entry will do.
        match self.sources.last_mut() {
            Some((last, share)) if *last == addr => {
                share.add(tally);
            }
            _ => self.sources.push((addr, tally)),
        }
    }
    fn add_timeout(&mut self, key: TimeoutKey) {
        self.timeouts.push(key);
    }
}

impl Merge for Summary {
    fn merge(&mut self, other: Self) {
        self.totals.merge(other.totals);
        self.families.merge(other.families);
        self.events.merge(other.events);
        self.protocols.merge(other.protocols);
        self.flags.merge(other.flags);
        self.states.merge(other.states);
        self.sources.merge(other.sources);
        self.destinations.merge(other.destinations);
        self.destination_ports.merge(other.destination_ports);
        self.dnat.merge(other.dnat);
        self.snat.merge(other.snat);
        self.zones.merge(other.zones);
        self.marks.merge(other.marks);
        self.accounting.merge(other.accounting);
        self.source_bytes.merge(other.source_bytes);
        self.timeouts.merge(other.timeouts);
        self.breakdown.merge(other.breakdown);
        self.by_source.merge(other.by_source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag in the top bit of the flows: set by bytes (even 0),
    /// kept by `add`, never reached by a flow count, which saturates.
    #[test]
    fn a_tally_keeps_flows_bytes_and_the_flag_apart() {
        assert_eq!(std::mem::size_of::<SourceTally>(), 16);
        let mut tally = SourceTally::of_flows(2);
        assert!(!tally.with_bytes());
        tally.add(SourceTally::of_bytes(0));
        assert!(tally.with_bytes());
        assert_eq!((tally.flows(), tally.bytes), (2, 0));
        tally.add(SourceTally::of_flows(3));
        tally.add(SourceTally::of_bytes(u64::MAX));
        tally.add(SourceTally::of_bytes(5));
        assert_eq!((tally.flows(), tally.bytes), (5, u64::MAX));
        let mut many = SourceTally::of_flows(u64::MAX);
        assert_eq!(many.flows(), (1 << 63) - 1);
        assert!(!many.with_bytes());
        many.add(SourceTally::of_flows(1 << 62));
        assert_eq!(many.flows(), (1 << 63) - 1);
        assert!(!many.with_bytes());
    }

    #[test]
    fn the_per_source_map_shows_addresses_in_debug_output() {
        let mut by_source = BySource::default();
        let tally = SourceTally::of_flows(3);
        by_source.add("192.0.2.1".parse().unwrap(), tally);
        by_source.add("2001:db8::1".parse().unwrap(), tally);
        let shown = format!("{by_source:?}");
        assert!(
            shown.contains("192.0.2.1: SourceTally { flows: 3"),
            "{shown}"
        );
        assert!(
            shown.contains("2001:db8::1: SourceTally { flows: 3"),
            "{shown}"
        );
    }
}
