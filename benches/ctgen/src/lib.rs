//! Deterministic generator of large, realistic conntrack dumps.
//!
//! The same seed and options always give the same bytes, so benchmarks and
//! tests can assert exact counts. The mix imitates a busy NAT gateway:
//! mostly TCP with a skewed state mix (many `TIME_WAIT`), UDP with many
//! `[UNREPLIED]` entries, some ICMP, GRE, SCTP and a generic protocol,
//! about 15% IPv6, DNAT port-forwards and SNAT, accounting counters and
//! zones on a share of entries, and a heavy-tailed source population so
//! that top-N reports are meaningful. Only documentation and benchmark
//! address ranges are used.
//!
//! ```
//! let mut dump = Vec::new();
//! let options = ctgen::Options { flows: 100, ..ctgen::Options::default() };
//! let written = ctgen::generate(&mut dump, &options).unwrap();
//! assert_eq!(written.flows, 100);
//! let parsed = ctparse::Parser::new(&dump).filter(Result::is_ok).count();
//! assert_eq!(parsed, 100);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ctparse::{
    Counters, Dialect, Family, Flow, GreTimeouts, L4, Protocol, SctpState, State, Status, TcpState,
    Tuple,
};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of flow lines.
    pub flows: u64,
    /// The seed: same seed, same bytes.
    pub seed: u64,
    /// The line format.
    pub dialect: Dialect,
    /// Insert a malformed line after every `n` flows (0: never).
    pub malformed_every: u64,
    /// Number of distinct client addresses (sources).
    pub clients: u32,
    /// A SYN flood instead of the mix: every flow a SYN_RECV entry to
    /// `[2001:db8:2::10]:443` from a random source of 2001:db8::/32, so that
    /// nearly every line has a source of its own (the documentation range
    /// large enough for millions).
    pub syn_flood: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flows: 1000,
            seed: 1,
            dialect: Dialect::Proc,
            malformed_every: 0,
            clients: 50_000,
            syn_flood: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Flow lines.
    pub flows: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// Bytes.
    pub bytes: u64,
}

/// SplitMix64: small, fast, and good enough for realistic variety.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A heavy-tailed index in `0..n`: low indices are much more frequent.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u * u) * n as f64) as u64 % n.max(1)
    }
}

/// Weighted choice from a table of (weight, value).
fn pick<T: Copy>(rng: &mut Rng, table: &[(u64, T)]) -> T {
    let total: u64 = table.iter().map(|(w, _)| w).sum();
    let mut x = rng.below(total);
    for &(weight, value) in table {
        if x < weight {
            return value;
        }
        x -= weight;
    }
    table[table.len() - 1].1
}

const TCP_STATES: &[(u64, (TcpState, i64))] = &[
    (38, (TcpState::Established, 432_000)),
    (34, (TcpState::TimeWait, 120)),
    (8, (TcpState::SynSent, 120)),
    (5, (TcpState::CloseWait, 60)),
    (4, (TcpState::FinWait, 120)),
    (3, (TcpState::SynRecv, 60)),
    (3, (TcpState::Close, 10)),
    (2, (TcpState::LastAck, 30)),
];

const SERVICES: &[(u64, u16)] = &[
    (40, 443),
    (25, 80),
    (10, 22),
    (8, 8080),
    (7, 5432),
    (5, 25),
    (5, 3306),
];

fn client(rng: &mut Rng, family: Family, clients: u32) -> IpAddr {
    let index = rng.skewed(u64::from(clients.max(1))) as u32;
    match family {
        // 198.18.0.0/15 holds 131072 addresses.
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(0xC612_0000 | (index & 0x1_FFFF))),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            1,
            0,
            0,
            0,
            (index >> 16) as u16,
            index as u16,
        )),
    }
}

fn server(rng: &mut Rng, family: Family) -> IpAddr {
    let index = rng.skewed(256) as u8;
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, index)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            2,
            0,
            0,
            0,
            0,
            u16::from(index),
        )),
    }
}

/// The gateway's public address (DNAT target side, SNAT source).
fn gateway(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    }
}

/// One flow of a SYN flood (see [`Options::syn_flood`]): answered by the
/// server, never completed by the (spoofed) client.
pub fn syn_flood_flow(rng: &mut Rng) -> Flow<'static> {
    let mut flow = flow(rng, 1);
    let word = |rng: &mut Rng| rng.below(1 << 16) as u16;
    let src = IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        word(rng),
        word(rng),
        word(rng),
        word(rng),
        word(rng),
        word(rng),
    ));
    let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10));
    let sport = 1024 + rng.below(64512) as u16;
    flow.family = Family::Ipv6;
    flow.protocol = Protocol::TCP;
    flow.state = Some(State::Tcp(TcpState::SynRecv));
    flow.timeout = Some(rng.below(61) as i64);
    flow.gre_timeouts = None;
    flow.orig = Tuple {
        src,
        dst,
        l4: L4::Ports { sport, dport: 443 },
    };
    flow.reply = Tuple {
        src: dst,
        dst: src,
        l4: L4::Ports {
            sport: 443,
            dport: sport,
        },
    };
    flow.status = Status::EMPTY;
    (flow.orig_counters, flow.reply_counters) = (None, None);
    flow
}

/// One random flow.
pub fn flow(rng: &mut Rng, clients: u32) -> Flow<'static> {
    let family = if rng.percent(15) {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let protocol = pick(
        rng,
        &[
            (72, Protocol::TCP),
            (20, Protocol::UDP),
            (
                5,
                if family == Family::Ipv4 {
                    Protocol::ICMP
                } else {
                    Protocol::ICMPV6
                },
            ),
            (1, Protocol::GRE),
            (1, Protocol::SCTP),
            (1, Protocol(253)),
        ],
    );
    let src = client(rng, family, clients);
    let mut dst = server(rng, family);
    let sport = 32768 + rng.below(28232) as u16;
    let dport = pick(rng, SERVICES);
    let mut reply_src = dst;
    let mut reply_dst = src;
    let mut reply_sport = dport;
    let mut reply_dport = sport;
    let mut status = Status::EMPTY;
    let (mut state, mut timeout) = (None, rng.below(180) as i64);

    match protocol {
        Protocol::TCP => {
            let (s, max) = pick(rng, TCP_STATES);
            state = Some(State::Tcp(s));
            timeout = rng.below(max as u64 + 1) as i64;
            match s {
                TcpState::SynSent => status.insert(Status::UNREPLIED),
                TcpState::SynRecv => {}
                _ => status.insert(Status::ASSURED),
            }
        }
        Protocol::UDP => {
            if rng.percent(40) {
                status.insert(Status::UNREPLIED);
                timeout = rng.below(31) as i64;
            } else if rng.percent(50) {
                status.insert(Status::ASSURED);
                timeout = rng.below(121) as i64;
            }
        }
        Protocol::SCTP => {
            state = Some(State::Sctp(if rng.percent(80) {
                SctpState::Established
            } else {
                SctpState::CookieWait
            }));
        }
        _ => {}
    }
    // A DNAT port-forward: the client talks to the gateway, the reply
    // comes from an internal server.
    let ports = protocol.tuple_kind() == ctparse::TupleKind::Ports;
    if ports && rng.percent(10) {
        dst = gateway(family);
        reply_src = server(rng, family);
        reply_sport = if rng.percent(50) { 80 } else { dport };
    } else if ports && rng.percent(10) {
        // SNAT/masquerade: the reply goes back to the gateway.
        reply_dst = gateway(family);
        reply_dport = 1024 + rng.below(60000) as u16;
    }
    let (orig_l4, reply_l4) = match protocol.tuple_kind() {
        ctparse::TupleKind::Ports => (
            L4::Ports { sport, dport },
            L4::Ports {
                sport: reply_sport,
                dport: reply_dport,
            },
        ),
        ctparse::TupleKind::Icmp => {
            let id = rng.below(65536) as u16;
            let (request, reply) = if protocol == Protocol::ICMP {
                (8, 0)
            } else {
                (128, 129)
            };
            (
                L4::Icmp {
                    icmp_type: request,
                    code: 0,
                    id,
                },
                L4::Icmp {
                    icmp_type: reply,
                    code: 0,
                    id,
                },
            )
        }
        ctparse::TupleKind::Gre => {
            let key = rng.below(65536) as u32;
            (
                L4::Gre {
                    srckey: 0,
                    dstkey: key,
                },
                L4::Gre {
                    srckey: key,
                    dstkey: 0,
                },
            )
        }
        ctparse::TupleKind::AddressOnly => (L4::None, L4::None),
    };
    let accounting = rng.percent(30);
    let counters = |rng: &mut Rng| {
        let packets = 1 + rng.skewed(10_000);
        Counters {
            packets,
            bytes: packets * (40 + rng.below(1400)),
        }
    };
    Flow {
        raw: b"",
        event_time: None,
        event: None,
        family,
        l3_number: None,
        protocol,
        timeout: Some(timeout),
        state,
        gre_timeouts: (protocol == Protocol::GRE).then_some(GreTimeouts {
            timeout: 180,
            stream_timeout: 180,
        }),
        orig: Tuple {
            src,
            dst,
            l4: orig_l4,
        },
        reply: Tuple {
            src: reply_src,
            dst: reply_dst,
            l4: reply_l4,
        },
        orig_zone: None,
        reply_zone: None,
        orig_counters: accounting.then(|| counters(rng)),
        reply_counters: accounting.then(|| counters(rng)),
        status,
        mark: Some(if rng.percent(5) {
            1 + rng.below(4) as u32
        } else {
            0
        }),
        secmark: None,
        secctx: None,
        zone: Some(if rng.percent(3) {
            1 + rng.below(3) as u16
        } else {
            0
        }),
        delta_time: None,
        start: None,
        stop: None,
        helper: None,
        use_count: Some(2),
        id: None,
        labels: None,
        portid: None,
        progname: None,
        extra: Vec::new(),
    }
}

const MALFORMED: &[&[u8]] = &[
    b"tcp      6 431999 SYN_SNT src=198.18.0.1 dst=203.0.113.1 sport=1 dport=2 src=203.0.113.1 dst=198.18.0.1 sport=2 dport=1 mark=0 use=1\n",
    b"udp      17 29 src=198.18.0.1 dst=203.0.113.300 sport=1 dport=53 src=203.0.113.3 dst=198.18.0.1 sport=53 dport=1 mark=0 use=1\n",
    b"ipv4     2 tcp      6 300 ESTABLISHED src=198.18.0.1 dst=203.0.113.1 sport=40000\n",
];

/// Writes `options.flows` flow lines (and malformed lines if asked).
pub fn generate(out: &mut impl Write, options: &Options) -> io::Result<Written> {
    let mut rng = Rng::new(options.seed);
    let mut written = Written::default();
    let mut line = Vec::with_capacity(512);
    for i in 0..options.flows {
        let flow = if options.syn_flood {
            syn_flood_flow(&mut rng)
        } else {
            flow(&mut rng, options.clients)
        };
        line.clear();
        ctparse::render(&mut line, &flow, options.dialect)?;
        out.write_all(&line)?;
        written.flows += 1;
        written.bytes += line.len() as u64;
        if options.malformed_every > 0 && (i + 1) % options.malformed_every == 0 {
            let bad = MALFORMED[(written.malformed % MALFORMED.len() as u64) as usize];
            out.write_all(bad)?;
            written.malformed += 1;
            written.bytes += bad.len() as u64;
        }
    }
    Ok(written)
}
