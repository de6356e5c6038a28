//! Recommendations: one small rule each, given only when the evidence
//! supports it, each with its rationale (numbers included) and the exact
//! commands.

use serde::Serialize;

use crate::doctor::notrack::{Candidate, Pair, Target};
use crate::doctor::whatif::{Timer, WhatIf};
use crate::doctor::{Fill, Stats, format_bytes, group, pct};
use crate::{Cidr, Networks, Summary};

/// Fill (percent of `nf_conntrack_max`) from which the table counts as full.
pub const FULL: f64 = 90.0;
/// Fill from which the table counts as under pressure.
pub const HIGH: f64 = 75.0;
/// The least share of the table (percent) a shorter timeout must free to
/// be recommended.
pub const MIN_RELIEF: f64 = 10.0;
/// The least share of the table (percent) one source must hold to be
/// called out.
pub const DOMINANT: f64 = 30.0;
/// Entries per bucket at the limit from which [`buckets`] advises more
/// buckets: chains of 4 (each entry is hashed twice), where kernels since
/// 5.15 default to 1 and older ones to 4 or 8.
pub const CHAIN_RATIO: u64 = 2;

/// Bytes per hash bucket (an `hlist_nulls_head`: one pointer, 64-bit).
pub const BUCKET_BYTES: u64 = 8;

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// A stable identifier (`raise-max`, `buckets`, `timeout`, `notrack`,
    /// `dominant-source`, `dominant-network`, `syn-flood`,
    /// `unanswered-syns`, `snat-ports`, `persist`).
    pub id: &'static str,
    /// What to do, in one line.
    pub title: String,
    /// Why, with the numbers that support it, and the caveats.
    pub rationale: String,
    /// The exact commands, one per line; lines starting with `#` are
    /// comments. A command may span lines (a here-document).
    pub commands: Vec<String>,
}

/// How close the table is to its limit, from the evidence there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pressure {
    /// At least [`FULL`] percent of the limit, or `early_drop` counted and
    /// the fill at least [`HIGH`] percent or unknown: the table is full.
    Full,
    /// At least [`HIGH`] percent of the limit.
    High,
    /// `early_drop` counted, but the dump holds less than [`HIGH`] percent:
    /// the table was full at some time since the counters started (boot, or the
    /// namespace's creation), not now. The limit may be raised; what
    /// filled the table then is not in this dump, so no advice on it.
    Past,
    /// Below that.
    Low,
    /// The limit is unknown and the statistics show no early drop; or the
    /// input is a `conntrack -E` capture, whose counts are of events.
    Unknown,
}

impl Pressure {
    /// Full or high: recommendations that cost something are worth it.
    pub fn is_high(self) -> bool {
        matches!(self, Pressure::Full | Pressure::High)
    }
}

/// The rule for pressure: the fill if it is known, and `early_drop > 0`,
/// which the kernel only counts when a namespace's count exceeded the
/// limit, but counts since boot: below [`HIGH`] percent now, it says the
/// table was full once ([`Pressure::Past`]), not what fills it today.
pub fn pressure(fill_percent: Option<f64>, early_drop: Option<u64>) -> Pressure {
    let evicted = early_drop.is_some_and(|n| n > 0);
    match fill_percent {
        Some(p) if p >= FULL => Pressure::Full,
        Some(p) if p >= HIGH && evicted => Pressure::Full,
        Some(p) if p >= HIGH => Pressure::High,
        Some(_) if evicted => Pressure::Past,
        Some(_) => Pressure::Low,
        None if evicted => Pressure::Full,
        None => Pressure::Unknown,
    }
}

/// The limit to suggest: twice the larger of the limit and the entries,
/// rounded up to a power of two.
pub fn suggested_max(max: u64, entries: u64) -> u64 {
    max.max(entries)
        .max(1)
        .saturating_mul(2)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
}

/// Raise `nf_conntrack_max` when the table is (or was) full, judged from
/// the fullest figure known ([`Fill::peak`]): the recommendation, and
/// the limit it sets ([`suggested_max`]). `cause` is the title of the
/// recommendation that names what fills the table, if one does: raising
/// the limit treats the symptom, and the text points there.
pub fn raise_max(
    fill: &Fill,
    stats: Option<&Stats>,
    cause: Option<&str>,
) -> Option<(Recommendation, u64)> {
    let max = fill.max?;
    let early_drop = stats.and_then(|s| s.get("early_drop")).unwrap_or(0);
    let pressure = pressure(fill.peak_percent(), Some(early_drop));
    // Full once, but every eviction found room (no drop): nothing to fix.
    let dropped = stats.and_then(|s| s.get("drop")) != Some(0);
    if !(pressure == Pressure::Full || (pressure == Pressure::Past && dropped)) {
        return None;
    }
    let (peak, what) = fill.peak();
    let new = suggested_max(max, peak);
    let mut why = format!(
        "{what} {} entries, {} of nf_conntrack_max = {}",
        group(peak),
        pct(fill.peak_percent().unwrap_or(0.0)),
        group(max)
    );
    if early_drop > 0 {
        why.push_str(&format!(
            ", and early_drop = {} says the limit was reached (the kernel only evicts when a namespace's count is over it)",
            group(early_drop)
        ));
    }
    why.push_str(&format!(
        ". At the limit, every new connection needs a non-ASSURED entry of the same namespace near its hash bucket to evict; when there is none its packet is dropped (\"nf_conntrack: table full, dropping packet\"). The limit applies to each network namespace's count, is set on the host (read-only in other namespaces, such as a container's, on current kernels), and allocates nothing by itself: {} entries take about {} of kernel memory ({} x {} bytes, extensions not included). Raising it buys headroom{}",
        group(new),
        format_bytes(new.saturating_mul(fill.object_size)),
        group(new),
        fill.object_size,
        match (pressure, cause) {
            (Pressure::Past, _) => " for the next time; what filled the table then is not in this dump.".to_owned(),
            (_, Some(cause)) => format!(", not a cure: see \"{cause}\" below for what fills the table."),
            (_, None) => "; the other findings say what fills the table.".to_owned(),
        }
    ));
    let recommendation = Recommendation {
        id: "raise-max",
        title: format!(
            "Raise nf_conntrack_max from {} to {}",
            group(max),
            group(new)
        ),
        rationale: why,
        commands: vec![format!("sysctl -w net.netfilter.nf_conntrack_max={new}")],
    };
    Some((recommendation, new))
}

/// Set `nf_conntrack_buckets` to the (new) limit when chains were too
/// long (`chaintoolong`) and that adds a quarter or more; or when
/// the limit is at least [`CHAIN_RATIO`] times the buckets and the table
/// is under pressure or the limit is being raised. A resize stalls the
/// table, which a small gain (chains of 3 instead of 2) does not repay.
pub fn buckets(
    fill: &Fill,
    target_max: u64,
    pressure: Pressure,
    stats: Option<&Stats>,
) -> Option<Recommendation> {
    let buckets = fill.buckets?;
    let too_long = stats.and_then(|s| s.get("chaintoolong")).unwrap_or(0);
    let raising = fill.max.is_some_and(|max| target_max > max);
    let crowded = target_max / buckets.max(1) >= CHAIN_RATIO && (pressure.is_high() || raising);
    // Chains were too long: worth a resize that adds a quarter or more.
    let refused = too_long > 0 && target_max >= buckets.saturating_add(buckets / 4);
    if buckets == 0 || buckets >= target_max || !(crowded || refused) {
        return None;
    }
    let chain = 2.0 * target_max as f64 / buckets as f64;
    let mut why = format!(
        "Each entry is hashed twice (original and reply direction), so {} entries in {} buckets make hash chains of {:.1} entries on average; lookups walk them for every packet.",
        group(target_max),
        group(buckets),
        chain
    );
    if too_long > 0 {
        why.push_str(&format!(
            " chaintoolong = {}: inserts were refused because a chain was too long.",
            group(too_long)
        ));
    }
    why.push_str(&format!(
        " Kernels since 5.15 default to as many buckets as nf_conntrack_max (chains of 2 at a full table); older ones defaulted to nf_conntrack_max = 4 x buckets (chains of 8). A bucket costs {} bytes ({} for {}), so matching the limit is cheap. The sysctl resizes the table at once, rehashing every entry with it locked (a stall of packet processing, longer the more entries there are: choose a quiet moment), and is only writable in the initial network namespace (the host, not a container); where it is read-only (kernels before 4.7), the nf_conntrack module parameter hashsize does the same.",
        BUCKET_BYTES,
        format_bytes(target_max.saturating_mul(BUCKET_BYTES)),
        group(target_max)
    ));
    Some(Recommendation {
        id: "buckets",
        title: format!(
            "Set nf_conntrack_buckets from {} to {}",
            group(buckets),
            group(target_max)
        ),
        rationale: why,
        commands: vec![
            format!("sysctl -w net.netfilter.nf_conntrack_buckets={target_max}"),
            "# where that key is read-only (kernels before 4.7):".to_owned(),
            format!("echo {target_max} > /sys/module/nf_conntrack/parameters/hashsize"),
        ],
    })
}

/// Shorten a timeout when the table is under pressure and the what-if says
/// it would free at least [`MIN_RELIEF`] percent of it.
pub fn shorter_timeout(
    what_if: &WhatIf,
    timer: Timer,
    pressure: Pressure,
) -> Option<Recommendation> {
    if !pressure.is_high() || what_if.table_percent < MIN_RELIEF {
        return None;
    }
    let name = what_if.sysctl.trim_start_matches("net.netfilter.");
    let caveat = match timer {
        Timer::Tcp(ctparse::TcpState::Established) => {
            "An idle connection that outlives the timeout loses its entry: if it is NATed it breaks; otherwise conntrack picks it up again with its next packet (nf_conntrack_tcp_loose = 1, the default), as a new connection: a rule that drops new packets that are not SYNs cuts it off. Keep the timeout above the idle time of connections that matter (TCP keepalive starts probing after 7200 s by default)."
        }
        Timer::Tcp(ctparse::TcpState::SynSent | ctparse::TcpState::SynRecv) => {
            "A handshake slower than that is rare; a client that retries its SYN gets a new entry."
        }
        Timer::Tcp(ctparse::TcpState::TimeWait) => {
            "Segments of a closed connection that arrive later than that are no longer matched to it (rules dropping `ct state invalid` drop them)."
        }
        Timer::Tcp(_) => {
            "A closing connection silent for longer loses its entry; its last packets may then match `ct state invalid`."
        }
        Timer::Udp | Timer::UdpStream => {
            "A UDP flow silent for longer gets a new entry with its next packet (and, if NATed, possibly a new mapping)."
        }
        Timer::Icmp | Timer::Icmpv6 => {
            "An echo reply or error later than that is no longer matched to its request (rules dropping `ct state invalid` drop it); ping round trips take well under a second."
        }
        Timer::Generic => {
            "A flow of such a protocol (ESP, OSPF, ...) silent for longer gets a new entry with its next packet (and, if NATed, possibly a new mapping)."
        }
    };
    let state = match timer {
        Timer::Tcp(_) => format!("{} {}", what_if.protocol, what_if.state),
        Timer::Udp => "not-ASSURED UDP".to_owned(),
        Timer::UdpStream => "ASSURED (stream) UDP".to_owned(),
        Timer::Icmp => "ICMP".to_owned(),
        Timer::Icmpv6 => "ICMPv6".to_owned(),
        Timer::Generic => "protocols without a tracker (generic)".to_owned(),
    };
    let configured = match what_if.configured_from {
        super::Origin::TimeLeft => format!(
            "now at least {} s, as the entries' time left shows; without --sysctl the real value is unknown",
            group(what_if.configured)
        ),
        super::Origin::Sysctl | super::Origin::Option => {
            format!("now {} s", group(what_if.configured))
        }
        super::Origin::KernelDefault | super::Origin::Assumed => format!(
            "now {} s, the kernel default, assumed without --sysctl",
            group(what_if.configured)
        ),
    };
    Some(Recommendation {
        id: "timeout",
        title: format!("Shorten {name} to {} s", group(what_if.proposed)),
        rationale: format!(
            "With {name} = {} ({configured}), {} of {} {state} entries ({}) would already be gone: they have been idle in that state for {} s or more (unless some run on a shorter per-flow timeout such as nft's `ct timeout`, or the timeout was raised since their last packet: those look idle longer than they are, and the count is then an upper bound). That is {} of the table. An entry takes the new value with its next packet: idle ones keep the expiry they have, so the table settles within the current timeout. Timeouts belong to each network namespace (a new one starts from the kernel's defaults): set it in the namespace whose table fills. {caveat}",
            what_if.proposed,
            group(what_if.gone),
            group(what_if.entries),
            pct(what_if.percent),
            group(what_if.proposed),
            pct(what_if.table_percent),
        ),
        commands: vec![format!("sysctl -w {}={}", what_if.sysctl, what_if.proposed)],
    })
}

/// The rules that untrack one candidate, both directions: nftables
/// matches, and iptables (or ip6tables) ones with their tool.
struct NotrackRules {
    described: String,
    nft: Vec<String>,
    xt: Vec<(&'static str, String)>,
    /// `conntrack -D` matches of the entries the rules would not have made.
    existing: Vec<String>,
}

impl NotrackRules {
    /// Matches for one direction and its reverse: nftables', `tool`'s
    /// (iptables or ip6tables), and conntrack's for the entries there.
    fn both_ways(
        &mut self,
        nft: [String; 2],
        tool: &'static str,
        xt: [String; 2],
        existing: [String; 2],
    ) {
        self.nft.extend(nft);
        self.xt.extend(xt.map(|m| (tool, m)));
        let family = if tool == "ip6tables" { "-f ipv6 " } else { "" };
        self.existing
            .extend(existing.map(|m| format!("{family}{m}")));
    }
}

/// `ip` and `iptables`, or `ip6` and `ip6tables`, for an address.
fn family_words(addr: &str) -> (&'static str, &'static str) {
    if addr.contains(':') {
        ("ip6", "ip6tables")
    } else {
        ("ip", "iptables")
    }
}

/// A port's rules name each destination it was seen with when there are
/// few (traffic to the same port elsewhere, which the dump does not show,
/// stays tracked), and a port seen with more gets none (see
/// [`is_unscoped`]); an address pair's name both addresses.
fn notrack_rules(target: &Target) -> NotrackRules {
    let mut rules = NotrackRules {
        described: String::new(),
        nft: Vec::new(),
        xt: Vec::new(),
        existing: Vec::new(),
    };
    match target {
        Target::Port {
            protocol,
            port,
            destinations,
        } => {
            rules.described = format!("{protocol} to port {port}");
            if !destinations.is_empty() {
                rules
                    .described
                    .push_str(&format!(" of {}", destinations.join(", ")));
                for addr in destinations {
                    let (ip, tool) = family_words(addr);
                    rules.both_ways(
                        [
                            format!("{ip} daddr {addr} {protocol} dport {port}"),
                            format!("{ip} saddr {addr} {protocol} sport {port}"),
                        ],
                        tool,
                        [
                            format!("-d {addr} -p {protocol} --dport {port}"),
                            format!("-s {addr} -p {protocol} --sport {port}"),
                        ],
                        [
                            format!("-p {protocol} -d {addr} --dport {port}"),
                            format!("-p {protocol} -s {addr} --sport {port}"),
                        ],
                    );
                }
            }
        }
        Target::Pair {
            source,
            destination,
            internal,
        } => {
            let (ip, tool) = family_words(source);
            rules.described = format!(
                "from {source} to {destination}{}",
                if *internal { " (both internal)" } else { "" }
            );
            rules.both_ways(
                [
                    format!("{ip} saddr {source} {ip} daddr {destination}"),
                    format!("{ip} saddr {destination} {ip} daddr {source}"),
                ],
                tool,
                [
                    format!("-s {source} -d {destination}"),
                    format!("-s {destination} -d {source}"),
                ],
                [
                    format!("-s {source} -d {destination}"),
                    format!("-s {destination} -d {source}"),
                ],
            );
        }
    }
    rules
}

/// The most NOTRACK candidates one recommendation names.
pub const NOTRACK_RULES: usize = 3;

/// A port seen with many destinations: it gets no rule, since one for the
/// port alone would untrack the host's own connections to that port too.
fn is_unscoped(candidate: &Candidate) -> bool {
    matches!(&candidate.target, Target::Port { destinations, .. } if destinations.is_empty())
}

/// Whether [`notrack`] prints rules of `candidate`'s own: not for a port
/// of many destinations, nor for one that pair candidates hold whole.
pub fn gets_rules(candidate: &Candidate) -> bool {
    candidate.inside_pairs.is_empty() && !is_unscoped(candidate)
}

/// Do not track heavy, never-NATed ports and address pairs, when the table
/// is under pressure: one recommendation for the [`NOTRACK_RULES`] largest
/// candidates.
pub fn notrack(candidates: &[Candidate], pressure: Pressure) -> Option<Recommendation> {
    if !pressure.is_high() || candidates.is_empty() {
        return None;
    }
    let mut unscoped: Vec<&Candidate> = candidates.iter().filter(|c| is_unscoped(c)).collect();
    unscoped.truncate(NOTRACK_RULES);
    let mut largest: Vec<&Candidate> = candidates.iter().filter(|c| gets_rules(c)).collect();
    largest.sort_by_key(|c| std::cmp::Reverse(c.count)); // stable: ports before pairs on ties
    largest.truncate(NOTRACK_RULES);
    let chosen_pairs: Vec<Pair> = largest
        .iter()
        .filter_map(|c| match &c.target {
            Target::Pair {
                source,
                destination,
                ..
            } => Some(Pair::new(source, destination)),
            Target::Port { .. } => None,
        })
        .collect();
    // Those whose pairs are all among the rules are said to be taken.
    let taken: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| {
            !c.inside_pairs.is_empty() && c.inside_pairs.iter().all(|p| chosen_pairs.contains(p))
        })
        .collect();
    let more = candidates.len() - largest.len() - taken.len() - unscoped.len();
    let candidates = largest;
    let mut what = Vec::new();
    let mut nft = Vec::new();
    let mut iptables = Vec::new();
    let mut existing = Vec::new();
    for candidate in &candidates {
        let rules = notrack_rules(&candidate.target);
        existing.extend(rules.existing.iter().map(|m| format!("# conntrack -D {m}")));
        what.push(format!(
            "{}: {} entries ({})",
            rules.described,
            group(candidate.count),
            pct(candidate.percent)
        ));
        for chain in ["prerouting", "output"] {
            for m in &rules.nft {
                nft.push(format!("nft add rule inet raw_notrack {chain} {m} notrack"));
            }
        }
        for chain in ["PREROUTING", "OUTPUT"] {
            for (tool, m) in &rules.xt {
                iptables.push(format!("{tool} -t raw -A {chain} {m} -j CT --notrack"));
            }
        }
    }
    // Untracked packets are neither `new` nor `established`: a filter that
    // accepts by state drops them unless it accepts them too.
    let mut commands = vec![
        "# first, how the filter treats untracked packets (accept `ct state untracked` before any drop by state):".to_owned(),
        "nft list ruleset | grep -nE 'ct state|policy drop'".to_owned(),
    ];
    // Without a rule to add (only ports of many destinations), no table
    // either: only the templates.
    let has_rules = !candidates.is_empty();
    // Templates alone come with the table and chains they need, commented.
    let comment = if has_rules { "" } else { "# " };
    commands.extend([
        format!("{comment}nft add table inet raw_notrack"),
        format!("{comment}nft add chain inet raw_notrack prerouting '{{ type filter hook prerouting priority raw; policy accept; }}'"),
        format!("{comment}nft add chain inet raw_notrack output '{{ type filter hook output priority raw; policy accept; }}'"),
    ]);
    for candidate in &unscoped {
        what.push(format!(
            "{} to many destinations: {} entries ({})",
            notrack_rules(&candidate.target).described,
            group(candidate.count),
            pct(candidate.percent)
        ));
        if let Target::Port { protocol, port, .. } = &candidate.target {
            nft.push(format!("# nft add rule inet raw_notrack prerouting ip daddr SERVER {protocol} dport {port} notrack   # and the same with ip saddr SERVER {protocol} sport {port}, in output too (ip6 for an IPv6 SERVER)"));
        }
    }
    commands.extend(nft);
    if has_rules {
        commands.push(
            "# or, with iptables (ip6tables for IPv6; iptables-save | grep -nE 'state|ctstate' first):"
                .to_owned(),
        );
        commands.extend(iptables);
        commands.push(
            "# then the entries made before the rules, which stay until they expire (read the rationale first; conntrack exits 1 where none matched):"
                .to_owned(),
        );
        commands.extend(existing);
    }
    let mut overlap = if candidates.len() > 1 {
        " A flow can match more than one of them: pick the ones that fit.".to_owned()
    } else {
        String::new()
    };
    if !taken.is_empty() {
        let ports: Vec<String> = taken
            .iter()
            .map(|port| {
                format!(
                    "{} ({} entries)",
                    notrack_rules(&port.target).described,
                    group(port.count)
                )
            })
            .collect();
        overlap.push_str(&format!(
            " {} {}: all {} entries are between the addresses of the pair rules above.",
            ports.join(", "),
            if taken.len() == 1 {
                "needs no rule of its own"
            } else {
                "need no rules of their own"
            },
            if taken.len() == 1 { "its" } else { "their" },
        ));
    }
    if !unscoped.is_empty() {
        overlap.push_str(&format!(
            " A port seen with more than {} destinations gets no rule: one for the port alone would also untrack this host's own connections to that port; the commented line shows the rule to write for each of your servers' addresses.",
            crate::doctor::breakdown::FEW
        ));
    }
    if more > 0 {
        overlap.push_str(&format!(
            " {more} more candidate{} in the NOTRACK table, none larger.",
            if more == 1 { " is" } else { "s are" }
        ));
    }
    let shown = candidates.len() + unscoped.len();
    Some(Recommendation {
        id: "notrack",
        title: if shown == 1 {
            "Do not track heavy traffic that is never NATed".to_owned()
        } else {
            format!("Do not track heavy traffic that is never NATed ({shown} candidates)")
        },
        rationale: format!(
            "Each carries at least {} of the entries and none of them is NATed: {}.{overlap} Untracked packets make no entry at all; the entries made before the rules stay until their timers run out (ESTABLISHED ones up to 5 days by default), unless deleted with the last commands, left commented out: a connection whose entry is deleted goes on untracked. Only do this if nothing needs their conntrack state: they match `ct state untracked`, not `established`, so the filter rules must accept them explicitly; they cannot be NATed or use a conntrack helper. ICMP errors about these flows from other hosts (a router's \"fragmentation needed\" or \"packet too big\") find no entry to belong to and match `ct state invalid`: where the filter drops invalid packets, accept those ICMP types before, or path MTU discovery fails for them. The rules match both directions, for traffic to this host, from it and through it.",
            pct(crate::doctor::notrack::MIN_SHARE),
            what.join("; ")
        ),
        commands,
    })
}

/// Call out a source that holds at least [`DOMINANT`] percent of the table,
/// when the table is under pressure.
pub fn dominant_source(summary: &Summary, pressure: Pressure) -> Option<Recommendation> {
    if !pressure.is_high() {
        return None;
    }
    let total = summary.totals.matched;
    let top = summary.sources.top(2);
    let (addr, count) = top.first()?;
    let share = super::percent(*count, total);
    if share < DOMINANT {
        return None;
    }
    let next = match top.get(1) {
        Some((next, n)) => format!(
            "; the next source, {next}, holds {} ({})",
            group(*n),
            super::share(*n, total)
        ),
        None => String::new(),
    };
    Some(Recommendation {
        id: "dominant-source",
        title: format!(
            "Find out why {addr} holds {} of the table",
            super::share(*count, total)
        ),
        rationale: format!(
            "{addr} is the original source of {} entries ({}){next}. Whatever it is (a client that never closes its connections, a retry storm, a scan), no table size outlasts it. Deleting its entries (the last command, left commented out: read this first) frees the room of its dead and idle connections at once; a live TCP connection gets a new entry with its next packet (nf_conntrack_tcp_loose, on by default) unless a rule drops new packets that are not SYNs, and a NATed one loses its translation.",
            group(*count),
            super::share(*count, total)
        ),
        commands: vec![
            format!("conntrack -L -s {addr} | head -n 20"),
            // Its protocols, states, destinations and ports, counted
            // without awk's field positions (which shift between TCP
            // and UDP lines).
            format!("conntrack -L -s {addr} | ctreport summary -n 5 -"),
            format!("# conntrack -D -s {addr}"),
        ],
    })
}

/// Call out the network ([`Prefixes::DEFAULT`](crate::Prefixes::DEFAULT):
/// an IPv4 /24, an IPv6 /64) whose addresses hold at least [`DOMINANT`]
/// percent of the table, when no single source does (then [`dominant_source`] speaks) and the table is
/// under pressure: a scan or flood from one subnet, a NAT pool, IPv6
/// clients rotating their temporary addresses each rank low on their own.
///
/// `networks` are the sources grouped by those prefixes.
pub fn dominant_network(
    summary: &Summary,
    networks: &Networks,
    pressure: Pressure,
) -> Option<Recommendation> {
    if !pressure.is_high() {
        return None;
    }
    let total = summary.totals.matched;
    let top = networks.top_rows(1);
    let network = top.first().filter(|n| n.addresses > 1)?;
    let share = super::percent(network.count, total);
    if share < DOMINANT {
        return None;
    }
    let cidr: Cidr = network.network.parse().ok()?;
    // A dominant address inside the network is named on its own (see
    // `dominant_source`); one elsewhere leaves this network to be named.
    let busiest = summary.sources.top(1);
    if busiest.first().is_some_and(|&(addr, count)| {
        super::percent(count, total) >= DOMINANT && cidr.contains(&addr)
    }) {
        return None;
    }
    // The busiest address of the network, as a ranking would order it.
    let inside = summary
        .sources
        .iter()
        .filter(|(addr, _)| cidr.contains(addr))
        .min_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let busiest = match inside {
        Some((addr, n)) => format!(
            "; the busiest of them, {addr}, holds {} ({})",
            group(n),
            super::share(n, total)
        ),
        None => String::new(),
    };
    Some(Recommendation {
        id: "dominant-network",
        title: format!(
            "Find out why {cidr} holds {} of the table",
            super::share(network.count, total)
        ),
        rationale: format!(
            "{} addresses of {cidr} are the original sources of {} entries ({}){busiest}. Many addresses of one network filling the table are a scan or a flood from one subnet, a NAT pool or proxy farm, or IPv6 clients rotating their temporary addresses; no table size outlasts it. Deleting its entries (the last command, left commented out: read this first) frees the room of its dead and idle connections at once; a live TCP connection gets a new entry with its next packet (nf_conntrack_tcp_loose, on by default) unless a rule drops new packets that are not SYNs, and a NATed one loses its translation (conntrack-tools 1.4.7 takes the prefix as written here, for -L and -D).",
            group(network.addresses),
            group(network.count),
            super::share(network.count, total)
        ),
        commands: vec![
            format!("conntrack -L -s {cidr} | head -n 20"),
            format!("conntrack -L -s {cidr} | ctreport summary -n 5 -"),
            format!("# conntrack -D -s {cidr}"),
        ],
    })
}

/// Make the sysctl changes of `settings` (full name, value) survive a
/// reboot, the bucket count through the module parameter, and the NOTRACK
/// rules (`notrack`) through the firewall's saved rules.
pub fn persist(
    settings: &[(String, u64)],
    hashsize: Option<u64>,
    notrack: bool,
) -> Option<Recommendation> {
    if settings.is_empty() && hashsize.is_none() && !notrack {
        return None;
    }
    let mut commands = Vec::new();
    if !settings.is_empty() {
        let lines: String = settings
            .iter()
            .map(|(name, value)| format!("{name} = {value}\n"))
            .collect();
        commands.push(format!(
            "cat > /etc/sysctl.d/90-nf_conntrack.conf <<'EOF'\n{lines}EOF"
        ));
        commands.push("echo nf_conntrack > /etc/modules-load.d/nf_conntrack.conf".to_owned());
    }
    if let Some(buckets) = hashsize {
        commands.push(format!(
            "echo 'options nf_conntrack hashsize={buckets}' > /etc/modprobe.d/90-nf_conntrack-hashsize.conf"
        ));
    }
    if notrack {
        commands.extend([
            // Loaded twice, the file replaces the table rather than adding
            // its rules again.
            "{ echo 'table inet raw_notrack'; echo 'delete table inet raw_notrack'; nft list table inet raw_notrack; } > /etc/nftables-notrack.nft".to_owned(),
            "grep -qs 'include \"/etc/nftables-notrack.nft\"' /etc/nftables.conf || echo 'include \"/etc/nftables-notrack.nft\"' >> /etc/nftables.conf   # RHEL: /etc/sysconfig/nftables.conf".to_owned(),
            "# or, with iptables: iptables-save > /etc/iptables/rules.v4; ip6tables-save > /etc/iptables/rules.v6   # Debian's iptables-persistent; RHEL: service iptables save".to_owned(),
        ]);
    }
    let mut why = match (settings.is_empty() && hashsize.is_none(), notrack) {
        (false, false) => "sysctl -w lasts until the next boot.",
        (false, true) => "sysctl -w and the NOTRACK rules last until the next boot.",
        (true, _) => "The NOTRACK rules last until the next boot.",
    }
    .to_owned();
    if !settings.is_empty() {
        why.push_str(" At boot, systemd-sysctl applies /etc/sysctl.d/ and /etc/sysctl.conf early, usually before nf_conntrack is loaded (the first firewall rule or NAT that needs conntrack loads it), when the net.netfilter keys do not exist yet: the settings are skipped. modules-load.d loads the module first (systemd-modules-load runs before systemd-sysctl), so they apply. A udev rule that runs sysctl when the module loads works too, but on kernels before 5.11 it may run before the module's keys exist.");
    }
    if settings
        .iter()
        .any(|(name, _)| name.ends_with("nf_conntrack_max"))
    {
        why.push_str(" On a Kubernetes node, kube-proxy sets nf_conntrack_max itself when it starts (its conntrack maxPerCore and min settings): change it there, or it overrides this file.");
    }
    if hashsize.is_some() {
        why.push_str(" The bucket count is set when the module loads, by its hashsize parameter; with hashsize given, the kernel's default nf_conntrack_max becomes 8 x hashsize, so nf_conntrack_max is saved in sysctl.d as well. Where nf_conntrack is built into the kernel rather than a module, modprobe.d does not apply: add nf_conntrack.hashsize=N to the kernel command line instead.");
    }
    if notrack {
        why.push_str(" The rules are saved where the firewall service loads its rules at boot: nftables.service reads /etc/nftables.conf (Debian) or /etc/sysconfig/nftables.conf (RHEL), when it is enabled; with iptables, iptables-persistent or the iptables service. That file starts by flushing the whole ruleset, and iptables-save saves every chain: where firewalld, Docker or Kubernetes manage the firewall, add the rules through them instead of enabling those services.");
    }
    Some(Recommendation {
        id: "persist",
        title: "Make the changes survive a reboot".to_owned(),
        rationale: why,
        commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Origin, notrack::Candidate};
    use ctparse::TcpState;

    fn fill(entries: u64, max: Option<u64>, buckets: Option<u64>) -> Fill {
        Fill::new(
            entries,
            max.map(|m| (m, Origin::Sysctl)),
            buckets.map(|b| (b, Origin::Sysctl)),
            None,
            None,
            (320, Origin::Assumed),
        )
    }

    fn stats(text: &str) -> Stats {
        Stats::parse(text.as_bytes()).0
    }

    #[test]
    fn pressure_boundaries() {
        assert_eq!(pressure(Some(90.0), None), Pressure::Full);
        assert_eq!(pressure(Some(89.99), None), Pressure::High);
        assert_eq!(pressure(Some(75.0), Some(0)), Pressure::High);
        assert_eq!(pressure(Some(74.9), Some(0)), Pressure::Low);
        // early_drop counts since boot: on a table far from full, it says
        // the table was full once, not now.
        assert_eq!(pressure(Some(1.0), Some(1)), Pressure::Past);
        assert_eq!(pressure(Some(74.9), Some(1)), Pressure::Past);
        assert_eq!(pressure(Some(75.0), Some(1)), Pressure::Full);
        assert_eq!(pressure(None, Some(0)), Pressure::Unknown);
        assert_eq!(pressure(None, Some(3)), Pressure::Full);
    }

    #[test]
    fn suggested_max_doubles_to_a_power_of_two() {
        assert_eq!(suggested_max(262_144, 262_144), 524_288);
        assert_eq!(suggested_max(65_536, 70_000), 262_144);
        assert_eq!(suggested_max(100_000, 1), 262_144);
        assert_eq!(suggested_max(0, 0), 2);
        assert_eq!(suggested_max(u64::MAX, 0), u64::MAX);
    }

    #[test]
    fn raise_max_only_when_full_and_the_limit_is_known() {
        assert_eq!(raise_max(&fill(262_144, None, None), None, None), None);
        assert_eq!(
            raise_max(&fill(235_000, Some(262_144), None), None, None),
            None
        ); // 89.6 %
        let (full, new) = raise_max(&fill(235_930, Some(262_144), None), None, None).unwrap(); // 90.0 %
        assert_eq!(new, 524_288);
        assert_eq!(
            full.commands,
            ["sysctl -w net.netfilter.nf_conntrack_max=524288"]
        );
        assert!(
            full.rationale
                .contains("90.0% of nf_conntrack_max = 262,144"),
            "{}",
            full.rationale
        );
        assert!(
            full.rationale
                .contains("160.0 MiB of kernel memory (524,288 x 320 bytes"),
            "{}",
            full.rationale
        );
        assert!(
            full.rationale
                .ends_with("the other findings say what fills the table."),
            "{}",
            full.rationale
        );
        let (named, _) =
            raise_max(&fill(235_930, Some(262_144), None), None, Some("Find out")).unwrap();
        assert!(
            named
                .rationale
                .ends_with("not a cure: see \"Find out\" below for what fills the table.")
        );
        // A low fill now, but early_drop says it was full, and drop that
        // packets were lost.
        let s = stats("cpu=0 drop=2 early_drop=5\n");
        let (was_full, _) = raise_max(&fill(1_000, Some(262_144), None), Some(&s), None).unwrap();
        assert!(was_full.rationale.contains("early_drop = 5"));
        // Full once, but every eviction found room: nothing to raise.
        let s = stats("cpu=0 drop=0 early_drop=5\n");
        assert_eq!(
            raise_max(&fill(1_000, Some(262_144), None), Some(&s), None),
            None
        );
        // drop alone is not proof: it also counts insert clashes.
        let s = stats("cpu=0 drop=7 early_drop=0\n");
        assert_eq!(
            raise_max(&fill(1_000, Some(262_144), None), Some(&s), None),
            None
        );
    }

    #[test]
    fn buckets_rule() {
        let f = fill(262_144, Some(262_144), Some(65_536));
        let r = buckets(&f, 524_288, Pressure::Full, None).unwrap();
        assert_eq!(
            r.commands[0],
            "sysctl -w net.netfilter.nf_conntrack_buckets=524288"
        );
        assert_eq!(
            r.commands[2],
            "echo 524288 > /sys/module/nf_conntrack/parameters/hashsize"
        );
        assert!(
            r.rationale.contains("chains of 16.0 entries"),
            "{}",
            r.rationale
        );
        // Enough buckets already.
        assert_eq!(
            buckets(
                &fill(10, Some(262_144), Some(262_144)),
                262_144,
                Pressure::Full,
                None
            ),
            None
        );
        // Fewer buckets than the limit, but not half as many: no resize
        // for chains of 2.5 instead of 2, unless chains were too long.
        let near = fill(262_144, Some(262_144), Some(131_073));
        assert_eq!(buckets(&near, 262_144, Pressure::Full, None), None);
        let half = fill(262_144, Some(262_144), Some(131_072));
        assert!(buckets(&half, 262_144, Pressure::Full, None).is_some());
        let s = stats("cpu=0 chaintoolong=3\n");
        assert!(buckets(&near, 262_144, Pressure::Full, Some(&s)).is_some());
        // Not for one bucket more, even then.
        let one_short = fill(262_144, Some(262_144), Some(262_143));
        assert_eq!(buckets(&one_short, 262_144, Pressure::Full, Some(&s)), None);
        let fifth_short = fill(262_144, Some(262_144), Some(209_715));
        assert!(buckets(&fifth_short, 262_144, Pressure::Full, Some(&s)).is_some());
        // Fewer buckets than the limit but no pressure, no raise, no long chains.
        let quiet = fill(10, Some(262_144), Some(65_536));
        assert_eq!(buckets(&quiet, 262_144, Pressure::Low, None), None);
        let s = stats("cpu=0 chaintoolong=3\n");
        assert!(
            buckets(&quiet, 262_144, Pressure::Low, Some(&s))
                .unwrap()
                .rationale
                .contains("chaintoolong = 3")
        );
        // Unknown bucket count: nothing to say.
        assert_eq!(
            buckets(
                &fill(10, Some(262_144), None),
                524_288,
                Pressure::Full,
                None
            ),
            None
        );
    }

    fn what_if(gone: u64, entries: u64, table: u64) -> WhatIf {
        WhatIf {
            protocol: "tcp",
            shared_with: Vec::new(),
            state: "TIME_WAIT",
            sysctl: "net.netfilter.nf_conntrack_tcp_timeout_time_wait".into(),
            configured: 120,
            configured_from: Origin::KernelDefault,
            proposed: 30,
            entries,
            short_timer: 0,
            gone,
            longer: 0,
            percent: crate::doctor::percent(gone, entries),
            table_percent: crate::doctor::percent(gone, table),
            asked: false,
            asked_too: false,
        }
    }

    #[test]
    fn timeout_rule_needs_pressure_and_relief() {
        let tw = Timer::Tcp(TcpState::TimeWait);
        let w = what_if(10, 40, 100); // frees 10.0 % of the table
        let r = shorter_timeout(&w, tw, Pressure::High).unwrap();
        assert_eq!(
            r.commands,
            ["sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=30"]
        );
        assert!(
            r.rationale
                .contains("10 of 40 tcp TIME_WAIT entries (25.0%) would already be gone"),
            "{}",
            r.rationale
        );
        assert!(
            r.rationale
                .contains("the kernel default, assumed without --sysctl")
        );
        assert_eq!(
            shorter_timeout(&what_if(9, 40, 100), tw, Pressure::Full),
            None
        );
        assert_eq!(shorter_timeout(&w, tw, Pressure::Low), None);
        assert_eq!(shorter_timeout(&w, tw, Pressure::Unknown), None);
    }

    #[test]
    fn a_port_seen_with_few_destinations_is_untracked_to_them_only() {
        let scoped = Candidate {
            target: Target::Port {
                protocol: "tcp",
                port: 443,
                destinations: vec!["198.51.100.2".into(), "2001:db8::2".into()],
            },
            count: 600,
            percent: 60.0,
            inside_pairs: Vec::new(),
        };
        let r = notrack(std::slice::from_ref(&scoped), Pressure::Full).unwrap();
        assert!(
            r.rationale
                .contains("tcp to port 443 of 198.51.100.2, 2001:db8::2: 600 entries"),
            "{}",
            r.rationale
        );
        let rules: Vec<&str> = r
            .commands
            .iter()
            .map(String::as_str)
            .filter(|c| c.contains(" 443"))
            .collect();
        assert_eq!(
            rules,
            [
                "nft add rule inet raw_notrack prerouting ip daddr 198.51.100.2 tcp dport 443 notrack",
                "nft add rule inet raw_notrack prerouting ip saddr 198.51.100.2 tcp sport 443 notrack",
                "nft add rule inet raw_notrack prerouting ip6 daddr 2001:db8::2 tcp dport 443 notrack",
                "nft add rule inet raw_notrack prerouting ip6 saddr 2001:db8::2 tcp sport 443 notrack",
                "nft add rule inet raw_notrack output ip daddr 198.51.100.2 tcp dport 443 notrack",
                "nft add rule inet raw_notrack output ip saddr 198.51.100.2 tcp sport 443 notrack",
                "nft add rule inet raw_notrack output ip6 daddr 2001:db8::2 tcp dport 443 notrack",
                "nft add rule inet raw_notrack output ip6 saddr 2001:db8::2 tcp sport 443 notrack",
                "iptables -t raw -A PREROUTING -d 198.51.100.2 -p tcp --dport 443 -j CT --notrack",
                "iptables -t raw -A PREROUTING -s 198.51.100.2 -p tcp --sport 443 -j CT --notrack",
                "ip6tables -t raw -A PREROUTING -d 2001:db8::2 -p tcp --dport 443 -j CT --notrack",
                "ip6tables -t raw -A PREROUTING -s 2001:db8::2 -p tcp --sport 443 -j CT --notrack",
                "iptables -t raw -A OUTPUT -d 198.51.100.2 -p tcp --dport 443 -j CT --notrack",
                "iptables -t raw -A OUTPUT -s 198.51.100.2 -p tcp --sport 443 -j CT --notrack",
                "ip6tables -t raw -A OUTPUT -d 2001:db8::2 -p tcp --dport 443 -j CT --notrack",
                "ip6tables -t raw -A OUTPUT -s 2001:db8::2 -p tcp --sport 443 -j CT --notrack",
                // The entries made before, the same both ways.
                "# conntrack -D -p tcp -d 198.51.100.2 --dport 443",
                "# conntrack -D -p tcp -s 198.51.100.2 --sport 443",
                "# conntrack -D -f ipv6 -p tcp -d 2001:db8::2 --dport 443",
                "# conntrack -D -f ipv6 -p tcp -s 2001:db8::2 --sport 443",
            ]
        );
        // They stay until they expire otherwise; ICMP errors about the
        // flows are invalid.
        for said in [
            "the entries made before the rules stay until their timers run out",
            "match `ct state invalid`",
        ] {
            assert!(r.rationale.contains(said), "{}", r.rationale);
        }
    }

    #[test]
    fn notrack_rule_covers_both_directions_and_families() {
        // Seen with more destinations than FEW: the port's rules are not scoped.
        let port = Candidate {
            target: Target::Port {
                protocol: "tcp",
                port: 9400,
                destinations: Vec::new(),
            },
            count: 600,
            percent: 60.0,
            inside_pairs: Vec::new(),
        };
        assert_eq!(notrack(std::slice::from_ref(&port), Pressure::Low), None);
        assert_eq!(notrack(&[], Pressure::Full), None);
        // A rule for the port alone would untrack this host's own
        // connections to it too: none is printed, a template is.
        let r = notrack(std::slice::from_ref(&port), Pressure::Full).unwrap();
        assert!(
            r.rationale
                .contains("tcp to port 9400 to many destinations: 600 entries (60.0%)"),
            "{}",
            r.rationale
        );
        assert!(r.rationale.contains("gets no rule"));
        assert!(!r.rationale.contains("more than one"));
        assert!(
            r.commands
                .iter()
                .all(|c| !c.starts_with("nft add rule") && !c.starts_with("iptables")),
            "{:?}",
            r.commands
        );
        assert!(r.commands.contains(
            &"# nft add rule inet raw_notrack prerouting ip daddr SERVER tcp dport 9400 notrack   # and the same with ip saddr SERVER tcp sport 9400, in output too (ip6 for an IPv6 SERVER)".to_owned()
        ));
        // The filter is looked at first; with no rule, no table either.
        assert_eq!(
            r.commands[1],
            "nft list ruleset | grep -nE 'ct state|policy drop'"
        );
        assert_eq!(r.commands.len(), 6, "{:?}", r.commands);
        assert_eq!(r.commands[2], "# nft add table inet raw_notrack");
        let port = Candidate {
            target: Target::Port {
                protocol: "tcp",
                port: 9400,
                destinations: vec!["198.51.100.2".into()],
            },
            ..port
        };
        let pair = Candidate {
            target: Target::Pair {
                source: "fd00::1".into(),
                destination: "fd00::2".into(),
                internal: true,
            },
            count: 20,
            percent: 20.0,
            inside_pairs: Vec::new(),
        };
        let small = |port| Candidate {
            target: Target::Port {
                protocol: "udp",
                port,
                destinations: vec!["198.51.100.9".into()],
            },
            count: 10,
            percent: 10.0,
            inside_pairs: Vec::new(),
        };
        let r = notrack(
            &[small(1), small(2), port.clone(), pair.clone()],
            Pressure::High,
        )
        .unwrap();
        assert!(
            r.rationale
                .contains("1 more candidate is in the NOTRACK table, none larger."),
            "{}",
            r.rationale
        );
        assert!(r.rationale.contains("udp to port 1 of"));
        assert!(!r.rationale.contains("udp to port 2 of"));
        let r = notrack(&[port, pair.clone()], Pressure::High).unwrap();
        assert_eq!(
            r.title,
            "Do not track heavy traffic that is never NATed (2 candidates)"
        );
        assert!(r.rationale.contains("more than one"));
        // The table and chains once, then each candidate's rules.
        assert_eq!(
            r.commands
                .iter()
                .filter(|c| c.contains("add chain"))
                .count(),
            2
        );
        assert!(
            r.commands.contains(
                &"iptables -t raw -A OUTPUT -s 198.51.100.2 -p tcp --sport 9400 -j CT --notrack"
                    .to_owned()
            )
        );
        assert!(
            r.commands.contains(
                &"nft add rule inet raw_notrack output ip6 saddr fd00::2 ip6 daddr fd00::1 notrack"
                    .to_owned()
            )
        );
        assert!(r.commands.contains(
            &"ip6tables -t raw -A OUTPUT -s fd00::1 -d fd00::2 -j CT --notrack".to_owned()
        ));
        assert!(
            r.rationale
                .contains("from fd00::1 to fd00::2 (both internal): 20 entries (20.0%)")
        );

        // A port the pair holds whole gets no rule of its own, and is said
        // to; one whose pair is not among the rules keeps its place.
        let inside = |port, count| Candidate {
            target: Target::Port {
                protocol: "udp",
                port,
                destinations: vec!["fd00::2".into()],
            },
            count,
            percent: count as f64,
            inside_pairs: vec![Pair::new("fd00::1", "fd00::2")],
        };
        let r = notrack(&[pair.clone(), inside(53, 15)], Pressure::High).unwrap();
        assert_eq!(r.title, "Do not track heavy traffic that is never NATed");
        assert!(
            r.rationale.contains(
                "udp to port 53 of fd00::2 (15 entries) needs no rule of its own: all its entries \
                 are between the addresses of the pair rules above."
            ),
            "{}",
            r.rationale
        );
        assert!(!r.commands.iter().any(|c| c.contains("dport 53")));
        assert!(!r.rationale.contains("more candidate"));
        let elsewhere = Candidate {
            inside_pairs: vec![Pair::new("fd00::9", "fd00::2")],
            ..inside(54, 15)
        };
        let r = notrack(&[pair, elsewhere], Pressure::High).unwrap();
        assert!(
            r.rationale
                .contains("1 more candidate is in the NOTRACK table, none larger."),
            "{}",
            r.rationale
        );
    }

    #[test]
    fn dominant_source_threshold() {
        let dump = include_bytes!("../../../../fixtures/example/nf_conntrack.txt");
        let summary = crate::Analyzer::new().threads(1).analyze_bytes(dump);
        // 198.18.1.1 holds 14.6 % of the example: below the threshold.
        assert_eq!(dominant_source(&summary, Pressure::Full), None);
        let mut skewed = crate::Summary::default();
        skewed.totals.matched = 10;
        skewed.sources.add_n("192.0.2.1".parse().unwrap(), 3);
        skewed.sources.add_n("192.0.2.2".parse().unwrap(), 2);
        let r = dominant_source(&skewed, Pressure::Full).unwrap();
        assert_eq!(r.title, "Find out why 192.0.2.1 holds 30.0% of the table");
        assert!(
            r.rationale
                .contains("the next source, 192.0.2.2, holds 2 (20.0%)")
        );
        // Destructive: printed, but commented out.
        assert_eq!(r.commands[2], "# conntrack -D -s 192.0.2.1");
        assert_eq!(dominant_source(&skewed, Pressure::Low), None);
    }

    fn grouped(summary: &crate::Summary) -> Networks {
        Networks::group(&summary.sources, crate::Prefixes::DEFAULT)
    }

    #[test]
    fn dominant_network_when_no_source_dominates() {
        let mut summary = crate::Summary::default();
        summary.totals.matched = 100;
        // 40 addresses of 198.51.100.0/24 with one entry each, and one of
        // them with 5 more: 45 entries, no address above 6%.
        for host in 1..=40u8 {
            let addr = std::net::Ipv4Addr::new(198, 51, 100, host);
            summary.sources.add_n(addr.into(), 1);
        }
        summary.sources.add_n("198.51.100.9".parse().unwrap(), 5);
        summary.sources.add_n("192.0.2.1".parse().unwrap(), 20);
        let r = dominant_network(&summary, &grouped(&summary), Pressure::Full).unwrap();
        assert_eq!(r.id, "dominant-network");
        assert_eq!(
            r.title,
            "Find out why 198.51.100.0/24 holds 45.0% of the table"
        );
        assert!(
            r.rationale.starts_with(
                "40 addresses of 198.51.100.0/24 are the original sources of 45 entries (45.0%); the busiest of them, 198.51.100.9, holds 6 (6.0%)."
            ),
            "{}",
            r.rationale
        );
        assert_eq!(
            r.commands[1..],
            [
                "conntrack -L -s 198.51.100.0/24 | ctreport summary -n 5 -",
                "# conntrack -D -s 198.51.100.0/24"
            ]
        );
        assert_eq!(
            dominant_network(&summary, &grouped(&summary), Pressure::Low),
            None
        );
        // A dominant address elsewhere leaves the network to be named:
        // the two are different causes.
        let mut elsewhere = summary.clone();
        elsewhere.sources.add_n("192.0.2.1".parse().unwrap(), 10);
        assert!(dominant_source(&elsewhere, Pressure::Full).is_some());
        assert!(dominant_network(&elsewhere, &grouped(&elsewhere), Pressure::Full).is_some());
        // One inside it is dominant_source's to call out alone.
        summary.sources.add_n("198.51.100.9".parse().unwrap(), 25);
        assert!(dominant_source(&summary, Pressure::Full).is_some());
        assert_eq!(
            dominant_network(&summary, &grouped(&summary), Pressure::Full),
            None
        );
        // IPv6 addresses group by /64.
        let mut v6 = crate::Summary::default();
        v6.totals.matched = 100;
        v6.sources.add_n("192.0.2.1".parse().unwrap(), 29);
        v6.sources.add_n("2001:db8::1".parse().unwrap(), 29);
        v6.sources.add_n("2001:db8::1:0:0:2".parse().unwrap(), 29);
        let r = dominant_network(&v6, &grouped(&v6), Pressure::Full).unwrap();
        assert_eq!(
            r.title,
            "Find out why 2001:db8::/64 holds 58.0% of the table"
        );
        // Below the threshold, nothing.
        let mut spread = crate::Summary::default();
        spread.totals.matched = 100;
        spread.sources.add_n("192.0.2.1".parse().unwrap(), 15);
        spread.sources.add_n("192.0.2.2".parse().unwrap(), 14);
        assert_eq!(
            dominant_network(&spread, &grouped(&spread), Pressure::Full),
            None
        );
    }

    #[test]
    fn persist_lists_what_changed_and_explains_the_boot_order() {
        assert_eq!(persist(&[], None, false), None);
        let r = persist(
            &[("net.netfilter.nf_conntrack_max".into(), 524_288)],
            Some(524_288),
            false,
        )
        .unwrap();
        assert_eq!(
            r.commands[0],
            "cat > /etc/sysctl.d/90-nf_conntrack.conf <<'EOF'\nnet.netfilter.nf_conntrack_max = 524288\nEOF"
        );
        assert_eq!(
            r.commands[1],
            "echo nf_conntrack > /etc/modules-load.d/nf_conntrack.conf"
        );
        assert_eq!(
            r.commands[2],
            "echo 'options nf_conntrack hashsize=524288' > /etc/modprobe.d/90-nf_conntrack-hashsize.conf"
        );
        assert!(r.rationale.contains("before nf_conntrack is loaded"));
        assert!(r.rationale.contains("8 x hashsize"));
        assert!(r.rationale.contains("kube-proxy sets nf_conntrack_max"));
        let only_buckets = persist(&[], Some(1024), false).unwrap();
        assert_eq!(only_buckets.commands.len(), 1);
        assert!(r.commands.iter().all(|c| !c.contains("nft")));
        // NOTRACK rules are saved too, alone or with the settings.
        let only_rules = persist(&[], None, true).unwrap();
        assert!(
            only_rules.commands[0]
                .ends_with("nft list table inet raw_notrack; } > /etc/nftables-notrack.nft")
        );
        // Run twice, the include is added once.
        assert!(only_rules.commands[1].starts_with("grep -qs 'include "));
        assert!(
            only_rules
                .rationale
                .starts_with("The NOTRACK rules last until the next boot.")
        );
        let both = persist(&[("net.netfilter.nf_conntrack_max".into(), 8)], None, true).unwrap();
        assert!(
            both.rationale
                .starts_with("sysctl -w and the NOTRACK rules last")
        );
        assert!(
            both.commands
                .iter()
                .any(|c| c.starts_with("# or, with iptables: iptables-save"))
        );
    }
}
