//! `ctreport summary --format json` on the real kernel captures: its numbers
//! equal the counts conntrack-tools computed (`oracle.tsv` beside each dump).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use std::process::Command;

use serde_json::Value;

fn oracle(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(dir.join("oracle.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| l.rsplit_once('\t'))
        .map(|(args, n)| (args.to_owned(), n.trim().parse().unwrap()))
        .collect()
}

fn summary(path: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["summary", "--format", "json", "-n", "0"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `rows[key == name].count`, 0 when absent.
fn count(rows: &Value, key: &str, name: &str) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| match &r[key] {
            Value::String(s) => s == name,
            Value::Number(n) => n.to_string() == name,
            _ => false,
        })
        .map_or(0, |r| r["count"].as_u64().unwrap())
}

const PROTOCOL_NUMBERS: &[(&str, &str)] = &[
    ("tcp", "6"),
    ("udp", "17"),
    ("udplite", "136"),
    ("icmp", "1"),
    ("icmpv6", "58"),
    ("sctp", "132"),
    ("gre", "47"),
    ("dccp", "33"),
];

#[test]
fn summary_json_equals_the_conntrack_tools_oracle() {
    let mut dumps: Vec<(PathBuf, PathBuf)> = Vec::new();
    for ns in ["client", "router", "server"] {
        let dir = root().join("fixtures/kernel").join(ns);
        for dump in ["proc.txt", "conntrack-L.txt", "conntrack-L-extended.txt"] {
            dumps.push((dir.clone(), dir.join(dump)));
        }
    }
    let example = root().join("fixtures/example");
    dumps.push((example.clone(), example.join("nf_conntrack.txt")));

    let mut compared = 0;
    for (dir, dump) in &dumps {
        let oracle = oracle(dir);
        let json = summary(dump, &[]);
        let mut check = |what: String, ours: u64, args: &str| {
            if let Some(&expected) = oracle.get(args) {
                assert_eq!(
                    ours,
                    expected,
                    "{}: {what} vs `conntrack {args}`",
                    dump.display()
                );
                compared += 1;
            }
        };
        check(
            "totals.flows".into(),
            json["totals"]["flows"].as_u64().unwrap(),
            "-L",
        );
        for family in ["ipv4", "ipv6"] {
            check(
                format!("families[{family}]"),
                count(&json["families"], "family", family),
                &format!("-L -f {family}"),
            );
        }
        for (name, number) in PROTOCOL_NUMBERS {
            check(
                format!("protocols[{number}]"),
                count(&json["protocols"], "number", number),
                &format!("-L -p {name}"),
            );
        }
        for state in [
            "NONE",
            "SYN_SENT",
            "SYN_RECV",
            "ESTABLISHED",
            "FIN_WAIT",
            "CLOSE_WAIT",
            "LAST_ACK",
            "TIME_WAIT",
            "CLOSE",
            "SYN_SENT2",
        ] {
            check(
                format!("tcp_states[{state}]"),
                count(&json["tcp_states"], "state", state),
                &format!("-L -p tcp --state {state}"),
            );
        }
        check(
            "flags.assured".into(),
            json["flags"]["assured"].as_u64().unwrap(),
            "-L --status ASSURED",
        );
        check(
            "flags.unreplied".into(),
            json["flags"]["unreplied"].as_u64().unwrap(),
            "-L --status UNREPLIED",
        );
        for (args, _) in oracle.iter().filter(|(a, _)| a.starts_with("-L --zone ")) {
            let zone = args.trim_start_matches("-L --zone ");
            check(
                format!("zones[{zone}]"),
                count(&json["zones"], "zone", zone),
                args,
            );
        }
        for (args, _) in oracle
            .iter()
            .filter(|(a, _)| a.starts_with("-L --mark ") && !a.contains('/'))
        {
            let mark = args.trim_start_matches("-L --mark ");
            check(
                format!("marks[{mark}]"),
                count(&json["marks"], "mark", mark),
                args,
            );
        }
        // NAT pairs, on UDP (no ICMP, so no conntrack-tools quirk applies).
        let udp = summary(dump, &["-p", "udp"]);
        let dnat: u64 = udp["dnat"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["count"].as_u64().unwrap())
            .sum();
        check("dnat (udp)".into(), dnat, "-L -p udp --dst-nat");
        assert_eq!(
            udp["totals"]["matched"],
            json["protocols"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["number"] == 17)
                .map_or(Value::from(0), |r| r["count"].clone())
        );
    }
    assert!(compared >= 200, "only {compared} comparisons");
}
