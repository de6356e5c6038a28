//! Half-open TCP handshakes from many sources: the pattern of a SYN flood,
//! which fills a table of any size.
//!
//! Each SYN a host tracks makes an entry that waits for the handshake's
//! end: `SYN_SENT` until an answer comes back through the host, then
//! `SYN_RECV` until the client's final ACK (`tcp_timeout_syn_sent`, 120 s
//! by default, and `tcp_timeout_syn_recv`, 60 s). Real handshakes leave
//! those states within a round trip, so a table most of whose entries are
//! in them, spread over many sources, is being filled by SYNs that never
//! finish: sources that are spoofed (the answers go to addresses that
//! never asked) or many hosts sending SYNs only. One source doing that is
//! named by the top source's own finding and recommendation instead.

use std::net::IpAddr;

use ctparse::{Protocol, TcpState};
use serde::Serialize;

use super::{Recommendation, group, share};
use crate::Summary;

/// The share of the table (percent) half-open entries must reach.
pub const HALF_OPEN: f64 = 50.0;

/// The share of the table (percent) no source may reach for the half-open
/// entries to be a flood from many sources (with fewer, the top source's
/// own finding speaks).
pub const SPREAD: f64 = 5.0;

/// The half-open TCP entries of a table, when they are the pattern of a
/// flood: at least [`HALF_OPEN`] percent of it, with no source holding
/// [`SPREAD`] percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HalfOpen {
    /// Entries in `SYN_SENT` (a SYN, no answer seen yet) or `SYN_SENT2`
    /// (SYNs seen from both sides).
    pub syn_sent: u64,
    /// Entries in `SYN_RECV` (answered; the final ACK not seen).
    pub syn_recv: u64,
    /// The entries of the table.
    pub entries: u64,
    /// The sources of the table's entries.
    pub sources: u64,
    /// The entries of the busiest source.
    pub top_source: u64,
    /// The busiest TCP destination port, when it holds at least half as
    /// many entries as are half-open: the service flooded.
    pub port: Option<FloodedPort>,
    /// The busiest destination address, when it holds at least half as
    /// many entries as are half-open.
    pub address: Option<IpAddr>,
    /// Entries destination-NATed from that port (on any address): SYNs
    /// to it are translated before they reach a server.
    pub dnat: u64,
    /// The server behind this host that the flooded address and port are
    /// destination-NATed to most often, when its entries (of any state)
    /// are at least half as many as the SYN_SENT ones: then it is where
    /// the unanswered SYNs may go. (A REDIRECT to a port of this host
    /// names this host.)
    pub backend: Option<Backend>,
}

/// A server a flooded port is destination-NATed to, with the entries
/// translated to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// Its address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// The entries of the flooded port translated to it.
    pub entries: u64,
}

/// A TCP destination port and its entries (of every state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FloodedPort {
    /// The port.
    pub port: u16,
    /// Its entries.
    pub entries: u64,
}

impl HalfOpen {
    /// The half-open entries of `summary`, if they are the pattern.
    pub fn of(summary: &Summary) -> Option<HalfOpen> {
        let entries = summary.totals.matched;
        let tcp = |state: TcpState| summary.states.tcp[state as usize];
        let syn_sent = tcp(TcpState::SynSent) + tcp(TcpState::SynSent2);
        let syn_recv = tcp(TcpState::SynRecv);
        let half = syn_sent + syn_recv;
        // The count alone: no ranking of (in a flood) millions of sources.
        let top_source = summary.sources.iter().map(|(_, n)| n).max().unwrap_or(0);
        if entries == 0
            || super::percent(half, entries) < HALF_OPEN
            || super::percent(top_source, entries) >= SPREAD
        {
            return None;
        }
        let port = summary
            .destination_ports
            .iter()
            .filter(|((protocol, _), _)| *protocol == Protocol::TCP)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(&(_, port), entries)| FloodedPort { port, entries })
            .filter(|p| p.entries * 2 >= half);
        let address = summary
            .destinations
            .top(1)
            .first()
            .filter(|&&(_, n)| n * 2 >= half)
            .map(|&(address, _)| address);
        // The port's DNAT pairs: how many (on any address), and the
        // servers the flooded address's go to.
        let mut dnat = 0;
        let mut servers: std::collections::HashMap<(IpAddr, u16), u64> = Default::default();
        if let Some(p) = port {
            for (key, entries) in summary.dnat.iter() {
                if key.protocol != Protocol::TCP || key.original.port != Some(p.port) {
                    continue;
                }
                crate::merge::add_count(&mut dnat, entries);
                if Some(key.original.addr) == address {
                    let server = (key.translated.addr, key.translated.port.unwrap_or(p.port));
                    crate::merge::add_count(servers.entry(server).or_default(), entries);
                }
            }
        }
        // The busiest (on a tie, the lowest address and port), when it
        // could hold most of the unanswered SYNs.
        let backend = servers
            .into_iter()
            .max_by_key(|&(server, entries)| (entries, std::cmp::Reverse(server)))
            .map(|((address, port), entries)| Backend {
                address,
                port,
                entries,
            })
            .filter(|b| b.entries.saturating_mul(2) >= syn_sent);
        Some(HalfOpen {
            syn_sent,
            syn_recv,
            entries,
            sources: summary.sources.len() as u64,
            top_source,
            port,
            address,
            dnat,
            backend,
        })
    }

    /// The half-open entries.
    pub fn half_open(&self) -> u64 {
        self.syn_sent + self.syn_recv
    }

    /// Most were answered: the handshakes stop at the client's ACK, the
    /// mark of spoofed sources.
    pub fn answered(&self) -> bool {
        self.syn_recv >= self.syn_sent
    }

    /// The finding: how many, from how many sources, and what it looks
    /// like.
    pub fn finding(&self) -> String {
        let half = self.half_open();
        let port = match self.port {
            Some(FloodedPort { port, entries }) => format!(
                "; the busiest TCP destination port is {port}, with {}",
                super::entries(entries)
            ),
            None => String::new(),
        };
        let pattern = if self.answered() {
            "Most were answered, and the clients never finished them: the pattern of a SYN flood from spoofed sources (the answers go to addresses that never asked) or from many hosts"
        } else {
            "Most got no answer through this host: a server that does not answer (down, or a listener whose accept queue is full, or whose SYN queue is full with net.ipv4.tcp_syncookies = 0: the kernel then drops SYNs silently), SYNs dropped after they left this host, or answers that take another path (asymmetric routing: conntrack sees one direction only)"
        };
        // SYNPROXY's rules here are for this host's own services: say why
        // there are none for a port NATed to servers behind it.
        let nated = if self.dnat > 0 {
            format!(
                " {} to that port are destination-NATed to servers behind this host: untracked SYNs are not translated, so SYNPROXY here would open the connections it lets through to the address the clients used, not to a server; the doctor writes no rules for it (SYNPROXY on the servers themselves works as for a service of this host).",
                super::entries(self.dnat)
            )
        } else {
            String::new()
        };
        format!(
            "{} ({}) are TCP handshakes that never completed ({} SYN_RECV, {} SYN_SENT), from {} sources, none with more than {} ({}){port}. {pattern}. No table size outlasts a flood.{nated}",
            super::entries(half),
            share(half, self.entries),
            group(self.syn_recv),
            group(self.syn_sent),
            group(self.sources),
            group(self.top_source),
            share(self.top_source, self.entries),
        )
    }
}

/// The command that prints `address` when it is one of this host's (`ip
/// -br addr` lists each as `address/prefix` after a space; `grep -w`
/// would also match a longer IPv6 address that starts with it).
fn is_local(address: IpAddr) -> String {
    format!("ip -br addr | grep -F ' {address}/'")
}

/// SYNPROXY against a flood of answered SYNs to one address and port,
/// when the table is under pressure: it answers SYNs itself, with
/// syncookies, and lets a connection through (making its entry) only once
/// the client completes the handshake. The same rules in hooks input and
/// forward serve a service of this host and a server it routes to. None
/// for unanswered SYNs (the answer may be missing for reasons SYNPROXY
/// does not change), for a
/// flood of no one address and port (rules for a whole port would take
/// this host's own and forwarded connections to it too), and for a port
/// destination-NATed (untracked SYNs are not translated: they would reach
/// this host instead of the server).
pub fn recommendation(flood: &HalfOpen) -> Option<Recommendation> {
    let (Some(FloodedPort { port, .. }), Some(address)) = (flood.port, flood.address) else {
        return None;
    };
    if !flood.answered() || flood.dnat > 0 {
        return None;
    }
    let (ip, mss) = match address {
        IpAddr::V4(_) => ("ip", 1460),
        IpAddr::V6(_) => ("ip6", 1440),
    };
    let matched = format!("{ip} daddr {address} tcp dport {port}");
    let half = flood.half_open();
    Some(Recommendation {
        id: "syn-flood",
        title: format!("Keep the SYN flood to {address} port {port} out of the table"),
        rationale: format!(
            "{} ({}) are handshakes answered but never completed, from {} sources. Every SYN makes an entry that waits for the client's ACK (tcp_timeout_syn_recv, 60 s by default), so a flood fills any limit; they are not ASSURED, so when the table is full early drop evicts them first, and real clients' new connections compete with the flood for their room. SYNPROXY answers the SYNs itself with syncookies, makes no entry for them, and lets a connection reach the service (and the table) only when its client completes the handshake: spoofed sources never do. The rules serve {address} whether it is this host's (its packets go through hook input) or a server behind it that it routes to without NAT (hook forward): each packet takes one of the two chains, which hold the same rules. Before the rules: the first commands check whether {address} is this host's, that the filter does not drop untracked SYNs or invalid ACKs before SYNPROXY takes them (its chains run at priority filter - 10, before chains at filter), and read the server's MSS (advmss) and window scale (wscale's second number) from its connections, for the rules' mss and wscale (wrong values cost the connections throughput; for a server behind this host, run that `ss` on the server, whose own options the rules must match). For a server behind this host, its answers must come back through this host, and SYNPROXY sends its own packets to the server from this host (through hook output: a policy drop there stops them). nf_conntrack_tcp_loose = 0 lets the clients' ACKs reach SYNPROXY; it holds for the whole namespace: a connection whose entry is deleted or flushed is then no longer picked up again and breaks. The last lines check it works and undo it. The NOTRACK candidate of this port, if any, is an alternative, not an addition: SYNPROXY needs the connections it lets through tracked, so it is left out of the NOTRACK recommendation. A shorter tcp_timeout_syn_recv (where the what-if shows relief) shrinks what each SYN holds; a flood larger than the link needs filtering upstream.",
            super::entries(half),
            share(half, flood.entries),
            group(flood.sources),
        ),
        commands: [
            "conntrack -L -p tcp --state SYN_RECV | ctreport summary -n 5 -".to_owned(),
            is_local(address),
            "nft list ruleset | grep -nE 'ct state|policy drop'".to_owned(),
            format!("ss -tni state established '( sport = :{port} )' | grep -oE 'advmss:[0-9]+|wscale:[0-9]+,[0-9]+' | sort | uniq -c"),
            format!("# SYNPROXY for {address} port {port} (nft; set mss and wscale to the server's first):"),
            "# sysctl -w net.ipv4.tcp_syncookies=1 net.ipv4.tcp_timestamps=1 net.netfilter.nf_conntrack_tcp_loose=0".to_owned(),
            // `synproxy` is a keyword of nft: not a table's name.
            "# nft add table inet syn_proxy".to_owned(),
            "# nft add chain inet syn_proxy prerouting '{ type filter hook prerouting priority raw; policy accept; }'".to_owned(),
            // SYNs only (ECN's flags allowed): not the server's SYN-ACKs.
            format!("# nft add rule inet syn_proxy prerouting {matched} 'tcp flags & (fin|syn|rst|ack) == syn' notrack"),
        ]
        .into_iter()
        // The same chain and rules for this host's services (input) and
        // the servers it routes to (forward).
        .chain(["input", "forward"].into_iter().flat_map(|hook| {
            [
                format!("# nft add chain inet syn_proxy {hook} '{{ type filter hook {hook} priority filter - 10; policy accept; }}'"),
                format!("# nft add rule inet syn_proxy {hook} {matched} ct state invalid,untracked synproxy mss {mss} wscale 7 timestamp sack-perm"),
                format!("# nft add rule inet syn_proxy {hook} {matched} ct state invalid drop"),
            ]
        }))
        .chain([
            "# then: cat /proc/net/stat/synproxy   # cookie_valid grows as clients complete their handshakes".to_owned(),
            "# to undo: nft delete table inet syn_proxy; sysctl -w net.netfilter.nf_conntrack_tcp_loose=1".to_owned(),
        ])
        .collect(),
    })
}

/// The checks for a flood of unanswered SYNs to one address and port,
/// when the table is under pressure: SYN_SENT entries are SYNs that went
/// through this host (to a local socket or on toward a server) with no
/// answer seen, so the cause is where they went, and no rule here removes
/// it. For a local address, a listener that drops SYNs (its accept queue
/// full, or its SYN queue full without syncookies: the kernel answers a
/// port without one with a reset, which is an answer) or answers with no
/// route back; for a forwarded one, or the server most of them are
/// destination-NATed to ([`HalfOpen::backend`]), a server that does not
/// answer, or answers that are lost on the way or take another path.
/// None for a flood of no one address and port.
pub fn unanswered(flood: &HalfOpen) -> Option<Recommendation> {
    let (Some(FloodedPort { port, .. }), Some(address)) = (flood.port, flood.address) else {
        return None;
    };
    if flood.answered() {
        return None;
    }
    let mut rationale = format!(
        "{} ({}) are handshakes whose SYN got no answer through this host (SYN_SENT), from {} sources. Each entry waits for one (tcp_timeout_syn_sent, 120 s by default; a retransmitted SYN restarts its timer), and every new connection adds one, so they fill a table of any size; they are not ASSURED, so when it is full early drop evicts them first, and new connections compete with them for room. An entry is only kept for a SYN this host delivered or forwarded (one its own filter drops makes none), so the cause is where the SYNs went, not a rule here. ",
        super::entries(flood.syn_sent),
        share(flood.syn_sent, flood.entries),
        group(flood.sources),
    );
    // What the capture of answers tells, for the address they come from.
    let answers = |from: &str| {
        format!(
            "tcpdump shows, for ten seconds, whether answers from {from} (SYN-ACKs, flags [S.]) reach this host at all: none is a server that is down or does not answer, a filter on the way, or answers that go back another way (asymmetric routing); answers shown while the entries stay SYN_SENT are dropped or untracked before conntrack sees them (raw or ingress rules), or found invalid by it (`conntrack -S`: invalid)."
        )
    };
    let conntrack =
        format!("conntrack -L -p tcp --state SYN_SENT --dport {port} | ctreport summary -n 5 -");
    let (title, commands) = match flood.backend {
        Some(Backend {
            address: server,
            port: server_port,
            entries,
        }) => {
            rationale.push_str(&format!(
                "{} to {address} port {port} are destination-NATed to {server} port {server_port}: that server, or the path to it and back, does not answer. The commands show the entries, the route the SYNs leave by, and {} On the server, `ss -ltn` shows whether its listener's accept queue is full (Recv-Q above Send-Q). ",
                super::entries(entries),
                answers(&format!("{server} port {server_port}")),
            ));
            (
                format!(
                    "Find why SYNs to {address} port {port} (NATed to {server} port {server_port}) get no answer"
                ),
                vec![
                    conntrack,
                    format!("ip route get {server}"),
                    format!(
                        "timeout 10 tcpdump -ni any -c 20 'src host {server} and tcp src port {server_port}'"
                    ),
                ],
            )
        }
        None => {
            rationale.push_str(&format!(
                "The first commands show the entries and whether {address} is this host's. If it is, a socket listens on port {port} and drops the SYNs (without one, the kernel answers with a reset, which is an answer), or its answers find no route back (`ip route get` one of the sources the first command lists). A listener drops SYNs when its accept queue is full (`ss -ltn`: Recv-Q above its Send-Q, the backlog; nstat's ListenOverflows grows): the service does not accept connections as fast as they come, and needs more workers or a larger backlog (listen()'s, capped by net.core.somaxconn); or, with net.ipv4.tcp_syncookies = 0, when its SYN queue is full or nearly (TCPReqQFullDrop grows, or ListenDrops grows faster than ListenOverflows): then syncookies, the commented line, answer the SYNs without queueing them. nstat prints the counters since boot: run it twice, a few seconds apart. If {address} is not this host's, the SYNs are forwarded: the route shows where they leave, and {} ",
                answers(&format!("{address} port {port}")),
            ));
            (
                format!("Find why SYNs to {address} port {port} get no answer"),
                vec![
                    conntrack,
                    is_local(address),
                    format!("ss -ltn '( sport = :{port} )'"),
                    "nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtTCPReqQFullDrop TcpExtTCPReqQFullDoCookies".to_owned(),
                    "sysctl net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog net.core.somaxconn".to_owned(),
                    format!("ip route get {address}"),
                    format!("timeout 10 tcpdump -ni any -c 20 'src host {address} and tcp src port {port}'"),
                    "# only where tcp_syncookies is 0 and TCPReqQFullDrop grows, or ListenDrops faster than ListenOverflows:".to_owned(),
                    "# sysctl -w net.ipv4.tcp_syncookies=1".to_owned(),
                ],
            )
        }
    };
    rationale.push_str(
        "A shorter tcp_timeout_syn_sent (where the what-if shows relief) shrinks what each unanswered SYN holds.",
    );
    Some(Recommendation {
        id: "unanswered-syns",
        title,
        rationale,
        commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Breakdown, Doctor};

    /// `half` TCP handshakes in `state` to 198.51.100.2:443, from `sources`
    /// addresses in turn, and `rest` ESTABLISHED connections from 250
    /// addresses in turn.
    fn dump(half: u32, state: &str, sources: u32, rest: u32) -> String {
        let unreplied = if state == "SYN_SENT" {
            " [UNREPLIED]"
        } else {
            ""
        };
        let mut dump = String::new();
        for i in 0..half {
            let src = format!("198.18.{}.{}", (i % sources) / 250, (i % sources) % 250 + 1);
            let port = 1024 + i % 60_000;
            dump.push_str(&format!(
                "ipv4     2 tcp      6 50 {state} src={src} dst=198.51.100.2 sport={port} dport=443{unreplied} src=198.51.100.2 dst={src} sport=443 dport={port} mark=0 use=1\n"
            ));
        }
        for i in 0..rest {
            dump.push_str(&established(&format!("203.0.113.{}", i % 250 + 1), i));
        }
        dump
    }

    /// An ESTABLISHED connection from `src`, the `i`th.
    fn established(src: &str, i: u32) -> String {
        format!(
            "ipv4     2 tcp      6 400000 ESTABLISHED src={src} dst=198.51.100.3 sport={} dport=22 src=198.51.100.3 dst={src} sport=22 dport={} [ASSURED] mark=0 use=1\n",
            30_000 + i,
            30_000 + i
        )
    }

    fn summary(dump: &str) -> Summary {
        crate::Analyzer::new()
            .threads(1)
            .analyze_bytes(dump.as_bytes())
    }

    /// The doctor's diagnosis of `dump`, with `max` as nf_conntrack_max.
    fn diagnosed(dump: &str, max: Option<u64>) -> crate::doctor::Diagnosis {
        let breakdown = Breakdown::from_bytes(dump.as_bytes());
        Doctor::new()
            .max(max)
            .diagnose(&summary(dump), &breakdown, None, None)
    }

    fn of(dump: &str) -> Option<HalfOpen> {
        HalfOpen::of(&summary(dump))
    }

    #[test]
    fn answered_handshakes_from_many_sources_are_a_flood() {
        let flood = of(&dump(600, "SYN_RECV", 300, 400)).unwrap();
        assert_eq!(
            (
                flood.syn_recv,
                flood.syn_sent,
                flood.sources,
                flood.top_source,
                flood.port
            ),
            (
                600,
                0,
                550,
                2,
                Some(FloodedPort {
                    port: 443,
                    entries: 600
                })
            )
        );
        assert!(flood.answered());
        let text = flood.finding();
        assert!(
            text.starts_with("600 entries (60.0%) are TCP handshakes that never completed (600 SYN_RECV, 0 SYN_SENT), from 550 sources, none with more than 2 (0.2%); the busiest TCP destination port is 443, with 600 entries. Most were answered"),
            "{text}"
        );
        let r = recommendation(&flood).unwrap();
        assert_eq!(
            r.title,
            "Keep the SYN flood to 198.51.100.2 port 443 out of the table"
        );
        // Scoped to the address and port, the address checked first.
        let rules: Vec<&str> = r
            .commands
            .iter()
            .map(String::as_str)
            .filter(|c| c.contains(" syn_proxy ") && c.contains(" rule "))
            .collect();
        assert_eq!(
            rules,
            [
                "# nft add rule inet syn_proxy prerouting ip daddr 198.51.100.2 tcp dport 443 'tcp flags & (fin|syn|rst|ack) == syn' notrack",
                "# nft add rule inet syn_proxy input ip daddr 198.51.100.2 tcp dport 443 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm",
                "# nft add rule inet syn_proxy input ip daddr 198.51.100.2 tcp dport 443 ct state invalid drop",
                "# nft add rule inet syn_proxy forward ip daddr 198.51.100.2 tcp dport 443 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm",
                "# nft add rule inet syn_proxy forward ip daddr 198.51.100.2 tcp dport 443 ct state invalid drop",
            ]
        );
        assert!(
            r.commands
                .contains(&"ip -br addr | grep -F ' 198.51.100.2/'".to_owned())
        );
        assert!(r.rationale.contains("it holds for the whole namespace"));
    }

    #[test]
    fn the_pattern_needs_half_the_table_and_no_source_holding_five_percent() {
        // 49.9% half-open: not the pattern; 50% is.
        assert!(of(&dump(499, "SYN_RECV", 499, 501)).is_none());
        assert!(of(&dump(500, "SYN_RECV", 500, 500)).is_some());
        // One source with 5% of the table: its own finding speaks.
        let heavy = |n: u32| -> String {
            dump(1000, "SYN_RECV", 500, 0)
                + &(0..n)
                    .map(|i| established("192.0.2.7", i))
                    .collect::<String>()
        };
        assert!(of(&heavy(52)).is_some()); // 4.94%
        assert!(of(&heavy(53)).is_none()); // 5.03%
        // Few sources: each holds 10%.
        assert!(of(&dump(1000, "SYN_RECV", 10, 0)).is_none());
    }

    #[test]
    fn no_synproxy_for_a_port_destination_nated_or_no_one_address() {
        // The same flood, DNATed to a server behind this host: untracked
        // SYNs would not be translated.
        let dnat = dump(600, "SYN_RECV", 300, 400)
            .replace("src=198.51.100.2 dst=198.18.", "src=192.0.2.80 dst=198.18.");
        let flood = of(&dnat).unwrap();
        assert_eq!(flood.dnat, 600);
        assert_eq!(recommendation(&flood), None);
        assert!(
            flood.finding().ends_with(" 600 entries to that port are destination-NATed to servers behind this host: untracked SYNs are not translated, so SYNPROXY here would open the connections it lets through to the address the clients used, not to a server; the doctor writes no rules for it (SYNPROXY on the servers themselves works as for a service of this host)."),
            "{}",
            flood.finding()
        );
        // Without NAT, not a word of it.
        assert!(
            !of(&dump(600, "SYN_RECV", 300, 400))
                .unwrap()
                .finding()
                .contains("destination-NATed")
        );
        // Spread over many addresses: no rule for the port alone.
        let mut spread = of(&dump(600, "SYN_RECV", 300, 400)).unwrap();
        spread.address = None;
        assert_eq!(recommendation(&spread), None);
    }

    #[test]
    fn an_ipv6_flood_gets_ip6_rules_with_its_own_mss() {
        let v6: String = (1..=300u32)
            .map(|i| {
                format!(
                    "ipv6     10 tcp      6 50 SYN_RECV src=2001:db8:1::{i:x} dst=2001:db8::2 sport={p} dport=443 src=2001:db8::2 dst=2001:db8:1::{i:x} sport=443 dport={p} mark=0 use=1\n",
                    p = 1024 + i
                )
            })
            .collect();
        let r = recommendation(&of(&v6).unwrap()).unwrap();
        assert!(
            r.commands.iter().any(|c| c.ends_with(
                "ip6 daddr 2001:db8::2 tcp dport 443 ct state invalid,untracked synproxy mss 1440 wscale 7 timestamp sack-perm"
            )),
            "{:?}",
            r.commands
        );
    }

    #[test]
    fn unanswered_handshakes_get_checks_not_synproxy() {
        let flood = of(&dump(600, "SYN_SENT", 300, 0)).unwrap();
        assert!(!flood.answered());
        assert!(
            flood
                .finding()
                .contains("Most got no answer through this host")
        );
        assert_eq!(recommendation(&flood), None);
        let r = unanswered(&flood).unwrap();
        assert_eq!(r.id, "unanswered-syns");
        assert_eq!(
            r.title,
            "Find why SYNs to 198.51.100.2 port 443 get no answer"
        );
        assert!(
            r.rationale
                .starts_with("600 entries (100.0%) are handshakes whose SYN got no answer through this host (SYN_SENT), from 300 sources."),
            "{}",
            r.rationale
        );
        // The listener of that port and the counters of its drops, the
        // way out and back: commands to run, not commented.
        for command in [
            "conntrack -L -p tcp --state SYN_SENT --dport 443 | ctreport summary -n 5 -",
            "ip -br addr | grep -F ' 198.51.100.2/'",
            "ss -ltn '( sport = :443 )'",
            "ip route get 198.51.100.2",
            "timeout 10 tcpdump -ni any -c 20 'src host 198.51.100.2 and tcp src port 443'",
        ] {
            assert!(
                r.commands.contains(&command.to_owned()),
                "{command}: {:?}",
                r.commands
            );
        }
        assert!(
            r.commands
                .iter()
                .any(|c| c.starts_with("nstat -az TcpExtListenOverflows"))
        );
        // The one change is conditional, so commented out.
        assert!(
            r.commands
                .contains(&"# sysctl -w net.ipv4.tcp_syncookies=1".to_owned())
        );
        // Answered handshakes get SYNPROXY instead; no one address, nothing.
        assert_eq!(
            unanswered(&of(&dump(600, "SYN_RECV", 300, 0)).unwrap()),
            None
        );
        let mut spread = flood.clone();
        spread.address = None;
        assert_eq!(unanswered(&spread), None);
    }

    #[test]
    fn unanswered_handshakes_to_a_nated_port_name_the_busiest_server() {
        // 400 of the SYNs are translated to 192.0.2.80:8443, 200 to
        // 192.0.2.81:8443: the checks are of the first.
        let dnat = dump(600, "SYN_SENT", 300, 0)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let server = if i % 3 == 2 {
                    "192.0.2.81"
                } else {
                    "192.0.2.80"
                };
                line.replace(
                    "src=198.51.100.2 dst=198.18.",
                    &format!("src={server} dst=198.18."),
                )
                .replace("sport=443 dport=", "sport=8443 dport=")
                    + "\n"
            })
            .collect::<String>();
        let flood = of(&dnat).unwrap();
        assert_eq!(
            (flood.dnat, flood.address),
            (600, "198.51.100.2".parse().ok())
        );
        assert_eq!(
            flood.backend,
            Some(Backend {
                address: "192.0.2.80".parse().unwrap(),
                port: 8443,
                entries: 400
            })
        );
        let r = unanswered(&flood).unwrap();
        assert_eq!(
            r.title,
            "Find why SYNs to 198.51.100.2 port 443 (NATed to 192.0.2.80 port 8443) get no answer"
        );
        assert!(
            r.rationale.contains(
                "400 entries to 198.51.100.2 port 443 are destination-NATed to 192.0.2.80 port 8443: that server"
            ),
            "{}",
            r.rationale
        );
        assert_eq!(
            r.commands[1..],
            [
                "ip route get 192.0.2.80",
                "timeout 10 tcpdump -ni any -c 20 'src host 192.0.2.80 and tcp src port 8443'"
            ]
        );
        // Without NAT, no server behind.
        assert_eq!(of(&dump(600, "SYN_SENT", 300, 0)).unwrap().backend, None);
    }

    #[test]
    fn a_server_behind_is_named_only_for_most_of_the_flooded_address() {
        // `nat` of every `every` SYNs to `original`:443 translated to
        // 192.0.2.80:8443; the others not.
        let nated = |every: usize, nat: usize, original: &str| -> String {
            dump(600, "SYN_SENT", 300, 0)
                .lines()
                .enumerate()
                .map(|(i, line)| {
                    let line = line.replace("198.51.100.2 ", &format!("{original} "));
                    let line = if i % every < nat {
                        line.replace(
                            &format!("src={original} dst=198.18."),
                            "src=192.0.2.80 dst=198.18.",
                        )
                        .replace("sport=443 dport=", "sport=8443 dport=")
                    } else {
                        line
                    };
                    line + "\n"
                })
                .collect()
        };
        // Half: named (300 of 600 SYN_SENT).
        let half = of(&nated(2, 1, "198.51.100.2")).unwrap();
        assert_eq!(
            (half.dnat, half.backend.map(|b| b.entries)),
            (300, Some(300))
        );
        // A third: the SYNs are mostly this host's or forwarded; the local
        // checks stay.
        let third = of(&nated(3, 1, "198.51.100.2")).unwrap();
        assert_eq!((third.dnat, third.backend), (200, None));
        let r = unanswered(&third).unwrap();
        assert_eq!(
            r.title,
            "Find why SYNs to 198.51.100.2 port 443 get no answer"
        );
        assert!(r.commands.iter().any(|c| c.starts_with("ss -ltn")));
        // NAT of the port on another address is not the flooded one's.
        let elsewhere = nated(1, 1, "198.51.100.9") + &dump(700, "SYN_SENT", 350, 0);
        let flood = of(&elsewhere).unwrap();
        assert_eq!(flood.address, "198.51.100.2".parse().ok());
        assert_eq!((flood.dnat, flood.backend), (600, None));
    }

    #[test]
    fn only_the_syn_sent_entries_are_counted_unanswered() {
        let mixed = dump(700, "SYN_SENT", 350, 0) + &dump(300, "SYN_RECV", 350, 0);
        let flood = of(&mixed).unwrap();
        assert_eq!((flood.syn_sent, flood.syn_recv), (700, 300));
        let r = unanswered(&flood).unwrap();
        assert!(
            r.rationale.starts_with(
                "700 entries (70.0%) are handshakes whose SYN got no answer through this host (SYN_SENT), from 350 sources."
            ),
            "{}",
            r.rationale
        );
    }

    #[test]
    fn the_doctor_sends_an_unanswered_flood_to_its_checks() {
        let text = dump(900, "SYN_SENT", 900, 100);
        let d = diagnosed(&text, Some(1000));
        let ids: Vec<&str> = d.recommendations.iter().map(|r| r.id).collect();
        assert_eq!(&ids[..2], ["raise-max", "unanswered-syns"], "{ids:?}");
        assert!(!ids.contains(&"syn-flood"), "{ids:?}");
        assert!(
            d.recommendations[0]
                .rationale
                .contains("see \"Find why SYNs to 198.51.100.2 port 443 get no answer\" below"),
            "{}",
            d.recommendations[0].rationale
        );
        // Port 443 may still be untracked, but that hides the flood.
        let notrack = d.recommendation("notrack").unwrap();
        assert!(
            notrack.rationale.ends_with(" Port 443 is the port of the unanswered SYNs above: untracking it keeps them out of the table, but does not answer them; find out why they get no answer first."),
            "{}",
            notrack.rationale
        );
        // Not under pressure: the finding alone.
        assert!(
            diagnosed(&text, None)
                .recommendation("unanswered-syns")
                .is_none()
        );
    }

    #[test]
    fn the_doctor_names_the_flood_as_what_fills_the_table() {
        let text = dump(900, "SYN_RECV", 900, 100);
        let d = diagnosed(&text, Some(1000));
        assert!(
            d.findings
                .iter()
                .any(|f| f.contains("are TCP handshakes that never completed"))
        );
        let ids: Vec<&str> = d.recommendations.iter().map(|r| r.id).collect();
        assert_eq!(&ids[..2], ["raise-max", "syn-flood"], "{ids:?}");
        assert!(
            d.recommendations[0].rationale.contains(
                "see \"Keep the SYN flood to 198.51.100.2 port 443 out of the table\" below"
            ),
            "{}",
            d.recommendations[0].rationale
        );
        // Port 443 is a NOTRACK candidate, but not recommended beside
        // SYNPROXY; port 22's 10% still is.
        assert!(d.notrack.iter().any(|c| c.count == 900));
        let notrack = d.recommendation("notrack").unwrap();
        assert!(
            !notrack.commands.iter().any(|c| c.contains("dport 443")),
            "{:?}",
            notrack.commands
        );
        assert!(notrack.commands.iter().any(|c| c.contains("dport 22")));
        // The counts behind the finding, for JSON.
        assert_eq!(
            d.composition
                .syn_flood
                .as_ref()
                .map(|f| (f.syn_recv, f.sources)),
            Some((900, 1000))
        );
        // Not under pressure: the finding alone.
        let d = diagnosed(&text, None);
        assert!(
            d.findings
                .iter()
                .any(|f| f.contains("are TCP handshakes that never completed"))
        );
        assert!(d.recommendation("syn-flood").is_none());
    }
}
