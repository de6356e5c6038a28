//! What-if on timeouts: which entries a shorter timeout would already have
//! removed.
//!
//! The kernel restarts an entry's timer on every packet it tracks, with the
//! timeout of the entry's current state. So an entry with `remaining`
//! seconds left under a configured timeout `T` last saw a packet (or
//! changed state) `T - remaining` seconds ago, and with a timeout `T'` it
//! would already be gone exactly when `remaining <= T - T'`.
//!
//! One exception: a TCP entry with unacknowledged data, or retransmitting,
//! runs on the shorter `nf_conntrack_tcp_timeout_unacknowledged` or
//! `nf_conntrack_tcp_timeout_max_retrans` timer (300 s by default) when
//! its state's timeout is longer. An entry with no more than that left may
//! be one of those, and young; such entries are never counted as gone.
//!
//! What the dump cannot tell: an entry on a per-flow timeout policy
//! shorter than `T` (nft's `ct timeout`), or refreshed before `T` was
//! raised, looks idle longer than it is and may be counted as gone (one
//! with more time left than `T` is seen, and never counted). The count
//! is then an upper bound.

use ctparse::{Protocol, State, TcpState};
use serde::Serialize;

use crate::Summary;
use crate::doctor::{Breakdown, Origin, Sysctl};

/// A timer an entry can run on: a TCP state, one of UDP's two, ICMP's,
/// ICMPv6's, or the generic one of protocols without a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// A TCP entry in this state.
    Tcp(TcpState),
    /// A UDP entry that is not `[ASSURED]` (unreplied, or replied within
    /// its first 2 s): `nf_conntrack_udp_timeout`. UDP-Lite entries run
    /// on UDP's timers too (the kernel's UDP-Lite tracker reads them).
    Udp,
    /// An `[ASSURED]` UDP (or UDP-Lite) entry, a stream:
    /// `nf_conntrack_udp_timeout_stream`.
    UdpStream,
    /// An ICMP entry: `nf_conntrack_icmp_timeout`.
    Icmp,
    /// An ICMPv6 entry: `nf_conntrack_icmpv6_timeout`.
    Icmpv6,
    /// An entry of a protocol the kernel has no tracker for (ESP, OSPF,
    /// ..., or GRE on a kernel without its tracker; printed as `unknown`):
    /// `nf_conntrack_generic_timeout`.
    Generic,
}

/// A timer's sysctl, kernel default and the shorter value the doctor
/// tries by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerSpec {
    /// The timer.
    pub timer: Timer,
    /// The sysctl's short name (`nf_conntrack_tcp_timeout_time_wait`).
    pub sysctl: &'static str,
    /// The kernel's default, in seconds
    /// (`Documentation/networking/nf_conntrack-sysctl.rst`).
    pub kernel_default: u64,
    /// The value tried when none is given, in seconds.
    pub proposed: u64,
}

/// Every timer the doctor looks at. TCP `NONE` and `SYN_SENT2` have no
/// sysctl of their own; `CLOSE` (10 s) is short already: its default try
/// is its kernel default, so it has a row only where it was raised, or
/// when asked (`--what-if tcp_timeout_close=5`).
pub const TIMERS: &[TimerSpec] = &[
    spec(
        Timer::Tcp(TcpState::SynSent),
        "nf_conntrack_tcp_timeout_syn_sent",
        120,
        30,
    ),
    spec(
        Timer::Tcp(TcpState::SynRecv),
        "nf_conntrack_tcp_timeout_syn_recv",
        60,
        30,
    ),
    spec(
        Timer::Tcp(TcpState::Established),
        "nf_conntrack_tcp_timeout_established",
        432_000,
        86_400,
    ),
    spec(
        Timer::Tcp(TcpState::FinWait),
        "nf_conntrack_tcp_timeout_fin_wait",
        120,
        30,
    ),
    spec(
        Timer::Tcp(TcpState::CloseWait),
        "nf_conntrack_tcp_timeout_close_wait",
        60,
        30,
    ),
    spec(
        Timer::Tcp(TcpState::LastAck),
        "nf_conntrack_tcp_timeout_last_ack",
        30,
        10,
    ),
    spec(
        Timer::Tcp(TcpState::TimeWait),
        "nf_conntrack_tcp_timeout_time_wait",
        120,
        30,
    ),
    spec(
        Timer::Tcp(TcpState::Close),
        "nf_conntrack_tcp_timeout_close",
        10,
        10,
    ),
    spec(Timer::Udp, "nf_conntrack_udp_timeout", 30, 10),
    spec(Timer::UdpStream, "nf_conntrack_udp_timeout_stream", 120, 60),
    spec(Timer::Icmp, "nf_conntrack_icmp_timeout", 30, 10),
    spec(Timer::Icmpv6, "nf_conntrack_icmpv6_timeout", 30, 10),
    spec(Timer::Generic, "nf_conntrack_generic_timeout", 600, 120),
];

const fn spec(timer: Timer, sysctl: &'static str, kernel_default: u64, proposed: u64) -> TimerSpec {
    TimerSpec {
        timer,
        sysctl,
        kernel_default,
        proposed,
    }
}

impl Timer {
    /// The protocol name and the state label shown in reports.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Timer::Tcp(state) => ("tcp", state.name()),
            Timer::Udp => ("udp", "not ASSURED"),
            Timer::UdpStream => ("udp", "ASSURED (stream)"),
            Timer::Icmp => ("icmp", "any"),
            Timer::Icmpv6 => ("icmpv6", "any"),
            Timer::Generic => ("other", "no tracker"),
        }
    }

    /// The timer of entries of `protocol` that have no state: ICMP's,
    /// ICMPv6's, or the generic one for protocols without a tracker of
    /// their own. `None` for the tracked protocols: TCP's timers go by
    /// state, UDP's and UDP-Lite's by `[ASSURED]` (from the
    /// [`Breakdown`]), and SCTP's, DCCP's and GRE's the doctor does not try.
    pub fn stateless(protocol: Protocol) -> Option<Timer> {
        const TRACKED: [Protocol; 6] = [
            Protocol::TCP,
            Protocol::UDP,
            Protocol::UDPLITE,
            Protocol::SCTP,
            Protocol::DCCP,
            Protocol::GRE,
        ];
        match protocol {
            Protocol::ICMP => Some(Timer::Icmp),
            Protocol::ICMPV6 => Some(Timer::Icmpv6),
            p if TRACKED.contains(&p) => None,
            _ => Some(Timer::Generic),
        }
    }

    /// The timer's spec.
    pub fn spec(self) -> Option<&'static TimerSpec> {
        TIMERS.iter().find(|s| s.timer == self)
    }

    /// The timer a sysctl sets, from its short name, its
    /// `net.netfilter.` name or the part after `nf_conntrack_`
    /// (`tcp_timeout_time_wait`).
    pub fn from_sysctl(name: &str) -> Option<Timer> {
        let short = name.strip_prefix("net.netfilter.").unwrap_or(name);
        TIMERS
            .iter()
            .find(|s| s.sysctl == short || s.sysctl.strip_prefix("nf_conntrack_") == Some(short))
            .map(|s| s.timer)
    }
}

/// The effect of one shorter timeout on the entries of one timer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or `other` (the generic timer).
    pub protocol: &'static str,
    /// Other protocols whose entries run on this timer and are counted
    /// here: `udplite` on UDP's timers when the dump holds UDP-Lite
    /// entries. Reports show them after `protocol` ([`WhatIf::protocols`]).
    pub shared_with: Vec<&'static str>,
    /// The TCP state, which UDP timer, or `any` (ICMP) and `no tracker`
    /// (generic): [`Timer::labels`].
    pub state: &'static str,
    /// The sysctl, in full (`net.netfilter.nf_conntrack_tcp_timeout_time_wait`).
    pub sysctl: String,
    /// The timeout the entries run on, in seconds.
    pub configured: u64,
    /// Where `configured` comes from: the sysctl input or the kernel default.
    pub configured_from: Origin,
    /// The shorter timeout tried, in seconds.
    pub proposed: u64,
    /// Entries on this timer.
    pub entries: u64,
    /// Of those, TCP entries with no more time left than the unacknowledged
    /// or retransmission timeout: they may run on that shorter timer, so
    /// their age is unknown and they are not counted in `gone`.
    pub short_timer: u64,
    /// Of those, entries idle in their state for at least `proposed`
    /// seconds: with the shorter timeout they would already be gone.
    pub gone: u64,
    /// Of `entries`, those with more time left than `configured`: they
    /// run on another timeout (a per-flow policy such as nft's `ct
    /// timeout`, or the sysctl was lowered after they were refreshed), so
    /// their age is unknown and they are never counted in `gone`.
    pub longer: u64,
    /// `gone` in percent of `entries`.
    pub percent: f64,
    /// `gone` in percent of all entries of the table.
    pub table_percent: f64,
    /// The value was asked for (`--what-if`), not the doctor's own try:
    /// shown even where it removes nothing, and never recommended.
    pub asked: bool,
    /// The doctor's own try, asked for as well (`--what-if` with the same
    /// value): one row answers both, and it may be recommended.
    pub asked_too: bool,
}

/// The rule: of entries with these `(remaining, count)` timers, how many
/// would already be gone with timeout `proposed` instead of `configured`
/// (`remaining <= configured - proposed`). Returns `(entries, gone)`.
///
/// ```
/// use ctanalyze::doctor::whatif::gone_with;
/// // TIME_WAIT at 120 s: entries 100 s, 90 s and 10 s from expiry.
/// let timers = [(100, 4), (90, 2), (10, 1)];
/// assert_eq!(gone_with(&timers, 120, 30), (7, 3)); // idle >= 30 s: the 90 s and 10 s ones
/// ```
pub fn gone_with(remaining: &[(i64, u64)], configured: u64, proposed: u64) -> (u64, u64) {
    let entries = remaining.iter().map(|&(_, n)| n).sum();
    if proposed >= configured {
        return (entries, 0);
    }
    let limit = i64::try_from(configured - proposed).unwrap_or(i64::MAX);
    let gone = remaining
        .iter()
        .filter(|&&(left, _)| left <= limit)
        .map(|&(_, n)| n)
        .sum();
    (entries, gone)
}

/// Entries per remaining timeout: `(seconds left, entries)`, ascending.
pub type Histogram = Vec<(i64, u64)>;

/// The histogram of every timer present in a dump.
pub fn timer_histograms(summary: &Summary, breakdown: &Breakdown) -> Vec<(Timer, Histogram)> {
    let mut by_timer: std::collections::BTreeMap<Timer, Histogram> = Default::default();
    for (key, count) in summary.timeouts.iter() {
        let timer = match (key.protocol, key.state) {
            (Protocol::TCP, Some(State::Tcp(state))) => Some(Timer::Tcp(state)),
            // Printed as `unknown`: no tracker for the protocol (GRE,
            // SCTP, DCCP or UDP-Lite on a kernel without theirs), so the
            // generic tracker and its timer.
            _ if key.generic => Some(Timer::Generic),
            // A tracked SCTP or DCCP entry prints its state: one without
            // has no tracker behind it either.
            (Protocol::SCTP | Protocol::DCCP, None) => Some(Timer::Generic),
            (protocol, _) => Timer::stateless(protocol),
        };
        if let Some(timer) = timer {
            by_timer
                .entry(timer)
                .or_default()
                .push((key.remaining, count));
        }
    }
    for (&(assured, remaining), count) in breakdown.udp_timeouts.iter() {
        let timer = if assured {
            Timer::UdpStream
        } else {
            Timer::Udp
        };
        by_timer.entry(timer).or_default().push((remaining, count));
    }
    by_timer
        .into_iter()
        .map(|(timer, mut list)| {
            list.sort_unstable();
            (timer, list)
        })
        .collect()
}

/// A timer's timeout as its entries' time left shows it, when the sysctl
/// is unknown: an entry never has more time left than its timeout, so
/// where most of a timer's entries have more than the kernel's `default`,
/// the timeout is longer here (raised, or an older kernel's default), and
/// the 99th percentile of their time left is a lower bound for it (the
/// longest alone could be one flow on a timeout policy of its own). `None`
/// when at most half of them have more than the default.
///
/// ```
/// use ctanalyze::doctor::whatif::timeout_from_time_left;
/// // 300 entries with 100 to 3,090 s left: the 30 s default was raised;
/// // the 297th of them has 3,060 s left.
/// let raised: Vec<(i64, u64)> = (0..300).map(|i| (100 + i * 10, 1)).collect();
/// assert_eq!(timeout_from_time_left(&raised, 30), Some(3_060));
/// // One entry of 101 with 3,590 s left: a per-flow policy, not the timer.
/// let one = [(5, 50), (29, 50), (3_590, 1)];
/// assert_eq!(timeout_from_time_left(&one, 30), None);
/// ```
pub fn timeout_from_time_left(remaining: &[(i64, u64)], default: u64) -> Option<u64> {
    let total: u64 = remaining.iter().map(|&(_, n)| n).sum();
    let above: u64 = remaining
        .iter()
        .filter(|&&(left, _)| u64::try_from(left).is_ok_and(|left| left > default))
        .map(|&(_, n)| n)
        .sum();
    if above == 0 || above.saturating_mul(2) <= total {
        return None;
    }
    let mut sorted = remaining.to_vec();
    sorted.sort_unstable();
    // The first time left reached by 99% of the entries, counted upward.
    let rank = total.saturating_mul(99).div_ceil(100).max(1);
    let mut counted = 0u64;
    sorted
        .iter()
        .find(|&&(_, n)| {
            counted += n;
            counted >= rank
        })
        .and_then(|&(left, _)| u64::try_from(left).ok())
        .filter(|&timeout| timeout > default)
}

/// The kernel default of `nf_conntrack_tcp_timeout_unacknowledged` and
/// `nf_conntrack_tcp_timeout_max_retrans`, in seconds.
pub const SHORT_TIMER_DEFAULT: u64 = 300;

/// The timeout `spec`'s entries run on, and where it comes from: the
/// sysctl input, else the entries' time left where it shows the default
/// raised ([`timeout_from_time_left`]), else the kernel's default.
fn configured_timeout(
    spec: &TimerSpec,
    remaining: &[(i64, u64)],
    sysctl: Option<&Sysctl>,
) -> (u64, Origin) {
    match sysctl.and_then(|s| s.get(spec.sysctl)) {
        Some(value) => (value, Origin::Sysctl),
        None => match timeout_from_time_left(remaining, spec.kernel_default) {
            Some(timeout) => (timeout, Origin::TimeLeft),
            None => (spec.kernel_default, Origin::KernelDefault),
        },
    }
}

/// One what-if row per timer with entries whose tried timeout is shorter
/// than the configured one, and one for every timer of `proposals`
/// (which override the default tries; the last value of a timer counts)
/// whatever it gives, so that a question asked gets its answer.
/// `table_entries` is the size of the whole table (for `table_percent`).
pub fn what_ifs(
    histograms: &[(Timer, Histogram)],
    sysctl: Option<&Sysctl>,
    proposals: &[(Timer, u64)],
    table_entries: u64,
) -> Vec<WhatIf> {
    let mut rows = Vec::new();
    // Where the sysctl input does not give them, the short TCP timers
    // default to 300 s; but on a host whose timeouts were raised (some
    // timer's entries have more time left than its default allows), they
    // may have been raised too, to as much as the largest of those (a
    // lower bound of a value set by hand: taken up to the whole minute).
    let raised = TIMERS
        .iter()
        .filter_map(|spec| {
            let (_, remaining) = histograms.iter().find(|(t, _)| *t == spec.timer)?;
            let (timeout, from) = configured_timeout(spec, remaining, sysctl);
            (from == Origin::TimeLeft).then_some(timeout)
        })
        .max()
        .map_or(0, |t| t.div_ceil(60) * 60);
    for spec in TIMERS {
        let asked = proposals
            .iter()
            .rev()
            .find(|(t, _)| *t == spec.timer)
            .map(|&(_, p)| p);
        let remaining = match histograms.iter().find(|(t, _)| *t == spec.timer) {
            Some((_, remaining)) => remaining.as_slice(),
            None if asked.is_some() => &[],
            None => continue,
        };
        let (configured, configured_from) = configured_timeout(spec, remaining, sysctl);
        // Entries with more time left than the timeout run on another
        // one: never counted gone (see `gone_with`), and said.
        let longer = remaining
            .iter()
            .filter(|&&(left, _)| u64::try_from(left).is_ok_and(|left| left > configured))
            .map(|&(_, n)| n)
            .sum();
        // Entries that may be on the shorter unacknowledged/retransmission
        // timer (only when the state's own timeout is longer than it).
        let short = match spec.timer {
            Timer::Tcp(_) => [
                "nf_conntrack_tcp_timeout_unacknowledged",
                "nf_conntrack_tcp_timeout_max_retrans",
            ]
            .iter()
            .map(|name| {
                sysctl
                    .and_then(|s| s.get(name))
                    .unwrap_or(SHORT_TIMER_DEFAULT.max(raised))
            })
            .max()
            .filter(|&short| configured > short),
            Timer::Udp | Timer::UdpStream | Timer::Icmp | Timer::Icmpv6 | Timer::Generic => None,
        };
        let (young, rest): (Histogram, Histogram) = remaining.iter().partition(|&&(left, _)| {
            short.is_some_and(|s| left <= i64::try_from(s).unwrap_or(i64::MAX))
        });
        let short_timer: u64 = young.iter().map(|&(_, n)| n).sum();
        // The doctor's own try, then the one asked for (when another): an
        // answer to a question does not replace the advice.
        // Asked for the doctor's own value, that row is shown whatever it
        // gives, and stays the doctor's (it may be recommended).
        let shown_anyway = asked == Some(spec.proposed);
        let tries = std::iter::once((spec.proposed, false))
            .chain(asked.filter(|&p| p != spec.proposed).map(|p| (p, true)));
        for (proposed, asked) in tries {
            let keep = asked || shown_anyway;
            if proposed >= configured && !keep {
                continue;
            }
            let (rest_entries, gone) = gone_with(&rest, configured, proposed);
            let entries = rest_entries + short_timer;
            if entries == 0 && !keep {
                continue;
            }
            let (protocol, state) = spec.timer.labels();
            rows.push(WhatIf {
                protocol,
                shared_with: Vec::new(),
                state,
                sysctl: format!("net.netfilter.{}", spec.sysctl),
                configured,
                configured_from,
                proposed,
                entries,
                short_timer,
                gone,
                longer,
                percent: super::percent(gone, entries),
                table_percent: super::percent(gone, table_entries),
                asked,
                asked_too: shown_anyway && !asked,
            });
        }
    }
    rows
}

impl WhatIf {
    /// `protocol` and the protocols that share its timer, as reports show
    /// them: `udp, udplite`.
    pub fn protocols(&self) -> String {
        std::iter::once(self.protocol)
            .chain(self.shared_with.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_exactly_when_idle_at_least_the_new_timeout() {
        // configured 120, proposed 30: gone iff remaining <= 90.
        let timers = [(91, 1), (90, 10), (89, 100), (0, 1000), (-1, 5)];
        assert_eq!(gone_with(&timers, 120, 30), (1116, 1115));
        // Boundaries: proposed 0 removes everything; proposed = configured nothing.
        assert_eq!(gone_with(&timers, 120, 0), (1116, 1116));
        assert_eq!(gone_with(&timers, 120, 120), (1116, 0));
        assert_eq!(gone_with(&timers, 120, 500), (1116, 0));
        assert_eq!(gone_with(&[], 120, 30), (0, 0));
        // An entry with more left than configured (the sysctl was lowered
        // after it was refreshed) is younger than any timeout: never gone.
        assert_eq!(gone_with(&[(200, 3)], 120, 1), (3, 0));
    }

    #[test]
    fn sysctl_names_in_every_spelling() {
        let tw = Timer::Tcp(TcpState::TimeWait);
        assert_eq!(
            Timer::from_sysctl("nf_conntrack_tcp_timeout_time_wait"),
            Some(tw)
        );
        assert_eq!(
            Timer::from_sysctl("net.netfilter.nf_conntrack_tcp_timeout_time_wait"),
            Some(tw)
        );
        assert_eq!(Timer::from_sysctl("tcp_timeout_time_wait"), Some(tw));
        assert_eq!(
            Timer::from_sysctl("udp_timeout_stream"),
            Some(Timer::UdpStream)
        );
        assert_eq!(
            Timer::from_sysctl("tcp_timeout_close"),
            Some(Timer::Tcp(TcpState::Close))
        );
        assert_eq!(Timer::from_sysctl("icmp_timeout"), Some(Timer::Icmp));
        assert_eq!(Timer::from_sysctl("icmpv6_timeout"), Some(Timer::Icmpv6));
        assert_eq!(
            Timer::from_sysctl("net.netfilter.nf_conntrack_generic_timeout"),
            Some(Timer::Generic)
        );
        assert_eq!(Timer::from_sysctl("tcp_timeout_syn_sent2"), None);
        assert_eq!(Timer::from_sysctl("nf_conntrack_max"), None);
    }

    #[test]
    fn rows_use_the_sysctl_else_the_kernel_default_and_skip_no_ops() {
        let tw = Timer::Tcp(TcpState::TimeWait);
        let est = Timer::Tcp(TcpState::Established);
        let histograms = vec![
            (est, vec![(431_990, 5), (300_000, 5)]),
            (tw, vec![(100, 6), (60, 4)]),
            (Timer::Udp, vec![(5, 2)]),
        ];
        // Kernel defaults: TIME_WAIT 120 -> 30 removes remaining <= 90.
        let rows = what_ifs(&histograms, None, &[], 40);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].state, rows[0].gone, rows[0].entries),
            ("ESTABLISHED", 5, 10)
        );
        assert_eq!((rows[1].state, rows[1].gone), ("TIME_WAIT", 4));
        assert_eq!(rows[1].configured_from, Origin::KernelDefault);
        assert_eq!(
            rows[1].sysctl,
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait"
        );
        assert_eq!((rows[1].percent, rows[1].table_percent), (40.0, 10.0));
        // The sysctl input wins; a tried value not below it gives no row.
        let mut sysctl = Sysctl::default();
        sysctl.set("nf_conntrack_tcp_timeout_time_wait", 3600);
        sysctl.set("nf_conntrack_udp_timeout", 10);
        let rows = what_ifs(&histograms, Some(&sysctl), &[(tw, 3500)], 40);
        let tries: Vec<_> = rows
            .iter()
            .map(|r| (r.state, r.proposed, r.asked))
            .collect();
        // The doctor's own try stays beside the one asked for.
        assert_eq!(
            tries,
            [
                ("ESTABLISHED", 86_400, false),
                ("TIME_WAIT", 30, false),
                ("TIME_WAIT", 3500, true)
            ]
        );
        assert_eq!(
            (rows[2].configured, rows[2].configured_from),
            (3600, Origin::Sysctl)
        );
        // TIME_WAIT raised to 3600 s is longer than the 300 s short timers,
        // so entries with 100 s and 60 s left may be on one of those.
        assert_eq!(
            (rows[2].proposed, rows[2].short_timer, rows[2].gone),
            (3500, 10, 0)
        );
        assert!(rows.iter().all(|r| !r.asked_too));
        // Asked for the doctor's own value: one row, the doctor's, marked
        // as asked too (it stays recommendable).
        let rows = what_ifs(&histograms, Some(&sysctl), &[(tw, 30)], 40);
        let tries: Vec<_> = rows
            .iter()
            .map(|r| (r.state, r.proposed, r.asked, r.asked_too))
            .collect();
        assert_eq!(
            tries,
            [
                ("ESTABLISHED", 86_400, false, false),
                ("TIME_WAIT", 30, false, true)
            ]
        );
    }

    /// A host whose timeouts were raised (SYN_SENT entries with up to
    /// 3,595 s left, against a 120 s default) may have raised the short
    /// TCP timers too: ESTABLISHED entries with 3,596 s left are not
    /// taken as idle for days, without --sysctl to say.
    #[test]
    fn raised_timeouts_raise_the_short_timers_too() {
        let est = Timer::Tcp(TcpState::Established);
        let syn = Timer::Tcp(TcpState::SynSent);
        let histograms = vec![
            (est, vec![(3596, 2), (431_000, 12)]),
            (syn, vec![(3595, 5)]),
        ];
        let rows = what_ifs(&histograms, None, &[], 19);
        let established = rows.iter().find(|r| r.state == "ESTABLISHED").unwrap();
        assert_eq!(established.configured_from, Origin::KernelDefault);
        assert_eq!((established.short_timer, established.gone), (2, 0));
        // Defaults everywhere: the 300 s short timers stand.
        let plain = vec![(est, vec![(3596, 2), (431_000, 12)])];
        let rows = what_ifs(&plain, None, &[], 14);
        assert_eq!((rows[0].short_timer, rows[0].gone), (0, 2));
    }

    #[test]
    fn a_default_the_dump_contradicts_gives_way_to_the_longest_time_left() {
        // UDP entries with up to 3,595 s left: the 30 s default was raised.
        let histograms = vec![(Timer::Udp, vec![(100, 1), (3000, 2), (3595, 3)])];
        let rows = what_ifs(&histograms, None, &[(Timer::Udp, 0)], 6);
        let shown: Vec<_> = rows
            .iter()
            .map(|r| (r.configured, r.configured_from, r.proposed, r.gone))
            .collect();
        // Tried at 10 s: idle 10 s or more (3,585 s or less left) is gone;
        // at 0 s, everything.
        assert_eq!(
            shown,
            [
                (3595, Origin::TimeLeft, 10, 3),
                (3595, Origin::TimeLeft, 0, 6)
            ]
        );
        // Not more than the default: the default stands (tried at 10 s:
        // 20 s or less left is gone).
        let histograms = vec![(Timer::Udp, vec![(12, 1), (30, 1)])];
        let rows = what_ifs(&histograms, None, &[], 2);
        assert_eq!(
            (rows[0].configured, rows[0].configured_from, rows[0].gone),
            (30, Origin::KernelDefault, 1)
        );
        // One flow on a timeout of its own (a `ct timeout` policy) among
        // entries on the default: the default stands, and that one is
        // counted apart, never gone.
        let mut histogram: Histogram = (5..30).map(|left| (left, 4)).collect();
        histogram.push((3590, 1));
        let rows = what_ifs(&[(Timer::Udp, histogram)], None, &[], 101);
        let shown = (
            rows[0].configured,
            rows[0].configured_from,
            rows[0].longer,
            rows[0].gone,
        );
        // Tried at 10 s: 20 s or less left, 5..=20, 16 values of 4 entries.
        assert_eq!(shown, (30, Origin::KernelDefault, 1, 64));
        // The sysctl input wins over both.
        let mut sysctl = Sysctl::default();
        sysctl.set("nf_conntrack_udp_timeout", 60);
        let histograms = vec![(Timer::Udp, vec![(100, 1), (50, 1)])];
        let rows = what_ifs(&histograms, Some(&sysctl), &[], 2);
        assert_eq!(
            (rows[0].configured, rows[0].configured_from, rows[0].gone),
            (60, Origin::Sysctl, 1)
        );
    }

    #[test]
    fn stateless_entries_go_to_their_protocols_timer() {
        let dump = b"\
icmp     1 25 src=192.0.2.1 dst=198.51.100.2 type=8 code=0 id=7 src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id=7 mark=0 use=1
icmp     1 5 src=192.0.2.1 dst=198.51.100.2 type=8 code=0 id=8 src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id=8 mark=0 use=1
icmpv6   58 29 src=2001:db8::1 dst=2001:db8::2 type=128 code=0 id=9 src=2001:db8::2 dst=2001:db8::1 type=129 code=0 id=9 mark=0 use=1
unknown  50 590 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 use=1
unknown  33 580 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 use=1
unknown  47 570 src=192.0.2.1 dst=198.51.100.3 src=198.51.100.3 dst=192.0.2.1 mark=0 use=1
gre      47 170 timeout=180, stream_timeout=180 src=192.0.2.1 dst=198.51.100.2 srckey=0x0 dstkey=0x0 src=198.51.100.2 dst=192.0.2.1 srckey=0x0 dstkey=0x0 [ASSURED] mark=0 use=1
tcp      6 8 CLOSE src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 src=198.51.100.2 dst=192.0.2.1 sport=2 dport=1 [ASSURED] mark=0 use=1
";
        let summary = crate::Analyzer::new().threads(1).analyze_bytes(dump);
        assert_eq!(summary.totals.flows, 8);
        let histograms = timer_histograms(&summary, &Breakdown::default());
        assert_eq!(
            histograms,
            vec![
                (Timer::Tcp(TcpState::Close), vec![(8, 1)]),
                (Timer::Icmp, vec![(5, 1), (25, 1)]),
                (Timer::Icmpv6, vec![(29, 1)]),
                // DCCP and GRE printed as `unknown`: no tracker loaded, the
                // generic timer; the tracked GRE entry is on GRE's own.
                (Timer::Generic, vec![(570, 1), (580, 1), (590, 1)]),
            ]
        );
        // ICMP at 30 s, tried at 10 s: gone when 20 s or less are left.
        // CLOSE is tried at its default only: no row at the default.
        let rows = what_ifs(&histograms, None, &[], 8);
        let shown: Vec<_> = rows
            .iter()
            .map(|r| (r.protocol, r.state, r.entries, r.gone))
            .collect();
        assert_eq!(
            shown,
            [
                ("icmp", "any", 2, 1),
                ("icmpv6", "any", 1, 0),
                ("other", "no tracker", 3, 0)
            ]
        );
        let rows = what_ifs(&histograms, None, &[(Timer::Tcp(TcpState::Close), 1)], 8);
        assert_eq!((rows[0].state, rows[0].gone), ("CLOSE", 1));
    }

    #[test]
    fn tcp_entries_that_may_be_on_the_short_timer_are_not_counted() {
        let est = Timer::Tcp(TcpState::Established);
        // 300 s left: may be on the unacknowledged-data timer (300 s), so
        // possibly 0 s idle; 301 s left: on the 432,000 s timer, idle for days.
        let histograms = vec![(est, vec![(300, 2), (301, 3), (431_000, 4)])];
        let rows = what_ifs(&histograms, None, &[], 9);
        assert_eq!(
            (rows[0].entries, rows[0].short_timer, rows[0].gone),
            (9, 2, 3)
        );
        // With both short timers raised to 3600 s, more are uncertain.
        let mut sysctl = Sysctl::default();
        sysctl.set("nf_conntrack_tcp_timeout_unacknowledged", 3600);
        let rows = what_ifs(&histograms, Some(&sysctl), &[], 9);
        assert_eq!((rows[0].short_timer, rows[0].gone), (5, 0));
        // TIME_WAIT (120 s) is shorter than the short timers: no exception.
        let tw = Timer::Tcp(TcpState::TimeWait);
        let rows = what_ifs(&[(tw, vec![(10, 1)])], None, &[], 1);
        assert_eq!((rows[0].short_timer, rows[0].gone), (0, 1));
    }
}
