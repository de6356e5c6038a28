//! Protocol states: TCP, SCTP and DCCP, with the names the kernel prints.
//!
//! Each enum's discriminant is the kernel's state index, so that dense
//! per-state tables (`[u64; TcpState::COUNT]`) can be indexed directly.

use std::fmt;

macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $label:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every state, in kernel index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The number of states (the size of a dense per-state table).
            pub const COUNT: usize = $name::ALL.len();
            /// What the parser calls this kind of state in error messages.
            pub const LABEL: &'static str = $label;

            /// The name the kernel prints.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The state with this printed name.
            pub fn from_name(name: &[u8]) -> Option<$name> {
                match name {
                    $(x if x == $text.as_bytes() => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The kernel's index of this state.
            pub fn index(self) -> usize {
                self as usize
            }

            /// The state with this kernel index.
            pub fn from_index(index: usize) -> Option<$name> {
                $name::ALL.get(index).copied()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

state_enum! {
    /// TCP conntrack states (`tcp_conntrack_names` in the kernel).
    TcpState, "TCP" {
        /// `NONE`
        None = "NONE",
        /// `SYN_SENT`
        SynSent = "SYN_SENT",
        /// `SYN_RECV`
        SynRecv = "SYN_RECV",
        /// `ESTABLISHED`
        Established = "ESTABLISHED",
        /// `FIN_WAIT`
        FinWait = "FIN_WAIT",
        /// `CLOSE_WAIT`
        CloseWait = "CLOSE_WAIT",
        /// `LAST_ACK`
        LastAck = "LAST_ACK",
        /// `TIME_WAIT`
        TimeWait = "TIME_WAIT",
        /// `CLOSE`
        Close = "CLOSE",
        /// `SYN_SENT2` (simultaneous open). Kernels before 2.6.30 named this
        /// index `LISTEN`, and libnetfilter_conntrack still prints `LISTEN`
        /// for it; both spellings parse to this state.
        SynSent2 = "SYN_SENT2",
    }
}

state_enum! {
    /// SCTP conntrack states (`sctp_conntrack_names` in the kernel).
    SctpState, "SCTP" {
        /// `NONE`
        None = "NONE",
        /// `CLOSED`
        Closed = "CLOSED",
        /// `COOKIE_WAIT`
        CookieWait = "COOKIE_WAIT",
        /// `COOKIE_ECHOED`
        CookieEchoed = "COOKIE_ECHOED",
        /// `ESTABLISHED`
        Established = "ESTABLISHED",
        /// `SHUTDOWN_SENT`
        ShutdownSent = "SHUTDOWN_SENT",
        /// `SHUTDOWN_RECD`
        ShutdownRecd = "SHUTDOWN_RECD",
        /// `SHUTDOWN_ACK_SENT`
        ShutdownAckSent = "SHUTDOWN_ACK_SENT",
        /// `HEARTBEAT_SENT` (kernels since 5.x)
        HeartbeatSent = "HEARTBEAT_SENT",
        /// `HEARTBEAT_ACKED` (kernels 5.x to 6.3; removed since)
        HeartbeatAcked = "HEARTBEAT_ACKED",
    }
}

state_enum! {
    /// DCCP conntrack states (`dccp_state_names` in the kernel).
    DccpState, "DCCP" {
        /// `NONE`
        None = "NONE",
        /// `REQUEST`
        Request = "REQUEST",
        /// `RESPOND`
        Respond = "RESPOND",
        /// `PARTOPEN`
        PartOpen = "PARTOPEN",
        /// `OPEN`
        Open = "OPEN",
        /// `CLOSEREQ`
        CloseReq = "CLOSEREQ",
        /// `CLOSING`
        Closing = "CLOSING",
        /// `TIMEWAIT`
        TimeWait = "TIMEWAIT",
        /// `IGNORE`
        Ignore = "IGNORE",
        /// `INVALID`
        Invalid = "INVALID",
    }
}

impl TcpState {
    /// Parses a printed TCP state, accepting the historical `LISTEN`
    /// spelling of index 9 (see [`TcpState::SynSent2`]).
    pub fn parse(name: &[u8]) -> Option<TcpState> {
        TcpState::from_name(name).or(match name {
            b"LISTEN" => Some(TcpState::SynSent2),
            _ => None,
        })
    }
}

impl DccpState {
    /// Parses a printed DCCP state.
    ///
    /// libnetfilter_conntrack prints DCCP states by indexing its *SCTP* name
    /// table, so `conntrack -L` shows an open DCCP connection as
    /// `ESTABLISHED` (SCTP index 4). A DCCP name is taken first; otherwise an
    /// SCTP name is mapped back through its index, which recovers the real
    /// DCCP state.
    pub fn parse(name: &[u8]) -> Option<DccpState> {
        DccpState::from_name(name).or_else(|| {
            SctpState::from_name(name).and_then(|sctp| DccpState::from_index(sctp.index()))
        })
    }
}

/// The state of a stateful protocol's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// A TCP state.
    Tcp(TcpState),
    /// An SCTP state.
    Sctp(SctpState),
    /// A DCCP state.
    Dccp(DccpState),
}

impl State {
    /// The name the kernel prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Tcp(s) => s.name(),
            State::Sctp(s) => s.name(),
            State::Dccp(s) => s.name(),
        }
    }

    /// The TCP state, if this is one.
    pub fn tcp(self) -> Option<TcpState> {
        match self {
            State::Tcp(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_indices() {
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(TcpState::from_name(s.name().as_bytes()), Some(*s));
        }
        for s in SctpState::ALL {
            assert_eq!(SctpState::from_name(s.name().as_bytes()), Some(*s));
        }
        for s in DccpState::ALL {
            assert_eq!(DccpState::parse(s.name().as_bytes()), Some(*s));
        }
    }

    #[test]
    fn historical_and_library_spellings() {
        assert_eq!(TcpState::parse(b"LISTEN"), Some(TcpState::SynSent2));
        assert_eq!(TcpState::parse(b"SYN_SNT"), None);
        // conntrack-tools prints DCCP states from the SCTP table.
        assert_eq!(DccpState::parse(b"ESTABLISHED"), Some(DccpState::Open));
        assert_eq!(DccpState::parse(b"COOKIE_WAIT"), Some(DccpState::Respond));
        assert_eq!(DccpState::parse(b"TIMEWAIT"), Some(DccpState::TimeWait));
    }
}
