//! The counts the doctor needs beyond a [`Summary`](crate::Summary).

use std::collections::HashMap;
use std::net::IpAddr;

use ctparse::{Flow, Parser, Protocol, State, Status, line_chunks};
use rayon::prelude::*;

use super::snat::SnatPorts;
use crate::feed::LineFeed;
use crate::merge::{Counter, Hasher, Merge, Sharded, add_count, sum_counts};

/// Counts a [`Summary`](crate::Summary) does not keep, made in the same
/// kind of pass: which UDP timer each entry runs on, which traffic is not
/// NATed (NOTRACK candidates), what the kernel could evict, and how many
/// source ports source NAT has given out.
///
/// A mergeable aggregate like every other: `Breakdown::default()` is the
/// identity and [`Merge::merge`] is associative and commutative, so it can
/// be folded per chunk on any thread.
///
/// ```
/// use ctanalyze::doctor::Breakdown;
/// let dump = b"\
/// ipv4     2 udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2
/// ipv4     2 udp      17 118 src=192.0.2.1 dst=198.51.100.53 sport=5354 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5354 [ASSURED] mark=0 zone=0 use=2
/// ";
/// let breakdown = Breakdown::from_bytes(dump);
/// assert_eq!(breakdown.udp_timeouts.get(&(false, 29)), 1);
/// assert_eq!(breakdown.udp_timeouts.get(&(true, 118)), 1);
/// assert_eq!(breakdown.nated_ports.get(&(ctparse::Protocol::UDP, 53)), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// UDP (and tracked UDP-Lite) entries per (`[ASSURED]`, remaining
    /// timeout). The kernel runs an
    /// ASSURED UDP entry (a stream: replied, and still active 2 s after the
    /// first packet) on `nf_conntrack_udp_timeout_stream`, any other on
    /// `nf_conntrack_udp_timeout`.
    pub udp_timeouts: Counter<(bool, i64)>,
    /// Source- or destination-NATed entries per (protocol, port), for
    /// protocols with ports: every port of either tuple, since a NOTRACK
    /// rule on a port matches the packets of both directions.
    pub nated_ports: Counter<(Protocol, u16)>,
    /// Entries per (original source, original destination) address pair.
    pub pairs: AddressPairs,
    /// Source- or destination-NATed entries per address pair of their
    /// packets: the original (source, destination), and the reply's
    /// (source, destination) where NAT changed it. A pair rule matches
    /// both orders: see [`Breakdown::nated_between`].
    pub nated_pairs: AddressPairs,
    /// Entries neither `[ASSURED]` nor offloaded, per (protocol, state):
    /// what early drop may evict when the table is full.
    pub not_assured: Counter<(Protocol, Option<State>)>,
    /// Offloaded entries that are `[UNREPLIED]` (tc's `act_ct` offloads UDP
    /// before its reply): of the UNREPLIED ones, those not evictable.
    pub offloaded_unreplied: u64,
    /// Source-NATed entries per the space of source ports NAT gave them
    /// theirs from (see [`snat`](super::snat)).
    pub snat_ports: SnatPorts,
    /// The original sources and destinations of each (protocol,
    /// destination port), up to [`FEW`] of each (see
    /// [`Breakdown::port_addresses`]): one map update a flow for both.
    port_addresses: HashMap<(Protocol, u16), PortAddresses, Hasher>,
}

/// The addresses a (protocol, destination port) was seen with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortAddresses {
    /// The original sources: a port whose few sources and destinations
    /// are all NOTRACK pair candidates needs no rule of its own.
    pub sources: Addresses,
    /// The original destinations: a NOTRACK rule for a port is scoped to
    /// them.
    pub destinations: Addresses,
}

impl PortAddresses {
    fn add(&mut self, source: IpAddr, destination: IpAddr) {
        self.sources.add(source);
        self.destinations.add(destination);
    }

    fn merge(&mut self, other: PortAddresses) {
        self.sources.merge(other.sources);
        self.destinations.merge(other.destinations);
    }
}

/// Entries per (source, destination) address pair, in one map per family:
/// a full table has millions of pairs (1.8 million in the 4M-entry
/// benchmark dump), and an IPv4 pair as one `u64` key takes a 16-byte
/// bucket where an `(IpAddr, IpAddr)` key took 48. Sharded: a flood of
/// random sources puts millions of pairs in each thread's map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPairs {
    v4: Sharded<u64, u64>,
    v6: Sharded<(u128, u128), u64>,
    /// A pair across families (never printed by the kernel, but a flow
    /// can hold one).
    mixed: Counter<(IpAddr, IpAddr)>,
}

impl AddressPairs {
    /// Counts the pair once.
    pub fn add(&mut self, source: IpAddr, destination: IpAddr) {
        let count = match (source, destination) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.entry(v4_key(s, d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.v6.entry((s.to_bits(), d.to_bits())),
            pair => return self.mixed.add(pair),
        };
        add_count(count, 1);
    }

    /// The count of the pair (0 when never counted).
    pub fn get(&self, source: IpAddr, destination: IpAddr) -> u64 {
        match (source, destination) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.get(&v4_key(s, d)).copied().unwrap_or(0),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let key = (s.to_bits(), d.to_bits());
                self.v6.get(&key).copied().unwrap_or(0)
            }
            pair => self.mixed.get(&pair),
        }
    }

    /// Every pair with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr), u64)> + '_ {
        let v4 = self.v4.iter().map(|(&bits, &n)| {
            let source = std::net::Ipv4Addr::from_bits((bits >> 32) as u32);
            let destination = std::net::Ipv4Addr::from_bits(bits as u32);
            ((source.into(), destination.into()), n)
        });
        let v6 = self.v6.iter().map(|(&(s, d), &n)| {
            let pair = (
                std::net::Ipv6Addr::from_bits(s).into(),
                std::net::Ipv6Addr::from_bits(d).into(),
            );
            (pair, n)
        });
        let mixed = self.mixed.iter().map(|(&pair, n)| (pair, n));
        v4.chain(v6).chain(mixed)
    }

    /// The number of distinct pairs.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.mixed.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        let sharded = sum_counts(self.v4.values().chain(self.v6.values()));
        sharded.saturating_add(self.mixed.total())
    }
}

/// An IPv4 pair as one key: the source's bits, then the destination's.
fn v4_key(source: std::net::Ipv4Addr, destination: std::net::Ipv4Addr) -> u64 {
    u64::from(source.to_bits()) << 32 | u64::from(destination.to_bits())
}

impl Merge for AddressPairs {
    fn merge(&mut self, other: Self) {
        self.v4.merge(other.v4, add_count);
        self.v6.merge(other.v6, add_count);
        self.mixed.merge(other.mixed);
    }
}

/// The most destinations a port's NOTRACK rules name one by one.
pub const FEW: usize = 4;

/// The source or destination addresses a port was seen with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// All of them (at most [`FEW`]), in address order: the same however
    /// the flows were split and merged.
    Few(Vec<IpAddr>),
    /// More than [`FEW`].
    Many,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses::Few(Vec::new())
    }
}

impl Addresses {
    pub(crate) fn add(&mut self, addr: IpAddr) {
        if let Addresses::Few(seen) = self
            && let Err(at) = seen.binary_search(&addr)
        {
            if seen.len() == FEW {
                *self = Addresses::Many;
            } else {
                seen.insert(at, addr);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: Addresses) {
        match other {
            Addresses::Few(addrs) => addrs.into_iter().for_each(|a| self.add(a)),
            Addresses::Many => *self = Addresses::Many,
        }
    }
}

impl Breakdown {
    /// NATed entries with packets between `a` and `b`, either way: what
    /// NOTRACK rules for the pair (which match both directions) would
    /// break.
    pub fn nated_between(&self, a: IpAddr, b: IpAddr) -> u64 {
        let one_way = self.nated_pairs.get(a, b);
        if a == b {
            return one_way;
        }
        one_way.saturating_add(self.nated_pairs.get(b, a))
    }

    /// The original sources and destinations seen with `protocol` and
    /// destination `port`, up to [`FEW`] of each; `None` when no flow had
    /// them.
    pub fn port_addresses(&self, protocol: Protocol, port: u16) -> Option<&PortAddresses> {
        self.port_addresses.get(&(protocol, port))
    }

    /// Counts one flow.
    pub fn add(&mut self, flow: &Flow<'_>) {
        self.pairs.add(flow.orig.src, flow.orig.dst);
        self.add_but_pair(flow);
    }

    /// [`Breakdown::add`] but the flow's address pair, which the analyzer
    /// counts a batch at a time.
    pub(crate) fn add_but_pair(&mut self, flow: &Flow<'_>) {
        let assured = flow.status.contains(Status::ASSURED);
        // UDP-Lite runs on UDP's timers, when its tracker holds it.
        if (flow.protocol == Protocol::UDP
            || (flow.protocol == Protocol::UDPLITE && !flow.is_generic()))
            && let Some(remaining) = flow.timeout
        {
            self.udp_timeouts.add((assured, remaining));
        }
        if flow.is_dnat() || flow.is_snat() {
            // A NOTRACK rule matches packets of either direction as they
            // arrive (before NAT): a NATed entry's reply packets (from the
            // DNAT backend, to the SNAT address) count as much as its
            // original ones. Untracked, either would never be translated.
            self.nated_pairs.add(flow.orig.src, flow.orig.dst);
            if (flow.reply.src, flow.reply.dst) != (flow.orig.dst, flow.orig.src) {
                self.nated_pairs.add(flow.reply.src, flow.reply.dst);
            }
            let ports = [
                flow.orig.l4.dst_port(),
                flow.orig.l4.src_port(),
                flow.reply.l4.src_port(),
                flow.reply.l4.dst_port(),
            ];
            for (i, port) in ports.iter().enumerate() {
                if let Some(port) = *port
                    && !ports[..i].contains(&Some(port))
                {
                    self.nated_ports.add((flow.protocol, port));
                }
            }
        }
        // The kernel prints no `[ASSURED]` for an offloaded entry, assured
        // or not: it is not counted as evictable (see `Composition`).
        if flow.is_offloaded() {
            self.offloaded_unreplied += u64::from(flow.is_unreplied());
        } else if !assured {
            self.not_assured.add((flow.protocol, flow.state));
        }
        self.snat_ports.add(flow);
        if let Some(port) = flow.orig.l4.dst_port() {
            let seen = self.port_addresses.entry((flow.protocol, port));
            seen.or_default().add(flow.orig.src, flow.orig.dst);
        }
    }

    /// Counts every flow of a buffer of dump lines (malformed lines are
    /// skipped: the [`Analyzer`](crate::Analyzer) reports them), folding
    /// line-aligned chunks in parallel on the current rayon pool.
    pub fn from_bytes(bytes: &[u8]) -> Breakdown {
        let chunks: Vec<&[u8]> = line_chunks(bytes, crate::DEFAULT_CHUNK_SIZE).collect();
        chunks
            .par_iter()
            .fold(Breakdown::default, |mut acc, chunk| {
                acc.add_lines(chunk);
                acc
            })
            .reduce(Breakdown::default, |mut a, b| {
                a.merge(b);
                a
            })
    }

    /// Counts every flow of whole lines, sequentially.
    pub fn add_lines(&mut self, lines: &[u8]) {
        Parser::new(lines).for_each_ref(|result| {
            if let Ok(flow) = result {
                self.add(flow);
            }
        });
    }
}

impl Merge for Breakdown {
    fn merge(&mut self, other: Self) {
        self.udp_timeouts.merge(other.udp_timeouts);
        self.nated_ports.merge(other.nated_ports);
        self.pairs.merge(other.pairs);
        self.nated_pairs.merge(other.nated_pairs);
        self.not_assured.merge(other.not_assured);
        self.offloaded_unreplied += other.offloaded_unreplied;
        self.snat_ports.merge(other.snat_ports);
        for (key, theirs) in other.port_addresses {
            self.port_addresses.entry(key).or_default().merge(theirs);
        }
    }
}

/// Builds a [`Breakdown`] from a stream cut anywhere (the pieces a reader
/// returns): keeps the unfinished last line until its end arrives, so
/// memory is one piece plus one line. Of a line longer than
/// [`ctparse::MAX_LINE`] (never an entry) only the start is kept, as
/// [`ctparse::ChunkReader`] does: a stream without line ends cannot take
/// all memory.
///
/// ```
/// use ctanalyze::doctor::{Breakdown, BreakdownFeed};
/// let dump: &[u8] = b"\
/// ipv4     2 udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2
/// ipv4     2 udp      17 28 src=192.0.2.2 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.2 sport=53 dport=5353 mark=0 zone=0 use=2";
/// let mut feed = BreakdownFeed::default();
/// for piece in dump.chunks(7) {
///     feed.push(piece);
/// }
/// assert_eq!(feed.finish(), Breakdown::from_bytes(dump));
/// ```
#[derive(Debug, Default)]
pub struct BreakdownFeed {
    breakdown: Breakdown,
    lines: LineFeed,
}

impl BreakdownFeed {
    /// Counts the complete lines `bytes` finishes.
    pub fn push(&mut self, bytes: &[u8]) {
        let breakdown = &mut self.breakdown;
        self.lines.push(bytes, |lines| breakdown.add_lines(lines));
    }

    /// Counts the last line (if it had no newline) and returns the result.
    pub fn finish(mut self) -> Breakdown {
        self.breakdown.add_lines(self.lines.partial());
        self.breakdown
    }

    /// The breakdown of the complete lines only, for a stream a read
    /// error cut: its unfinished last line lost its end, and is not a
    /// line (as the [`Analyzer`](crate::Analyzer) does not count it).
    pub fn finish_cut(mut self) -> Breakdown {
        // Whole lines held for the rest of a spliced entry are lines.
        self.breakdown.add_lines(self.lines.whole());
        self.breakdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &[u8] = include_bytes!("../../../../fixtures/example/nf_conntrack.txt");

    /// A line without end holds only the start the parser needs to
    /// refuse it: feeding 4 MiB without a line end keeps memory at one
    /// line's limit, and the lines after it count.
    #[test]
    fn a_feed_keeps_only_the_start_of_an_overlong_line() {
        let entry = b"udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
        let mut feed = BreakdownFeed::default();
        feed.push(entry);
        for _ in 0..64 {
            feed.push(&[b'x'; 1 << 16]);
            assert!(feed.lines.partial().len() <= LineFeed::KEPT);
        }
        feed.push(b"x\n");
        feed.push(entry);
        let breakdown = feed.finish();
        assert_eq!(breakdown.pairs.total(), 2);
    }

    #[test]
    fn destinations_are_kept_up_to_few_then_many() {
        let addr = |i: u8| IpAddr::from([198, 51, 100, i]);
        let mut d = Addresses::default();
        for i in [1, 2, 1, 3, 4, 4] {
            d.add(addr(i));
        }
        assert_eq!(d, Addresses::Few((1..=4).map(addr).collect()));
        // The same set whatever the order they come in (chunks are folded
        // and merged in any order).
        let mut reversed = Addresses::default();
        for i in [4, 3, 3, 2, 1] {
            reversed.add(addr(i));
        }
        assert_eq!(reversed, d);
        let mut other = Addresses::default();
        other.add(addr(1));
        let mut merged = d.clone();
        merged.merge(other);
        assert_eq!(merged, d, "a known address adds nothing");
        d.add(addr(5));
        assert_eq!(d, Addresses::Many);
        let mut few = Addresses::default();
        few.merge(Addresses::Many);
        assert_eq!(few, Addresses::Many);
    }

    fn fold(lines: &[&[u8]]) -> Breakdown {
        let mut acc = Breakdown::default();
        for line in lines {
            acc.add_lines(line);
        }
        acc
    }

    #[test]
    fn merge_law_for_many_split_points() {
        let lines: Vec<&[u8]> = DUMP.split_inclusive(|&b| b == b'\n').collect();
        let whole = fold(&lines);
        assert_eq!(Breakdown::from_bytes(DUMP), whole);
        for at in [0, 1, 7, 100, 777, lines.len() - 1, lines.len()] {
            let mut left = fold(&lines[..at]);
            let right = fold(&lines[at..]);
            left.merge(right);
            assert_eq!(left, whole, "split at {at}");
            let mut identity = Breakdown::default();
            identity.merge(fold(&lines[..at]));
            assert_eq!(identity, fold(&lines[..at]));
        }
    }

    #[test]
    fn a_stream_cut_anywhere_counts_the_same() {
        let whole = Breakdown::from_bytes(DUMP);
        for piece in [1, 13, 4096, 1 << 20] {
            let mut feed = BreakdownFeed::default();
            for chunk in DUMP.chunks(piece) {
                feed.push(chunk);
            }
            assert_eq!(feed.finish(), whole, "pieces of {piece}");
        }
    }

    /// The per-family pairs against one map of `(IpAddr, IpAddr)`.
    #[test]
    fn address_pairs_count_as_one_map_would() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let pairs = [
            ("192.0.2.1", "198.51.100.7"),
            ("198.51.100.7", "192.0.2.1"),
            ("192.0.2.1", "198.51.100.7"),
            ("0.0.0.0", "255.255.255.255"),
            ("2001:db8::1", "2001:db8::2"),
            ("2001:db8::2", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::2"),
            ("192.0.2.1", "2001:db8::2"),
        ];
        let mut counted = AddressPairs::default();
        let mut naive: Counter<(IpAddr, IpAddr)> = Counter::default();
        for (i, (s, d)) in pairs.iter().enumerate() {
            counted.add(ip(s), ip(d));
            naive.add((ip(s), ip(d)));
            // Split and merged anywhere, the same.
            let mut left = AddressPairs::default();
            let mut right = AddressPairs::default();
            for (j, (s, d)) in pairs[..=i].iter().enumerate() {
                if j % 2 == 0 { &mut left } else { &mut right }.add(ip(s), ip(d));
            }
            left.merge(right);
            assert_eq!(left, counted);
        }
        let mut got: Vec<_> = counted.iter().collect();
        got.sort();
        let mut want: Vec<_> = naive.iter().map(|(&k, n)| (k, n)).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(
            (counted.len(), counted.total()),
            (naive.len(), naive.total())
        );
        for ((s, d), n) in want {
            assert_eq!(counted.get(s, d), n);
        }
        assert_eq!(counted.get(ip("192.0.2.9"), ip("192.0.2.1")), 0);
    }

    /// Folded in the analyzer's pass (one thread or two, mapped or
    /// streamed), the breakdown is the one made on its own.
    #[test]
    fn the_analyzer_folds_the_same_breakdown() {
        use crate::{Aggregates, Analyzer};
        let whole = Breakdown::from_bytes(DUMP);
        for threads in [1, 2] {
            let analyzer = Analyzer::new()
                .threads(threads)
                .chunk_size(4096)
                .aggregates(Aggregates::ALL | Aggregates::BREAKDOWN);
            assert_eq!(analyzer.analyze_bytes(DUMP).breakdown, whole, "{threads}");
            let streamed = analyzer
                .analyze_stream(0, DUMP)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(streamed.breakdown, whole, "{threads} threads, streamed");
            // Not asked for, not made.
            let without = Analyzer::new().threads(threads).analyze_bytes(DUMP);
            assert_eq!(without.breakdown, Breakdown::default());
        }
        assert!(whole.pairs.total() > 0);
    }

    #[test]
    fn the_example_counts() {
        let b = Breakdown::from_bytes(DUMP);
        // Every entry has a pair; NATed ones are a minority.
        assert_eq!(b.pairs.total(), 1585);
        // The 322 NATed entries (`ctreport flows --any-nat`) all change an
        // address: each counts its original pair and its reply's.
        assert_eq!(b.nated_pairs.total(), 2 * 322);
        // tcp/9400 is never NATed in the example; the DNAT port 8081 always
        // is, and so is its backend port, 9081 (`grep -c 'dport=8081
        // .*sport=9081'`: 125), which the replies come from.
        assert_eq!(b.nated_ports.get(&(Protocol::TCP, 9400)), 0);
        assert_eq!(b.nated_ports.get(&(Protocol::TCP, 8081)), 125);
        assert_eq!(b.nated_ports.get(&(Protocol::TCP, 9081)), 125);
        assert_eq!(b.not_assured.total(), 1585 - 1024);
        // 295 UDP entries and 3 UDP-Lite (`ctreport protocols`).
        assert_eq!(b.udp_timeouts.total(), 295 + 3);
    }

    /// UDP-Lite runs on UDP's timers when its tracker holds it; printed
    /// as `unknown` (no tracker), it is the generic timer's.
    #[test]
    fn tracked_udplite_is_on_the_udp_timers() {
        let b = Breakdown::from_bytes(
            b"\
udplite  136 28 src=192.0.2.1 dst=198.51.100.2 sport=5000 dport=6000 [UNREPLIED] src=198.51.100.2 dst=192.0.2.1 sport=6000 dport=5000 mark=0 use=1
udplite  136 170 src=192.0.2.1 dst=198.51.100.2 sport=5001 dport=6000 src=198.51.100.2 dst=192.0.2.1 sport=6000 dport=5001 [ASSURED] mark=0 use=1
unknown  136 590 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 use=1
udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5002 dport=53 [UNREPLIED] src=198.51.100.2 dst=192.0.2.1 sport=53 dport=5002 mark=0 use=1
",
        );
        let mut timers: Vec<_> = b.udp_timeouts.iter().map(|(&k, n)| (k, n)).collect();
        timers.sort_unstable();
        assert_eq!(
            timers,
            [((false, 28), 1), ((false, 29), 1), ((true, 170), 1)]
        );
    }
}
