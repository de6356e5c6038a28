//! Property tests: arbitrary bytes never panic, and render -> parse is the
//! identity on flows made of the fields each dialect prints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ctparse::testing::{fast_path, general_parser, in_fast_layout};
use ctparse::{
    Counters, DccpState, Dialect, Event, Family, Flow, GreTimeouts, L4, Line, Parser, Protocol,
    SctpState, State, Status, TcpState, Tuple, parse_line, render,
};
use proptest::prelude::*;

fn address(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::Ipv4 => any::<u32>()
            .prop_map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .boxed(),
        Family::Ipv6 => any::<u128>()
            .prop_map(|n| IpAddr::V6(Ipv6Addr::from(n)))
            .boxed(),
    }
}

fn l4(protocol: Protocol) -> BoxedStrategy<L4> {
    match protocol.tuple_kind() {
        ctparse::TupleKind::Ports => (any::<u16>(), any::<u16>())
            .prop_map(|(sport, dport)| L4::Ports { sport, dport })
            .boxed(),
        ctparse::TupleKind::Icmp => (any::<u8>(), any::<u8>(), any::<u16>())
            .prop_map(|(icmp_type, code, id)| L4::Icmp {
                icmp_type,
                code,
                id,
            })
            .boxed(),
        ctparse::TupleKind::Gre => (any::<u32>(), any::<u32>())
            .prop_map(|(srckey, dstkey)| L4::Gre { srckey, dstkey })
            .boxed(),
        ctparse::TupleKind::AddressOnly => Just(L4::None).boxed(),
    }
}

fn tuple(family: Family, protocol: Protocol) -> impl Strategy<Value = Tuple> {
    (address(family), address(family), l4(protocol)).prop_map(|(src, dst, l4)| Tuple {
        src,
        dst,
        l4,
    })
}

fn state(protocol: Protocol) -> BoxedStrategy<Option<State>> {
    match protocol {
        Protocol::TCP => {
            prop::option::of(prop::sample::select(TcpState::ALL).prop_map(State::Tcp)).boxed()
        }
        Protocol::SCTP => {
            prop::option::of(prop::sample::select(SctpState::ALL).prop_map(State::Sctp)).boxed()
        }
        Protocol::DCCP => {
            prop::option::of(prop::sample::select(DccpState::ALL).prop_map(State::Dccp)).boxed()
        }
        _ => Just(None).boxed(),
    }
}

/// Words as they appear in text fields: no spaces, brackets or `=`.
const WORDS: &[&[u8]] = &[
    b"ftp",
    b"system_u:object_r:unlabeled_t:s0",
    b"web,backup",
    b"sip",
    b"conntrack",
];

fn word() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(WORDS)
}

/// Counters of both directions or of neither, as they are printed.
fn counters() -> impl Strategy<Value = (Option<Counters>, Option<Counters>)> {
    let one =
        || (any::<u64>(), any::<u64>()).prop_map(|(packets, bytes)| Counters { packets, bytes });
    prop::option::of((one(), one())).prop_map(|both| match both {
        Some((orig, reply)) => (Some(orig), Some(reply)),
        None => (None, None),
    })
}

fn flags() -> impl Strategy<Value = Status> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            Status::EMPTY,
            Status::ASSURED,
            Status::OFFLOAD,
            Status::HW_OFFLOAD,
        ]),
    )
        .prop_map(|(unreplied, exclusive)| {
            if unreplied {
                Status::UNREPLIED | exclusive
            } else {
                exclusive
            }
        })
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        prop::sample::select(vec![
            Protocol::TCP,
            Protocol::UDP,
            Protocol::UDPLITE,
            Protocol::ICMP,
            Protocol::ICMPV6,
            Protocol::SCTP,
            Protocol::DCCP,
            Protocol::GRE
        ]),
        any::<u8>().prop_map(Protocol),
    ]
}

prop_compose! {
    fn base_flow()(family in prop::sample::select(vec![Family::Ipv4, Family::Ipv6]), protocol in protocol())
        (
            orig in tuple(family, protocol),
            reply in tuple(family, protocol),
            state in state(protocol),
            timeout in prop::option::of(0i64..=i64::from(u32::MAX)),
            status in flags(),
            (orig_counters, reply_counters) in counters(),
            zones in (prop::option::of(any::<u16>()), prop::option::of(any::<u16>()), prop::option::of(any::<u16>())),
            marks in (prop::option::of(any::<u32>()), prop::option::of(any::<u32>())),
            secctx in prop::option::of(word()),
            delta_time in prop::option::of(any::<u64>()),
            use_count in prop::option::of(any::<u32>()),
            gre in prop::option::of((any::<u32>(), any::<u32>())),
            family in Just(family),
            protocol in Just(protocol),
        ) -> Flow<'static> {
        Flow {
            raw: b"",
            event_time: None,
            event: None,
            family,
            l3_number: None,
            protocol,
            timeout,
            state,
            gre_timeouts: gre
                .filter(|_| protocol == Protocol::GRE)
                .map(|(timeout, stream_timeout)| GreTimeouts { timeout, stream_timeout }),
            orig,
            reply,
            orig_zone: zones.0,
            reply_zone: zones.1,
            orig_counters,
            reply_counters,
            status,
            mark: marks.0,
            secmark: None,
            secctx,
            zone: zones.2,
            delta_time,
            start: None,
            stop: None,
            helper: None,
            use_count,
            id: None,
            labels: None,
            portid: None,
            progname: None,
            extra: Vec::new(),
        }
    }
}

prop_compose! {
    /// A flow with the fields only conntrack-tools prints.
    fn conntrack_flow()(
        mut flow in base_flow(),
        event in prop::option::of(prop::sample::select(vec![Event::New, Event::Update, Event::Destroy])),
        event_time in prop::option::of(prop::sample::select(vec![&b"1700000000.123456"[..], b"1763892000.5"])),
        secmark in prop::option::of(any::<u32>()),
        helper in prop::option::of(word()),
        id in prop::option::of(any::<u32>()),
        labels in prop::option::of(word()),
        times in prop::option::of(prop::sample::select(vec![
            (&b"Mon Nov  3 10:00:00 2026"[..], &b"Mon Nov 23 10:00:00 2026"[..]),
        ])),
        userspace in prop::option::of((any::<u32>(), word())),
    ) -> Flow<'static> {
        flow.gre_timeouts = None;
        flow.event = event;
        flow.event_time = event_time.filter(|_| event.is_some());
        flow.secmark = secmark;
        flow.helper = helper;
        flow.id = id;
        flow.labels = labels;
        flow.start = times.map(|t| t.0);
        flow.stop = times.map(|t| t.1);
        if let Some((portid, progname)) = userspace.filter(|_| event.is_some()) {
            flow.status.insert(Status::USERSPACE);
            flow.portid = Some(portid);
            flow.progname = Some(progname);
        }
        flow
    }
}

fn round_trip(flow: &Flow<'_>, dialect: Dialect) -> Result<(), TestCaseError> {
    let mut text = Vec::new();
    render(&mut text, flow, dialect).unwrap();
    let line = text.strip_suffix(b"\n").unwrap();
    fast_path_agrees(line, true)?;
    let parsed = match parse_line(line) {
        Ok(Line::Flow(parsed)) => parsed,
        other => {
            return Err(TestCaseError::fail(format!(
                "{}: {other:?}",
                String::from_utf8_lossy(line)
            )));
        }
    };
    let mut expected = flow.clone();
    expected.raw = line;
    if dialect != Dialect::Conntrack {
        expected.l3_number = Some(flow.family.number());
    }
    prop_assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(line));
    Ok(())
}

/// Where the fast path reads a line, the general parser reads the same
/// flow; and when the line is `canonical` (printed as the kernel and
/// conntrack print), every flow in the fast path's layout is read by it.
fn fast_path_agrees(line: &[u8], canonical: bool) -> Result<(), TestCaseError> {
    let general = general_parser(line);
    match (fast_path(line), &general) {
        (Some(fast), Ok(Line::Flow(flow))) => {
            prop_assert_eq!(&fast, flow, "{}", String::from_utf8_lossy(line));
        }
        (Some(fast), other) => {
            return Err(TestCaseError::fail(format!(
                "fast path read {fast:?}, general parser {other:?}: {}",
                String::from_utf8_lossy(line)
            )));
        }
        (None, Ok(Line::Flow(flow))) => prop_assert!(
            !canonical || !in_fast_layout(flow),
            "the fast path missed a line in its layout: {}",
            String::from_utf8_lossy(line)
        ),
        (None, _) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn proc_round_trip(flow in base_flow()) {
        round_trip(&flow, Dialect::Proc)?;
    }

    #[test]
    fn conntrack_round_trip(flow in conntrack_flow()) {
        round_trip(&flow, Dialect::Conntrack)?;
        round_trip(&flow, Dialect::ConntrackExtended)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut parser = Parser::new(&bytes);
        let results = parser.by_ref().count() as u64;
        let stats = parser.stats();
        prop_assert_eq!(stats.lines, stats.flows + stats.skipped + stats.errors);
        prop_assert_eq!(results, stats.flows + stats.errors);
    }

    /// Mutations of a valid line: the shapes that reach deep into the parser.
    #[test]
    fn mutated_lines_never_panic(
        flow in conntrack_flow(),
        cut in any::<prop::sample::Index>(),
        insert in any::<prop::sample::Index>(),
        byte in prop::sample::select(vec![b' ', b'=', b'[', b']', b':', b'.', b'0', b'x', b'\r', 0u8, 0xff]),
    ) {
        let mut text = Vec::new();
        render(&mut text, &flow, Dialect::ConntrackExtended).unwrap();
        let at = insert.index(text.len());
        text.insert(at, byte);
        let end = cut.index(text.len() + 1);
        let _ = parse_line(&text[..end]);
        fast_path_agrees(&text[..end], false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Odd values where the fast path decodes in its own scan: addresses
    /// and numbers made of digits, dots, colons and a few other bytes
    /// (leading zeros, octets over 255, overflowing numbers, empty values).
    #[test]
    fn fast_path_agrees_on_odd_values(
        src in prop_oneof![
            // Mostly valid octets, some with leading zeros or too large.
            4 => prop::collection::vec(
                prop_oneof![4 => any::<u8>().prop_map(|o| o.to_string()), 1 => "[0-9]{1,4}"],
                4,
            )
            .prop_map(|octets| octets.join(".")),
            1 => "[0-9.:a]{0,18}",
        ],
        port in prop_oneof!["[0-9]{1,7}", "[0-9x]{0,22}"],
        timeout in prop_oneof!["[0-9]{1,21}", "[0-9-]{0,21}"],
        proc_columns in any::<bool>(),
    ) {
        let columns = if proc_columns { "ipv4     2 " } else { "" };
        let line = format!(
            "{columns}tcp      6 {timeout} ESTABLISHED src={src} dst=192.0.2.1 sport={port} dport=443 \
             src=192.0.2.1 dst={src} sport=443 dport={port} [ASSURED] mark=0 use=1"
        );
        fast_path_agrees(line.as_bytes(), false)?;
    }

    /// The parts of GRE and `unknown` lines the fast path decodes itself:
    /// hex keys (leading zeros, upper case, too many digits, no `0x`), the
    /// `timeout=N, stream_timeout=N` pair in its variants, and any number
    /// after `unknown`.
    #[test]
    fn fast_path_agrees_on_odd_gre_and_unknown_values(
        srckey in prop_oneof!["0x[0-9a-fA-F]{1,10}", "0?x?[0-9a-gA-G]{0,9}"],
        gre_timeouts in prop_oneof![
            Just(String::new()),
            "timeout=[0-9]{1,11}, stream_timeout=[0-9]{1,11} ",
            "timeout=[0-9]{0,3},? ?stream_timeout=[0-9,]{0,4} ",
        ],
        number in prop_oneof!["[0-9]{1,4}", "[0-9a-]{0,4}"],
        columns in prop::sample::select(vec!["", "ipv4     2 "]),
    ) {
        let gre = format!(
            "{columns}gre      47 97 {gre_timeouts}src=198.18.0.1 dst=203.0.113.9 srckey={srckey} \
             dstkey=0x862d src=203.0.113.9 dst=198.18.0.1 srckey=0x862d dstkey={srckey} mark=0 use=2"
        );
        fast_path_agrees(gre.as_bytes(), false)?;
        let unknown = format!(
            "{columns}unknown  {number} 160 src=198.18.0.1 dst=203.0.113.94 \
             src=203.0.113.94 dst=198.18.0.1 mark=0 zone=0 use=2"
        );
        fast_path_agrees(unknown.as_bytes(), false)?;
    }

    /// IPv6 addresses near the kernel's full form, which the fast path
    /// decodes itself: bad digits, misplaced colons, other lengths, and
    /// addresses of the wrong family for the L3 column.
    #[test]
    fn fast_path_agrees_on_odd_ipv6_addresses(
        src in prop_oneof![
            4 => "([0-9a-fA-F]{4}:){7}[0-9a-fA-F]{4}",
            1 => "([0-9a-gA-G:]{4}:){7}[0-9a-f:]{3,5}",
            1 => "([0-9a-fA-F]{4}[:.x]){7}[0-9a-fA-F]{4}",
            1 => "[0-9a-f:.]{2,40}",
        ],
        columns in prop::sample::select(vec!["", "ipv6     10 ", "ipv4     2 "]),
    ) {
        let other = "2001:0db8:0000:0000:0000:0000:0000:0001";
        let line = format!(
            "{columns}udp      17 29 src={src} dst={other} sport=5353 dport=53 [UNREPLIED] \
             src={other} dst={src} sport=53 dport=5353 mark=0 zone=0 use=2"
        );
        fast_path_agrees(line.as_bytes(), false)?;
    }
}
