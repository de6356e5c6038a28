//! The table-full post-mortem: from a dump (and, when given, the sysctls
//! and statistics captured with it) to what filled the table, what a
//! shorter timeout would change, and what to do, with the commands.
//!
//! The main types:
//!
//! - [`Doctor`]: the knobs (limits given on the command line, the memory
//!   per entry, the timeouts to try) and [`Doctor::diagnose`].
//! - [`Diagnosis`]: the typed, serializable result: [`Fill`],
//!   [`Composition`], [`whatif::WhatIf`] rows, [`notrack::Candidate`]s,
//!   the statistics with their meaning, findings, [`advice::Recommendation`]s
//!   and what could not be assessed.
//! - [`Sysctl`] and [`Stats`]: the side inputs, parsed from the text people
//!   capture (`sysctl -a | grep conntrack`, `conntrack -S`,
//!   `/proc/net/stat/nf_conntrack`), with [`InputError`]s that name line
//!   and column.
//! - [`Breakdown`]: the mergeable counts the doctor needs beyond a
//!   [`Summary`], made in the same pass when the analyzer is asked for
//!   [`Aggregates::BREAKDOWN`](crate::Aggregates::BREAKDOWN) (then in
//!   [`Summary::breakdown`]); [`Breakdown::from_bytes`] and
//!   [`BreakdownFeed`] make one on their own.
//! - [`diff`]: what changed between two snapshots.
//!
//! Every rule (pressure, what-if, each recommendation, NOTRACK candidates)
//! is a small pure function in [`advice`], [`whatif`] or [`notrack`].
//!
//! # Example
//!
//! ```
//! use ctanalyze::{Aggregates, Analyzer};
//! use ctanalyze::doctor::{Doctor, Stats, Sysctl};
//!
//! let dump = b"\
//! ipv4     2 tcp      6 60 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2
//! ipv4     2 tcp      6 110 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40001 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40001 [ASSURED] mark=0 zone=0 use=2
//! ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.7 dst=198.51.100.2 sport=40002 dport=443 src=198.51.100.2 dst=192.0.2.7 sport=443 dport=40002 [ASSURED] mark=0 zone=0 use=2
//! ";
//! let (sysctl, _) = Sysctl::parse(b"net.netfilter.nf_conntrack_max = 3\nnet.netfilter.nf_conntrack_buckets = 1024\n");
//! let (stats, _) = Stats::parse(b"cpu=0 found=0 invalid=0 insert=0 insert_failed=0 drop=9 early_drop=0 error=0 search_restart=0\n");
//! // One pass: every aggregate, and the doctor's breakdown.
//! let mut summary = Analyzer::new()
//!     .aggregates(Aggregates::ALL | Aggregates::BREAKDOWN)
//!     .analyze_bytes(dump);
//! let breakdown = std::mem::take(&mut summary.breakdown);
//! let diagnosis = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&stats));
//!
//! assert_eq!(diagnosis.fill.fill_percent, Some(100.0));
//! // TIME_WAIT at the default 120 s: the entry with 60 s left has been idle 60 s.
//! let time_wait = diagnosis.timeouts.iter().find(|w| w.state == "TIME_WAIT").unwrap();
//! assert_eq!((time_wait.proposed, time_wait.entries, time_wait.gone), (30, 2, 1));
//! assert_eq!(diagnosis.recommendations[0].commands, ["sysctl -w net.netfilter.nf_conntrack_max=8"]);
//! ```

pub mod advice;
pub mod breakdown;
pub mod diff;
pub mod flood;
pub mod notrack;
pub mod snat;
mod stats;
mod sysctl;
mod text;
pub mod whatif;

use std::fmt;
use std::path::Path;

use ctparse::Protocol;
use serde::Serialize;

pub use advice::{Pressure, Recommendation};
pub use breakdown::{AddressPairs, Addresses, Breakdown, BreakdownFeed, PortAddresses};
pub use stats::{Stats, StatsFormat, meaning};
pub use sysctl::Sysctl;

use crate::report::{AddressRow, NO_STATE, NatRow, ProtocolRow, StateRow};
use crate::{NetworkRow, Networks, Summary};
use notrack::Candidate;
use snat::PortUse;
use whatif::{Timer, WhatIf};

/// The memory one entry takes when nothing else is known: the size of the
/// `nf_conntrack` slab object on common 64-bit kernels (see
/// `grep nf_conntrack /proc/slabinfo`; extensions are allocated apart).
pub const DEFAULT_OBJECT_SIZE: u64 = 320;

/// A malformed line of a side input (sysctl or statistics text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column where the offending part starts.
    pub column: usize,
    /// What was wrong, with the offending text quoted.
    pub message: String,
}

impl InputError {
    fn new(line: u64, column: usize, message: String) -> InputError {
        InputError {
            line,
            column,
            message,
        }
    }

    /// Displays the error as `PATH:LINE:COLUMN: MESSAGE`.
    pub fn display_in<'e>(&'e self, path: &'e Path) -> impl fmt::Display + 'e {
        DisplayIn { error: self, path }
    }
}

impl fmt::Display for InputError {
    /// `LINE:COLUMN: MESSAGE`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for InputError {}

struct DisplayIn<'e> {
    error: &'e InputError,
    path: &'e Path,
}

impl fmt::Display for DisplayIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.error)
    }
}

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Origin {
    /// The sysctl input.
    #[serde(rename = "sysctl")]
    Sysctl,
    /// A command-line option.
    #[serde(rename = "option")]
    Option,
    /// The kernel's default (the configured value is unknown).
    #[serde(rename = "kernel default")]
    KernelDefault,
    /// The entries' time left: the configured value is unknown, and most
    /// of the timer's entries have more time left than the kernel's
    /// default, so the timeout is longer here; the 99th percentile of
    /// their time left stands in for it (a lower bound).
    #[serde(rename = "time left in dump")]
    TimeLeft,
    /// An assumption (see [`DEFAULT_OBJECT_SIZE`]).
    #[serde(rename = "assumed")]
    Assumed,
}

impl Origin {
    /// How the origin is named in reports.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Sysctl => "sysctl",
            Origin::Option => "option",
            Origin::KernelDefault => "kernel default",
            Origin::TimeLeft => "time left in dump",
            Origin::Assumed => "assumed",
        }
    }
}

/// How full the table is, how long its hash chains are, what it costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fill {
    /// Entries in the dump.
    pub entries: u64,
    /// `nf_conntrack_count` in the sysctl input (when the sysctls were read).
    pub count: Option<u64>,
    /// `entries` of `/proc/net/stat/nf_conntrack` (when it was read).
    pub stats_entries: Option<u64>,
    /// `nf_conntrack_max`.
    pub max: Option<u64>,
    /// Where `max` comes from.
    pub max_from: Option<Origin>,
    /// `nf_conntrack_buckets`.
    pub buckets: Option<u64>,
    /// Where `buckets` comes from.
    pub buckets_from: Option<Origin>,
    /// `entries` in percent of `max`.
    pub fill_percent: Option<f64>,
    /// The largest of `entries`, `count` and `stats_entries` in percent of
    /// `max`: how full the table is judged to be ([`Fill::peak`]).
    pub peak_fill_percent: Option<f64>,
    /// `entries / buckets`.
    pub entries_per_bucket: Option<f64>,
    /// `max / buckets`: entries per bucket at a full table.
    pub entries_per_bucket_at_max: Option<f64>,
    /// `2 x entries / buckets`: the average hash chain length (every entry
    /// is hashed twice, by its original and its reply tuple).
    pub average_chain: Option<f64>,
    /// Bytes per entry.
    pub object_size: u64,
    /// Where `object_size` comes from.
    pub object_size_from: Origin,
    /// `entries x object_size`: kernel memory of the entries.
    pub memory_bytes: u64,
    /// `max x object_size`: the same at a full table.
    pub memory_at_max_bytes: Option<u64>,
    /// `buckets x 8`: the hash table.
    pub hash_table_bytes: Option<u64>,
}

impl Fill {
    /// The fullest of the figures known, and which it is (as the start
    /// of a sentence): the dump's entries, `nf_conntrack_count` of the
    /// sysctls, or `entries` of the statistics. Captured a moment apart,
    /// they differ; pressure is judged from the largest, so a table the
    /// kernel counted as full is not called healthy from a dump taken
    /// after it drained (or in another namespace, which the findings flag).
    pub fn peak(&self) -> (u64, &'static str) {
        [
            (Some(self.entries), "The dump holds"),
            (self.count, "nf_conntrack_count was"),
            (self.stats_entries, "The statistics counted"),
        ]
        .into_iter()
        .filter_map(|(n, what)| Some((n?, what)))
        .fold((self.entries, "The dump holds"), |best, next| {
            if next.0 > best.0 { next } else { best }
        })
    }

    /// [`peak`](Fill::peak) in percent of `max` (`None` when there is no
    /// limit or it is unknown).
    pub fn peak_percent(&self) -> Option<f64> {
        self.max
            .filter(|&m| m > 0)
            .map(|m| percent(self.peak().0, m))
    }

    /// The fill of `entries` entries under the given limits.
    pub fn new(
        entries: u64,
        max: Option<(u64, Origin)>,
        buckets: Option<(u64, Origin)>,
        count: Option<u64>,
        stats_entries: Option<u64>,
        object_size: (u64, Origin),
    ) -> Fill {
        let ratio = |a: u64, b: u64| (b > 0).then(|| round2(a as f64 / b as f64));
        let max_value = max.map(|(m, _)| m);
        // nf_conntrack_max = 0 means no limit: nothing is relative to it.
        let limit = max_value.filter(|&m| m > 0);
        let bucket_count = buckets.map(|(b, _)| b);
        let mut fill = Fill {
            entries,
            count,
            stats_entries,
            max: max_value,
            max_from: max.map(|(_, o)| o),
            buckets: bucket_count,
            buckets_from: buckets.map(|(_, o)| o),
            fill_percent: limit.map(|m| percent(entries, m)),
            peak_fill_percent: None,
            entries_per_bucket: bucket_count.and_then(|b| ratio(entries, b)),
            entries_per_bucket_at_max: bucket_count.zip(limit).and_then(|(b, m)| ratio(m, b)),
            average_chain: bucket_count.and_then(|b| ratio(entries.saturating_mul(2), b)),
            object_size: object_size.0,
            object_size_from: object_size.1,
            memory_bytes: entries.saturating_mul(object_size.0),
            memory_at_max_bytes: limit.map(|m| m.saturating_mul(object_size.0)),
            hash_table_bytes: bucket_count.map(|b| b.saturating_mul(advice::BUCKET_BYTES)),
        };
        fill.peak_fill_percent = fill.peak_percent();
        fill
    }
}

/// Entries neither `[ASSURED]` nor offloaded, per protocol and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvictableRow {
    /// The L4 protocol name.
    pub protocol: &'static str,
    /// The state (`-` for protocols without states, `(none)` for TCP
    /// entries printed without one).
    pub state: &'static str,
    /// Entries.
    pub count: u64,
}

/// What fills the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Composition {
    /// Entries per L4 protocol.
    pub protocols: Vec<ProtocolRow>,
    /// TCP entries per state.
    pub tcp_states: Vec<StateRow>,
    /// `[ASSURED]` entries: never evicted to make room.
    pub assured: u64,
    /// Entries offloaded to a flowtable (`[OFFLOAD]`, `[HW_OFFLOAD]`). The
    /// kernel prints no `[ASSURED]` for them, so they are counted apart:
    /// kernels before 6.3 never evict an offloaded entry; from 6.3,
    /// early drop treats them as any other, and evicts those that are not
    /// assured (the dump cannot tell which: nftables flowtables take TCP
    /// entries once established, tc's `act_ct` may offload UDP before its
    /// reply).
    pub offloaded: u64,
    /// Entries neither `[ASSURED]` nor offloaded: what early drop may evict.
    pub not_assured: u64,
    /// Of `not_assured`, the `[UNREPLIED]` entries (an offloaded one is not
    /// counted here).
    pub unreplied: u64,
    /// The entries neither `[ASSURED]` nor offloaded, per protocol and state.
    pub not_assured_by_state: Vec<EvictableRow>,
    /// The top original sources.
    pub top_sources: Vec<AddressRow>,
    /// The top networks of original sources ([`Prefixes::DEFAULT`](crate::Prefixes::DEFAULT): IPv4
    /// /24, IPv6 /64), with how many of their addresses have entries.
    pub top_source_networks: Vec<NetworkRow>,
    /// The top original destinations.
    pub top_destinations: Vec<AddressRow>,
    /// The top DNAT services (original destination -> translated).
    pub top_dnat: Vec<NatRow>,
    /// Half-open TCP entries from many sources, when they are at least
    /// half the table: a SYN flood's pattern (see [`flood`]).
    pub syn_flood: Option<flood::HalfOpen>,
    /// How many keys the top lists have in all, by their field names
    /// (`"top_sources": 99392`); `snat_ports` counts the port spaces of
    /// [`Diagnosis::snat_ports`].
    pub distinct: std::collections::BTreeMap<&'static str, u64>,
}

/// One statistics counter, summed over CPUs, with its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterRow {
    /// The `conntrack -S` name.
    pub name: String,
    /// The total over CPUs.
    pub value: u64,
    /// What the kernel counts in it (empty for a name it does not know).
    pub meaning: &'static str,
}

/// The statistics input, summed correctly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsReport {
    /// The format read.
    pub format: StatsFormat,
    /// CPU lines read.
    pub cpus: usize,
    /// The entry count when the statistics were read (`/proc` only; one
    /// global value, not a sum over CPUs).
    pub entries: Option<u64>,
    /// The counters: `insert_failed`, `drop`, `early_drop`,
    /// `search_restart` first, then the others that are not zero.
    pub counters: Vec<CounterRow>,
}

/// Counters shown first, in this order.
const KEY_COUNTERS: [&str; 4] = ["insert_failed", "drop", "early_drop", "search_restart"];

impl StatsReport {
    /// The report of `stats`.
    pub fn new(stats: &Stats) -> StatsReport {
        let mut counters: Vec<CounterRow> = KEY_COUNTERS
            .iter()
            .filter_map(|&name| stats.get(name).map(|value| (name, value)))
            .chain(
                stats
                    .iter()
                    .filter(|&(name, value)| value > 0 && !KEY_COUNTERS.contains(&name)),
            )
            .map(|(name, value)| CounterRow {
                name: name.to_owned(),
                value,
                meaning: meaning(name).unwrap_or(""),
            })
            .collect();
        counters.dedup_by(|a, b| a.name == b.name);
        StatsReport {
            format: stats.format,
            cpus: stats.cpus,
            entries: stats.entries,
            counters,
        }
    }
}

/// The whole post-mortem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// How close the table is (or was) to its limit.
    pub pressure: Pressure,
    /// Fill, hash chains, memory.
    pub fill: Fill,
    /// What fills it.
    pub composition: Composition,
    /// What shorter timeouts would have removed.
    pub timeouts: Vec<WhatIf>,
    /// Heavy, never-NATed ports and address pairs.
    pub notrack: Vec<Candidate>,
    /// The source-port spaces of source NAT, fullest first.
    pub snat_ports: Vec<PortUse>,
    /// The statistics, when given.
    pub stats: Option<StatsReport>,
    /// What the evidence says, in sentences with the numbers.
    pub findings: Vec<String>,
    /// What to do, only where the evidence supports it.
    pub recommendations: Vec<Recommendation>,
    /// What could not be assessed without more input, and what was assumed.
    pub not_assessed: Vec<String>,
}

impl Diagnosis {
    /// The recommendation with the stable identifier `id` (`notrack`,
    /// `raise-max`), if the diagnosis makes it.
    pub fn recommendation(&self, id: &str) -> Option<&Recommendation> {
        self.recommendations.iter().find(|r| r.id == id)
    }
}

/// Runs the post-mortem. The knobs are set with builder methods.
#[derive(Debug, Clone)]
pub struct Doctor {
    max: Option<u64>,
    buckets: Option<u64>,
    object_size: Option<u64>,
    top: usize,
    proposals: Vec<(Timer, u64)>,
}

impl Default for Doctor {
    fn default() -> Self {
        Doctor::new()
    }
}

impl Doctor {
    /// A doctor with the limits from the sysctl input only, the default
    /// object size, top 10 lists and the default timeouts to try.
    pub fn new() -> Doctor {
        Doctor {
            max: None,
            buckets: None,
            object_size: None,
            top: 10,
            proposals: Vec::new(),
        }
    }

    /// Uses `max` as `nf_conntrack_max` (over the sysctl input).
    pub fn max(mut self, max: Option<u64>) -> Doctor {
        self.max = max;
        self
    }

    /// Uses `buckets` as `nf_conntrack_buckets` (over the sysctl input).
    pub fn buckets(mut self, buckets: Option<u64>) -> Doctor {
        self.buckets = buckets;
        self
    }

    /// Bytes per entry for the memory estimate (default
    /// [`DEFAULT_OBJECT_SIZE`]).
    pub fn object_size(mut self, bytes: Option<u64>) -> Doctor {
        self.object_size = bytes;
        self
    }

    /// Rows of the top lists (0: all).
    pub fn top(mut self, n: usize) -> Doctor {
        self.top = n;
        self
    }

    /// Tries `seconds` for `timer` instead of its default proposal.
    pub fn propose(mut self, timer: Timer, seconds: u64) -> Doctor {
        self.proposals.push((timer, seconds));
        self
    }

    /// The post-mortem of a dump's `summary` and `breakdown`, with the
    /// sysctls and statistics captured with it when there are any.
    ///
    /// The breakdown comes from the same pass, by an analyzer asked for
    /// [`Aggregates::BREAKDOWN`](crate::Aggregates::BREAKDOWN) (then it is
    /// `summary.breakdown`), or from [`Breakdown::from_bytes`]. An empty
    /// one for a summary of entries was not computed: the UDP what-if and
    /// the NOTRACK candidates are then missing, and `not_assessed` says so.
    pub fn diagnose(
        &self,
        summary: &Summary,
        breakdown: &Breakdown,
        sysctl: Option<&Sysctl>,
        stats: Option<&Stats>,
    ) -> Diagnosis {
        let from_input = |option: Option<u64>, name: &str| {
            option.map(|v| (v, Origin::Option)).or_else(|| {
                sysctl
                    .and_then(|s| s.get(name))
                    .map(|v| (v, Origin::Sysctl))
            })
        };
        let fill = Fill::new(
            summary.totals.matched,
            from_input(self.max, "nf_conntrack_max"),
            from_input(self.buckets, "nf_conntrack_buckets"),
            sysctl.and_then(|s| s.get("nf_conntrack_count")),
            stats.and_then(|s| s.entries),
            match self.object_size {
                Some(bytes) => (bytes, Origin::Option),
                None => (DEFAULT_OBJECT_SIZE, Origin::Assumed),
            },
        );
        let early_drop = stats.and_then(|s| s.get("early_drop"));
        // A `conntrack -E` capture counts events, not entries: nothing
        // about the table can be judged from it (the findings say so).
        let events = summary.events.iter().any(|&n| n > 0);
        let pressure = if events {
            Pressure::Unknown
        } else {
            advice::pressure(fill.peak_percent(), early_drop)
        };
        let histograms = whatif::timer_histograms(summary, breakdown);
        let mut timeouts = whatif::what_ifs(&histograms, sysctl, &self.proposals, fill.entries);
        // UDP-Lite runs on UDP's timers: its entries are in those rows.
        if summary.protocol(Protocol::UDPLITE) > 0 {
            for w in timeouts.iter_mut().filter(|w| w.protocol == "udp") {
                w.shared_with.push("udplite");
            }
        }
        // Every entry counts an address pair in the breakdown: an empty one
        // for a summary of entries was not computed. Then which ports are
        // NATed is unknown too, and no port may be proposed for NOTRACK.
        let no_breakdown = summary.totals.matched > 0 && breakdown.pairs.is_empty();
        let notrack = if no_breakdown {
            Vec::new()
        } else {
            notrack::candidates(summary, breakdown)
        };

        let networks = Networks::group(&summary.sources, crate::Prefixes::DEFAULT);

        // The rows, and the space the finding and the recommendation are
        // about.
        let snat::Overview {
            rows: snat_ports,
            subject: snat_subject,
            reported: snat_reported,
        } = snat::overview(&breakdown.snat_ports, self.top);
        let counters = snat::SearchCounters {
            insert_failed: stats.and_then(|s| s.get("insert_failed")),
            found: stats.and_then(|s| s.get("found")),
        };
        // Events are not entries: a capture of SYNs is no half-open table.
        let syn_flood = if events {
            None
        } else {
            flood::HalfOpen::of(summary)
        };
        let recommendations = if events {
            Vec::new()
        } else {
            let mut all = recommend(
                &fill,
                summary,
                &networks,
                stats,
                pressure,
                &timeouts,
                (&notrack, syn_flood.as_ref()),
            );
            // Whatever the table's fill: a port space runs out on its own.
            if let Some(r) = snat::recommendation(snat_subject.as_ref(), counters) {
                let at = all.iter().position(|r| r.id == "persist");
                all.insert(at.unwrap_or(all.len()), r);
            }
            all
        };

        let composition = composition(summary, breakdown, &networks, self.top, syn_flood);
        let snat_finding = snat_subject
            .as_ref()
            .and_then(|subject| snat::finding(subject, snat_reported, counters));
        let nat_failed = snat::explains_insert_failed(snat_subject.as_ref(), counters);
        let stats_report = stats.map(StatsReport::new);
        let findings = findings(
            &fill,
            summary,
            &composition,
            (snat_finding, nat_failed),
            stats,
            &timeouts,
            pressure,
        );
        let mut not_assessed = not_assessed(&fill, sysctl, stats, pressure, &notrack, &timeouts);
        if no_breakdown {
            not_assessed.push("UDP timers, NOTRACK candidates, evictable entries by state and SNAT source ports: the breakdown was not computed (analyze with Aggregates::BREAKDOWN), so the UDP what-if, the NOTRACK candidates and the SNAT source ports are missing.".to_owned());
        }
        Diagnosis {
            pressure,
            fill,
            composition,
            timeouts,
            notrack,
            snat_ports,
            stats: stats_report,
            findings,
            recommendations,
            not_assessed,
        }
    }
}

/// The recommendations, in order, then the commands that make the
/// settings they change survive a reboot. A timeout tried with
/// `--what-if` is shown in the what-if table only: it is a question, and
/// never becomes a command to paste.
fn recommend(
    fill: &Fill,
    summary: &Summary,
    networks: &Networks,
    stats: Option<&Stats>,
    pressure: Pressure,
    timeouts: &[WhatIf],
    // What the table's composition allows to untrack, or to proxy.
    (notrack, syn_flood): (&[notrack::Candidate], Option<&flood::HalfOpen>),
) -> Vec<Recommendation> {
    // A hashsize saved without the limit would set it, at the next boot,
    // to 8 x hashsize: the limit is saved with it (below).
    const MAX: &str = "net.netfilter.nf_conntrack_max";
    let mut recommendations = Vec::new();
    let mut changed: Vec<(String, u64)> = Vec::new();
    let mut target_max = fill.max;
    // What fills the table, named before the limit that it fills.
    let flood = syn_flood.filter(|_| pressure.is_high());
    let syn_proxy = flood.and_then(flood::recommendation);
    // SYNPROXY needs the connections it lets through tracked: untracking
    // its port is an alternative to it, not an addition.
    let proxied = syn_proxy.as_ref().and(flood.and_then(|f| f.port));
    let notrack: Vec<notrack::Candidate> = notrack
        .iter()
        .filter(|c| !proxied.is_some_and(|p| c.is_tcp_port(p.port)))
        .cloned()
        .collect();
    let notrack = &notrack[..];
    let unanswered = flood.and_then(flood::unanswered);
    // The port of the unanswered SYNs, when they are checked above and
    // it is a NOTRACK candidate.
    let unanswered_port = unanswered
        .as_ref()
        .and(flood.and_then(|f| f.port))
        .map(|p| p.port)
        .filter(|&port| notrack.iter().any(|c| c.is_tcp_port(port)));
    let causes: Vec<Recommendation> = advice::dominant_source(summary, pressure)
        .into_iter()
        .chain(advice::dominant_network(summary, networks, pressure))
        .chain(syn_proxy)
        .chain(unanswered)
        .collect();
    let cause = causes.first().map(|r| r.title.as_str());
    if let Some((r, new)) = advice::raise_max(fill, stats, cause) {
        changed.push((MAX.to_owned(), new));
        target_max = Some(new);
        recommendations.push(r);
    }
    let mut hashsize = None;
    if let Some(target) = target_max
        && let Some(r) = advice::buckets(fill, target, pressure, stats)
    {
        hashsize = Some(target);
        recommendations.push(r);
    }
    // Whether a NOTRACK pair starts at the source (or in the network) a
    // cause names: then it is to be understood before it is untracked.
    // The two tops, found once (not for each pair).
    let top_source = summary.sources.top(1).first().map(|&(addr, _)| addr);
    let top_network = networks
        .top_rows(1)
        .first()
        .and_then(|n| n.network.parse::<crate::Cidr>().ok());
    let named = |addr: std::net::IpAddr| {
        causes.iter().any(|r| match r.id {
            "dominant-source" => top_source == Some(addr),
            "dominant-network" => top_network.is_some_and(|cidr| cidr.contains(&addr)),
            _ => false,
        })
    };
    let candidate_of_cause = notrack.iter().find_map(|c| match &c.target {
        notrack::Target::Pair { source, .. } if source.parse().is_ok_and(named) => {
            Some(source.clone())
        }
        _ => None,
    });
    recommendations.extend(causes);
    for w in timeouts.iter().filter(|w| !w.asked) {
        if let Some(timer) = Timer::from_sysctl(&w.sysctl)
            && let Some(r) = advice::shorter_timeout(w, timer, pressure)
        {
            changed.push((w.sysctl.clone(), w.proposed));
            recommendations.push(r);
        }
    }
    if hashsize.is_some()
        && !changed.iter().any(|(name, _)| name == MAX)
        && let Some(max) = target_max
    {
        changed.insert(0, (MAX.to_owned(), max));
    }
    // Rules to save only where some are printed (not templates alone).
    let rules = notrack.iter().any(advice::gets_rules);
    let mut notrack = advice::notrack(notrack, pressure);
    let rules = rules && notrack.is_some();
    if let (Some(r), Some(source)) = (notrack.as_mut(), candidate_of_cause) {
        r.rationale.push_str(&format!(" {source} is a source to look at above: find out what it is before untracking its pairs; untracking a scan or a flood hides it, and does not stop it."));
    }
    if let (Some(r), Some(port)) = (notrack.as_mut(), unanswered_port) {
        r.rationale.push_str(&format!(" Port {port} is the port of the unanswered SYNs above: untracking it keeps them out of the table, but does not answer them; find out why they get no answer first."));
    }
    recommendations.extend(notrack);
    recommendations.extend(advice::persist(&changed, hashsize, rules));
    recommendations
}

fn composition(
    summary: &Summary,
    breakdown: &Breakdown,
    networks: &Networks,
    top: usize,
    syn_flood: Option<flood::HalfOpen>,
) -> Composition {
    let not_assured_by_state = breakdown
        .not_assured
        .top(0)
        .into_iter()
        .map(|((protocol, state), count)| EvictableRow {
            protocol: protocol.name(),
            state: match state {
                Some(s) => s.name(),
                None if protocol == Protocol::TCP => NO_STATE,
                None => "-",
            },
            count,
        })
        .collect();
    Composition {
        protocols: summary.protocol_rows(),
        tcp_states: summary.tcp_state_rows(),
        assured: summary.flags.assured,
        offloaded: summary.flags.offload,
        not_assured: summary.not_assured(),
        // Of the evictable ones: offloaded entries are not.
        unreplied: summary
            .flags
            .unreplied
            .saturating_sub(breakdown.offloaded_unreplied),
        not_assured_by_state,
        top_sources: summary.top_source_rows(top),
        top_source_networks: networks.top_rows(top),
        top_destinations: summary.top_destination_rows(top),
        top_dnat: summary.dnat_rows(top),
        syn_flood,
        distinct: [
            ("top_sources", summary.sources.len()),
            ("top_source_networks", networks.len()),
            ("top_destinations", summary.destinations.len()),
            ("top_dnat", summary.dnat.len()),
            // Of the diagnosis' `snat_ports`, kept here with the others.
            ("snat_ports", breakdown.snat_ports.len()),
        ]
        .into_iter()
        .map(|(key, n)| (key, n as u64))
        .collect(),
    }
}

/// What fills the table: the commonest protocol ("most entries" only
/// when it holds more than half of them) and, for TCP, its commonest
/// state. Shares are of all entries.
fn largest_group(summary: &Summary, total: u64) -> Option<String> {
    let top = summary
        .protocol_rows()
        .into_iter()
        .filter(|r| r.count > 0)
        .min_by(|a, b| b.count.cmp(&a.count).then(a.number.cmp(&b.number)))?;
    let part = share(top.count, total);
    let mut text = if top.count.saturating_mul(2) > total {
        format!(
            "Most entries are {}: {} ({part})",
            top.protocol,
            group(top.count)
        )
    } else {
        format!(
            "The commonest protocol is {}: {} ({part})",
            top.protocol,
            group(top.count)
        )
    };
    if top.number == 6
        && let Some(state) = summary
            .tcp_state_rows()
            .into_iter()
            // Entries printed without a state (offloaded ones) have none.
            .filter(|r| r.count > 0 && r.state != NO_STATE)
            .min_by(|a, b| b.count.cmp(&a.count).then(a.state.cmp(b.state)))
    {
        text.push_str(&format!(
            "; the commonest TCP state is {}: {} ({} of all entries)",
            state.state,
            group(state.count),
            share(state.count, total)
        ));
    }
    text.push('.');
    Some(text)
}

/// Malformed lines that may be entries the dump could not count: all but
/// conntrack-tools' own failure messages.
fn lost_entries(summary: &Summary) -> u64 {
    summary
        .totals
        .errors
        .saturating_sub(summary.totals.failures)
}

fn findings(
    fill: &Fill,
    summary: &Summary,
    composition: &Composition,
    (snat_finding, nat_failed): (Option<String>, Option<bool>),
    stats: Option<&Stats>,
    timeouts: &[WhatIf],
    pressure: Pressure,
) -> Vec<String> {
    let total = fill.entries;
    let mut out = Vec::new();
    let events: u64 = summary.events.iter().sum();
    if events > 0 {
        let [new, update, destroy] = summary.events.map(group);
        out.push(format!(
            "The input holds {} conntrack -E events ({new} NEW, {update} UPDATE, {destroy} DESTROY), not a table listing: every count below is of events, not of entries. Capture the table itself (conntrack -L, or /proc/net/nf_conntrack) for a diagnosis.",
            group(events)
        ));
    }
    // Malformed lines may be entries: every figure after is of those read.
    let totals = &summary.totals;
    if totals.errors > 0 && totals.flows > 0 {
        out.push(format!(
            "{} of the dump's {} lines ({}) are malformed and not counted: every figure below is of the {} read, and the table may hold more. Each malformed line is reported with its line and column; read the first ones before acting on the figures.",
            group(totals.errors),
            group(totals.lines),
            share(totals.errors, totals.lines),
            entries(totals.flows)
        ));
    }
    match (fill.max, fill.fill_percent) {
        (Some(max), Some(p)) => out.push(format!(
            "The dump holds {}: {} of nf_conntrack_max ({}){}.",
            entries(total),
            pct(p),
            group(max),
            fill_words(total, max, p, stats.and_then(|s| s.get("early_drop")))
        )),
        (Some(0), _) => out.push(format!(
            "The dump holds {}; nf_conntrack_max is 0: the kernel sets no limit.",
            entries(total)
        )),
        _ => out.push(format!(
            "The dump holds {}; nf_conntrack_max is unknown.",
            entries(total)
        )),
    }
    if let Some(count) = fill.count.filter(|&c| c != total) {
        out.push(format!(
            "nf_conntrack_count was {} when the sysctls were read (the dump has {}).",
            group(count),
            group(total)
        ));
    }
    // Only when the larger figure changes the verdict: counts taken a
    // moment apart always differ a little.
    let (peak, what) = fill.peak();
    let changes =
        advice::pressure(fill.peak_percent(), None) != advice::pressure(fill.fill_percent, None);
    if let Some(p) = fill.peak_percent().filter(|_| peak > total && changes) {
        out.push(format!(
            "{what} {}, {} of the limit: how full the table is is judged from that, the larger figure. {}",
            entries(peak),
            pct(p),
            if lost_entries(summary) >= peak - total {
                format!(
                    "The dump's {} malformed lines may account for the difference (entries it could not count); if not, check that the inputs come from the same host and network namespace, captured close together.",
                    group(lost_entries(summary))
                )
            } else {
                "If the dump and the other inputs differ this much, check that they come from the same host and network namespace, captured close together.".to_owned()
            }
        ));
    }
    if let (Some(buckets), Some(now), Some(chain)) =
        (fill.buckets, fill.entries_per_bucket, fill.average_chain)
    {
        let at_max = fill
            .entries_per_bucket_at_max
            .map_or(String::new(), |m| format!(", {m:.2} at the limit"));
        out.push(format!(
            "{} hash buckets: {now:.2} entries per bucket now{at_max}; hash chains average {chain:.2} entries (each entry is hashed twice).",
            group(buckets)
        ));
    }
    out.push(format!(
        "The entries take about {} of kernel memory ({} x {} bytes{}).",
        format_bytes(fill.memory_bytes),
        group(total),
        fill.object_size,
        if fill.object_size_from == Origin::Assumed {
            ", the nf_conntrack slab object of common 64-bit kernels, assumed"
        } else {
            ""
        }
    ));
    if let Some(text) = largest_group(summary, total) {
        out.push(text);
    }
    if let Some(top) = composition.top_sources.first() {
        out.push(format!(
            "The top source is {} with {} ({}).",
            top.address,
            entries(top.count),
            share(top.count, total)
        ));
    }
    // The top network, when it holds more than its busiest address: many
    // addresses of one subnet filling the table rank low one by one.
    let top_source = composition.top_sources.first().map_or(0, |s| s.count);
    if let Some(top) = composition
        .top_source_networks
        .first()
        .filter(|n| n.addresses > 1 && n.count > top_source)
    {
        out.push(format!(
            "The top source network is {} with {} ({}) from {} addresses.",
            top.network,
            entries(top.count),
            share(top.count, total),
            group(top.addresses)
        ));
    }
    if let Some(top) = composition.top_destinations.first() {
        out.push(format!(
            "The top destination is {} with {} ({}).",
            top.address,
            entries(top.count),
            share(top.count, total)
        ));
    }
    if let Some(top) = composition.top_dnat.first() {
        out.push(format!(
            "The busiest DNAT service is {} {} -> {} with {} ({}).",
            top.protocol,
            top.original,
            top.translated,
            entries(top.count),
            share(top.count, total)
        ));
    }
    if let Some(flood) = &composition.syn_flood {
        out.push(flood.finding());
    }
    if total > 0 {
        out.push(format!(
            "{} entries ({}) are not ASSURED, {} of them UNREPLIED: when the table is full, only these are evicted to make room for a new entry (early drop, from the new entry's hash bucket and the 7 after it). The {} ASSURED ones ({}) leave when they expire, or, once an eviction failed and the table is 95% full, when the garbage collector removes those of them that are closing (TCP FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE).",
            group(composition.not_assured),
            share(composition.not_assured, total),
            group(composition.unreplied),
            group(composition.assured),
            share(composition.assured, total),
        ));
        if composition.offloaded > 0 {
            out.push(format!(
                "{} entries ({}) are offloaded to a flowtable ([OFFLOAD], [HW_OFFLOAD]). The kernel prints no [ASSURED] for them, so they are counted apart from both: kernels before 6.3 never evict one; from 6.3, early drop evicts those that are not assured, which the dump cannot tell.",
                group(composition.offloaded),
                share(composition.offloaded, total),
            ));
        }
    }
    for w in timeouts.iter().filter(|w| w.gone > 0) {
        out.push(format!(
            "With {} = {}, {} of {} {} {} entries ({}) would already be gone ({} s now{}).",
            w.sysctl,
            w.proposed,
            group(w.gone),
            group(w.entries),
            w.protocols(),
            w.state,
            pct(w.percent),
            group(w.configured),
            match w.configured_from {
                Origin::KernelDefault => ", the kernel default",
                Origin::TimeLeft => " at least, as the entries' time left shows",
                _ => "",
            }
        ));
    }
    let raised: Vec<&WhatIf> = timeouts
        .iter()
        .filter(|w| w.configured_from == Origin::TimeLeft && !w.asked)
        .collect();
    if let Some(first) = raised.first() {
        out.push(format!(
            "Timeouts are longer here than the kernel's defaults: most {} {} entries have more time left than the default of {} ({} s), and 99% of them {} s or less{}. Without the configured value (no --sysctl, or no such key in it), the what-if takes that as the timeout (a lower bound) of each such timer.",
            first.protocol,
            first.state,
            first.sysctl,
            group(
                Timer::from_sysctl(&first.sysctl)
                    .and_then(Timer::spec)
                    .map_or(0, |spec| spec.kernel_default)
            ),
            group(first.configured),
            match raised.len() {
                1 => String::new(),
                n => format!(
                    "; {} other timer{} show the same",
                    n - 1,
                    if n == 2 { "" } else { "s" }
                ),
            }
        ));
    }
    let timers = each_timer_once(timeouts);
    // Timeouts the sysctl input shows raised well above the defaults: an
    // entry stays that much longer after its last packet.
    let raised: Vec<String> = timers
        .iter()
        .filter(|w| w.configured_from == Origin::Sysctl)
        .filter_map(|w| {
            let default = Timer::from_sysctl(&w.sysctl)?.spec()?.kernel_default;
            (w.configured >= default.saturating_mul(2)).then(|| {
                format!(
                    "{} = {} s (default {} s)",
                    w.sysctl.trim_start_matches("net.netfilter.nf_conntrack_"),
                    group(w.configured),
                    group(default)
                )
            })
        })
        .collect();
    if !raised.is_empty() {
        out.push(format!(
            "Timeouts are set well above the kernel's defaults here: {}. An entry stays that much longer after its last packet; the what-if below shows what shorter ones would free.",
            raised.join(", ")
        ));
    }
    let longer: u64 = timers.iter().map(|w| w.longer).sum();
    if longer > 0 {
        let (entries, their, run, them) = match longer {
            1 => ("entry has", "its", "it runs", "it"),
            _ => ("entries have", "their", "they run", "them"),
        };
        out.push(format!(
            "{} {entries} more time left than {their} timer's timeout: {run} on another one (a per-flow policy such as nft's `ct timeout`, or the timeout was lowered after the last refresh), so the what-if never counts {them} as gone.",
            group(longer)
        ));
    }
    if !timeouts.is_empty() && timeouts.iter().all(|w| w.gone == 0) {
        out.push("None of the shorter timeouts tried would have removed an entry yet: the entries are younger than that in their state.".to_owned());
    }
    let short: u64 = timers.iter().map(|w| w.short_timer).sum();
    if short > 0 {
        out.push(format!(
            "{} TCP entries have no more time left than the unacknowledged-data or retransmission timeout: they may run on that shorter timer, so their age is unknown and the what-if does not count them.",
            group(short)
        ));
    }
    if let Some(stats) = stats {
        let get = |name| stats.get(name).unwrap_or(0);
        let (drop, early, failed, long) = (
            get("drop"),
            get("early_drop"),
            get("insert_failed"),
            get("chaintoolong"),
        );
        if early > 0 {
            out.push(format!(
                "early_drop = {}: that many entries were evicted to make room because the table was full.{}",
                group(early),
                if stats.get("drop") == Some(0) {
                    " With drop = 0, every eviction found an entry to evict: no packet was dropped for a full table."
                } else {
                    ""
                }
            ));
        }
        if drop > 0 {
            let invalid = get("invalid");
            let table_full = early > 0 && failed == 0 && invalid == 0;
            // A full table with nothing it may evict drops without counting
            // early_drop (which counts evictions), and so does a failed
            // insert (with insert_failed): only more drops than failed
            // inserts may be the table's.
            let why = if table_full {
                "; with early_drop counted and no insert_failed or invalid packets, these are the table-full drops (\"nf_conntrack: table full, dropping packet\")".to_owned()
            } else if early == 0 && stats.clash_drops() >= drop {
                format!(
                    "; as many insert_failed ({}) or more: most likely insert clashes rather than a full table",
                    group(failed)
                )
            } else if early == 0 && pressure.is_high() {
                format!(
                    "; with the table {} in this dump, most likely the table-full drops (\"nf_conntrack: table full, dropping packet\") of a table with no entry it could evict near the new ones (early_drop counts evictions only, and none was made); `journalctl -k | grep 'table full'` confirms it",
                    if pressure == Pressure::Full {
                        "full"
                    } else {
                        "nearly full"
                    },
                )
            } else if early == 0 {
                format!(
                    "; early_drop = 0 means nothing was evicted, not that the table was never full: a full table with no entry it could evict near the new ones drops without counting early_drop, and the kernel then logs \"nf_conntrack: table full, dropping packet\" (`journalctl -k | grep 'table full'` on the host tells whether and when: a container's journal does not show the kernel's log; the counters add up since boot or the namespace's creation). Failed inserts (insert_failed = {}), invalid packets that a tracker drops (SCTP's) and failed allocations count here too",
                    group(failed),
                )
            } else {
                String::new()
            };
            out.push(format!(
                "drop = {}: packets were dropped because no entry could be made or inserted, or a tracker dropped them{why}.",
                group(drop),
            ));
        }
        if let (true, Some(every_kernel)) = (failed > 0, nat_failed) {
            out.push(format!(
                "insert_failed = {}: new entries could not be inserted, most likely because source NAT found no free port for them{} (the SNAT finding below); races between CPUs and chains too long also count here.",
                group(failed),
                if every_kernel { "" } else { ", on a kernel before 6.5" },
            ));
        } else if failed > 0 {
            // `found = 0`: no port search met a taken port.
            let nat = if stats.get("found") == Some(0) {
                ""
            } else {
                ", or were source-NATed when NAT found no free port"
            };
            out.push(format!(
                "insert_failed = {}: new entries lost an insert race or met a chain too long{nat}{}.",
                group(failed),
                match stats.get("chaintoolong") {
                    Some(0) => " (no chaintoolong: races, where the packets of one new flow try to insert its entry from two CPUs at once, typically UDP through NAT, such as a resolver sending its A and AAAA queries together from one socket; the kernel resolves most clashes, counted in clash_resolve, and drops the packet of the others; or a source-NAT port space with no port left, which the SNAT source ports show)".to_owned(),
                    Some(_) => format!(
                        " (chaintoolong = {}: hash chains too long; more nf_conntrack_buckets shorten them)",
                        group(long)
                    ),
                    None => String::new(),
                }
            ));
        }
        let counted = ["drop", "early_drop", "insert_failed"].map(|name| stats.get(name));
        if counted.iter().all(|c| c.is_none()) {
            out.push("The statistics hold no drop, early_drop or insert_failed counter: drops are not assessed.".to_owned());
        } else if counted.iter().all(|&c| c == Some(0)) {
            out.push("The statistics show no drop, early_drop or insert_failed since the counters started (boot, or the namespace's creation).".to_owned());
        }
    }
    // After the statistics, whose insert_failed it may explain.
    out.extend(snat_finding);
    if pressure == Pressure::Low && total > 0 {
        // Malformed lines that, were they entries, would make it full.
        let with_malformed = fill
            .max
            .filter(|&max| max > 0)
            .map(|max| percent(total.saturating_add(lost_entries(summary)), max))
            .filter(|&p| advice::pressure(Some(p), None) != Pressure::Low);
        out.push(match with_malformed {
            Some(p) => format!(
                "The entries read do not put the table under pressure, but with its {} malformed lines counted as entries the dump would fill {} of nf_conntrack_max: whether the limit needs to change is not settled until they are read.",
                group(lost_entries(summary)),
                pct(p)
            ),
            // Drops that may have been a full table's (see `drop` above).
            None if stats.is_some_and(|s| {
                s.get("early_drop") == Some(0) && s.get("drop").unwrap_or(0) > s.clash_drops()
            }) =>
            {
                "The table is not under pressure in this dump: nf_conntrack_max need not change, unless the kernel logged \"nf_conntrack: table full, dropping packet\" (`journalctl -k | grep 'table full'`): then it was full of entries it could not evict, and the drops are its (see drop above).".to_owned()
            }
            None => "The table is not under pressure: nf_conntrack_max need not change.".to_owned(),
        });
    }
    if pressure == Pressure::Past {
        out.push(format!(
            "{} {} of nf_conntrack_max, but early_drop = {} says the table was full at some time since the counters started (boot, or the namespace's creation): what filled it then is not in this dump, so there is no advice on it (timeouts, NOTRACK, sources). Two `conntrack -S` readings a minute apart tell whether early_drop still grows{}; capture the table then.",
            fill.peak().1,
            pct(fill.peak_percent().unwrap_or(0.0)),
            group(stats.and_then(|s| s.get("early_drop")).unwrap_or(0)),
            // The kernel logs "table full, dropping packet" only when an
            // eviction failed, which `drop` counts too.
            if stats.and_then(|s| s.get("drop")) == Some(0) {
                ""
            } else {
                "; `journalctl -k | grep 'table full'` tells when packets were dropped for it"
            },
        ));
    }
    out
}

/// The what-if rows, each timer's first only: an asked value adds a second
/// row for its timer.
fn each_timer_once(timeouts: &[WhatIf]) -> Vec<&WhatIf> {
    let mut seen = Vec::new();
    timeouts
        .iter()
        .filter(|w| {
            let first = !seen.contains(&&w.sysctl);
            seen.push(&w.sysctl);
            first
        })
        .collect()
}

fn not_assessed(
    fill: &Fill,
    sysctl: Option<&Sysctl>,
    stats: Option<&Stats>,
    pressure: Pressure,
    notrack: &[Candidate],
    timeouts: &[WhatIf],
) -> Vec<String> {
    let mut out = Vec::new();
    if fill.max.is_none() {
        out.push(format!(
            "Fill: nf_conntrack_max is unknown; pass --sysctl FILE (sysctl -a | grep conntrack) or --max N.{}",
            if pressure == Pressure::Full {
                " The statistics say the table was full, but a new limit cannot be sized without the current one."
            } else {
                ""
            }
        ));
    }
    if fill.buckets.is_none() {
        out.push(
            if sysctl.is_some() {
                "Hash chains: the sysctl input has no nf_conntrack_buckets; pass --buckets N (or capture it with `sysctl net.netfilter`)."
            } else {
                "Hash chains: nf_conntrack_buckets is unknown; pass --sysctl FILE or --buckets N."
            }
            .to_owned(),
        );
    }
    // Timers whose configured value is unknown: none given, or the sysctl
    // input lacks their key (a capture of nf_conntrack_max and count only).
    // An asked value's row has its timer's configured value too.
    let tried = each_timer_once(timeouts);
    let unknown: Vec<&str> = tried
        .iter()
        .filter(|w| matches!(w.configured_from, Origin::KernelDefault | Origin::TimeLeft))
        .map(|w| w.sysctl.trim_start_matches("net.netfilter."))
        .collect();
    if !unknown.is_empty() {
        let assumed = "the what-if assumes the kernel's default timeouts (or, for a timer most of whose entries have more time left than that, what their time left shows)";
        out.push(match sysctl {
            None => format!("Timeouts: {assumed}; pass --sysctl FILE for the configured ones."),
            Some(sysctl)
                if unknown.len() == tried.len()
                    && !sysctl.iter().any(|(key, _)| key.contains("_timeout")) =>
            {
                format!(
                    "Timeouts: the sysctl input has no nf_conntrack_*_timeout key, so {assumed}; `sysctl net.netfilter` prints them all."
                )
            }
            Some(_) => format!(
                "Timeouts: the sysctl input has no value for {} of the {} timers tried ({}); for {} {assumed}.",
                unknown.len(),
                tried.len(),
                unknown.join(", "),
                if unknown.len() == 1 { "it" } else { "them" },
            ),
        });
    }
    if stats.is_none() {
        out.push("Drops: without --stats FILE (conntrack -S or /proc/net/stat/nf_conntrack) the drop, early_drop and insert_failed counters are unknown, and whether the table overflowed is judged from the fill alone.".to_owned());
    }
    if pressure == Pressure::Unknown && (!notrack.is_empty() || !timeouts.is_empty()) {
        out.push("Recommendations that only pay off when the table is under pressure (shorter timeouts, NOTRACK, the top source) are withheld: how full it is is unknown.".to_owned());
    }
    if fill.object_size_from == Origin::Assumed {
        out.push(format!(
            "Memory: {} bytes per entry is assumed; pass --object-size with the object size of `grep nf_conntrack /proc/slabinfo` (4th column) on the host.",
            fill.object_size
        ));
    }
    out
}

/// How full the table is, in words, after "N entries: P% of
/// nf_conntrack_max (M)": exactly full, nearly full (from
/// [`advice::FULL`] percent), under pressure (from [`advice::HIGH`]), over
/// the limit (which one namespace's dump cannot be), and whether
/// `early_drop` shows it has been full.
fn fill_words(total: u64, max: u64, percent: f64, early_drop: Option<u64>) -> String {
    let mut words = match () {
        _ if total > max => ": more than the limit, which is checked only when an entry is made: it was lowered after these were made (lowering it evicts nothing), or the limit was read at another time, or on another host or namespace, than the dump".to_owned(),
        _ if total == max => ", the table is full".to_owned(),
        _ if percent >= advice::FULL => ", the table is nearly full".to_owned(),
        _ if percent >= advice::HIGH => ", under pressure".to_owned(),
        _ => String::new(),
    };
    if total < max && early_drop.is_some_and(|n| n > 0) {
        words.push_str("; early_drop shows the table has been full");
    }
    words
}

/// `1 entry`, `1,585 entries`.
pub(crate) fn entries(n: u64) -> String {
    format!("{} {}", group(n), if n == 1 { "entry" } else { "entries" })
}

/// `part` in percent of `whole` (0 when `whole` is 0), to two decimals;
/// a share above zero that would round to 0 is kept unrounded, so that it
/// never reads as none.
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let exact = part as f64 * 100.0 / whole as f64;
    match round2(exact) {
        0.0 if part > 0 => exact,
        rounded => rounded,
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `12.5%`, as [`percent_for_people`].
pub(crate) fn pct(p: f64) -> String {
    percent_for_people(p)
}

/// `part` of `whole` as [`pct`] shows a percentage, from the exact ratio:
/// not from [`percent`]'s two decimals, which would round twice (39 of 86
/// is 45.349%: `45.3%`, not `45.4%`).
pub(crate) fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return pct(0.0);
    }
    pct(part as f64 * 100.0 / whole as f64)
}

/// A percentage for people to read: [`one_decimal`] and `%`, except that
/// a share above zero never reads as none: 50 entries of 262,144 are
/// `<0.1%`, not `0.0%`. (CSV and JSON keep numbers.)
///
/// ```
/// use ctanalyze::doctor::percent_for_people;
/// assert_eq!(percent_for_people(12.46), "12.5%");
/// assert_eq!(percent_for_people(0.019), "<0.1%");
/// assert_eq!(percent_for_people(0.05), "0.1%");
/// assert_eq!(percent_for_people(0.0), "0.0%");
/// ```
pub fn percent_for_people(p: f64) -> String {
    if p > 0.0 && p < 0.05 {
        "<0.1%".to_owned()
    } else {
        format!("{}%", one_decimal(p))
    }
}

/// A percentage to one decimal, as reports print it, except that a share
/// short of the whole never reads as all of it: 99.95 (262,000 of
/// 262,144) is `99.9`, not `100.0`, beside "nearly full". The one
/// formatter for the doctor's prose and the CLI's percent cells.
///
/// ```
/// use ctanalyze::doctor::one_decimal;
/// assert_eq!(one_decimal(12.46), "12.5");
/// assert_eq!(one_decimal(99.95), "99.9");
/// assert_eq!(one_decimal(100.0), "100.0");
/// ```
pub fn one_decimal(p: f64) -> String {
    if (99.95..100.0).contains(&p) {
        "99.9".to_owned()
    } else {
        format!("{p:.1}")
    }
}

/// A count for people, with thousands separators: `1234567` ->
/// `1,234,567`. The one formatter for the doctor's prose and the CLI's
/// table cells.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A byte count for people: `83886080` -> `80.0 MiB`, `1023` -> `1023 bytes`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    match n {
        1 => return "1 byte".to_owned(),
        0..1024 => return format!("{n} bytes"),
        _ => {}
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Moved up by what prints: 1,048,575 bytes is `1.0 MiB`, not `1024.0 KiB`.
    while (value * 10.0).round() >= 10240.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_in_words() {
        assert_eq!(fill_words(1000, 1000, 100.0, None), ", the table is full");
        assert_eq!(
            fill_words(900, 1000, 90.0, None),
            ", the table is nearly full"
        );
        assert_eq!(fill_words(899, 1000, 89.9, None), ", under pressure");
        assert_eq!(fill_words(749, 1000, 74.9, None), "");
        assert_eq!(
            fill_words(500, 1000, 50.0, Some(3)),
            "; early_drop shows the table has been full"
        );
        assert_eq!(fill_words(500, 1000, 50.0, Some(0)), "");
        assert!(fill_words(1001, 1000, 100.1, Some(3)).starts_with(": more than the limit"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(group(0), "0");
        assert_eq!(group(262_144), "262,144");
        assert_eq!(entries(1), "1 entry");
        assert_eq!(entries(0), "0 entries");
        assert_eq!(entries(1585), "1,585 entries");
        assert_eq!(format_bytes(1023), "1023 bytes");
        assert_eq!(format_bytes(524_288 * 320), "160.0 MiB");
        assert_eq!(format_bytes(3 << 30), "3.0 GiB");
        assert_eq!(format_bytes(1), "1 byte");
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        // Rounded before the unit is chosen: never `1024.0 KiB`.
        assert_eq!(format_bytes(1_048_575), "1.0 MiB");
        assert_eq!(format_bytes(1_048_524), "1023.9 KiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
        assert_eq!(percent(1, 3), 33.33);
        // Shown from the exact ratio, not rounded twice.
        assert_eq!(pct(percent(39, 86)), "45.4%");
        assert_eq!(share(39, 86), "45.3%");
        assert_eq!(share(1, 262_144), "<0.1%");
        assert_eq!(share(0, 0), "0.0%");
        assert_eq!(percent(5, 0), 0.0);
    }

    #[test]
    fn fill_ratios() {
        let f = Fill::new(
            131_072,
            Some((262_144, Origin::Sysctl)),
            Some((65_536, Origin::Option)),
            Some(131_000),
            None,
            (256, Origin::Option),
        );
        assert_eq!(f.fill_percent, Some(50.0));
        assert_eq!(f.entries_per_bucket, Some(2.0));
        assert_eq!(f.entries_per_bucket_at_max, Some(4.0));
        assert_eq!(f.average_chain, Some(4.0));
        assert_eq!(f.memory_bytes, 131_072 * 256);
        assert_eq!(f.hash_table_bytes, Some(65_536 * 8));
        let unlimited = Fill::new(
            10,
            Some((0, Origin::Option)),
            Some((8, Origin::Option)),
            None,
            None,
            (320, Origin::Assumed),
        );
        assert_eq!(unlimited.fill_percent, None);
        assert_eq!(unlimited.entries_per_bucket_at_max, None);
        assert_eq!(unlimited.memory_at_max_bytes, None);
        assert_eq!(unlimited.average_chain, Some(2.5));
        let unknown = Fill::new(
            10,
            None,
            Some((0, Origin::Sysctl)),
            None,
            None,
            (320, Origin::Assumed),
        );
        assert_eq!((unknown.fill_percent, unknown.average_chain), (None, None));
    }

    /// The summary and the doctor's breakdown of `dump`, as `doctor` makes
    /// them.
    fn analyzed(dump: &[u8]) -> (Summary, Breakdown) {
        let summary = crate::Analyzer::new().threads(1).analyze_bytes(dump);
        (summary, Breakdown::from_bytes(dump))
    }

    fn example() -> (Summary, Breakdown, Sysctl, Stats) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/example/");
        let read = |name: &str| std::fs::read(format!("{root}{name}")).unwrap();
        let dump = read("nf_conntrack.txt");
        let (summary, breakdown) = analyzed(&dump);
        let (sysctl, e1) = Sysctl::parse(&read("sysctl.txt"));
        let (stats, e2) = Stats::parse(&read("stat_nf_conntrack.txt"));
        assert!(e1.is_empty() && e2.is_empty());
        (summary, breakdown, sysctl, stats)
    }

    #[test]
    fn a_quiet_table_gets_no_advice() {
        let (summary, breakdown, sysctl, stats) = example();
        let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&stats));
        assert_eq!(d.pressure, Pressure::Low);
        assert_eq!(d.fill.fill_percent, Some(0.6));
        assert_eq!(d.fill.average_chain, Some(0.01));
        assert_eq!(d.recommendations, vec![]);
        // UDP-Lite runs on UDP's timers: the row says so, and its count is
        // the evictable UDP and UDP-Lite entries of the composition.
        let udp = d
            .timeouts
            .iter()
            .find(|w| w.sysctl.ends_with("udp_timeout"))
            .unwrap();
        assert_eq!(
            (udp.protocol, &udp.shared_with[..], udp.protocols().as_str()),
            ("udp", &["udplite"][..], "udp, udplite")
        );
        let evictable: u64 = d
            .composition
            .not_assured_by_state
            .iter()
            .filter(|r| r.protocol == "udp" || r.protocol == "udplite")
            .map(|r| r.count)
            .sum();
        assert_eq!(udp.entries, evictable);
        // Its host raised every timeout to an hour: said, with the defaults.
        assert!(
            d.findings
                .iter()
                .any(|f| f.starts_with("Timeouts are set well above")
                    && f.contains("udp_timeout = 3,600 s (default 30 s)")),
            "{:?}",
            d.findings
        );
        assert!(!d.notrack.is_empty());
        let stats = d.stats.unwrap();
        assert_eq!(stats.entries, Some(1585));
        // The four that matter always; the others only when not zero.
        let names: Vec<&str> = stats.counters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "insert_failed",
                "drop",
                "early_drop",
                "search_restart",
                "expect_create",
                "expect_delete",
                "expect_new"
            ]
        );
        assert_eq!(d.not_assessed.len(), 1, "{:?}", d.not_assessed); // the object size only
    }

    /// A summary made without the breakdown, diagnosed with its empty
    /// one: the gap is named, and the parts that need it are empty.
    #[test]
    fn a_breakdown_not_computed_is_named_not_silent() {
        let (summary, breakdown, sysctl, stats) = example();
        let needle = "the breakdown was not computed";
        let with = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&stats));
        assert!(with.not_assessed.iter().all(|g| !g.contains(needle)));
        assert!(!with.notrack.is_empty());
        let empty = Breakdown::default();
        let without = Doctor::new().diagnose(&summary, &empty, Some(&sysctl), Some(&stats));
        assert!(without.notrack.is_empty());
        let gaps = without.not_assessed.join("\n");
        assert!(gaps.contains(needle), "{gaps}");
        // An empty dump needs no breakdown.
        let nothing = Summary::default();
        let d = Doctor::new().diagnose(&nothing, &empty, Some(&sysctl), Some(&stats));
        assert!(d.not_assessed.iter().all(|g| !g.contains(needle)));
    }

    /// A sysctl capture without the timeouts (`nf_conntrack_max` and the
    /// count only, a common one) or with some of them: the timers assumed
    /// are named as the sysctl input's gap, not as a missing `--sysctl`.
    #[test]
    fn timers_missing_from_the_sysctl_input_are_named() {
        let (summary, breakdown, full, stats) = example();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/example/sysctl.txt"
        ))
        .unwrap();
        let keep = |drop: &dyn Fn(&str) -> bool| {
            let kept: String = text
                .lines()
                .filter(|l| !drop(l))
                .map(|l| format!("{l}\n"))
                .collect();
            Sysctl::parse(kept.as_bytes()).0
        };
        let gap = |sysctl: &Sysctl| {
            let d = Doctor::new().diagnose(&summary, &breakdown, Some(sysctl), Some(&stats));
            let gaps: Vec<String> = d
                .not_assessed
                .into_iter()
                .filter(|g| g.starts_with("Timeouts:"))
                .collect();
            assert!(
                d.findings.iter().all(|f| !f.contains("Without --sysctl")),
                "{:?}",
                d.findings
            );
            gaps
        };
        assert_eq!(gap(&full), Vec::<String>::new());
        let none = gap(&keep(&|l: &str| l.contains("_timeout")));
        assert_eq!(none.len(), 1);
        assert!(
            none[0].starts_with("Timeouts: the sysctl input has no nf_conntrack_*_timeout key"),
            "{none:?}"
        );
        // Another timeout's key, none of those tried: no "no key" claim.
        let (sctp_only, _) =
            Sysctl::parse(b"net.netfilter.nf_conntrack_sctp_timeout_established = 210\n");
        let other = gap(&sctp_only);
        assert!(
            other[0].starts_with(
                "Timeouts: the sysctl input has no value for 13 of the 13 timers tried"
            ),
            "{other:?}"
        );
        let one = gap(&keep(&|l: &str| l.contains("udp_timeout_stream")));
        assert_eq!(one.len(), 1);
        assert!(
            one[0].starts_with(
                "Timeouts: the sysctl input has no value for 1 of the 13 timers tried \
                 (nf_conntrack_udp_timeout_stream); for it "
            ),
            "{one:?}"
        );
    }

    #[test]
    fn without_side_inputs_it_says_what_it_cannot_assess() {
        let (summary, breakdown, _, _) = example();
        let d = Doctor::new().diagnose(&summary, &breakdown, None, None);
        assert_eq!(d.pressure, Pressure::Unknown);
        assert_eq!(d.recommendations, vec![]);
        let gaps = d.not_assessed.join("\n");
        for needle in [
            "--max N",
            "--buckets N",
            "default timeouts",
            "--stats FILE",
            "withheld",
            "--object-size",
        ] {
            assert!(gaps.contains(needle), "{needle}: {gaps}");
        }
        // Defaults are used for the what-if, and said to be, except where
        // the example's entries have more time left than a default allows
        // (its host raised them): there the longest time left, said too.
        for w in &d.timeouts {
            let spec = Timer::from_sysctl(&w.sysctl).and_then(Timer::spec).unwrap();
            match w.configured_from {
                Origin::KernelDefault => assert_eq!(w.configured, spec.kernel_default),
                Origin::TimeLeft => assert!(w.configured > spec.kernel_default, "{w:?}"),
                other => panic!("{other:?}"),
            }
        }
        let udp = d
            .timeouts
            .iter()
            .find(|w| w.state == "not ASSURED")
            .unwrap();
        assert_eq!(
            (udp.configured, udp.configured_from),
            (3595, Origin::TimeLeft)
        );
        assert!(
            d.findings
                .iter()
                .any(|f| f.starts_with("Timeouts are longer here than the kernel's defaults: ")),
            "{:?}",
            d.findings
        );
    }

    /// A table filled by one port spread over many destinations: no rule
    /// is printed for it (only a template), so nothing is saved either.
    #[test]
    fn a_port_of_many_destinations_gets_a_template_and_nothing_saved() {
        let dump: String = (0..100)
            .map(|i| {
                let dst = format!("198.51.100.{}", i % 8 + 1);
                format!(
                    "ipv4     2 tcp      6 100 ESTABLISHED src=192.0.2.{a} dst={dst} sport={p} dport=9400 src={dst} dst=192.0.2.{a} sport=9400 dport={p} [ASSURED] mark=0 use=1\n",
                    a = i % 50 + 1,
                    p = 30_000 + i
                )
            })
            .collect();
        let (summary, breakdown) = analyzed(dump.as_bytes());
        let d = Doctor::new()
            .max(Some(100))
            .diagnose(&summary, &breakdown, None, None);
        let notrack = d.recommendation("notrack").unwrap();
        assert!(
            notrack
                .commands
                .iter()
                .all(|c| c.starts_with('#') || c.starts_with("nft list")),
            "{:?}",
            notrack.commands
        );
        assert!(
            d.recommendations
                .iter()
                .flat_map(|r| &r.commands)
                .all(|c| !c.contains("raw_notrack") || c.starts_with('#')),
            "{:?}",
            d.recommendations
        );
    }

    /// early_drop counts since boot: on a table 0.6% full it says the
    /// table was full once. The limit may be raised; nothing is advised
    /// from what fills the table now, which is not what filled it then.
    #[test]
    fn early_drop_on_a_quiet_table_is_the_past() {
        let (summary, breakdown, sysctl, _) = example();
        let (stats, errors) = Stats::parse(b"cpu=0 drop=0 early_drop=3 insert_failed=0\n");
        assert!(errors.is_empty());
        let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&stats));
        assert_eq!(d.pressure, Pressure::Past);
        // No drop with them: every eviction made room.
        assert!(d.findings.iter().any(|f| f.starts_with("early_drop = 3: ")
            && f.ends_with("no packet was dropped for a full table.")));
        // Nothing was lost: nothing to change, and no log line to look for.
        assert_eq!(d.recommendations, vec![]);
        assert!(d.findings.iter().all(|f| !f.contains("journalctl")));
        // With drops, the limit is raised, for the next time.
        let (dropped, _) = Stats::parse(b"cpu=0 drop=4 early_drop=3 insert_failed=0\n");
        let d3 = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&dropped));
        assert_eq!(d3.pressure, Pressure::Past);
        let ids: Vec<&str> = d3.recommendations.iter().map(|r| r.id).collect();
        assert_eq!(ids, ["raise-max", "buckets", "persist"]);
        assert!(
            d3.recommendations[0].rationale.ends_with(
                "headroom for the next time; what filled the table then is not in this dump."
            ),
            "{}",
            d3.recommendations[0].rationale
        );
        assert!(d3.findings.iter().any(|f| f.contains("journalctl -k")));
        // Without a drop counter, nothing is said of drops.
        let (no_drop, _) = Stats::parse(b"cpu=0 early_drop=3\n");
        let d2 = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&no_drop));
        assert!(
            d2.findings
                .iter()
                .all(|f| !f.contains("no packet was dropped")),
            "{:?}",
            d2.findings
        );
        assert!(
            d.findings.iter().any(|f| f.contains(
                "early_drop = 3 says the table was full at some time since the counters started"
            )),
            "{:?}",
            d.findings
        );
        // The same counters on a full table: the whole advice.
        let full = Doctor::new().max(Some(1600)).diagnose(
            &summary,
            &breakdown,
            Some(&sysctl),
            Some(&stats),
        );
        assert_eq!(full.pressure, Pressure::Full);
        assert!(full.recommendation("notrack").is_some());
    }

    #[test]
    fn a_full_table_gets_the_capacity_advice_with_numbers() {
        let (summary, breakdown, _, stats) = example();
        let d = Doctor::new().max(Some(1600)).buckets(Some(400)).diagnose(
            &summary,
            &breakdown,
            None,
            Some(&stats),
        );
        assert_eq!(d.pressure, Pressure::Full);
        let ids: Vec<&str> = d.recommendations.iter().map(|r| r.id).collect();
        assert_eq!(ids[..2], ["raise-max", "buckets"]);
        assert_eq!(*ids.last().unwrap(), "persist");
        assert_eq!(
            d.recommendations[0].commands,
            ["sysctl -w net.netfilter.nf_conntrack_max=4096"]
        );
        assert_eq!(
            d.recommendations[1].commands[0],
            "sysctl -w net.netfilter.nf_conntrack_buckets=4096"
        );
        assert!(ids.contains(&"notrack"));
        let persist = d.recommendations.last().unwrap();
        assert!(persist.commands[0].contains("net.netfilter.nf_conntrack_max = 4096"));
        assert!(persist.commands[2].contains("hashsize=4096"));
        // The NOTRACK rules proposed are saved as well.
        assert!(
            persist
                .commands
                .iter()
                .any(|c| c
                    .ends_with("nft list table inet raw_notrack; } > /etc/nftables-notrack.nft")),
            "{:?}",
            persist.commands
        );
        // Raising the limit points at the cause: the example's 198.18.1.0/24
        // holds 60.6% of it.
        let raise = &d.recommendations[0].rationale;
        let cause = d
            .recommendation("dominant-network")
            .expect("the example's top /24 is named");
        assert!(
            raise.contains(&format!("not a cure: see \"{}\" below", cause.title)),
            "{raise}"
        );
        // The pair 198.18.1.1 -> 198.51.100.2 starts in that network.
        let notrack = d.recommendation("notrack").unwrap();
        assert!(
            notrack
                .rationale
                .contains("198.18.1.1 is a source to look at above"),
            "{}",
            notrack.rationale
        );
    }

    #[test]
    fn the_fullest_figure_known_sets_the_pressure() {
        let (summary, breakdown, mut sysctl, _) = example();
        // The dump holds 1,585 of 262,144; the kernel counted 262,000.
        sysctl.set("nf_conntrack_count", 262_000);
        let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), None);
        assert_eq!(d.fill.peak(), (262_000, "nf_conntrack_count was"));
        assert_eq!(d.fill.fill_percent, Some(0.6));
        assert_eq!(d.pressure, Pressure::Full);
        assert_eq!(d.recommendations[0].id, "raise-max");
        assert_eq!(
            d.recommendations[0].commands,
            ["sysctl -w net.netfilter.nf_conntrack_max=524288"]
        );
        let said = |d: &Diagnosis| {
            d.findings
                .iter()
                .any(|f| f.contains("is judged from that, the larger figure"))
        };
        assert!(said(&d));
        // A count a little above the dump's, the verdict unchanged: churn,
        // not worth a finding.
        sysctl.set("nf_conntrack_count", 1600);
        let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), None);
        assert_eq!(d.pressure, Pressure::Low);
        assert!(!said(&d), "{:?}", d.findings);
        // Without the count, the dump's figure rules, as before.
        sysctl.set("nf_conntrack_count", 10);
        let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), None);
        assert_eq!(d.fill.peak(), (1585, "The dump holds"));
        assert_eq!(d.pressure, Pressure::Low);
    }

    #[test]
    fn an_event_capture_gets_no_advice() {
        let (_, _, sysctl, stats) = example();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/kernel/router/");
        let dump = std::fs::read(format!("{root}events.txt")).unwrap();
        let (summary, breakdown) = analyzed(&dump);
        assert!(summary.events.iter().sum::<u64>() > 0);
        // A limit it would otherwise be nearly full against.
        let d = Doctor::new().max(Some(270)).diagnose(
            &summary,
            &breakdown,
            Some(&sysctl),
            Some(&stats),
        );
        assert_eq!(d.pressure, Pressure::Unknown);
        assert_eq!(d.recommendations, vec![]);
        assert!(
            d.findings[0].contains("not a table listing"),
            "{:?}",
            d.findings
        );
    }

    /// "No drops" is said only when the statistics hold the counters and
    /// they are zero; without them, drops are said not to be assessed.
    #[test]
    fn no_drop_is_claimed_only_from_counters_that_are_there() {
        let (summary, breakdown, _, _) = example();
        let findings = |stats: &[u8]| {
            let (stats, errors) = Stats::parse(stats);
            assert!(errors.is_empty());
            Doctor::new()
                .diagnose(&summary, &breakdown, None, Some(&stats))
                .findings
                .into_iter()
                .filter(|f| f.starts_with("The statistics"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            findings(b"cpu=0 found=3 invalid=1\n"),
            [
                "The statistics hold no drop, early_drop or insert_failed counter: drops are not assessed."
            ]
        );
        assert_eq!(
            findings(b"cpu=0 found=3 insert_failed=0 drop=0 early_drop=0\n"),
            [
                "The statistics show no drop, early_drop or insert_failed since the counters started (boot, or the namespace's creation)."
            ]
        );
        assert!(findings(b"cpu=0 drop=0 early_drop=2\n").is_empty());
    }

    /// Drops on a table that is not full in the dump: clashes when
    /// insert_failed accounts for them, otherwise possibly a full table's
    /// (with no early drop) since boot; insert_failed is named a race
    /// only when chaintoolong says no chain was too long.
    #[test]
    fn drops_of_a_table_not_full_are_told_apart() {
        let (summary, breakdown, sysctl, _) = example();
        let findings = |stats: &[u8]| {
            let (stats, errors) = Stats::parse(stats);
            assert!(errors.is_empty());
            let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&stats));
            // Not full, unless something was evicted.
            let evicted = stats.get("early_drop").unwrap_or(0) > 0;
            assert_eq!(d.pressure == Pressure::Low, !evicted);
            d.findings
        };
        let clash = findings(b"cpu=0 insert_failed=500 drop=500 early_drop=0 chaintoolong=0\n");
        let drop = clash.iter().find(|f| f.starts_with("drop = 500")).unwrap();
        assert!(drop.contains("most likely insert clashes"), "{drop}");
        // More drops than clashes, and no early drop: a full table with
        // nothing to evict counts no early_drop, whatever invalid says
        // (non-zero on nearly every host). Its log line tells.
        for stats in [
            &b"cpu=0 invalid=5000 insert_failed=0 drop=300 early_drop=0\n"[..],
            b"cpu=0 invalid=0 insert_failed=200 drop=300 early_drop=0\n",
        ] {
            let found = findings(stats);
            let drop = found.iter().find(|f| f.starts_with("drop = 300")).unwrap();
            assert!(
                drop.contains(
                    "early_drop = 0 means nothing was evicted, not that the table was never full"
                ) && drop.contains("journalctl -k | grep 'table full'")
                    && drop.contains("the counters add up since boot")
                    && !drop.contains("not a full table"),
                "{drop}"
            );
            let limit = found
                .iter()
                .find(|f| f.contains("need not change"))
                .unwrap();
            assert!(limit.contains(", unless the kernel logged"), "{limit}");
        }
        // A chain too long counts in insert_failed, not in drop: 400 of
        // the 500 failed inserts explain no drop.
        let chains = findings(b"cpu=0 insert_failed=500 drop=500 early_drop=0 chaintoolong=400\n");
        let drop = chains.iter().find(|f| f.starts_with("drop = 500")).unwrap();
        assert!(!drop.contains("most likely insert clashes"), "{drop}");
        let limit = chains
            .iter()
            .find(|f| f.contains("need not change"))
            .unwrap();
        assert!(limit.contains(", unless the kernel logged"), "{limit}");
        // Clashes explain every drop: the limit need not change.
        let limit = clash
            .iter()
            .find(|f| f.contains("need not change"))
            .unwrap();
        assert_eq!(
            limit,
            "The table is not under pressure: nf_conntrack_max need not change."
        );
        let failed = clash
            .iter()
            .find(|f| f.starts_with("insert_failed = 500"))
            .unwrap();
        assert!(failed.contains("(no chaintoolong: races"), "{failed}");
        let chains = findings(b"cpu=0 insert_failed=5 drop=5 early_drop=0 chaintoolong=5\n");
        let failed = chains
            .iter()
            .find(|f| f.starts_with("insert_failed = 5"))
            .unwrap();
        assert!(
            failed.contains("(chaintoolong = 5: hash chains too long"),
            "{failed}"
        );
        // An older kernel without the counter: neither is claimed.
        let unknown = findings(b"cpu=0 insert_failed=5 drop=5 early_drop=0\n");
        let failed = unknown
            .iter()
            .find(|f| f.starts_with("insert_failed = 5"))
            .unwrap();
        assert_eq!(
            failed,
            "insert_failed = 5: new entries lost an insert race or met a chain too long, or were source-NATed when NAT found no free port."
        );
        // Evictions happened: the drops may be the table-full kind.
        let full = findings(b"cpu=0 insert_failed=0 drop=5 early_drop=7\n");
        let drop = full.iter().find(|f| f.starts_with("drop = 5")).unwrap();
        assert!(!drop.contains("since boot"), "{drop}");
    }

    /// On a table full in the dump, drops without early_drop are the
    /// table-full kind (nothing could be evicted), invalid packets or not.
    #[test]
    fn drops_of_a_full_table_without_evictions_are_the_tables() {
        let (summary, breakdown, _, _) = example();
        let (stats, _) =
            Stats::parse(b"cpu=0 invalid=5000 insert_failed=0 drop=300 early_drop=0\n");
        let entries = summary.totals.flows;
        for (max, full) in [(entries, "full"), (entries * 100 / 80, "nearly full")] {
            let d = Doctor::new()
                .max(Some(max))
                .diagnose(&summary, &breakdown, None, Some(&stats));
            assert!(d.pressure.is_high(), "{:?}", d.pressure);
            let drop = d
                .findings
                .iter()
                .find(|f| f.starts_with("drop = 300"))
                .unwrap();
            assert!(
                drop.contains(&format!(
                    "with the table {full} in this dump, most likely the table-full drops"
                )),
                "{drop}"
            );
        }
    }

    /// A flow on a timeout policy of its own is not taken for the timer's
    /// timeout: the default stands, and the flow is named apart.
    #[test]
    fn one_flow_with_a_long_timeout_does_not_move_its_timer() {
        let mut dump = String::new();
        for i in 0..100 {
            dump.push_str(&format!(
                "ipv4     2 udp      17 {} src=192.0.2.1 dst=198.51.100.53 sport={} dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport={} mark=0 zone=0 use=2\n",
                5 + i % 25,
                10_000 + i,
                10_000 + i
            ));
        }
        dump.push_str("ipv4     2 udp      17 3590 src=192.0.2.1 dst=198.51.100.53 sport=9999 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=9999 mark=0 zone=0 use=2\n");
        let (summary, breakdown) = analyzed(dump.as_bytes());
        let d = Doctor::new().diagnose(&summary, &breakdown, None, None);
        let udp = d
            .timeouts
            .iter()
            .find(|w| w.state == "not ASSURED")
            .unwrap();
        assert_eq!(
            (udp.configured, udp.configured_from, udp.longer, udp.entries),
            (30, Origin::KernelDefault, 1, 101)
        );
        assert!(
            d.findings.iter().any(|f| f.starts_with(
                "1 entry has more time left than its timer's timeout: it runs on another one"
            )),
            "{:?}",
            d.findings
        );
        assert!(
            !d.findings
                .iter()
                .any(|f| f.starts_with("Timeouts are longer here")),
            "{:?}",
            d.findings
        );
    }

    /// Offloaded entries print no `[ASSURED]`: they are counted apart,
    /// neither kept nor evictable, and their missing TCP state is no
    /// "commonest state". Counted here from the text of the fixture.
    #[test]
    fn offloaded_entries_are_not_counted_as_evictable() {
        // The fixture, and a UDP entry offloaded before its reply (as tc's
        // act_ct may).
        let dump = format!(
            "{}{}",
            include_str!("../../../../fixtures/dialects/proc-offload.txt"),
            "ipv4     2 udp      17 src=192.0.2.30 dst=198.51.100.60 sport=4000 dport=4000 [UNREPLIED] src=198.51.100.60 dst=192.0.2.30 sport=4000 dport=4000 [OFFLOAD] mark=0 zone=0 use=3\n"
        );
        let lines: Vec<&str> = dump.lines().collect();
        let has = |flag: &str| lines.iter().filter(|l| l.contains(flag)).count() as u64;
        let offloaded = has("[OFFLOAD]") + has("[HW_OFFLOAD]");
        let assured = has("[ASSURED]");
        assert!(
            offloaded >= 4 && has("[HW_OFFLOAD]") >= 2,
            "the fixture has both kinds"
        );

        let (summary, breakdown) = analyzed(dump.as_bytes());
        assert_eq!(
            summary.flags.offload, offloaded,
            "hardware offload is offload too"
        );
        assert_eq!(summary.flags.hw_offload, has("[HW_OFFLOAD]"));
        let d = Doctor::new().diagnose(&summary, &breakdown, None, None);
        let c = &d.composition;
        assert_eq!(c.offloaded, offloaded);
        assert_eq!(c.assured, assured);
        assert_eq!(c.not_assured, lines.len() as u64 - offloaded - assured);
        // An UNREPLIED entry offloaded (as tc's act_ct may) is not evictable.
        let unreplied = |l: &&&str| l.contains("[UNREPLIED]");
        assert_eq!(
            c.unreplied,
            lines
                .iter()
                .filter(unreplied)
                .filter(|l| !l.contains("OFFLOAD]"))
                .count() as u64
        );
        let by_state: u64 = c.not_assured_by_state.iter().map(|r| r.count).sum();
        assert_eq!(by_state, c.not_assured);
        assert!(
            c.not_assured_by_state.iter().all(|r| r.state != NO_STATE),
            "{:?}",
            c.not_assured_by_state
        );
        let tcp = d
            .findings
            .iter()
            .find(|f| f.starts_with("Most entries") || f.starts_with("The commonest protocol"))
            .unwrap();
        assert!(
            tcp.contains("the commonest TCP state is ESTABLISHED"),
            "{tcp}"
        );
        assert!(
            d.findings.iter().any(|f| f.starts_with(&format!(
                "{offloaded} entries ({}) are offloaded",
                share(offloaded, lines.len() as u64)
            ))),
            "{:?}",
            d.findings
        );
    }

    /// What fills the table is named by protocol first: 600 TCP entries
    /// in three states and 300 UDP ones are mostly TCP, even though UDP
    /// outnumbers each TCP state; "most" is said only of a majority.
    #[test]
    fn the_commonest_protocol_is_named_before_its_states() {
        let finding = |tcp: [usize; 3], udp: usize, icmp: usize| {
            let mut dump = String::new();
            let tuple =
                |i: usize| format!("src=192.0.2.1 dst=198.51.100.2 sport={} dport=53", 1024 + i);
            let reply =
                |i: usize| format!("src=198.51.100.2 dst=192.0.2.1 sport=53 dport={}", 1024 + i);
            for (state, n) in ["ESTABLISHED", "TIME_WAIT", "SYN_SENT"].iter().zip(tcp) {
                for i in 0..n {
                    dump.push_str(&format!(
                        "tcp      6 100 {state} {} {} use=1\n",
                        tuple(i),
                        reply(i)
                    ));
                }
            }
            for i in 0..udp {
                dump.push_str(&format!("udp      17 20 {} {} use=1\n", tuple(i), reply(i)));
            }
            for i in 0..icmp {
                dump.push_str(&format!("icmp     1 20 src=192.0.2.1 dst=198.51.100.2 type=8 code=0 id={i} src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id={i} use=1\n"));
            }
            let (summary, breakdown) = analyzed(dump.as_bytes());
            assert_eq!(
                summary.totals.flows,
                (tcp.iter().sum::<usize>() + udp + icmp) as u64
            );
            let findings = Doctor::new()
                .diagnose(&summary, &breakdown, None, None)
                .findings;
            findings
                .into_iter()
                .find(|f| f.starts_with("Most entries") || f.starts_with("The commonest protocol"))
        };
        assert_eq!(
            finding([200, 250, 150], 300, 0).as_deref(),
            Some(
                "Most entries are tcp: 600 (66.7%); the commonest TCP state is TIME_WAIT: 250 (27.8% of all entries)."
            )
        );
        assert_eq!(
            finding([50, 40, 10], 120, 0).as_deref(),
            Some("Most entries are udp: 120 (54.5%).")
        );
        assert_eq!(
            finding([20, 10, 10], 35, 25).as_deref(),
            Some(
                "The commonest protocol is tcp: 40 (40.0%); the commonest TCP state is ESTABLISHED: 20 (20.0% of all entries)."
            )
        );
        assert_eq!(finding([0, 0, 0], 0, 0), None);
    }
}
