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
//! the rule does not ask for random ports). Otherwise it tries up to some
//! 240 ports, in runs from random places (older kernels: the whole range); when none of them is free, the
//! connection's entry clashes with one in the table at confirmation: its
//! insertion fails (`insert_failed`) and the packet is dropped.
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
use std::net::IpAddr;

use ctparse::{Flow, L4, Protocol, State, TcpState};
use serde::Serialize;

use super::breakdown::{Addresses, FEW};
use crate::merge::{Hasher, Merge};
use crate::summary::Endpoint;

/// Half of a space's ports held: a finding from here on.
pub const CROWDED_PERCENT: f64 = 50.0;

/// Nearly all held: NAT's tries may all fail from here on.
pub const FULL_PERCENT: f64 = 95.0;

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
    /// Entries with a port of the class's range, but for `closing`.
    pub held: u64,
    /// TCP entries in TIME_WAIT or CLOSE with a port of the range: since
    /// Linux 6.5 a new connection may take it (older kernels wait for the
    /// entry to expire).
    pub closing: u64,
    /// Entries with a port outside the range: the rule gives a port range
    /// of its own, or they kept an original port of 512-599.
    pub outside: u64,
    /// Their original source addresses.
    pub sources: Addresses,
}

/// Source-NATed entries per [`PortSpace`]; mergeable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnatPorts {
    spaces: HashMap<PortSpace, PortTally, Hasher>,
}

impl SnatPorts {
    /// Counts `flow` when its source was NATed.
    pub fn add(&mut self, flow: &Flow<'_>) {
        let Some((space, port)) = PortSpace::of(flow) else {
            return;
        };
        let tally = self.spaces.entry(space).or_default();
        let closing = matches!(
            flow.state,
            Some(State::Tcp(TcpState::TimeWait | TcpState::Close))
        );
        match (space.class.holds(port), closing) {
            (false, _) => tally.outside += 1,
            (true, true) => tally.closing += 1,
            (true, false) => tally.held += 1,
        }
        tally.sources.add(flow.orig.src);
    }

    /// The tally of `space`, if any entry was in it.
    pub fn get(&self, space: &PortSpace) -> Option<&PortTally> {
        self.spaces.get(space)
    }

    /// How many spaces have entries.
    pub fn len(&self) -> usize {
        self.spaces.len()
    }

    /// True when no entry was source-NATed.
    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }

    /// Every space with its tally, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&PortSpace, &PortTally)> {
        self.spaces.iter()
    }

    /// How many spaces hold at least `percent` of their ports.
    pub fn at_least(&self, percent: f64) -> usize {
        self.iter()
            .filter(|(space, tally)| share(tally.held, space.class.size()) >= percent)
            .count()
    }
}

impl Merge for SnatPorts {
    fn merge(&mut self, other: Self) {
        for (space, theirs) in other.spaces {
            let mine = self.spaces.entry(space).or_default();
            mine.held += theirs.held;
            mine.closing += theirs.closing;
            mine.outside += theirs.outside;
            mine.sources.merge(theirs.sources);
        }
    }
}

/// `part` in percent of `whole`, unrounded.
fn share(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole as f64
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
    /// The original sources, when there are at most [`FEW`] (in address
    /// order); empty when there are more (`more_sources`).
    pub sources: Vec<String>,
    /// More than [`FEW`] original sources.
    pub more_sources: bool,
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
    /// `held` in percent of `ports`.
    pub percent: f64,
}

impl PortUse {
    /// `sources` as people read it: the addresses, or "more than 4".
    pub fn sources_text(&self) -> String {
        if self.more_sources {
            format!("more than {FEW}")
        } else {
            self.sources.join(", ")
        }
    }
}

/// The `top` fullest spaces (all when `top` is 0), fullest first (by the
/// share of their ports held, then entries, then the space).
pub fn port_use(spaces: &SnatPorts, top: usize) -> Vec<PortUse> {
    let mut all: Vec<(&PortSpace, &PortTally)> = spaces.iter().collect();
    // `a` fuller than `b`: a.held / a.size > b.held / b.size, in integers.
    let fuller = |a: &(&PortSpace, &PortTally), b: &(&PortSpace, &PortTally)| {
        let a_share = u128::from(a.1.held) * u128::from(b.0.class.size());
        let b_share = u128::from(b.1.held) * u128::from(a.0.class.size());
        let entries = |t: &PortTally| t.held + t.closing + t.outside;
        b_share
            .cmp(&a_share)
            .then_with(|| entries(b.1).cmp(&entries(a.1)))
            .then_with(|| a.0.cmp(b.0))
    };
    if top > 0 && top < all.len() {
        all.select_nth_unstable_by(top - 1, fuller);
        all.truncate(top);
    }
    all.sort_unstable_by(fuller);
    all.into_iter()
        .map(|(space, tally)| {
            let (first_port, last_port) = space.class.ports();
            let (sources, more_sources) = match &tally.sources {
                Addresses::Few(addrs) => (addrs.iter().map(IpAddr::to_string).collect(), false),
                Addresses::Many => (Vec::new(), true),
            };
            PortUse {
                protocol: space.protocol.name(),
                translated: space.translated.to_string(),
                peer: space.peer.to_string(),
                zone: space.zone,
                sources,
                more_sources,
                entries: tally.held + tally.closing + tally.outside,
                held: tally.held,
                closing: tally.closing,
                outside: tally.outside,
                first_port,
                last_port,
                ports: space.class.size(),
                percent: super::percent(tally.held, space.class.size()),
            }
        })
        .collect()
}

/// The counters of the statistics that bear on NAT's port search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchCounters {
    /// `insert_failed`, when the statistics have it.
    pub insert_failed: Option<u64>,
    /// `found`: lookups that met a tuple in use, NAT's port tries among them.
    pub found: Option<u64>,
}

/// The finding on the fullest space, when it holds at least
/// [`CROWDED_PERCENT`] of its ports. `fullest` is the first row of
/// [`port_use`]; `crowded` how many spaces in all hold that much
/// ([`SnatPorts::at_least`]).
pub fn finding(fullest: &PortUse, crowded: usize, stats: SearchCounters) -> Option<String> {
    if fullest.percent < CROWDED_PERCENT {
        return None;
    }
    let group = super::group;
    let zone = match fullest.zone {
        0 => String::new(),
        zone => format!(" in zone {zone}"),
    };
    let sources = match (fullest.more_sources, fullest.sources.as_slice()) {
        (true, _) => format!("from more than {FEW} sources"),
        (false, [one]) => format!("all from {one}"),
        (false, few) => format!("from {} sources", few.len()),
    };
    let mut text = format!(
        "{} {} entries source-NATed to {} toward {}{zone} ({sources}) hold {} of the {} ports NAT picks from ({}-{}, unless the rule gives a port range).",
        group(fullest.held),
        fullest.protocol,
        fullest.translated,
        fullest.peer,
        super::pct(fullest.percent),
        group(fullest.ports),
        fullest.first_port,
        fullest.last_port,
    );
    if fullest.closing > 0 {
        text.push_str(&format!(
            " Not counted: {} in TIME_WAIT or CLOSE, whose ports kernels since 6.5 give to a new connection (older ones wait for them to expire: with them, {}).",
            group(fullest.closing),
            super::share(fullest.held + fullest.closing, fullest.ports),
        ));
    }
    if fullest.outside > 0 {
        text.push_str(&format!(
            " {} more have ports outside that range: if the rule gives a port range, the share is of that range instead.",
            group(fullest.outside),
        ));
    }
    if fullest.percent >= FULL_PERCENT {
        text.push_str(" NAT tries up to some 240 of them from random places before it gives up (older kernels try them all): with this few free, a new connection toward that peer may find none; then its insertion fails and its packet is dropped (counted in insert_failed");
        if let Some(failed) = stats.insert_failed {
            text.push_str(&format!(": {} in the statistics", group(failed)));
        }
        if let Some(found) = stats.found.filter(|&n| n > 0) {
            text.push_str(&format!(
                "; found = {}: the ports in use NAT's searches and other lookups met",
                group(found)
            ));
        }
        text.push_str(").");
    } else {
        text.push_str(" NAT tries up to some 240 ports, from random places, so it still finds a free one; failures start as the space nears full.");
    }
    let classes_small = fullest.ports < PortClass::Unprivileged.size();
    if classes_small {
        text.push_str(" A port range in the rule (`masquerade to :1024-65535`, `snat to ADDRESS:1024-65535`) gives these connections 64,512 ports, unless the peer needs a source port below 1024.");
    }
    let single = match (fullest.more_sources, fullest.sources.as_slice()) {
        (false, [one]) => format!(" (these all come from {one})"),
        _ => String::new(),
    };
    text.push_str(&format!(
        " More addresses to translate to (`snat to` an address range instead of masquerade, or a wider range) spread the sources over them; the kernel keeps each source's connections to one peer on one address, so they do not help one source's own connections{single}."
    ));
    match crowded.saturating_sub(1) {
        0 => {}
        1 => text.push_str(
            " One more space holds at least half of its ports (the SNAT source ports table).",
        ),
        n => text.push_str(&format!(
            " {} more spaces hold at least half of their ports (the SNAT source ports table).",
            group(n as u64)
        )),
    }
    Some(text)
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
            let t = counted
                .get(&space(class, zone))
                .cloned()
                .unwrap_or_default();
            (t.held, t.closing, t.outside)
        };
        assert_eq!(tally(PortClass::Unprivileged, 0), (3, 2, 0));
        assert_eq!(tally(PortClass::Low, 0), (1, 0, 1));
        assert_eq!(tally(PortClass::Unprivileged, 7), (2, 0, 0));
        assert_eq!(counted.len(), 3);
        let sources = &counted.get(&space(PortClass::Low, 0)).unwrap().sources;
        assert_eq!(
            sources,
            &Addresses::Few(vec![
                "10.0.0.3".parse().unwrap(),
                "10.0.0.6".parse().unwrap()
            ])
        );
    }

    #[test]
    fn the_fullest_space_first_by_its_held_ports() {
        let mut dump = String::new();
        // 500 of 511 low ports (97.8 %), all from one source, plus 20
        // closing; 1,000 of 64,512 high ones (1.6 %).
        for i in 0..500 {
            dump.push_str(&established(("10.0.0.1", 1 + i), ("192.0.2.1", 1 + i)));
        }
        for i in 0..10 {
            dump.push_str(&entry(
                "TIME_WAIT",
                ("10.0.0.1", 501 + i),
                ("192.0.2.1", 501 + i),
                "",
            ));
        }
        for i in 0..1000 {
            dump.push_str(&established(("10.0.0.2", 40000), ("192.0.2.1", 2000 + i)));
        }
        let spaces = spaces(&dump);
        let rows = port_use(&spaces, 0);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.entries, r.held, r.closing, r.ports, r.percent))
            .collect();
        assert_eq!(
            summary,
            [(510, 500, 10, 511, 97.85), (1000, 1000, 0, 64512, 1.55)]
        );
        assert_eq!(
            (rows[0].peer.as_str(), rows[0].sources_text()),
            ("198.51.100.2:443", "10.0.0.1".to_owned())
        );
        // The top 1 is the fullest, not the one with most entries.
        assert_eq!(port_use(&spaces, 1)[0].entries, 510);
        assert_eq!(
            (spaces.at_least(CROWDED_PERCENT), spaces.at_least(1.0)),
            (1, 2)
        );

        let stats = SearchCounters {
            insert_failed: Some(12),
            found: Some(3000),
        };
        let text = finding(&rows[0], 1, stats).unwrap();
        for part in [
            "500 tcp entries source-NATed to 192.0.2.1 toward 198.51.100.2:443 (all from 10.0.0.1) hold 97.8% of the 511 ports NAT picks from (1-511, ",
            "Not counted: 10 in TIME_WAIT or CLOSE, whose ports kernels since 6.5 give to a new connection (older ones wait for them to expire: with them, 99.8%).",
            "(counted in insert_failed: 12 in the statistics; found = 3,000: ",
            "A port range in the rule (`masquerade to :1024-65535`",
            "so they do not help one source's own connections (these all come from 10.0.0.1).",
        ] {
            assert!(text.contains(part), "{part}\n{text}");
        }
        assert!(!text.contains("more space"), "{text}");
        // Crowded, not full: no drop is predicted.
        let mut crowded = rows[0].clone();
        crowded.held = 300;
        crowded.percent = percent_of(300, 511);
        let text = finding(&crowded, 3, SearchCounters::default()).unwrap();
        assert!(text.contains("so it still finds a free one"), "{text}");
        assert!(!text.contains("insert_failed"), "{text}");
        assert!(text.contains(" 2 more spaces hold at least half"), "{text}");
        // Under half held: no finding.
        assert_eq!(finding(&rows[1], 0, stats), None);
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
            let finding = d.findings.iter().find(|f| f.contains("source-NATed to"));
            assert!(
                finding.is_some_and(|f| f.contains(" 2 more spaces hold at least half")),
                "top {top}: {finding:?}"
            );
        }
    }

    fn percent_of(part: u64, whole: u64) -> f64 {
        crate::doctor::percent(part, whole)
    }
}
