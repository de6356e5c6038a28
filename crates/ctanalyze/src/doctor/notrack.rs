//! NOTRACK candidates: heavy traffic that conntrack keeps state for but
//! does not translate.

use std::net::IpAddr;

use ctparse::Protocol;
use serde::Serialize;

use crate::Summary;
use crate::doctor::Breakdown;
use crate::doctor::breakdown::{Addresses, PortAddresses};

/// The least share of the table (percent) a port or address pair must
/// hold to be a candidate.
pub const MIN_SHARE: f64 = 10.0;

/// What a NOTRACK rule would match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A (protocol, destination port) of the original direction.
    Port {
        /// The L4 protocol name.
        protocol: &'static str,
        /// The original destination port.
        port: u16,
        /// The original destinations it was seen with, sorted, when there
        /// are at most [`FEW`](crate::doctor::breakdown::FEW); empty when
        /// there are more. The rules are scoped to them.
        destinations: Vec<String>,
    },
    /// An (original source, original destination) address pair.
    Pair {
        /// The original source address.
        source: String,
        /// The original destination address.
        destination: String,
        /// Both addresses are loopback, private (RFC 1918, RFC 4193),
        /// shared (RFC 6598) or link-local: traffic inside your network.
        internal: bool,
    },
}

/// A port or address pair that carries a large share of the entries,
/// none of them NATed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// What it is.
    #[serde(flatten)]
    pub target: Target,
    /// Entries.
    pub count: u64,
    /// Share of all entries, percent.
    pub percent: f64,
    /// For a port, the pair candidates that hold all of its entries: its
    /// few sources and destinations, every combination a candidate pair,
    /// so the pairs' rules take it whole. Empty when there are none (and
    /// for a pair).
    pub inside_pairs: Vec<Pair>,
}

impl Candidate {
    /// True when it is TCP destination port `port`.
    pub fn is_tcp_port(&self, port: u16) -> bool {
        matches!(self.target, Target::Port { protocol: "tcp", port: p, .. } if p == port)
    }
}

/// An (original source, original destination) address pair; reports
/// name it `source -> destination`, JSON gives both fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// The original source address.
    pub source: String,
    /// The original destination address.
    pub destination: String,
}

impl Pair {
    /// The pair of the two addresses as they print.
    pub fn new(source: impl std::fmt::Display, destination: impl std::fmt::Display) -> Pair {
        Pair {
            source: source.to_string(),
            destination: destination.to_string(),
        }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.source, self.destination)
    }
}

/// The rule for one key: a candidate when it holds at least [`MIN_SHARE`]
/// percent of `total` entries and none of them is NATed (NOTRACK traffic
/// cannot be NATed).
pub fn is_candidate(count: u64, nated: u64, total: u64) -> bool {
    count > 0 && nated == 0 && super::percent(count, total) >= MIN_SHARE
}

/// The least count that holds [`MIN_SHARE`] percent of `total` as
/// [`is_candidate`] rounds it (the share only grows with the count);
/// `u64::MAX` when none does.
fn least_candidate_count(total: u64) -> u64 {
    let (mut low, mut high) = (1, total);
    if total == 0 || super::percent(high, total) < MIN_SHARE {
        return u64::MAX;
    }
    while low < high {
        let mid = low + (high - low) / 2;
        if super::percent(mid, total) >= MIN_SHARE {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

/// Every candidate of a dump, by count descending (ports before pairs,
/// then key ascending, on ties).
pub fn candidates(summary: &Summary, breakdown: &Breakdown) -> Vec<Candidate> {
    let total = summary.totals.matched;
    let mut found = Vec::new();
    // The share first, as a count: a full table has millions of pairs,
    // nearly all far below it, and the NAT lookup of each missed the cache
    // (50 ms of `doctor` on the 4M-line benchmark dump; the percentages
    // another 15).
    let least = least_candidate_count(total);
    let mut pairs: Vec<((IpAddr, IpAddr), u64)> = breakdown
        .pairs
        .iter()
        .filter(|&(_, count)| count >= least)
        .filter(|&((source, destination), count)| {
            is_candidate(count, breakdown.nated_between(source, destination), total)
        })
        .collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let is_pair = |source: IpAddr, destination: IpAddr| {
        pairs
            .iter()
            .any(|&((s, d), _)| (s, d) == (source, destination))
    };
    let mut ports: Vec<((Protocol, u16), u64)> = summary
        .destination_ports
        .iter()
        .filter(|&(key, count)| is_candidate(count, breakdown.nated_ports.get(key), total))
        .map(|(&key, count)| (key, count))
        .collect();
    ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((protocol, port), count) in ports {
        let seen = breakdown.port_addresses(protocol, port);
        let destinations = match seen.map(|seen| &seen.destinations) {
            Some(Addresses::Few(addrs)) => {
                let mut addrs = addrs.clone();
                addrs.sort();
                addrs.iter().map(IpAddr::to_string).collect()
            }
            Some(Addresses::Many) | None => Vec::new(),
        };
        // Every (source, destination) the port may have been seen between
        // is a candidate pair: the pairs' rules hold all of its entries.
        let inside_pairs = match seen {
            Some(PortAddresses {
                sources: Addresses::Few(sources),
                destinations: Addresses::Few(destinations),
            }) if !sources.is_empty()
                && sources
                    .iter()
                    .all(|&s| destinations.iter().all(|&d| is_pair(s, d))) =>
            {
                sources
                    .iter()
                    .flat_map(|s| destinations.iter().map(move |d| Pair::new(s, d)))
                    .collect()
            }
            _ => Vec::new(),
        };
        found.push(Candidate {
            target: Target::Port {
                protocol: protocol.name(),
                port,
                destinations,
            },
            count,
            percent: super::percent(count, total),
            inside_pairs,
        });
    }
    for &((source, destination), count) in &pairs {
        found.push(Candidate {
            target: Target::Pair {
                source: source.to_string(),
                destination: destination.to_string(),
                internal: is_internal(source) && is_internal(destination),
            },
            count,
            percent: super::percent(count, total),
            inside_pairs: Vec::new(),
        });
    }
    // Largest first, ports before pairs on ties (the sort is stable).
    found.sort_by_key(|c| std::cmp::Reverse(c.count));
    found
}

/// Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
/// (100.64/10) or link-local (169.254/16, fe80::/10).
pub fn is_internal(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let [b0, b1, ..] = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || (b0 == 100 && (b1 & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            a.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_and_its_boundaries() {
        assert!(is_candidate(10, 0, 100)); // exactly 10 %
        assert!(!is_candidate(9, 0, 100));
        assert!(!is_candidate(50, 1, 100)); // one NATed entry is enough to refuse
        assert!(!is_candidate(0, 0, 0));
        assert!(is_candidate(1, 0, 1));
    }

    #[test]
    fn internal_addresses() {
        for a in [
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(is_internal(a.parse().unwrap()), "{a}");
        }
        for a in [
            "172.32.0.1",
            "100.128.0.1",
            "198.51.100.2",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            assert!(!is_internal(a.parse().unwrap()), "{a}");
        }
    }

    /// The count threshold is the rule's at every total: the least count
    /// is a candidate, and one less is not.
    #[test]
    fn the_least_candidate_count_is_the_rules_threshold() {
        assert_eq!(least_candidate_count(0), u64::MAX);
        for total in (1..2_000).chain([9_999, 10_000, 10_001, 4_000_000, u64::MAX / 1000]) {
            let least = least_candidate_count(total);
            assert!(is_candidate(least, 0, total), "{total}");
            assert!(least == 1 || !is_candidate(least - 1, 0, total), "{total}");
        }
    }

    /// Traffic from a client straight to a backend is no candidate when
    /// the same client also reaches that backend through a DNAT address:
    /// the pair's and the port's rules would match those connections'
    /// replies (backend to client, from the backend's port), which, left
    /// untracked, would never be translated back.
    #[test]
    fn the_backend_of_a_dnat_service_is_no_candidate() {
        let direct = |sport: u32| {
            format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.5 dst=198.51.100.9 sport={sport} dport=9400 src=198.51.100.9 dst=192.0.2.5 sport=9400 dport={sport} [ASSURED] mark=0 use=1\n"
            )
        };
        let via_vip = |sport: u32| {
            format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.5 dst=203.0.113.10 sport={sport} dport=80 src=198.51.100.9 dst=192.0.2.5 sport=9400 dport={sport} [ASSURED] mark=0 use=1\n"
            )
        };
        let plain: String = (0..90).map(|i| direct(30_000 + i)).collect();
        let kinds = |dump: &str| {
            let summary = crate::Analyzer::new()
                .threads(1)
                .analyze_bytes(dump.as_bytes());
            let breakdown = Breakdown::from_bytes(dump.as_bytes());
            candidates(&summary, &breakdown)
                .into_iter()
                .map(|c| match c.target {
                    Target::Port { port, .. } => format!("port {port}"),
                    Target::Pair {
                        source,
                        destination,
                        ..
                    } => Pair::new(source, destination).to_string(),
                })
                .collect::<Vec<_>>()
        };
        // Alone, the direct traffic is a candidate pair and port.
        assert_eq!(kinds(&plain), ["port 9400", "192.0.2.5 -> 198.51.100.9"]);
        // With 10 connections through the DNAT address, neither is.
        let with_dnat = plain.clone() + &(0..10).map(|i| via_vip(40_000 + i)).collect::<String>();
        assert_eq!(kinds(&with_dnat), Vec::<String>::new());
        // Nor with a port forward on the backend's own address (port 80
        // redirected to 9400): its replies come from port 9400.
        let forwarded = |sport: u32| {
            format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.5 dst=198.51.100.9 sport={sport} dport=80 src=198.51.100.9 dst=192.0.2.5 sport=9400 dport={sport} [ASSURED] mark=0 use=1\n"
            )
        };
        let with_redirect = plain + &(0..10).map(|i| forwarded(40_000 + i)).collect::<String>();
        assert_eq!(kinds(&with_redirect), Vec::<String>::new());
    }

    /// A port all of whose entries are between addresses of candidate
    /// pairs is marked inside them; one with a source outside is not.
    #[test]
    fn a_port_inside_candidate_pairs_is_marked() {
        let line = |src: &str, sport: u32, dport: u16| {
            format!(
                "ipv4     2 tcp      6 100 ESTABLISHED src={src} dst=198.51.100.2 sport={sport} dport={dport} src=198.51.100.2 dst={src} sport={dport} dport={sport} [ASSURED] mark=0 use=1\n"
            )
        };
        let mut dump = String::new();
        // 40 of 100 from one client to port 9400: a candidate pair and port.
        for i in 0..40 {
            dump.push_str(&line("192.0.2.1", 30_000 + i, 9400));
        }
        // 15 to port 9401: 10 from that client, 5 from another (not a pair
        // candidate: 5%).
        for i in 0..10 {
            dump.push_str(&line("192.0.2.1", 31_000 + i, 9401));
        }
        for i in 0..5 {
            dump.push_str(&line("192.0.2.2", 31_000 + i, 9401));
        }
        // 45 from 45 clients to port 443.
        for i in 0..45 {
            dump.push_str(&line(&format!("203.0.113.{}", i + 1), 40_000, 443));
        }
        let summary = crate::Analyzer::new()
            .threads(1)
            .analyze_bytes(dump.as_bytes());
        assert_eq!(summary.totals.flows, 100);
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        let found = candidates(&summary, &breakdown);
        let inside = |port: u16| {
            found
                .iter()
                .find(|c| matches!(c.target, Target::Port { port: p, .. } if p == port))
                .map(|c| c.inside_pairs.clone())
        };
        assert_eq!(
            inside(9400),
            Some(vec![Pair::new("192.0.2.1", "198.51.100.2")])
        );
        assert_eq!(inside(9401), Some(vec![]));
        assert_eq!(inside(443), Some(vec![]));
        let pair = found
            .iter()
            .find(|c| matches!(c.target, Target::Pair { .. }))
            .unwrap();
        assert_eq!((pair.count, pair.inside_pairs.len()), (50, 0));
    }

    #[test]
    fn the_example_has_a_plain_port_and_pair_and_no_nated_ones() {
        let dump = include_bytes!("../../../../fixtures/example/nf_conntrack.txt");
        let summary = crate::Analyzer::new().threads(1).analyze_bytes(dump);
        let breakdown = Breakdown::from_bytes(dump);
        let found = candidates(&summary, &breakdown);
        let targets: Vec<&Target> = found.iter().map(|c| &c.target).collect();
        // Every flow to 9400 goes to one server: the rule names it.
        assert_eq!(
            targets[0],
            &Target::Port {
                protocol: "tcp",
                port: 9400,
                destinations: vec!["198.51.100.2".into()]
            }
        );
        assert_eq!(found[0].count, 854);
        assert!(found.iter().all(|c| c.percent >= MIN_SHARE));
        // 198.51.100.2 takes NATed traffic too, but the pair from the
        // heaviest client is plain.
        assert!(targets.contains(&&Target::Pair {
            source: "198.18.1.1".into(),
            destination: "198.51.100.2".into(),
            internal: false
        }));
        // The DNAT port is never a candidate.
        assert!(
            !targets
                .iter()
                .any(|t| matches!(t, Target::Port { port: 8081, .. }))
        );
    }
}
