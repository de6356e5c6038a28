//! How full the source-port spaces of source NAT are.
//!
//! Two entries cannot share a reply tuple. Source NAT (`snat`,
//! `masquerade`) therefore gives every connection it translates to one
//! address, toward one peer address and port, a source port of its own:
//! the entries of such a [`PortSpace`] each hold one of its ports. Without
//! a port range in the rule, the kernel picks from the class of the
//! original source port (`nf_nat_l4proto_unique_tuple`): 1-511 for a port
//! below 512, 600-1023 below 1024, 1024-65535 for any other ([`PortClass`]);
//! it keeps the original port when it is free. When NAT finds no free port
//! in its tries, the connection's entry clashes with one already in the
//! table: its insertion fails (counted in `insert_failed`) and the packet is
//! dropped.
//!
//! The dump shows which entries were source-NATed (their reply goes to
//! another address or port than the original source), so it shows how
//! many ports of each space they hold. Entries that were not NATed but
//! have the same reply tuples (connections of the host itself from the
//! translated address) hold ports of the space too and are not counted:
//! the counts are lower bounds.

use std::net::IpAddr;

use ctparse::{Flow, L4, Protocol};
use serde::Serialize;

use crate::merge::Counter;
use crate::summary::Endpoint;

/// Half of a space's ports in use: a [`PortUse`] from here on is a finding.
pub const CROWDED_PERCENT: f64 = 50.0;

/// The ports NAT picks a translated source port from when the rule gives
/// no range: never another class than the original source port's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortClass {
    /// Original source port 1-511 (0 too): ports 1-511.
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
}

/// The entries that need distinct translated source ports: source-NATed
/// to the same address, toward the same peer address and port, in the
/// same zone and port class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSpace {
    /// The L4 protocol (one with ports).
    pub protocol: Protocol,
    /// The address the source was translated to (the reply's destination).
    pub translated: IpAddr,
    /// Where the translated packets go (the reply's source and source
    /// port): the original destination, or its DNAT target.
    pub peer: Endpoint,
    /// The conntrack zone (0 when the line has none).
    pub zone: u16,
    /// The class of the original source port.
    pub class: PortClass,
}

impl PortSpace {
    /// The space `flow` took its translated source port from: `None`
    /// unless its source was NATed and its protocol has ports (NAT picks
    /// ICMP ids and GRE keys from spaces of their own, not counted here).
    pub fn of(flow: &Flow<'_>) -> Option<PortSpace> {
        let (
            L4::Ports { sport, .. },
            L4::Ports {
                sport: peer_port, ..
            },
        ) = (flow.orig.l4, flow.reply.l4)
        else {
            return None;
        };
        flow.is_snat().then_some(PortSpace {
            protocol: flow.protocol,
            translated: flow.reply.dst,
            peer: Endpoint {
                addr: flow.reply.src,
                port: Some(peer_port),
            },
            zone: flow.zone.unwrap_or(0),
            class: PortClass::of(sport),
        })
    }
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
    /// The conntrack zone.
    pub zone: u16,
    /// Source-NATed entries in the space: ports in use, at least.
    pub entries: u64,
    /// The first port NAT picks from without a range in the rule.
    pub first_port: u16,
    /// The last one.
    pub last_port: u16,
    /// How many ports that is.
    pub ports: u64,
    /// `entries` in percent of `ports`.
    pub percent: f64,
}

/// The `top` fullest spaces (all when `top` is 0), fullest first (by the
/// share of their ports in use, then entries, then the space).
pub fn port_use(spaces: &Counter<PortSpace>, top: usize) -> Vec<PortUse> {
    let mut all: Vec<(&PortSpace, u64)> = spaces.iter().collect();
    // `a` fuller than `b`: a.entries / a.size > b.entries / b.size, in
    // integers.
    let fuller = |a: &(&PortSpace, u64), b: &(&PortSpace, u64)| {
        let a_share = u128::from(a.1) * u128::from(b.0.class.size());
        let b_share = u128::from(b.1) * u128::from(a.0.class.size());
        b_share
            .cmp(&a_share)
            .then_with(|| b.1.cmp(&a.1))
            .then_with(|| a.0.cmp(b.0))
    };
    if top > 0 && top < all.len() {
        all.select_nth_unstable_by(top - 1, fuller);
        all.truncate(top);
    }
    all.sort_unstable_by(fuller);
    all.into_iter()
        .map(|(space, entries)| {
            let (first_port, last_port) = space.class.ports();
            PortUse {
                protocol: space.protocol.name(),
                translated: space.translated.to_string(),
                peer: space.peer.to_string(),
                zone: space.zone,
                entries,
                first_port,
                last_port,
                ports: space.class.size(),
                percent: super::percent(entries, space.class.size()),
            }
        })
        .collect()
}

/// The finding on the fullest space, when it is at least
/// [`CROWDED_PERCENT`] full; `spaces` ordered as [`port_use`] gives them
/// (all of them, or the top ones: the count of the others over the mark
/// is of those given).
pub fn finding(spaces: &[PortUse], insert_failed: Option<u64>) -> Option<String> {
    let fullest = spaces.first()?;
    if fullest.percent < CROWDED_PERCENT {
        return None;
    }
    let others = spaces[1..]
        .iter()
        .filter(|s| s.percent >= CROWDED_PERCENT)
        .count();
    let zone = match fullest.zone {
        0 => String::new(),
        zone => format!(" in zone {zone}"),
    };
    Some(format!(
        "{} {} entries are source-NATed to {} toward {}{zone}: each needs a source port of its own, and they hold {} of the {} ports NAT picks from ({}-{}, unless the rule gives a port range). When NAT finds no free port, a new connection's entry clashes with one in the table: its insertion fails and the packet is dropped{}.{} More addresses to translate to (an address range in the SNAT or masquerade rule) or shorter timeouts for the states these entries are in leave more ports free.",
        super::group(fullest.entries),
        fullest.protocol,
        fullest.translated,
        fullest.peer,
        super::pct(fullest.percent),
        super::group(fullest.ports),
        fullest.first_port,
        fullest.last_port,
        match insert_failed {
            Some(0) => " (insert_failed = 0 in the statistics: it has not happened yet)".to_owned(),
            Some(n) => format!(
                " (counted in insert_failed: {} in the statistics)",
                super::group(n)
            ),
            None => " (counted in insert_failed)".to_owned(),
        },
        match others {
            0 => String::new(),
            1 => " One more space of the SNAT source ports table is at least half used.".to_owned(),
            n => format!(" {n} more spaces of the SNAT source ports table are at least half used."),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Breakdown;

    /// A TCP entry from `source:sport` to 198.51.100.2:443, its source
    /// translated to `translated:nat_port` (no NAT when they are the same).
    fn entry(source: &str, sport: u16, translated: &str, nat_port: u16, zone: u16) -> String {
        format!(
            "ipv4     2 tcp      6 100 TIME_WAIT src={source} dst=198.51.100.2 sport={sport} dport=443 src=198.51.100.2 dst={translated} sport=443 dport={nat_port} [ASSURED] mark=0 zone={zone} use=1\n"
        )
    }

    fn spaces(dump: &str) -> Counter<PortSpace> {
        Breakdown::from_bytes(dump.as_bytes()).snat_ports
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
        dump.push_str(&entry("10.0.0.1", 40000, "192.0.2.1", 40000, 0));
        dump.push_str(&entry("10.0.0.2", 40000, "192.0.2.1", 40001, 0));
        // The port class of the original port: NTP's 123 is another space.
        dump.push_str(&entry("10.0.0.3", 123, "192.0.2.1", 124, 0));
        // Another zone is another space.
        dump.push_str(&entry("10.0.0.4", 40000, "192.0.2.1", 40002, 7));
        // Not NATed: not counted.
        dump.push_str(&entry("192.0.2.1", 40003, "192.0.2.1", 40003, 0));
        // ICMP: NAT picks ids, not ports.
        dump.push_str("ipv4     2 icmp     1 29 src=10.0.0.1 dst=198.51.100.2 type=8 code=0 id=7 src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id=7 mark=0 use=1\n");
        let counted = spaces(&dump);
        let space = |class, zone| PortSpace {
            protocol: Protocol::TCP,
            translated: "192.0.2.1".parse().unwrap(),
            peer: Endpoint {
                addr: "198.51.100.2".parse().unwrap(),
                port: Some(443),
            },
            zone,
            class,
        };
        assert_eq!(counted.get(&space(PortClass::Unprivileged, 0)), 2);
        assert_eq!(counted.get(&space(PortClass::Low, 0)), 1);
        assert_eq!(counted.get(&space(PortClass::Unprivileged, 7)), 1);
        assert_eq!((counted.len(), counted.total()), (3, 4));
    }

    #[test]
    fn the_fullest_space_first_by_share_not_by_entries() {
        let mut dump = String::new();
        // 300 of 511 low ports (58.7 %), 1,000 of 64,512 high ones (1.6 %).
        for i in 0..300 {
            dump.push_str(&entry("10.0.0.1", 100, "192.0.2.1", 1 + i, 0));
        }
        for i in 0..1000 {
            dump.push_str(&entry("10.0.0.2", 40000, "192.0.2.1", 2000 + i, 0));
        }
        let rows = port_use(&spaces(&dump), 0);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.entries, r.first_port, r.last_port, r.ports, r.percent))
            .collect();
        assert_eq!(
            summary,
            [(300, 1, 511, 511, 58.71), (1000, 1024, 65535, 64512, 1.55)]
        );
        assert_eq!(rows[0].peer, "198.51.100.2:443");
        // The top 1 is the fullest, not the one with most entries.
        assert_eq!(port_use(&spaces(&dump), 1)[0].entries, 300);

        let text = finding(&rows, Some(12)).unwrap();
        assert!(
            text.starts_with("300 tcp entries are source-NATed to 192.0.2.1 toward 198.51.100.2:443: each needs a source port of its own, and they hold 58.7% of the 511 ports NAT picks from (1-511, "),
            "{text}"
        );
        assert!(
            text.contains("(counted in insert_failed: 12 in the statistics)"),
            "{text}"
        );
        assert!(!text.contains("more spaces"), "{text}");
        // Under half full: no finding.
        assert_eq!(finding(&rows[1..], None), None);
        assert_eq!(finding(&[], None), None);
    }
}
