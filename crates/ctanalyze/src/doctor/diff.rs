//! What changed between two snapshots of a table.

use ctparse::{DccpState, Protocol, SctpState, State, TcpState};
use serde::Serialize;

use crate::merge::{AddressCounter, Counts};
use crate::{Networks, Prefixes, Summary};

/// A count before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What is counted: a metric, protocol, state or flag name.
    pub name: String,
    /// The count in the first snapshot.
    pub before: u64,
    /// The count in the second snapshot.
    pub after: u64,
    /// `after - before`.
    pub delta: i64,
}

/// An address whose entry count grew or shrank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressChange {
    /// The address.
    pub address: String,
    /// Entries before.
    pub before: u64,
    /// Entries after.
    pub after: u64,
    /// `after - before`.
    pub delta: i64,
    /// Absent from the first snapshot.
    pub new: bool,
    /// Absent from the second snapshot.
    pub gone: bool,
}

/// A DNAT pair whose entry count grew or shrank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatChange {
    /// The L4 protocol name.
    pub protocol: &'static str,
    /// The original destination.
    pub original: String,
    /// The translated destination.
    pub translated: String,
    /// Entries before.
    pub before: u64,
    /// Entries after.
    pub after: u64,
    /// `after - before`.
    pub delta: i64,
    /// Absent from the first snapshot.
    pub new: bool,
    /// Absent from the second snapshot.
    pub gone: bool,
}

/// The differences between two summaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryDiff {
    /// When sources and destinations are grouped into networks
    /// ([`diff_grouped`]): the prefix lengths; their `address` is then a
    /// network (`198.51.100.0/24`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Prefixes>,
    /// Entries, flags, errors.
    pub totals: Vec<Change>,
    /// Per L4 protocol present in either snapshot.
    pub protocols: Vec<Change>,
    /// Per protocol state present in either snapshot (`tcp ESTABLISHED`,
    /// `sctp CLOSED`, ...).
    pub states: Vec<Change>,
    /// Sources that grew the most (new ones included), largest growth first.
    pub sources: Vec<AddressChange>,
    /// Destinations that grew the most.
    pub destinations: Vec<AddressChange>,
    /// DNAT pairs that grew the most.
    pub dnat: Vec<NatChange>,
    /// Sources that shrank the most (gone ones included), largest drop
    /// first: what a fix should show.
    pub sources_shrunk: Vec<AddressChange>,
    /// Destinations that shrank the most.
    pub destinations_shrunk: Vec<AddressChange>,
    /// DNAT pairs that shrank the most.
    pub dnat_shrunk: Vec<NatChange>,
}

fn change(name: impl Into<String>, before: u64, after: u64) -> Change {
    Change {
        name: name.into(),
        before,
        after,
        delta: delta(before, after),
    }
}

fn delta(before: u64, after: u64) -> i64 {
    let d = i128::from(after) - i128::from(before);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// The keys whose count grew, with before and after, by growth descending
/// then key ascending, at most `top` (0: all).
pub fn grown<C: Counts>(before: &C, after: &C, top: usize) -> Vec<(C::Key, u64, u64)> {
    let mut rows: Vec<(C::Key, u64, u64)> = after
        .counts()
        .filter_map(|(key, now)| {
            let was = before.count_of(&key);
            (now > was).then_some((key, was, now))
        })
        .collect();
    rows.sort_by(|a, b| (b.2 - b.1).cmp(&(a.2 - a.1)).then_with(|| a.0.cmp(&b.0)));
    if top > 0 {
        rows.truncate(top);
    }
    rows
}

/// The keys whose count shrank, with before and after, by drop descending
/// then key ascending, at most `top` (0: all): [`grown`] the other way.
pub fn shrunk<C: Counts>(before: &C, after: &C, top: usize) -> Vec<(C::Key, u64, u64)> {
    grown(after, before, top)
        .into_iter()
        .map(|(key, now, was)| (key, was, now))
        .collect()
}

/// Compares two snapshots; growth and shrink lists keep the `top` largest
/// (0: all).
///
/// ```
/// use ctanalyze::Analyzer;
/// use ctanalyze::doctor::diff::diff;
/// let before = Analyzer::new().analyze_bytes(b"\
/// ipv4     2 udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2
/// ");
/// let after = Analyzer::new().analyze_bytes(b"\
/// ipv4     2 udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 zone=0 use=2
/// ipv4     2 udp      17 29 src=192.0.2.9 dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst=192.0.2.9 sport=53 dport=5353 mark=0 zone=0 use=2
/// ");
/// let d = diff(&before, &after, 10);
/// assert_eq!((d.totals[0].name.as_str(), d.totals[0].delta), ("entries", 1));
/// assert_eq!((d.sources[0].address.as_str(), d.sources[0].new), ("192.0.2.9", true));
/// ```
pub fn diff(before: &Summary, after: &Summary, top: usize) -> SummaryDiff {
    diff_grouped(before, after, top, None)
}

/// [`diff`], with the sources and destinations grouped into networks by
/// `prefixes` when given: a scan or a client pool that grows across many
/// addresses of one network grows as one row.
///
/// ```
/// use ctanalyze::{Analyzer, Prefixes};
/// use ctanalyze::doctor::diff::diff_grouped;
/// let line = |src: &str| format!("ipv4     2 udp      17 29 src={src} dst=198.51.100.53 sport=5353 dport=53 [UNREPLIED] src=198.51.100.53 dst={src} sport=53 dport=5353 mark=0 zone=0 use=2\n");
/// let before = Analyzer::new().analyze_bytes(line("192.0.2.1").as_bytes());
/// let after = Analyzer::new().analyze_bytes((line("192.0.2.7") + &line("192.0.2.8")).as_bytes());
/// let prefixes = Prefixes { ipv4: 24, ipv6: 64 };
/// let d = diff_grouped(&before, &after, 10, Some(prefixes));
/// let grew = &d.sources[0];
/// assert_eq!((grew.address.as_str(), grew.before, grew.after), ("192.0.2.0/24", 1, 2));
/// ```
pub fn diff_grouped(
    before: &Summary,
    after: &Summary,
    top: usize,
    prefixes: Option<Prefixes>,
) -> SummaryDiff {
    let (b, a) = (before, after);
    let totals = vec![
        change("entries", b.totals.matched, a.totals.matched),
        change("ipv4", b.families[0], a.families[0]),
        change("ipv6", b.families[1], a.families[1]),
        change("assured", b.flags.assured, a.flags.assured),
        change("offloaded", b.flags.offload, a.flags.offload),
        // As `doctor` counts them: what early drop may evict (an
        // offloaded entry prints `[OFFLOAD]` instead of `[ASSURED]`).
        change("not assured", b.not_assured(), a.not_assured()),
        change("unreplied", b.flags.unreplied, a.flags.unreplied),
        change("dnat", b.dnat.total(), a.dnat.total()),
        change("snat", b.snat.total(), a.snat.total()),
        change("malformed lines", b.totals.errors, a.totals.errors),
    ];
    let protocols = (0..=u8::MAX)
        .map(Protocol)
        .filter(|&p| b.protocol(p) + a.protocol(p) > 0)
        .map(|p| change(p.name(), b.protocol(p), a.protocol(p)));
    let protocols = by_delta(protocols.collect());
    let states = TcpState::ALL
        .iter()
        .map(|&s| State::Tcp(s))
        .chain(SctpState::ALL.iter().map(|&s| State::Sctp(s)))
        .chain(DccpState::ALL.iter().map(|&s| State::Dccp(s)))
        .filter(|&s| b.state(s) + a.state(s) > 0)
        .map(|s| {
            let protocol = match s {
                State::Tcp(_) => "tcp",
                State::Sctp(_) => "sctp",
                State::Dccp(_) => "dccp",
            };
            change(format!("{protocol} {}", s.name()), b.state(s), a.state(s))
        });
    let mut states: Vec<Change> = states.collect();
    let none = (b.states.tcp_without_state, a.states.tcp_without_state);
    if none.0 + none.1 > 0 {
        states.push(change("tcp (none)", none.0, none.1));
    }
    let (sources, sources_shrunk) = address_lists(&b.sources, &a.sources, top, prefixes);
    let (destinations, destinations_shrunk) =
        address_lists(&b.destinations, &a.destinations, top, prefixes);
    SummaryDiff {
        prefixes,
        totals,
        protocols,
        states: by_delta(states),
        sources,
        destinations,
        dnat: nat_changes(grown(&b.dnat, &a.dnat, top)),
        sources_shrunk,
        destinations_shrunk,
        dnat_shrunk: nat_changes(shrunk(&b.dnat, &a.dnat, top)),
    }
}

/// The addresses (or their networks) that grew and those that shrank.
fn address_lists(
    before: &AddressCounter,
    after: &AddressCounter,
    top: usize,
    prefixes: Option<Prefixes>,
) -> (Vec<AddressChange>, Vec<AddressChange>) {
    match prefixes {
        None => (
            address_changes(grown(before, after, top)),
            address_changes(shrunk(before, after, top)),
        ),
        Some(prefixes) => {
            let before = Networks::group(before, prefixes);
            let after = Networks::group(after, prefixes);
            let (before, after) = (before.flows(), after.flows());
            (
                address_changes(grown(&before, &after, top)),
                address_changes(shrunk(&before, &after, top)),
            )
        }
    }
}

fn address_changes<K: std::fmt::Display>(rows: Vec<(K, u64, u64)>) -> Vec<AddressChange> {
    rows.into_iter()
        .map(|(addr, was, now)| AddressChange {
            address: addr.to_string(),
            before: was,
            after: now,
            delta: delta(was, now),
            new: was == 0,
            gone: now == 0,
        })
        .collect()
}

fn nat_changes(rows: Vec<(crate::DnatKey, u64, u64)>) -> Vec<NatChange> {
    rows.into_iter()
        .map(|(key, was, now)| NatChange {
            protocol: key.protocol.name(),
            original: key.original.to_string(),
            translated: key.translated.to_string(),
            before: was,
            after: now,
            delta: delta(was, now),
            new: was == 0,
            gone: now == 0,
        })
        .collect()
}

/// Largest change (in absolute value) first, then by name: stable output.
fn by_delta(mut rows: Vec<Change>) -> Vec<Change> {
    rows.sort_by(|a, b| {
        b.delta
            .unsigned_abs()
            .cmp(&a.delta.unsigned_abs())
            .then_with(|| b.delta.cmp(&a.delta))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counter;

    #[test]
    fn grown_keeps_growth_only_ordered_and_bounded() {
        let before: Counter<u32> = [1, 1, 2, 2, 2, 3].into_iter().collect();
        let after: Counter<u32> = [1, 1, 1, 2, 4, 4, 5, 5].into_iter().collect();
        // 1: 2 -> 3 (+1); 2: 3 -> 1 (shrank); 3: gone; 4: new +2; 5: new +2.
        assert_eq!(
            grown(&before, &after, 0),
            vec![(4, 0, 2), (5, 0, 2), (1, 2, 3)]
        );
        assert_eq!(grown(&before, &after, 1), vec![(4, 0, 2)]);
        assert_eq!(grown(&after, &after, 0), vec![]);
        // The other way: 3 gone (1 -> 0), 2 shrank (3 -> 1), by drop.
        assert_eq!(shrunk(&before, &after, 0), vec![(2, 3, 1), (3, 1, 0)]);
        assert_eq!(shrunk(&before, &after, 1), vec![(2, 3, 1)]);
    }

    #[test]
    fn deltas_saturate_and_sort_by_size() {
        assert_eq!(delta(0, u64::MAX), i64::MAX);
        assert_eq!(delta(u64::MAX, 0), i64::MIN);
        let rows = by_delta(vec![
            change("a", 5, 6),
            change("b", 9, 1),
            change("c", 0, 8),
            change("d", 2, 2),
        ]);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "a", "d"]);
    }

    #[test]
    fn the_same_snapshot_changes_nothing() {
        let dump = include_bytes!("../../../../fixtures/example/nf_conntrack.txt");
        let s = crate::Analyzer::new().threads(1).analyze_bytes(dump);
        let d = diff(&s, &s, 10);
        assert!(
            d.totals
                .iter()
                .chain(&d.protocols)
                .chain(&d.states)
                .all(|c| c.delta == 0)
        );
        assert!(d.sources.is_empty() && d.destinations.is_empty() && d.dnat.is_empty());
        assert!(d.sources_shrunk.is_empty() && d.destinations_shrunk.is_empty());
        assert!(d.dnat_shrunk.is_empty());
        let empty = diff(&Summary::default(), &s, 3);
        assert_eq!(empty.totals[0].delta, 1585);
        assert_eq!(empty.sources.len(), 3);
        assert!(empty.sources.iter().all(|g| g.new && !g.gone));
        assert_eq!(empty.sources[0].address, "198.18.1.1");
        assert!(empty.sources_shrunk.is_empty());
        // Emptied: everything shrank to nothing, largest first.
        let emptied = diff(&s, &Summary::default(), 3);
        assert!(emptied.sources.is_empty());
        assert_eq!(emptied.sources_shrunk.len(), 3);
        assert!(
            emptied
                .sources_shrunk
                .iter()
                .all(|g| g.gone && !g.new && g.after == 0)
        );
        assert_eq!(emptied.sources_shrunk[0].address, "198.18.1.1");
        assert_eq!(emptied.sources_shrunk[0].delta, -232);
        assert_eq!(emptied.dnat_shrunk[0].delta, -125);
    }
}
