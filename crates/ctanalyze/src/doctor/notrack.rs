//! NOTRACK candidates: heavy traffic that conntrack keeps state for but
//! does not translate.

use std::net::IpAddr;

use ctparse::Protocol;
use serde::Serialize;

use crate::Summary;
use crate::doctor::Breakdown;
use crate::doctor::breakdown::Destinations;

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
}

/// The rule for one key: a candidate when it holds at least [`MIN_SHARE`]
/// percent of `total` entries and none of them is NATed (NOTRACK traffic
/// cannot be NATed).
pub fn is_candidate(count: u64, nated: u64, total: u64) -> bool {
    count > 0 && nated == 0 && super::percent(count, total) >= MIN_SHARE
}

/// Every candidate of a dump, by count descending (ports before pairs,
/// then key ascending, on ties).
pub fn candidates(summary: &Summary, breakdown: &Breakdown) -> Vec<Candidate> {
    let total = summary.totals.matched;
    let mut found = Vec::new();
    let mut ports: Vec<((Protocol, u16), u64)> = summary
        .destination_ports
        .iter()
        .filter(|&(key, count)| is_candidate(count, breakdown.nated_ports.get(key), total))
        .map(|(&key, count)| (key, count))
        .collect();
    ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((protocol, port), count) in ports {
        let destinations = match breakdown.port_destinations.get(&(protocol, port)) {
            Some(Destinations::Few(addrs)) => {
                let mut addrs = addrs.clone();
                addrs.sort();
                addrs.iter().map(IpAddr::to_string).collect()
            }
            Some(Destinations::Many) | None => Vec::new(),
        };
        found.push(Candidate {
            target: Target::Port {
                protocol: protocol.name(),
                port,
                destinations,
            },
            count,
            percent: super::percent(count, total),
        });
    }
    let mut pairs: Vec<((IpAddr, IpAddr), u64)> = breakdown
        .pairs
        .iter()
        .filter(|&((source, destination), count)| {
            is_candidate(count, breakdown.nated_pairs.get(source, destination), total)
        })
        .collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((source, destination), count) in pairs {
        found.push(Candidate {
            target: Target::Pair {
                source: source.to_string(),
                destination: destination.to_string(),
                internal: is_internal(source) && is_internal(destination),
            },
            count,
            percent: super::percent(count, total),
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
