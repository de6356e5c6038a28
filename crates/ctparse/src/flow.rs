//! The parsed record: [`Flow`] and the pieces it is made of.

use std::fmt;
use std::net::IpAddr;

use crate::state::State;

/// One conntrack entry, parsed from one line of a dump.
///
/// The lifetime `'a` is the lifetime of the dump bytes the line was read
/// from (a memory map, a read buffer or a chunk of a stream): text fields
/// such as [`secctx`](Flow::secctx) and [`raw`](Flow::raw) are slices of
/// those bytes and are never copied. Everything numeric is decoded.
///
/// Fields mirror what the kernel and conntrack-tools print, in print order.
/// A field that a given dialect or configuration does not print is `None`
/// (for example [`timeout`](Flow::timeout) on an offloaded entry or a
/// `[DESTROY]` event, [`orig_counters`](Flow::orig_counters) without
/// `nf_conntrack_acct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow<'a> {
    /// The whole line, without its line terminator (`\n` or `\r\n`).
    pub raw: &'a [u8],
    /// The `-o timestamp` prefix of a `conntrack -E` line (`[1700000000.123456]`),
    /// as printed, without the brackets.
    pub event_time: Option<&'a [u8]>,
    /// The event type of a `conntrack -E` line; `None` for table listings.
    pub event: Option<Event>,
    /// The layer-3 family, taken from the L3 column when the line has one
    /// and otherwise from the address form. Always consistent with the
    /// addresses of both tuples.
    pub family: Family,
    /// The L3 protocol number column (`2` for ipv4, `10` for ipv6) when the
    /// dialect prints L3 columns (`/proc/net/nf_conntrack`, `conntrack -o
    /// extended`).
    pub l3_number: Option<u16>,
    /// The L4 protocol (number, with the name checked against it).
    pub protocol: Protocol,
    /// Seconds until the entry expires. Absent for offloaded entries and
    /// `[DESTROY]` events. Very old kernels could print negative values.
    pub timeout: Option<i64>,
    /// The protocol state (TCP, SCTP or DCCP); absent for other protocols and
    /// for offloaded TCP entries.
    pub state: Option<State>,
    /// GRE's `timeout=N, stream_timeout=N` pair printed by the kernel.
    pub gre_timeouts: Option<GreTimeouts>,
    /// The original-direction tuple (first `src=` ... group).
    pub orig: Tuple,
    /// The reply-direction tuple (second `src=` ... group).
    pub reply: Tuple,
    /// `zone-orig=`: the zone of the original direction, when directional.
    pub orig_zone: Option<u16>,
    /// `zone-reply=`: the zone of the reply direction, when directional.
    pub reply_zone: Option<u16>,
    /// `packets=` / `bytes=` after the original tuple (with accounting on).
    pub orig_counters: Option<Counters>,
    /// `packets=` / `bytes=` after the reply tuple (with accounting on).
    pub reply_counters: Option<Counters>,
    /// The bracketed status flags: `[UNREPLIED]`, `[ASSURED]`, `[OFFLOAD]`,
    /// `[HW_OFFLOAD]`, `[UNCONFIRMED]`, `[USERSPACE]`.
    pub status: Status,
    /// `mark=`: the connection mark.
    pub mark: Option<u32>,
    /// `secmark=`: the numeric security mark (older kernels, conntrack-tools).
    pub secmark: Option<u32>,
    /// `secctx=`: the security context, as printed.
    pub secctx: Option<&'a [u8]>,
    /// `zone=`: the (non-directional) conntrack zone.
    pub zone: Option<u16>,
    /// `delta-time=`: seconds since the entry was created (timestamps on).
    pub delta_time: Option<u64>,
    /// `[start=...]` from `conntrack -o ktimestamp`, the `ctime` text as printed.
    pub start: Option<&'a [u8]>,
    /// `[stop=...]` from `conntrack -o ktimestamp`, the `ctime` text as printed.
    pub stop: Option<&'a [u8]>,
    /// `helper=`: the name of the conntrack helper attached to the entry.
    pub helper: Option<&'a [u8]>,
    /// `use=`: the entry's reference count.
    pub use_count: Option<u32>,
    /// `id=` (`conntrack -o id`): the conntrack entry id.
    pub id: Option<u32>,
    /// `labels=` (`conntrack -o labels`): comma-separated label names, as
    /// printed. A bare `labels` token (libnetfilter_conntrack prints it when
    /// an entry has label bits but none of them has a name) is `Some(b"")`.
    pub labels: Option<&'a [u8]>,
    /// `portid=` after `[USERSPACE]` in `conntrack -E -o userspace` output.
    pub portid: Option<u32>,
    /// `progname=` after `[USERSPACE]` in `conntrack -E -o userspace` output.
    pub progname: Option<&'a [u8]>,
    /// Any other `key=value` field, in line order, kept as raw bytes so that
    /// fields added by future kernels never break parsing.
    pub extra: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Flow<'a> {
    /// A flow of `raw` with nothing read yet: every optional field `None`,
    /// addresses `0.0.0.0`, protocol 0. Where both parsers start.
    pub(crate) fn empty(raw: &'a [u8]) -> Flow<'a> {
        let unspecified = Tuple {
            src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            l4: L4::None,
        };
        Flow {
            raw,
            event_time: None,
            event: None,
            family: Family::Ipv4,
            l3_number: None,
            protocol: Protocol(0),
            timeout: None,
            state: None,
            gre_timeouts: None,
            orig: unspecified,
            reply: unspecified,
            orig_zone: None,
            reply_zone: None,
            orig_counters: None,
            reply_counters: None,
            status: Status::EMPTY,
            mark: None,
            secmark: None,
            secctx: None,
            zone: None,
            delta_time: None,
            start: None,
            stop: None,
            helper: None,
            use_count: None,
            id: None,
            labels: None,
            portid: None,
            progname: None,
            extra: Vec::new(),
        }
    }
}

impl Flow<'_> {
    /// True when the kernel has seen no reply yet (`[UNREPLIED]`).
    pub fn is_unreplied(&self) -> bool {
        self.status.contains(Status::UNREPLIED)
    }

    /// True when the entry is offloaded to a flowtable, in software or hardware.
    pub fn is_offloaded(&self) -> bool {
        self.status.intersects(Status::OFFLOAD | Status::HW_OFFLOAD)
    }

    /// True when the kernel's generic tracker holds the entry: its tuples
    /// carry addresses only (the kernel prints such a protocol as
    /// `unknown`). So are protocols without a tracker (ESP, OSPF), and
    /// tracked ones whose module was not loaded (GRE without
    /// `nf_conntrack_proto_gre`, `unknown  47`): every tracker prints
    /// fields of its own (ports, ICMP type, GRE keys). Such entries run
    /// on `nf_conntrack_generic_timeout`.
    ///
    /// ```
    /// let line = b"unknown  47 590 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 use=1";
    /// let ctparse::Line::Flow(flow) = ctparse::parse_line(line)? else { unreachable!() };
    /// assert_eq!(flow.protocol, ctparse::Protocol::GRE);
    /// assert!(flow.is_generic());
    /// # Ok::<(), ctparse::ParseError>(())
    /// ```
    pub fn is_generic(&self) -> bool {
        self.orig.l4 == L4::None
    }

    /// Destination NAT from text alone: the reply's source differs from the
    /// original destination (address, or port for protocols with ports).
    ///
    /// Unlike `conntrack --dst-nat`, which reads the kernel's `IPS_DST_NAT`
    /// status bit, an ICMP echo whose reply type differs is not counted.
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.orig.dst || self.reply.l4.src_port() != self.orig.l4.dst_port()
    }

    /// Source NAT from text alone: the reply's destination differs from the
    /// original source (address, or port for protocols with ports).
    pub fn is_snat(&self) -> bool {
        self.reply.dst != self.orig.src || self.reply.l4.dst_port() != self.orig.l4.src_port()
    }
}

/// A `conntrack -E` event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// `[NEW]`
    New,
    /// `[UPDATE]`
    Update,
    /// `[DESTROY]`
    Destroy,
}

impl Event {
    /// Every event type, in the order of their discriminants (an event's
    /// index is `event as usize`).
    ///
    /// ```
    /// use ctparse::Event;
    /// assert!(Event::ALL.iter().enumerate().all(|(i, &e)| e as usize == i));
    /// assert_eq!(Event::ALL.map(Event::name), ["NEW", "UPDATE", "DESTROY"]);
    /// ```
    pub const ALL: [Event; 3] = [Event::New, Event::Update, Event::Destroy];

    /// The name without brackets: `NEW`, `UPDATE`, `DESTROY`.
    pub fn name(self) -> &'static str {
        let tag = self.tag();
        &tag[1..tag.len() - 1]
    }

    /// The bracketed tag as conntrack prints it, e.g. `[NEW]`.
    pub fn tag(self) -> &'static str {
        match self {
            Event::New => "[NEW]",
            Event::Update => "[UPDATE]",
            Event::Destroy => "[DESTROY]",
        }
    }
}

/// The layer-3 protocol family of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`ipv4     2`).
    Ipv4,
    /// IPv6 (`ipv6     10`).
    Ipv6,
}

impl Family {
    /// The name the kernel prints (`ipv4`, `ipv6`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// The L3 protocol number the kernel prints (`AF_INET` = 2, `AF_INET6` = 10).
    pub fn number(self) -> u16 {
        match self {
            Family::Ipv4 => 2,
            Family::Ipv6 => 10,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An L4 protocol, identified by its IP protocol number.
///
/// The kernel and conntrack-tools print a name from a fixed table (`tcp`,
/// `udp`, `udplite`, `icmp`, `icmpv6`, `sctp`, `dccp`, `gre`) and `unknown`
/// for every other number; the parser checks that name and number agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

impl Protocol {
    /// ICMP (1).
    pub const ICMP: Protocol = Protocol(1);
    /// TCP (6).
    pub const TCP: Protocol = Protocol(6);
    /// UDP (17).
    pub const UDP: Protocol = Protocol(17);
    /// DCCP (33).
    pub const DCCP: Protocol = Protocol(33);
    /// GRE (47).
    pub const GRE: Protocol = Protocol(47);
    /// ICMPv6 (58).
    pub const ICMPV6: Protocol = Protocol(58);
    /// SCTP (132).
    pub const SCTP: Protocol = Protocol(132);
    /// UDP-Lite (136).
    pub const UDPLITE: Protocol = Protocol(136);

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The name conntrack prints for this number; `unknown` outside the table.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            33 => "dccp",
            47 => "gre",
            58 => "icmpv6",
            132 => "sctp",
            136 => "udplite",
            _ => "unknown",
        }
    }

    /// The protocol as `conntrack -p` takes it: its name, or its number
    /// where it has none (`99`, not `unknown`).
    ///
    /// ```
    /// use ctparse::Protocol;
    /// assert_eq!(Protocol::UDP.name_or_number(), "udp");
    /// assert_eq!(Protocol(99).name_or_number(), "99");
    /// ```
    pub fn name_or_number(self) -> String {
        match self.name() {
            "unknown" => self.number().to_string(),
            name => name.to_owned(),
        }
    }

    /// The protocol with this printed name, for the named ones.
    pub fn from_name(name: &[u8]) -> Option<Protocol> {
        Some(match name {
            b"icmp" => Protocol::ICMP,
            b"tcp" => Protocol::TCP,
            b"udp" => Protocol::UDP,
            b"dccp" => Protocol::DCCP,
            b"gre" => Protocol::GRE,
            b"icmpv6" => Protocol::ICMPV6,
            b"sctp" => Protocol::SCTP,
            b"udplite" => Protocol::UDPLITE,
            _ => return None,
        })
    }

    /// What the tuples of this protocol carry after the addresses.
    pub fn tuple_kind(self) -> TupleKind {
        match self {
            Protocol::TCP | Protocol::UDP | Protocol::UDPLITE | Protocol::SCTP | Protocol::DCCP => {
                TupleKind::Ports
            }
            Protocol::ICMP | Protocol::ICMPV6 => TupleKind::Icmp,
            Protocol::GRE => TupleKind::Gre,
            _ => TupleKind::AddressOnly,
        }
    }

    /// Whether this protocol's entries print a state: TCP, SCTP and DCCP.
    pub fn has_states(self) -> bool {
        matches!(self, Protocol::TCP | Protocol::SCTP | Protocol::DCCP)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a protocol's tuples print after `src=` and `dst=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleKind {
    /// `sport=` and `dport=` (TCP, UDP, UDP-Lite, SCTP, DCCP).
    Ports,
    /// `type=`, `code=` and `id=` (ICMP, ICMPv6).
    Icmp,
    /// `srckey=0x..` and `dstkey=0x..` (GRE).
    Gre,
    /// Nothing: the generic tracker keys on addresses only.
    AddressOnly,
}

/// One direction of a connection: addresses plus the L4 part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// `src=`
    pub src: IpAddr,
    /// `dst=`
    pub dst: IpAddr,
    /// The protocol-specific part.
    pub l4: L4,
}

/// The protocol-specific part of a [`Tuple`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    /// `sport=` / `dport=`.
    Ports {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// `type=` / `code=` / `id=`.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// ICMP identifier.
        id: u16,
    },
    /// `srckey=` / `dstkey=` (hexadecimal in the dump).
    Gre {
        /// Source key.
        srckey: u32,
        /// Destination key.
        dstkey: u32,
    },
    /// No L4 part (generic protocol tracker).
    None,
}

impl L4 {
    /// The source port, for protocols with ports.
    pub fn src_port(&self) -> Option<u16> {
        match *self {
            L4::Ports { sport, .. } => Some(sport),
            _ => None,
        }
    }

    /// The destination port, for protocols with ports.
    pub fn dst_port(&self) -> Option<u16> {
        match *self {
            L4::Ports { dport, .. } => Some(dport),
            _ => None,
        }
    }
}

/// Per-direction accounting counters (`packets=` `bytes=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Counters {
    /// Packets seen in this direction.
    pub packets: u64,
    /// Bytes seen in this direction.
    pub bytes: u64,
}

/// GRE's pair of timeouts as the kernel prints them: `timeout=180, stream_timeout=180`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GreTimeouts {
    /// `timeout=`
    pub timeout: u32,
    /// `stream_timeout=`
    pub stream_timeout: u32,
}

/// The bracketed status flags of an entry, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct Status(u8);

impl Status {
    /// No flags.
    pub const EMPTY: Status = Status(0);
    /// `[UNREPLIED]`: no reply seen yet (`IPS_SEEN_REPLY` clear).
    pub const UNREPLIED: Status = Status(1);
    /// `[ASSURED]`: the kernel will not early-drop this entry.
    pub const ASSURED: Status = Status(1 << 1);
    /// `[OFFLOAD]`: offloaded to a software flowtable.
    pub const OFFLOAD: Status = Status(1 << 2);
    /// `[HW_OFFLOAD]`: offloaded to hardware.
    pub const HW_OFFLOAD: Status = Status(1 << 3);
    /// `[USERSPACE]`: the event was caused by a userspace program.
    pub const USERSPACE: Status = Status(1 << 4);
    /// `[UNCONFIRMED]`: not yet in the hash table (Linux 2.4/early 2.6 only).
    pub const UNCONFIRMED: Status = Status(1 << 5);

    /// Every flag, in print order, with its bracketed tag.
    pub const ALL: [(Status, &'static str); 6] = [
        (Status::UNREPLIED, "[UNREPLIED]"),
        (Status::ASSURED, "[ASSURED]"),
        (Status::OFFLOAD, "[OFFLOAD]"),
        (Status::HW_OFFLOAD, "[HW_OFFLOAD]"),
        (Status::UNCONFIRMED, "[UNCONFIRMED]"),
        (Status::USERSPACE, "[USERSPACE]"),
    ];

    /// The flag for a bracketed tag such as `[ASSURED]`.
    pub fn from_tag(tag: &[u8]) -> Option<Status> {
        Status::ALL
            .iter()
            .find(|(_, name)| name.as_bytes() == tag)
            .map(|(flag, _)| *flag)
    }

    /// True when every flag of `other` is set.
    pub fn contains(self, other: Status) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any flag of `other` is set.
    pub fn intersects(self, other: Status) -> bool {
        self.0 & other.0 != 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Status) {
        self.0 |= other.0;
    }

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bits (stable: UNREPLIED=1, ASSURED=2, OFFLOAD=4, HW_OFFLOAD=8,
    /// USERSPACE=16, UNCONFIRMED=32).
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for Status {
    type Output = Status;
    fn bitor(self, rhs: Status) -> Status {
        Status(self.0 | rhs.0)
    }
}
