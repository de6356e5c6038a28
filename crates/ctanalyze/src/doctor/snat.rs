//! How full the source-port spaces of source NAT are.
//!
//! Two entries cannot share a reply tuple (in one reply-direction zone).
//! Source NAT (`snat`, `masquerade`) therefore gives every connection it
//! translates to one address, toward one peer address and port, a source
//! port of its own: the entries of such a [`PortSpace`] each hold one of
//! its ports. Without a port range in the rule, the kernel picks from the
//! class of the original source port (`nf_nat_l4proto_unique_tuple`):
//! 1-511 for a port below 512, 600-1023 below 1024, 1024-65535 for any
//! other ([`PortClass`]); it keeps the original port when it is free (and
//! the rule does not ask for random ports). Otherwise it tries 248 ports,
//! in runs from random places (older kernels: the whole range); when none
//! of them is free, the connection's entry clashes with one in the table
//! at confirmation: its insertion fails (`insert_failed`) and the packet
//! is dropped.
//!
//! Since Linux 6.5 a new TCP connection may also take the port of a
//! source-NATed TCP entry in TIME_WAIT or CLOSE, which is then evicted:
//! those entries are counted apart ([`PortTally::closing`]), not as held.
//!
//! The dump shows which entries were source-NATed (their reply goes to
//! another address or port than the original source), so it shows how
//! many ports of each space they hold. The host's own connections from
//! the translated address, not NATed, hold ports of the same space too and
//! are not counted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ctparse::{Flow, L4, Protocol, State, TcpState};
use serde::Serialize;

use super::advice::Recommendation;
use crate::merge::{Hasher, Merge, merge_maps};
use crate::summary::Endpoint;

/// Half of a space's ports held (counting closing TCP entries): a
/// finding from here on.
pub const CROWDED_PERCENT: f64 = 50.0;

/// From here on little room is left: the finding says how few ports are
/// free. Whether new connections are dropped is the share of NAT's
/// searches that find none ([`RUN_FAILURE_PERCENT`]): spread out at
/// random, 90% held fails fewer than one search in 10^11, 98% one in 150.
pub const NEAR_FULL_PERCENT: f64 = 90.0;

/// The share of NAT's searches that find no free port (new connections
/// dropped) from which a space needs a fix.
pub const RUN_FAILURE_PERCENT: f64 = 1.0;

/// The fewest taken ports a port search that found none meets: 129 for
/// TCP since Linux 6.5 (its last tries look entries up otherwise), 249
/// (the kept port and 248 tries) for any other. `found` counts the taken
/// ports of every search, the successful ones too, since the counters
/// started: fewer than this per failed insert rules NAT out for some of
/// them; more proves nothing.
const FOUND_PER_FAILED_SEARCH: u64 = 129;

/// The ports NAT picks a translated source port from when the rule gives
/// no range: never another class than the original source port's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortClass {
    /// Original source port 0-511: ports 1-511.
    Low,
    /// Original source port 512-1023: ports 600-1023.
    Privileged,
    /// Original source port 1024 or above: ports 1024-65535.
    Unprivileged,
}

impl PortClass {
    /// The class of an original source port.
    pub fn of(port: u16) -> PortClass {
        match port {
            0..512 => PortClass::Low,
            512..1024 => PortClass::Privileged,
            _ => PortClass::Unprivileged,
        }
    }

    /// The first and last port NAT picks from.
    pub fn ports(self) -> (u16, u16) {
        match self {
            PortClass::Low => (1, 511),
            PortClass::Privileged => (600, 1023),
            PortClass::Unprivileged => (1024, 65535),
        }
    }

    /// How many ports NAT picks from.
    pub fn size(self) -> u64 {
        let (first, last) = self.ports();
        u64::from(last - first) + 1
    }

    /// True when NAT picks `port` in this class.
    fn holds(self, port: u16) -> bool {
        let (first, last) = self.ports();
        (first..=last).contains(&port)
    }
}

/// The entries that need distinct translated source ports: source-NATed
/// to the same address, toward the same peer address and port, in the
/// same reply-direction zone and port class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSpace {
    /// The L4 protocol (one with ports).
    pub protocol: Protocol,
    /// The address the source was translated to (the reply's destination).
    pub translated: IpAddr,
    /// Where the translated packets go (the reply's source and source
    /// port): the original destination, or its DNAT target.
    pub peer: Endpoint,
    /// The zone of the reply direction: `zone=`, or `zone-reply=` (0
    /// without either: `zone-orig=` zones the other direction only).
    pub zone: u16,
    /// The class of the original source port.
    pub class: PortClass,
}

impl PortSpace {
    /// The space `flow` took its translated source port from, and that
    /// port: `None` unless its source was NATed and its protocol has ports
    /// (NAT picks ICMP ids and GRE keys from spaces of their own, not
    /// counted here).
    pub fn of(flow: &Flow<'_>) -> Option<(PortSpace, u16)> {
        let (
            L4::Ports { sport, .. },
            L4::Ports {
                sport: peer_port,
                dport: port,
            },
        ) = (flow.orig.l4, flow.reply.l4)
        else {
            return None;
        };
        let space = PortSpace {
            protocol: flow.protocol,
            translated: flow.reply.dst,
            peer: Endpoint {
                addr: flow.reply.src,
                port: Some(peer_port),
            },
            zone: flow.reply_zone.or(flow.zone).unwrap_or(0),
            class: PortClass::of(sport),
        };
        flow.is_snat().then_some((space, port))
    }
}

/// What the entries of one [`PortSpace`] hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortTally {
    /// Entries with a port of the class's range, but for `closing` (32
    /// bits, saturating: a space holds at most 65,536 distinct entries,
    /// and gateways have as many spaces as entries).
    pub held: u32,
    /// TCP entries in TIME_WAIT or CLOSE with a port of the range: since
    /// Linux 6.5 a new connection may take it (older kernels wait for the
    /// entry to expire).
    pub closing: u32,
    /// Entries with a port outside the range: the rule gives a port range
    /// of its own, or they kept an original port of 512-599.
    pub outside: u32,
    /// The original sources of the entries with a port of the range.
    pub source: Source,
    /// The lowest and highest port held (`held` entries' ports; `None`
    /// without any): when `held` ports span exactly `held` ports, they
    /// form one run.
    pub held_span: Option<(u16, u16)>,
    /// The ports held, once two entries hold ports (one port is
    /// `held_span`'s alone):
    /// how often NAT's tries all fall on held ports follows from the runs
    /// they form.
    held_ports: Option<Arc<HeldPorts>>,
    /// The lowest port of the closing entries (`None` without any).
    closing_first: Option<u16>,
    /// Their ports, once two entries are closing: kernels before 6.5 keep
    /// them taken, so runs there are of held and closing ports.
    closing_ports: Option<Arc<HeldPorts>>,
}

/// A set of ports: sorted while it has at most [`HeldPorts::LIST_MAX`]
/// (an insert moves at most 2 KiB), a bitmap of all 65,536 ports (8 KiB,
/// 8 bytes a port at worst) beyond. Shared (`Arc`) so that reading the
/// spaces copies no set; changed only where it is not shared. The form follows from the set alone, so equal sets compare
/// equal however they were built.
#[derive(Clone, PartialEq, Eq)]
enum HeldPorts {
    List(Vec<u16>),
    Bits(Box<[u64; 1024]>),
}

impl std::fmt::Debug for HeldPorts {
    /// The count, not 8 KiB of bits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = match self {
            HeldPorts::List(list) => list.len(),
            HeldPorts::Bits(bits) => bits.iter().map(|w| w.count_ones() as usize).sum(),
        };
        write!(f, "HeldPorts({count} ports)")
    }
}

impl HeldPorts {
    const LIST_MAX: usize = 1024;

    fn of(ports: &[u16]) -> HeldPorts {
        let mut set = HeldPorts::List(Vec::new());
        for &port in ports {
            set.insert(port);
        }
        set
    }

    fn insert(&mut self, port: u16) {
        match self {
            HeldPorts::List(list) => {
                if let Err(at) = list.binary_search(&port) {
                    list.insert(at, port);
                    if list.len() > Self::LIST_MAX {
                        *self = HeldPorts::Bits(Self::bits_of(list));
                    }
                }
            }
            HeldPorts::Bits(bits) => bits[usize::from(port / 64)] |= 1 << (port % 64),
        }
    }

    fn bits_of(list: &[u16]) -> Box<[u64; 1024]> {
        let mut bits = Box::new([0u64; 1024]);
        for &port in list {
            bits[usize::from(port / 64)] |= 1 << (port % 64);
        }
        bits
    }

    fn bits(&self) -> Box<[u64; 1024]> {
        match self {
            HeldPorts::List(list) => Self::bits_of(list),
            HeldPorts::Bits(bits) => bits.clone(),
        }
    }

    fn merge(&mut self, other: &HeldPorts) {
        match other {
            HeldPorts::List(list) => list.iter().for_each(|&port| self.insert(port)),
            HeldPorts::Bits(theirs) => {
                let mut bits = self.bits();
                for (mine, theirs) in bits.iter_mut().zip(theirs.iter()) {
                    *mine |= theirs;
                }
                *self = HeldPorts::Bits(bits);
            }
        }
    }

    /// The runs of held ports of `class`'s range, as (offset in the
    /// range, length), in order, not joined across the range's end.
    fn runs(&self, class: PortClass) -> Vec<(u32, u32)> {
        let (first, last) = class.ports();
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut add = |port: u16| {
            let at = u32::from(port - first);
            match runs.last_mut() {
                Some((start, len)) if *start + *len == at => *len += 1,
                _ => runs.push((at, 1)),
            }
        };
        match self {
            HeldPorts::List(list) => list
                .iter()
                .filter(|&&port| (first..=last).contains(&port))
                .for_each(|&port| add(port)),
            HeldPorts::Bits(bits) => (first..=last)
                .filter(|&port| bits[usize::from(port / 64)] >> (port % 64) & 1 == 1)
                .for_each(add),
        }
        runs
    }

    /// The share of NAT's searches in `class` whose every window of tries
    /// falls on held ports of the set (see [`search_failure`]).
    fn search_failure(&self, class: PortClass) -> f64 {
        search_failure(&self.runs(class), class.size())
    }
}

/// Whose entries hold ports of a space: a single source is a case of its
/// own (more translated addresses cannot help it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// No entry holds a port of the range.
    #[default]
    None,
    /// All of them come from this address.
    One(IpAddr),
    /// They come from several addresses.
    Several,
}

impl Source {
    fn add(&mut self, addr: IpAddr) {
        *self = match *self {
            Source::None => Source::One(addr),
            Source::One(one) if one == addr => Source::One(one),
            _ => Source::Several,
        };
    }

    fn merge(&mut self, other: Source) {
        match other {
            Source::None => {}
            Source::One(addr) => self.add(addr),
            Source::Several => *self = Source::Several,
        }
    }
}

/// Source-NATed entries per [`PortSpace`]; mergeable.
///
/// On a gateway nearly every entry may be a space of its own (one per
/// peer), so IPv4 spaces are kept packed: a 16-byte key and a 40-byte
/// tally (the port sets are pointers, null for a space of one entry)
/// instead of a [`PortSpace`] and [`PortTally`]. Other spaces keep their
/// full form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnatPorts {
    v4: HashMap<PackedSpace, PackedTally, Hasher>,
    other: HashMap<PortSpace, PortTally, Hasher>,
}

/// An IPv4 [`PortSpace`]: the two addresses, then the peer port, zone,
/// protocol and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PackedSpace(u64, u64);

/// A [`PortTally`] of an IPv4 space: the source as its bits, `one` saying
/// whether it is the only one (with `several` false and no source: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PackedTally {
    held: u32,
    closing: u32,
    outside: u32,
    source: u32,
    state: SourceState,
    /// `held_span`, (0, 0) without a port held (no class holds port 0).
    span: (u16, u16),
    held_ports: Option<Arc<HeldPorts>>,
    /// `closing_first`, 0 for none.
    closing_first: u16,
    closing_ports: Option<Arc<HeldPorts>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum SourceState {
    #[default]
    None,
    One,
    Several,
}

impl PackedSpace {
    fn pack(space: &PortSpace) -> Option<PackedSpace> {
        let (IpAddr::V4(translated), IpAddr::V4(peer), Some(port)) =
            (space.translated, space.peer.addr, space.peer.port)
        else {
            return None;
        };
        let class = space.class as u64;
        Some(PackedSpace(
            u64::from(translated.to_bits()) << 32 | u64::from(peer.to_bits()),
            u64::from(port) << 32
                | u64::from(space.zone) << 16
                | u64::from(space.protocol.0) << 8
                | class,
        ))
    }

    fn unpack(self) -> PortSpace {
        let PackedSpace(addrs, rest) = self;
        let class = match rest & 0xff {
            0 => PortClass::Low,
            1 => PortClass::Privileged,
            _ => PortClass::Unprivileged,
        };
        PortSpace {
            protocol: Protocol((rest >> 8) as u8),
            translated: IpAddr::V4(Ipv4Addr::from_bits((addrs >> 32) as u32)),
            peer: Endpoint {
                addr: IpAddr::V4(Ipv4Addr::from_bits(addrs as u32)),
                port: Some((rest >> 32) as u16),
            },
            zone: (rest >> 16) as u16,
            class,
        }
    }
}

impl PackedTally {
    fn pack(tally: PortTally) -> PackedTally {
        let (source, state) = match tally.source {
            Source::None => (0, SourceState::None),
            Source::One(IpAddr::V4(addr)) => (addr.to_bits(), SourceState::One),
            // An IPv6 source of an IPv4 space (no kernel prints one).
            Source::One(IpAddr::V6(_)) | Source::Several => (0, SourceState::Several),
        };
        PackedTally {
            held: tally.held,
            closing: tally.closing,
            outside: tally.outside,
            source,
            state,
            span: tally.held_span.unwrap_or((0, 0)),
            held_ports: tally.held_ports,
            closing_first: tally.closing_first.unwrap_or(0),
            closing_ports: tally.closing_ports,
        }
    }

    /// The tally, its port sets moved out (`self` keeps none).
    fn take(&mut self) -> PortTally {
        let held_ports = self.held_ports.take();
        let closing_ports = self.closing_ports.take();
        PortTally {
            held_ports,
            closing_ports,
            ..self.unpack()
        }
    }

    fn unpack(&self) -> PortTally {
        PortTally {
            held: self.held,
            closing: self.closing,
            outside: self.outside,
            source: match self.state {
                SourceState::None => Source::None,
                SourceState::One => Source::One(IpAddr::V4(Ipv4Addr::from_bits(self.source))),
                SourceState::Several => Source::Several,
            },
            held_span: (self.span != (0, 0)).then_some(self.span),
            held_ports: self.held_ports.clone(),
            closing_first: (self.closing_first != 0).then_some(self.closing_first),
            closing_ports: self.closing_ports.clone(),
        }
    }
}

impl PortTally {
    fn count(&mut self, port: u16, port_held: bool, closing: bool, source: IpAddr) {
        match (port_held, closing) {
            (false, _) => self.outside = self.outside.saturating_add(1),
            (true, true) => {
                add_port(&mut self.closing_ports, self.closing_first, port);
                self.closing = self.closing.saturating_add(1);
                self.closing_first = Some(self.closing_first.map_or(port, |one| one.min(port)));
            }
            (true, false) => {
                let first = self.held_first();
                add_port(&mut self.held_ports, first, port);
                self.held = self.held.saturating_add(1);
                self.held_span = Some(span((port, port), self.held_span));
            }
        }
        if port_held {
            self.source.add(source);
        }
    }

    /// The held port that stands for the set while there is one only.
    fn held_first(&self) -> Option<u16> {
        self.held_span.map(|(one, _)| one)
    }

    fn merge(&mut self, theirs: PortTally) {
        self.held = self.held.saturating_add(theirs.held);
        self.closing = self.closing.saturating_add(theirs.closing);
        self.outside = self.outside.saturating_add(theirs.outside);
        self.source.merge(theirs.source);
        let (mine_first, theirs_first) = (self.held_first(), theirs.held_first());
        self.held_ports = union(
            (self.held_ports.take(), mine_first),
            (theirs.held_ports, theirs_first),
            self.held,
        );
        if let Some(theirs) = theirs.held_span {
            self.held_span = Some(span(theirs, self.held_span));
        }
        self.closing_ports = union(
            (self.closing_ports.take(), self.closing_first),
            (theirs.closing_ports, theirs.closing_first),
            self.closing,
        );
        self.closing_first = match (self.closing_first, theirs.closing_first) {
            (Some(mine), Some(theirs)) => Some(mine.min(theirs)),
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// `port` joins `set`; with `first`, the one port before it (no set
/// yet), it makes one.
fn add_port(set: &mut Option<Arc<HeldPorts>>, first: Option<u16>, port: u16) {
    match (set, first) {
        (Some(set), _) => Arc::make_mut(set).insert(port),
        (set, Some(one)) => *set = Some(Arc::new(HeldPorts::of(&[one, port]))),
        (_, None) => {}
    }
}

/// The union of two port sets, each given as its set or, for one port
/// (none), only that port; `None` when `count` (the entries of both) is
/// at most one: a single port has no set.
fn union(
    mine: (Option<Arc<HeldPorts>>, Option<u16>),
    theirs: (Option<Arc<HeldPorts>>, Option<u16>),
    count: u32,
) -> Option<Arc<HeldPorts>> {
    if count <= 1 {
        return None;
    }
    let set_of = |(set, one): (Option<Arc<HeldPorts>>, Option<u16>)| {
        set.or_else(|| one.map(|one| Arc::new(HeldPorts::of(&[one]))))
    };
    match (set_of(mine), set_of(theirs)) {
        (Some(mut set), Some(theirs)) => {
            Arc::make_mut(&mut set).merge(&theirs);
            Some(set)
        }
        (mine, None) => mine,
        (None, theirs) => theirs,
    }
}

/// The span of `one` and `other`.
fn span(one: (u16, u16), other: Option<(u16, u16)>) -> (u16, u16) {
    match other {
        Some((low, high)) => (one.0.min(low), one.1.max(high)),
        None => one,
    }
}

impl SnatPorts {
    /// Counts `flow` when its source was NATed.
    pub fn add(&mut self, flow: &Flow<'_>) {
        let Some((space, port)) = PortSpace::of(flow) else {
            return;
        };
        let closing = matches!(
            flow.state,
            Some(State::Tcp(TcpState::TimeWait | TcpState::Close))
        );
        let held = space.class.holds(port);
        match PackedSpace::pack(&space) {
            Some(packed) => {
                let entry = self.v4.entry(packed).or_default();
                let mut tally = entry.take();
                tally.count(port, held, closing, flow.orig.src);
                *entry = PackedTally::pack(tally);
            }
            None => self
                .other
                .entry(space)
                .or_default()
                .count(port, held, closing, flow.orig.src),
        }
    }

    /// The tally of `space`, if any entry was in it.
    pub fn get(&self, space: &PortSpace) -> Option<PortTally> {
        match PackedSpace::pack(space) {
            Some(packed) => self.v4.get(&packed).map(|t| t.unpack()),
            None => self.other.get(space).cloned(),
        }
    }

    /// How many spaces have entries.
    pub fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    /// True when no entry was source-NATed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every space with its tally, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (PortSpace, PortTally)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|(space, tally)| (space.unpack(), tally.unpack()));
        let other = self
            .other
            .iter()
            .map(|(space, tally)| (*space, tally.clone()));
        v4.chain(other)
    }
}

impl Merge for SnatPorts {
    fn merge(&mut self, other: Self) {
        // The smaller map into the larger one, as every keyed map merges.
        merge_maps(&mut self.v4, other.v4, |mine, mut theirs| {
            let mut tally = mine.take();
            tally.merge(theirs.take());
            *mine = PackedTally::pack(tally);
        });
        merge_maps(&mut self.other, other.other, PortTally::merge);
    }
}

/// The windows of ports NAT tries, each from a random place of the
/// range: 128, then halved down to 8 (248 tries; older kernels scanned
/// the whole range from a rover).
const WINDOWS: [u64; 5] = [128, 64, 32, 16, 8];

/// What a space is judged by, as [`PortUse`] shows it: the shares of its
/// ports taken and the share of NAT's searches its runs of held ports
/// fail (rounded to two decimals).
/// The table's order, the finding, the recommendation and the reading of
/// `insert_failed` all judge by these, so they agree on every space.
#[derive(Debug, Clone, Copy)]
struct Shares {
    percent: f64,
    percent_with_closing: f64,
    held_run: Option<(u16, u16)>,
    run_failure_percent: f64,
    run_failure_percent_with_closing: f64,
}

impl Shares {
    /// The shares, unless the space is far from every rule below: under
    /// 38% of its ports taken is under half, and runs of held ports fail
    /// under 1% of NAT's searches until they hold about 38.9% of the range
    /// (each window falls on held ports from at most as many 16-bit
    /// offsets as map to held ports, and the likeliest ports of the range
    /// are one offset likelier than the rest).
    /// A gateway may have as many spaces as entries, nearly all far.
    fn judged(class: PortClass, tally: &PortTally) -> Option<Shares> {
        let taken = u64::from(tally.held) + u64::from(tally.closing);
        (taken * 100 >= class.size() * 38).then(|| Shares::of(class, tally))
    }

    fn of(class: PortClass, tally: &PortTally) -> Shares {
        let size = class.size();
        let held = u64::from(tally.held);
        // A run shorter than NAT's first window never fails it all.
        let held_run = tally
            .held_span
            .filter(|&(first, last)| u64::from(last - first) + 1 == held && held >= WINDOWS[0]);
        // Every window can fall on held ports only once some run of them
        // is as long as the first.
        let failure = match &tally.held_ports {
            Some(set) if held >= WINDOWS[0] => set.search_failure(class),
            _ => 0.0,
        };
        // Kernels before 6.5 keep the closing entries' ports taken.
        let taken = held + u64::from(tally.closing);
        let with_closing = if tally.closing == 0 {
            failure
        } else if taken >= WINDOWS[0] {
            let all = union(
                (tally.held_ports.clone(), tally.held_first()),
                (tally.closing_ports.clone(), tally.closing_first),
                tally.held.saturating_add(tally.closing),
            );
            all.map_or(0.0, |set| set.search_failure(class))
        } else {
            0.0
        };
        Shares {
            percent: super::percent(held, size),
            percent_with_closing: super::percent(taken, size),
            held_run,
            run_failure_percent: super::round2(failure * 100.0),
            run_failure_percent_with_closing: super::round2(with_closing * 100.0),
        }
    }

    /// New connections are dropped on every kernel: the held ports fail
    /// at least [`RUN_FAILURE_PERCENT`] of NAT's searches.
    fn drops(&self) -> bool {
        self.run_failure_percent >= RUN_FAILURE_PERCENT
    }

    /// At least [`CROWDED_PERCENT`] taken, closing TCP entries counted.
    fn crowded(&self) -> bool {
        self.percent_with_closing >= CROWDED_PERCENT
    }

    /// On kernels before 6.5, where closing entries keep their ports,
    /// the runs of taken ports fail at least [`RUN_FAILURE_PERCENT`].
    fn runs_drop_before_6_5(&self) -> bool {
        self.run_failure_percent_with_closing >= RUN_FAILURE_PERCENT
    }

    fn reported(&self) -> bool {
        self.drops() || self.crowded() || self.runs_drop_before_6_5()
    }
}

/// The chance that every window NAT tries falls on held ports, for the
/// runs of held ports `runs` ((offset, length) in a range of `size`
/// ports, in order), as the kernel tries them: each window of `w` ports
/// starts at a random 16-bit offset `off` and tries `off, off + 1, ...`
/// (wrapping from 65535 to 0) each at port `off % size` of the range. So
/// the first `65536 % size` ports are one start likelier than the others,
/// and a window that passes 65535 goes on at the range's first port. The
/// windows' offsets are drawn independently.
fn search_failure(runs: &[(u32, u32)], size: u64) -> f64 {
    const OFFSETS: u64 = 1 << 16;
    let size32 = u32::try_from(size).unwrap_or(u32::MAX);
    if runs.first() == Some(&(0, size32)) {
        return 1.0;
    }
    // Held ports from offset `at` on, across the range's end.
    let ahead = |at: u64| -> u64 {
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        let i = runs.partition_point(|&(start, _)| start <= at);
        let Some(&(start, len)) = i.checked_sub(1).and_then(|i| runs.get(i)) else {
            return 0;
        };
        if at >= start + len {
            return 0;
        }
        let mut n = u64::from(start + len - at);
        if start + len == size32
            && let Some(&(0, first)) = runs.first()
            && start != 0
        {
            n += u64::from(first);
        }
        n
    };
    // The runs joined across the range's end, for the starts.
    let mut cyclic: Vec<(u64, u64)> = runs
        .iter()
        .map(|&(start, len)| (u64::from(start), u64::from(len)))
        .collect();
    if cyclic.len() > 1
        && cyclic[0].0 == 0
        && cyclic
            .last()
            .is_some_and(|&(start, len)| start + len == size)
    {
        let (_, first) = cyclic.remove(0);
        if let Some(last) = cyclic.last_mut() {
            last.1 += first;
        }
    }
    WINDOWS
        .iter()
        .map(|&w| {
            // Offsets 0..=65536 - w: the window's ports follow on from
            // `off % size`, all held when a run holds `w` from there. Each
            // port of the range is that start for `whole` offsets, one more
            // below `extra`.
            let offsets = OFFSETS + 1 - w;
            let (whole, extra) = (offsets / size, offsets % size);
            let mut count = 0;
            for &(start, len) in &cyclic {
                if len < w {
                    continue;
                }
                let starts = len - w + 1;
                count += starts * whole;
                // The starts below `extra`, in at most two stretches.
                let end = start + starts;
                count += end.min(extra).saturating_sub(start);
                if end > size {
                    count += (end - size).min(extra);
                }
            }
            // Offsets past 65536 - w: `a` ports up to offset 65535, then
            // the rest from the range's first port.
            for off in offsets..OFFSETS {
                let a = OFFSETS - off;
                if ahead(off % size) >= a && ahead(0) >= w - a {
                    count += 1;
                }
            }
            count as f64 / OFFSETS as f64
        })
        .product()
}

/// A port space and how full it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortUse {
    /// The L4 protocol name.
    pub protocol: &'static str,
    /// The address the sources were translated to.
    pub translated: String,
    /// The peer, `addr:port` (`[v6]:port`).
    pub peer: String,
    /// The zone of the reply direction.
    pub zone: u16,
    /// The original source of the entries with a port of the range, when
    /// they all come from one; `None` when from several (or none).
    pub source: Option<String>,
    /// Source-NATed entries in the space.
    pub entries: u64,
    /// Of them, those holding a port of the range ([`PortTally::held`]).
    pub held: u64,
    /// TCP entries in TIME_WAIT or CLOSE ([`PortTally::closing`]).
    pub closing: u64,
    /// Entries with a port outside the range ([`PortTally::outside`]).
    pub outside: u64,
    /// The first port NAT picks from without a range in the rule.
    pub first_port: u16,
    /// The last one.
    pub last_port: u16,
    /// How many ports that is.
    pub ports: u64,
    /// `held` in percent of `ports`: how full the space is on kernels
    /// since 6.5.
    pub percent: f64,
    /// `held` and `closing` in percent of `ports`: how full it is on older
    /// kernels.
    pub percent_with_closing: f64,
    /// The first and last port of the held ports when they form one run
    /// at least as long as NAT's first window of tries (`[1, 383]`);
    /// `None` otherwise.
    pub held_run: Option<(u16, u16)>,
    /// The share of new connections (that cannot keep their own port)
    /// for which all of NAT's tries fall on held ports, from the runs the
    /// held ports form, in percent, as the kernel searches; 0 without
    /// a run as long as NAT's first window.
    pub run_failure_percent: f64,
    /// The same with the closing entries' ports taken, as kernels before
    /// 6.5 keep them (on later kernels the last 32 tries of a window may
    /// take them, so it lies between the two there).
    pub run_failure_percent_with_closing: f64,
}

impl PortUse {
    /// `source` as a table shows it: the address, `several`, or nothing.
    pub fn source_text(&self) -> &str {
        match (&self.source, self.held + self.closing) {
            (Some(addr), _) => addr,
            (None, 0) => "",
            (None, _) => "several",
        }
    }

    /// True when new connections there are dropped on every kernel: the
    /// held ports fail at least [`RUN_FAILURE_PERCENT`] of NAT's searches
    /// (`run_failure_percent`). The finding then says "Fix", and the
    /// recommendation is made.
    pub fn needs_fix(&self) -> bool {
        self.shares().drops()
    }

    /// True when the doctor reports on the space: it [needs a
    /// fix](PortUse::needs_fix), at least [`CROWDED_PERCENT`] of its
    /// ports are taken (closing TCP entries counted), or it drops new
    /// connections on kernels before 6.5
    /// ([`PortUse::runs_drop_before_6_5`]).
    pub fn reported(&self) -> bool {
        self.shares().reported()
    }

    fn shares(&self) -> Shares {
        Shares {
            percent: self.percent,
            percent_with_closing: self.percent_with_closing,
            held_run: self.held_run,
            run_failure_percent: self.run_failure_percent,
            run_failure_percent_with_closing: self.run_failure_percent_with_closing,
        }
    }

    /// True when runs of held ports, not how many are held, drop new
    /// connections: they fail at least [`RUN_FAILURE_PERCENT`] of NAT's
    /// searches, and twice as many as as many ports spread at random
    /// would (each of the 248 tries held with the space's share). Runs
    /// form from original ports kept in order; random ports in the rule
    /// spread new connections' ports instead.
    /// On kernels before 6.5 the same holds of the runs of held and
    /// closing ports together.
    pub fn run_drops(&self) -> bool {
        let runs = |failure: f64, percent: f64| {
            let spread = (percent / 100.0).powi(248) * 100.0;
            failure >= RUN_FAILURE_PERCENT && failure >= 2.0 * spread
        };
        runs(self.run_failure_percent, self.percent)
            || runs(
                self.run_failure_percent_with_closing,
                self.percent_with_closing,
            )
    }

    /// True when, on kernels before 6.5 (closing entries' ports taken),
    /// runs of taken ports fail at least [`RUN_FAILURE_PERCENT`] of NAT's
    /// searches.
    pub fn runs_drop_before_6_5(&self) -> bool {
        self.shares().runs_drop_before_6_5()
    }

    /// True for the two small classes (1-511, 600-1023), which a port
    /// range in the rule widens to 64,512 ports.
    pub fn small_class(&self) -> bool {
        self.ports < PortClass::Unprivileged.size()
    }
}

/// What the doctor shows of the spaces, from one walk over them.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// The `top` worst spaces (all when `top` is 0), worst first: those
    /// where new connections are dropped on every kernel
    /// ([`PortUse::needs_fix`]), then the others; each group by the share
    /// of their ports held on every kernel, then with closing TCP entries
    /// counted (as kernels before 6.5 hold them), then the space.
    pub rows: Vec<PortUse>,
    /// The space the finding and the recommendation are about: the worst
    /// (in the order of `rows`) of those [reported](PortUse::reported).
    /// It is not always the first row: a space of closing entries only
    /// ranks below any with a port held.
    pub subject: Option<PortUse>,
    /// How many spaces are reported.
    pub reported: usize,
}

/// A space as it is ranked: whether it drops new connections on every
/// kernel, the space, its tally.
type Ranked = (bool, PortSpace, PortTally);

/// The rows, subject and count of [`Overview`], judging each space once.
pub fn overview(spaces: &SnatPorts, top: usize) -> Overview {
    let mut all: Vec<Ranked> = Vec::with_capacity(spaces.len());
    let mut subject: Option<Ranked> = None;
    let mut reported = 0;
    for (space, tally) in spaces.iter() {
        let shares = Shares::judged(space.class, &tally);
        let ranked = (shares.is_some_and(|s| s.drops()), space, tally);
        if shares.is_some_and(|s| s.reported()) {
            reported += 1;
            if subject
                .as_ref()
                .is_none_or(|best| worse(&ranked, best).is_lt())
            {
                subject = Some(ranked.clone());
            }
        }
        all.push(ranked);
    }
    if top > 0 && top < all.len() {
        all.select_nth_unstable_by(top - 1, worse);
        all.truncate(top);
    }
    all.sort_unstable_by(worse);
    Overview {
        rows: all.into_iter().map(port_use_of).collect(),
        subject: subject.map(port_use_of),
        reported,
    }
}

/// [`Overview::rows`] alone.
pub fn port_use(spaces: &SnatPorts, top: usize) -> Vec<PortUse> {
    overview(spaces, top).rows
}

/// [`Overview::subject`] alone.
pub fn subject(spaces: &SnatPorts) -> Option<PortUse> {
    overview(spaces, 1).subject
}

/// `a` worse than `b`: dropping, then a.ports / a.size > b.ports /
/// b.size, in integers, for the held ports, then held and closing; then
/// the space, so that the order is total.
fn worse(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    let share = |tally: &PortTally, other: &PortSpace| {
        let held = u128::from(tally.held);
        let size = u128::from(other.class.size());
        (held * size, (held + u128::from(tally.closing)) * size)
    };
    b.0.cmp(&a.0)
        .then_with(|| share(&b.2, &a.1).cmp(&share(&a.2, &b.1)))
        .then_with(|| a.1.cmp(&b.1))
}

/// The row of one ranked space.
fn port_use_of((_, space, tally): Ranked) -> PortUse {
    let (first_port, last_port) = space.class.ports();
    let size = space.class.size();
    let [held, closing, outside] = [tally.held, tally.closing, tally.outside].map(u64::from);
    let Shares {
        percent,
        percent_with_closing,
        held_run,
        run_failure_percent,
        run_failure_percent_with_closing,
    } = Shares::of(space.class, &tally);
    PortUse {
        protocol: space.protocol.name(),
        translated: space.translated.to_string(),
        peer: space.peer.to_string(),
        zone: space.zone,
        source: match tally.source {
            Source::One(addr) => Some(addr.to_string()),
            Source::None | Source::Several => None,
        },
        entries: held + closing + outside,
        held,
        closing,
        outside,
        first_port,
        last_port,
        ports: size,
        percent,
        percent_with_closing,
        held_run,
        run_failure_percent,
        run_failure_percent_with_closing,
    }
}

/// Whether iptables' MASQUERADE and SNAT take a port range for
/// `protocol`: only for TCP, UDP, SCTP and DCCP (not UDP-Lite); nft takes
/// one for any protocol with ports.
fn iptables_takes_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "sctp" | "dccp")
}

/// The counters of the statistics that bear on NAT's port search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchCounters {
    /// `insert_failed`, when the statistics have it.
    pub insert_failed: Option<u64>,
    /// `found`: lookups that met a tuple in use, NAT's port tries among them.
    pub found: Option<u64>,
}

impl SearchCounters {
    /// True when `found` rules NAT out for some of the failed inserts:
    /// fewer taken ports met than that many failed searches meet.
    pub fn not_all_nat(self) -> bool {
        match (self.insert_failed, self.found) {
            (Some(failed), Some(found)) if failed > 0 => {
                found < failed.saturating_mul(FOUND_PER_FAILED_SEARCH)
            }
            _ => false,
        }
    }
}

/// How likely `fullest` ([`subject`]'s) makes NAT's port search
/// the cause of failed inserts: `Some(true)` when new connections there
/// are dropped on every kernel ([`PortUse::needs_fix`]), `Some(false)`
/// when only on kernels before 6.5, which keep closing TCP entries' ports
/// ([`PortUse::runs_drop_before_6_5`]), `None` when neither, no insert
/// failed, or the statistics rule NAT out.
pub fn explains_insert_failed(fullest: Option<&PortUse>, stats: SearchCounters) -> Option<bool> {
    let fullest = fullest?;
    if stats.insert_failed.is_none_or(|n| n == 0) || stats.not_all_nat() {
        return None;
    }
    if fullest.needs_fix() {
        Some(true)
    } else {
        fullest.runs_drop_before_6_5().then_some(false)
    }
}

/// The finding on the worst space, when it is
/// [reported](PortUse::reported). `fullest` is [`subject`]'s; `reported`
/// how many spaces in all are reported ([`Overview::reported`]).
pub fn finding(fullest: &PortUse, reported: usize, stats: SearchCounters) -> Option<String> {
    if !fullest.reported() {
        return None;
    }
    let taken_share = fullest.percent_with_closing;
    let group = super::group;
    let (first, last) = (fullest.first_port, fullest.last_port);
    let class = match first {
        1 => "original ports below 512",
        600 => "original ports 512-1023",
        _ => "original ports from 1024",
    };
    let zone = match fullest.zone {
        0 => String::new(),
        zone => format!(" (zone {zone})"),
    };
    let by = match &fullest.source {
        Some(one) => format!(", all from {one}"),
        None => String::new(),
    };
    let mut text = format!(
        "SNAT {} {} -> {}{zone}: {} of the {} source ports NAT picks from ({first}-{last}: {class}) are held ({}){by}.",
        fullest.protocol,
        fullest.translated,
        fullest.peer,
        group(fullest.held),
        group(fullest.ports),
        super::pct(fullest.percent),
    );
    if fullest.closing > 0 {
        text.push_str(&format!(
            " {} more are TCP entries in TIME_WAIT or CLOSE: since 6.5 a new TCP connection may take such a port (in the last 32 tries of a window, when its sequence number has moved on); older kernels keep them until they expire ({} held then).",
            group(fullest.closing),
            super::pct(taken_share),
        ));
    }
    if fullest.outside > 0 {
        text.push_str(&format!(
            " {} more use ports outside {first}-{last} (kept original ports of 512-599, or a port range in the rule) and take none of these.",
            group(fullest.outside),
        ));
    }
    let near_full = taken_share >= NEAR_FULL_PERCENT;
    let free = fullest.ports.saturating_sub(fullest.held + fullest.closing);
    let dropped = "(a TCP connect times out after retried SYNs; a UDP query is lost)";
    if fullest.held >= fullest.ports {
        text.push_str(&format!(
            " None is free: every new connection there is dropped {dropped}."
        ));
    } else if free == 0 {
        text.push_str(&format!(
            " None is free on kernels before 6.5: every new connection there is dropped {dropped}; since 6.5, new TCP connections may take the ports of the {} closing ones.",
            group(fullest.closing)
        ));
    } else if near_full {
        text.push_str(&format!(
            " Only {} are free{}: NAT tries 248 ports from random places, and drops start where nearly every window falls on held ports.",
            group(free),
            if fullest.closing > 0 { " on kernels before 6.5" } else { "" },
        ));
    } else if fullest.run_failure_percent == 0.0 && !fullest.runs_drop_before_6_5() {
        text.push_str(" NAT still finds free ports: drops start where held ports form long runs (as kept original ports taken in order do) or the space is nearly full.");
    }
    // Whatever the fill: how often NAT's search finds no free port.
    let failure = fullest.run_failure_percent;
    if fullest.held < fullest.ports && failure > 0.0 {
        let share = super::pct(failure);
        let cannot = "of the new connections there that cannot keep their own port";
        text.push_str(&if fullest.run_drops() {
            let (runs, falls) = match fullest.held_run {
                Some((first_held, last_held)) => {
                    (format!("form one run ({first_held}-{last_held})"), "in it")
                }
                None => (
                    "form long runs (as kept original ports taken in order do)".to_owned(),
                    "on held ports",
                ),
            };
            format!(" The held ports {runs}: for about {share} {cannot}, every window of ports NAT tries (248 in all, from random places) falls {falls}, and they are dropped {dropped}.")
        } else {
            format!(" With so few ports free, every window of ports NAT tries (248 in all, from random places) falls on held ports for about {share} {cannot}, and they are dropped {dropped}.")
        });
    }
    let with_closing = fullest.run_failure_percent_with_closing;
    if fullest.held + fullest.closing < fullest.ports
        && fullest.runs_drop_before_6_5()
        && with_closing > failure
    {
        text.push_str(&format!(
            " On kernels before 6.5, which keep the {} closing entries' ports, every window falls on taken ports for about {} of the new connections there that cannot keep their own port, and they are dropped.",
            group(fullest.closing),
            super::pct(with_closing)
        ));
    }
    if let Some(failed) = stats.insert_failed {
        let found = stats.found;
        text.push_str(&match (failed, found) {
            (0, _) => " insert_failed = 0: no insert has failed yet.".to_owned(),
            (_, Some(0)) => format!(
                " insert_failed = {}, but found = 0: no port search met a taken port, so these failures are not NAT's (or the statistics are of another namespace or boot than the dump).",
                group(failed)
            ),
            (_, Some(found)) if stats.not_all_nat() => format!(
                " insert_failed = {}, found = {}: too few taken ports met for all of them to be NAT's (a port search that finds none meets 129-249).",
                group(failed),
                group(found)
            ),
            (_, Some(found)) => format!(
                " insert_failed = {}, found = {} (found counts the taken ports every search met, the successful ones too: it does not tell whether these failures are NAT's).",
                group(failed),
                group(found)
            ),
            (_, None) => format!(" insert_failed = {}.", group(failed)),
        });
    }
    let lead = if fullest.needs_fix() {
        "Fix"
    } else if fullest.runs_drop_before_6_5() {
        "Fix on kernels before 6.5"
    } else {
        "For more room"
    };
    let mut remedies = Vec::new();
    if fullest.run_drops() {
        remedies.push("random ports in the rule (nft `masquerade fully-random`; iptables `-j MASQUERADE --random-fully`) make NAT pick every new connection's port at random instead of keeping its original one, so the ports held no longer line up in runs (those there empty as their entries expire), unless the peer needs the original source port".to_owned());
    }
    if fullest.small_class() {
        let protocol = fullest.protocol;
        let iptables = if iptables_takes_ports(protocol) {
            format!("iptables `-p {protocol} -j MASQUERADE --to-ports 1024-65535`")
        } else {
            format!("iptables takes no port range for {protocol}")
        };
        remedies.push(format!("a port range in the rule gives 64,512 ports (nft `meta l4proto {protocol} masquerade to :1024-65535`; {iptables}), unless the peer needs a source port below 1024"));
    }
    match &fullest.source {
        Some(one) => remedies.push(format!(
            "more translated addresses help other sources, not {one}'s own connections (the kernel puts all of a source's connections to one peer on one address)"
        )),
        None => remedies.push("more translated addresses spread the sources over them (nft `snat to FIRST-LAST` instead of masquerade; iptables `-j SNAT --to-source FIRST-LAST`)".to_owned()),
    }
    text.push_str(&format!(" {lead}: {}.", remedies.join("; ")));
    match reported.saturating_sub(1) {
        0 => {}
        1 => text.push_str(
            " One more space is at least half held or drops new connections (the SNAT source ports table; -n 0 lists all).",
        ),
        n => text.push_str(&format!(
            " {} more spaces are at least half held or drop new connections (the SNAT source ports table; -n 0 lists all).",
            group(n as u64)
        )),
    }
    Some(text)
}

/// `snat-ports`: give source NAT more ports toward the worst space's
/// peer (`fullest` is [`subject`]'s), when new connections there are
/// dropped on every kernel
/// ([`PortUse::needs_fix`]: closing TCP entries give way since 6.5). The dump is the evidence: the
/// statistics' `found` cannot show that NAT failed. The commands find
/// the rule; the changes are templates, since the rule is not in the dump.
pub fn recommendation(fullest: Option<&PortUse>, stats: SearchCounters) -> Option<Recommendation> {
    let fullest = fullest?;
    if !fullest.needs_fix() {
        return None;
    }
    let group = super::group;
    let closing = match fullest.closing {
        0 => String::new(),
        n => format!(
            ", {} of them by TCP entries in TIME_WAIT or CLOSE",
            group(n)
        ),
    };
    let mut rationale = format!(
        "{} of the {} source ports NAT picks from ({}-{}) toward {} are taken ({}{closing})",
        group(fullest.held + fullest.closing),
        group(fullest.ports),
        fullest.first_port,
        fullest.last_port,
        fullest.peer,
        super::pct(fullest.percent_with_closing),
    );
    if let Some(n) = stats.insert_failed.filter(|&n| n > 0) {
        rationale.push_str(&format!(", and insert_failed = {}", group(n)));
    }
    let share = super::pct(fullest.run_failure_percent);
    let cannot = "of the new connections there that cannot keep their own port are dropped";
    rationale.push_str(&if fullest.held >= fullest.ports {
        ": none is free, every new connection there is dropped.".to_owned()
    } else if fullest.run_drops() {
        format!(
            "; the {} held on every kernel form {}: about {share} {cannot}.",
            group(fullest.held),
            if fullest.held_run.is_some() { "one run" } else { "long runs" },
        )
    } else {
        format!(
            "; with so few free, every window of NAT's tries falls on held ports for about {share} {cannot}."
        )
    });
    rationale.push_str(" The rule that translates to ");
    rationale.push_str(&fullest.translated);
    rationale.push_str(" is not in the dump: find it with the first commands, then change it as the templates show.");
    let run = fullest.run_drops();
    if run {
        rationale.push_str(" Runs of held ports come from original source ports kept in order: random ports in the rule make NAT pick every new connection's port at random instead, so the held ports spread out, and the runs empty as their entries expire (unless the peer needs the original source port).");
    }
    let small = fullest.small_class();
    if small {
        rationale.push_str(" A port range lets NAT pick any of 1024-65535 for these connections (unless the peer needs a source port below 1024).");
    }
    match &fullest.source {
        Some(one) => rationale.push_str(&format!(
            " More addresses to translate to help other sources, not {one}'s own connections: the kernel puts all of a source's connections to one peer on one address."
        )),
        None => rationale.push_str(" More addresses to translate to spread the sources over them."),
    }
    let v6 = fullest.translated.contains(':');
    let (nft_family, iptables) = if v6 {
        ("ip6", "ip6tables")
    } else {
        ("ip", "iptables")
    };
    let protocol = fullest.protocol;
    let mut commands = vec![
        "nft -a list ruleset | grep -nE 'masquerade|snat'".to_owned(),
        format!("{iptables}-save -t nat | grep -nE 'MASQUERADE|SNAT'"),
    ];
    if run {
        commands.push(format!("# random ports: nft `masquerade fully-random` (or `snat {nft_family} to ADDRESS fully-random`), {iptables} `-j MASQUERADE --random-fully` (or `-j SNAT --to-source ADDRESS --random-fully`)"));
    }
    if small {
        let address = if v6 { "[ADDRESS]" } else { "ADDRESS" };
        let nft = format!(
            "nft `meta l4proto {protocol} masquerade to :1024-65535` (or `meta l4proto {protocol} snat {nft_family} to {address}:1024-65535`)"
        );
        commands.push(if iptables_takes_ports(protocol) {
            format!("# a port range (both name the protocol with it): {nft}, {iptables} `-p {protocol} -j MASQUERADE --to-ports 1024-65535`")
        } else {
            format!("# a port range (nft names the protocol with it; {iptables} takes no port range for {protocol}): {nft}")
        });
    }
    commands.push(format!(
        "# more addresses: nft `snat {nft_family} to FIRST-LAST` instead of masquerade, {iptables} `-j SNAT --to-source FIRST-LAST`"
    ));
    Some(Recommendation {
        id: "snat-ports",
        title: format!(
            "{} toward {} ({})",
            if run {
                "Spread source NAT's ports"
            } else {
                "Give source NAT more ports"
            },
            fullest.peer,
            fullest.protocol
        ),
        rationale,
        commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Breakdown;

    /// A TCP entry in `state` from `source:sport` to 198.51.100.2:443, its
    /// source translated to `translated:nat_port` (no NAT when they are the
    /// same); `zone` is printed as it is (`zone=1`, `zone-reply=1`).
    fn entry(
        state: &str,
        (source, sport): (&str, u16),
        (translated, nat_port): (&str, u16),
        zone: &str,
    ) -> String {
        format!(
            "ipv4     2 tcp      6 100 {state} src={source} dst=198.51.100.2 sport={sport} dport=443 src=198.51.100.2 dst={translated} sport=443 dport={nat_port} [ASSURED] mark=0 {zone} use=1\n"
        )
    }

    fn established(source: (&str, u16), translated: (&str, u16)) -> String {
        entry("ESTABLISHED", source, translated, "zone=0")
    }

    fn spaces(dump: &str) -> SnatPorts {
        Breakdown::from_bytes(dump.as_bytes()).snat_ports
    }

    fn space(class: PortClass, zone: u16) -> PortSpace {
        PortSpace {
            protocol: Protocol::TCP,
            translated: "192.0.2.1".parse().unwrap(),
            peer: Endpoint {
                addr: "198.51.100.2".parse().unwrap(),
                port: Some(443),
            },
            zone,
            class,
        }
    }

    #[test]
    fn packed_ipv4_spaces_and_tallies_read_back_the_same() {
        for (protocol, class, zone, port) in [
            (Protocol::TCP, PortClass::Low, 0, 1),
            (Protocol::UDP, PortClass::Privileged, 65535, 65535),
            (Protocol::SCTP, PortClass::Unprivileged, 7, 443),
            (Protocol(255), PortClass::Unprivileged, 1, 0),
        ] {
            let space = PortSpace {
                protocol,
                translated: "255.0.2.1".parse().unwrap(),
                peer: Endpoint {
                    addr: "198.51.100.255".parse().unwrap(),
                    port: Some(port),
                },
                zone,
                class,
            };
            assert_eq!(PackedSpace::pack(&space).unwrap().unpack(), space);
        }
        for (source, held_span) in [
            (Source::None, None),
            (Source::One("203.0.113.9".parse().unwrap()), Some((1, 1))),
            (Source::Several, Some((1024, 65535))),
        ] {
            let tally = PortTally {
                held: u32::MAX,
                closing: 1,
                outside: 2,
                source,
                held_span,
                held_ports: held_span.map(|(low, high)| Arc::new(HeldPorts::of(&[low, high]))),
                closing_first: held_span.map(|(low, _)| low + 1),
                closing_ports: held_span.map(|(low, _)| Arc::new(HeldPorts::of(&[low + 1, 600]))),
            };
            assert_eq!(PackedTally::pack(tally.clone()).unpack(), tally);
            let mut packed = PackedTally::pack(tally.clone());
            assert_eq!(packed.take(), tally);
            assert_eq!((packed.held_ports, packed.closing_ports), (None, None));
        }
        // The bucket the doc of `SnatPorts` gives.
        assert_eq!(
            (size_of::<PackedSpace>(), size_of::<PackedTally>()),
            (16, 40)
        );
        // IPv6 spaces are not packed.
        let mut v6 = space(PortClass::Low, 0);
        v6.translated = "2001:db8::1".parse().unwrap();
        assert_eq!(PackedSpace::pack(&v6), None);
    }

    #[test]
    fn one_run_of_held_ports_is_found_and_its_failures_estimated() {
        // 383 of 511 low ports held in one run (1-383), as clients that
        // keep their original ports in order leave them.
        let run: String = (1..=383)
            .map(|p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect();
        let rows = port_use(&spaces(&run), 0);
        assert_eq!(
            (rows[0].held_run, rows[0].run_failure_percent),
            (Some((1, 383)), 11.51)
        );
        let text = finding(&rows[0], 1, SearchCounters::default()).unwrap();
        assert!(
            text.contains(" The held ports form one run (1-383): for about 11.5% of the new connections there that cannot keep their own port,"),
            "{text}"
        );
        // Both remedies fit: random ports against the run, a port range
        // against the small class.
        assert!(
            text.contains(" Fix: random ports in the rule (nft `masquerade fully-random`;")
                && text.contains("; a port range in the rule gives 64,512 ports"),
            "{text}"
        );
        assert!(recommendation(rows.first(), SearchCounters::default()).is_some());
        // The same count with a gap: no one run, but the run of 382
        // fails nearly as many searches (11.3%).
        let gapped: String = (1..=382)
            .chain([400])
            .map(|p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect();
        let rows = port_use(&spaces(&gapped), 0);
        assert_eq!(
            (rows[0].held_run, rows[0].run_failure_percent),
            (None, 11.34)
        );
        assert!(recommendation(rows.first(), SearchCounters::default()).is_some());
    }

    #[test]
    fn port_classes_are_the_kernels() {
        let classes = [0, 1, 511, 512, 599, 600, 1023, 1024, 65535].map(PortClass::of);
        use PortClass::*;
        assert_eq!(
            classes,
            [
                Low,
                Low,
                Low,
                Privileged,
                Privileged,
                Privileged,
                Privileged,
                Unprivileged,
                Unprivileged
            ]
        );
        assert_eq!(
            [Low, Privileged, Unprivileged].map(PortClass::size),
            [511, 424, 64512]
        );
    }

    #[test]
    fn only_source_nated_entries_with_ports_count_by_their_space() {
        let mut dump = String::new();
        // Translated, port kept or changed: one space.
        dump.push_str(&established(("10.0.0.1", 40000), ("192.0.2.1", 40000)));
        dump.push_str(&established(("10.0.0.2", 40000), ("192.0.2.1", 40001)));
        // The port class of the original port: NTP's 123 is another space.
        dump.push_str(&established(("10.0.0.3", 123), ("192.0.2.1", 124)));
        // Another zone is another space: `zone=` and `zone-reply=` zone
        // the reply tuple; `zone-orig=` does not.
        for zone in ["zone=7", "zone-reply=7", "zone-orig=7"] {
            dump.push_str(&entry(
                "ESTABLISHED",
                ("10.0.0.4", 40000),
                ("192.0.2.1", 40002),
                zone,
            ));
        }
        // Closing TCP entries and ports outside the class apart.
        dump.push_str(&entry(
            "TIME_WAIT",
            ("10.0.0.5", 40000),
            ("192.0.2.1", 40003),
            "",
        ));
        dump.push_str(&entry(
            "CLOSE",
            ("10.0.0.5", 40001),
            ("192.0.2.1", 40004),
            "",
        ));
        dump.push_str(&established(("10.0.0.6", 50), ("192.0.2.1", 2000)));
        // Not NATed: not counted.
        dump.push_str(&established(("192.0.2.1", 40005), ("192.0.2.1", 40005)));
        // ICMP: NAT picks ids, not ports.
        dump.push_str("ipv4     2 icmp     1 29 src=10.0.0.1 dst=198.51.100.2 type=8 code=0 id=7 src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id=7 mark=0 use=1\n");
        let counted = spaces(&dump);
        let tally = |class, zone| {
            let t = counted.get(&space(class, zone)).unwrap_or_default();
            (t.held, t.closing, t.outside)
        };
        assert_eq!(tally(PortClass::Unprivileged, 0), (3, 2, 0));
        assert_eq!(tally(PortClass::Low, 0), (1, 0, 1));
        assert_eq!(tally(PortClass::Unprivileged, 7), (2, 0, 0));
        assert_eq!(counted.len(), 3);
        // The source of a port outside the range is not the space's.
        let low = counted.get(&space(PortClass::Low, 0)).unwrap();
        assert_eq!(low.source, Source::One("10.0.0.3".parse().unwrap()));
        let high = counted.get(&space(PortClass::Unprivileged, 0)).unwrap();
        assert_eq!(high.source, Source::Several);
    }

    #[test]
    fn the_fullest_space_first_by_its_taken_ports() {
        let mut dump = String::new();
        // 500 of 511 low ports held (97.8 %), all by one source, plus 11
        // closing (100 % on older kernels); 1,000 of 64,512 high ones
        // (1.6 %), by two sources.
        for i in 0..500 {
            dump.push_str(&established(("10.0.0.1", 1 + i), ("192.0.2.1", 1 + i)));
        }
        for i in 0..11 {
            dump.push_str(&entry(
                "TIME_WAIT",
                ("10.0.0.1", 501 + i),
                ("192.0.2.1", 501 + i),
                "",
            ));
        }
        for i in 0..1000 {
            let source = if i % 2 == 0 { "10.0.0.2" } else { "10.0.0.3" };
            dump.push_str(&established((source, 40000 + i), ("192.0.2.1", 2000 + i)));
        }
        let spaces = spaces(&dump);
        let rows = port_use(&spaces, 0);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| {
                let shares = (r.percent, r.percent_with_closing);
                (
                    r.entries,
                    r.held,
                    r.closing,
                    r.ports,
                    shares,
                    r.source_text(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (511, 500, 11, 511, (97.85, 100.0), "10.0.0.1"),
                (1000, 1000, 0, 64512, (1.55, 1.55), "several")
            ]
        );
        assert_eq!(rows[0].peer, "198.51.100.2:443");
        // The top 1 is the fullest, not the one with most entries.
        assert_eq!(port_use(&spaces, 1)[0].entries, 511);
        assert_eq!(overview(&spaces, 0).reported, 1);

        // Near full on every kernel, with failed inserts: found counts
        // the successful searches too, so it cannot confirm NAT failed.
        let stats = SearchCounters {
            insert_failed: Some(12),
            found: Some(3000),
        };
        assert_eq!(explains_insert_failed(rows.first(), stats), Some(true));
        let text = finding(&rows[0], 1, stats).unwrap();
        for part in [
            "SNAT tcp 192.0.2.1 -> 198.51.100.2:443: 500 of the 511 source ports NAT picks from (1-511: original ports below 512) are held (97.8%), all from 10.0.0.1.",
            " 11 more are TCP entries in TIME_WAIT or CLOSE: since 6.5 a new TCP connection may take such a port (in the last 32 tries of a window, when its sequence number has moved on); older kernels keep them until they expire (100.0% held then).",
            " None is free on kernels before 6.5: every new connection there is dropped",
            " insert_failed = 12, found = 3,000 (found counts the taken ports every search met, the successful ones too:",
            " The held ports form one run (1-500): for about 52.5% of the new connections",
            " Fix: random ports in the rule",
            "; a port range in the rule gives 64,512 ports",
            "more translated addresses help other sources, not 10.0.0.1's own connections",
        ] {
            assert!(text.contains(part), "{part}\n{text}");
        }
        assert!(!text.contains("more space"), "{text}");
        // found = 0 (or below 129 a failed insert): not all NAT's.
        for found in [0, 12 * 129 - 1] {
            let not_nat = SearchCounters {
                insert_failed: Some(12),
                found: Some(found),
            };
            assert_eq!(explains_insert_failed(rows.first(), not_nat), None);
            let text = finding(&rows[0], 1, not_nat).unwrap();
            assert!(text.contains(" NAT's"), "{text}");
            // The dump still shows the space full: the recommendation stands.
            assert!(recommendation(rows.first(), not_nat).is_some());
        }

        // Full only with the closing entries: on kernels before 6.5.
        let mut closing = rows[0].clone();
        (closing.held, closing.closing) = (200, 311);
        (closing.percent, closing.percent_with_closing) = (39.14, 100.0);
        (closing.held_run, closing.run_failure_percent) = (None, 0.0);
        assert_eq!(explains_insert_failed(Some(&closing), stats), Some(false));
        let text = finding(&closing, 1, stats).unwrap();
        assert!(text.contains(" Fix on kernels before 6.5: "), "{text}");
        assert_eq!(recommendation(Some(&closing), stats), None);

        // Half held, not near full: headroom, no failure is put down to it.
        let mut half = rows[0].clone();
        (half.held, half.closing) = (300, 0);
        (half.percent, half.percent_with_closing) = (58.71, 58.71);
        (half.held_run, half.run_failure_percent) = (None, 0.0);
        half.run_failure_percent_with_closing = 0.0;
        assert_eq!(explains_insert_failed(Some(&half), stats), None);
        let text = finding(&half, 3, SearchCounters::default()).unwrap();
        assert!(
            text.contains(" NAT still finds free ports: drops start"),
            "{text}"
        );
        assert!(text.contains(" For more room: "), "{text}");
        assert!(!text.contains("insert_failed"), "{text}");
        assert!(
            text.contains(" 2 more spaces are at least half held or drop new connections"),
            "{text}"
        );
        assert_eq!(recommendation(Some(&half), stats), None);
        // Under half: no finding.
        assert_eq!(finding(&rows[1], 0, stats), None);

        // The recommendation: near full on every kernel, in one run
        // (kept ports 1-500), so random ports first.
        let r = recommendation(rows.first(), SearchCounters::default()).unwrap();
        assert_eq!(
            (r.id, r.title.as_str()),
            (
                "snat-ports",
                "Spread source NAT's ports toward 198.51.100.2:443 (tcp)"
            )
        );
        assert_eq!(
            r.commands[..2],
            [
                "nft -a list ruleset | grep -nE 'masquerade|snat'",
                "iptables-save -t nat | grep -nE 'MASQUERADE|SNAT'"
            ]
        );
        assert!(
            r.commands[2].starts_with("# random ports: nft `masquerade fully-random`")
                && r.commands[3].contains("nft `meta l4proto tcp masquerade to :1024-65535`"),
            "{:?}",
            r.commands
        );
    }

    #[test]
    fn a_space_held_on_every_kernel_ranks_before_one_of_closing_entries() {
        let mut dump = String::new();
        // Peer port 443: all 511 low ports closing; 444: 470 held (92 %).
        for i in 0..511 {
            dump.push_str(&entry(
                "TIME_WAIT",
                ("10.0.0.1", 1 + i),
                ("192.0.2.1", 1 + i),
                "",
            ));
        }
        for i in 0..470u16 {
            dump.push_str(&format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src=10.0.0.2 dst=198.51.100.2 sport={p} dport=444 src=198.51.100.2 dst=192.0.2.1 sport=444 dport={p} [ASSURED] mark=0 use=1\n",
                p = 1 + i
            ));
        }
        let rows = port_use(&spaces(&dump), 0);
        assert_eq!(
            rows.iter()
                .map(|r| (r.peer.as_str(), r.held))
                .collect::<Vec<_>>(),
            [("198.51.100.2:444", 470), ("198.51.100.2:443", 0)]
        );
        assert!(recommendation(rows.first(), SearchCounters::default()).is_some());
        assert_eq!(
            subject(&spaces(&dump)).map(|r| r.peer),
            Some("198.51.100.2:444".to_owned())
        );

        // With 100 held instead of 470, it still ranks first, but only
        // the closing space is crowded: the finding is about that one.
        let fewer: String = dump
            .lines()
            .take(511 + 100)
            .map(|l| format!("{l}\n"))
            .collect();
        let rows = port_use(&spaces(&fewer), 0);
        assert_eq!(rows[0].peer, "198.51.100.2:444");
        let fullest = subject(&spaces(&fewer)).unwrap();
        assert_eq!(
            (fullest.peer.as_str(), fullest.closing),
            ("198.51.100.2:443", 511)
        );
        let text = finding(&fullest, 1, SearchCounters::default()).unwrap();
        assert!(
            text.contains(" None is free on kernels before 6.5"),
            "{text}"
        );
    }

    #[test]
    fn the_other_crowded_spaces_are_counted_whatever_the_rows_shown() {
        // Three spaces (three peer ports) each 300 of 511 low ports held.
        let mut dump = String::new();
        for peer_port in [443, 444, 445] {
            for i in 0..300u16 {
                dump.push_str(&format!(
                    "ipv4     2 tcp      6 100 ESTABLISHED src=10.0.0.1 dst=198.51.100.2 sport={p} dport={peer_port} src=198.51.100.2 dst=192.0.2.1 sport={peer_port} dport={p} [ASSURED] mark=0 use=1\n",
                    p = 1 + i
                ));
            }
        }
        let summary = crate::Analyzer::new().analyze_bytes(dump.as_bytes());
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        for top in [1, 2, 0] {
            let d = crate::doctor::Doctor::new()
                .top(top)
                .diagnose(&summary, &breakdown, None, None);
            let finding = d.findings.iter().find(|f| f.starts_with("SNAT "));
            assert!(
                finding
                    .is_some_and(|f| f.contains(" 2 more spaces are at least half held or drop")),
                "top {top}: {finding:?}"
            );
        }
    }

    /// Ports 1024 up to `1024 + count - 1` held in one run toward
    /// 198.51.100.2:443 by entries that kept their original ports.
    fn run_from_1024(count: u16) -> String {
        (1024..1024 + count)
            .map(|p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect()
    }

    #[test]
    fn a_run_that_drops_is_reported_under_half_held() {
        // 25,900 of 64,512 ports (40.1%) in one run: about 1.2% of the new
        // connections that cannot keep their port find none.
        let dump = run_from_1024(25_900);
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        let rows = port_use(&breakdown.snat_ports, 0);
        assert_eq!(
            (rows[0].percent, rows[0].held_run, rows[0].needs_fix()),
            (40.15, Some((1024, 26923)), true)
        );
        assert!(rows[0].run_failure_percent >= RUN_FAILURE_PERCENT);
        let summary = crate::Analyzer::new().analyze_bytes(dump.as_bytes());
        let d = crate::doctor::Doctor::new().diagnose(&summary, &breakdown, None, None);
        let finding = d.findings.iter().find(|f| f.starts_with("SNAT "));
        assert!(
            finding.is_some_and(|f| f.contains(" The held ports form one run (1024-26923)")
                && f.contains(" Fix: random ports in the rule (nft `masquerade fully-random`;")),
            "{:?}",
            d.findings
        );
        // The remedy for a run: random ports.
        let r = d.recommendation("snat-ports").unwrap();
        assert!(
            r.rationale
                .contains(" random ports in the rule make NAT pick"),
            "{}",
            r.rationale
        );
        assert!(
            r.commands[2].starts_with("# random ports: nft `masquerade fully-random`"),
            "{:?}",
            r.commands
        );
        // Not for a space nearly full of spread-out ports (98.6% held
        // fails 3% of the searches, about as 0.986^248 says): random
        // ports would not help there.
        let mut spread = port_use(&breakdown.snat_ports, 0)[0].clone();
        (
            spread.held,
            spread.percent,
            spread.held_run,
            spread.run_failure_percent,
        ) = (63_600, 98.59, None, 3.0);
        (
            spread.percent_with_closing,
            spread.run_failure_percent_with_closing,
        ) = (98.59, 3.0);
        assert!(spread.needs_fix() && !spread.run_drops());
        let r = recommendation(Some(&spread), SearchCounters::default()).unwrap();
        assert_eq!(
            r.title,
            "Give source NAT more ports toward 198.51.100.2:443 (tcp)"
        );
        assert!(
            r.rationale.contains("; with so few free, every window of NAT's tries falls on held ports for about 3.0% of"),
            "{}",
            r.rationale
        );
        // 93% held, spread out: NAT still finds a port nearly every time
        // (0.93^248), so no fix is needed, only room.
        let mut roomy = spread.clone();
        (roomy.held, roomy.percent, roomy.percent_with_closing) = (60_000, 93.01, 93.01);
        (
            roomy.run_failure_percent,
            roomy.run_failure_percent_with_closing,
        ) = (0.0, 0.0);
        assert!(!roomy.needs_fix() && roomy.reported());
        assert_eq!(
            recommendation(Some(&roomy), SearchCounters::default()),
            None
        );
        let text = super::finding(&roomy, 1, SearchCounters::default()).unwrap();
        assert!(
            text.contains(" Only 4,512 are free: NAT tries 248 ports from random places")
                && text.contains(" For more room: "),
            "{text}"
        );
        assert!(
            !r.commands.iter().any(|c| c.contains("random")),
            "{:?}",
            r.commands
        );
        let text = super::finding(&spread, 1, SearchCounters::default()).unwrap();
        assert!(!text.contains("random ports"), "{text}");
        // A run of 24,800 (38.4%): about 0.94%, and under half held, so
        // neither a finding nor a recommendation.
        let dump = run_from_1024(24_800);
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        assert!(!port_use(&breakdown.snat_ports, 0)[0].needs_fix());
        let summary = crate::Analyzer::new().analyze_bytes(dump.as_bytes());
        let d = crate::doctor::Doctor::new().diagnose(&summary, &breakdown, None, None);
        assert!(!d.findings.iter().any(|f| f.starts_with("SNAT ")));
        assert!(!d.recommendations.iter().any(|r| r.id == "snat-ports"));
    }

    #[test]
    fn a_space_that_drops_ranks_before_a_fuller_one_that_does_not() {
        // Toward port 443, the run of 40.1% above; toward 444, 60% of the
        // low ports held, spread out (every port but each fifth).
        let mut dump = run_from_1024(25_900);
        for p in (1..=511u16).filter(|p| p % 5 != 0).take(307) {
            dump.push_str(&format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src=10.0.0.2 dst=198.51.100.2 sport={p} dport=444 src=198.51.100.2 dst=192.0.2.1 sport=444 dport={p} [ASSURED] mark=0 use=1\n"
            ));
        }
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        let rows = port_use(&breakdown.snat_ports, 0);
        assert_eq!(
            rows.iter()
                .map(|r| (r.peer.as_str(), r.percent, r.needs_fix()))
                .collect::<Vec<_>>(),
            [
                ("198.51.100.2:443", 40.15, true),
                ("198.51.100.2:444", 60.08, false)
            ]
        );
        // The top row alone is the same one.
        assert_eq!(
            port_use(&breakdown.snat_ports, 1)[0].peer,
            "198.51.100.2:443"
        );
        let summary = crate::Analyzer::new().analyze_bytes(dump.as_bytes());
        let (stats, errors) = crate::doctor::Stats::parse(
            b"entries insert_failed found\n00000000 00000005 000003e8\n",
        );
        assert!(errors.is_empty() && stats.get("insert_failed") == Some(5));
        let d = crate::doctor::Doctor::new().diagnose(&summary, &breakdown, None, Some(&stats));
        // The finding, the recommendation and the reading of insert_failed
        // are all about the space that drops, and count the other.
        let finding = d.findings.iter().find(|f| f.starts_with("SNAT ")).unwrap();
        assert!(
            finding.starts_with("SNAT tcp 192.0.2.1 -> 198.51.100.2:443:")
                && finding.contains(" One more space is at least half held or drops"),
            "{finding}"
        );
        let r = d
            .recommendations
            .iter()
            .find(|r| r.id == "snat-ports")
            .unwrap();
        assert!(r.title.contains("198.51.100.2:443"), "{}", r.title);
        assert!(
            d.findings
                .iter()
                .any(|f| f.starts_with("insert_failed = 5: ")
                    && f.contains("most likely because source NAT found no free port")),
            "{:?}",
            d.findings
        );
    }

    #[test]
    fn the_shortcut_skips_only_spaces_that_no_rule_reports() {
        // Every count of taken ports of each class, held in one run (the
        // worst case for a run's drops), or all closing.
        for class in [
            PortClass::Low,
            PortClass::Privileged,
            PortClass::Unprivileged,
        ] {
            let (first, _) = class.ports();
            let size = u32::try_from(class.size()).unwrap();
            // Every count near the edge, some elsewhere.
            let counts =
                (1..=size).filter(|&n| n < 1024 || (25_000..=26_000).contains(&n) || n % 257 == 0);
            for taken in counts {
                let run = run_tally(first, taken);
                let closing = {
                    let held = run_tally(first, taken);
                    PortTally {
                        closing: taken,
                        closing_first: Some(first),
                        closing_ports: held.held_ports,
                        ..PortTally::default()
                    }
                };
                for tally in [run, closing] {
                    let reported = Shares::of(class, &tally).reported();
                    let judged = Shares::judged(class, &tally);
                    assert!(
                        judged.is_some() || !reported,
                        "{class:?} {tally:?} skipped but reported"
                    );
                    assert_eq!(judged.map(|s| s.reported()).unwrap_or(false), reported);
                }
            }
        }
        // The shortcut's edge is close to the run rule's.
        let s = |held: u32| Shares::of(PortClass::Unprivileged, &run_tally(1024, held));
        assert!(s(25_100).drops() && !s(25_000).drops());
    }

    /// `held` ports held in one run from `first`.
    fn run_tally(first: u16, held: u32) -> PortTally {
        let last = first + u16::try_from(held - 1).unwrap();
        let ports: Vec<u16> = (first..=last).collect();
        PortTally {
            held,
            held_span: Some((first, last)),
            held_ports: (held > 1).then(|| Arc::new(HeldPorts::of(&ports))),
            ..PortTally::default()
        }
    }

    /// [`search_failure`] the slow way: the kernel's loop, for every
    /// 16-bit offset of every window.
    fn brute_force(held: &[bool]) -> f64 {
        let size = held.len();
        WINDOWS
            .iter()
            .map(|&w| {
                let all_held =
                    |off: usize| (0..w as usize).all(|i| held[(off + i) % (1 << 16) % size]);
                (0..1 << 16).filter(|&off| all_held(off)).count() as f64 / 65536.0
            })
            .product()
    }

    /// The runs of `held`, as [`HeldPorts::runs`] gives them.
    fn runs_of(held: &[bool]) -> Vec<(u32, u32)> {
        let ports: Vec<u16> = (0..held.len())
            .filter(|&i| held[i])
            .map(|i| 1024 + u16::try_from(i).unwrap())
            .collect();
        HeldPorts::of(&ports).runs(PortClass::Unprivileged)
    }

    #[test]
    fn the_search_failure_of_any_held_ports_is_the_kernels() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.max(b).max(1e-300);
        let check = |held: &[bool]| {
            let fast = search_failure(&runs_of(held), held.len() as u64);
            let slow = brute_force(held);
            assert!(close(fast, slow), "{fast} {slow}");
            fast
        };
        // One run of 383 of 511 ports: 11.5%.
        let mut held = vec![false; 511];
        held[..383].fill(true);
        assert_eq!(super::super::round2(check(&held) * 100.0), 11.51);
        // The same run across the end of the range, elsewhere.
        held.rotate_right(300);
        check(&held);
        // The 64,512 ports from 1024: a window past offset 65535 goes on
        // at port 1024, and ports 1024-2047 are twice as likely a start.
        for (at, len) in [(0, 25_600), (64_512 - 25_600, 25_600), (30_000, 34_512)] {
            let mut held = vec![false; 64_512];
            held[at..at + len].fill(true);
            check(&held);
        }
        // Runs with gaps, some across the end, against the slow way; a
        // seeded generator, no crate.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for size in [511usize, 424, 4096] {
            for gap_every in [40u64, 150, 400, 5000] {
                let held: Vec<bool> = (0..size).map(|_| next() % gap_every != 0).collect();
                check(&held);
            }
        }
        // All held, none held.
        assert_eq!(check(&[true; 424]), 1.0);
        assert_eq!(check(&[false; 424]), 0.0);
    }

    #[test]
    fn held_ports_are_one_set_however_they_were_built() {
        // 5,000 ports (a bitmap) and 300 (a list), each built in order,
        // backwards, and as two merged halves.
        for count in [5_000u16, 300, 1_100] {
            let ports: Vec<u16> = (0..count).map(|i| 1024 + i * 7 % 60_000).collect();
            let forward = HeldPorts::of(&ports);
            let backward = HeldPorts::of(&ports.iter().rev().copied().collect::<Vec<_>>());
            let (low, high) = ports.split_at(ports.len() / 3);
            let mut halves = HeldPorts::of(high);
            halves.merge(&HeldPorts::of(low));
            assert_eq!(forward, backward);
            assert_eq!(forward, halves);
            assert_eq!(
                matches!(forward, HeldPorts::Bits(_)),
                usize::from(count) > HeldPorts::LIST_MAX
            );
            // A list merged into a bitmap, and a bitmap into a list.
            let (few, many) = ports.split_at(100);
            let mut into_bits = HeldPorts::of(many);
            into_bits.merge(&HeldPorts::of(few));
            let mut into_list = HeldPorts::of(few);
            into_list.merge(&HeldPorts::of(many));
            assert_eq!((&into_bits, &into_list), (&forward, &forward));
        }
    }

    #[test]
    fn runs_with_gaps_are_estimated_and_reported() {
        // Ports 1024-30023 held but for each 1,000th: no one run, 29 long
        // ones, as clients' kept ports leave them.
        let ports: Vec<u16> = (1024..30_024).filter(|p| p % 1000 != 0).collect();
        let dump: String = ports
            .iter()
            .map(|&p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect();
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        let rows = port_use(&breakdown.snat_ports, 0);
        let mut held = vec![false; 64_512];
        for &p in &ports {
            held[usize::from(p - 1024)] = true;
        }
        let expected = super::super::round2(brute_force(&held) * 100.0);
        assert!(expected >= RUN_FAILURE_PERCENT, "{expected}");
        assert_eq!(
            (
                rows[0].held_run,
                rows[0].run_failure_percent,
                rows[0].needs_fix()
            ),
            (None, expected, true)
        );
        let summary = crate::Analyzer::new().analyze_bytes(dump.as_bytes());
        let d = crate::doctor::Doctor::new().diagnose(&summary, &breakdown, None, None);
        let finding = d.findings.iter().find(|f| f.starts_with("SNAT ")).unwrap();
        assert!(
            finding.contains(" The held ports form long runs (as kept original ports taken in order do): for about ")
                && finding.contains(" Fix: random ports in the rule"),
            "{finding}"
        );
        let r = d.recommendation("snat-ports").unwrap();
        assert!(
            r.rationale
                .contains("; the 28,971 held on every kernel form long runs: about 1.6% of"),
            "{}",
            r.rationale
        );
        // Two parts merged: the same spaces, held ports and all.
        let cut = dump[..dump.len() / 2].rfind('\n').unwrap() + 1;
        let mut merged = Breakdown::from_bytes(&dump.as_bytes()[..cut]).snat_ports;
        merged.merge(Breakdown::from_bytes(&dump.as_bytes()[cut..]).snat_ports);
        assert_eq!(merged, breakdown.snat_ports);
    }

    #[test]
    fn a_run_is_told_whatever_the_fill() {
        // Low ports 1-400 held in one run, 70 more closing (430-499): 92%
        // taken on kernels before 6.5, and the run fails 14.7% anyway.
        let mut dump: String = (1..=400)
            .map(|p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect();
        for p in 430..500 {
            dump.push_str(&entry("TIME_WAIT", ("10.0.0.1", p), ("192.0.2.1", p), ""));
        }
        let rows = port_use(&spaces(&dump), 0);
        let text = finding(&rows[0], 1, SearchCounters::default()).unwrap();
        for part in [
            " Only 41 are free on kernels before 6.5: NAT tries 248 ports from random places",
            " The held ports form one run (1-400): for about ",
            " Fix: random ports in the rule",
        ] {
            assert!(text.contains(part), "{part}\n{text}");
        }
        let r = recommendation(rows.first(), SearchCounters::default()).unwrap();
        assert!(
            r.rationale.contains("(92.0%, 70 of them by TCP entries in TIME_WAIT or CLOSE); the 400 held on every kernel form one run: about "),
            "{}",
            r.rationale
        );
        // 470 of them in one run (92%): near full, and the run, not the
        // fill, is most of the drops: random ports still come first.
        let run: String = (1..=470)
            .map(|p| established(("10.0.0.1", p), ("192.0.2.1", p)))
            .collect();
        let rows = port_use(&spaces(&run), 0);
        assert!(rows[0].run_drops(), "{:?}", rows[0]);
        let r = recommendation(rows.first(), SearchCounters::default()).unwrap();
        assert!(
            r.rationale
                .contains("(92.0%); the 470 held on every kernel form one run: about "),
            "{}",
            r.rationale
        );
        assert_eq!(&r.commands[2][..14], "# random ports", "{:?}", r.commands);
    }

    #[test]
    fn no_iptables_port_range_for_udp_lite() {
        // 480 of the 511 low ports held by UDP-Lite entries, in one run.
        let dump: String = (1..=480u16)
            .map(|p| {
                format!(
                    "ipv4     2 udplite  136 30 src=10.0.0.1 dst=198.51.100.2 sport={p} dport=5000 src=198.51.100.2 dst=192.0.2.1 sport=5000 dport={p} mark=0 use=1\n"
                )
            })
            .collect();
        let rows = port_use(&spaces(&dump), 0);
        assert_eq!((rows[0].protocol, rows[0].held), ("udplite", 480));
        let text = finding(&rows[0], 1, SearchCounters::default()).unwrap();
        assert!(
            text.contains("nft `meta l4proto udplite masquerade to :1024-65535`; iptables takes no port range for udplite)"),
            "{text}"
        );
        let r = recommendation(rows.first(), SearchCounters::default()).unwrap();
        let range = r
            .commands
            .iter()
            .find(|c| c.starts_with("# a port range"))
            .unwrap();
        assert!(!range.contains("--to-ports"), "{range}");
        assert!(
            range.contains("iptables takes no port range for udplite"),
            "{range}"
        );
        // UDP gets both.
        let udp = dump.replace("udplite  136", "udp      17");
        let rows = port_use(&spaces(&udp), 0);
        let r = recommendation(rows.first(), SearchCounters::default()).unwrap();
        assert!(
            r.commands
                .iter()
                .any(|c| c.contains("iptables `-p udp -j MASQUERADE --to-ports 1024-65535`")),
            "{:?}",
            r.commands
        );
    }

    #[test]
    fn closing_entries_make_runs_on_kernels_before_6_5() {
        // Ports 1024-28023, ESTABLISHED and TIME_WAIT in turn: no run of
        // held ports, one run of 27,000 taken ones where closing entries
        // keep their ports.
        let dump: String = (1024..28_024u16)
            .map(|p| {
                let state = if p % 2 == 0 {
                    "ESTABLISHED"
                } else {
                    "TIME_WAIT"
                };
                entry(state, ("10.0.0.1", p), ("192.0.2.1", p), "")
            })
            .collect();
        let spaces = spaces(&dump);
        let rows = port_use(&spaces, 0);
        let row = &rows[0];
        assert_eq!(
            (row.held, row.closing, row.run_failure_percent),
            (13_500, 13_500, 0.0)
        );
        let mut all = vec![false; 64_512];
        all[..27_000].fill(true);
        let expected = super::super::round2(brute_force(&all) * 100.0);
        assert!(expected >= RUN_FAILURE_PERCENT, "{expected}");
        assert_eq!(row.run_failure_percent_with_closing, expected);
        assert!(!row.needs_fix() && row.runs_drop_before_6_5() && row.reported());
        assert_eq!(subject(&spaces).map(|s| s.peer), Some(row.peer.clone()));
        let text = finding(row, 1, SearchCounters::default()).unwrap();
        for part in [
            " On kernels before 6.5, which keep the 13,500 closing entries' ports, every window falls on taken ports for about ",
            " Fix on kernels before 6.5: random ports in the rule",
        ] {
            assert!(text.contains(part), "{part}\n{text}");
        }
        assert!(!text.contains("NAT still finds free ports"), "{text}");
        // A failed insert is put down to it on those kernels only.
        let stats = SearchCounters {
            insert_failed: Some(3),
            found: None,
        };
        assert_eq!(explains_insert_failed(Some(row), stats), Some(false));
        // New connections take closing ports on later kernels: no fix for
        // every kernel, so no recommendation.
        assert_eq!(recommendation(Some(row), stats), None);
        // Two parts merged: the same closing ports.
        let cut = dump[..dump.len() / 2].rfind('\n').unwrap() + 1;
        let mut merged = Breakdown::from_bytes(&dump.as_bytes()[cut..]).snat_ports;
        merged.merge(Breakdown::from_bytes(&dump.as_bytes()[..cut]).snat_ports);
        assert_eq!(merged, spaces);
    }
}
