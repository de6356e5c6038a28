//! Owned, serializable report rows: what a [`Summary`] says, in the order
//! it should be read (count descending, then key ascending).

use serde::Serialize;

use ctparse::{DccpState, Event, Family, Protocol, SctpState, State, TcpState};

use crate::summary::{Accounting, FlagCounts, Summary};

/// The state row of a protocol's entries printed without a state (an
/// offloaded TCP entry, an SCTP entry without its tracker).
pub const NO_STATE: &str = "(none)";

/// Flows of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyRow {
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Flows.
    pub count: u64,
}

/// `conntrack -E` events of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// `NEW`, `UPDATE` or `DESTROY`.
    pub event: &'static str,
    /// Events.
    pub count: u64,
}

/// Flows of one L4 protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtocolRow {
    /// The name conntrack prints (`unknown` outside its table).
    pub protocol: &'static str,
    /// The IP protocol number.
    pub number: u8,
    /// Flows.
    pub count: u64,
}

/// Flows in one protocol state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateRow {
    /// The state name; `(none)` for TCP entries printed without a state
    /// (offloaded entries, `[DESTROY]` events).
    pub state: &'static str,
    /// Flows.
    pub count: u64,
}

/// Flows per address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressRow {
    /// The address in canonical text form (RFC 5952 for IPv6).
    pub address: String,
    /// Flows.
    pub count: u64,
}

/// Bytes per address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressBytesRow {
    /// The address in canonical text form (RFC 5952 for IPv6).
    pub address: String,
    /// Bytes, both directions.
    pub bytes: u64,
}

/// Flows per destination port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRow {
    /// The L4 protocol name.
    pub protocol: &'static str,
    /// The original destination port.
    pub port: u16,
    /// Flows.
    pub count: u64,
}

/// Flows per NAT pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatRow {
    /// The L4 protocol name.
    pub protocol: &'static str,
    /// The original endpoint (`addr:port`, `[v6]:port`, or an address).
    pub original: String,
    /// The translated endpoint.
    pub translated: String,
    /// Flows.
    pub count: u64,
}

/// Flows per zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneRow {
    /// The zone.
    pub zone: u16,
    /// Flows.
    pub count: u64,
}

/// Flows per mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkRow {
    /// The mark.
    pub mark: u32,
    /// Flows.
    pub count: u64,
}

/// Flag counts, as serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagsRow {
    /// `[ASSURED]` flows.
    pub assured: u64,
    /// `[UNREPLIED]` flows.
    pub unreplied: u64,
    /// Flows offloaded in software or hardware (`[OFFLOAD]` and
    /// `[HW_OFFLOAD]`, as `conntrack -u OFFLOAD` selects them).
    pub offload: u64,
    /// Of those, offloaded to hardware (`[HW_OFFLOAD]`).
    pub hw_offload: u64,
}

impl From<FlagCounts> for FlagsRow {
    fn from(f: FlagCounts) -> Self {
        FlagsRow {
            assured: f.assured,
            unreplied: f.unreplied,
            offload: f.offload,
            hw_offload: f.hw_offload,
        }
    }
}

/// Accounting totals, as serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountingRow {
    /// Flows with `packets=`/`bytes=`.
    pub flows_with_counters: u64,
    /// Original-direction packets.
    pub orig_packets: u64,
    /// Original-direction bytes.
    pub orig_bytes: u64,
    /// Reply-direction packets.
    pub reply_packets: u64,
    /// Reply-direction bytes.
    pub reply_bytes: u64,
}

impl From<Accounting> for AccountingRow {
    fn from(a: Accounting) -> Self {
        AccountingRow {
            flows_with_counters: a.flows_with_counters,
            orig_packets: a.orig_packets,
            orig_bytes: a.orig_bytes,
            reply_packets: a.reply_packets,
            reply_bytes: a.reply_bytes,
        }
    }
}

/// Sorts rows by count descending, keeping the given (key) order for ties.
fn by_count<T>(mut rows: Vec<T>, count: impl Fn(&T) -> u64) -> Vec<T> {
    rows.sort_by_key(|row| std::cmp::Reverse(count(row)));
    rows
}

impl Summary {
    /// Flows per family, non-zero only.
    pub fn family_rows(&self) -> Vec<FamilyRow> {
        let rows = [Family::Ipv4, Family::Ipv6]
            .into_iter()
            .map(|f| FamilyRow {
                family: f.name(),
                count: self.family(f),
            })
            .filter(|r| r.count > 0)
            .collect();
        by_count(rows, |r| r.count)
    }

    /// `conntrack -E` events per type, non-zero only, in the order
    /// NEW, UPDATE, DESTROY (empty for a table listing).
    pub fn event_rows(&self) -> Vec<EventRow> {
        Event::ALL
            .into_iter()
            .zip(self.events)
            .filter(|&(_, count)| count > 0)
            .map(|(event, count)| EventRow {
                event: event.name(),
                count,
            })
            .collect()
    }

    /// Flows per L4 protocol, non-zero only.
    pub fn protocol_rows(&self) -> Vec<ProtocolRow> {
        let rows = (0..=u8::MAX)
            .map(Protocol)
            .map(|p| ProtocolRow {
                protocol: p.name(),
                number: p.number(),
                count: self.protocol(p),
            })
            .filter(|r| r.count > 0)
            .collect();
        by_count(rows, |r| r.count)
    }

    /// TCP entries per state (non-zero only), plus `(none)` for stateless ones.
    pub fn tcp_state_rows(&self) -> Vec<StateRow> {
        let mut rows = self.nonzero_states(TcpState::ALL.iter().map(|&s| State::Tcp(s)));
        if self.states.tcp_without_state > 0 {
            rows.push(StateRow {
                state: NO_STATE,
                count: self.states.tcp_without_state,
            });
        }
        by_count(rows, |r| r.count)
    }

    /// SCTP entries per state (non-zero only), plus `(none)` for those
    /// printed without one (`unknown  132`: no SCTP tracker loaded).
    pub fn sctp_state_rows(&self) -> Vec<StateRow> {
        let rows = self.nonzero_states(SctpState::ALL.iter().map(|&s| State::Sctp(s)));
        by_count(self.with_stateless(rows, Protocol::SCTP), |r| r.count)
    }

    /// DCCP entries per state (non-zero only), plus `(none)` for those
    /// printed without one (`unknown  33`: no DCCP tracker loaded).
    pub fn dccp_state_rows(&self) -> Vec<StateRow> {
        let rows = self.nonzero_states(DccpState::ALL.iter().map(|&s| State::Dccp(s)));
        by_count(self.with_stateless(rows, Protocol::DCCP), |r| r.count)
    }

    /// `rows` and a `(none)` row for the entries of `protocol` they do not
    /// count, so that the rows add up to the protocol's entries.
    fn with_stateless(&self, mut rows: Vec<StateRow>, protocol: Protocol) -> Vec<StateRow> {
        let with_state: u64 = rows.iter().map(|r| r.count).sum();
        let stateless = self.protocol(protocol).saturating_sub(with_state);
        if stateless > 0 {
            rows.push(StateRow {
                state: NO_STATE,
                count: stateless,
            });
        }
        rows
    }

    /// One row per state with entries, in the order given.
    fn nonzero_states(&self, states: impl Iterator<Item = State>) -> Vec<StateRow> {
        states
            .map(|s| StateRow {
                state: s.name(),
                count: self.state(s),
            })
            .filter(|r| r.count > 0)
            .collect()
    }

    /// The top `n` original sources (all when `n` is 0).
    pub fn top_source_rows(&self, n: usize) -> Vec<AddressRow> {
        address_rows(self.sources.top(n))
    }

    /// The top `n` original destinations (all when `n` is 0).
    pub fn top_destination_rows(&self, n: usize) -> Vec<AddressRow> {
        address_rows(self.destinations.top(n))
    }

    /// The top `n` original sources by bytes in both directions (all when
    /// `n` is 0).
    pub fn top_source_bytes_rows(&self, n: usize) -> Vec<AddressBytesRow> {
        self.source_bytes
            .top(n)
            .into_iter()
            .map(|(addr, bytes)| AddressBytesRow {
                address: addr.to_string(),
                bytes,
            })
            .collect()
    }

    /// The top `n` (protocol, destination port) pairs (all when `n` is 0).
    pub fn top_port_rows(&self, n: usize) -> Vec<PortRow> {
        self.destination_ports
            .top(n)
            .into_iter()
            .map(|((protocol, port), count)| PortRow {
                protocol: protocol.name(),
                port,
                count,
            })
            .collect()
    }

    /// The top `n` DNAT pairs (all when `n` is 0).
    pub fn dnat_rows(&self, n: usize) -> Vec<NatRow> {
        self.dnat
            .top(n)
            .into_iter()
            .map(|(key, count)| NatRow {
                protocol: key.protocol.name(),
                original: key.original.to_string(),
                translated: key.translated.to_string(),
                count,
            })
            .collect()
    }

    /// The top `n` SNAT pairs (all when `n` is 0).
    pub fn snat_rows(&self, n: usize) -> Vec<NatRow> {
        self.snat
            .top(n)
            .into_iter()
            .map(|(key, count)| NatRow {
                protocol: key.protocol.name(),
                original: key.original.to_string(),
                translated: key.translated.to_string(),
                count,
            })
            .collect()
    }

    /// The `n` zones with the most flows (`0`: every zone).
    pub fn zone_rows(&self, n: usize) -> Vec<ZoneRow> {
        self.zones
            .top(n)
            .into_iter()
            .map(|(zone, count)| ZoneRow { zone, count })
            .collect()
    }

    /// The `n` marks with the most flows (`0`: every mark).
    pub fn mark_rows(&self, n: usize) -> Vec<MarkRow> {
        self.marks
            .top(n)
            .into_iter()
            .map(|(mark, count)| MarkRow { mark, count })
            .collect()
    }
}

fn address_rows(top: Vec<(std::net::IpAddr, u64)>) -> Vec<AddressRow> {
    top.into_iter()
        .map(|(addr, count)| AddressRow {
            address: addr.to_string(),
            count,
        })
        .collect()
}
