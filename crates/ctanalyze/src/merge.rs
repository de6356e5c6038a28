//! The merge law and the counting building blocks.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The hasher of every keyed map: foldhash, fast on short keys, and unlike
/// FxHash it mixes well on addresses (FxHash made the per-source map three
/// times slower on real IPv4/IPv6 mixes through long probe sequences).
///
/// The seed is drawn at random once per process: the keys are addresses
/// and ports that remote hosts choose (a flood of spoofed sources fills
/// the table with them), and with a seed anyone can read in this source
/// they could be chosen to collide. One seed for all maps, because maps
/// that hash alike merge in order: each key of the smaller one goes to
/// the same place in the larger one as its neighbours did. A seed of its
/// own for each map made `doctor` 1.055x and `summary` 1.02-1.04x as slow
/// (the same instructions: the merges' cache misses), and
/// `foldhash::fast::RandomState` (which also draws foldhash's shared
/// constants) 1.07x and 1.03x. Results never depend on iteration order
/// ([`Counter::top`] sorts).
#[derive(Clone, Debug)]
pub(crate) struct Hasher(foldhash::fast::FixedState);

impl Default for Hasher {
    fn default() -> Hasher {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        // std's RandomState draws its keys from the operating system.
        let seed =
            *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64));
        Hasher(foldhash::fast::FixedState::with_seed(seed))
    }
}

impl BuildHasher for Hasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline(always)]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

type Map<K> = HashMap<K, u64, Hasher>;

/// An aggregate that can be computed in pieces and combined.
///
/// The law every implementation keeps (and the tests check):
///
/// - `Default::default()` is the identity: merging it changes nothing;
/// - `merge` is associative and commutative, so folding any split of the
///   input into fresh accumulators and merging them, in any grouping and
///   order, equals folding the whole input into one.
pub trait Merge: Default {
    /// Adds `other` into `self`.
    fn merge(&mut self, other: Self);
}

impl<const N: usize> Merge for [u64; N]
where
    [u64; N]: Default,
{
    fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.iter_mut().zip(other) {
            *mine += theirs;
        }
    }
}

/// Exact counts for an open set of keys (addresses, endpoint pairs).
///
/// Memory grows with the number of distinct keys, never with the number of
/// flows counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter<K: Eq + Hash> {
    counts: Map<K>,
}

impl<K: Eq + Hash> Default for Counter<K> {
    fn default() -> Self {
        Counter {
            counts: Map::default(),
        }
    }
}

impl<K: Eq + Hash> Counter<K> {
    /// Counts `key` once.
    #[inline]
    pub fn add(&mut self, key: K) {
        self.add_n(key, 1);
    }

    /// Counts `key` `n` times. Saturates rather than wrap: byte counts
    /// come from the dump, and a hostile one can sum past `u64::MAX`.
    #[inline]
    pub fn add_n(&mut self, key: K, n: u64) {
        add_count(self.counts.entry(key).or_insert(0), n);
    }

    /// Counts every key of `keys`, with one map update per run of equal
    /// neighbours: cheap where a few keys dominate (zone 0, mark 0).
    pub(crate) fn add_runs(&mut self, keys: &[K])
    where
        K: Clone,
    {
        for_runs(keys, |key, n| self.add_n(key.clone(), n));
    }

    /// Makes room for `more` keys beyond those counted.
    pub(crate) fn reserve(&mut self, more: usize) {
        self.counts.reserve(more);
    }

    /// The count of `key` (0 when never counted).
    pub fn get(&self, key: &K) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        sum_counts(self.counts.values())
    }

    /// Every key with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, u64)> {
        self.counts.iter().map(|(k, &n)| (k, n))
    }
}

impl<K: Eq + Hash + Ord + Clone> Counter<K> {
    /// The `n` largest counts (all of them when `n` is 0), ordered by count
    /// descending, then key ascending: deterministic whatever the hash order.
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let order = |a: &(&K, u64), b: &(&K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        first_n(self.iter().collect(), n, order)
            .into_iter()
            .map(|(k, c)| (k.clone(), c))
            .collect()
    }
}

/// Exact counts per address: a [`Counter`] of `IpAddr` keys, kept in one
/// map per family so that an IPv4 address is a `u32` key (a 16-byte
/// bucket, where an `IpAddr` key and its count take 32) and hashes as one
/// integer. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) stays an
/// IPv6 key, apart from the IPv4 one, as in a `Counter<IpAddr>`.
///
/// A flood of random IPv4 sources has millions of them: the counter of
/// sources made from the analyzer's per-source tallies then takes half
/// the memory it took as a `Counter<IpAddr>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AddressCounter {
    v4: Map<u32>,
    v6: Map<u128>,
}

/// Keys shown as the addresses they are.
impl std::fmt::Debug for AddressCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl AddressCounter {
    /// Counts `addr` once.
    #[inline]
    pub fn add(&mut self, addr: IpAddr) {
        self.add_n(addr, 1);
    }

    /// Counts `addr` `n` times, saturating (see [`Counter::add_n`]).
    #[inline]
    pub fn add_n(&mut self, addr: IpAddr, n: u64) {
        let count = match addr {
            IpAddr::V4(addr) => self.v4.entry(addr.to_bits()).or_insert(0),
            IpAddr::V6(addr) => self.v6.entry(addr.to_bits()).or_insert(0),
        };
        add_count(count, n);
    }

    /// Counts every address of `addrs`, one map update per run of equal
    /// neighbours.
    pub(crate) fn add_runs(&mut self, addrs: &[IpAddr]) {
        for_runs(addrs, |&addr, n| self.add_n(addr, n));
    }

    /// Makes room for `v4` more IPv4 and `v6` more IPv6 addresses.
    pub(crate) fn reserve(&mut self, v4: usize, v6: usize) {
        self.v4.reserve(v4);
        self.v6.reserve(v6);
    }

    /// The count of `addr` (0 when never counted).
    pub fn get(&self, addr: &IpAddr) -> u64 {
        let count = match addr {
            IpAddr::V4(addr) => self.v4.get(&addr.to_bits()),
            IpAddr::V6(addr) => self.v6.get(&addr.to_bits()),
        };
        count.copied().unwrap_or(0)
    }

    /// The number of distinct addresses.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        sum_counts(self.v4.values().chain(self.v6.values()))
    }

    /// Every address with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, u64)> {
        addresses(self.v4.iter(), self.v6.iter()).map(|(addr, &n)| (addr, n))
    }

    /// The `n` largest counts (all of them when `n` is 0), ordered by
    /// count descending, then address ascending (IPv4 before IPv6), as
    /// [`Counter::top`].
    pub fn top(&self, n: usize) -> Vec<(IpAddr, u64)> {
        (top_addresses(&self.v4, &self.v6, n, |&n| n).into_iter())
            .map(|(addr, &n)| (addr, n))
            .collect()
    }
}

impl Merge for AddressCounter {
    fn merge(&mut self, other: Self) {
        merge_maps(&mut self.v4, other.v4, add_count);
        merge_maps(&mut self.v6, other.v6, add_count);
    }
}

/// Counts by key, as a [`Counter`] or an [`AddressCounter`] holds them:
/// what [`grown`](crate::doctor::diff::grown) and
/// [`shrunk`](crate::doctor::diff::shrunk) compare.
pub trait Counts {
    /// The key counted.
    type Key: Ord + Clone;

    /// The count of `key` (0 when never counted).
    fn count_of(&self, key: &Self::Key) -> u64;

    /// Every key with its count, in no particular order.
    fn counts(&self) -> impl Iterator<Item = (Self::Key, u64)>;
}

impl<K: Eq + Hash + Ord + Clone> Counts for Counter<K> {
    type Key = K;

    fn count_of(&self, key: &K) -> u64 {
        self.get(key)
    }

    fn counts(&self) -> impl Iterator<Item = (K, u64)> {
        self.iter().map(|(key, n)| (key.clone(), n))
    }
}

impl Counts for AddressCounter {
    type Key = IpAddr;

    fn count_of(&self, key: &IpAddr) -> u64 {
        self.get(key)
    }

    fn counts(&self) -> impl Iterator<Item = (IpAddr, u64)> {
        self.iter()
    }
}

impl FromIterator<IpAddr> for AddressCounter {
    fn from_iter<I: IntoIterator<Item = IpAddr>>(iter: I) -> Self {
        let mut counter = AddressCounter::default();
        for addr in iter {
            counter.add(addr);
        }
        counter
    }
}

/// Adds `n` to a count, saturating rather than wrapping (see
/// [`Counter::add_n`]): how every count of a map is added to and merged.
#[inline]
pub(crate) fn add_count(count: &mut u64, n: u64) {
    *count = count.saturating_add(n);
}

/// The sum of `counts`, saturating.
pub(crate) fn sum_counts<'a>(counts: impl Iterator<Item = &'a u64>) -> u64 {
    counts.fold(0, |sum, &n| sum.saturating_add(n))
}

/// Each run of equal neighbours of `keys`, once, with its length.
fn for_runs<K: PartialEq>(keys: &[K], mut add: impl FnMut(&K, u64)) {
    for run in keys.chunk_by(|a, b| a == b) {
        if let Some(key) = run.first() {
            add(key, run.len() as u64);
        }
    }
}

/// The entries of a map of IPv4 keys (`u32`) and one of IPv6 keys
/// (`u128`), as the addresses they are: what every map kept per family
/// ([`AddressCounter`], the per-source tallies, the networks) iterates.
pub(crate) fn addresses<'a, V>(
    v4: impl Iterator<Item = (&'a u32, V)>,
    v6: impl Iterator<Item = (&'a u128, V)>,
) -> impl Iterator<Item = (IpAddr, V)> {
    let v4 = v4.map(|(&bits, value)| (IpAddr::V4(Ipv4Addr::from_bits(bits)), value));
    let v6 = v6.map(|(&bits, value)| (IpAddr::V6(Ipv6Addr::from_bits(bits)), value));
    v4.chain(v6)
}

/// The `n` entries of two per-family maps with the largest `count` (all
/// when `n` is 0), then address ascending (IPv4 before IPv6). Each
/// family is ranked on its map's own keys (16 bytes an entry, where an
/// `IpAddr` makes it 32: millions in a flood), and addresses are made for
/// the kept ones only; the keys rank as the addresses do.
pub(crate) fn top_addresses<'a, V>(
    v4: &'a HashMap<u32, V, Hasher>,
    v6: &'a HashMap<u128, V, Hasher>,
    n: usize,
    count: impl Fn(&V) -> u64,
) -> Vec<(IpAddr, &'a V)> {
    fn top_keys<'a, K: Ord, V>(
        map: &'a HashMap<K, V, Hasher>,
        n: usize,
        count: &impl Fn(&V) -> u64,
    ) -> Vec<(&'a K, &'a V)> {
        let order =
            |a: &(&K, &V), b: &(&K, &V)| count(b.1).cmp(&count(a.1)).then_with(|| a.0.cmp(b.0));
        first_n(map.iter().collect(), n, order)
    }
    let tops = addresses(
        top_keys(v4, n, &count).into_iter(),
        top_keys(v6, n, &count).into_iter(),
    );
    let order = |a: &(IpAddr, &V), b: &(IpAddr, &V)| {
        count(b.1).cmp(&count(a.1)).then_with(|| a.0.cmp(&b.0))
    };
    first_n(tops.collect(), n, order)
}

/// The `n` first of `all` in `order` (all of them when `n` is 0), sorted:
/// the `n` are selected first, so that a ranking of millions sorts only
/// those, and the room of the others is given back (a caller's `map` and
/// `collect` may reuse the allocation in place: a top 10 of a flood's 4
/// million sources held 96 MB until the report was printed).
pub(crate) fn first_n<T>(mut all: Vec<T>, n: usize, order: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if n > 0 && n < all.len() {
        all.select_nth_unstable_by(n - 1, &order);
        all.truncate(n);
        all.shrink_to_fit();
    }
    all.sort_unstable_by(order);
    all
}

impl<K: Eq + Hash> Merge for Counter<K> {
    fn merge(&mut self, other: Self) {
        merge_maps(&mut self.counts, other.counts, add_count);
    }
}

/// Adds `theirs` into `mine` with `add`, folding the smaller map into the
/// larger one (the merge of every keyed map).
pub(crate) fn merge_maps<K: Eq + Hash, V: Default, S: BuildHasher + Default>(
    mine: &mut HashMap<K, V, S>,
    theirs: HashMap<K, V, S>,
    add: impl Fn(&mut V, V),
) {
    let (mut big, small) = if mine.len() >= theirs.len() {
        (std::mem::take(mine), theirs)
    } else {
        (theirs, std::mem::take(mine))
    };
    // No `reserve(small.len())`: the parts of one input share most of
    // their keys, and room for all of them would double the table (the
    // 4M-line dump's two per-thread parts: 16 ms to merge with it, 5 ms
    // without).
    for (key, value) in small {
        add(big.entry(key).or_default(), value);
    }
    *mine = big;
}

/// A map split by key into [`Sharded::SHARDS`] maps, for the maps that
/// can hold a key per flow (the sources and the address pairs of a flood
/// of random sources: millions of keys).
///
/// Two such maps merge shard by shard, and each of the other's shards is
/// freed as soon as it is merged, so a merge needs room for one shard
/// more than the two maps, instead of a whole third map: merged whole,
/// the growing table is allocated while both inputs still exist.
/// `summary` and `doctor` merge the maps of their threads this way after
/// the pass.
///
/// A key's shard comes from a hash of its own ([`ShardKey`]), not the
/// maps' one.
#[derive(Clone)]
pub(crate) struct Sharded<K, V> {
    shards: Box<[HashMap<K, V, Hasher>; Sharded::<(), ()>::SHARDS]>,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: Box::new(std::array::from_fn(|_| HashMap::default())),
        }
    }
}

/// Equal when they hold the same keys and values (a key's shard is the
/// same in every map of a process).
impl<K: Eq + Hash, V: PartialEq> PartialEq for Sharded<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.shards == other.shards
    }
}

impl<K: Eq + Hash, V: Eq> Eq for Sharded<K, V> {}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Sharded<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> Sharded<K, V> {
    /// How many shards a map has: a shard of a flood's millions of keys
    /// is a few megabytes.
    pub(crate) const SHARDS: usize = 16;

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Every key with its value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(HashMap::iter)
    }

    /// Every value, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashMap::values)
    }

    /// The shards, each emptied when the iterator reaches it and dropped
    /// after: the caller can move the keys elsewhere without holding both
    /// copies whole.
    pub(crate) fn into_shards(self) -> impl Iterator<Item = HashMap<K, V, Hasher>> {
        let shards: [HashMap<K, V, Hasher>; Sharded::<(), ()>::SHARDS] = *self.shards;
        shards.into_iter()
    }
}

/// The bits a key's shard is taken from (see [`Sharded`]).
pub(crate) trait ShardKey {
    /// The key folded into 64 bits.
    fn fold(&self) -> u64;
}

impl ShardKey for u32 {
    #[inline(always)]
    fn fold(&self) -> u64 {
        u64::from(*self)
    }
}

impl ShardKey for u64 {
    #[inline(always)]
    fn fold(&self) -> u64 {
        *self
    }
}

impl ShardKey for u128 {
    #[inline(always)]
    fn fold(&self) -> u64 {
        (*self >> 64) as u64 ^ *self as u64
    }
}

impl ShardKey for (u128, u128) {
    #[inline(always)]
    fn fold(&self) -> u64 {
        self.0.fold() ^ self.1.fold().rotate_left(32)
    }
}

impl<K: Eq + Hash + ShardKey, V> Sharded<K, V> {
    /// The top bits of the folded key times an odd constant (Fibonacci
    /// hashing): two instructions, where the maps' seeded hash costs
    /// about ten on every update of the per-source map (`summary` 1-1.6%
    /// slower on the benchmark dump). Unseeded, so keys chosen to share
    /// one shard can make that shard hold them all: then it is one map,
    /// as before sharding, and still a seeded one.
    #[inline(always)]
    fn shard(&self, key: &K) -> usize {
        const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;
        (key.fold().wrapping_mul(FIBONACCI) >> 60) as usize % Sharded::<(), ()>::SHARDS
    }

    /// The value of `key`, inserted with its default when absent.
    #[inline]
    pub(crate) fn entry(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let shard = self.shard(&key);
        self.shards[shard].entry(key).or_default()
    }

    /// The value of `key`, if it has one.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.shards[self.shard(key)].get(key)
    }

    /// Adds `other` into `self` with `add`, shard by shard (see the type).
    pub(crate) fn merge(&mut self, other: Sharded<K, V>, add: impl Fn(&mut V, V))
    where
        V: Default,
    {
        for (mine, theirs) in self.shards.iter_mut().zip(other.into_shards()) {
            merge_maps(mine, theirs, &add);
        }
    }
}

impl<K: Eq + Hash> FromIterator<K> for Counter<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        let mut counter = Counter::default();
        for key in iter {
            counter.add(key);
        }
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut counter = Counter::default();
        counter.add_n("a", u64::MAX - 1);
        counter.add_n("a", 5);
        assert_eq!(counter.get(&"a"), u64::MAX);
        let mut other = Counter::default();
        other.add_n("a", 7);
        counter.merge(other);
        assert_eq!(counter.get(&"a"), u64::MAX);
        counter.add_n("b", 1);
        assert_eq!(counter.total(), u64::MAX);
        counter.add("a");
        assert_eq!(counter.get(&"a"), u64::MAX);
    }

    /// Every map of a process hashes alike, and not as foldhash's fixed
    /// seed does (the seed is drawn at random: the chance that it hashes
    /// 192.0.2.1 as the fixed one does is 2^-64).
    #[test]
    fn the_seed_is_shared_and_not_the_fixed_one() {
        let key = u32::from_be_bytes([192, 0, 2, 1]);
        let hash = |state: &Hasher| state.hash_one(key);
        assert_eq!(hash(&Hasher::default()), hash(&Hasher::default()));
        let fixed = foldhash::fast::FixedState::default().hash_one(key);
        assert_ne!(hash(&Hasher::default()), fixed);
    }

    /// Keys spread over the shards, and a merge shard by shard is the
    /// merge of the whole maps: each key once, with the sum of its values.
    #[test]
    fn sharded_maps_spread_keys_and_merge_like_one_map() {
        let mut left: Sharded<u32, u64> = Sharded::default();
        let mut right: Sharded<u32, u64> = Sharded::default();
        let mut whole: HashMap<u32, u64> = HashMap::new();
        for key in 0..3_000u32 {
            *left.entry(key) += 1;
            *whole.entry(key).or_default() += 1;
            if key % 3 == 0 {
                *right.entry(key) += 2;
                *right.entry(key + 10_000) += 5;
                *whole.entry(key).or_default() += 2;
                *whole.entry(key + 10_000).or_default() += 5;
            }
        }
        let busiest = left.shards.iter().map(HashMap::len).max().unwrap();
        assert!(busiest < 400, "one shard holds {busiest} of 3,000 keys");
        left.merge(right, |value, n| *value += n);
        assert_eq!(left.len(), whole.len());
        for (key, value) in &whole {
            assert_eq!(left.get(key), Some(value), "key {key}");
        }
        let merged: HashMap<u32, u64> = left.iter().map(|(&k, &v)| (k, v)).collect();
        assert_eq!(merged, whole);
    }

    /// An address counter counts as a `Counter<IpAddr>` does: the same
    /// counts, the same ranking (count, then address, IPv4 first), an
    /// IPv4-mapped address apart from its IPv4 form, saturation, merge.
    #[test]
    fn address_counter_counts_as_a_counter_of_addresses() {
        let addrs: Vec<IpAddr> = [
            "192.0.2.1",
            "::ffff:192.0.2.1",
            "2001:db8::1",
            "192.0.2.1",
            "2001:db8::1",
            "198.51.100.9",
            "::ffff:192.0.2.1",
            "203.0.113.5",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut counter: AddressCounter = addrs[..5].iter().copied().collect();
        counter.merge(addrs[5..].iter().copied().collect());
        let plain: Counter<IpAddr> = addrs.iter().copied().collect();
        assert_eq!(counter.len(), 5);
        assert_eq!(counter.total(), 8);
        for n in 0..=6 {
            assert_eq!(counter.top(n), plain.top(n), "top {n}");
        }
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!((counter.get(&v4), counter.get(&mapped)), (2, 2));
        assert_eq!(counter.get(&"192.0.2.2".parse().unwrap()), 0);
        let mut sorted: Vec<(IpAddr, u64)> = counter.iter().collect();
        sorted.sort();
        let mut expected: Vec<(IpAddr, u64)> = plain.iter().map(|(&a, n)| (a, n)).collect();
        expected.sort();
        assert_eq!(sorted, expected);
        counter.add_n(v4, u64::MAX);
        assert_eq!(counter.get(&v4), u64::MAX);
        assert_eq!(counter.total(), u64::MAX);
    }

    /// A top 3 of a million keeps room for 3, not for the million.
    #[test]
    fn first_n_gives_back_the_room_of_the_others() {
        let all: Vec<u32> = (0..1_000_000).collect();
        let top = first_n(all, 3, |a, b| b.cmp(a));
        assert_eq!(top, [999_999, 999_998, 999_997]);
        assert!(top.capacity() < 100, "capacity {}", top.capacity());
    }

    #[test]
    fn top_orders_by_count_then_key_and_zero_means_all() {
        let counter: Counter<u32> = [5, 3, 3, 9, 9, 1, 7, 7].into_iter().collect();
        assert_eq!(counter.top(0), vec![(3, 2), (7, 2), (9, 2), (1, 1), (5, 1)]);
        assert_eq!(counter.top(2), vec![(3, 2), (7, 2)]);
        assert_eq!(counter.top(4), vec![(3, 2), (7, 2), (9, 2), (1, 1)]);
        assert_eq!(counter.top(100).len(), 5);
    }
}
