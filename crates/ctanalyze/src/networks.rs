//! Addresses grouped into networks: what `top-ips --prefix` ranks.
//!
//! A scan from one /24, a NAT pool, or an IPv6 client that changes its
//! privacy address every hour fill the table from many addresses of one
//! network, and each of them ranks low on its own. Grouping the exact
//! per-address counts by prefix (after the pass, so the fold is untouched)
//! ranks the networks, with how many of their addresses had entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::filter::{Cidr, FilterError};
use crate::merge::{AddressCounter, Counter, Hasher, addresses, top_addresses};

/// The prefix lengths to group IPv4 and IPv6 addresses by.
///
/// Parsed from `V4[,V6]`: `24` groups IPv4 addresses by /24 and IPv6 ones
/// by /64 (the subnet of one LAN or one client), `24,48` sets both, `32,128`
/// groups nothing.
///
/// ```
/// use ctanalyze::Prefixes;
///
/// let prefixes: Prefixes = "24".parse().unwrap();
/// assert_eq!((prefixes.ipv4, prefixes.ipv6), (24, 64));
/// let network = prefixes.network("2001:db8:1:2::7".parse().unwrap());
/// assert_eq!(network.to_string(), "2001:db8:1:2::/64");
/// assert!("64".parse::<Prefixes>().is_err()); // longer than an IPv4 address
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Prefixes {
    /// IPv4 prefix length, 0 to 32.
    pub ipv4: u8,
    /// IPv6 prefix length, 0 to 128.
    pub ipv6: u8,
}

impl Prefixes {
    /// The IPv6 length when only the IPv4 one is given: one subnet.
    pub const DEFAULT_IPV6: u8 = 64;

    /// What `summary` and `doctor` group by: an IPv4 /24 and an IPv6 /64
    /// (one LAN's subnet, or one client's).
    pub const DEFAULT: Prefixes = Prefixes {
        ipv4: 24,
        ipv6: Prefixes::DEFAULT_IPV6,
    };

    /// The network of `addr`: its prefix of its family's length. An
    /// IPv4-mapped IPv6 address (`::ffff:192.0.2.33`) is an IPv4 address
    /// in IPv6 form: its network is the IPv4 one in the same form
    /// (`::ffff:192.0.2.0/120` for /24), not `::/64` with `::1`.
    ///
    /// ```
    /// use ctanalyze::Prefixes;
    /// let p = Prefixes::DEFAULT;
    /// let net = |a: &str| p.network(a.parse().unwrap()).to_string();
    /// assert_eq!(net("192.0.2.33"), "192.0.2.0/24");
    /// assert_eq!(net("2001:db8::1"), "2001:db8::/64");
    /// assert_eq!(net("::ffff:192.0.2.33"), "::ffff:192.0.2.0/120");
    /// ```
    pub fn network(&self, addr: IpAddr) -> Cidr {
        let len = match addr {
            IpAddr::V4(_) => self.ipv4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 96 + self.ipv4.min(32),
            IpAddr::V6(_) => self.ipv6,
        };
        Cidr::network(addr, len)
    }
}

impl FromStr for Prefixes {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Prefixes, FilterError> {
        let length = |part: &str, family: &str, max: u8| {
            let trimmed = part.trim();
            let digits = trimmed.strip_prefix('/').unwrap_or(trimmed);
            let number = match digits.bytes().all(|b| b.is_ascii_digit()) {
                true => digits.parse::<u8>(),
                false => "-".parse::<u8>(),
            };
            match number {
                Ok(len) if len <= max => Ok(len),
                Ok(len) if family == "IPv4" && len <= 128 => Err(FilterError(format!(
                    "prefix length {len} is longer than an IPv4 address (32 bits); \
                     give both lengths, IPv4 first: --prefix 24,{len}"
                ))),
                _ => Err(FilterError(format!(
                    "invalid {family} prefix length {part:?} (0 to {max})"
                ))),
            }
        };
        let (ipv4, ipv6) = match text.split_once(',') {
            Some((v4, v6)) => (length(v4, "IPv4", 32)?, length(v6, "IPv6", 128)?),
            None => (length(text, "IPv4", 32)?, Prefixes::DEFAULT_IPV6),
        };
        Ok(Prefixes { ipv4, ipv6 })
    }
}

/// Flows per network, with the addresses each holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkRow {
    /// The network, `198.51.100.0/24` or `2001:db8:1::/64`.
    pub network: String,
    /// Distinct addresses of the network with flows.
    pub addresses: u64,
    /// Flows.
    pub count: u64,
}

/// Per-address counts grouped into networks by [`Prefixes`].
#[derive(Clone, PartialEq, Eq)]
pub struct Networks {
    /// Flows and distinct addresses per network, in one map a family: a
    /// flood from random sources groups millions of addresses into about
    /// as many networks, and each update is a cache miss (two maps, one
    /// for each count, took 28% of `summary`'s time on such a dump). The
    /// key is the network's address: its length is the family's in
    /// `prefixes` (an IPv4-mapped address's network stays mapped, so it
    /// keeps its own length), and a bucket takes 24 bytes for IPv4 and
    /// 32 for IPv6 where a [`Cidr`] key took 40 (a flood of 4 million
    /// random IPv6 sources: peak RSS of `summary` 715 MB against 823).
    v4: HashMap<u32, NetworkCount, Hasher>,
    v6: HashMap<u128, NetworkCount, Hasher>,
    prefixes: Prefixes,
}

/// Networks shown as the prefixes they are.
impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Default for Networks {
    fn default() -> Self {
        Networks {
            v4: HashMap::default(),
            v6: HashMap::default(),
            prefixes: Prefixes::DEFAULT,
        }
    }
}

/// What [`Networks`] keeps of a network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NetworkCount {
    flows: u64,
    addresses: u64,
}

impl Networks {
    /// Groups every address of `counts` (flows per address) into its
    /// network.
    pub fn group(counts: &AddressCounter, prefixes: Prefixes) -> Networks {
        let mut networks = Networks {
            prefixes,
            ..Networks::default()
        };
        // No room reserved for as many networks as addresses: a flood of
        // random IPv4 sources has 3.56 million /24s for 4 million
        // addresses, which then take twice the buckets (593 MB against
        // 549 for `summary`; with IPv6 /64s, one an address, reserving
        // saved the last growth's copy: 680 against 716 MB).
        for (addr, count) in counts.iter() {
            let network = match prefixes.network(addr).addr {
                IpAddr::V4(network) => networks.v4.entry(network.to_bits()).or_default(),
                IpAddr::V6(network) => networks.v6.entry(network.to_bits()).or_default(),
            };
            network.flows = network.flows.saturating_add(count);
            network.addresses += 1;
        }
        networks
    }

    /// Every network with what it holds.
    fn iter(&self) -> impl Iterator<Item = (Cidr, &NetworkCount)> {
        let networks = addresses(self.v4.iter(), self.v6.iter());
        // The network of a network is itself, with its length.
        networks.map(|(network, count)| (self.prefixes.network(network), count))
    }

    /// Flows per network.
    pub fn flows(&self) -> Counter<Cidr> {
        let mut flows = Counter::default();
        flows.reserve(self.len());
        for (network, count) in self.iter() {
            flows.add_n(network, count.flows);
        }
        flows
    }

    /// The number of networks.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when there is no network (no address was counted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `n` networks with the most flows (all when `n` is 0): count
    /// descending, then network ascending (IPv4 before IPv6).
    pub fn top_rows(&self, n: usize) -> Vec<NetworkRow> {
        // The networks of a family share their length (an IPv4-mapped
        // one is apart from the others by its address), so their
        // addresses rank as the prefixes do, IPv4 before IPv6.
        top_addresses(&self.v4, &self.v6, n, |count| count.flows)
            .into_iter()
            .map(|(network, count)| NetworkRow {
                network: self.prefixes.network(network).to_string(),
                addresses: count.addresses,
                count: count.flows,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn lengths_beyond_an_address_are_its_whole_length() {
        // Built by hand (the parser refuses them): no overflow, no panic.
        let p = Prefixes {
            ipv4: 200,
            ipv6: 250,
        };
        let net = |a: &str| p.network(a.parse().unwrap()).to_string();
        assert_eq!(net("192.0.2.33"), "192.0.2.33/32");
        assert_eq!(net("::ffff:192.0.2.33"), "::ffff:192.0.2.33/128");
        assert_eq!(net("2001:db8::1"), "2001:db8::1/128");
    }

    #[test]
    fn lengths_parse_with_the_ipv6_default_and_clear_errors() {
        let parse = |text: &str| text.parse::<Prefixes>().map(|p| (p.ipv4, p.ipv6));
        assert_eq!(parse("24"), Ok((24, 64)));
        assert_eq!(parse("/16"), Ok((16, 64)));
        assert_eq!(parse("24,48"), Ok((24, 48)));
        assert_eq!(parse("/24,/56"), Ok((24, 56)));
        assert_eq!(parse("0,0"), Ok((0, 0)));
        assert_eq!(parse("32,128"), Ok((32, 128)));
        let error = |text: &str| text.parse::<Prefixes>().unwrap_err().to_string();
        assert_eq!(
            error("64"),
            "prefix length 64 is longer than an IPv4 address (32 bits); \
             give both lengths, IPv4 first: --prefix 24,64"
        );
        assert_eq!(
            error("24,129"),
            "invalid IPv6 prefix length \"129\" (0 to 128)"
        );
        assert_eq!(error("x"), "invalid IPv4 prefix length \"x\" (0 to 32)");
        assert_eq!(error(""), "invalid IPv4 prefix length \"\" (0 to 32)");
        assert_eq!(error("24,"), "invalid IPv6 prefix length \"\" (0 to 128)");
        assert_eq!(
            error("//24"),
            "invalid IPv4 prefix length \"//24\" (0 to 32)"
        );
        assert_eq!(error("+24"), "invalid IPv4 prefix length \"+24\" (0 to 32)");
        assert_eq!(
            error("24,-1"),
            "invalid IPv6 prefix length \"-1\" (0 to 128)"
        );
    }

    #[test]
    fn networks_clear_host_bits_per_family() {
        let prefixes = Prefixes { ipv4: 20, ipv6: 48 };
        assert_eq!(
            prefixes.network(ip("198.51.100.77")).to_string(),
            "198.51.96.0/20"
        );
        assert_eq!(
            prefixes.network(ip("2001:db8:aa:bb::1")).to_string(),
            "2001:db8:aa::/48"
        );
        let all = Prefixes { ipv4: 0, ipv6: 0 };
        assert_eq!(all.network(ip("203.0.113.9")).to_string(), "0.0.0.0/0");
        assert_eq!(all.network(ip("2001:db8::9")).to_string(), "::/0");
        let none = Prefixes {
            ipv4: 32,
            ipv6: 128,
        };
        assert_eq!(
            none.network(ip("203.0.113.9")).to_string(),
            "203.0.113.9/32"
        );
    }

    /// The grouping against a naive one: every network's flows and
    /// addresses summed by comparing each address with each network.
    #[test]
    fn grouping_sums_the_addresses_of_each_network() {
        let mut counts = AddressCounter::default();
        let addresses = [
            ("192.0.2.1", 5),
            ("192.0.2.200", 3),
            ("192.0.3.1", 4),
            ("198.51.100.7", 9),
            ("2001:db8:1:2::1", 2),
            ("2001:db8:1:2:aaaa::9", 6),
            ("2001:db8:1:3::1", 1),
            // IPv4 in IPv6 form: its own network, /120 (96 + 24).
            ("::ffff:192.0.2.5", 7),
        ];
        for (addr, count) in addresses {
            counts.add_n(ip(addr), count);
        }
        let prefixes = Prefixes { ipv4: 24, ipv6: 64 };
        let networks = Networks::group(&counts, prefixes);
        let rows = networks.top_rows(0);
        assert_eq!(networks.len(), 6);
        for row in &rows {
            let cidr: Cidr = row.network.parse().unwrap();
            let inside: Vec<u64> = addresses
                .iter()
                .filter(|(addr, _)| cidr.contains(&ip(addr)))
                .map(|&(_, count)| count)
                .collect();
            assert_eq!(row.count, inside.iter().sum::<u64>(), "{}", row.network);
            assert_eq!(row.addresses, inside.len() as u64, "{}", row.network);
        }
        let order: Vec<(&str, u64)> = rows.iter().map(|r| (r.network.as_str(), r.count)).collect();
        assert_eq!(
            order,
            [
                ("198.51.100.0/24", 9),
                ("192.0.2.0/24", 8),
                ("2001:db8:1:2::/64", 8),
                ("::ffff:192.0.2.0/120", 7),
                ("192.0.3.0/24", 4),
                ("2001:db8:1:3::/64", 1),
            ]
        );
        assert_eq!(networks.top_rows(2).len(), 2);
        assert_eq!(networks.top_rows(2)[1].network, "192.0.2.0/24");
    }
}
