//! The registry index of a zone: registry name → position, an open-addressing table of
//! (position, 32 bits of the name's hash) slots (8 bytes a slot, two to four slots a registry)
//! that hashes with each registry's own seed: no string is copied, and a slot of another name
//! is passed over without reading that registry (a lookup reads one registry, the one found).

use super::Registry;
use std::sync::Arc;

const EMPTY: u32 = u32::MAX;

/// Registry name → index in the zone's registries. Built by validation (which reports
/// duplicates from it) and read by the name index, the views and the health table.
#[derive(Debug, Clone, Default)]
pub struct RegistryIndex {
    slots: Vec<(u32, u32)>,
}

/// The hash bits a slot keeps (the high half: the low half picks the slot).
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl RegistryIndex {
    /// Indexes `registries`; returns the index and every duplicate name as (later position,
    /// first position). Only the first of a name is indexed.
    pub fn build(registries: &[Arc<Registry>]) -> (Self, Vec<(usize, usize)>) {
        let size = (registries.len() * 2).next_power_of_two().max(8);
        let mut index = Self {
            slots: vec![(EMPTY, 0); size],
        };
        let mut duplicates = Vec::new();
        let mask = size - 1;
        for (i, reg) in registries.iter().enumerate() {
            let mut at = reg.seed as usize & mask;
            loop {
                let (slot, t) = index.slots[at];
                if slot == EMPTY {
                    index.slots[at] = (i as u32, tag(reg.seed));
                    break;
                }
                let other = &registries[slot as usize];
                if t == tag(reg.seed) && other.seed == reg.seed && other.name == reg.name {
                    duplicates.push((i, slot as usize));
                    break;
                }
                at = (at + 1) & mask;
            }
        }
        (index, duplicates)
    }

    /// The position of the registry named `name` (lower case), given the registries this index
    /// was built from.
    pub fn find(&self, registries: &[Arc<Registry>], name: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = crate::hash::hash_bytes(name);
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let (slot, t) = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            if t == tag(hash) {
                let reg = registries.get(slot as usize)?;
                if reg.seed == hash && reg.name.as_bytes() == name {
                    return Some(slot as usize);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::RegistryIndex;
    use crate::config::{Addresses, Registry, Replica};
    use std::sync::Arc;

    #[test]
    fn finds_every_registry_and_reports_duplicates() {
        let mut zone = String::from(
            "zone: i.test\nsoa: {mname: ns.i.test., rname: h.i.test., refresh: 1, retry: 1, expire: 1, minimum: 1}\nnameservers: [{name: ns.other.test.}]\nregistries:\n",
        );
        for r in 0..300 {
            zone += &format!(
                "  - {{name: r{r}, home_region: eastus, replicas: [{{region: eastus, addresses: [192.0.2.1]}}]}}\n"
            );
        }
        let config = crate::config::load_test_zones("index", &[("i.yaml", zone)]);
        let regs: Vec<Arc<Registry>> = config.zones[0].registries.clone();
        let (index, duplicates) = RegistryIndex::build(&regs);
        assert!(duplicates.is_empty());
        for (i, r) in regs.iter().enumerate() {
            assert_eq!(index.find(&regs, r.name.as_bytes()), Some(i));
        }
        assert_eq!(index.find(&regs, b"r300"), None);
        assert_eq!(index.find(&regs, b""), None);
        assert_eq!(index.bytes(), 1024 * 8);
        let twice: Vec<Arc<Registry>> = regs.iter().chain(&regs[..2]).cloned().collect();
        assert_eq!(RegistryIndex::build(&twice).1, vec![(300, 0), (301, 1)]);
    }

    /// The per-registry structures stay compact (docs/scale.md, "Where the memory goes").
    #[test]
    fn per_registry_structures_stay_compact() {
        let sizes = [
            ("Registry", size_of::<Registry>(), 192),
            ("Replica", size_of::<Replica>(), 264),
            ("Addresses", size_of::<Addresses>(), 56),
        ];
        for (what, size, most) in sizes {
            eprintln!("{what}: {size} bytes");
            assert!(size <= most, "{what} is {size} bytes, more than {most}");
        }
    }
}
