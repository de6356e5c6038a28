//! Conntrack statistics: `conntrack -S` and `/proc/net/stat/nf_conntrack`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::InputError;
use super::text::{Lines, parse_decimal, parse_hex, shown, tokens};

/// Where a [`Stats`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatsFormat {
    /// `conntrack -S`: one `cpu=N key=value ...` line per CPU, decimal.
    #[serde(rename = "conntrack -S")]
    ConntrackS,
    /// `/proc/net/stat/nf_conntrack`: a header of names, then one row of
    /// hexadecimal numbers per CPU.
    #[serde(rename = "/proc/net/stat/nf_conntrack")]
    Proc,
}

impl StatsFormat {
    /// How the format is named in reports.
    pub fn name(self) -> &'static str {
        match self {
            StatsFormat::ConntrackS => "conntrack -S",
            StatsFormat::Proc => "/proc/net/stat/nf_conntrack",
        }
    }
}

/// The conntrack statistics of a network namespace, summed over CPUs.
///
/// The kernel keeps the counters per CPU; both formats print one line per
/// CPU, and the totals are their sums. `entries` (in `/proc` only) is the
/// namespace's entry count, the same on every row: it is never summed.
/// Names are `conntrack -S`'s: the `/proc` columns `clashres`,
/// `chainlength` and `icmp_error` are `clash_resolve`, `chaintoolong` and
/// `error`.
///
/// ```
/// use ctanalyze::doctor::Stats;
/// let conntrack_s = b"cpu=0   \tfound=0 invalid=5 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 \n\
/// cpu=1   \tfound=0 invalid=1 insert=0 insert_failed=2 drop=7 early_drop=40 error=0 search_restart=1 \n";
/// let (stats, errors) = Stats::parse(conntrack_s);
/// assert!(errors.is_empty());
/// assert_eq!((stats.cpus, stats.get("drop"), stats.get("early_drop")), (2, Some(7), Some(40)));
///
/// let proc = b"entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
/// 00040000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n\
/// 00040000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 000001be 00003175 00000000  00000000 00000000 00000000 00000000\n";
/// let (stats, errors) = Stats::parse(proc);
/// assert!(errors.is_empty());
/// assert_eq!(stats.entries, Some(262144)); // not 2 x 262144
/// assert_eq!((stats.get("drop"), stats.get("early_drop")), (Some(446), Some(12661)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The format read.
    pub format: StatsFormat,
    /// CPU lines read.
    pub cpus: usize,
    /// The namespace's entry count when the file was read (`/proc` only).
    pub entries: Option<u64>,
    counters: BTreeMap<String, u64>,
}

impl Stats {
    /// Parses either format (told apart by the first non-blank line); a
    /// malformed line is reported and skipped, never fatal.
    pub fn parse(text: &[u8]) -> (Stats, Vec<InputError>) {
        let first = Lines::new(text).find(|(_, line)| tokens(line).next().is_some());
        match first {
            Some((_, line)) if tokens(line).next().is_some_and(|(_, t)| t == b"entries") => {
                parse_proc(text)
            }
            _ => parse_conntrack_s(text),
        }
    }

    /// The total of counter `name` over all CPUs (`None`: not in the input).
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }

    /// The failed inserts that dropped their packet, as `drop` counts
    /// them: `insert_failed` but for a chain too long (`chaintoolong`,
    /// counted in `insert_failed` and not in `drop`); 0 for counters not
    /// in the input.
    pub(crate) fn clash_drops(&self) -> u64 {
        let get = |name| self.get(name).unwrap_or(0);
        get("insert_failed").saturating_sub(get("chaintoolong"))
    }

    /// Every counter with its total, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counters.iter().map(|(k, &v)| (k.as_str(), v))
    }

    fn new(format: StatsFormat) -> Stats {
        Stats {
            format,
            cpus: 0,
            entries: None,
            counters: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: &str, value: u64) {
        if name == "entries" {
            // The same global count on every CPU line: keep it once (the
            // largest, should a line have been printed a moment later).
            self.entries = Some(self.entries.map_or(value, |e| e.max(value)));
            return;
        }
        let total = self.counters.entry(canonical(name).to_owned()).or_insert(0);
        *total = total.saturating_add(value);
    }
}

/// `conntrack -S` names for the `/proc` column names that differ.
fn canonical(name: &str) -> &str {
    match name {
        "clashres" => "clash_resolve",
        "chainlength" => "chaintoolong",
        "icmp_error" => "error",
        other => other,
    }
}

fn parse_conntrack_s(text: &[u8]) -> (Stats, Vec<InputError>) {
    let mut stats = Stats::new(StatsFormat::ConntrackS);
    let mut errors = Vec::new();
    for (number, line) in Lines::new(text) {
        let mut fields = Vec::new();
        let mut bad = None;
        for (column, token) in tokens(line) {
            let parsed = memchr::memchr(b'=', token).and_then(|at| {
                let name = std::str::from_utf8(&token[..at]).ok()?;
                let valid = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                Some((name, parse_decimal(&token[at + 1..])?)).filter(|_| valid)
            });
            match parsed {
                Some(field) => fields.push(field),
                None => {
                    bad = Some((column, token));
                    break;
                }
            }
        }
        if let Some((column, token)) = bad {
            errors.push(InputError::new(
                number,
                column + 1,
                format!("expected `name=number`, found \"{}\"", shown(token)),
            ));
            continue;
        }
        if fields.is_empty() {
            continue;
        }
        if fields.iter().any(|(name, _)| *name == "cpu") {
            stats.cpus += 1;
        }
        for (name, value) in fields {
            if name != "cpu" {
                stats.add(name, value);
            }
        }
    }
    (stats, errors)
}

fn parse_proc(text: &[u8]) -> (Stats, Vec<InputError>) {
    let mut stats = Stats::new(StatsFormat::Proc);
    let mut errors = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for (number, line) in Lines::new(text) {
        let row: Vec<(usize, &[u8])> = tokens(line).collect();
        if row.is_empty() {
            continue;
        }
        if header.is_empty() {
            header = row
                .iter()
                .map(|(_, t)| String::from_utf8_lossy(t).into_owned())
                .collect();
            continue;
        }
        if row.len() != header.len() {
            let column = row.get(header.len()).or(row.last()).map_or(0, |(c, _)| *c);
            errors.push(InputError::new(
                number,
                column + 1,
                format!(
                    "expected {} hexadecimal columns as in the header, found {}",
                    header.len(),
                    row.len()
                ),
            ));
            continue;
        }
        let values: Result<Vec<u64>, (usize, &[u8])> = row
            .iter()
            .map(|&(column, token)| parse_hex(token).ok_or((column, token)))
            .collect();
        match values {
            Ok(values) => {
                stats.cpus += 1;
                for (name, value) in header.iter().zip(values) {
                    stats.add(name, value);
                }
            }
            Err((column, token)) => errors.push(InputError::new(
                number,
                column + 1,
                format!("expected a hexadecimal number, found \"{}\"", shown(token)),
            )),
        }
    }
    (stats, errors)
}

/// What a counter means, for the counters the kernel keeps (current and
/// historical names); `None` for a name it does not know.
pub fn meaning(name: &str) -> Option<&'static str> {
    Some(match name {
        "insert_failed" => {
            "new entries that could not be inserted when their first packet was confirmed: a clash with an entry for the same flow inserted first by a concurrent packet (typically UDP, with NAT) that could not be resolved, a source-NAT port space with no port free, or a hash chain too long; the packet was dropped"
        }
        "drop" => {
            "packets dropped because conntrack could not track them: no new entry could be made (the table was full and no evictable entry was found near the new one, the 'table full, dropping packet' case, or memory ran out), an insert clash, or a protocol tracker asked to drop"
        }
        "early_drop" => {
            "entries evicted to make room for new ones while the table was full: the kernel deletes the non-ASSURED entries of the same namespace in the first of the 8 hash buckets, from the new entry's on, that holds any"
        }
        "search_restart" => {
            "lookups restarted because the hash table was resized or an entry moved to another chain while it was walked; harmless unless it grows fast"
        }
        "invalid" => {
            "packets conntrack could not classify or that failed its protocol checks (they match `ct state invalid`)"
        }
        "error" => "ICMP and ICMPv6 errors that were malformed or matched no tracked connection",
        "found" => {
            "lookups that found the tuple already in use (on current kernels: NAT looking for a free port)"
        }
        "insert" => {
            "entries inserted by ctnetlink (current kernels do not count the packet path here)"
        }
        "clash_resolve" => {
            "clashes between two new entries of the same flow that were resolved without dropping the packet"
        }
        "chaintoolong" => {
            "inserts refused because a hash chain was too long (also counted in insert_failed; the packet is dropped): too few buckets for the entries, or an attack on the hash"
        }
        "new" => "entries created (old kernels; current ones print 0)",
        "ignore" => "packets that were already tracked or not to be tracked (old kernels)",
        "delete" => "entries deleted (old kernels)",
        "delete_list" => "entries taken off the unconfirmed list (old kernels)",
        "searched" => "hash lookups (old kernels)",
        "expect_new" => "connections that matched an expectation (helpers such as FTP, SIP)",
        "expect_create" => "expectations created by helpers",
        "expect_delete" => "expectations deleted",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_s_sums_cpus_with_tabs_and_trailing_spaces() {
        let text = b"cpu=0   \tfound=0 invalid=5 insert=0 insert_failed=1 drop=2 early_drop=3 error=0 search_restart=4 \n\
            cpu=1   \tfound=0 invalid=1 insert=0 insert_failed=10 drop=20 early_drop=30 error=0 search_restart=40 \n";
        let (stats, errors) = Stats::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(stats.format, StatsFormat::ConntrackS);
        assert_eq!(stats.cpus, 2);
        assert_eq!(stats.entries, None);
        assert_eq!(stats.get("invalid"), Some(6));
        assert_eq!(stats.get("insert_failed"), Some(11));
        assert_eq!(stats.get("drop"), Some(22));
        assert_eq!(stats.get("early_drop"), Some(33));
        assert_eq!(stats.get("search_restart"), Some(44));
        assert_eq!(stats.get("chaintoolong"), None);
    }

    #[test]
    fn proc_entries_are_global_and_names_map_to_conntrack_s() {
        let text = b"entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
            00000631  00000001 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000003  00000001 00000000 00000001 00000000\n\
            00000631  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000001 00000000 0000000a\n";
        let (stats, errors) = Stats::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(stats.format, StatsFormat::Proc);
        assert_eq!((stats.cpus, stats.entries), (2, Some(0x631)));
        assert_eq!(stats.get("entries"), None);
        assert_eq!(stats.get("clash_resolve"), Some(1));
        assert_eq!(stats.get("chaintoolong"), Some(2));
        assert_eq!(stats.get("error"), Some(3));
        assert_eq!(stats.get("search_restart"), Some(10));
        assert_eq!(stats.get("expect_create"), Some(1));
    }

    #[test]
    fn a_bad_row_is_reported_and_the_others_count() {
        let text = b"entries drop early_drop\n\
            00000010 00000001 00000002\n\
            00000010 0000zz01 00000002\n\
            00000010 00000001\n\
            00000010 00000001 00000002\n";
        let (stats, errors) = Stats::parse(text);
        assert_eq!(stats.cpus, 2);
        assert_eq!(stats.get("drop"), Some(2));
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].column), (3, 10));
        assert_eq!(
            errors[0].message,
            "expected a hexadecimal number, found \"0000zz01\""
        );
        assert_eq!((errors[1].line, errors[1].column), (4, 10));
        let (_, errors) = Stats::parse(b"cpu=0 drop=x\n");
        assert_eq!((errors[0].line, errors[0].column), (1, 7));
        assert_eq!(
            errors[0].message,
            "expected `name=number`, found \"drop=x\""
        );
    }

    #[test]
    fn every_key_counter_has_a_meaning_and_odd_input_never_panics() {
        for name in ["insert_failed", "drop", "early_drop", "search_restart"] {
            assert!(meaning(name).is_some(), "{name}");
        }
        assert_eq!(meaning("bogus"), None);
        for text in [
            &b""[..],
            b"entries",
            b"entries\n\n",
            b"=",
            b"cpu=",
            b"\xff=1",
            b"entries x\n1 2 3",
        ] {
            let _ = Stats::parse(text);
        }
    }
}
