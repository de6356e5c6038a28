//! Flow filters with the vocabulary of `conntrack -L`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ctparse::{DccpState, Family, Flow, Protocol, SctpState, State, Status, TcpState};

/// Which flows to count. Every set condition must hold (logical AND), as
/// with `conntrack -L`'s options; the default matches every flow.
///
/// ```
/// use ctanalyze::{Filter, Nat};
/// let filter = Filter {
///     protocol: Some(ctparse::Protocol::TCP),
///     dst: Some("198.51.100.0/24".parse()?),
///     nat: Some(Nat::Dst),
///     ..Filter::default()
/// };
/// assert!(!filter.is_empty());
/// # Ok::<(), ctanalyze::FilterError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `-f ipv4|ipv6`
    pub family: Option<Family>,
    /// `-p PROTO`
    pub protocol: Option<Protocol>,
    /// `--state STATE` (TCP, or SCTP/DCCP with `-p sctp|dccp`)
    pub state: Option<State>,
    /// `--state '(none)'`: entries of the protocol (TCP unless `protocol`
    /// says otherwise) printed without a state, as the reports' `(none)`
    /// row counts them (offloaded TCP entries, `[DESTROY]` events).
    pub stateless: bool,
    /// `-s ADDR[/LEN]`: original source.
    pub src: Option<Cidr>,
    /// `-d ADDR[/LEN]`: original destination.
    pub dst: Option<Cidr>,
    /// `-r ADDR[/LEN]` / `--reply-src`: reply source.
    pub reply_src: Option<Cidr>,
    /// `-q ADDR[/LEN]` / `--reply-dst`: reply destination.
    pub reply_dst: Option<Cidr>,
    /// `--sport PORT`: original source port.
    pub sport: Option<u16>,
    /// `--dport PORT`: original destination port.
    pub dport: Option<u16>,
    /// `-m MARK[/MASK]`: `(mark & mask) == value`.
    pub mark: Option<MarkMatch>,
    /// `-w ZONE`: entries without a `zone=` field are in zone 0.
    pub zone: Option<u16>,
    /// `--orig-zone ZONE`: the original direction's zone (`zone-orig=`;
    /// 0 when the line has none).
    pub orig_zone: Option<u16>,
    /// `--reply-zone ZONE`: the reply direction's zone (`zone-reply=`; 0
    /// when the line has none).
    pub reply_zone: Option<u16>,
    /// `-u STATUS[,STATUS]`: every listed status must hold.
    pub status: Vec<StatusMatch>,
    /// `--src-nat`, `--dst-nat`, `--any-nat`.
    pub nat: Option<Nat>,
}

impl Filter {
    /// True when the filter matches every flow.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Why no flow can match, when the conditions contradict each other:
    /// an address prefix of the other family, prefixes of both families,
    /// a mark value with bits outside its mask, ports on a protocol
    /// without them. `None` when some flow could match.
    ///
    /// ```
    /// use ctanalyze::Filter;
    /// use ctparse::Family;
    /// let filter = Filter {
    ///     family: Some(Family::Ipv6),
    ///     src: Some("198.18.0.0/16".parse()?),
    ///     ..Filter::default()
    /// };
    /// assert_eq!(
    ///     filter.never_matches().as_deref(),
    ///     Some("the family is ipv6, but the original source prefix 198.18.0.0/16 is ipv4")
    /// );
    /// # Ok::<(), ctanalyze::FilterError>(())
    /// ```
    pub fn never_matches(&self) -> Option<String> {
        let prefixes = [
            ("original source", self.src),
            ("original destination", self.dst),
            ("reply source", self.reply_src),
            ("reply destination", self.reply_dst),
        ];
        let family_of = |cidr: &Cidr| Family::of(&cidr.addr);
        let mut given = prefixes
            .iter()
            .filter_map(|(name, cidr)| cidr.map(|c| (name, c)));
        if let Some(family) = self.family
            && let Some((name, cidr)) = given.clone().find(|(_, c)| family_of(c) != family)
        {
            return Some(format!(
                "the family is {}, but the {name} prefix {cidr} is {}",
                family.name(),
                family_of(&cidr).name()
            ));
        }
        if let Some((first, a)) = given.next()
            && let Some((second, b)) = given.find(|(_, c)| family_of(c) != family_of(&a))
        {
            return Some(format!(
                "the {first} prefix {a} is {}, the {second} prefix {b} {}",
                family_of(&a).name(),
                family_of(&b).name()
            ));
        }
        if let Some(state) = self.state {
            let own = match state {
                State::Tcp(_) => Protocol::TCP,
                State::Sctp(_) => Protocol::SCTP,
                State::Dccp(_) => Protocol::DCCP,
            };
            if self.stateless {
                return Some(format!(
                    "the state is {state}, and entries without a state are asked for too"
                ));
            }
            if let Some(protocol) = self.protocol.filter(|&p| p != own) {
                return Some(format!(
                    "the state {state} is one of {}, but the protocol is {}",
                    own.name(),
                    protocol.name_or_number()
                ));
            }
        }
        if let Some(mark) = self.mark
            && mark.value & !mark.mask != 0
        {
            return Some(format!(
                "the mark value {:#x} has bits outside its mask {:#x}",
                mark.value, mark.mask
            ));
        }
        if let Some(protocol) = self.protocol
            && (self.sport.is_some() || self.dport.is_some())
            && protocol.tuple_kind() != ctparse::TupleKind::Ports
        {
            return Some(format!(
                "protocol {} has no ports",
                protocol.name_or_number()
            ));
        }
        None
    }

    /// Whether `flow` passes.
    pub fn matches(&self, flow: &Flow<'_>) -> bool {
        self.family.is_none_or(|f| f == flow.family)
            && self.protocol.is_none_or(|p| p == flow.protocol)
            && self.state.is_none_or(|s| flow.state == Some(s))
            && (!self.stateless
                || (flow.state.is_none()
                    && flow.protocol == self.protocol.unwrap_or(Protocol::TCP)))
            && self.src.is_none_or(|c| c.contains(&flow.orig.src))
            && self.dst.is_none_or(|c| c.contains(&flow.orig.dst))
            && self.reply_src.is_none_or(|c| c.contains(&flow.reply.src))
            && self.reply_dst.is_none_or(|c| c.contains(&flow.reply.dst))
            && self
                .sport
                .is_none_or(|p| flow.orig.l4.src_port() == Some(p))
            && self
                .dport
                .is_none_or(|p| flow.orig.l4.dst_port() == Some(p))
            && self
                .mark
                .is_none_or(|m| flow.mark.is_some_and(|mark| mark & m.mask == m.value))
            && self.zone.is_none_or(|z| flow.zone.unwrap_or(0) == z)
            && self
                .orig_zone
                .is_none_or(|z| flow.orig_zone.unwrap_or(0) == z)
            && self
                .reply_zone
                .is_none_or(|z| flow.reply_zone.unwrap_or(0) == z)
            && self.status.iter().all(|s| s.matches(flow.status))
            && self.nat.is_none_or(|n| n.matches(flow))
    }

    /// Sets what `--state NAME` selects: a state of the filter's protocol
    /// ([`parse_state`](Filter::parse_state)), or, for `(none)`, its
    /// entries printed without one ([`stateless`](Filter::stateless)).
    pub fn select_state(&mut self, name: &str) -> Result<(), FilterError> {
        if name.trim() != "(none)" {
            self.state = Some(self.parse_state(name)?);
            return Ok(());
        }
        if let Some(other) = self.protocol.filter(|p| !p.has_states()) {
            return Err(FilterError(format!("protocol {other} has no states")));
        }
        self.stateless = true;
        Ok(())
    }

    /// Parses a `--state` name for the filter's protocol (TCP when none is
    /// set). Accepts the kernel's names, case-insensitively.
    pub fn parse_state(&self, name: &str) -> Result<State, FilterError> {
        let upper = name.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        let state = match self.protocol {
            Some(Protocol::SCTP) => SctpState::from_name(bytes).map(State::Sctp),
            Some(Protocol::DCCP) => DccpState::parse(bytes).map(State::Dccp),
            None | Some(Protocol::TCP) => TcpState::parse(bytes).map(State::Tcp),
            Some(other) => {
                return Err(FilterError(format!("protocol {other} has no states")));
            }
        };
        state.ok_or_else(|| {
            let (protocol, names): (&str, Vec<&str>) = match self.protocol {
                Some(Protocol::SCTP) => ("SCTP", SctpState::ALL.iter().map(|s| s.name()).collect()),
                Some(Protocol::DCCP) => ("DCCP", DccpState::ALL.iter().map(|s| s.name()).collect()),
                _ => ("TCP", TcpState::ALL.iter().map(|s| s.name()).collect()),
            };
            // Where the name is another protocol's state, or the `(none)`
            // row of a report, say what selects it.
            let hint = if name.trim() == "(none)" {
                "; entries printed without a state are matched by `Filter::stateless`".to_owned()
            } else {
                [
                    ("SCTP", "sctp", SctpState::from_name(bytes).is_some()),
                    ("DCCP", "dccp", DccpState::parse(bytes).is_some()),
                    ("TCP", "tcp", TcpState::parse(bytes).is_some()),
                ]
                .into_iter()
                .find(|&(other, _, known)| known && other != protocol)
                .map(|(other, flag, _)| {
                    format!(
                        "; {upper} is a{} {other} state: add -p {flag}",
                        if other == "SCTP" { "n" } else { "" }
                    )
                })
                .unwrap_or_default()
            };
            FilterError(format!(
                "unknown {protocol} state {name:?} (known: {}){hint}",
                names.join(", ")
            ))
        })
    }
}

/// A filter option that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// An address or prefix: `192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32`.
///
/// Ordered by network address (IPv4 before IPv6), then length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Cidr {
    /// The prefix of `addr` that is `len` bits long (at most its family's
    /// length): the address with its host bits cleared.
    pub fn network(addr: IpAddr, len: u8) -> Cidr {
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Cidr {
                    addr: IpAddr::V4((u32::from(a) & mask).into()),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Cidr {
                    addr: IpAddr::V6((u128::from(a) & mask).into()),
                    len,
                }
            }
        }
    }

    /// Whether `addr` is inside the prefix (never across families: the
    /// network of an address is of its own family). A `Cidr` built by
    /// hand with host bits set, or longer than its family's addresses, is
    /// taken as its network, as [`Cidr::network`] makes it.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        let prefix = Cidr::network(self.addr, self.len);
        Cidr::network(*addr, prefix.len) == prefix
    }
}

impl FromStr for Cidr {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Cidr, FilterError> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| FilterError(format!("invalid address {addr_text:?}")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| {
                    FilterError(format!("invalid prefix length {len:?} (0 to {max})"))
                })?,
        };
        Ok(Cidr::network(addr, len))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// `--mark VALUE[/MASK]`: matches when `mark & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarkMatch {
    /// The value to compare with.
    pub value: u32,
    /// The mask applied to the mark first (all ones without `/MASK`).
    pub mask: u32,
}

impl FromStr for MarkMatch {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<MarkMatch, FilterError> {
        let number = |t: &str| {
            let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => t.parse(),
            };
            parsed.map_err(|_| FilterError(format!("invalid mark {t:?}")))
        };
        match text.split_once('/') {
            Some((value, mask)) => Ok(MarkMatch {
                value: number(value)?,
                mask: number(mask)?,
            }),
            None => Ok(MarkMatch {
                value: number(text)?,
                mask: u32::MAX,
            }),
        }
    }
}

/// A `--status` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusMatch {
    /// `ASSURED`
    Assured,
    /// `SEEN_REPLY`: a reply was seen (no `[UNREPLIED]`).
    SeenReply,
    /// `UNREPLIED`: no reply seen (shorthand for conntrack's `UNSET`).
    Unreplied,
    /// `OFFLOAD`: software or hardware offload.
    Offload,
    /// `HW_OFFLOAD`
    HwOffload,
}

impl StatusMatch {
    /// Whether `status` satisfies the condition.
    pub fn matches(self, status: Status) -> bool {
        match self {
            StatusMatch::Assured => status.contains(Status::ASSURED),
            StatusMatch::SeenReply => !status.contains(Status::UNREPLIED),
            StatusMatch::Unreplied => status.contains(Status::UNREPLIED),
            StatusMatch::Offload => status.intersects(Status::OFFLOAD | Status::HW_OFFLOAD),
            StatusMatch::HwOffload => status.contains(Status::HW_OFFLOAD),
        }
    }
}

impl FromStr for StatusMatch {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<StatusMatch, FilterError> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "ASSURED" => StatusMatch::Assured,
            "SEEN_REPLY" => StatusMatch::SeenReply,
            "UNREPLIED" => StatusMatch::Unreplied,
            "OFFLOAD" => StatusMatch::Offload,
            "HW_OFFLOAD" => StatusMatch::HwOffload,
            _ => {
                return Err(FilterError(format!(
                    "unknown status {text:?} (ASSURED, SEEN_REPLY, UNREPLIED, OFFLOAD, HW_OFFLOAD)"
                )));
            }
        })
    }
}

/// `--src-nat`, `--dst-nat`, `--any-nat`, decided from the text of the
/// tuples (see [`Flow::is_dnat`] and [`Flow::is_snat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nat {
    /// Source NAT.
    Src,
    /// Destination NAT.
    Dst,
    /// Either.
    Any,
    /// Both at once (`conntrack -L --src-nat --dst-nat`).
    Both,
}

impl Nat {
    /// Whether `flow` is translated this way.
    pub fn matches(self, flow: &Flow<'_>) -> bool {
        match self {
            Nat::Src => flow.is_snat(),
            Nat::Dst => flow.is_dnat(),
            Nat::Any => flow.is_snat() || flow.is_dnat(),
            Nat::Both => flow.is_snat() && flow.is_dnat(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Contradicting conditions are named; conditions some flow could
    /// meet are not. Each named filter indeed matches none of the flows
    /// of a small table with both families, marks and ports.
    #[test]
    fn contradictions_are_named() {
        let cidr = |text: &str| Some(text.parse::<Cidr>().unwrap());
        let never = [
            Filter {
                family: Some(Family::Ipv6),
                src: cidr("192.0.2.0/24"),
                ..Filter::default()
            },
            Filter {
                src: cidr("192.0.2.0/24"),
                reply_dst: cidr("2001:db8::/32"),
                ..Filter::default()
            },
            Filter {
                mark: Some(MarkMatch { value: 1, mask: 0 }),
                ..Filter::default()
            },
            Filter {
                protocol: Some(Protocol::ICMP),
                dport: Some(80),
                ..Filter::default()
            },
            Filter {
                protocol: Some(Protocol::UDP),
                state: Some(State::Tcp(TcpState::Established)),
                ..Filter::default()
            },
            Filter {
                state: Some(State::Tcp(TcpState::Established)),
                stateless: true,
                ..Filter::default()
            },
        ];
        let can = [
            Filter::default(),
            Filter {
                family: Some(Family::Ipv4),
                src: cidr("192.0.2.0/24"),
                dst: cidr("198.51.100.1"),
                ..Filter::default()
            },
            Filter {
                mark: Some(MarkMatch {
                    value: 0x10,
                    mask: 0xf0,
                }),
                ..Filter::default()
            },
            Filter {
                protocol: Some(Protocol::UDP),
                dport: Some(53),
                ..Filter::default()
            },
            Filter {
                protocol: Some(Protocol::TCP),
                state: Some(State::Tcp(TcpState::Established)),
                ..Filter::default()
            },
        ];
        let table = "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.1 dst=198.51.100.1 sport=9 dport=80 src=198.51.100.1 dst=192.0.2.1 sport=80 dport=9 [ASSURED] mark=16 use=1
ipv4     2 udp      17 20 src=192.0.2.2 dst=198.51.100.1 sport=9 dport=53 src=198.51.100.1 dst=192.0.2.2 sport=53 dport=9 mark=0 use=1
ipv6     10 icmpv6   58 20 src=2001:db8::1 dst=2001:db8::2 type=128 code=0 id=1 src=2001:db8::2 dst=2001:db8::1 type=129 code=0 id=1 mark=1 use=1
ipv4     2 icmp     1 20 src=192.0.2.3 dst=198.51.100.1 type=8 code=0 id=1 src=198.51.100.1 dst=192.0.2.3 type=0 code=0 id=1 mark=1 use=1
";
        let flows: Vec<Flow<'_>> = ctparse::Parser::new(table.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(flows.len(), 4);
        for filter in &never {
            assert!(filter.never_matches().is_some(), "{filter:?}");
            assert!(!flows.iter().any(|f| filter.matches(f)), "{filter:?}");
        }
        for filter in &can {
            assert_eq!(filter.never_matches(), None, "{filter:?}");
            assert!(flows.iter().any(|f| filter.matches(f)), "{filter:?}");
        }
    }

    /// A state of another protocol, or the reports' `(none)` row, is
    /// refused with what would select it.
    #[test]
    fn state_names_of_other_protocols_get_a_hint() {
        let tcp = Filter::default();
        assert_eq!(
            tcp.parse_state("time_wait"),
            Ok(State::Tcp(TcpState::TimeWait))
        );
        let hint = |filter: &Filter, name: &str| {
            let FilterError(message) = filter.parse_state(name).unwrap_err();
            message.split_once("); ").map(|(_, hint)| hint.to_owned())
        };
        assert_eq!(
            hint(&tcp, "cookie_wait").as_deref(),
            Some("COOKIE_WAIT is an SCTP state: add -p sctp")
        );
        assert_eq!(
            hint(&tcp, "RESPOND").as_deref(),
            Some("RESPOND is a DCCP state: add -p dccp")
        );
        let sctp = Filter {
            protocol: Some(Protocol::SCTP),
            ..Filter::default()
        };
        assert_eq!(
            hint(&sctp, "TIME_WAIT").as_deref(),
            Some("TIME_WAIT is a TCP state: add -p tcp")
        );
        assert!(hint(&tcp, "(none)").unwrap().contains("stateless"));
        // select_state takes both: a name, or `(none)` of a stateful protocol.
        let mut f = Filter::default();
        f.select_state("(none)").unwrap();
        assert!(f.stateless && f.state.is_none());
        f.select_state("TIME_WAIT").unwrap();
        assert_eq!(f.state, Some(State::Tcp(TcpState::TimeWait)));
        let mut udp = Filter {
            protocol: Some(Protocol::UDP),
            ..Filter::default()
        };
        assert_eq!(
            udp.select_state("(none)"),
            Err(FilterError("protocol udp has no states".to_owned()))
        );
        assert!(!udp.stateless);
        assert_eq!(hint(&tcp, "SYN_SNT"), None);
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: Cidr = "198.51.100.77/24".parse().unwrap();
        assert_eq!(net.to_string(), "198.51.100.0/24");
        assert!(net.contains(&"198.51.100.1".parse().unwrap()));
        assert!(!net.contains(&"198.51.101.1".parse().unwrap()));
        assert!(!net.contains(&"2001:db8::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(&"203.0.113.9".parse().unwrap()));
        let host: Cidr = "2001:db8::1".parse().unwrap();
        assert_eq!(host.len, 128);
        assert!(host.contains(&"2001:db8::1".parse().unwrap()));
        assert!(!host.contains(&"2001:db8::2".parse().unwrap()));
        assert!("192.0.2.0/33".parse::<Cidr>().is_err());
        assert!("192.0.2".parse::<Cidr>().is_err());
    }

    #[test]
    fn a_cidr_built_by_hand_matches_as_its_network() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let host_bits = Cidr {
            addr: ip("198.51.100.77"),
            len: 24,
        };
        assert!(host_bits.contains(&ip("198.51.100.9")));
        assert!(!host_bits.contains(&ip("198.51.101.9")));
        let too_long = Cidr {
            addr: ip("198.51.100.77"),
            len: 40,
        };
        assert!(too_long.contains(&ip("198.51.100.77")));
        assert!(!too_long.contains(&ip("198.51.100.78")));
    }

    #[test]
    fn marks_and_statuses() {
        assert_eq!(
            "7".parse(),
            Ok(MarkMatch {
                value: 7,
                mask: u32::MAX
            })
        );
        assert_eq!(
            "0x10/0xf0".parse(),
            Ok(MarkMatch {
                value: 16,
                mask: 240
            })
        );
        assert!("x".parse::<MarkMatch>().is_err());
        assert_eq!("assured".parse(), Ok(StatusMatch::Assured));
        assert!("EXPECTED".parse::<StatusMatch>().is_err());
    }
}
