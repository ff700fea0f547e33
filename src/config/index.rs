//! The registry index of a zone: registry name → position, an open-addressing table of `u32`
//! positions (4 bytes a slot, two slots a registry) that hashes with each registry's own seed,
//! so a zone of a million registries costs 8 MB here and no string is copied.

use super::Registry;
use std::sync::Arc;

const EMPTY: u32 = u32::MAX;

/// Registry name → index in the zone's registries. Built by validation (which reports
/// duplicates from it) and read by the name index, the views and the health table.
#[derive(Debug, Clone, Default)]
pub struct RegistryIndex {
    slots: Vec<u32>,
}

impl RegistryIndex {
    /// Indexes `registries`; returns the index and every duplicate name as (later position,
    /// first position). Only the first of a name is indexed.
    pub fn build(registries: &[Arc<Registry>]) -> (Self, Vec<(usize, usize)>) {
        let size = (registries.len() * 2).next_power_of_two().max(8);
        let mut index = Self {
            slots: vec![EMPTY; size],
        };
        let mut duplicates = Vec::new();
        let mask = size - 1;
        for (i, reg) in registries.iter().enumerate() {
            let mut at = reg.seed as usize & mask;
            loop {
                let slot = index.slots[at];
                if slot == EMPTY {
                    index.slots[at] = i as u32;
                    break;
                }
                let other = &registries[slot as usize];
                if other.seed == reg.seed && other.name == reg.name {
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
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            let reg = registries.get(slot as usize)?;
            if reg.seed == hash && reg.name.as_bytes() == name {
                return Some(slot as usize);
            }
            at = (at + 1) & mask;
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 4
    }
}
