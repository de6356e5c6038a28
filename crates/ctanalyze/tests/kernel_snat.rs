//! The SNAT source ports against the live kernel: a router namespace
//! masquerades two clients' datagrams to one server port, from original
//! source ports below 512, so that NAT must pick every translated port
//! from 1-511. The first client takes all 511; the second one's 100 find
//! none free, and the kernel drops them and counts them in
//! `insert_failed`. The doctor, given the router's table and statistics,
//! must show that space full, with the kernel's count.
//!
//! Needs root, network namespaces, nftables, conntrack-tools and python3.
//! Without them it skips with a loud message, except under CI (`CI=true`),
//! where a skip is a failure. It holds the kernel-test lock. Traffic stays
//! between three namespaces it makes (192.0.2.0/24 and 198.51.100.0/24, the
//! documentation ranges), one datagram a flow, 621 flows, and the
//! namespaces are deleted however the test ends.

mod support;

use std::process::{Command, Output};

use ctanalyze::Analyzer;
use ctanalyze::doctor::{Breakdown, Doctor, Stats};

/// Client, router and server namespaces in a line, deleted on drop.
struct Namespaces {
    client: String,
    router: String,
    server: String,
}

impl Namespaces {
    fn new() -> Namespaces {
        let id = std::process::id();
        let ns = Namespaces {
            client: format!("ctr-sn-c-{id}"),
            router: format!("ctr-sn-r-{id}"),
            server: format!("ctr-sn-s-{id}"),
        };
        for name in [&ns.client, &ns.router, &ns.server] {
            run(&["ip", "netns", "add", name]);
            run(&["ip", "-n", name, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip", "-n", &ns.client, "link", "add", "vc", "type", "veth", "peer", "name", "vrc",
            "netns", &ns.router,
        ]);
        run(&[
            "ip", "-n", &ns.router, "link", "add", "vrs", "type", "veth", "peer", "name", "vs",
            "netns", &ns.server,
        ]);
        for (name, addr, dev) in [
            (&ns.client, "192.0.2.1/24", "vc"),
            (&ns.client, "192.0.2.3/24", "vc"),
            (&ns.router, "192.0.2.254/24", "vrc"),
            (&ns.router, "198.51.100.1/24", "vrs"),
            (&ns.server, "198.51.100.2/24", "vs"),
        ] {
            run(&["ip", "-n", name, "addr", "add", addr, "dev", dev]);
            run(&["ip", "-n", name, "link", "set", dev, "up"]);
        }
        run(&[
            "ip",
            "-n",
            &ns.client,
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
        ]);
        // The router's own namespace only.
        ns.ok(&ns.router, "sysctl -qw net.ipv4.ip_forward=1");
        ns.ok(
            &ns.router,
            "nft add table ip snat_test && nft add chain ip snat_test post \
             '{ type nat hook postrouting priority srcnat; }' && \
             nft add rule ip snat_test post oifname vrs masquerade",
        );
        ns
    }

    /// `sh -c script` inside namespace `name`.
    fn sh(&self, name: &str, script: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", name, "sh", "-c", script])
            .output()
            .unwrap()
    }

    /// [`sh`](Namespaces::sh), which must succeed; its standard output.
    fn ok(&self, name: &str, script: &str) -> Vec<u8> {
        let out = self.sh(name, script);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn run(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_full_snat_port_space_is_found_with_the_kernels_insert_failed() {
    let Some(_lock) = support::kernel::require(
        "SNAT source ports kernel test",
        &["nft", "ip", "conntrack", "python3"],
    ) else {
        return;
    };
    let ns = Namespaces::new();
    // One datagram a flow to the server's port 9: from 192.0.2.1 every
    // port of 1-511 (NAT keeps each, being free), then from 192.0.2.3
    // ports 1-100 (NAT needs others of 1-511: none is left) and 10 ports
    // from 40000 (the 1024-65535 class: room).
    ns.ok(
        &ns.client,
        "python3 -c \"
import socket
flows = [('192.0.2.1', p) for p in range(1, 512)]
flows += [('192.0.2.3', p) for p in range(1, 101)]
flows += [('192.0.2.3', p) for p in range(40000, 40010)]
for addr, port in flows:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.sendto(b'x', ('198.51.100.2', 9))
    s.close()
\"",
    );
    // UDP entries without a reply live 30 s: read them at once.
    let dump = ns.ok(&ns.router, "conntrack -L -p udp 2>/dev/null");
    let (stats, errors) = Stats::parse(&ns.ok(&ns.router, "conntrack -S"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        stats.get("insert_failed"),
        Some(100),
        "the kernel failed the 100 flows NAT had no port for: {stats:?}"
    );

    let summary = Analyzer::new().analyze_bytes(&dump);
    assert_eq!(
        (summary.totals.flows, summary.totals.errors),
        (521, 0),
        "{}",
        String::from_utf8_lossy(&dump)
    );
    let breakdown = Breakdown::from_bytes(&dump);
    let d = Doctor::new().diagnose(&summary, &breakdown, None, Some(&stats));
    let rows: Vec<_> = d
        .snat_ports
        .iter()
        .map(|r| {
            (
                r.protocol,
                r.translated.as_str(),
                r.peer.as_str(),
                (r.first_port, r.last_port),
                r.entries,
                r.percent,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "udp",
                "198.51.100.1",
                "198.51.100.2:9",
                (1, 511),
                511,
                100.0
            ),
            (
                "udp",
                "198.51.100.1",
                "198.51.100.2:9",
                (1024, 65535),
                10,
                0.02
            ),
        ]
    );
    let finding = d
        .findings
        .iter()
        .find(|f| f.contains("are source-NATed to"))
        .unwrap_or_else(|| panic!("no SNAT finding: {:#?}", d.findings));
    assert!(
        finding.starts_with("511 udp entries are source-NATed to 198.51.100.1 toward 198.51.100.2:9: each needs a source port of its own, and they hold 100.0% of the 511 ports NAT picks from (1-511, ")
            && finding.contains("(counted in insert_failed: 100 in the statistics)"),
        "{finding}"
    );
}
