//! The NOTRACK rules the doctor prints, run against the live kernel: in a
//! network namespace of their own, every printed `nft` command must load,
//! the traffic they name must then make no conntrack entry (while it did
//! before), the entry made before must stay until the printed `conntrack
//! -D` commands delete it, and the saved file must load again, twice,
//! without adding rules.
//!
//! Needs root, network namespaces, nftables, conntrack-tools and python3.
//! Without them it skips with a loud message, except under CI (`CI=true`),
//! where a skip is a failure. It holds the kernel-test lock. Traffic stays
//! between two namespaces it makes (192.0.2.1 and 192.0.2.2, the
//! documentation range), three datagrams at a time, and the namespaces are
//! deleted however the test ends.

mod support;

use support::netns::{self, Pair};

use ctanalyze::Analyzer;
use ctanalyze::doctor::{Breakdown, Doctor};

/// Three UDP datagrams from the client to the server's port 9.
fn send(ns: &Pair) {
    let out = netns::sh(
        &ns.client,
        "python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         [s.sendto(b'x', ('192.0.2.2', 9)) for _ in range(3)]\"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server's conntrack entries from the client.
fn tracked(ns: &Pair) -> usize {
    let out = netns::sh(&ns.server, "conntrack -L -p udp");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("src=192.0.2.1 "))
        .count()
}

#[test]
fn printed_notrack_rules_load_and_stop_tracking() {
    let Some(_lock) = support::kernel::require(
        "NOTRACK rules kernel test",
        &["nft", "ip", "conntrack", "python3"],
    ) else {
        return;
    };
    // A table full of datagrams to one server port, most from one client:
    // that pair is a candidate, and the port is one of its own (its other
    // sources are too many for the pairs' rules to hold it): both kinds of
    // rule are printed and loaded.
    let dump: String = (0..20)
        .map(|i| {
            let client = if i < 12 {
                "192.0.2.1".to_owned()
            } else {
                format!("192.0.2.{}", i)
            };
            format!(
                "ipv4     2 udp      17 25 src={client} dst=192.0.2.2 sport={p} dport=9 [UNREPLIED] src=192.0.2.2 dst={client} sport=9 dport={p} mark=0 zone=0 use=2\n",
                p = 40_000 + i
            )
        })
        .collect();
    let summary = Analyzer::new().analyze_bytes(dump.as_bytes());
    let breakdown = Breakdown::from_bytes(dump.as_bytes());
    let d = Doctor::new()
        .max(Some(20))
        .diagnose(&summary, &breakdown, None, None);
    let notrack = d
        .recommendation("notrack")
        .expect("a NOTRACK recommendation");
    let persist = d.recommendation("persist").expect("the rules are saved");

    let ns = Pair::new("ctr-nt");
    // Conntrack runs in a namespace once a rule there uses it.
    let probe = netns::sh(
        &ns.server,
        "nft add table inet probe && nft add chain inet probe input \
         '{ type filter hook input priority 0; }' && nft add rule inet probe input ct state new counter",
    );
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    send(&ns);
    assert!(
        tracked(&ns) > 0,
        "without the rules the datagrams are tracked"
    );

    // The look at the filter first: grep finds something or nothing.
    let look = notrack
        .commands
        .iter()
        .find(|c| c.starts_with("nft list ruleset"))
        .expect("a look at the filter");
    assert!(matches!(
        netns::sh(&ns.server, look).status.code(),
        Some(0 | 1)
    ));
    let commands: Vec<&String> = notrack
        .commands
        .iter()
        .filter(|c| c.starts_with("nft add"))
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("ip daddr 192.0.2.2 udp dport 9 notrack"))
            && commands
                .iter()
                .any(|c| c.contains("ip saddr 192.0.2.1 ip daddr 192.0.2.2 notrack")),
        "a port rule and a pair rule: {:?}",
        notrack.commands
    );
    for command in &commands {
        netns::ok(&ns.server, command);
    }
    // The entry made before the rules stays, and the datagrams that
    // would refresh it now pass untracked.
    send(&ns);
    assert!(tracked(&ns) > 0, "the rules delete no entry");
    // Until the printed deletions, left commented out, remove it.
    let deletions: Vec<&str> = notrack
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("# conntrack -D "))
        .collect();
    assert!(
        deletions.contains(&"-p udp -d 192.0.2.2 --dport 9")
            && deletions.contains(&"-s 192.0.2.1 -d 192.0.2.2"),
        "{:?}",
        notrack.commands
    );
    for deletion in deletions {
        // conntrack exits 1 when nothing matched.
        let out = netns::sh(&ns.server, &format!("conntrack -D {deletion}"));
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "conntrack -D {deletion}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(tracked(&ns), 0, "the printed deletions remove the entry");
    send(&ns);
    assert_eq!(tracked(&ns), 0, "with the rules nothing is tracked");

    // The saved file, written elsewhere than /etc, loads twice without
    // adding rules.
    let file = std::env::temp_dir().join(format!("ctreport-notrack-{}.nft", std::process::id()));
    let save = persist
        .commands
        .iter()
        .find(|c| c.contains("nft list table"))
        .expect("a save command")
        .replace("/etc/nftables-notrack.nft", file.to_str().unwrap());
    let count = || {
        let out = netns::sh(&ns.server, "nft list table inet raw_notrack");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim_end().ends_with(" notrack"))
            .count()
    };
    let rules = count();
    let added = commands
        .iter()
        .filter(|c| c.starts_with("nft add rule"))
        .count();
    assert_eq!(rules, added, "one rule an `nft add rule`");
    assert!(netns::sh(&ns.server, &save).status.success(), "{save}");
    for _ in 0..2 {
        let load = netns::sh(&ns.server, &format!("nft -f {}", file.display()));
        assert!(
            load.status.success(),
            "{}",
            String::from_utf8_lossy(&load.stderr)
        );
        assert_eq!(count(), rules);
    }
    let _ = std::fs::remove_file(&file);
}
