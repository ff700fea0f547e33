//! The process's signature cache: tables of slots, 4-way set associative with two candidate
//! sets per key, each slot an `ArcSwapOption` swapped as a whole, so readers take no lock and writers never wait. Two
//! tables: one for RRsets that exist (bounded by the configuration, warmed ahead), and one for
//! the NSECs of names that do not exist (unbounded in kind: a flood of random names only
//! evicts its own kind).

use arc_swap::{ArcSwap, ArcSwapOption};
use std::sync::{Arc, LazyLock};

/// Ways per set.
const WAYS: usize = 4;

/// The two tables.
pub struct Caches {
    /// RRsets that exist (bounded by the configuration; grown to hold it, see [`reserve`]).
    pub stable: Arc<Table>,
    /// NSECs of names that do not exist.
    pub denials: Arc<Table>,
}

static CACHES: LazyLock<ArcSwap<Caches>> = LazyLock::new(|| {
    ArcSwap::from_pointee(Caches {
        stable: Arc::new(Table::new(8192)),
        denials: Arc::new(Table::new(4096)),
    })
});

/// The process's tables (one atomic load).
pub fn caches() -> arc_swap::Guard<Arc<Caches>> {
    CACHES.load()
}

/// Grows the stable table to hold at least `rrsets` (four times that many slots, a power of
/// two), keeping what it holds; it never shrinks. Called before a warm-up, off the query path.
/// At twice as many slots, a warm-up of ~14,000 RRsets found both of a key's sets full about
/// once in twenty runs (one RRset evicted, signed again on its first query); at a quarter full
/// that takes both 4-way sets full, far rarer. A slot is 8 bytes.
pub fn reserve(rrsets: usize) {
    let current = CACHES.load_full();
    let want = (rrsets * 4).next_power_of_two().max(8192);
    if current.stable.slots.len() >= want {
        return;
    }
    let stable = Table::new(want);
    for slot in &current.stable.slots {
        if let Some(e) = &*slot.load() {
            let hash = crate::hash::hash_bytes(&e.key);
            if let Some(free) = stable.set(hash).iter().find(|s| s.load().is_none()) {
                free.store(Some(e.clone()));
            }
        }
    }
    CACHES.store(Arc::new(Caches {
        stable: Arc::new(stable),
        denials: current.denials.clone(),
    }));
}

#[cfg(test)]
impl Table {
    fn slot_count(&self) -> usize {
        self.slots.len()
    }
}

/// One signature.
pub struct Entry {
    /// The RRset's canonical form (key id, type, TTL, owner, sorted data).
    pub key: Vec<u8>,
    /// RRSIG RDATA (with the signature).
    pub rrsig: Vec<u8>,
    /// Unix time from which it is made again.
    pub refresh_at: u64,
}

/// A table of `sets` × [`WAYS`] slots.
pub struct Table {
    slots: Vec<ArcSwapOption<Entry>>,
}

impl Table {
    /// A table of `slots` slots (a multiple of [`WAYS`]).
    pub fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots.max(WAYS))
                .map(|_| ArcSwapOption::empty())
                .collect(),
        }
    }

    fn set(&self, hash: u64) -> &[ArcSwapOption<Entry>] {
        let sets = self.slots.len() / WAYS;
        let at = (hash % sets as u64) as usize * WAYS;
        &self.slots[at..at + WAYS]
    }

    /// The ways a key may be in: its two sets (two choices make a full set rare).
    fn ways(&self, hash: u64) -> impl Iterator<Item = &ArcSwapOption<Entry>> {
        let other = crate::hash::mix64(hash ^ 0x9E37_79B9_7F4A_7C15);
        self.set(hash).iter().chain(self.set(other))
    }

    /// The signature of `key` (hashed to `hash`) while fresh at `now`.
    pub fn get(&self, hash: u64, key: &[u8], now: u64) -> Option<(Vec<u8>, u64)> {
        self.ways(hash).find_map(|slot| {
            let e = slot.load();
            e.as_ref()
                .filter(|e| e.key == key && now < e.refresh_at)
                .map(|e| (e.rrsig.clone(), e.refresh_at))
        })
    }

    /// Keeps a signature: in the way holding the same key, else an empty or stale way of its
    /// two sets, else the way of its first set chosen by the hash's high bits.
    pub fn put(&self, hash: u64, entry: Entry, now: u64) {
        let slot = self
            .ways(hash)
            .find(|s| s.load().as_ref().is_some_and(|e| e.key == entry.key))
            .or_else(|| {
                self.ways(hash)
                    .find(|s| s.load().as_ref().is_none_or(|e| now >= e.refresh_at))
            })
            .unwrap_or(&self.set(hash)[(hash >> 60) as usize % WAYS]);
        slot.store(Some(Arc::new(entry)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], refresh_at: u64) -> Entry {
        Entry {
            key: key.to_vec(),
            rrsig: key.to_vec(),
            refresh_at,
        }
    }

    #[test]
    fn the_stable_table_grows_and_keeps_what_it_holds() {
        let key = b"reserve-test-key".to_vec();
        let hash = crate::hash::hash_bytes(&key);
        caches().stable.put(hash, entry(&key, u64::MAX), 0);
        reserve(100_000);
        let c = caches();
        assert!(c.stable.slot_count() >= 200_000);
        assert!(
            c.stable.get(hash, &key, 1).is_some(),
            "kept across the growth"
        );
        reserve(10);
        assert_eq!(
            caches().stable.slot_count(),
            c.stable.slot_count(),
            "never shrinks"
        );
    }

    #[test]
    fn keys_of_one_hash_stay_in_two_sets_and_stale_ones_go_first() {
        let t = Table::new(64);
        // Eight keys of one hash fill its two sets.
        for k in 0..8u8 {
            t.put(0, entry(&[k], 100), 0);
        }
        for k in 0..8u8 {
            assert_eq!(t.get(0, &[k], 50).unwrap().0, vec![k], "{k}");
        }
        assert!(t.get(0, &[0], 100).is_none(), "due for refresh");
        // Key 9 takes a way; with all eight fresh it replaces one, never two.
        t.put(0, entry(&[9], 200), 50);
        let kept = (0..8u8).filter(|k| t.get(0, &[*k], 50).is_some()).count();
        assert_eq!(kept, 7);
        assert!(t.get(0, &[9], 50).is_some());
        // A stale way goes before a fresh one: of eight ways, one stale.
        let t = Table::new(64);
        t.put(1, entry(&[1], 10), 0);
        for k in 2..=8u8 {
            t.put(1, entry(&[k], 100), 0);
        }
        t.put(1, entry(&[9], 100), 20);
        assert!(t.get(1, &[1], 5).is_none());
        assert!((2..=9u8).all(|k| t.get(1, &[k], 20).is_some()));
    }
}
