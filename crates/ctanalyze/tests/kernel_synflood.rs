//! SYN floods against the live kernel. A client namespace sends 1,000
//! SYNs from spoofed sources (198.18.0.0/15, or 2001:db8:1::/48) to a
//! server's listening port 443.
//!
//! - The server answers each, and its table fills with SYN_RECV entries
//!   that never complete. The doctor, given that table, must name the
//!   flood and recommend SYNPROXY; the SYNPROXY commands it prints
//!   (commented out, with the sysctls they need) must then load, a second
//!   flood must make no entry, and a real connection must still reach the
//!   server through the proxy.
//! - The same over IPv6: the printed `ip6` rules.
//! - The same with a router between client and server: the router's
//!   table fills, and the same printed commands, loaded in the router,
//!   must keep the second flood out of its table (their forward chain)
//!   while a real connection gets through to the server; over IPv4 and
//!   over IPv6.
//! - The server's listener never accepts, and its accept queue is full:
//!   the kernel drops each SYN, and the table fills with SYN_SENT entries.
//!   The doctor must send that flood to its checks, and the checks it
//!   prints, run in the server's namespace, must show the entries, the
//!   address as the server's own, the full queue and the drops counted.
//! - A router destination-NATs its port 443 to a server whose filter
//!   drops the SYNs: the router's table fills with SYN_SENT entries, and
//!   the doctor's checks must name that server; run in the router, they
//!   must list the entries and the route to it.
//!
//! Needs root, network namespaces, nftables, conntrack-tools, iproute2 and
//! python3. Without them each test skips with a loud message, except under
//! CI (`CI=true`), where a skip is a failure. Each holds the kernel-test
//! lock. Traffic stays between the namespaces a test makes (192.0.2.0/24,
//! 198.51.100.0/24, 2001:db8::/64, 2001:db8:a::/64 and 2001:db8:b::/64,
//! sources spoofed from 198.18.0.0/15 and 2001:db8:1::/48, the
//! documentation and benchmark ranges), at most 2,000 SYNs and three
//! connections a test, every wait bounded; the server process is ended
//! by its pid, and the namespaces are deleted however the test ends.

mod support;

use ctanalyze::Analyzer;
use ctanalyze::doctor::{Breakdown, Diagnosis, Doctor, Recommendation};
use support::netns::{self, Background, Pair, Routed, run};

/// The tools every test here needs.
const TOOLS: [&str; 6] = ["nft", "ip", "ss", "nstat", "conntrack", "python3"];

/// Whether a line of `conntrack -L` has a spoofed source (198.18.0.0/15,
/// 2001:db8:1::/48).
fn spoofed(line: &str) -> bool {
    line.contains("src=198.18.") || line.contains("src=2001:db8:1:")
}

/// Makes conntrack run in namespace `name` (it does once a rule there
/// uses it), and sends the answers to the spoofed sources to `via` (an
/// IPv4 or an IPv6 address), which does not forward them: they end
/// there, unanswered.
fn track(name: &str, via: &str) {
    let spoofed = if via.contains(':') {
        "2001:db8:1::/48"
    } else {
        "198.18.0.0/15"
    };
    run(&["ip", "-n", name, "route", "add", spoofed, "via", via]);
    netns::ok(
        name,
        "nft add table inet probe && nft add chain inet probe pre \
         '{ type filter hook prerouting priority 0; }' && nft add rule inet probe pre ct state new counter",
    );
}

/// Adds each `(namespace, address/prefix, device)`, without duplicate
/// address detection (an IPv6 address is then usable at once).
fn add_addresses(addresses: &[(&String, &str, &str)]) {
    for &(name, addr, dev) in addresses {
        run(&["ip", "-n", name, "addr", "add", addr, "dev", dev, "nodad"]);
    }
}

/// Client and server namespaces side by side, the server tracking.
fn pair(prefix: &str) -> Pair {
    let ns = Pair::new(prefix);
    track(&ns.server, "192.0.2.1");
    ns
}

/// `count` SYNs from namespace `client` to `dst`:443 from spoofed
/// sources, numbered from `first` (198.18.0.1 on, or 2001:db8:1::0:1 on
/// when `dst` is IPv6), written whole with a raw socket.
fn flood(client: &str, dst: &str, first: u32, count: u32) {
    netns::ok(
        client,
        &format!(
            "python3 -c \"
import socket, struct
def checksum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
v6 = ':' in '{dst}'
family = socket.AF_INET6 if v6 else socket.AF_INET
dst = socket.inet_pton(family, '{dst}')
raw = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range({first}, {first} + {count}):
    if v6:
        src = socket.inet_pton(family, '2001:db8:1::%x:%x' % (i // 250, i % 250 + 1))
    else:
        src = socket.inet_aton('198.18.%d.%d' % (i // 250, i % 250 + 1))
    sport = 1024 + i % 60000
    tcp = struct.pack('!HHIIBBHHH', sport, 443, i * 7919, 0, 5 << 4, 2, 64240, 0, 0)
    if v6:
        pseudo = src + dst + struct.pack('!I3xB', len(tcp), 6)
    else:
        pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', checksum(pseudo + tcp)) + tcp[18:]
    if v6:
        ip = struct.pack('!IHBB16s16s', 6 << 28, len(tcp), 6, 64, src, dst)
    else:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, dst)
    raw.sendto(ip + tcp, ('{dst}', 0))
\""
        ),
    );
}

/// `conntrack ARGS` in namespace `name` for each family in turn (`-f
/// ipv4`, then `-f ipv6`); what they print.
fn conntrack(name: &str, args: &str) -> String {
    let out = netns::ok(
        name,
        &format!("conntrack {args} -f ipv4 2>/dev/null && conntrack {args} -f ipv6 2>/dev/null"),
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// The TCP entries of the spoofed sources in `state` in namespace
/// `name`'s table, once their count stops growing (the entries are made
/// as the SYNs arrive; at most 5 s).
fn half_open(name: &str, state: &str) -> usize {
    let count = || {
        conntrack(name, "-L -p tcp")
            .lines()
            .filter(|l| l.contains(&format!(" {state} ")) && spoofed(l))
            .count()
    };
    let mut last = count();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = count();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// The doctor's diagnosis of namespace `name`'s table, taken as full (at
/// its limit: under pressure), and its finding of half-open handshakes.
fn diagnosed(name: &str) -> (Diagnosis, String) {
    let dump = conntrack(name, "-L").into_bytes();
    let summary = Analyzer::new().analyze_bytes(&dump);
    assert_eq!(summary.totals.errors, 0);
    let breakdown = Breakdown::from_bytes(&dump);
    let d = Doctor::new()
        .max(Some(summary.totals.matched))
        .diagnose(&summary, &breakdown, None, None);
    let finding = d
        .findings
        .iter()
        .find(|f| f.contains("are TCP handshakes that never completed"))
        .cloned()
        .unwrap_or_else(|| panic!("{:#?}", d.findings));
    (d, finding)
}

/// A listener on `addr`:443 in namespace `name` with `backlog`, then
/// `serve` (Python, the socket `s`); ended on drop.
fn listen(name: &str, addr: &str, backlog: u32, serve: &str) -> Background {
    Background::python(
        name,
        &format!(
            "
import socket, time
s = socket.socket(socket.AF_INET6 if ':' in '{addr}' else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('{addr}', 443))
s.listen({backlog})
{serve}
"
        ),
    )
}

/// A listener on `addr`:443 that answers each connection with `ok`, for
/// up to 60 s without one.
fn answer(name: &str, addr: &str) -> Background {
    listen(
        name,
        addr,
        16,
        "
s.settimeout(60)
while True:
    c, _ = s.accept()
    c.sendall(b'ok')
    c.close()",
    )
}

/// What a connection from namespace `client` to `addr`:443 reads, retried
/// until the listener is up (at most 5 s).
fn connect(client: &str, addr: &str) -> String {
    let out = netns::sh(
        client,
        &format!(
            "python3 -c \"
import socket, sys, time
for _ in range(50):
    try:
        s = socket.create_connection(('{addr}', 443), timeout=2)
        sys.stdout.write(s.recv(10).decode())
        break
    except OSError:
        time.sleep(0.1)
\""
        ),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Floods `server`:443 from namespace `client` (whose own address is
/// `from`) through namespace `tracker`'s table (the server's own, or a
/// router's); the doctor must recommend SYNPROXY, whose printed
/// commands, loaded in `tracker`, must keep a second flood out of its
/// table while a real connection gets through.
fn synproxy_keeps_a_flood_out(client: &str, from: &str, tracker: &str, server: &str) {
    assert_eq!(connect(client, server), "ok");
    flood(client, server, 0, 1000);
    let answered = half_open(tracker, "SYN_RECV");
    assert!(answered >= 990, "{answered} of 1,000 SYNs answered");
    let (d, finding) = diagnosed(tracker);
    assert!(
        finding.contains("Most were answered") && finding.contains("port is 443"),
        "{finding}"
    );
    let r = d
        .recommendation("syn-flood")
        .unwrap_or_else(|| panic!("{:#?}", d.recommendations));
    assert_eq!(
        r.title,
        format!("Keep the SYN flood to {server} port 443 out of the table")
    );

    // The printed commands, left commented out, in the tracking namespace.
    let commands: Vec<&str> = r
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("# "))
        .filter(|c| c.starts_with("sysctl -w") || c.starts_with("nft add"))
        .collect();
    // Scoped to the server, with the family's MSS (IPv6's header is 20
    // bytes longer).
    let (ip, mss) = if server.contains(':') {
        ("ip6", 1440)
    } else {
        ("ip", 1460)
    };
    let proxied =
        format!("{ip} daddr {server} tcp dport 443 ct state invalid,untracked synproxy mss {mss} ");
    assert!(
        commands.len() >= 10 && commands.iter().any(|c| c.contains(&proxied)),
        "{:?}",
        r.commands
    );
    for command in &commands {
        netns::ok(tracker, command);
    }
    conntrack(tracker, "-F");
    flood(client, server, 1000, 1000);
    assert_eq!(
        half_open(tracker, "SYN_RECV") + half_open(tracker, "SYN_SENT"),
        0,
        "behind SYNPROXY a flood makes no entry"
    );
    // A real client still gets through, and only its connection is in
    // the table.
    assert_eq!(connect(client, server), "ok");
    let table = conntrack(tracker, "-L -p tcp");
    assert!(
        table.lines().any(|l| l.contains(&format!("src={from} "))) && !table.lines().any(spoofed),
        "{table}"
    );
    assert!(cookies_valid(r, tracker) >= 1);
}

/// What the printed command of `r` that starts with `start` prints, run
/// in namespace `name`.
fn printed(r: &Recommendation, name: &str, start: &str) -> String {
    let command = r
        .commands
        .iter()
        .find(|c| c.starts_with(start))
        .unwrap_or_else(|| panic!("{start}: {:?}", r.commands));
    String::from_utf8_lossy(&netns::ok(name, command)).into_owned()
}

/// The UNREPLIED entries of spoofed sources that the first printed
/// command of `r` lists by conntrack's own filter (the part before the
/// pipe: ctreport is this crate's binary's job, tested on its own), run
/// in namespace `name`.
fn listed_unreplied(r: &Recommendation, name: &str) -> Vec<String> {
    let listed = r.commands[0].split(" | ").next().unwrap();
    String::from_utf8_lossy(&netns::ok(name, &format!("{listed} 2>/dev/null")))
        .lines()
        .filter(|l| spoofed(l) && l.contains("[UNREPLIED]"))
        .map(str::to_owned)
        .collect()
}

/// What the printed check reads: the cookies SYNPROXY found valid
/// (cookie_valid, the fourth column, in hex, one line a CPU).
fn cookies_valid(r: &Recommendation, name: &str) -> u64 {
    let check = r
        .commands
        .iter()
        .find_map(|c| c.strip_prefix("# then: "))
        .and_then(|c| c.split("   #").next())
        .unwrap_or_else(|| panic!("{:?}", r.commands));
    let stat = String::from_utf8_lossy(&netns::ok(name, check)).into_owned();
    stat.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(3))
        .map(|hex| u64::from_str_radix(hex, 16).unwrap())
        .sum()
}

#[test]
fn a_syn_flood_is_named_and_the_printed_synproxy_keeps_it_out() {
    let Some(_lock) = support::kernel::require("SYN flood kernel test", &TOOLS) else {
        return;
    };
    let ns = pair("ctr-sf");
    let _listener = answer(&ns.server, "192.0.2.2");
    synproxy_keeps_a_flood_out(&ns.client, "192.0.2.1", &ns.server, "192.0.2.2");
}

#[test]
fn the_printed_synproxy_keeps_a_flood_out_of_a_router() {
    let Some(_lock) = support::kernel::require("routed SYN flood kernel test", &TOOLS) else {
        return;
    };
    let ns = Routed::new("ctr-sr");
    track(&ns.router, "192.0.2.1");
    let _listener = answer(&ns.server, "198.51.100.2");
    synproxy_keeps_a_flood_out(&ns.client, "192.0.2.1", &ns.router, "198.51.100.2");
}

#[test]
fn the_printed_ip6_synproxy_keeps_an_ipv6_flood_out_of_a_router() {
    let Some(_lock) = support::kernel::require("routed IPv6 SYN flood kernel test", &TOOLS) else {
        return;
    };
    let ns = Routed::new("ctr-s7");
    // The same line over IPv6, the router forwarding.
    add_addresses(&[
        (&ns.client, "2001:db8:a::1/64", "vc"),
        (&ns.router, "2001:db8:a::fe/64", "vrc"),
        (&ns.router, "2001:db8:b::1/64", "vrs"),
        (&ns.server, "2001:db8:b::2/64", "vs"),
    ]);
    for (name, via) in [
        (&ns.client, "2001:db8:a::fe"),
        (&ns.server, "2001:db8:b::1"),
    ] {
        run(&[
            "ip", "-n", name, "-6", "route", "add", "default", "via", via,
        ]);
    }
    netns::ok(&ns.router, "sysctl -qw net.ipv6.conf.all.forwarding=1");
    track(&ns.router, "2001:db8:a::1");
    let _listener = answer(&ns.server, "2001:db8:b::2");
    synproxy_keeps_a_flood_out(&ns.client, "2001:db8:a::1", &ns.router, "2001:db8:b::2");
}

#[test]
fn the_printed_ip6_synproxy_keeps_an_ipv6_flood_out() {
    let Some(_lock) = support::kernel::require("IPv6 SYN flood kernel test", &TOOLS) else {
        return;
    };
    let ns = Pair::new("ctr-s6");
    add_addresses(&[
        (&ns.client, "2001:db8::1/64", "veth0"),
        (&ns.server, "2001:db8::2/64", "veth1"),
    ]);
    track(&ns.server, "2001:db8::1");
    let _listener = answer(&ns.server, "2001:db8::2");
    synproxy_keeps_a_flood_out(&ns.client, "2001:db8::1", &ns.server, "2001:db8::2");
}

#[test]
fn an_unanswered_flood_gets_checks_that_find_the_full_accept_queue() {
    let Some(_lock) = support::kernel::require("unanswered SYN flood kernel test", &TOOLS) else {
        return;
    };
    let ns = pair("ctr-su");
    // A listener with a backlog of 1 that never accepts, for up to 60 s.
    let _listener = listen(&ns.server, "192.0.2.2", 1, "time.sleep(60)");
    // Two connections fill its accept queue (the kernel takes one more
    // than the backlog); the first is retried until the listener is up
    // (at most 5 s).
    let queued = netns::sh(
        &ns.client,
        "python3 -c \"
import socket, sys, time
def connect():
    for _ in range(50):
        try:
            return socket.create_connection(('192.0.2.2', 443), timeout=2)
        except OSError:
            time.sleep(0.1)
held = [connect(), connect()]
sys.stdout.write(str(sum(s is not None for s in held)))
\"",
    );
    assert_eq!(String::from_utf8_lossy(&queued.stdout), "2");

    flood(&ns.client, "192.0.2.2", 0, 1000);
    let unanswered = half_open(&ns.server, "SYN_SENT");
    assert!(
        unanswered >= 990,
        "{unanswered} of 1,000 SYNs tracked unanswered"
    );
    let (d, finding) = diagnosed(&ns.server);
    assert!(finding.contains("Most got no answer"), "{finding}");
    assert!(d.recommendation("syn-flood").is_none());
    let r = d
        .recommendation("unanswered-syns")
        .unwrap_or_else(|| panic!("{:#?}", d.recommendations));
    assert_eq!(r.title, "Find why SYNs to 192.0.2.2 port 443 get no answer");

    // The printed checks, run in the server's namespace.
    let command = |start: &str| printed(r, &ns.server, start);
    // The entries.
    let listed = listed_unreplied(r, &ns.server).len();
    assert!(listed >= 990, "{listed}");
    // The address is the server's own.
    assert!(command("ip -br addr").contains("192.0.2.2/24"));
    // The sysctls named exist in a namespace (they are per namespace).
    let sysctls = command("sysctl net.ipv4.tcp_syncookies");
    assert_eq!(sysctls.lines().count(), 3, "{sysctls}");
    // Its listener's accept queue is full: Recv-Q above Send-Q (the
    // backlog), in the state LISTEN.
    let ss = command("ss -ltn");
    let (recv_q, send_q) = ss
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.first() == Some(&"LISTEN") && l.contains("192.0.2.2:443")).then(|| {
                (
                    fields[1].parse::<u32>().unwrap(),
                    fields[2].parse::<u32>().unwrap(),
                )
            })
        })
        .unwrap_or_else(|| panic!("{ss}"));
    assert!(recv_q > send_q, "{ss}");
    // And the kernel counted the SYNs it dropped for it.
    let nstat = command("nstat -az");
    let overflows: u64 = nstat
        .lines()
        .find_map(|l| l.strip_prefix("TcpExtListenOverflows"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{nstat}"));
    assert!(overflows >= 990, "{nstat}");
}

#[test]
fn an_unanswered_flood_to_a_nated_port_gets_the_checks_of_its_server() {
    let Some(_lock) = support::kernel::require("unanswered NATed SYN flood kernel test", &TOOLS)
    else {
        return;
    };
    let ns = Routed::new("ctr-sd");
    // The router translates its port 443 to the server's 8443, whose
    // filter drops every SYN: the server never answers.
    netns::ok(
        &ns.router,
        "nft add table ip nat_test && nft add chain ip nat_test pre \
         '{ type nat hook prerouting priority dstnat; }' && \
         nft add rule ip nat_test pre ip daddr 192.0.2.254 tcp dport 443 dnat to 198.51.100.2:8443",
    );
    netns::ok(
        &ns.server,
        "nft add table inet drop_test && nft add chain inet drop_test input \
         '{ type filter hook input priority 0; }' && nft add rule inet drop_test input tcp dport 8443 drop",
    );
    track(&ns.router, "192.0.2.1");

    flood(&ns.client, "192.0.2.254", 0, 1000);
    let unanswered = half_open(&ns.router, "SYN_SENT");
    assert!(
        unanswered >= 990,
        "{unanswered} of 1,000 SYNs tracked unanswered"
    );
    let (d, finding) = diagnosed(&ns.router);
    assert!(finding.contains("Most got no answer"), "{finding}");
    let flood = d.composition.syn_flood.as_ref().unwrap();
    assert_eq!(
        flood.backend.map(|b| (b.address.to_string(), b.port)),
        Some(("198.51.100.2".to_owned(), 8443))
    );
    let r = d
        .recommendation("unanswered-syns")
        .unwrap_or_else(|| panic!("{:#?}", d.recommendations));
    assert_eq!(
        r.title,
        "Find why SYNs to 192.0.2.254 port 443 (NATed to 198.51.100.2 port 8443) get no answer"
    );
    // The printed checks, run in the router: the entries by conntrack's
    // own filter, and the route to the server.
    let listed = listed_unreplied(r, &ns.router)
        .iter()
        .filter(|l| l.contains("src=198.51.100.2 "))
        .count();
    assert!(listed >= 990, "{listed}");
    let route = printed(r, &ns.router, "ip route get ");
    assert!(route.contains("dev vrs"), "{route}");
}
