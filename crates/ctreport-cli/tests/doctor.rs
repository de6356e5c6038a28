//! `ctreport doctor` and `ctreport diff` on the bundled captures: golden
//! output in every format, the side inputs in all their forms, and the
//! error paths.
//!
//! Regenerate the golden files after an intended output change with
//! `UPDATE_GOLDEN=1 cargo test -p ctreport-cli --test doctor`, and review
//! the diff.

mod common;

use std::io::Write;

use common::*;

/// The bundled example (a quiet NAT router) and its side inputs.
const EXAMPLE: &str = "fixtures/example/nf_conntrack.txt";
const EXAMPLE_SYSCTL: &str = "fixtures/example/sysctl.txt";
const EXAMPLE_CONNTRACK_S: &str = "fixtures/example/conntrack-S.txt";
const EXAMPLE_PROC_STATS: &str = "fixtures/example/stat_nf_conntrack.txt";
/// The table-full capture (`fixtures/capture/fill.sh`).
const FULL: &str = "fixtures/full/proc.txt.zst";

const FORMATS: &[(&str, &str)] = &[
    ("table", "txt"),
    ("csv", "csv"),
    ("json", "json"),
    ("markdown", "md"),
];

#[test]
fn doctor_on_the_example_in_every_format() {
    for (format, extension) in FORMATS {
        let argv = [
            "doctor",
            "--format",
            format,
            "--sysctl",
            EXAMPLE_SYSCTL,
            "--stats",
            EXAMPLE_CONNTRACK_S,
            EXAMPLE,
        ];
        golden(&format!("doctor-example.{extension}"), &ok(&argv));
    }
}

#[test]
fn doctor_without_side_inputs_says_what_it_cannot_assess() {
    golden("doctor-example-bare.txt", &ok(&["doctor", EXAMPLE]));
}

#[test]
fn doctor_with_given_limits_gives_the_capacity_advice() {
    // The example is 0.6 % full; told the limit is 1,600 it is 99 % full.
    let argv = [
        "doctor",
        "--format",
        "markdown",
        "--max",
        "1600",
        "--buckets",
        "400",
        "--object-size",
        "256",
        "--what-if",
        "tcp_timeout_established=3600",
        "--stats",
        EXAMPLE_PROC_STATS,
        EXAMPLE,
    ];
    golden("doctor-example-limits.md", &ok(&argv));

    // CSV holds the prose too: findings and recommendations, with their
    // commands, as rows of their own sections.
    let mut csv_argv = argv;
    csv_argv[2] = "csv";
    let csv = ok(&csv_argv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (section, item, title, commands) = (
        column("section"),
        column("item"),
        column("title"),
        column("commands"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let of = |key: &str| {
        rows.iter()
            .filter(|r| &r[section] == key)
            .collect::<Vec<_>>()
    };
    assert!(of("findings").len() >= 5, "{csv}");
    let recommendations = of("recommendations");
    assert_eq!(&recommendations[0][item], "1");
    assert!(
        recommendations[0][title].starts_with("Raise nf_conntrack_max"),
        "{csv}"
    );
    assert_eq!(
        recommendations[0][commands].lines().next(),
        Some("sysctl -w net.netfilter.nf_conntrack_max=4096")
    );
}

/// Malformed lines are in the findings of every format, not only on
/// stderr: every figure is of the entries read. A verdict of "not under
/// pressure" that the malformed lines, were they entries, would overturn
/// is not given as settled.
#[test]
fn malformed_lines_are_a_finding_in_every_format() {
    let example = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    // Every other line's fields cut short: malformed.
    let mut malformed = 0;
    let damaged: String = example
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i % 2 == 1 {
                malformed += 1;
                format!("{}\n", &line[..line.len() / 3])
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let lines = example.lines().count();
    let read = lines - malformed;
    let dir = Scratch::new("doctor-malformed");
    let dump = dir.join("damaged.txt");
    std::fs::write(&dump, damaged).unwrap();
    let dump = dump.to_str().unwrap();
    // A limit the entries read fill to under 75 % (not under pressure),
    // and all the lines to over it.
    let max = (lines * 100 / 80).to_string();
    assert!(read * 100 < 75 * (lines * 100 / 80));
    let run = |format: &str, max: &str| {
        let out = ctreport(&["doctor", "--format", format, "--max", max, dump]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        // As one line: the table format wraps prose.
        text(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let finding = format!(
        "{} of the dump's {} lines",
        thousands(malformed as u64),
        thousands(lines as u64)
    );
    for (format, _) in FORMATS {
        let out = run(format, &max);
        assert!(out.contains(&finding), "{format}: {out}");
        assert!(
            out.contains("counted as entries the dump would fill"),
            "{format}: {out}"
        );
        assert!(!out.contains("not under pressure:"), "{format}: {out}");
    }
    // A limit so high that the malformed lines change nothing: the
    // verdict stands, the finding stays.
    let out = run("markdown", "1000000");
    assert!(out.contains(&finding), "{out}");
    assert!(out.contains("The table is not under pressure"), "{out}");
    // The intact example has no such finding.
    let out = ok(&["doctor", "--max", &max, EXAMPLE]);
    assert!(!out.contains("malformed"), "{out}");
    // conntrack's own failure message is not an entry the dump could not
    // count: at a limit that one more entry would take to 75 %, the
    // verdict stands.
    let mut failed = example.clone();
    failed.push_str(
        "conntrack v1.4.7 (conntrack-tools): Operation failed: Interrupted system call\n",
    );
    let file = dir.join("failed.txt");
    std::fs::write(&file, failed).unwrap();
    // (1,585 entries fill 74.98 % of it, 1,586 would fill 75.02 %.)
    let limit = (lines * 4 / 3 + 1).to_string();
    let out = ctreport(&["doctor", "--max", &limit, file.to_str().unwrap()]);
    let flat = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("The table is not under pressure"), "{flat}");
}

#[test]
fn doctor_on_the_table_full_capture() {
    let report = ok(&[
        "doctor",
        "--format",
        "json",
        "-n",
        "3",
        "--object-size",
        "256",
        "--sysctl",
        "fixtures/full/sysctl.txt",
        "--stats",
        "fixtures/full/stat_nf_conntrack.txt",
        FULL,
    ]);
    golden("doctor-full.json", &report);
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["pressure"], "full");
    assert_eq!(v["fill"]["fill_percent"], 100.0);
    assert_eq!(v["composition"]["tcp_states"][0]["state"], "ESTABLISHED");
    assert_eq!(v["composition"]["top_sources"][0]["address"], "198.18.1.1");
    let counter = |name: &str| {
        v["stats"]["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["value"]
            .as_u64()
            .unwrap()
    };
    assert!(counter("drop") > 0 && counter("early_drop") > 0);
    assert_eq!(v["stats"]["entries"], 262_144); // not summed over the 2 CPUs
}

#[test]
fn both_statistics_forms_give_the_same_counters() {
    let counters = |stats: &str| {
        let v = json(&["doctor", "--format", "json", "--stats", stats, EXAMPLE]);
        let keep = ["insert_failed", "drop", "early_drop", "search_restart"];
        let rows: Vec<(String, u64)> = v["stats"]["counters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| keep.contains(&c["name"].as_str().unwrap()))
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(rows.len(), 4, "{stats}");
        (rows, v["stats"]["cpus"].clone())
    };
    assert_eq!(counters(EXAMPLE_CONNTRACK_S), counters(EXAMPLE_PROC_STATS));
    for (stats, format) in [
        ("fixtures/full/conntrack-S.txt", "conntrack -S"),
        (
            "fixtures/full/stat_nf_conntrack.txt",
            "/proc/net/stat/nf_conntrack",
        ),
    ] {
        let v = json(&["doctor", "--format", "json", "--stats", stats, EXAMPLE]);
        assert_eq!(v["stats"]["format"], format);
    }
}

#[test]
fn every_sysctl_form_reads_the_same() {
    let dir = Scratch::new("doctor");
    let forms = [
        "net.netfilter.nf_conntrack_max = 1600\nnet.netfilter.nf_conntrack_buckets = 400\n",
        "net.netfilter.nf_conntrack_max=1600\r\nnet.netfilter.nf_conntrack_buckets=400\r\n",
        "/proc/sys/net/netfilter/nf_conntrack_max:1600\n/proc/sys/net/netfilter/nf_conntrack_buckets:400\n",
    ];
    let mut fills = Vec::new();
    for (i, form) in forms.iter().enumerate() {
        let path = dir.join(format!("sysctl-{i}.txt"));
        std::fs::write(&path, form).unwrap();
        let v = json(&[
            "doctor",
            "--format",
            "json",
            "--sysctl",
            path.to_str().unwrap(),
            EXAMPLE,
        ]);
        fills.push(v["fill"].clone());
    }
    // Compressed as a dump may be, and refused as a dump would be.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(forms[0].as_bytes()).unwrap();
    let packed = dir.join("sysctl.txt.gz");
    std::fs::write(&packed, gz.finish().unwrap()).unwrap();
    let packed = packed.to_str().unwrap();
    let v = json(&["doctor", "--format", "json", "--sysctl", packed, EXAMPLE]);
    fills.push(v["fill"].clone());
    // A setting with two values is a warning, not a malformed line:
    // --strict passes, and the last value is used.
    let twice = dir.join("twice.txt");
    std::fs::write(
        &twice,
        "net.netfilter.nf_conntrack_max = 1000\nnet.netfilter.nf_conntrack_max = 1600\n",
    )
    .unwrap();
    let twice = twice.to_str().unwrap();
    let out = ctreport(&[
        "doctor", "--strict", "--format", "json", "--sysctl", twice, EXAMPLE,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        format!(
            "ctreport: warning: {twice}:2:1: nf_conntrack_max is 1600 here but 1000 at line 1: \
             two captures in one file? The last value is used\n"
        )
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fill"]["max"], 1600);
    let elf = ctreport(&["doctor", "--sysctl", "/proc/self/exe", EXAMPLE]);
    assert_eq!(elf.status.code(), Some(2));
    assert_eq!(
        text(&elf.stderr),
        "ctreport: --sysctl /proc/self/exe: an executable (ELF), not a capture\n"
    );
    assert_eq!(fills[0]["max"], 1600);
    assert_eq!(fills[0]["buckets"], 400);
    assert!(fills.iter().all(|f| *f == fills[0]));
}

#[test]
fn doctor_reads_stdin_and_compressed_dumps_the_same() {
    let strip = |mut v: serde_json::Value| {
        v["inputs"][0]["path"] = serde_json::Value::Null;
        v
    };
    let from_file = strip(json(&["doctor", "--format", "json", EXAMPLE]));
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&dump).unwrap();
    for input in [dump.clone(), gz.finish().unwrap()] {
        let out = ctreport_stdin(&["doctor", "--format", "json", "-"], &input);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(strip(v), from_file);
    }
    // One thread (the sequential path) gives the same report.
    let one = strip(json(&[
        "doctor",
        "--format",
        "json",
        "--threads",
        "1",
        EXAMPLE,
    ]));
    assert_eq!(one, from_file);
}

#[test]
fn side_input_errors_are_reported_not_fatal_and_strict_fails() {
    let dir = Scratch::new("doctor-err");
    let sysctl = dir.join("sysctl.txt");
    std::fs::write(
        &sysctl,
        "net.netfilter.nf_conntrack_max = lots\nnet.netfilter.nf_conntrack_buckets = 400\n",
    )
    .unwrap();
    let stats = dir.join("stats.txt");
    std::fs::write(
        &stats,
        "cpu=0 drop=1 early_drop=x\ncpu=1 drop=2 early_drop=3\n",
    )
    .unwrap();
    let (sysctl, stats) = (sysctl.to_str().unwrap(), stats.to_str().unwrap());
    let argv = [
        "doctor", "--format", "json", "--sysctl", sysctl, "--stats", stats, EXAMPLE,
    ];
    let out = ctreport(&argv);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        format!(
            "ctreport: {sysctl}:1:34: nf_conntrack_max: expected a number, found \"lots\"\n\
             ctreport: {stats}:1:14: expected `name=number`, found \"early_drop=x\"\n"
        )
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    assert_eq!(v["fill"]["buckets"], 400);
    assert_eq!(v["fill"]["max"], serde_json::Value::Null);
    let mut strict = argv.to_vec();
    strict.insert(1, "--strict");
    assert_eq!(ctreport(&strict).status.code(), Some(1));
}

/// A side input that holds nothing usable (empty, or the other side
/// input given by mistake) stops the run with exit 2: a diagnosis that
/// went on without it would read "no drops" or "no limit known" as if
/// the file had been read.
#[test]
fn side_inputs_that_hold_nothing_usable_exit_2() {
    let dir = Scratch::new("doctor-empty");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();
    let cases = [
        // The two files swapped.
        (
            ["--sysctl", EXAMPLE_CONNTRACK_S],
            format!("ctreport: --sysctl {EXAMPLE_CONNTRACK_S} holds no nf_conntrack_* setting"),
        ),
        (
            ["--stats", EXAMPLE_SYSCTL],
            format!(
                "ctreport: --stats {EXAMPLE_SYSCTL} holds no conntrack counter (expected `conntrack -S` output or /proc/net/stat/nf_conntrack); 41 malformed lines, the first: {EXAMPLE_SYSCTL}:1:1: expected `name=number`, found"
            ),
        ),
        (
            ["--stats", empty],
            format!("ctreport: --stats {empty} holds no conntrack counter"),
        ),
        (
            ["--sysctl", empty],
            format!("ctreport: --sysctl {empty} holds no nf_conntrack_* setting"),
        ),
        // Endless: read up to the limit, not to the end of memory.
        (
            ["--stats", "/dev/zero"],
            "ctreport: --stats /dev/zero is larger than 16 MiB, far more than such a listing takes (the wrong file?)".to_owned(),
        ),
    ];
    for ([option, file], message) in &cases {
        let out = ctreport(&["doctor", option, file, EXAMPLE]);
        assert_eq!(out.status.code(), Some(2), "{option} {file}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(message.as_str()), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn usage_and_unreadable_inputs_exit_2() {
    let out = ctreport(&["doctor", "--sysctl", "no/such/sysctl.txt", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ctreport: --sysctl no/such/sysctl.txt: No such file or directory\n"
    );
    let out = ctreport(&["doctor", "--what-if", "tcp_timeout_syn_sent2=1", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown timeout sysctl \"tcp_timeout_syn_sent2\""));
    let out = ctreport(&["diff", EXAMPLE]);
    assert_eq!(out.status.code(), Some(2));
    let out = ctreport(&["diff", EXAMPLE, "no/such/dump.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ctreport: no/such/dump.txt: No such file or directory\n"
    );
}

/// `diff` counts "not assured" as `doctor` does: what early drop may
/// evict, offloaded entries (which print `[OFFLOAD]`, not `[ASSURED]`)
/// apart in a row of their own.
#[test]
fn diff_and_doctor_agree_on_what_is_not_assured() {
    const OFFLOAD: &str = "fixtures/dialects/proc-offload.txt";
    let doctor = json(&["doctor", "--format", "json", OFFLOAD]);
    let diff = json(&["diff", "--format", "json", OFFLOAD, EXAMPLE]);
    let before = |name: &str| {
        diff["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {diff}"))["before"]
            .clone()
    };
    let composition = &doctor["composition"];
    assert!(composition["offloaded"].as_u64().unwrap() > 0);
    assert_eq!(before("not assured"), composition["not_assured"]);
    assert_eq!(before("offloaded"), composition["offloaded"]);
    assert_eq!(before("assured"), composition["assured"]);
}

#[test]
fn diff_between_two_captures_in_every_format() {
    for (format, extension) in FORMATS {
        let argv = [
            "diff",
            "--format",
            format,
            "-n",
            "5",
            // The router of the base capture, then the same router with
            // 1,500 more flows (the example): the table grew.
            "fixtures/kernel/router/proc.txt",
            EXAMPLE,
        ];
        golden(&format!("diff.{extension}"), &ok(&argv));
    }
}

/// What grew one way shrank the other: the reversed diff's shrink lists
/// are the forward diff's growth lists with before and after swapped,
/// `new` becoming `gone`.
#[test]
fn diff_shows_what_shrank_as_the_mirror_of_what_grew() {
    let router = "fixtures/kernel/router/proc.txt";
    let forward = json(&["diff", "--format", "json", "-n", "0", router, EXAMPLE]);
    let reverse = json(&["diff", "--format", "json", "-n", "0", EXAMPLE, router]);
    for (grew, shrank, key) in [
        ("sources", "sources_shrunk", "address"),
        ("destinations", "destinations_shrunk", "address"),
        ("dnat", "dnat_shrunk", "original"),
    ] {
        let grew = forward[grew].as_array().unwrap();
        let shrank = reverse[shrank].as_array().unwrap();
        assert!(!grew.is_empty(), "{key}");
        assert_eq!(grew.len(), shrank.len(), "{key}");
        for (g, s) in grew.iter().zip(shrank) {
            assert_eq!(g[key], s[key]);
            assert_eq!((&g["before"], &g["after"]), (&s["after"], &s["before"]));
            assert_eq!(g["delta"].as_i64().unwrap(), -s["delta"].as_i64().unwrap());
            assert_eq!((&g["new"], &g["gone"]), (&s["gone"], &s["new"]));
        }
    }
    // The example's top source is gone from the router's table.
    let top = &reverse["sources_shrunk"][0];
    assert_eq!(top["address"], "198.18.1.1");
    assert_eq!(
        (
            top["before"].as_u64(),
            top["after"].as_u64(),
            top["gone"].as_bool()
        ),
        (Some(232), Some(0), Some(true))
    );
}

/// `diff --prefix` against `top-ips --prefix` of each snapshot: every
/// network that grew (shrank) with its two counts, growth first.
#[test]
fn diff_by_network_agrees_with_top_ips_of_each_snapshot() {
    use std::collections::BTreeMap;

    let router = "fixtures/kernel/router/proc.txt";
    let networks = |by: &str, file: &str| -> BTreeMap<String, u64> {
        let key = if by == "src" {
            "top_source_networks"
        } else {
            "top_destination_networks"
        };
        let v = json(&[
            "top-ips", "--by", by, "--prefix", "24", "-n", "0", "--format", "json", file,
        ]);
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let network = r["network"].as_str().unwrap().to_owned();
                (network, r["count"].as_u64().unwrap())
            })
            .collect()
    };
    let d = json(&[
        "diff", "--prefix", "24", "--format", "json", "-n", "0", router, EXAMPLE,
    ]);
    assert_eq!(d["prefixes"], serde_json::json!({"ipv4": 24, "ipv6": 64}));
    for (by, grew, shrank) in [
        ("src", "sources", "sources_shrunk"),
        ("dst", "destinations", "destinations_shrunk"),
    ] {
        let (before, after) = (networks(by, router), networks(by, EXAMPLE));
        let mut expected_grew = BTreeMap::new();
        let mut expected_shrank = BTreeMap::new();
        for network in before.keys().chain(after.keys()) {
            let was = before.get(network).copied().unwrap_or(0);
            let now = after.get(network).copied().unwrap_or(0);
            if now > was {
                expected_grew.insert(network.clone(), (was, now));
            } else if now < was {
                expected_shrank.insert(network.clone(), (was, now));
            }
        }
        for (list, expected) in [(grew, &expected_grew), (shrank, &expected_shrank)] {
            let rows = d[list].as_array().unwrap();
            let got: BTreeMap<String, (u64, u64)> = rows
                .iter()
                .map(|r| {
                    let counts = (r["before"].as_u64().unwrap(), r["after"].as_u64().unwrap());
                    (r["address"].as_str().unwrap().to_owned(), counts)
                })
                .collect();
            assert_eq!(&got, expected, "{list}");
            let deltas: Vec<u64> = rows
                .iter()
                .map(|r| r["delta"].as_i64().unwrap().unsigned_abs())
                .collect();
            assert!(
                deltas.windows(2).all(|w| w[0] >= w[1]),
                "{list}: {deltas:?}"
            );
        }
        assert!(!expected_grew.is_empty(), "{by}");
    }
    let table = ok(&["diff", "--prefix", "24", "-n", "2", router, EXAMPLE]);
    assert!(
        table.contains("Source networks that grew\n  NETWORK "),
        "{table}"
    );
}

#[test]
fn diff_of_a_snapshot_with_itself_is_all_zero_and_filters_apply() {
    // Through a stream, which is not the same file (a file with itself
    // is warned about: tests/cli.rs).
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let out = ctreport_stdin(&["diff", "--format", "json", EXAMPLE, "-"], &dump);
    assert_eq!(text(&out.stderr), "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for section in ["totals", "protocols", "states"] {
        assert!(
            v[section]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["delta"] == 0),
            "{section}"
        );
    }
    assert_eq!(v["sources"], serde_json::json!([]));
    let v = json(&[
        "diff",
        "--format",
        "json",
        "-p",
        "udp",
        "fixtures/kernel/client/proc.txt",
        EXAMPLE,
    ]);
    let protocols: Vec<&str> = v["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["udp"]);
    assert_eq!(v["schema"], "ctreport.diff/1");
    assert_eq!(v["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn doctor_and_diff_refuse_an_event_capture() {
    let events = "fixtures/kernel/router/events.txt";
    let out = ctreport(&["doctor", "--max", "270", events]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains(&format!(
            "ctreport: {events}: holds 267 conntrack -E events, not a table listing: doctor \
             diagnoses the table itself"
        )),
        "{}",
        text(&out.stderr)
    );
    // The other reports count events, and say so.
    assert_eq!(ctreport(&["summary", events]).status.code(), Some(0));
    // Nor does diff compare events as if they were a snapshot, on either
    // side, whatever its filters leave of them.
    let table = "fixtures/kernel/router/proc.txt";
    for pair in [[events, table], [table, events]] {
        let out = ctreport(&["diff", "-s", "192.0.2.250", pair[0], pair[1]]);
        assert_eq!(out.status.code(), Some(2), "{pair:?}");
        assert_eq!(text(&out.stdout), "");
        assert!(
            text(&out.stderr).contains(&format!(
                "ctreport: {events}: holds 267 conntrack -E events, not a table listing: diff \
                 compares two snapshots of the table"
            )),
            "{}",
            text(&out.stderr)
        );
    }
    // Events pasted into a listing are refused with the command that
    // leaves them out; that command's output is diagnosed.
    let mut mixed = std::fs::read(root().join(table)).unwrap();
    let listed = mixed.iter().filter(|&&b| b == b'\n').count();
    let event = std::fs::read_to_string(root().join(events)).unwrap();
    mixed.extend_from_slice(event.lines().next().unwrap().as_bytes());
    mixed.push(b'\n');
    let dir = Scratch::new("mixed-events");
    let path = dir.join("mixed.txt");
    std::fs::write(&path, &mixed).unwrap();
    let out = ctreport(&["doctor", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let grep = format!(
        "grep -v -e '\\[NEW\\]' -e '\\[UPDATE\\]' -e '\\[DESTROY\\]' {}",
        path.display()
    );
    assert!(
        stderr.contains(&format!(
            "holds 1 conntrack -E event among {listed} table entries: doctor diagnoses the \
             table itself; leave the events out with `{grep} | ctreport doctor -`"
        )),
        "{stderr}"
    );
    let kept = std::process::Command::new("sh")
        .arg("-c")
        .arg(&grep)
        .output()
        .unwrap();
    let out = ctreport_stdin(&["doctor", "--format", "json", "-"], &kept.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["flows"], listed);
    // Compressed, the command unpacks it first; from stdin, it names FILE.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&mixed).unwrap();
    let packed = dir.join("mixed.txt.gz");
    std::fs::write(&packed, gz.finish().unwrap()).unwrap();
    let out = ctreport(&["doctor", packed.to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains(&format!("`gzip -dc {} | grep -v -e", packed.display())),
        "{}",
        text(&out.stderr)
    );
    let out = ctreport_stdin(&["doctor", "-"], &mixed);
    assert!(
        text(&out.stderr).contains("-e '\\[DESTROY\\]' FILE | ctreport doctor -`"),
        "{}",
        text(&out.stderr)
    );
    // Compressed on stdin, the command unpacks FILE first.
    let packed = std::fs::read(dir.join("mixed.txt.gz")).unwrap();
    let out = ctreport_stdin(&["doctor", "-"], &packed);
    assert!(
        text(&out.stderr).contains("`gzip -dc FILE | grep -v -e"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_full_count_in_the_sysctls_is_pressure_whatever_the_dump_holds() {
    // The sysctls say the table was full (nf_conntrack_count = max), the
    // dump holds 0.6% of it: taken apart, or in another namespace. The
    // table is judged from the larger figure, and the findings say why.
    let v = json(&[
        "doctor",
        "--format",
        "json",
        "--sysctl",
        "fixtures/full/sysctl.txt",
        EXAMPLE,
    ]);
    assert_eq!(v["pressure"], "full");
    assert_eq!(v["fill"]["fill_percent"], 0.6);
    assert_eq!(v["fill"]["peak_fill_percent"], 100.0);
    // The fill table shows the figure the findings judge by, beside the
    // dump's; where the two agree (the example with its own sysctls) it
    // has the dump's alone.
    let fill_rows = |sysctl: &str| {
        let table = ok(&["doctor", "--sysctl", sysctl, EXAMPLE]);
        let fill = table
            .split("\n\n")
            .find(|p| p.starts_with("Fill\n"))
            .unwrap()
            .to_owned();
        fill.lines()
            .filter(|l| l.trim_start().starts_with("fill"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fill_rows("fixtures/full/sysctl.txt"),
        [
            "fill 0.6% entries / max",
            "fill, largest count 100.0% nf_conntrack_count / max"
        ]
    );
    assert_eq!(fill_rows(EXAMPLE_SYSCTL), ["fill 0.6% entries / max"]);
    let findings: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        findings.iter().any(|f| f.starts_with(
            "nf_conntrack_count was 262,144 entries, 100.0% of the limit: how full the table is is judged from that"
        )),
        "{findings:?}"
    );
    let first = &v["recommendations"][0];
    assert_eq!(first["id"], "raise-max");
    assert_eq!(
        first["commands"][0],
        "sysctl -w net.netfilter.nf_conntrack_max=524288"
    );
}

#[test]
fn asked_timeouts_always_get_a_row_and_are_never_recommended() {
    let v = json(&[
        "doctor",
        "--format",
        "json",
        "--sysctl",
        "fixtures/full/sysctl.txt",
        "--stats",
        "fixtures/full/conntrack-S.txt",
        "--what-if",
        "tcp_timeout_established=30",
        "--what-if",
        "tcp_timeout_time_wait=500",
        "--what-if",
        "icmp_timeout=5",
        FULL,
    ]);
    let rows = v["timeouts"].as_array().unwrap();
    let find = |sysctl: &str, asked: bool| {
        rows.iter()
            .find(|r| {
                r["sysctl"] == format!("net.netfilter.nf_conntrack_{sysctl}") && r["asked"] == asked
            })
            .unwrap_or_else(|| panic!("no row for {sysctl}, asked {asked}: {rows:?}"))
    };
    let row = |sysctl: &str| find(sysctl, true);
    // Removes most of ESTABLISHED, but it was a question, not advice.
    let established = row("tcp_timeout_established");
    assert_eq!(
        (
            established["proposed"].as_u64(),
            established["asked"].as_bool()
        ),
        (Some(30), Some(true))
    );
    assert!(established["gone"].as_u64().unwrap() > 0);
    // Longer than now (120 s): nothing gone; no ICMP entries: 0 of 0.
    let time_wait = row("tcp_timeout_time_wait");
    assert_eq!(
        (time_wait["proposed"].as_u64(), time_wait["gone"].as_u64()),
        (Some(500), Some(0))
    );
    let icmp = row("icmp_timeout");
    assert_eq!(
        (icmp["entries"].as_u64(), icmp["gone"].as_u64()),
        (Some(0), Some(0))
    );
    // Not asked: the doctor's own tries, which it may recommend; asking
    // another value does not take TIME_WAIT's away.
    assert_eq!(find("udp_timeout", false)["proposed"], 10);
    assert_eq!(find("tcp_timeout_time_wait", false)["proposed"], 30);
    let recommended: Vec<String> = v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["commands"].as_array().unwrap())
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert!(
        recommended
            .iter()
            .all(|c| !c.contains("timeout_established=30")
                && !c.contains("timeout_time_wait=500")
                && !c.contains("icmp_timeout")),
        "{recommended:?}"
    );
    assert!(
        recommended
            .iter()
            .any(|c| c == "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=30"),
        "{recommended:?}"
    );
    // Asked for the doctor's own value: its one row says both.
    let table = ok(&[
        "doctor",
        "--sysctl",
        "fixtures/full/sysctl.txt",
        "--what-if",
        "tcp_timeout_time_wait=30",
        FULL,
    ]);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("  tcp ") && l.contains(" tcp_timeout_time_wait "))
        .collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].contains(" doctor, asked "), "{}", rows[0]);
}

#[test]
fn entries_on_another_timeout_are_shown_in_every_format() {
    // TIME_WAIT at 120 s: ten entries idle for over a minute, and two
    // with more time left than 120 s (a lowered sysctl, or nft's `ct
    // timeout`): of unknown age, never gone.
    let entry = |left: u32, port: u32| {
        format!(
            "ipv4     2 tcp      6 {left} TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport={port} \
             dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport={port} [ASSURED] mark=0 \
             use=1\n"
        )
    };
    let mut dump: String = (0..10).map(|i| entry(50 + i, 40000 + i)).collect();
    dump.push_str(&entry(500, 41000));
    dump.push_str(&entry(501, 41001));
    let dir = Scratch::new("doctor-longer");
    let file = dir.join("dump.txt");
    std::fs::write(&file, dump).unwrap();
    let sysctl = dir.join("sysctl.txt");
    std::fs::write(
        &sysctl,
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait = 120\n",
    )
    .unwrap();
    let run = |format: &str| {
        ok(&[
            "doctor",
            "--format",
            format,
            "--sysctl",
            sysctl.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
    };
    // The TIME_WAIT row's cells, by the header's names.
    let cells = |header: Vec<String>, row: Vec<String>| -> Vec<(String, String)> {
        assert_eq!(header.len(), row.len(), "{header:?} {row:?}");
        header.into_iter().zip(row).collect()
    };
    let expect = [("entries", "12"), ("longer", "2"), ("gone", "10")];
    let check = |format: &str, cells: Vec<(String, String)>| {
        for (name, value) in expect {
            let found = cells.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            assert_eq!(
                found.map(|(_, v)| v.as_str()),
                Some(value),
                "{format}: {name} in {cells:?}"
            );
        }
    };

    let v = json(&[
        "doctor",
        "--format",
        "json",
        "--sysctl",
        sysctl.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let row = v["timeouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "TIME_WAIT")
        .unwrap_or_else(|| panic!("{v}"));
    let json_cells = expect
        .iter()
        .map(|(name, _)| (name.to_string(), row[name].to_string()))
        .collect();
    check("json", json_cells);

    let csv = run("csv");
    check(
        "csv",
        csv_row(&csv, |l| {
            l.starts_with("timeouts,") && l.contains(",TIME_WAIT,")
        }),
    );

    let markdown = run("markdown");
    let mut rows = markdown
        .lines()
        .skip_while(|l| !l.contains("| timer |"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        });
    let header = rows.next().unwrap_or_else(|| panic!("{markdown}"));
    let row = rows
        .find(|r| r.get(1).is_some_and(|s| s == "TIME_WAIT"))
        .unwrap_or_else(|| panic!("{markdown}"));
    check("markdown", cells(header, row));

    // The terminal table: the header's words (`SHORT TIMER` is one
    // column), then the row's.
    let table = run("table");
    let header_line = table
        .lines()
        .find(|l| l.contains("SHORT TIMER"))
        .unwrap_or_else(|| panic!("{table}"));
    let header: Vec<String> = header_line
        .replace("SHORT TIMER", "SHORT_TIMER")
        .replace("OF TABLE", "OF_TABLE")
        .split_whitespace()
        .map(String::from)
        .collect();
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("tcp ") && l.contains(" TIME_WAIT "))
        .unwrap_or_else(|| panic!("{table}"));
    check(
        "table",
        cells(header, row.split_whitespace().map(String::from).collect()),
    );
}

#[test]
fn crowded_snat_source_ports_are_a_finding_in_every_format() {
    // `entries` connections in `state` from many hosts, masqueraded to
    // 192.0.2.1, all to 198.51.100.2:443: each holds a source port of
    // 192.0.2.1 (TIME_WAIT ones only until a new connection needs it),
    // spread over 1024-65535 (7,919 is prime to its 64,512 ports).
    let dump = |entries: u32, state: &str| -> String {
        (0..entries)
            .map(|i| {
                let nat_port = 1024 + i * 7919 % 64512;
                let (host, sport) = (i % 200, 40000 + i % 20000);
                format!(
                    "ipv4     2 tcp      6 100 {state} src=198.18.0.{host} dst=198.51.100.2 \
                     sport={sport} dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 \
                     dport={nat_port} [ASSURED] mark=0 use=1\n"
                )
            })
            .collect()
    };
    let dir = Scratch::new("doctor-snat");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let crowded = write("crowded.txt", dump(40_000, "ESTABLISHED"));
    let closing = write("closing.txt", dump(40_000, "TIME_WAIT"));
    let roomy = write("roomy.txt", dump(30_000, "ESTABLISHED"));
    let stats = write(
        "conntrack-S.txt",
        "cpu=0 found=0 invalid=0 insert=0 insert_failed=5 drop=5 early_drop=0 error=0 search_restart=0\n".to_owned(),
    );
    let run = |format: &str, file: &std::path::Path| {
        let out = ok(&[
            "doctor",
            "--format",
            format,
            "--stats",
            stats.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        // As one line: the table format wraps prose.
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // 40,000 of 64,512 ports: 62.0 %, far from full: no failure is
    // predicted, and the 5 insert_failed are not put down to it.
    let head = "SNAT tcp 192.0.2.1 -> 198.51.100.2:443: ";
    let crowded_finding = "40,000 of the 64,512 source ports NAT picks from (1024-65535: \
                           original ports from 1024) are held (62.0%). NAT still finds free \
                           ports: drops start where held ports form long runs";
    // Closed: held on kernels before 6.5 only.
    let closing_finding = "0 of the 64,512 source ports NAT picks from (1024-65535: original \
                           ports from 1024) are held (0.0%). 40,000 more are TCP entries in \
                           TIME_WAIT or CLOSE: since 6.5 a new TCP connection may take such a \
                           port (in the last 32 tries of a window, when its sequence number has \
                           moved on); older kernels keep them until they expire (62.0% held \
                           then).";
    for (format, _) in FORMATS {
        for (file, finding) in [(&crowded, crowded_finding), (&closing, closing_finding)] {
            let out = run(format, file);
            assert!(out.contains(&format!("{head}{finding}")), "{format}: {out}");
            assert!(
                !out.contains("NAT found no free port for them"),
                "{format}: {out}"
            );
            let not_nat = "insert_failed = 5, but found = 0: no port search met a taken port, \
                           so these failures are not NAT's";
            assert!(out.contains(not_nat), "{format}: {out}");
        }
        // Under half: the table's row, no finding.
        let out = run(format, &roomy);
        assert!(!out.contains(head), "{format}: {out}");
        assert!(
            out.contains("192.0.2.1") && out.contains("46.5"),
            "{format}: {out}"
        );
    }
    let v = json(&["doctor", "--format", "json", closing.to_str().unwrap()]);
    assert_eq!(
        v["snat_ports"],
        serde_json::json!([{
            "protocol": "tcp",
            "translated": "192.0.2.1",
            "peer": "198.51.100.2:443",
            "zone": 0,
            "source": null,
            "entries": 40000,
            "held": 0,
            "closing": 40000,
            "outside": 0,
            "first_port": 1024,
            "last_port": 65535,
            "ports": 64512,
            "percent": 0.0,
            "percent_with_closing": 62.0,
            "held_run": null,
            "run_failure_percent": 0.0,
            "run_failure_percent_with_closing": 0.0,
        }])
    );
    assert_eq!(v["composition"]["distinct"]["snat_ports"], 1);
    // The CSV row, by the header's names.
    let csv = ok(&["doctor", "--format", "csv", roomy.to_str().unwrap()]);
    let row = first_row(&csv, "snat_ports");
    let cell = |name: &str| row[name].as_str();
    assert_eq!(
        [
            "translated",
            "peer",
            "zone",
            "original source",
            "entries",
            "held",
            "closing",
            "outside",
            "port range",
            "of ports"
        ]
        .map(cell),
        [
            "192.0.2.1",
            "198.51.100.2:443",
            "0",
            "several",
            "30000",
            "30000",
            "0",
            "0",
            "1024-65535",
            "46.5"
        ]
    );
}

/// The first row of `section` in a CSV report without quoted cells, by
/// the header's names.
fn first_row(csv: &str, section: &str) -> std::collections::HashMap<String, String> {
    csv_row(csv, |l| l.starts_with(&format!("{section},")))
        .into_iter()
        .collect()
}

/// The first row that `pick` takes of a CSV report without quoted
/// cells, as (header name, cell) pairs; it has a cell for every column.
fn csv_row(csv: &str, pick: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines
        .find(|l| pick(l))
        .unwrap_or_else(|| panic!("no such row: {csv}"))
        .split(',')
        .collect();
    assert_eq!(header.len(), row.len(), "{header:?} {row:?}");
    header
        .into_iter()
        .zip(row)
        .map(|(name, cell)| (name.to_owned(), cell.to_owned()))
        .collect()
}

/// A TCP connection of 198.18.0.1 to 198.51.100.2:443 in `state`,
/// masqueraded to 192.0.2.1, keeping its source port `port`.
fn masqueraded(state: &str, port: u32) -> String {
    format!(
        "ipv4     2 tcp      6 100 {state} src=198.18.0.1 dst=198.51.100.2 sport={port} \
         dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport={port} [ASSURED] mark=0 \
         use=1\n"
    )
}

/// `dump` written as `name` in `dir`, and its path.
fn written(dir: &Scratch, name: &str, dump: String) -> String {
    let path = dir.join(name);
    std::fs::write(&path, dump).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn runs_of_held_ports_with_gaps_show_their_drops() {
    // 1024-30023 held but for each 1,000th port: 29 runs, not one.
    let dump = (1024..30_024u32)
        .filter(|p| p % 1000 != 0)
        .map(|p| masqueraded("ESTABLISHED", p))
        .collect();
    let dir = Scratch::new("doctor-snat-gaps");
    let file = &written(&dir, "gaps.txt", dump);
    let v = json(&["doctor", "--format", "json", file]);
    let row = &v["snat_ports"][0];
    let drops = row["run_failure_percent"].as_f64().unwrap();
    assert!(row["held_run"].is_null() && drops > 1.0, "{row}");
    // The table and CSV show the estimate without a run to name.
    let row = first_row(&ok(&["doctor", "--format", "csv", file]), "snat_ports");
    assert_eq!(
        (row["held run"].as_str(), row["run drops"].as_str()),
        ("", format!("{drops:.1}").as_str())
    );
    let table = ok(&["doctor", file]);
    assert!(
        table.contains(&format!("{drops:.1}%\n")) && table.contains("form long runs"),
        "{table}"
    );
    // And the advice for runs: random ports.
    let r = v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "snat-ports")
        .unwrap_or_else(|| panic!("{}", v["recommendations"]));
    assert!(
        r["commands"]
            .to_string()
            .contains("masquerade fully-random"),
        "{r}"
    );
}

#[test]
fn closing_entries_give_the_older_kernels_share_its_own_column() {
    // 1024-28023 held, every other port by a TIME_WAIT entry: with the
    // closing ports free (6.5 and later, at best) the held ports are
    // spread and fail no search; kept taken (before 6.5) they are one run.
    let dump = (1024..28_024u32)
        .map(|p| masqueraded(["ESTABLISHED", "TIME_WAIT"][p as usize % 2], p))
        .collect();
    let dir = Scratch::new("doctor-snat-closing");
    let file = &written(&dir, "alternating.txt", dump);
    let v = json(&["doctor", "--format", "json", file]);
    let row = &v["snat_ports"][0];
    let before = row["run_failure_percent_with_closing"].as_f64().unwrap();
    assert!(row["run_failure_percent"] == 0.0 && before >= 1.0, "{row}");
    let before = format!("{before:.1}");
    let row = first_row(&ok(&["doctor", "--format", "csv", file]), "snat_ports");
    assert_eq!(
        (
            row["closing"].as_str(),
            row["run drops"].as_str(),
            row["drops before 6.5"].as_str()
        ),
        ("13500", "", before.as_str())
    );
    // The table's row ends with that share, under its header.
    let table = ok(&["doctor", file]);
    let header = table
        .lines()
        .find(|l| l.contains("HELD RUN"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(header.ends_with("RUN DROPS  DROPS BEFORE 6.5"), "{header}");
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("tcp ") && l.contains("192.0.2.1"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.ends_with(&format!(" {before}%")), "{line}");
}

#[test]
fn standard_input_is_read_once() {
    let dump = std::fs::read(root().join(EXAMPLE)).unwrap();
    let out = ctreport_stdin(&["doctor", "--sysctl", "-", "-"], &dump);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("standard input (-) can be read only once"));
    let out = ctreport_stdin(&["diff", "-", "-"], &dump);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("standard input (-) can be read only once"));
    // A side input can come from stdin.
    let sysctl = std::fs::read(root().join(EXAMPLE_SYSCTL)).unwrap();
    let piped = ctreport_stdin(
        &["doctor", "--format", "json", "--sysctl", "-", EXAMPLE],
        &sysctl,
    );
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
    let from_file = ok(&[
        "doctor",
        "--format",
        "json",
        "--sysctl",
        EXAMPLE_SYSCTL,
        EXAMPLE,
    ]);
    assert_eq!(
        text(&piped.stdout).replace(
            "\"sysctl_file\": \"<stdin>\"",
            &format!("\"sysctl_file\": \"{EXAMPLE_SYSCTL}\"")
        ),
        from_file
    );
}

#[test]
fn the_line_a_read_error_cuts_is_not_in_the_diagnosis() {
    // Two gzip members: whole lines and a cut entry that still reads as
    // one, then a second member cut after its header: the decoder gives
    // the first, then fails.
    let text = std::fs::read_to_string(root().join(EXAMPLE)).unwrap();
    let lines: Vec<&str> = text.lines().take(101).collect();
    let whole: String = lines[..100].iter().map(|l| format!("{l}\n")).collect();
    let last = lines[100];
    let cut_at = last.find(" use=").expect("the example's lines end in use=");
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let mut input = gzip(format!("{whole}{}", &last[..cut_at]).as_bytes());
    input.extend_from_slice(&gzip(text.as_bytes())[..20]);
    let dir = Scratch::new("cut-doctor");
    let (cut_path, whole_path) = (dir.join("cut.txt.gz"), dir.join("whole.txt"));
    std::fs::write(&cut_path, &input).unwrap();
    std::fs::write(&whole_path, &whole).unwrap();
    let run = |path: &std::path::Path| -> serde_json::Value {
        let out = ctreport(&["doctor", "--format", "json", path.to_str().unwrap()]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (cut, expected) = (run(&cut_path), run(&whole_path));
    assert_eq!(cut["inputs"][0]["read_error"]["line"], 101);
    assert_eq!(cut["inputs"][0]["read_error"]["column"], cut_at + 1);
    for key in ["composition", "timeouts", "notrack", "fill"] {
        assert_eq!(cut[key], expected[key], "{key}");
    }
}
