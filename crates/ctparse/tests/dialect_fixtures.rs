//! The hand-written dialect fixtures (`fixtures/dialects/`, written from the
//! printing code and sourced in `FORMATS.md`): every line parses, selected
//! lines field by field, and the malformed fixture's errors land exactly.

use std::path::{Path, PathBuf};

use ctparse::{
    DccpState, ErrorKind, Event, Family, Field, Flow, L4, Parser, Protocol, SctpState, State,
    Status, TcpState,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dialects")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every flow of a fixture; fails on any error.
fn flows(bytes: &[u8]) -> Vec<(u64, Flow<'_>)> {
    let mut parser = Parser::new(bytes);
    let mut flows = Vec::new();
    while let Some((line, result)) = parser.next_line() {
        match result {
            Ok(ctparse::Line::Flow(flow)) => flows.push((line, flow)),
            Ok(ctparse::Line::Skipped(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    flows
}

fn line<'a>(flows: &'a [(u64, Flow<'a>)], number: u64) -> &'a Flow<'a> {
    &flows
        .iter()
        .find(|(n, _)| *n == number)
        .unwrap_or_else(|| panic!("no flow on line {number}"))
        .1
}

/// Every entry of every dialect fixture parses. The only errors are the
/// conntrack-tools messages that report a failure, which
/// `trailer-and-noise.txt` holds on purpose (`Operation failed`, the
/// ENOBUFS warning, an unknown option); its trailers, notices and
/// follow-up lines are skipped.
#[test]
fn every_dialect_fixture_parses_without_errors() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "txt") || name.starts_with("malformed") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut parser = Parser::new(&bytes);
        let (failures, errors): (Vec<_>, Vec<_>) = parser
            .by_ref()
            .filter_map(Result::err)
            .partition(|e| e.kind == ErrorKind::ToolFailure);
        let errors: Vec<String> = errors
            .iter()
            .map(|e| e.display_in(&path).to_string())
            .collect();
        assert_eq!(errors, Vec::<String>::new());
        let failures: Vec<(u64, &str)> = failures
            .iter()
            .map(|e| (e.line, e.token.as_str()))
            .collect();
        let expected: &[(u64, &str)] = if name == "trailer-and-noise.txt" {
            &[
                (
                    11,
                    "Operation failed: sorry, you must be root or get CAP_NET_ADMIN c...",
                ),
                (14, "WARNING: We have hit ENOBUFS! We are losing events."),
                (20, "unknown option `-X'"),
            ]
        } else {
            &[]
        };
        assert_eq!(failures, expected, "{name}");
        let stats = parser.stats();
        assert!(stats.flows > 0, "{name}: no flows");
        assert_eq!(
            stats.lines,
            stats.flows + stats.skipped + expected.len() as u64,
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} fixtures found");
}

#[test]
fn proc_offload_entries_have_no_timeout_or_state() {
    let bytes = read("proc-offload.txt");
    let flows = flows(&bytes);
    let f = line(&flows, 2);
    assert_eq!(
        (f.protocol, f.timeout, f.state),
        (Protocol::TCP, None, None)
    );
    assert!(f.is_offloaded());
    assert_eq!(f.orig_counters.map(|c| c.packets), Some(5));
    let v6 = line(&flows, 8);
    assert_eq!(v6.family, Family::Ipv6);
    assert_eq!(v6.orig.src.to_string(), "2001:db8::25");
    let offloaded = flows.iter().filter(|(_, f)| f.is_offloaded()).count();
    let hw = flows
        .iter()
        .filter(|(_, f)| f.status.contains(Status::HW_OFFLOAD))
        .count();
    assert!(
        offloaded >= 4 && hw >= 1,
        "{offloaded} offloaded, {hw} in hardware"
    );
}

#[test]
fn proc_protocols_gre_dccp_and_generic() {
    let bytes = read("proc-protocols.txt");
    let flows = flows(&bytes);
    let gre = line(&flows, 22);
    assert_eq!(gre.protocol, Protocol::GRE);
    assert_eq!(
        gre.gre_timeouts.map(|g| (g.timeout, g.stream_timeout)),
        Some((600, 18000))
    );
    assert_eq!(
        gre.orig.l4,
        L4::Gre {
            srckey: 0x9c2e,
            dstkey: 0x4a1
        }
    );
    assert_eq!(line(&flows, 18).state, Some(State::Dccp(DccpState::Open)));
    assert_eq!(
        line(&flows, 17).state,
        Some(State::Dccp(DccpState::PartOpen))
    );
    let protocols: std::collections::BTreeSet<u8> =
        flows.iter().map(|(_, f)| f.protocol.number()).collect();
    for p in [1, 6, 17, 33, 47, 58, 132, 136, 253] {
        assert!(
            protocols.contains(&p),
            "protocol {p} missing from proc-protocols.txt"
        );
    }
}

#[test]
fn conntrack_tools_dccp_states_printed_from_the_sctp_table() {
    let bytes = read("conntrack-L-dialects.txt");
    let flows = flows(&bytes);
    // Capture (3), libnetfilter_conntrack 1.0.7: OPEN printed as ESTABLISHED,
    // REQUEST as CLOSED, CLOSEREQ as SHUTDOWN_SENT, TIMEWAIT as SHUTDOWN_ACK_SENT.
    assert_eq!(line(&flows, 24).state, Some(State::Dccp(DccpState::Open)));
    assert_eq!(
        line(&flows, 25).state,
        Some(State::Dccp(DccpState::Request))
    );
    assert_eq!(
        line(&flows, 26).state,
        Some(State::Dccp(DccpState::CloseReq))
    );
    assert_eq!(
        line(&flows, 27).state,
        Some(State::Dccp(DccpState::TimeWait))
    );
    // The same library printed SCTP heartbeat states as NONE.
    assert_eq!(line(&flows, 28).state, Some(State::Sctp(SctpState::None)));
    // Capture (2): the generic protocol with L3 columns, ktimestamp and labels.
    let generic = line(&flows, 19);
    assert_eq!(
        (generic.l3_number, generic.protocol),
        (Some(2), Protocol(253))
    );
    assert_eq!(generic.start, Some(&b"Mon Nov 23 09:59:58 2026"[..]));
    assert_eq!(
        line(&flows, 21).labels,
        Some(&b""[..]),
        "bare `labels` token"
    );
}

#[test]
fn events_prefixes_and_suffixes() {
    let bytes = read("conntrack-E-events.txt");
    let flows = flows(&bytes);
    let destroy = line(&flows, 7);
    assert_eq!(
        (destroy.event, destroy.timeout, destroy.state),
        (Some(Event::Destroy), None, None)
    );
    assert!(destroy.status.contains(Status::USERSPACE));
    let expired = line(&flows, 27);
    assert_eq!(expired.event_time, Some(&b"1795428160.000050"[..]));
    assert_eq!(
        (expired.timeout, expired.state),
        (None, Some(State::Tcp(TcpState::TimeWait)))
    );
    let with_portid: Vec<u32> = flows.iter().filter_map(|(_, f)| f.portid).collect();
    assert!(with_portid.contains(&3112), "{with_portid:?}");
    let events = flows.iter().filter(|(_, f)| f.event.is_some()).count();
    assert_eq!(
        events,
        flows.len(),
        "every line of an event capture is an event"
    );
}

#[test]
fn malformed_fixture_errors_at_the_expected_line_and_column() {
    let bytes = read("malformed.txt");
    let expected: Vec<(u64, usize)> = String::from_utf8(read("malformed.expected.tsv"))
        .unwrap()
        .lines()
        .map(|row| {
            let mut cols = row.split('\t');
            (
                cols.next().unwrap().parse().unwrap(),
                cols.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let errors: Vec<_> = Parser::new(&bytes).filter_map(Result::err).collect();
    let found: Vec<(u64, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(found, expected);
    let kinds: Vec<&ErrorKind> = errors.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &ErrorKind::ProtocolMismatch {
                number: 17,
                expected: "udp"
            },
            &ErrorKind::InvalidIpv4(Field::Dst),
            &ErrorKind::InvalidIpv6(Field::Dst),
            &ErrorKind::OutOfRange(Field::Sport),
            &ErrorKind::UnknownState { protocol: "TCP" },
            &ErrorKind::MissingReplyTuple,
            &ErrorKind::CutShort,
            &ErrorKind::InvalidNumber(Field::Timeout),
            &ErrorKind::DuplicateFlag,
            &ErrorKind::NotText,
            &ErrorKind::MissingValue,
            &ErrorKind::UnknownState { protocol: "TCP" },
        ]
    );
}
