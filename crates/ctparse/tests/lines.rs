//! Field-by-field checks of single lines of each dialect, and of each error.

use std::net::IpAddr;

use ctparse::{
    Counters, DccpState, Direction, ErrorKind, Event, Family, Field, Flow, GreTimeouts, L4, Line,
    ParseError, Protocol, SctpState, SkipReason, State, Status, TcpState, parse_line,
};

fn flow(line: &[u8]) -> Flow<'_> {
    match parse_line(line) {
        Ok(Line::Flow(flow)) => flow,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(line)),
    }
}

fn error(line: &[u8]) -> ParseError {
    match parse_line(line) {
        Err(error) => error,
        Ok(other) => panic!("{}: parsed as {other:?}", String::from_utf8_lossy(line)),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn proc_tcp_with_every_common_field() {
    let f = flow(
        b"ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=198.51.100.5 sport=51234 dport=8080 \
packets=12 bytes=1800 src=203.0.113.7 dst=192.0.2.10 sport=80 dport=51234 packets=10 bytes=9000 \
[ASSURED] mark=42 secctx=system_u:object_r:unlabeled_t:s0 zone=3 delta-time=17 use=2",
    );
    assert_eq!(f.event, None);
    assert_eq!(f.family, Family::Ipv4);
    assert_eq!(f.l3_number, Some(2));
    assert_eq!(f.protocol, Protocol::TCP);
    assert_eq!(f.timeout, Some(431_999));
    assert_eq!(f.state, Some(State::Tcp(TcpState::Established)));
    assert_eq!(f.orig.src, ip("192.0.2.10"));
    assert_eq!(f.orig.dst, ip("198.51.100.5"));
    assert_eq!(
        f.orig.l4,
        L4::Ports {
            sport: 51234,
            dport: 8080
        }
    );
    assert_eq!(
        f.orig_counters,
        Some(Counters {
            packets: 12,
            bytes: 1800
        })
    );
    assert_eq!(f.reply.src, ip("203.0.113.7"));
    assert_eq!(
        f.reply.l4,
        L4::Ports {
            sport: 80,
            dport: 51234
        }
    );
    assert_eq!(
        f.reply_counters,
        Some(Counters {
            packets: 10,
            bytes: 9000
        })
    );
    assert_eq!(f.status, Status::ASSURED);
    assert_eq!(f.mark, Some(42));
    assert_eq!(f.secctx, Some(&b"system_u:object_r:unlabeled_t:s0"[..]));
    assert_eq!(f.zone, Some(3));
    assert_eq!(f.delta_time, Some(17));
    assert_eq!(f.use_count, Some(2));
    assert!(
        f.is_dnat(),
        "reply source differs from original destination"
    );
    assert!(!f.is_snat());
    assert!(f.extra.is_empty());
}

#[test]
fn conntrack_default_has_no_l3_columns() {
    let f = flow(
        b"tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 \
src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 use=1",
    );
    assert_eq!(f.l3_number, None);
    assert_eq!(f.family, Family::Ipv4);
    assert_eq!(f.state, Some(State::Tcp(TcpState::TimeWait)));
    assert!(!f.is_dnat() && !f.is_snat());
}

#[test]
fn generic_protocol_253_without_l3_columns_is_not_an_l3_prefix() {
    // `unknown  253 599` looks like the L3 pair `unknown  2`; the next token
    // (a timeout, not an L4 name) says it is the L4 pair.
    let f = flow(
        b"unknown  253 599 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 use=1",
    );
    assert_eq!(f.l3_number, None);
    assert_eq!(f.protocol, Protocol(253));
    assert_eq!(f.timeout, Some(599));
    assert_eq!(f.orig.l4, L4::None);

    let f = flow(
        b"ipv4     2 unknown  253 599 src=192.0.2.1 dst=198.51.100.2 src=198.51.100.2 dst=192.0.2.1 mark=0 zone=0 use=2",
    );
    assert_eq!(f.l3_number, Some(2));
    assert_eq!(f.protocol, Protocol(253));
}

#[test]
fn gre_proc_form_with_comma_and_keys() {
    let f = flow(
        b"ipv4     2 gre      47 178 timeout=180, stream_timeout=180 src=192.0.2.1 dst=203.0.113.1 \
srckey=0x0 dstkey=0x1f src=203.0.113.1 dst=192.0.2.1 srckey=0x1f dstkey=0x0 [ASSURED] mark=0 zone=0 use=2",
    );
    assert_eq!(f.protocol, Protocol::GRE);
    assert_eq!(
        f.gre_timeouts,
        Some(GreTimeouts {
            timeout: 180,
            stream_timeout: 180
        })
    );
    assert_eq!(
        f.orig.l4,
        L4::Gre {
            srckey: 0,
            dstkey: 0x1f
        }
    );
    assert_eq!(
        f.reply.l4,
        L4::Gre {
            srckey: 0x1f,
            dstkey: 0
        }
    );
}

#[test]
fn offloaded_entries_have_no_timeout_and_no_state() {
    let f = flow(
        b"ipv4     2 tcp      6 src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=443 \
src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [OFFLOAD] mark=0 zone=0 use=2",
    );
    assert_eq!(f.timeout, None);
    assert_eq!(f.state, None);
    assert!(f.is_offloaded());
    let f = flow(
        b"ipv4     2 udp      17 src=192.0.2.1 dst=198.51.100.2 sport=4000 dport=53 \
src=198.51.100.2 dst=192.0.2.1 sport=53 dport=4000 [HW_OFFLOAD] mark=0 zone=0 use=2",
    );
    assert_eq!(f.status, Status::HW_OFFLOAD);
}

#[test]
fn icmp_id_and_conntrack_id_are_told_apart() {
    let f = flow(
        b"icmp     1 29 src=192.0.2.1 dst=198.51.100.2 type=8 code=0 id=4711 \
src=198.51.100.2 dst=192.0.2.1 type=0 code=0 id=4711 mark=0 use=1 id=3735928559",
    );
    assert_eq!(
        f.orig.l4,
        L4::Icmp {
            icmp_type: 8,
            code: 0,
            id: 4711
        }
    );
    assert_eq!(
        f.reply.l4,
        L4::Icmp {
            icmp_type: 0,
            code: 0,
            id: 4711
        }
    );
    assert_eq!(f.id, Some(3_735_928_559));
    // The reply type differs, but nothing is translated.
    assert!(!f.is_dnat() && !f.is_snat());
}

#[test]
fn ipv6_full_and_compressed_forms_are_the_same_value() {
    let full = flow(
        b"ipv6     10 udp      17 29 src=2001:0db8:0000:0000:0000:0000:0000:0001 \
dst=2001:0db8:0000:0000:0000:0000:0000:0002 sport=5000 dport=53 [UNREPLIED] \
src=2001:0db8:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=53 dport=5000 mark=0 zone=0 use=2",
    );
    let short = flow(
        b"udp      17 29 src=2001:db8::1 dst=2001:db8::2 sport=5000 dport=53 [UNREPLIED] \
src=2001:db8::2 dst=2001:db8::1 sport=53 dport=5000 mark=0 use=1",
    );
    assert_eq!(full.family, Family::Ipv6);
    assert_eq!(short.family, Family::Ipv6);
    assert_eq!(full.orig, short.orig);
    assert_eq!(full.reply, short.reply);
    assert!(full.is_unreplied());
}

#[test]
fn events_with_timestamp_prefix_and_userspace_suffix() {
    let f = flow(
        b"[1700000000.123456]\t    [NEW] tcp      6 120 SYN_SENT src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=22 \
[UNREPLIED] src=198.51.100.2 dst=192.0.2.1 sport=22 dport=40000",
    );
    assert_eq!(f.event_time, Some(&b"1700000000.123456"[..]));
    assert_eq!(f.event, Some(Event::New));
    assert_eq!(f.state, Some(State::Tcp(TcpState::SynSent)));

    let f = flow(
        b"[DESTROY] ipv4     2 udp      17 src=192.0.2.1 dst=198.51.100.2 sport=4000 dport=53 packets=1 bytes=60 \
src=198.51.100.2 dst=192.0.2.1 sport=53 dport=4000 packets=1 bytes=120 delta-time=30 \
[start=Mon Nov  3 09:59:30 2026] [stop=Mon Nov  3 10:00:00 2026] [USERSPACE] portid=1234 progname=conntrack",
    );
    assert_eq!(f.event, Some(Event::Destroy));
    assert_eq!(f.timeout, None);
    assert_eq!(f.start, Some(&b"Mon Nov  3 09:59:30 2026"[..]));
    assert_eq!(f.stop, Some(&b"Mon Nov  3 10:00:00 2026"[..]));
    assert!(f.status.contains(Status::USERSPACE));
    assert_eq!(f.portid, Some(1234));
    assert_eq!(f.progname, Some(&b"conntrack"[..]));

    // conntrack pads the time inside the brackets (`%-6ld`).
    let f = flow(
        b"[1700000000.1234  ]\t [UPDATE] udp      17 30 src=192.0.2.1 dst=198.51.100.2 sport=4000 dport=53 \
src=198.51.100.2 dst=192.0.2.1 sport=53 dport=4000",
    );
    assert_eq!(f.event_time, Some(&b"1700000000.1234"[..]));
    assert_eq!(f.event, Some(Event::Update));
}

#[test]
fn sctp_and_dccp_states() {
    let f = flow(
        b"ipv4     2 sctp     132 431999 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=5000 dport=6000 \
src=198.51.100.2 dst=192.0.2.1 sport=6000 dport=5000 [ASSURED] mark=0 zone=0 use=2",
    );
    assert_eq!(f.state, Some(State::Sctp(SctpState::Established)));
    let f = flow(
        b"ipv4     2 dccp     33 43199 OPEN src=192.0.2.1 dst=198.51.100.2 sport=5000 dport=6000 \
src=198.51.100.2 dst=192.0.2.1 sport=6000 dport=5000 [ASSURED] mark=0 zone=0 use=2",
    );
    assert_eq!(f.state, Some(State::Dccp(DccpState::Open)));
    // conntrack-tools prints DCCP states from its SCTP name table.
    let f = flow(
        b"dccp     33 43199 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=5000 dport=6000 \
src=198.51.100.2 dst=192.0.2.1 sport=6000 dport=5000 [ASSURED] mark=0 use=1",
    );
    assert_eq!(f.state, Some(State::Dccp(DccpState::Open)));
}

#[test]
fn conntrack_only_fields_and_unknown_fields() {
    let f = flow(
        b"tcp      6 299 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=40000 dport=21 zone-orig=1 \
src=198.51.100.2 dst=192.0.2.1 sport=21 dport=40000 zone-reply=2 [ASSURED] mark=7 secmark=9 \
helper=ftp future-field=x=y use=1 id=99 labels=web,backup",
    );
    assert_eq!(f.orig_zone, Some(1));
    assert_eq!(f.reply_zone, Some(2));
    assert_eq!(f.secmark, Some(9));
    assert_eq!(f.helper, Some(&b"ftp"[..]));
    assert_eq!(f.labels, Some(&b"web,backup"[..]));
    assert_eq!(f.id, Some(99));
    assert_eq!(f.extra, vec![(&b"future-field"[..], &b"x=y"[..])]);
}

#[test]
fn crlf_trailing_spaces_and_tool_messages() {
    let f = flow(
        b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 src=198.51.100.2 dst=192.0.2.1 sport=2 dport=1 mark=0 use=1   \r",
    );
    assert_eq!(f.use_count, Some(1));
    assert_eq!(
        parse_line(b"   \t \r"),
        Ok(Line::Skipped(SkipReason::Blank))
    );
    assert_eq!(parse_line(b""), Ok(Line::Skipped(SkipReason::Blank)));
    assert_eq!(
        parse_line(b"conntrack v1.4.7 (conntrack-tools): 42 flow entries have been shown.\r"),
        Ok(Line::Skipped(SkipReason::Trailer(42)))
    );
}

/// A line whose first word starts with `#` is a note added to a saved
/// capture: skipped and counted, not an error. A `#` anywhere else is no
/// comment: the entry it ends is malformed, not shortened.
#[test]
fn comment_lines_are_skipped_and_counted() {
    let entry = "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1";
    let dump =
        format!("# web-1, 2026-12-07 03:12 UTC\n  #indented\n{entry}\n#\n{entry} # a note\n");
    let mut parser = ctparse::Parser::new(dump.as_bytes());
    let lines: Vec<_> = parser.by_ref().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].is_ok());
    let error = lines[1].as_ref().unwrap_err();
    assert_eq!((error.line, error.column), (5, entry.len() + 2));
    let stats = parser.stats();
    assert_eq!(
        (stats.lines, stats.flows, stats.skipped, stats.errors),
        (5, 1, 3, 1)
    );
    assert_eq!(parse_line(b"#\r"), Ok(Line::Skipped(SkipReason::Comment)));
}

/// The trailer's count is kept, summed over a buffer, to check the
/// listing against (a capture that lost lines holds fewer).
#[test]
fn trailers_say_how_many_entries_were_shown() {
    let entry = "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1";
    let dump = format!(
        "{entry}\nconntrack v1.4.7 (conntrack-tools): 85 flow entries have been shown.\n\
         conntrack v1.4.8 (conntrack-tools): 2 flow events have been shown.\n\
         conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n"
    );
    let mut parser = ctparse::Parser::new(dump.as_bytes());
    assert_eq!(parser.by_ref().count(), 1);
    let stats = parser.stats();
    assert_eq!((stats.skipped, stats.trailers, stats.shown), (3, 2, 87));
    // Only a count followed by exactly those words is a trailer.
    for other in [
        &b"conntrack v1.4.7 (conntrack-tools): 85 flow entries have been deleted."[..],
        b"conntrack v1.4.7 (conntrack-tools): flow entries have been shown.",
        b"conntrack v1.4.7 (conntrack-tools): 85 flow entries have been shown. Really.",
    ] {
        assert_eq!(
            parse_line(other),
            Ok(Line::Skipped(SkipReason::ToolMessage)),
            "{}",
            String::from_utf8_lossy(other)
        );
    }
}

/// Each error kind, with the column of the offending token.
#[test]
fn errors_name_kind_column_and_token() {
    let tail = b" src=198.51.100.2 dst=192.0.2.1 sport=2 dport=1 mark=0 use=1";
    const END: usize = usize::MAX;
    let cases: Vec<(Vec<u8>, usize, ErrorKind, &str)> = vec![
        (
            [&b"tcp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::ProtocolMismatch { number: 17, expected: "udp" },
            "tcp",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::InvalidIpv4(Field::Dst),
            "dst=198.51.100",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=70000 dport=2"[..], tail].concat(),
            0,
            ErrorKind::OutOfRange(Field::Sport),
            "sport=70000",
        ),
        (
            [&b"tcp      6 29 SYN_SNT src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::UnknownState { protocol: "TCP" },
            "SYN_SNT",
        ),
        (
            b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 [UNREPLIED]".to_vec(),
            END,
            ErrorKind::MissingReplyTuple,
            "",
        ),
        (
            [&b"udp      17 2x9 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::InvalidNumber(Field::Timeout),
            "2x9",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 [UNREPLIED] [UNREPLIED]"[..], tail]
                .concat(),
            0,
            ErrorKind::DuplicateFlag,
            "[UNREPLIED]",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=2001:db8::zz sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::InvalidIpv6(Field::Dst),
            "dst=2001:db8::zz",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 bogus"[..], tail].concat(),
            0,
            ErrorKind::UnexpectedToken,
            "bogus",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 dport=2"[..], tail].concat(),
            16,
            ErrorKind::MissingField { direction: Direction::Original, field: Field::Sport },
            "",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=2001:db8::1 sport=1 dport=2"[..], tail].concat(),
            16,
            ErrorKind::AddressFamilyMismatch(Field::Dst),
            "",
        ),
        (b"xyz      6 29".to_vec(), 0, ErrorKind::UnknownProtocol, "xyz"),
        (b"tcp".to_vec(), END, ErrorKind::MissingProtocol, ""),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail, b" [ASSURED] [OFFLOAD]"]
                .concat(),
            0, // computed below
            ErrorKind::ConflictingFlags,
            "[OFFLOAD]",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail, b" [BOGUS]"].concat(),
            0,
            ErrorKind::UnknownFlag,
            "[BOGUS]",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail, b" [start=Mon"].concat(),
            0,
            ErrorKind::UnterminatedBracket,
            "[start=Mon",
        ),
        (
            [&b"icmp     1 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            15,
            ErrorKind::UnexpectedField(Field::Sport),
            "",
        ),
        (
            [&b"ipv6     2 udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::FamilyMismatch { name: "ipv6", number: 2 },
            "ipv6",
        ),
        (
            [&b"udp      17 29 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::UnexpectedState,
            "ESTABLISHED",
        ),
        (
            [&b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 dst=198.51.100.3 sport=1 dport=2"[..], tail].concat(),
            0,
            ErrorKind::DuplicateField(Field::Dst),
            "dst=198.51.100.3",
        ),
    ];
    for (line, column, kind, token) in cases {
        let e = error(&line);
        let text = String::from_utf8_lossy(&line);
        let column = match column {
            // Where the (last occurrence of the) offending token starts.
            0 => text.rfind(token).unwrap() + 1,
            // Just past the end: something is missing.
            END => line.len() + 1,
            explicit => explicit,
        };
        assert_eq!(
            (e.line, e.column, &e.kind, e.token.as_str()),
            (1, column, &kind, token),
            "{text}"
        );
    }
}

#[test]
fn spliced_trailer_is_named_as_such() {
    let line = b"gre      47 3599 src=192.0.2.1 dst=198.51.100.2 srckey=0x0 dstkey=0x4242 paconntrack v1.4.7 (conntrack-tools): 85 flow entries have been shown.";
    let e = error(line);
    assert_eq!(e.kind, ErrorKind::SplicedToolMessage);
    assert_eq!(
        e.column,
        String::from_utf8_lossy(line).find("conntrack v").unwrap() + 1
    );
    assert_eq!(e.token, "conntrack v1.4.7");
}

/// `progname=` is the program's `comm`, which may hold spaces, `=` and
/// brackets: the rest of the line, never more fields or flags.
#[test]
fn a_program_name_runs_to_the_end_of_the_line() {
    let event = "[DESTROY] tcp      6 3346 SYN_SENT src=198.18.1.12 dst=198.51.100.2 sport=4285 dport=9400 [UNREPLIED] src=198.51.100.2 dst=198.18.1.12 sport=9400 dport=4285 delta-time=253 [USERSPACE] portid=4208646146 progname=";
    for name in [
        "ct",
        "my tool",
        "ct mark=99",
        "ct zone=5",
        "ct [ASSURED]",
        "a  b\tc",
    ] {
        for end in ["", "\r", "  "] {
            let line = format!("{event}{name}{end}");
            let f = flow(line.as_bytes());
            assert_eq!(f.progname, Some(name.as_bytes()), "{line}");
            assert_eq!((f.mark, f.zone), (None, None), "{line}");
            assert!(
                f.is_unreplied() && !f.status.contains(Status::ASSURED),
                "{line}"
            );
            assert_eq!(f.portid, Some(4208646146));
        }
    }
    // Only after `portid=`, where conntrack prints it.
    let early = "[NEW] tcp      6 120 SYN_SENT progname=ct src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 [UNREPLIED] src=198.51.100.2 dst=192.0.2.1 sport=2 dport=1";
    assert_eq!(flow(early.as_bytes()).progname, Some(&b"ct"[..]));
}

/// `conntrack -L 2>&1` splices the trailer into the entry stdout's last
/// block cut: `for_each_ref` mends the entry from its two parts, at any
/// byte of it, and counts the trailer; where the parts do not make an
/// entry, or the message is a failure, both lines stay errors.
#[test]
fn an_entry_with_a_spliced_trailer_is_mended() {
    let entries = [
        "tcp      6 431740 ESTABLISHED src=198.18.1.250 dst=198.51.100.2 sport=4234 dport=9400 packets=4 bytes=224 src=198.51.100.2 dst=198.18.1.250 sport=9400 dport=4234 packets=3 bytes=248 [ASSURED] mark=0 delta-time=259 use=1",
        "udp      17 29 src=2001:db8::1 dst=2001:db8::2 sport=5353 dport=53 [UNREPLIED] src=2001:db8::2 dst=2001:db8::1 sport=53 dport=5353 mark=0 use=2",
    ];
    let trailer = "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.";
    // What for_each_ref lends, in debug form, and its counts.
    let lent = |dump: &str| {
        let mut parser = ctparse::Parser::new(dump.as_bytes());
        let mut items = Vec::new();
        parser.for_each_ref(|item| items.push(format!("{:?}", item.map(|f| f.orig))));
        (items, parser.stats())
    };
    for spliced in entries {
        let whole = format!("{}\n{spliced}\n{}\n", entries[0], entries[1]);
        let (expected, _) = lent(&whole);
        // Cut after every byte but the first (a line that starts with the
        // message is the message) and the last (then it follows the line).
        for at in 1..spliced.len() {
            let dump = format!(
                "{}\n{}{trailer}\n{}\n{}\r\n",
                entries[0],
                &spliced[..at],
                &spliced[at..],
                entries[1]
            );
            let (items, stats) = lent(&dump);
            assert_eq!(items, expected, "{dump}");
            assert_eq!(
                (stats.lines, stats.flows, stats.skipped, stats.errors),
                (4, 3, 1, 0),
                "{dump}"
            );
            assert_eq!((stats.trailers, stats.shown), (1, 3));
        }
    }
    let errors = |dump: String| {
        let (items, stats) = lent(&dump);
        let errors = items.iter().filter(|i| i.starts_with("Err")).count();
        assert_eq!(errors as u64, stats.errors, "{dump}");
        (errors, stats.flows)
    };
    let (head, tail) = entries[0].split_at(40);
    // The rest is not on the next line (another entry is): the cut entry
    // is an error, the next one its own.
    assert_eq!(errors(format!("{head}{trailer}\n{}\n", entries[1])), (1, 1));
    // Nothing follows.
    assert_eq!(errors(format!("{head}{trailer}\n")), (1, 0));
    // The message is a failure, not a report: the capture failed.
    assert_eq!(
        errors(format!(
            "{head}conntrack v1.4.7 (conntrack-tools): Operation failed: No such file or directory\n{tail}\n"
        )),
        (2, 0)
    );
}

/// A reader that hands out at most 97 bytes a read, as a slow pipe does.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(97).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Input cut into pieces of whole lines anywhere (as the analyzer's
/// readers cut it) and parsed piece by piece reads as one pass: a spliced
/// entry is never parted from its rest, also when two spliced lines come
/// in a row, at the end, or before an overlong line.
#[test]
fn pieces_of_any_size_read_as_one_pass() {
    use ctparse::testing::lent_by_pieces;
    let entry = "udp      17 29 src=192.0.2.1 dst=198.51.100.53 sport=5353 dport=53 src=198.51.100.53 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=1";
    let trailer = "conntrack v1.4.7 (conntrack-tools): 9 flow entries have been shown.";
    let (head, rest) = entry.split_at(50);
    let spliced = format!("{head}{trailer}\n{rest}\n");
    let long = "x".repeat(70_000);
    let inputs = [
        format!("{entry}\n{spliced}{entry}\n"),
        // Two in a row: the first one's rest is the second spliced line.
        format!("{entry}\n{head}{trailer}\n{spliced}{entry}\n"),
        format!("{entry}\n{head}{trailer}\n{rest}"),
        format!("{head}{trailer}\n"),
        format!("{entry}\n{head}{trailer}\n{rest}{long}\n{entry}\n"),
        format!("{head}{trailer}\r\n{rest}\r\n{entry}\n"),
    ];
    for input in &inputs {
        let bytes = input.as_bytes();
        let whole = lent_by_pieces(&[bytes]);
        for size in [1, 2, 60, 150, 300, 4096] {
            let pieces: Vec<&[u8]> = ctparse::line_chunks(bytes, size).collect();
            assert_eq!(
                lent_by_pieces(&pieces),
                whole,
                "pieces of {size}: {input:?}"
            );
            // A stream's chunks, read 97 bytes at a time.
            let mut reader = ctparse::ChunkReader::new(Trickle(bytes), size);
            let mut chunks = Vec::new();
            let mut chunk = Vec::new();
            while reader.next_chunk(&mut chunk).unwrap() {
                chunks.push(chunk.clone());
            }
            let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            assert_eq!(
                lent_by_pieces(&chunks),
                whole,
                "chunks of {size}: {input:?}"
            );
        }
    }
    // The first is mended: three entries, the trailer counted.
    assert_eq!(
        lent_by_pieces(&[inputs[0].as_bytes()]).1,
        [4, 3, 1, 0, 1, 9]
    );
}

/// conntrack-tools' reports of what it did are skipped; its reports of a
/// failure are errors that point at the failure's text.
#[test]
fn tool_messages_that_report_a_failure_are_errors() {
    for (trailer, shown) in [
        (
            &b"conntrack v1.4.7 (conntrack-tools): 85 flow entries have been shown."[..],
            85,
        ),
        (
            b"conntrack v1.4.8 (conntrack-tools): 2 flow events have been shown.",
            2,
        ),
    ] {
        assert_eq!(
            ctparse::parse_line(trailer),
            Ok(Line::Skipped(SkipReason::Trailer(shown)))
        );
    }
    for skipped in [
        &b"conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted."[..],
        b"conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.",
        b"NOTICE: Netlink socket buffer size has been set to 4194304 bytes.",
        b"Try `conntrack -h' or 'conntrack --help' for more information.",
        b"WARNING: ignoring -a, deprecated option.",
    ] {
        assert_eq!(
            ctparse::parse_line(skipped),
            Ok(Line::Skipped(SkipReason::ToolMessage)),
            "{}",
            String::from_utf8_lossy(skipped)
        );
    }
    for (failure, column, token) in [
        (
            &b"conntrack v1.4.7 (conntrack-tools): Operation failed: No such file or directory"[..],
            37,
            "Operation failed: No such file or directory",
        ),
        (
            b"  conntrack v1.4.7 (conntrack-tools): unknown option `-X'",
            39,
            "unknown option `-X'",
        ),
        (
            b"WARNING: We have hit ENOBUFS! We are losing events.",
            1,
            "WARNING: We have hit ENOBUFS! We are losing events.",
        ),
        (
            b"WARNING: unsupported l3proto 7, skipping.",
            1,
            "WARNING: unsupported l3proto 7, skipping.",
        ),
    ] {
        let e = error(failure);
        assert_eq!(e.kind, ErrorKind::ToolFailure);
        assert_eq!((e.column, e.token.as_str()), (column, token));
    }
}

/// Other conntrack output than a table listing is named for what it is,
/// at its first word, instead of being reported as a bad entry.
#[test]
fn other_conntrack_outputs_are_named() {
    use ctparse::Foreign;
    for (line, foreign) in [
        (&b"<?xml version=\"1.0\" encoding=\"utf-8\"?>"[..], Foreign::Xml),
        (b"<conntrack>", Foreign::Xml),
        (b"<flow><meta direction=\"original\"><layer3 protonum=\"2\" protoname=\"ipv4\">", Foreign::Xml),
        (b"-A -t 431999 -u SEEN_REPLY,ASSURED -s 192.0.2.1 -d 198.51.100.2 -p tcp --sport 40000 --dport 443", Foreign::Save),
        (b"-D -s 192.0.2.1 -d 198.51.100.2 -p udp --sport 5353 --dport 53", Foreign::Save),
        (b"cpu=0   \tfound=0 invalid=5 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0", Foreign::Statistics),
        (b"entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart", Foreign::Statistics),
        (b"00040000  00000000 00000000 00000000 00000000", Foreign::Statistics),
        (b"297 l3proto = 2 proto=6 src=192.0.2.1 dst=198.51.100.2 sport=0 dport=21 ftp", Foreign::Expectations),
        (b"300 proto=6 src=192.0.2.1 dst=198.51.100.2 sport=0 dport=37237 mask-src=255.255.255.255", Foreign::Expectations),
        (b"4061", Foreign::Count),
        (b"  4061 \r", Foreign::Count),
        (b"net.netfilter.nf_conntrack_max = 262144", Foreign::Sysctl),
        (b"nf_conntrack_tcp_timeout_time_wait = 120", Foreign::Sysctl),
        (b"net.nf_conntrack_max = 262144", Foreign::Sysctl),
        (b"net.netfilter.nf_conntrack_max=262144", Foreign::Sysctl),
        (b"/proc/sys/net/netfilter/nf_conntrack_count:1585", Foreign::Sysctl),
    ] {
        let e = error(line);
        assert_eq!(e.kind, ErrorKind::NotAnEntry(foreign), "{}", String::from_utf8_lossy(line));
        let column = line.iter().position(|&b| b != b' ').unwrap() + 1;
        assert_eq!(e.column, column);
        assert!(e.to_string().starts_with(&format!("1:{column}: not a table entry: ")), "{e}");
    }
    // Expectation events, named at their first word after the event's
    // prefixes (as `conntrack -E expect -o timestamp` prints them).
    let event = b"[1796647403.186861]\t    [NEW] 300 proto=6 src=192.0.2.2 dst=198.51.100.2 sport=0 dport=13282 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=192.0.2.2 master-dst=198.51.100.2 sport=40000 dport=21 class=0 helper=ftp";
    let e = error(event);
    assert_eq!(e.kind, ErrorKind::NotAnEntry(Foreign::Expectations));
    assert_eq!((e.column, e.token.as_str()), (31, "300"));
    // A number then more is not a count (it is a malformed entry).
    assert_ne!(
        error(b"4061 entries").kind,
        ErrorKind::NotAnEntry(Foreign::Count)
    );
}

/// A capture cut short (disk full, a killed `cat`) ends in a partial
/// line. With accounting on, every cut before the reply's counters is an
/// error: counters are printed for both directions or for neither. (Cut
/// after them, the line may be complete, as mark=, zone= and use= are
/// optional.)
#[test]
fn a_line_cut_before_its_reply_counters_is_an_error() {
    let line = "ipv4     2 tcp      6 431995 ESTABLISHED src=198.18.1.1 dst=198.51.100.2 sport=1880 dport=9400 packets=4 bytes=224 src=198.51.100.2 dst=198.18.1.1 sport=9400 dport=1880 packets=3 bytes=248 [ASSURED] mark=0 zone=0 delta-time=4 use=2";
    assert!(matches!(
        ctparse::parse_line(line.as_bytes()),
        Ok(Line::Flow(_))
    ));
    let reply_counters = line.rfind(" packets=").unwrap();
    for cut in 1..=reply_counters {
        let cut_line = &line.as_bytes()[..cut];
        assert!(
            ctparse::parse_line(cut_line).is_err(),
            "{}",
            String::from_utf8_lossy(cut_line)
        );
    }
    let e = error(&line.as_bytes()[..line.find(" dport=1880").unwrap() + 9]);
    assert_eq!(
        e.kind,
        ErrorKind::MissingField {
            direction: Direction::Reply,
            field: Field::Packets
        }
    );
    assert_eq!(e.to_string(), "1:167: reply tuple has no packets");
}

#[test]
fn error_message_format() {
    let e = error(b"tcp      6 29 SYN_SNT src=192.0.2.1");
    assert_eq!(e.to_string(), "1:15: unknown TCP state \"SYN_SNT\"");
    assert_eq!(
        e.display_in(std::path::Path::new("dump.txt")).to_string(),
        "dump.txt:1:15: unknown TCP state \"SYN_SNT\""
    );
    let e = error(b"udp      17 29 src=192.0.2.1 dst=198.51.100 sport=1 dport=2");
    assert_eq!(
        e.message(),
        "invalid IPv4 address in dst \"dst=198.51.100\""
    );
}

#[test]
fn hostile_bytes_are_errors_not_panics() {
    let long = vec![b'a'; 10 << 20];
    let e = error(&long);
    assert!(e.token.len() <= ctparse::MAX_TOKEN_LEN + 3);
    for line in [
        &b"\xff\xfe\x00 tcp"[..],
        b"tcp 6 \x00",
        b"[",
        b"[NEW]",
        b"ipv4 2",
        b"ipv4 2 tcp 6 1 ESTABLISHED src=",
        b"udp 17 1 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=1 src=\xc3\x28",
        b"udp 17 1 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=1 packets=1",
    ] {
        assert!(parse_line(line).is_err(), "{line:?}");
    }
}
