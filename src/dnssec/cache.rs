//! The process's signature cache: fixed tables of slots, 4-way set associative, each slot an
//! `ArcSwapOption` swapped as a whole, so readers take no lock and writers never wait. Two
//! tables: one for RRsets that exist (bounded by the configuration, warmed ahead), and one for
//! the NSECs of names that do not exist (unbounded in kind: a flood of random names only
//! evicts its own kind).

use arc_swap::ArcSwapOption;
use std::sync::Arc;

/// Ways per set.
const WAYS: usize = 4;

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

    /// The signature of `key` (hashed to `hash`) while fresh at `now`.
    pub fn get(&self, hash: u64, key: &[u8], now: u64) -> Option<(Vec<u8>, u64)> {
        self.set(hash).iter().find_map(|slot| {
            let e = slot.load();
            e.as_ref()
                .filter(|e| e.key == key && now < e.refresh_at)
                .map(|e| (e.rrsig.clone(), e.refresh_at))
        })
    }

    /// Keeps a signature: in the way holding the same key, else an empty or stale way, else
    /// the way chosen by the hash's high bits.
    pub fn put(&self, hash: u64, entry: Entry, now: u64) {
        let set = self.set(hash);
        let way = set
            .iter()
            .position(|s| s.load().as_ref().is_some_and(|e| e.key == entry.key))
            .or_else(|| {
                set.iter()
                    .position(|s| s.load().as_ref().is_none_or(|e| now >= e.refresh_at))
            })
            .unwrap_or((hash >> 60) as usize % WAYS);
        set[way].store(Some(Arc::new(entry)));
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
    fn four_keys_of_one_set_stay_and_stale_ones_go_first() {
        let t = Table::new(8);
        for k in 0..4u8 {
            t.put(0, entry(&[k], 100), 0);
        }
        for k in 0..4u8 {
            assert_eq!(t.get(0, &[k], 50).unwrap().0, vec![k], "{k}");
        }
        assert!(t.get(0, &[0], 100).is_none(), "due for refresh");
        // Key 9 takes a way; with all four fresh it replaces one, never two.
        t.put(0, entry(&[9], 200), 50);
        let kept = (0..4u8).filter(|k| t.get(0, &[*k], 50).is_some()).count();
        assert_eq!(kept, 3);
        assert!(t.get(0, &[9], 50).is_some());
        // A stale way goes before a fresh one.
        t.put(1, entry(&[1], 10), 0);
        t.put(1, entry(&[2], 100), 0);
        t.put(1, entry(&[3], 100), 0);
        t.put(1, entry(&[4], 100), 0);
        t.put(1, entry(&[5], 100), 20);
        assert!(t.get(1, &[1], 5).is_none());
        assert!((2..=5u8).all(|k| t.get(1, &[k], 20).is_some()));
    }
}
