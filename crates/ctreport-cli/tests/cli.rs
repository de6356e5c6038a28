//! Runs the real `ctreport` binary: every subcommand in every format
//! against golden output, and every error path's stderr and exit code.
//!
//! Regenerate the golden files after an intended output change with
//! `UPDATE_GOLDEN=1 cargo test -p ctreport-cli --test cli`, and review the diff.

mod common;
/// Skipping loudly where the machine cannot run a test, as the kernel
/// tests do.
#[path = "../../ctanalyze/tests/support/kernel.rs"]
#[allow(dead_code)] // the capture scripts are the kernel tests'
mod kernel;

use std::io::Write;

use common::*;
use std::process::{Command, Output, Stdio};

/// The bundled example dump the README runs.
const EXAMPLE: &str = "fixtures/example/nf_conntrack.txt";

/// The ranked sections of `summary`'s JSON, cut by `-n`.
const RANKED: [&str; 9] = [
    "top_sources",
    "top_destinations",
    "top_ports",
    "dnat",
    "snat",
    "zones",
    "marks",
    "top_sources_by_bytes",
    "top_source_networks",
];

const FORMATS: &[(&str, &str)] = &[
    ("table", "txt"),
    ("csv", "csv"),
    ("json", "json"),
    ("markdown", "md"),
];

#[test]
fn every_report_in_every_format_matches_golden_output() {
    let commands: &[(&str, &[&str])] = &[
        ("summary", &["summary"]),
        ("top-ips", &["top-ips"]),
        ("top-ips-dst", &["top-ips", "--by", "dst"]),
        ("top-ips-prefix", &["top-ips", "--prefix", "24"]),
        ("protocols", &["protocols"]),
        ("states", &["states"]),
        ("top-ports", &["top-ports"]),
        ("dnat", &["dnat"]),
        ("snat", &["snat"]),
    ];
    for (name, args) in commands {
        for (format, extension) in FORMATS {
            let mut argv = args.to_vec();
            argv.extend(["--format", format, EXAMPLE]);
            golden(&format!("{name}.{extension}"), &ok(&argv));
        }
    }
}

/// `top-ips --prefix` against the per-address ranking grouped here, with
/// std's address types: every network's flows and addresses, for sources
/// and destinations, and the lengths of both families.
#[test]
fn prefix_groups_the_per_address_counts() {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    let network = |addr: IpAddr, v4: u32, v6: u32| match addr {
        IpAddr::V4(a) => {
            let host = u32::MAX.checked_shr(v4).unwrap_or(0);
            format!(
                "{}/{v4}",
                std::net::Ipv4Addr::from_bits(a.to_bits() & !host)
            )
        }
        IpAddr::V6(a) => {
            let host = u128::MAX.checked_shr(v6).unwrap_or(0);
            format!(
                "{}/{v6}",
                std::net::Ipv6Addr::from_bits(a.to_bits() & !host)
            )
        }
    };
    for (by, section, key) in [
        ("src", "top_sources", "top_source_networks"),
        ("dst", "top_destinations", "top_destination_networks"),
    ] {
        let addresses = json(&[
            "top-ips", "--by", by, "-n", "0", "--format", "json", EXAMPLE,
        ]);
        for (prefix, v4, v6) in [("24", 24, 64), ("16,48", 16, 48), ("0,0", 0, 0)] {
            let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for row in addresses[section].as_array().unwrap() {
                let addr: IpAddr = row["address"].as_str().unwrap().parse().unwrap();
                let entry = expected.entry(network(addr, v4, v6)).or_default();
                entry.0 += row["count"].as_u64().unwrap();
                entry.1 += 1;
            }
            let grouped = json(&[
                "top-ips", "--by", by, "--prefix", prefix, "-n", "0", "--format", "json", EXAMPLE,
            ]);
            let rows = grouped[key].as_array().unwrap();
            let actual: BTreeMap<String, (u64, u64)> = rows
                .iter()
                .map(|r| {
                    let network = r["network"].as_str().unwrap().to_owned();
                    let counts = (
                        r["count"].as_u64().unwrap(),
                        r["addresses"].as_u64().unwrap(),
                    );
                    (network, counts)
                })
                .collect();
            assert_eq!(actual, expected, "--by {by} --prefix {prefix}");
            assert_eq!(grouped["distinct"][key], expected.len() as u64);
            assert_eq!(grouped["prefixes"]["ipv4"], v4);
            assert_eq!(grouped["prefixes"]["ipv6"], v6);
            let counts: Vec<u64> = rows.iter().map(|r| r["count"].as_u64().unwrap()).collect();
            assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
        }
    }
    // An IPv6 length alone is a mistake worth naming.
    let out = ctreport(&["top-ips", "--prefix", "64", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("longer than an IPv4 address (32 bits)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn filters_narrow_the_report() {
    let out = ctreport(&[
        "summary",
        "--format",
        "json",
        "-p",
        "tcp",
        "--state",
        "TIME_WAIT",
        EXAMPLE,
    ]);
    assert_eq!(out.status.code(), Some(0));
    golden("summary-tcp-time-wait.json", &text(&out.stdout));
    // Filters that contradict each other are said to, before the empty report.
    let out = ctreport(&["protocols", "-f", "ipv6", "-s", "198.18.0.0/16", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "ctreport: warning: the filters can match no flow: the family is ipv6, but the \
         original source prefix 198.18.0.0/16 is ipv4\n"
    );
}

/// `states` filtered to a protocol shows that protocol's states only
/// (empty is an answer), CSV's one section is that one, and a protocol
/// that has no state is a usage error rather than an empty table (and
/// `top-ports` of one without ports).
#[test]
fn states_follow_the_protocol_filter() {
    const PROTOCOLS: &str = "fixtures/dialects/proc-protocols.txt";
    let states = |args: &[&str]| {
        let mut argv = vec!["states", "--format", "json"];
        argv.extend(args);
        argv.push(PROTOCOLS);
        let report = json(&argv);
        let shown: Vec<&str> = ["tcp_states", "sctp_states", "dccp_states"]
            .into_iter()
            .filter(|key| report.get(*key).is_some())
            .collect();
        (report, shown)
    };
    let (all, shown) = states(&[]);
    assert_eq!(shown, ["tcp_states", "sctp_states", "dccp_states"]);
    let (sctp, shown) = states(&["-p", "sctp"]);
    assert_eq!(shown, ["sctp_states"]);
    // The same rows: filtering to SCTP loses none of its entries.
    assert_eq!(sctp["sctp_states"], all["sctp_states"]);
    assert!(
        sctp["sctp_states"]
            .as_array()
            .is_some_and(|rows| rows.len() > 1)
    );
    assert_eq!(states(&["-p", "tcp"]).1, ["tcp_states"]);
    // Every filtered entry is in a row: the example's one DCCP entry is
    // printed `unknown  33` (no tracker), so it has no state: `(none)`.
    let example = |protocol: &str| json(&["states", "-p", protocol, "--format", "json", EXAMPLE]);
    for (protocol, key) in [
        ("dccp", "dccp_states"),
        ("sctp", "sctp_states"),
        ("tcp", "tcp_states"),
    ] {
        let report = example(protocol);
        let rows = report[key].as_array().unwrap();
        let sum: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
        assert_eq!(
            Some(sum),
            report["totals"]["matched"].as_u64(),
            "{protocol}"
        );
        assert!(sum > 0, "{protocol}");
    }
    assert_eq!(
        example("dccp")["dccp_states"],
        serde_json::json!([{"state": "(none)", "count": 1}])
    );

    let out = ctreport(&["states", "-p", "dccp", "--format", "csv", PROTOCOLS]);
    let csv = text(&out.stdout);
    assert!(csv.starts_with("state,count,percent\n"), "{csv}");
    assert!(csv.contains("\nPARTOPEN,1,"), "{csv}");

    // Without a filter, CSV holds every state section the table shows,
    // each row as JSON counts it (none dropped).
    let out = ctreport(&["states", "--format", "csv", PROTOCOLS]);
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("section,state,count,percent,input,line,column,error")
    );
    let rows: Vec<(String, String, u64)> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[0].into(),
                fields[1].into(),
                fields[2].parse().unwrap(),
            )
        })
        .collect();
    let report = json(&["states", "--format", "json", PROTOCOLS]);
    let mut expected = Vec::new();
    for key in ["tcp_states", "sctp_states", "dccp_states"] {
        let section = report[key].as_array().unwrap();
        assert!(!section.is_empty(), "{key}");
        for row in section {
            let state = row["state"].as_str().unwrap().to_owned();
            expected.push((key.to_owned(), state, row["count"].as_u64().unwrap()));
        }
    }
    assert_eq!(rows, expected);
    // A dump of TCP alone has the same columns: they never depend on the
    // data. A protocol filter makes its one table plain.
    let tcp = b"tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 \
                src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 use=1\n";
    let out = ctreport_stdin(&["states", "--format", "csv"], tcp);
    assert_eq!(
        text(&out.stdout),
        "section,state,count,percent,input,line,column,error\ntcp_states,TIME_WAIT,1,100.0,,,,\n"
    );
    let out = ctreport_stdin(&["states", "--format", "csv", "-p", "tcp"], tcp);
    assert_eq!(
        text(&out.stdout),
        "state,count,percent\nTIME_WAIT,1,100.0\n"
    );

    for (protocol, name) in [("udp", "udp"), ("icmp", "icmp"), ("99", "99")] {
        let out = ctreport(&["states", "-p", protocol, PROTOCOLS]);
        assert_eq!(out.status.code(), Some(2), "-p {protocol}");
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains(&format!("protocol {name} has no state")),
            "{}",
            text(&out.stderr)
        );
    }
    // Ports likewise: `top-ports` of a protocol without them is refused,
    // not answered with an empty table.
    for (protocol, name) in [
        ("icmp", "icmp"),
        ("icmpv6", "icmpv6"),
        ("gre", "gre"),
        ("99", "99"),
    ] {
        let out = ctreport(&["top-ports", "-p", protocol, PROTOCOLS]);
        assert_eq!(out.status.code(), Some(2), "-p {protocol}");
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains(&format!("top-ports: protocol {name} has no ports")),
            "{}",
            text(&out.stderr)
        );
    }
    for protocol in ["udplite", "sctp", "dccp"] {
        let report = json(&["top-ports", "-p", protocol, "--format", "json", PROTOCOLS]);
        let rows = report["top_ports"].as_array().unwrap();
        assert!(!rows.is_empty(), "-p {protocol}");
        assert!(rows.iter().all(|r| r["protocol"] == protocol), "{rows:?}");
    }
    // `summary` keeps its other sections and shows no state table there.
    let report = json(&["summary", "-p", "udp", "--format", "json", PROTOCOLS]);
    assert!(report.get("tcp_states").is_none() && report.get("protocols").is_some());
}

/// A ranked section cut to its top rows says of how many: JSON's
/// `distinct` holds each section's number of keys (what `-n 0` lists), and
/// the table heading reads `(3 of N)`; uncut, the heading is plain.
#[test]
fn ranked_sections_say_how_many_keys_there_are() {
    let summary = |n: &str| json(&["summary", "--format", "json", "-n", n, EXAMPLE]);
    let all = summary("0");
    let top = summary("3");
    for key in RANKED {
        let listed = all[key].as_array().unwrap().len() as u64;
        assert_eq!(all["distinct"][key].as_u64(), Some(listed), "{key}");
        assert_eq!(top["distinct"][key].as_u64(), Some(listed), "{key}");
        assert_eq!(
            top[key].as_array().unwrap().len() as u64,
            listed.min(3),
            "{key}"
        );
    }
    let sources = all["distinct"]["top_sources"].as_u64().unwrap();
    assert!(sources > 3);

    let table = |n: &str| text(&ctreport(&["top-ips", "-n", n, EXAMPLE]).stdout);
    assert!(
        table("3").contains(&format!("\nTop sources (3 of {})\n", thousands(sources))),
        "{}",
        table("3")
    );
    assert!(table("0").contains("\nTop sources\n"), "{}", table("0"));
    // doctor's own top lists say it too, from its composition's counts.
    let doctor = text(&ctreport(&["doctor", "-n", "3", EXAMPLE]).stdout);
    assert!(
        doctor.contains(&format!("\nTop sources (3 of {})\n", thousands(sources))),
        "{doctor}"
    );
    let diagnosis = json(&["doctor", "-n", "3", "--format", "json", EXAMPLE]);
    assert_eq!(
        diagnosis["composition"]["distinct"]["top_sources"].as_u64(),
        Some(sources)
    );
    let markdown = text(&ctreport(&["top-ips", "-n", "3", "--format", "markdown", EXAMPLE]).stdout);
    assert!(markdown.contains(&format!("### Top sources (3 of {})", thousands(sources))));
}

/// `-n` caps every ranked section, zones and marks too (a dump with a
/// mark per connection would otherwise print thousands of rows); `0`
/// shows all.
#[test]
fn top_n_caps_every_ranked_section() {
    let lengths = |n: &str| {
        let v = json(&["summary", "--format", "json", "-n", n, EXAMPLE]);
        RANKED.map(|s| v[s].as_array().unwrap_or_else(|| panic!("{s}")).len())
    };
    let all = lengths("0");
    // The example has 2 zones and 4 marks, and more of everything else.
    assert_eq!((all[5], all[6]), (2, 4));
    assert!(all.iter().all(|&len| len >= 2), "{all:?}");
    for (section, (&capped, &len)) in RANKED.iter().zip(lengths("1").iter().zip(&all)) {
        assert_eq!(capped, len.min(1), "{section}");
    }
    let v: serde_json::Value = serde_json::from_slice(
        &ctreport(&["summary", "--format", "json", "-n", "1", EXAMPLE]).stdout,
    )
    .unwrap();
    assert_eq!(v["marks"][0]["mark"], 0);
    assert_eq!(v["marks"][0]["count"], 1273);
}

/// A `conntrack -E` capture is said to be one: its counts are of events,
/// by type (counted here independently, by tag); a table listing has no
/// events section.
#[test]
fn event_captures_are_counted_as_events() {
    let path = "fixtures/kernel/router/events.txt";
    let out = ctreport(&["summary", "--format", "json", path]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let capture = std::fs::read_to_string(root().join(path)).unwrap();
    let tagged = |tag: &str| capture.lines().filter(|l| l.contains(tag)).count() as u64;
    let expected: Vec<(String, u64)> = ["NEW", "UPDATE", "DESTROY"]
        .iter()
        .map(|e| (e.to_string(), tagged(&format!("[{e}]"))))
        .filter(|(_, n)| *n > 0)
        .collect();
    let got: Vec<(String, u64)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|(_, n)| n).sum::<u64>(),
        v["totals"]["flows"].as_u64().unwrap()
    );
    // A CSV without the events section says on stderr what its counts
    // are; one with it, or of a listing, needs no note.
    let note = "the CSV's counts are of events (NEW, UPDATE, DESTROY)";
    for (command, input, noted) in [
        ("top-ips", path, true),
        ("states", path, true),
        ("summary", path, false),
        ("top-ips", EXAMPLE, false),
    ] {
        let out = ctreport(&[command, "--format", "csv", input]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out.stderr).contains(note),
            noted,
            "{command} {input}: {}",
            text(&out.stderr)
        );
    }
    // flows names each row's event as the summary does.
    let rows = ok(&["flows", "--format", "json", path]);
    let mut per_event: Vec<(String, u64)> = Vec::new();
    for row in rows.lines() {
        let row: serde_json::Value = serde_json::from_str(row).unwrap();
        let event = row["event"].as_str().unwrap().to_owned();
        match per_event.iter_mut().find(|(e, _)| *e == event) {
            Some((_, n)) => *n += 1,
            None => per_event.push((event, 1)),
        }
    }
    per_event.sort_by_key(|(e, _)| ["NEW", "UPDATE", "DESTROY"].iter().position(|x| x == e));
    assert_eq!(per_event, expected);
    let table = ctreport(&["summary", path]);
    assert!(text(&table.stdout).contains("Events (a `conntrack -E` capture"));
    let listing = ctreport(&["summary", "--format", "json", EXAMPLE]);
    let v: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert!(v.get("events").is_none());
}

/// A capture cut short may end in a partial entry that still reads as
/// one (no accounting: a port cut to its first digits). When the input
/// ends in an entry without a line end, that is said, with the line, for
/// files, stdin and compressed input alike; an input that ends with a
/// line end, or in a conntrack-tools message, gets no warning.
#[test]
fn an_input_ending_in_an_entry_without_a_line_end_is_flagged() {
    let whole = "ipv4     2 tcp      6 431995 ESTABLISHED src=198.18.1.1 dst=198.51.100.2 sport=1880 dport=9400 src=198.51.100.2 dst=198.18.1.1 sport=9400 dport=1880 [ASSURED] mark=0 use=2\n";
    let cut = format!("{whole}{}", &whole[..whole.find("dport=1880").unwrap() + 8]);
    let dir = Scratch::new("cut");
    let file = dir.join("cut.txt");
    std::fs::write(&file, &cut).unwrap();
    let file = file.to_str().unwrap();
    let warning = |name: &str| {
        format!(
            "ctreport: {name}:2: warning: the input ends in this entry without a line end: if the capture was cut short, the entry is incomplete (it is counted as it reads)\n"
        )
    };
    let out = ctreport(&["protocols", file]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), warning(file));
    assert_eq!(
        text(&ctreport_stdin(&["protocols"], cut.as_bytes()).stderr),
        warning("<stdin>")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(cut.as_bytes()).unwrap();
    let gzipped = gz.finish().unwrap();
    assert_eq!(
        text(&ctreport_stdin(&["protocols"], &gzipped).stderr),
        warning("<stdin>")
    );
    // Ended with a line end, or in the trailer: nothing to say.
    let ended = format!("{cut}\n");
    assert_eq!(
        text(&ctreport_stdin(&["protocols"], ended.as_bytes()).stderr),
        ""
    );
    let trailer =
        format!("{whole}conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.");
    assert_eq!(
        text(&ctreport_stdin(&["protocols"], trailer.as_bytes()).stderr),
        ""
    );
}

#[test]
fn flows_as_csv_and_ndjson() {
    // The golden files hold the base flows of the capture (its 192.0.2.0/24
    // clients), which cover every protocol and state; the row count of the
    // unfiltered output is checked against the summary below.
    for (format, extension) in [("csv", "csv"), ("json", "ndjson")] {
        let out = ctreport(&["flows", "--format", format, "-s", "192.0.2.0/24", EXAMPLE]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "");
        golden(&format!("flows.{extension}"), &text(&out.stdout));
    }
    let all = ctreport(&["flows", EXAMPLE]);
    let dnat = ctreport(&["flows", "--dst-nat", EXAMPLE]);
    let rows = |o: &Output| text(&o.stdout).lines().count() - 1;
    let summary = text(&ctreport(&["summary", "--format", "json", EXAMPLE]).stdout);
    let flows_line = format!("\"flows\": {},", rows(&all));
    assert!(
        summary.contains(&flows_line),
        "flows printed {} rows; summary: {summary}",
        rows(&all)
    );
    assert!(
        rows(&dnat) < rows(&all),
        "--dst-nat did not narrow the flows"
    );
    assert!(
        text(&dnat.stdout)
            .lines()
            .skip(1)
            .all(|l| l.contains(",true,")),
        "a non-DNAT row"
    );
}

/// A file of `entries` good lines of the example, then every line of
/// `fixtures/dialects/malformed.txt`, in a directory of its own.
fn mixed_file(name: &str, entries: usize) -> (Scratch, String) {
    let mut bytes: Vec<u8> = std::fs::read_to_string(root().join(EXAMPLE))
        .unwrap()
        .lines()
        .take(entries)
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    // Not all of it is UTF-8.
    bytes.extend(std::fs::read(root().join("fixtures/dialects/malformed.txt")).unwrap());
    let dir = Scratch::new(name);
    let file = dir.join("mixed.txt");
    std::fs::write(&file, bytes).unwrap();
    let path = file.to_str().unwrap().to_owned();
    (dir, path)
}

/// The CSV of a report of several sections has one header whatever the
/// dump holds (events, accounting, zones, a cut input, side inputs or
/// not), so a script's column 5 is the same column on every dump; and
/// every column of it is filled somewhere across the fixtures (none is a
/// stale name).
#[test]
fn csv_headers_do_not_depend_on_the_dump() {
    let mut inputs: Vec<String> = Vec::new();
    for dir in ["fixtures/dialects", "fixtures/example", "fixtures/full"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".txt") || name.ends_with(".zst") {
                inputs.push(format!("{dir}/{name}"));
            }
        }
    }
    for host in ["client", "router", "server"] {
        let dir = format!("fixtures/kernel/{host}");
        for entry in std::fs::read_dir(root().join(&dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            inputs.push(format!("{dir}/{name}"));
        }
    }
    // A gzip capture cut short: the INCOMPLETE section.
    let dir = Scratch::new("csv-header");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(root().join(EXAMPLE)).unwrap())
        .unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.join("cut.txt.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    inputs.push(cut.to_str().unwrap().to_owned());
    // Source NAT whose held ports form one run: doctor's held run columns.
    let run: String = (1..=200)
        .map(|port| {
            format!(
                "ipv4     2 udp      17 29 src=192.0.2.7 dst=198.51.100.2 sport={port} dport=53 \
                 [UNREPLIED] src=198.51.100.2 dst=198.51.100.1 sport=53 dport={port} mark=0 use=1\n"
            )
        })
        .collect();
    let run_file = dir.join("snat-run.txt");
    std::fs::write(&run_file, run).unwrap();
    inputs.push(run_file.to_str().unwrap().to_owned());
    inputs.sort();

    let side = [
        "--sysctl",
        "fixtures/example/sysctl.txt",
        "--stats",
        "fixtures/example/conntrack-S.txt",
    ];
    // Each command with the options that add sections or fill columns:
    // one header for all of them.
    let commands: [(&str, &[&[&str]]); 4] = [
        ("summary", &[&[]]),
        ("states", &[&[]]),
        ("doctor", &[&[], &side]),
        ("diff", &[&[EXAMPLE], &["--prefix", "24", EXAMPLE]]),
    ];
    for (command, variants) in commands {
        let mut headers = std::collections::BTreeSet::new();
        let mut filled: Vec<bool> = Vec::new();
        let mut reports = 0;
        for (input, extra) in inputs
            .iter()
            .flat_map(|input| variants.iter().map(move |extra| (input, *extra)))
        {
            let mut argv = vec![command, "--format", "csv"];
            argv.extend_from_slice(extra);
            argv.push(input);
            let out = ctreport(&argv);
            if out.stdout.is_empty() {
                continue; // no report: an input without entries
            }
            reports += 1;
            let mut reader = csv::Reader::from_reader(&out.stdout[..]);
            let header: Vec<String> = reader
                .headers()
                .unwrap()
                .iter()
                .map(str::to_owned)
                .collect();
            filled.resize(header.len(), false);
            for record in reader.records() {
                for (i, cell) in record.unwrap().iter().enumerate() {
                    filled[i] |= !cell.is_empty();
                }
            }
            headers.insert(header);
        }
        assert!(reports >= 10, "{command}: {reports} reports");
        assert_eq!(headers.len(), 1, "{command} {variants:?}: {headers:#?}");
        let header = headers.first().unwrap();
        let empty: Vec<&String> = header
            .iter()
            .zip(&filled)
            .filter_map(|(name, &filled)| (!filled).then_some(name))
            .collect();
        assert!(
            empty.is_empty(),
            "{command} {variants:?}: never filled: {empty:?}"
        );
    }
}

/// `--state '(none)'` selects what the states report counts as `(none)`:
/// TCP entries printed without a state (offloaded ones here), or another
/// stateful protocol's with `-p`; a stateless protocol is refused.
#[test]
fn the_none_state_row_can_be_selected() {
    for (file, protocol, key) in [
        ("fixtures/dialects/proc-offload.txt", None, "tcp_states"),
        (EXAMPLE, Some("dccp"), "dccp_states"),
    ] {
        let mut argv = vec!["states", "--format", "json", file];
        if let Some(p) = protocol {
            argv.extend(["-p", p]);
        }
        let states = json(&argv);
        let none = states[key]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["state"] == "(none)")
            .unwrap_or_else(|| panic!("no (none) row: {states}"))["count"]
            .as_u64()
            .unwrap();
        argv.extend(["--state", "(none)"]);
        argv[0] = "summary";
        let selected = json(&argv);
        assert_eq!(selected["totals"]["matched"], none, "{file}");
    }
    let out = ctreport(&["summary", "-p", "udp", "--state", "(none)", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
}

/// Hardware offload is offload too (the kernel sets `IPS_OFFLOAD` for
/// both): the summary's OFFLOAD count, the `-u OFFLOAD` filter and the
/// `offload` column of `flows` agree, counted against the text.
#[test]
fn offload_counts_agree_across_commands() {
    const OFFLOAD: &str = "fixtures/dialects/proc-offload.txt";
    let dump = std::fs::read_to_string(root().join(OFFLOAD)).unwrap();
    let has = |flag: &str| dump.lines().filter(|l| l.contains(flag)).count() as u64;
    let (software, hardware) = (has("[OFFLOAD]"), has("[HW_OFFLOAD]"));
    assert!(software > 0 && hardware > 0);

    let summary = json(&["summary", "--format", "json", OFFLOAD]);
    assert_eq!(summary["flags"]["offload"], software + hardware);
    assert_eq!(summary["flags"]["hw_offload"], hardware);
    let filtered = json(&["summary", "--format", "json", "-u", "OFFLOAD", OFFLOAD]);
    assert_eq!(filtered["totals"]["matched"], software + hardware);
    let rows = ok(&["flows", "--format", "json", OFFLOAD]);
    let offload_rows = rows
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|row| row["offload"] == true)
        .count() as u64;
    assert_eq!(offload_rows, software + hardware);
}

#[test]
fn check_lists_every_malformed_line_and_exits_1() {
    let (_dir, mixed) = mixed_file("check", 3);
    let out = ctreport(&["check", &mixed]);
    assert_eq!(out.status.code(), Some(1));
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 12);
    assert!(listed.starts_with(&format!("{mixed}:4:12: ")), "{listed}");
    assert_eq!(
        text(&out.stderr),
        "ctreport: 15 lines: 3 flows, 0 skipped, 12 malformed\n"
    );

    let clean = ctreport(&["check", EXAMPLE]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(text(&clean.stdout), "");
}

/// `check --format csv` and `--format json` list the same lines as the
/// text form, field for field: read back with a CSV reader and a JSON
/// parser, from a file whose name needs CSV quoting.
#[test]
fn check_lists_malformed_lines_as_csv_and_json() {
    let (dir, mixed) = mixed_file("check-formats", 2);
    let named = dir.join("dump, \"b\".txt");
    std::fs::rename(&mixed, &named).unwrap();
    let path = named.to_str().unwrap();

    let listed = ctreport(&["check", path]);
    let expected: Vec<(String, u64, usize, String)> = text(&listed.stdout)
        .lines()
        .map(|l| {
            let rest = l.strip_prefix(&format!("{path}:")).unwrap();
            let mut parts = rest.splitn(3, ':');
            let line = parts.next().unwrap().parse().unwrap();
            let column = parts.next().unwrap().parse().unwrap();
            let message = parts.next().unwrap().strip_prefix(' ').unwrap();
            (path.to_owned(), line, column, message.to_owned())
        })
        .collect();
    assert_eq!(expected.len(), 12);

    let csv_out = ctreport(&["check", "--format", "csv", path]);
    assert_eq!(csv_out.status.code(), Some(1));
    assert_eq!(csv_out.stderr, listed.stderr);
    let mut reader = csv::Reader::from_reader(&csv_out.stdout[..]);
    assert_eq!(
        reader.headers().unwrap(),
        vec!["path", "line", "column", "message"]
    );
    let rows: Vec<(String, u64, usize, String)> =
        reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows, expected);

    let json_out = ctreport(&["check", "--format", "json", path]);
    assert_eq!(json_out.status.code(), Some(1));
    assert_eq!(json_out.stderr, listed.stderr);
    let rows: Vec<(String, u64, usize, String)> = text(&json_out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["path"].as_str().unwrap().to_owned(),
                v["line"].as_u64().unwrap(),
                v["column"].as_u64().unwrap() as usize,
                v["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(rows, expected);

    // A clean dump: the CSV header alone, no JSON line.
    let clean = ctreport(&["check", "--format", "csv", EXAMPLE]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(text(&clean.stdout), "path,line,column,message\n");
    let clean = ctreport(&["check", "--format", "json", EXAMPLE]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(text(&clean.stdout), "");
}

/// Malformed lines scattered through a file of several windows of pieces
/// come out in input order with their own line numbers, from a file and
/// from stdin, with 1 and 2 threads: each as `check` lists it alone.
#[test]
fn check_lists_malformed_lines_in_order_across_pieces() {
    const MALFORMED: &str = "fixtures/dialects/malformed.txt";
    let bad: Vec<Vec<u8>> = std::fs::read(root().join(MALFORMED))
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    // Each malformed line's error alone, after `FILE:LINE:`.
    let alone = text(&ctreport(&["check", MALFORMED]).stdout);
    let alone: Vec<&str> = alone
        .lines()
        .map(|l| l.splitn(3, ':').nth(2).unwrap())
        .collect();
    assert_eq!(alone.len(), bad.len());

    let good = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let mut line = 0;
    for (i, entry) in good.lines().cycle().take(25_000).enumerate() {
        bytes.extend_from_slice(entry.as_bytes());
        bytes.push(b'\n');
        line += 1;
        if i % 997 == 0 {
            let k = (i / 997) % bad.len();
            bytes.extend_from_slice(&bad[k]);
            line += 1;
            expected.push((line, alone[k]));
        }
    }
    assert!(bytes.len() > 5 << 20, "more than a window of pieces");
    let dir = Scratch::new("check-order");
    let file = dir.join("scattered.txt");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();

    let lines = |name: &str| -> String {
        expected
            .iter()
            .map(|(line, rest)| format!("{name}:{line}:{rest}\n"))
            .collect()
    };
    let summary = format!(
        "ctreport: {} lines: 25,000 flows, 0 skipped, {} malformed\n",
        thousands(line),
        expected.len()
    );
    for threads in ["1", "2"] {
        let out = ctreport(&["check", "--threads", threads, path]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stdout), lines(path), "{threads} threads, file");
        assert_eq!(text(&out.stderr), summary);
        let out = ctreport_stdin(&["check", "--threads", threads], &bytes);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stdout),
            lines("<stdin>"),
            "{threads} threads, stdin"
        );
        assert_eq!(text(&out.stderr), summary);
    }
}

/// A run of short malformed lines, more than a piece keeps in memory
/// (4,096), is listed whole and in order all the same: the piece is read
/// again at its turn.
#[test]
fn check_lists_dense_malformed_lines_beyond_what_a_piece_keeps() {
    let good = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    let mut bytes = Vec::new();
    let mut expected = String::new();
    let mut line = 0u64;
    for entry in good.lines().take(500) {
        bytes.extend_from_slice(entry.as_bytes());
        bytes.push(b'\n');
        line += 1;
    }
    // What `check` says of the line alone, after `<stdin>:1:`.
    let alone = text(&ctreport_stdin(&["check"], b"x\n").stdout);
    let rest = alone.strip_prefix("<stdin>:1:").unwrap().to_owned();
    for _ in 0..30_000 {
        bytes.extend_from_slice(b"x\n");
        line += 1;
        expected.push_str(&format!("PATH:{line}:{rest}"));
    }
    for entry in good.lines().take(500) {
        bytes.extend_from_slice(entry.as_bytes());
        bytes.push(b'\n');
        line += 1;
    }
    let dir = Scratch::new("check-dense");
    let file = dir.join("dense.txt");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    for threads in ["1", "2"] {
        let out = ctreport(&["check", "--threads", threads, path]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stdout),
            expected.replace("PATH", path),
            "{threads}"
        );
        assert_eq!(
            text(&out.stderr),
            format!(
                "ctreport: {} lines: 1,000 flows, 0 skipped, 30,000 malformed\n",
                thousands(line)
            )
        );
        let out = ctreport_stdin(&["check", "--threads", threads], &bytes);
        assert_eq!(
            text(&out.stdout),
            expected.replace("PATH", "<stdin>"),
            "{threads}"
        );
    }
    // Its reader gone (`check dump | head -1`), check still reads to the
    // end for its verdict: a line was malformed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["check", path])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    // So does flows --strict; without --strict a closed reader is no error.
    for (strict, code) in [(true, 1), (false, 0)] {
        let mut args = vec!["flows", path];
        if strict {
            args.push("--strict");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctreport"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        assert_eq!(child.wait().unwrap().code(), Some(code), "{args:?}");
    }
    // A closed stderr loses the messages, not the run (no panic).
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["check", path])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    // An input that cannot be opened fails before anything is listed.
    let missing = dir.join("missing.txt");
    let out = ctreport(&["check", path, missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    // Nor does one refused for what it unpacks to (a tar archive in gzip).
    let packed = dir.join("capture.tgz");
    let tarred = std::process::Command::new("tar")
        .arg("czf")
        .arg(&packed)
        .arg("-C")
        .arg(root().join("fixtures/example"))
        .arg("nf_conntrack.txt")
        .status()
        .unwrap();
    assert!(tarred.success());
    for command in ["check", "flows"] {
        let out = ctreport(&[command, path, packed.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert_eq!(text(&out.stdout), "", "{command}");
        assert!(
            text(&out.stderr).contains("a gzip-compressed tar archive"),
            "{command}: {}",
            text(&out.stderr)
        );
    }
}

/// `flows` writes CSV without quoting (no field can need it): every row
/// of every fixture has the header's fields, none with a quote, and reads
/// back as the same records.
#[test]
fn flows_csv_rows_have_the_header_s_fields() {
    let mut files = Vec::new();
    for dir in [
        "fixtures/dialects",
        "fixtures/kernel/router",
        "fixtures/kernel/server",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "txt") {
                files.push(path);
            }
        }
    }
    files.push(root().join(EXAMPLE));
    assert!(files.len() > 10, "{files:?}");
    let mut rows = 0;
    for file in &files {
        let out = ctreport(&["flows", file.to_str().unwrap()]);
        let csv = text(&out.stdout);
        let mut lines = csv.lines();
        let Some(header) = lines.next() else {
            continue;
        };
        let fields = header.split(',').count();
        for line in lines {
            assert_eq!(
                line.split(',').count(),
                fields,
                "{}: {line}",
                file.display()
            );
            assert!(!line.contains('"'), "{}: {line}", file.display());
            rows += 1;
        }
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        for record in reader.records() {
            assert_eq!(record.unwrap().len(), fields, "{}", file.display());
        }
    }
    assert!(rows > 1000, "{rows}");
}

#[test]
fn an_input_with_no_entry_but_malformed_lines_fails_every_command() {
    // The wrong file, or a capture that failed: its report would be empty
    // sections that look like an empty table.
    let file = "fixtures/dialects/malformed.txt";
    let said = format!(
        "ctreport: {file}: error: no conntrack entry read (12 malformed lines of 12); is it a \
         capture of /proc/net/nf_conntrack or `conntrack -L`?"
    );
    for args in [
        &["check", file][..],
        &["summary", file],
        &["top-ips", file, EXAMPLE],
        &["flows", file],
        &["doctor", file],
        &["diff", EXAMPLE, file],
    ] {
        let out = ctreport(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).lines().any(|l| l == said),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // The doctor says it first in its findings too.
    let doctor = text(&ctreport(&["doctor", file]).stdout);
    assert!(
        doctor.starts_with(&format!(
            "Findings\n  - {file} gave no conntrack entry, only 12 malformed lines:"
        )),
        "{doctor}"
    );
    // conntrack's own failure, captured with 2>&1, is such an input.
    let failed = b"conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted\n";
    let out = ctreport_stdin(&["top-ips"], failed);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // An empty table is not an error.
    let empty = b"conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n";
    assert_eq!(ctreport_stdin(&["top-ips"], empty).status.code(), Some(0));
    let out = ctreport_stdin(&["top-ips"], empty);
    assert_eq!(text(&out.stderr), "", "conntrack said the table was empty");
    let empty = ctreport_stdin(&["top-ips"], b"");
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(
        text(&empty.stderr),
        "ctreport: <stdin>: warning: the input is empty: an empty table, or a capture that failed \
         before it wrote anything\n"
    );
    // Blank lines only: no entry either, and said so, by check too.
    for command in ["top-ips", "check"] {
        let blank = ctreport_stdin(&[command], b"\n\n \n");
        assert_eq!(blank.status.code(), Some(0), "{command}");
        assert!(
            text(&blank.stderr).starts_with(
                "ctreport: <stdin>: warning: no entry in 3 lines (blank, or not conntrack's): an \
                 empty table, or a capture that failed before it wrote anything\n"
            ),
            "{command}: {}",
            text(&blank.stderr)
        );
    }
}

#[test]
fn malformed_lines_are_reported_and_counted_not_fatal() {
    let (_dir, mixed) = mixed_file("malformed", 2);
    let out = ctreport(&["summary", "--max-errors", "2", "--format", "json", &mixed]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "ctreport: {mixed}:3:12: L4 protocol name does not match number 17 (which prints as udp) \"tcp\""
            ),
            format!("ctreport: {mixed}:4:42: invalid IPv4 address in dst \"dst=198.51.100.300\""),
            "ctreport: 10 more malformed lines not shown (--max-errors 2)".to_owned(),
        ]
    );
    let json = text(&out.stdout);
    assert!(json.contains("\"errors\": 12"), "{json}");
    assert!(json.contains("\"flows\": 2"), "{json}");

    let strict = ctreport(&["summary", "--strict", &mixed]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn unreadable_inputs_exit_2_naming_the_file() {
    let out = ctreport(&["top-ips", "no/such/dump.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ctreport: no/such/dump.txt: No such file or directory\n"
    );
    assert_eq!(text(&out.stdout), "");

    let dir = ctreport(&["summary", "fixtures"]);
    assert_eq!(dir.status.code(), Some(2));
    assert_eq!(text(&dir.stderr), "ctreport: fixtures: is a directory\n");
    // Standard input redirected from a directory: the same one line, with
    // no `(os error 21)` tail.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["summary", "-"])
        .current_dir(root())
        .stdin(std::fs::File::open(root().join("fixtures")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "ctreport: <stdin>: Is a directory\n");

    // A capture packed in a format ctreport does not read is named, with
    // the command that unpacks it, before anything is printed.
    let dir = Scratch::new("packed");
    let xz = dir.join("dump.txt.xz");
    let example = std::fs::read(root().join(EXAMPLE)).unwrap();
    std::fs::write(&xz, [&b"\xfd7zXZ\x00"[..], &example].concat()).unwrap();
    let xz = xz.to_str().unwrap();
    for command in ["summary", "check", "flows", "doctor"] {
        let out = ctreport(&[command, xz]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert_eq!(text(&out.stdout), "", "{command}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "ctreport: {xz}: xz-compressed; ctreport reads plain, gzip and zstd dumps: \
                 unpack it first, e.g. `xz -dc {xz} | ctreport {command} -`\n"
            ),
            "{command}"
        );
    }
}

#[test]
fn usage_errors_exit_2_with_clap_message() {
    let out = ctreport(&["summary", "--format", "yaml", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'yaml' for '--format"),
        "{}",
        text(&out.stderr)
    );
    // A negative number is a bad value, not an unknown option with the
    // tip to write `-- -1` (which makes it a file).
    for args in [
        &["top-ips", "-n", "-1"][..],
        &["check", "--threads", "-1"],
        &["flows", "--sport", "-1"],
        &["diff", "-n", "-1", EXAMPLE],
        &["summary", "-m", "-1/3"],
    ] {
        let out = ctreport(&[args, &[EXAMPLE]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: invalid value '-1"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("tip"), "{args:?}: {stderr}");
    }
    let bad_state = ctreport(&["summary", "--state", "SYN_SNT", EXAMPLE]);
    assert_eq!(bad_state.status.code(), Some(2));
    // The message lists the names it knows.
    let message = text(&bad_state.stderr);
    assert!(
        message.starts_with("ctreport: --state: unknown TCP state \"SYN_SNT\" (known: NONE, SYN_SENT, SYN_RECV, ESTABLISHED,")
            && message.contains(" TIME_WAIT,")
            && message.ends_with(")\n"),
        "{message}"
    );
    let bad_cidr = ctreport(&["summary", "-s", "192.0.2.0/40", EXAMPLE]);
    assert_eq!(bad_cidr.status.code(), Some(2));
    // A thread count no machine needs is refused before any is started.
    for command in ["summary", "check", "doctor"] {
        let many = ctreport(&[command, "--threads", "100000", EXAMPLE]);
        assert_eq!(many.status.code(), Some(2), "{command}");
        assert!(
            text(&many.stderr)
                .contains("100000 threads is more than ctreport starts (at most 1024"),
            "{}",
            text(&many.stderr)
        );
    }
}

#[test]
fn stdin_plain_gzip_and_zstd_give_the_same_report() {
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let from_file = ctreport(&["summary", "--format", "json", EXAMPLE]);
    let expected = text(&from_file.stdout).replace(EXAMPLE, "<stdin>");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&dump).unwrap();
    let gzipped = gz.finish().unwrap();
    let zstded = zstd::encode_all(&dump[..], 3).unwrap();

    for (what, input, args) in [
        (
            "stdin, no path",
            &dump,
            &["summary", "--format", "json"][..],
        ),
        ("stdin, -", &dump, &["summary", "--format", "json", "-"][..]),
        (
            "gzip on stdin",
            &gzipped,
            &["summary", "--format", "json"][..],
        ),
        (
            "zstd on stdin",
            &zstded,
            &["summary", "--format", "json", "-"][..],
        ),
    ] {
        let out = ctreport_stdin(args, input);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected, "{what}");
    }

    let dir = Scratch::new("cli-test");
    let gz_path = dir.join("dump.txt.gz");
    std::fs::write(&gz_path, &gzipped).unwrap();
    let out = ctreport(&["summary", "--format", "json", gz_path.to_str().unwrap()]);
    assert_eq!(
        text(&out.stdout),
        expected.replace("<stdin>", gz_path.to_str().unwrap())
    );
}

#[test]
fn several_files_merge_and_keep_per_file_totals() {
    let one = ctreport(&["summary", "--format", "json", EXAMPLE]);
    let two = ctreport(&[
        "summary",
        "--format",
        "json",
        EXAMPLE,
        "fixtures/dialects/proc-protocols.txt",
    ]);
    assert_eq!(two.status.code(), Some(0));
    let (one, two) = (text(&one.stdout), text(&two.stdout));
    assert!(two.matches("\"path\"").count() == 2, "{two}");
    assert_ne!(one, two);
    assert_eq!(text(&ctreport(&["summary", EXAMPLE]).stderr), "");

    // The same file twice (by another path) is counted twice, and said to be.
    let again = "fixtures/example/../example/nf_conntrack.txt";
    let twice = ctreport(&["protocols", "--format", "json", EXAMPLE, again]);
    assert_eq!(twice.status.code(), Some(0));
    assert_eq!(
        text(&twice.stderr),
        format!(
            "ctreport: warning: {again} is given more than once: its entries are counted each time\n"
        )
    );
    let v: serde_json::Value = serde_json::from_slice(&twice.stdout).unwrap();
    assert_eq!(v["totals"]["flows"], 2 * 1585);

    // Standard input twice is an error (it was warned about as counted
    // twice, then the second read found it empty).
    let example = std::fs::read(root().join(EXAMPLE)).unwrap();
    for command in ["summary", "check", "flows"] {
        let out = ctreport_stdin(&[command, "-", "-"], &example);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert_eq!(
            text(&out.stderr),
            "ctreport: standard input (-) can be read only once: give it once, and the other \
             inputs as files\n",
            "{command}"
        );
    }
    // Nor one pipe under two names, or a FIFO twice (the second open
    // waited for a writer that was gone: the run hung).
    let out = ctreport_stdin(&["check", "/dev/stdin", "-"], &example);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("- is a pipe or device given before"),
        "{}",
        text(&out.stderr)
    );
    let dir = Scratch::new("fifo-twice");
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.to_str().unwrap();
    for args in [
        &["summary", fifo, fifo][..],
        &["flows", fifo, fifo],
        &["diff", fifo, fifo],
        &["doctor", "--sysctl", fifo, fifo],
    ] {
        let command = args[0];
        let out = ctreport(args);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            text(&out.stderr).contains(&format!("{fifo} is a pipe or device given before")),
            "{command}: {}",
            text(&out.stderr)
        );
    }
    // Standard input redirected from a file, and that file by another
    // name: counted twice, and said to be.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["protocols", "/dev/stdin", "-"])
        .stdin(std::fs::File::open(root().join(EXAMPLE)).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "ctreport: warning: - is given more than once: its entries are counted each time\n"
    );
    // diff of one file with itself says why nothing changed.
    let out = ctreport(&["diff", EXAMPLE, again]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        format!("ctreport: warning: {EXAMPLE} and {again} are the same file: no change can show\n")
    );
}

/// `flows` formats pieces of the input on several threads: the rows come
/// out in input order, the CSV header once, the malformed lines with their
/// line numbers in order, the same with 1 and 3 threads; checked against
/// the parser's own pass over a generated dump of many pieces.
#[test]
fn flows_on_several_threads_keep_the_input_order() {
    let mut dump = Vec::new();
    ctgen::generate(
        &mut dump,
        &ctgen::Options {
            flows: 30_000,
            malformed_every: 997,
            ..ctgen::Options::default()
        },
    )
    .unwrap();
    assert!(dump.len() > 5 << 20, "{} bytes: too few pieces", dump.len());
    let dir = Scratch::new("flows");
    let path = dir.join("dump.txt");
    std::fs::write(&path, &dump).unwrap();
    let path = path.to_str().unwrap();

    // The reference: the parser's flows and malformed lines, in order.
    let mut flows = Vec::new();
    let mut error_lines = Vec::new();
    for result in ctparse::Parser::new(&dump) {
        match result {
            Ok(flow) => flows.push((flow.orig.src.to_string(), flow.orig.l4.dst_port())),
            Err(error) => error_lines.push(error.line),
        }
    }
    assert!(error_lines.len() > 20);

    let run = |format: &str, threads: &str| {
        let out = ctreport(&[
            "flows",
            "--format",
            format,
            "--threads",
            threads,
            "--max-errors",
            "5",
            path,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (json, stderr) = run("json", "3");
    let rows: Vec<(String, Option<u16>)> = json
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let dport = row["dport"].as_u64().map(|p| u16::try_from(p).unwrap());
            (row["src"].as_str().unwrap().to_owned(), dport)
        })
        .collect();
    assert_eq!(rows, flows);
    let printed: Vec<u64> = stderr
        .lines()
        .filter_map(|line| line.split(':').nth(2)?.parse().ok())
        .collect();
    assert_eq!(printed, error_lines[..5]);
    assert!(stderr.contains(&format!(
        "ctreport: {} more malformed lines not shown (--max-errors 5)",
        error_lines.len() - 5
    )));
    assert_eq!(run("json", "1"), (json, stderr.clone()));

    let (csv, csv_stderr) = run("csv", "3");
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("family,protocol,"));
    assert_eq!(csv.lines().filter(|l| *l == header).count(), 1);
    assert_eq!(csv.lines().count(), flows.len() + 1);
    assert_eq!(csv_stderr, stderr);
    assert_eq!(run("csv", "1"), (csv, csv_stderr));
}

#[test]
fn closed_stdout_pipe_exits_0_quietly() {
    let mut dump = Vec::new();
    ctgen::generate(
        &mut dump,
        &ctgen::Options {
            flows: 20_000,
            ..ctgen::Options::default()
        },
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["flows", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line of output, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&dump);
    });
    let mut first = [0u8; 64];
    let _ = std::io::Read::read(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "");
}

/// The README shows real output: every "`ctreport …`…:" line followed by a
/// ```text block must match what the binary prints now.
#[test]
fn readme_examples_are_current() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut checked = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let command = line
            .trim_end()
            .strip_suffix(':')
            .and_then(|l| l.split("`ctreport ").nth(1))
            .and_then(|rest| rest.split('`').next());
        let next = (i + 1..lines.len()).find(|&j| !lines[j].trim().is_empty());
        if let (Some(command), Some(fence)) = (command, next)
            && lines[fence] == "```text"
        {
            let start = fence + 1;
            let end = start + lines[start..].iter().position(|l| *l == "```").unwrap();
            let expected: String = lines[start..end].iter().map(|l| format!("{l}\n")).collect();
            let args: Vec<&str> = command.split_whitespace().collect();
            let out = ctreport(&args);
            assert_eq!(
                text(&out.stdout),
                expected,
                "README output of `ctreport {command}` is stale"
            );
            checked += 1;
            i = end;
        }
        i += 1;
    }
    assert!(checked >= 2, "found only {checked} README examples");
}

/// The bytes a gzip decoder gives for `gzipped` before it fails.
fn decodable_prefix(gzipped: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut decoder = flate2::read::MultiGzDecoder::new(gzipped);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => panic!("the cut stream decoded to its end"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return out,
        }
    }
}

#[test]
fn a_compressed_input_cut_short_is_reported_up_to_the_cut_and_fails() {
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&dump).unwrap();
    let gzipped = gz.finish().unwrap();
    let cut = &gzipped[..gzipped.len() / 2];
    let prefix = decodable_prefix(cut);
    assert!(prefix.len() > dump.len() / 4 && !prefix.ends_with(b"\n"));
    // Where reading stopped: on the cut line, just after its last byte.
    let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = prefix.len() - prefix.iter().rposition(|&b| b == b'\n').unwrap();

    let dir = Scratch::new("cut-gz");
    let cut_path = dir.join("dump.txt.gz");
    std::fs::write(&cut_path, cut).unwrap();
    // The cut line is not counted: the report is the one of the whole
    // lines before it.
    let whole_lines = &prefix[..=prefix.iter().rposition(|&b| b == b'\n').unwrap()];
    let prefix_path = dir.join("prefix.txt");
    std::fs::write(&prefix_path, whole_lines).unwrap();
    let (cut_path, prefix_path) = (cut_path.to_str().unwrap(), prefix_path.to_str().unwrap());
    let stopped = format!(
        "{cut_path}:{line}:{column}: error: cannot read on: incomplete deflate stream; the \
         report counts only the {} lines before this one (a capture cut short or a damaged file)",
        thousands(line as u64 - 1)
    );

    // The report is the one of the bytes read, with where it stopped.
    for threads in ["1", "2"] {
        let out = ctreport(&[
            "summary",
            "--format",
            "json",
            "--threads",
            threads,
            cut_path,
        ]);
        assert_eq!(out.status.code(), Some(2), "{threads} threads");
        assert!(
            text(&out.stderr).contains(&stopped),
            "{}",
            text(&out.stderr)
        );
        let mut got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let reference = ctreport(&["summary", "--format", "json", prefix_path]);
        let reference = text(&reference.stdout).replace(prefix_path, cut_path);
        let mut expected: serde_json::Value = serde_json::from_str(&reference).unwrap();
        let got_input = got["inputs"].take();
        expected["inputs"].take();
        assert_eq!(got, expected, "{threads} threads");
        assert_eq!(got["totals"]["lines"], line - 1);
        assert_eq!(got["totals"]["errors"], 0);
        assert_eq!(
            got_input[0]["read_error"],
            serde_json::json!({"line": line, "column": column, "message": "incomplete deflate stream"})
        );
    }

    // Said in the report itself, by every command, which all fail.
    let table = ctreport(&["top-ips", cut_path]);
    assert_eq!(table.status.code(), Some(2));
    let first_lines: Vec<String> = text(&table.stdout)
        .lines()
        .take(3)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        first_lines,
        [
            "INCOMPLETE: reading stopped early; every count below is of the lines read before"
                .to_owned(),
            "INPUT LINE COLUMN ERROR".to_owned(),
            format!("{cut_path} {line} {column} incomplete deflate stream"),
        ]
    );
    let check = ctreport(&["check", cut_path]);
    assert_eq!(check.status.code(), Some(2));
    assert!(text(&check.stderr).contains(&format!(
        "{cut_path}:{line}:{column}: error: cannot read on: incomplete deflate stream; the \
         malformed lines before this one are listed (a capture cut short or a damaged file)"
    )));
    assert!(text(&check.stderr).contains(&format!(
        "ctreport: {} lines: {} flows, 0 skipped, 0 malformed",
        thousands(line as u64 - 1),
        thousands(line as u64 - 1)
    )));
    // In CSV and JSON, stdout lists the stop too: read alone, it must not
    // pass for a clean input.
    let stop = "cannot read on: incomplete deflate stream";
    let csv_check = ctreport(&["check", "--format", "csv", cut_path]);
    assert_eq!(csv_check.status.code(), Some(2));
    assert_eq!(
        text(&csv_check.stdout),
        format!("path,line,column,message\n{cut_path},{line},{column},{stop}\n")
    );
    let json_check = ctreport(&["check", "--format", "json", cut_path]);
    let record: serde_json::Value = serde_json::from_slice(&json_check.stdout).unwrap();
    assert_eq!(
        record,
        serde_json::json!({"path": cut_path, "line": line, "column": column, "message": stop})
    );
    let doctor = ctreport(&["doctor", cut_path]);
    assert_eq!(doctor.status.code(), Some(2));
    // The prose is wrapped to the terminal: compared word by word.
    let words = text(&doctor.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.starts_with(&format!(
            "Findings - {cut_path} could not be read to its end (incomplete deflate stream at \
             line {line}): every figure below is of the {} lines read before, not of the whole table.",
            thousands(line as u64 - 1)
        )),
        "{words}"
    );
    let flows = ctreport(&["flows", cut_path]);
    assert_eq!(flows.status.code(), Some(2));
    assert_eq!(flows.stdout, ctreport(&["flows", prefix_path]).stdout);
    assert!(text(&flows.stderr).contains(&format!(
        "{cut_path}:{line}:{column}: error: cannot read on: incomplete deflate stream; the flows \
         of the lines before this one are written"
    )));
    // The doctor's breakdown is of the same whole lines (the cut line is
    // not one), with the stream read 1 and 2 threads.
    let whole: serde_json::Value =
        serde_json::from_slice(&ctreport(&["doctor", "--format", "json", prefix_path]).stdout)
            .unwrap();
    for threads in ["1", "2"] {
        let args = ["doctor", "--format", "json", "--threads", threads, cut_path];
        let cut: serde_json::Value = serde_json::from_slice(&ctreport(&args).stdout).unwrap();
        for key in ["composition", "timeouts", "notrack", "fill"] {
            assert_eq!(cut[key], whole[key], "{key}, {threads} threads");
        }
    }
    let diff = ctreport(&["diff", EXAMPLE, cut_path]);
    assert_eq!(diff.status.code(), Some(2));
    assert!(
        text(&diff.stdout).starts_with("INCOMPLETE: reading stopped early"),
        "{}",
        text(&diff.stdout)
    );

    // The other inputs are read on and counted.
    let both = ctreport(&["protocols", "--format", "json", cut_path, EXAMPLE]);
    assert_eq!(both.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&both.stdout).unwrap();
    let whole: serde_json::Value =
        serde_json::from_slice(&ctreport(&["protocols", "--format", "json", EXAMPLE]).stdout)
            .unwrap();
    assert_eq!(v["inputs"][1]["flows"], whole["inputs"][0]["flows"]);
    assert!(v["inputs"][1].get("read_error").is_none());
}

/// `conntrack -L 2>&1`, as README's pipeline captures it: stdout goes out
/// in 4 KiB blocks and the unbuffered stderr trailer lands before the
/// last one, mostly inside an entry. Every command counts that entry (and
/// the trailer's count is checked), from a pipe or a file, with no
/// malformed line; `flows` lists it whole.
#[test]
fn a_trailer_spliced_into_an_entry_is_mended() {
    let listing =
        std::fs::read_to_string(root().join("fixtures/kernel/router/conntrack-L.txt")).unwrap();
    let (stdout, trailer) = listing
        .trim_end()
        .rsplit_once('\n')
        .map(|(entries, trailer)| (format!("{entries}\n"), format!("{trailer}\n")))
        .unwrap();
    assert!(trailer.contains("flow entries have been shown"));
    let flushed = stdout.len() / 4096 * 4096;
    assert!(
        !stdout[..flushed].ends_with('\n'),
        "the fixture's block boundary must fall inside an entry"
    );
    let captured = format!("{}{trailer}{}", &stdout[..flushed], &stdout[flushed..]);
    let dir = Scratch::new("spliced");
    let file = dir.join("conntrack-L-2to1.txt");
    std::fs::write(&file, &captured).unwrap();
    let file = file.to_str().unwrap();
    let mut expected = json(&[
        "summary",
        "--format",
        "json",
        "-n",
        "0",
        "fixtures/kernel/router/conntrack-L.txt",
    ]);
    // All but the inputs (their paths) as the listing with its trailer
    // last: the same lines, the same counts.
    expected.as_object_mut().unwrap().remove("inputs");
    for out in [
        ctreport_stdin(
            &["summary", "--format", "json", "-n", "0", "-"],
            captured.as_bytes(),
        ),
        ctreport(&["summary", "--format", "json", "-n", "0", file]),
        ctreport(&[
            "summary",
            "--format",
            "json",
            "-n",
            "0",
            "--threads",
            "1",
            file,
        ]),
    ] {
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (Some(0), String::new())
        );
        let mut got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["totals"]["errors"], 0);
        got.as_object_mut().unwrap().remove("inputs");
        assert_eq!(got, expected);
    }
    // A capture that ends in the rest of the spliced entry, without its
    // line end, is warned of as any capture that ends in an entry.
    let rest_end = flushed + stdout[flushed..].find('\n').unwrap();
    let ends_in_rest = format!(
        "{}{trailer}{}",
        &stdout[..flushed],
        &stdout[flushed..rest_end]
    );
    let out = ctreport_stdin(&["protocols", "-"], ends_in_rest.as_bytes());
    assert!(
        text(&out.stderr).contains("warning: the input ends in this entry without a line end"),
        "{}",
        text(&out.stderr)
    );
    // `flows` lists the mended entry: the same rows as the listing's.
    let rows = |out: std::process::Output| {
        assert_eq!(text(&out.stderr), "");
        let mut rows: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
        rows.sort();
        rows
    };
    assert_eq!(
        rows(ctreport(&["flows", "--format", "csv", file])),
        rows(ctreport(&[
            "flows",
            "--format",
            "csv",
            "fixtures/kernel/router/conntrack-L.txt"
        ]))
    );
}

#[test]
fn a_listing_shorter_than_its_trailer_says_is_flagged() {
    let whole =
        std::fs::read_to_string(root().join("fixtures/kernel/router/conntrack-L.txt")).unwrap();
    assert!(whole.ends_with("85 flow entries have been shown.\n"));
    // The whole capture agrees with its trailer: nothing to say.
    let out = ctreport_stdin(&["protocols"], whole.as_bytes());
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    // Lines lost in the middle (a bad copy, a filter in the pipe).
    let lines: Vec<&str> = whole.lines().collect();
    let lost: String = lines[..10]
        .iter()
        .chain(&lines[lines.len() - 1..])
        .map(|l| format!("{l}\n"))
        .collect();
    let out = ctreport_stdin(&["protocols"], lost.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "ctreport: <stdin>: warning: conntrack's trailer says 85 entries were shown, but the \
         capture holds 10: lines were lost (or added) on the way\n"
    );
    // flows makes the same checks.
    let flows = ctreport_stdin(&["flows"], lost.as_bytes());
    assert!(
        text(&flows.stderr)
            .contains("trailer says 85 entries were shown, but the capture holds 10"),
        "{}",
        text(&flows.stderr)
    );
    assert!(text(&ctreport_stdin(&["flows"], b"").stderr).contains("the input is empty"));
    // A malformed entry was not lost: it is reported as what it is.
    let misspelt = whole.replacen("ESTABLISHED", "ESTABLISHD", 1);
    let out = ctreport_stdin(&["protocols"], misspelt.as_bytes());
    assert!(
        !text(&out.stderr).contains("trailer"),
        "{}",
        text(&out.stderr)
    );
    // Two whole listings, one after the other: nothing lost.
    let two = format!("{whole}{whole}");
    assert_eq!(
        text(&ctreport_stdin(&["protocols"], two.as_bytes()).stderr),
        ""
    );
    // conntrack's own failure message (stderr in the same file) is
    // malformed, but it is not an entry the trailer counts.
    let failure = "conntrack v1.4.7 (conntrack-tools): Operation failed: sorry, you must be root \
                   or get CAP_NET_ADMIN capability to do this\n";
    let (body, trailer) = whole.rsplit_once("conntrack v1.4.7").unwrap();
    let failed = format!("{body}{failure}conntrack v1.4.7{trailer}");
    let out = ctreport_stdin(&["check"], failed.as_bytes());
    assert_eq!(out.status.code(), Some(1), "the failure is reported");
    assert!(
        text(&out.stdout).contains("conntrack-tools reported a failure"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stderr).contains("trailer"),
        "{}",
        text(&out.stderr)
    );
    // The fixture of trailers among tool messages: every trailer agrees.
    let out = ctreport(&["check", "fixtures/dialects/trailer-and-noise.txt"]);
    assert!(
        !text(&out.stderr).contains("trailer"),
        "{}",
        text(&out.stderr)
    );
    // With an entry lost as well, the count is of entries alone.
    let (first, rest) = failed.split_once('\n').unwrap();
    assert!(
        first.contains("ESTABLISHED") || first.contains("src="),
        "{first}"
    );
    let out = ctreport_stdin(&["protocols"], rest.as_bytes());
    assert!(
        text(&out.stderr).contains("trailer says 85 entries were shown, but the capture holds 84"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_events_heading_says_whether_every_line_is_an_event() {
    let heading = |file: &str| {
        let out = ctreport(&["protocols", file]);
        // The heading, wrapped at 100 columns, runs to the column names.
        text(&out.stdout)
            .lines()
            .skip_while(|l| !l.starts_with("Events"))
            .take_while(|l| !l.starts_with("  "))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        heading("fixtures/kernel/router/events.txt"),
        "Events (a `conntrack -E` capture: the counts below are of events, not of table entries)"
    );
    // Two events among table entries.
    assert_eq!(
        heading("fixtures/dialects/trailer-and-noise.txt"),
        "Events (some lines are `conntrack -E` events, the others table entries: the counts below mix the two)"
    );
    assert_eq!(heading(EXAMPLE), "");
}

/// `top_sources_by_bytes` rows carry `bytes` (both directions), each as
/// a count of the fixture's text made here says, in descending order.
#[test]
fn top_sources_by_bytes_carry_bytes_as_the_text_sums_them() {
    let text = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    let mut expected: std::collections::HashMap<String, u64> = Default::default();
    for line in text.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .filter_map(move |w| w.strip_prefix(key))
                .collect::<Vec<_>>()
        };
        // Canonical text, as the report prints addresses (the kernel
        // prints IPv6 in full).
        let Some(source) = field("src=")
            .first()
            .map(|s| s.parse::<std::net::IpAddr>().unwrap().to_string())
        else {
            continue;
        };
        let bytes: u64 = field("bytes=")
            .iter()
            .map(|b| b.parse::<u64>().unwrap())
            .sum();
        *expected.entry(source).or_default() += bytes;
    }
    let report = json(&["summary", "-n", "5", "--format", "json", EXAMPLE]);
    let rows = report["top_sources_by_bytes"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let mut previous = u64::MAX;
    for row in rows {
        let address = row["address"].as_str().unwrap();
        let bytes = row["bytes"].as_u64().unwrap();
        assert!(row.get("count").is_none(), "{row}");
        assert_eq!(Some(&bytes), expected.get(address), "{address}");
        assert!(bytes <= previous);
        previous = bytes;
    }
    // The first is the largest of all.
    assert_eq!(rows[0]["bytes"].as_u64(), expected.values().copied().max());
}

/// A line of megabytes without a line end (a corrupt capture, a gzip
/// bomb) is one malformed line, named with its start, from a pipe as from
/// a file; the lines around it count.
#[test]
fn an_overlong_line_is_one_malformed_line_from_a_pipe_or_a_file() {
    let entry = "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1\n";
    let mut dump = entry.as_bytes().to_vec();
    dump.extend(std::iter::repeat_n(b'x', 3 << 20));
    dump.push(b'\n');
    dump.extend_from_slice(entry.as_bytes());
    let dir = Scratch::new("overlong");
    let path = dir.join("overlong.txt");
    std::fs::write(&path, &dump).unwrap();
    let file = path.to_str().unwrap();
    let starts = format!(
        ":2:1: line longer than 65536 bytes, not a conntrack entry (entries take under 1 KiB); it starts \"{}...\"",
        "x".repeat(64)
    );
    for out in [
        ctreport_stdin(&["summary", "--format", "json", "-"], &dump),
        ctreport(&["summary", "--format", "json", file]),
    ] {
        assert_eq!(out.status.code(), Some(0));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&starts), "{stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["totals"]["flows"], 2);
        assert_eq!(v["totals"]["errors"], 1);
        assert_eq!(v["inputs"][0]["bytes"], dump.len());
    }
}

/// A file that another process empties while `flows` reads it in place
/// (from its memory map): ctreport says so, once whichever of its threads
/// fault, and exits 2, instead of dying of `SIGBUS` ("Bus error") with
/// nothing said. `flows` writes as it reads, so the blocked pipe holds it
/// part way until the file is cut.
#[cfg(unix)]
#[test]
fn a_file_emptied_while_read_in_place_is_named() {
    use std::io::{BufRead, Read};
    use std::os::unix::process::ExitStatusExt;
    let example = std::fs::read(root().join(EXAMPLE)).unwrap();
    let dir = Scratch::new("emptied");
    let path = dir.join("dump.txt");
    for threads in ["1", "4"] {
        // 12 MB: three times what `flows` formats before it writes.
        std::fs::write(&path, example.repeat(32)).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ctreport"))
            .args(["flows", "--threads", threads])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        std::fs::File::create(&path).unwrap();
        std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(
            (status.code(), status.signal()),
            (Some(2), None),
            "{threads} threads: {stderr}"
        );
        let message = format!(
            "ctreport: {}: the file shrank while it was read (another process truncated or rewrote it)",
            path.display()
        );
        assert_eq!(
            stderr.matches(&message).count(),
            1,
            "{threads} threads: {stderr}"
        );
    }
}

/// A `SIGBUS` sent to ctreport (`kill -BUS`), not raised by a fault in a
/// mapped file, has its default action: the process ends by it, where the
/// handler for shrunk files would swallow it and switch itself off.
#[cfg(unix)]
#[test]
fn a_sigbus_sent_by_kill_ends_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let dir = Scratch::new("kill-bus");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(["summary", "--quiet"])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Returns once ctreport opened the FIFO: after it installed its handler.
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-BUS", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The signal is pending before the end of input reaches the read.
    drop(writer);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(7), "{status:?}");
}

/// The NAT filters combine as conntrack -L's do (its `filter_nat()`):
/// `--src-nat --dst-nat` selects the flows with both, and `--any-nat`
/// selects either whatever else is given.
#[test]
fn nat_filters_combine_as_conntrack_does() {
    let line = |src: &str, dst: &str, reply_src: &str, reply_dst: &str| {
        format!(
            "ipv4     2 tcp      6 100 ESTABLISHED src={src} dst={dst} sport=1000 dport=80 \
             src={reply_src} dst={reply_dst} sport=80 dport=1000 [ASSURED] mark=0 zone=0 use=2\n"
        )
    };
    let dump = [
        line("192.0.2.1", "203.0.113.5", "203.0.113.5", "192.0.2.1"), // none
        line("192.0.2.2", "203.0.113.5", "203.0.113.5", "198.51.100.1"), // SNAT
        line("198.51.100.9", "198.51.100.1", "192.0.2.80", "198.51.100.9"), // DNAT
        line("192.0.2.3", "198.51.100.1", "192.0.2.80", "198.51.100.1"), // both
    ]
    .concat();
    for (options, matched) in [
        (&["--src-nat"][..], 2),
        (&["--dst-nat"], 2),
        (&["--src-nat", "--dst-nat"], 1),
        (&["--any-nat"], 3),
        (&["--any-nat", "--dst-nat"], 3),
        (&["--any-nat", "--src-nat", "--dst-nat"], 3),
    ] {
        let args = [&["protocols", "--format", "json"][..], options, &["-"]].concat();
        let out = ctreport_stdin(&args, dump.as_bytes());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["totals"]["matched"], matched, "{options:?}");
    }
}

/// `check` and `flows` open their inputs one at a time: more files than
/// the descriptor limit are all read (they stopped at "Too many open
/// files" with nothing checked).
#[cfg(unix)]
#[test]
fn more_inputs_than_open_descriptors_are_all_read() {
    let example = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    let dir = Scratch::new("many");
    let files: Vec<String> = example
        .lines()
        .take(100)
        .enumerate()
        .map(|(i, line)| {
            let path = dir.join(format!("{i}.txt"));
            std::fs::write(&path, format!("{line}\n")).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    for command in ["check", "flows"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 32 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_ctreport"))
            .arg(command)
            .args(&files)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        if command == "check" {
            assert!(stderr.contains("100 lines: 100 flows"), "{stderr}");
        } else {
            // A header and a row per entry.
            assert_eq!(text(&out.stdout).lines().count(), 101);
        }
    }
}

/// Bytes after the last gzip member: zeros (padding) are ignored
/// silently, other bytes with one warning, whatever the command (`check`
/// also looks at each input before it reads the first), and every entry
/// is counted.
#[test]
fn bytes_after_gzip_data_are_ignored_as_gzip_does() {
    use std::io::Write;
    let entry = std::fs::read_to_string(root().join(EXAMPLE))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("{entry}\n").as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let dir = Scratch::new("gz-tail");
    for (tail, warned) in [(&[0u8; 64][..], false), (b"junk\n", true)] {
        let path = dir.join("dump.gz");
        std::fs::write(&path, [&gz[..], tail].concat()).unwrap();
        let path = path.to_str().unwrap();
        for command in ["check", "summary"] {
            let out = ctreport(&[command, "--format", "json", path]);
            assert_eq!(out.status.code(), Some(0), "{command}");
            let stderr = text(&out.stderr);
            let warning = format!(
                "ctreport: {path}: warning: {} after the end of the gzip data",
                if warned { "5 bytes" } else { "64 bytes" }
            );
            assert_eq!(
                stderr.matches(&warning).count(),
                usize::from(warned),
                "{stderr}"
            );
            if command == "summary" {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v["totals"]["flows"], 1);
            }
        }
    }
}

/// On a host that refuses new threads (a limit on tasks reached, as on
/// many hosts whose table is full), every command reports the same, on
/// one thread, after one warning. Rayon itself panics there, and so did
/// ctreport.
#[test]
fn a_host_that_refuses_threads_gets_the_same_report_on_one() {
    // Root runs ctreport as nobody under a limit of one task (root's own
    // processes are not limited).
    let test = "thread refusal test";
    let Some(_lock) = kernel::require(test, &["prlimit", "setpriv"]) else {
        return;
    };
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let runs: [(&[&str], &[u8]); 7] = [
        (&["summary", EXAMPLE], b""),
        (&["summary", "--threads", "2", EXAMPLE], b""),
        (&["summary", "--format", "json", "-"], &dump),
        (&["top-ips", "--prefix", "24", EXAMPLE], b""),
        (&["doctor", "--format", "json", EXAMPLE], b""),
        (&["flows", "--format", "csv", EXAMPLE], b""),
        (&["check", EXAMPLE], b""),
    ];
    for (args, input) in runs {
        let mut command = Command::new("prlimit");
        command
            .args(["--nproc=1:1", "--", "setpriv", "--reuid=65534"])
            .args(["--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ctreport"))
            .args(args)
            .current_dir(root());
        let refused = output_with_stdin(command, input);
        let normal = ctreport_stdin(args, input);
        let stderr = text(&refused.stderr);
        let (warning, rest) = stderr
            .split_once('\n')
            .unwrap_or_else(|| panic!("{args:?}: {stderr}"));
        assert!(
            warning.starts_with("ctreport: warning: cannot start ")
                && warning.ends_with("; reading on one thread"),
            "{args:?}: {stderr}"
        );
        assert_eq!(rest, text(&normal.stderr), "{args:?}");
        assert_eq!(refused.status.code(), normal.status.code(), "{args:?}");
        // The report (`check`'s is its count on stderr).
        assert!(!normal.stdout.is_empty() || !rest.is_empty(), "{args:?}");
        assert!(
            refused.stdout == normal.stdout,
            "{args:?}: {}",
            text(&refused.stdout)
        );
    }
}
