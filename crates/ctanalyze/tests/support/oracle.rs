//! Checking a capture directory against its conntrack-tools oracle.
//!
//! A capture directory (written by `fixtures/capture/capture.sh`) holds, per
//! network namespace, the table as several dialects print it and an
//! `oracle.tsv` of counts computed by conntrack-tools alone:
//! `<conntrack arguments>\t<count>`. Each line's arguments are turned into
//! a [`Filter`] with the same meaning, and the count ctanalyze derives from
//! every dump of that namespace must equal the oracle's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctanalyze::{Analyzer, Filter, Nat, StatusMatch, Summary};
use ctparse::{Family, Flow, L4, Parser, Protocol};

/// The dumps of one namespace that list the whole table.
pub const TABLE_DUMPS: &[&str] = &[
    "proc.txt",
    "nf_conntrack.txt",
    "conntrack-L.txt",
    "conntrack-L-extended.txt",
    "conntrack-L-id.txt",
    "conntrack-L-ktimestamp.txt",
    "conntrack-L-labels.txt",
];

/// Event captures (`conntrack -E`): they have no oracle, but every line
/// must parse.
pub const EVENT_DUMPS: &[&str] = &["events.txt", "events-userspace.txt"];

/// Every namespace directory (one holding an `oracle.tsv`) under `root`.
pub fn namespaces(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("oracle.tsv").is_file())
        .collect();
    found.sort();
    found
}

/// The oracle: conntrack arguments -> count.
pub fn read_oracle(dir: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(dir.join("oracle.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (args, count) = line
                .rsplit_once('\t')
                .unwrap_or_else(|| panic!("bad oracle line {line:?}"));
            (
                args.to_owned(),
                count
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("bad count in {line:?}")),
            )
        })
        .collect()
}

/// The filter meaning the same as conntrack's arguments.
pub fn filter_for(args: &str) -> Filter {
    let mut filter = Filter::default();
    let mut words = args.split_whitespace();
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .unwrap_or_else(|| panic!("{word} without value in {args:?}"))
                .to_owned()
        };
        match word {
            "-C" | "-L" => {}
            "-f" => {
                filter.family = Some(match value().as_str() {
                    "ipv4" => Family::Ipv4,
                    "ipv6" => Family::Ipv6,
                    other => panic!("family {other:?}"),
                })
            }
            "-p" => {
                let name = value();
                filter.protocol = Some(
                    Protocol::from_name(name.as_bytes())
                        .unwrap_or_else(|| panic!("protocol {name:?}")),
                );
            }
            "--state" => {
                let name = value();
                filter.state = Some(filter.parse_state(&name).unwrap());
            }
            "-s" | "--src" | "--orig-src" => filter.src = Some(value().parse().unwrap()),
            "-d" | "--dst" | "--orig-dst" => filter.dst = Some(value().parse().unwrap()),
            "-r" | "--reply-src" => filter.reply_src = Some(value().parse().unwrap()),
            "-q" | "--reply-dst" => filter.reply_dst = Some(value().parse().unwrap()),
            "--sport" | "--orig-port-src" => filter.sport = Some(value().parse().unwrap()),
            "--dport" | "--orig-port-dst" => filter.dport = Some(value().parse().unwrap()),
            "-m" | "--mark" => filter.mark = Some(value().parse().unwrap()),
            "-w" | "--zone" => filter.zone = Some(value().parse().unwrap()),
            "--orig-zone" => filter.orig_zone = Some(value().parse().unwrap()),
            "--reply-zone" => filter.reply_zone = Some(value().parse().unwrap()),
            "-u" | "--status" => {
                for status in value().split(',') {
                    filter.status.push(status.parse::<StatusMatch>().unwrap());
                }
            }
            "--src-nat" => filter.nat = Some(Nat::Src),
            "--dst-nat" => filter.nat = Some(Nat::Dst),
            "--any-nat" => filter.nat = Some(Nat::Any),
            other => panic!("oracle uses conntrack option {other:?}, which this test does not map"),
        }
    }
    filter
}

/// The one place conntrack-tools and a reading of the text disagree.
///
/// In a namespace where NAT is configured, conntrack-tools 1.4.7 counts
/// every ICMP/ICMPv6 entry whose reply tuple differs from the inverted
/// original in its L4 words (an answered echo: type 8 comes back as type 0)
/// as both `--src-nat` and `--dst-nat`, although no address or id was
/// translated. Observed in `fixtures/kernel/router` (and not in `client` or
/// `server`, which have no NAT). ctreport decides NAT from addresses and
/// ports only; this predicate names exactly the entries on which the two
/// differ, so that the test still matches the oracle exactly everywhere else.
pub fn conntrack_flags_as_nat(flow: &Flow<'_>, nat: Nat) -> bool {
    let l4_words_differ = match (flow.orig.l4, flow.reply.l4) {
        (
            L4::Icmp {
                icmp_type: a,
                code: ca,
                id: ia,
            },
            L4::Icmp {
                icmp_type: b,
                code: cb,
                id: ib,
            },
        ) => (a, ca, ia) != (b, cb, ib),
        _ => false,
    };
    l4_words_differ && !nat.matches(flow)
}

/// Whether the namespace's saved ruleset configures NAT.
pub fn has_nat(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("ruleset.nft")).is_ok_and(|rules| rules.contains("type nat"))
}

/// What a `Summary` aggregate says for oracle queries it can answer on its
/// own (no filter pass): protocol, family, TCP state, zone, mark and NAT
/// counts. `None` for queries only a filter answers.
fn from_aggregates(args: &str, summary: &Summary, flagged: u64) -> Option<u64> {
    let filter = filter_for(args);
    let only = |f: &Filter| *f == filter;
    let base = Filter::default();
    if args == "-L" || args == "-C" {
        return Some(summary.totals.flows);
    }
    if let Some(family) = filter.family
        && only(&Filter {
            family: Some(family),
            ..base.clone()
        })
    {
        return Some(summary.family(family));
    }
    if let Some(protocol) = filter.protocol {
        if only(&Filter {
            protocol: Some(protocol),
            ..base.clone()
        }) {
            return Some(summary.protocol(protocol));
        }
        if let Some(state) = filter.state
            && only(&Filter {
                protocol: Some(protocol),
                state: Some(state),
                ..base.clone()
            })
        {
            return Some(summary.state(state));
        }
    }
    if let Some(zone) = filter.zone
        && only(&Filter {
            zone: Some(zone),
            ..base.clone()
        })
    {
        return Some(summary.zones.get(&zone));
    }
    if let Some(mark) = filter.mark
        && mark.mask == u32::MAX
        && only(&Filter {
            mark: Some(mark),
            ..base.clone()
        })
    {
        return Some(summary.marks.get(&mark.value));
    }
    match filter.nat {
        Some(Nat::Src)
            if only(&Filter {
                nat: Some(Nat::Src),
                ..base.clone()
            }) =>
        {
            Some(summary.snat.total() + flagged)
        }
        Some(Nat::Dst)
            if only(&Filter {
                nat: Some(Nat::Dst),
                ..base
            }) =>
        {
            Some(summary.dnat.total() + flagged)
        }
        _ => None,
    }
}

/// Compares every oracle count with every table dump of `dir`, twice where
/// possible: through the filter (the count of matching flows) and through
/// the aggregates of one unfiltered `Summary`. Returns the mismatches
/// (empty when all agree) and how many comparisons were made.
pub fn check_namespace(dir: &Path) -> (Vec<String>, usize) {
    let oracle = read_oracle(dir);
    assert!(
        oracle.contains_key("-L"),
        "{}: oracle has no `-L` line",
        dir.display()
    );
    let nat_namespace = has_nat(dir);
    let mut mismatches = Vec::new();
    let mut checks = 0;
    for dump_name in TABLE_DUMPS {
        let path = dir.join(dump_name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let summary = Analyzer::new().analyze_bytes(&bytes);
        if summary.totals.errors > 0 {
            let first = &summary.totals.error_samples.samples[0].error;
            mismatches.push(format!(
                "{}: {} malformed lines, first: {}",
                path.display(),
                summary.totals.errors,
                first.display_in(&path)
            ));
            continue;
        }
        let flows: Vec<Flow<'_>> = Parser::new(&bytes).map(Result::unwrap).collect();
        for (args, &expected) in &oracle {
            let filter = filter_for(args);
            let ours = flows.iter().filter(|f| filter.matches(f)).count() as u64;
            let flagged = match filter.nat {
                Some(nat) if nat_namespace => {
                    let without_nat = Filter {
                        nat: None,
                        ..filter.clone()
                    };
                    flows
                        .iter()
                        .filter(|f| without_nat.matches(f) && conntrack_flags_as_nat(f, nat))
                        .count() as u64
                }
                _ => 0,
            };
            checks += 1;
            if ours + flagged != expected {
                mismatches.push(format!(
                    "{}: `conntrack {args}` counts {expected}, the filter {ours} (+{flagged} ICMP entries that conntrack-tools flags as NAT)",
                    path.display()
                ));
            }
            if let Some(aggregate) = from_aggregates(args, &summary, flagged) {
                checks += 1;
                if aggregate != expected {
                    mismatches.push(format!(
                        "{}: `conntrack {args}` counts {expected}, the summary's aggregate {aggregate}",
                        path.display()
                    ));
                }
            }
        }
    }
    for dump_name in EVENT_DUMPS {
        let path = dir.join(dump_name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mut parser = Parser::new(&bytes);
        // conntrack -E's own `WARNING: We have hit ENOBUFS!` (events lost
        // at this capture's rate; capture.sh appends its stderr) is
        // reported as the failure it is; every other line must parse.
        let (failures, errors): (Vec<_>, Vec<_>) =
            parser.by_ref().filter_map(Result::err).partition(|e| {
                e.kind == ctparse::ErrorKind::ToolFailure
                    && e.token.starts_with("WARNING: We have hit ENOBUFS!")
            });
        let errors: Vec<String> = errors
            .iter()
            .map(|e| e.display_in(&path).to_string())
            .collect();
        if !failures.is_empty() {
            eprintln!(
                "{}: {} conntrack-tools failures reported, the first: {}",
                path.display(),
                failures.len(),
                failures[0].display_in(&path)
            );
        }
        checks += 1;
        if !errors.is_empty() || parser.stats().flows == 0 {
            mismatches.push(format!(
                "{}: {} malformed lines {:?}",
                path.display(),
                errors.len(),
                errors.first()
            ));
        }
    }
    (mismatches, checks)
}
