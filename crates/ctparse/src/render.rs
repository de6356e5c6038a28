//! Writing flows back as dump text, in the layout each printer uses.
//!
//! Used to generate test and benchmark dumps and to check that parsing is
//! the inverse of printing.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::flow::{Counters, Flow, L4, Status, Tuple};

/// A printer whose line layout [`render`] reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// The kernel's `/proc/net/nf_conntrack` (`ct_seq_show`): L3 columns,
    /// IPv6 in full 8-group form, GRE timeouts, `secctx=`.
    Proc,
    /// `conntrack -L` (and `conntrack -E` when the flow has an event): no L3
    /// columns, compressed IPv6.
    Conntrack,
    /// `conntrack -L -o extended`: like [`Dialect::Conntrack`] with L3 columns.
    ConntrackExtended,
}

/// Writes `flow` as one line of `dialect`, with a trailing `\n`.
///
/// Fields a dialect does not print (GRE timeouts outside `/proc`, events in
/// `/proc`, `id=`, `helper=` ... in `/proc`) are left out, so only a flow made
/// of fields the dialect prints survives a render/parse round trip unchanged.
pub fn render(out: &mut impl Write, flow: &Flow<'_>, dialect: Dialect) -> io::Result<()> {
    let proc = dialect == Dialect::Proc;
    if !proc {
        if let Some(time) = flow.event_time {
            out.write_all(b"[")?;
            out.write_all(time)?;
            out.write_all(b"]\t")?;
        }
        if let Some(event) = flow.event {
            write!(out, "{:>9} ", event.tag())?;
        }
    }
    if dialect != Dialect::Conntrack {
        let number = flow.l3_number.unwrap_or(flow.family.number());
        write!(out, "{:<8} {} ", flow.family.name(), number)?;
    }
    // A protocol whose tuples carry nothing was printed by the generic
    // tracker, which names it `unknown` whatever its number.
    let name = match flow.orig.l4 {
        L4::None => "unknown",
        _ => flow.protocol.name(),
    };
    write!(out, "{:<8} {} ", name, flow.protocol.number())?;
    if let Some(timeout) = flow.timeout {
        write!(out, "{timeout} ")?;
    }
    if let Some(state) = flow.state {
        write!(out, "{} ", state.name())?;
    }
    if proc && let Some(gre) = flow.gre_timeouts {
        write!(
            out,
            "timeout={}, stream_timeout={} ",
            gre.timeout, gre.stream_timeout
        )?;
    }
    tuple(out, &flow.orig, proc)?;
    if let Some(zone) = flow.orig_zone {
        write!(out, "zone-orig={zone} ")?;
    }
    counters(out, flow.orig_counters)?;
    if flow.status.contains(Status::UNREPLIED) {
        out.write_all(b"[UNREPLIED] ")?;
    }
    tuple(out, &flow.reply, proc)?;
    if let Some(zone) = flow.reply_zone {
        write!(out, "zone-reply={zone} ")?;
    }
    counters(out, flow.reply_counters)?;
    for flag in [Status::HW_OFFLOAD, Status::OFFLOAD, Status::ASSURED] {
        if flow.status.contains(flag) {
            let tag = Status::ALL
                .iter()
                .find(|(f, _)| *f == flag)
                .map_or("", |(_, t)| t);
            write!(out, "{tag} ")?;
            break;
        }
    }
    if flow.status.contains(Status::UNCONFIRMED) {
        out.write_all(b"[UNCONFIRMED] ")?;
    }
    number(out, "mark", flow.mark)?;
    number(out, "secmark", flow.secmark)?;
    text(out, "secctx", flow.secctx)?;
    number(out, "zone", flow.zone)?;
    number(out, "delta-time", flow.delta_time)?;
    if !proc {
        for (name, time) in [("start", flow.start), ("stop", flow.stop)] {
            if let Some(time) = time {
                write!(out, "[{name}=")?;
                out.write_all(time)?;
                out.write_all(b"] ")?;
            }
        }
        text(out, "helper", flow.helper)?;
    }
    for (key, value) in &flow.extra {
        out.write_all(key)?;
        out.write_all(b"=")?;
        out.write_all(value)?;
        out.write_all(b" ")?;
    }
    number(out, "use", flow.use_count)?;
    if !proc {
        number(out, "id", flow.id)?;
        match flow.labels {
            Some(b"") => out.write_all(b"labels ")?,
            labels => text(out, "labels", labels)?,
        }
        if flow.status.contains(Status::USERSPACE) {
            out.write_all(b"[USERSPACE] ")?;
            number(out, "portid", flow.portid)?;
            text(out, "progname", flow.progname)?;
        }
    }
    out.write_all(b"\n")
}

fn tuple(out: &mut impl Write, tuple: &Tuple, full_ipv6: bool) -> io::Result<()> {
    out.write_all(b"src=")?;
    address(out, &tuple.src, full_ipv6)?;
    out.write_all(b" dst=")?;
    address(out, &tuple.dst, full_ipv6)?;
    out.write_all(b" ")?;
    match tuple.l4 {
        L4::Ports { sport, dport } => write!(out, "sport={sport} dport={dport} "),
        L4::Icmp {
            icmp_type,
            code,
            id,
        } => write!(out, "type={icmp_type} code={code} id={id} "),
        L4::Gre { srckey, dstkey } => write!(out, "srckey={srckey:#x} dstkey={dstkey:#x} "),
        L4::None => Ok(()),
    }
}

/// The kernel's `%pI6` prints all eight groups with leading zeros;
/// `inet_ntop` (conntrack-tools) compresses.
fn address(out: &mut impl Write, addr: &IpAddr, full_ipv6: bool) -> io::Result<()> {
    match addr {
        IpAddr::V6(v6) if full_ipv6 => {
            let s = v6.segments();
            write!(
                out,
                "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
            )
        }
        other => write!(out, "{other}"),
    }
}

fn counters(out: &mut impl Write, counters: Option<Counters>) -> io::Result<()> {
    match counters {
        Some(c) => write!(out, "packets={} bytes={} ", c.packets, c.bytes),
        None => Ok(()),
    }
}

fn number(
    out: &mut impl Write,
    key: &str,
    value: Option<impl std::fmt::Display>,
) -> io::Result<()> {
    match value {
        Some(value) => write!(out, "{key}={value} "),
        None => Ok(()),
    }
}

fn text(out: &mut impl Write, key: &str, value: Option<&[u8]>) -> io::Result<()> {
    match value {
        Some(value) => {
            write!(out, "{key}=")?;
            out.write_all(value)?;
            out.write_all(b" ")
        }
        None => Ok(()),
    }
}
