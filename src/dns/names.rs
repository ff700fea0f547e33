//! The name index: every name that exists in every zone, keyed by its lower-case wire form,
//! with the wire forms the answers need precomputed. Built once per configuration.

use crate::config::{Config, Zone};
use crate::dns::wire::to_wire;
use std::collections::HashMap;

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The zone apex.
    Apex,
    /// A registry's global name.
    Global {
        /// Registry index in the zone.
        registry: usize,
    },
    /// A replica's regional name.
    Regional {
        /// Registry index.
        registry: usize,
        /// Replica index.
        replica: usize,
    },
    /// A replica's data name.
    Data {
        /// Registry index.
        registry: usize,
        /// Replica index.
        replica: usize,
    },
    /// An in-zone name server host (glue addresses).
    Host {
        /// Name server index.
        nameserver: usize,
    },
    /// An empty non-terminal: exists, has no records (RFC 8020).
    Empty,
}

/// Precomputed wire forms of one zone.
#[derive(Debug)]
pub struct ZoneNames {
    /// The apex.
    pub apex: Vec<u8>,
    /// SOA mname.
    pub mname: Vec<u8>,
    /// SOA rname.
    pub rname: Vec<u8>,
    /// NS targets, in config order.
    pub nameservers: Vec<Vec<u8>>,
    /// `[registry][replica]` → regional name.
    pub regional: Vec<Vec<Vec<u8>>>,
}

/// FNV-1a for the name table: a fixed table that queries only read (nothing a client sends is
/// inserted, so there is no flooding to defend against), hashed much faster than SipHash.
#[derive(Default)]
pub struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameMap = HashMap<Box<[u8]>, (usize, Entry), std::hash::BuildHasherDefault<NameHasher>>;

/// All names of all zones.
#[derive(Debug, Default)]
pub struct NameIndex {
    entries: NameMap,
    /// Per zone, in config order.
    pub zones: Vec<ZoneNames>,
}

impl NameIndex {
    /// Indexes every name of the configuration.
    pub fn build(config: &Config) -> Self {
        let mut index = Self::default();
        for (z, zone) in config.zones.iter().enumerate() {
            index.add_zone(z, zone);
        }
        index
    }

    fn add_zone(&mut self, z: usize, zone: &Zone) {
        let name = |parts: &[&str]| {
            let mut s = parts.join(".");
            s.push('.');
            s.push_str(&zone.name);
            s
        };
        self.insert(z, &zone.name, Entry::Apex);
        for (n, ns) in zone.nameservers.iter().enumerate() {
            if crate::config::is_within(&ns.name, &zone.name) && !ns.addresses.is_empty() {
                self.insert(z, &ns.name, Entry::Host { nameserver: n });
            }
        }
        let mut regional = Vec::new();
        for (r, reg) in zone.registries.iter().enumerate() {
            self.insert(z, &name(&[&reg.name]), Entry::Global { registry: r });
            let mut names = Vec::new();
            for (p, rep) in reg.replicas.iter().enumerate() {
                let geo = name(&[&reg.name, &rep.region, "geo"]);
                names.push(to_wire(&geo));
                if reg.regional_endpoints {
                    self.insert(
                        z,
                        &geo,
                        Entry::Regional {
                            registry: r,
                            replica: p,
                        },
                    );
                }
                if reg.data_endpoints {
                    let data = name(&[&reg.name, &rep.region, "data"]);
                    self.insert(
                        z,
                        &data,
                        Entry::Data {
                            registry: r,
                            replica: p,
                        },
                    );
                }
            }
            regional.push(names);
        }
        self.zones.push(ZoneNames {
            apex: to_wire(&zone.name),
            mname: to_wire(&zone.soa.mname),
            rname: to_wire(&zone.soa.rname),
            nameservers: zone.nameservers.iter().map(|n| to_wire(&n.name)).collect(),
            regional,
        });
    }

    /// Adds a name and marks its ancestors below the zone apex as empty non-terminals. The
    /// apex's own ancestors (the parent zone and above) are not ours and are never indexed.
    fn insert(&mut self, zone: usize, name: &str, entry: Entry) {
        let wire = to_wire(name);
        self.entries
            .insert(wire.clone().into_boxed_slice(), (zone, entry));
        if entry == Entry::Apex {
            return;
        }
        let mut i = 0;
        while wire[i] != 0 {
            i += 1 + wire[i] as usize;
            let parent = &wire[i..];
            match self.entries.get(parent) {
                // The apex (inserted first) or an existing name: everything up to the apex is
                // in place already only at the apex; an existing name below it continues.
                Some((z, Entry::Apex)) if *z == zone => break,
                Some(_) => continue,
                None if parent == [0] => break,
                None => {
                    self.entries
                        .insert(parent.to_vec().into_boxed_slice(), (zone, Entry::Empty));
                }
            }
        }
    }

    /// Looks a lower-case wire name up exactly.
    /// Every name of a zone (wire form, lower case) with its entry.
    pub fn names_of(&self, zone: usize) -> impl Iterator<Item = (&[u8], Entry)> {
        self.entries
            .iter()
            .filter(move |(_, (z, _))| *z == zone)
            .map(|(name, (_, entry))| (&name[..], *entry))
    }

    /// The entry of a lower-case wire name.
    pub fn get(&self, wire: &[u8]) -> Option<(usize, Entry)> {
        self.entries.get(wire).copied()
    }

    /// The zone enclosing a name that does not exist: the nearest existing ancestor's zone
    /// (every indexed name is at or below an apex, so a name above or beside every apex has
    /// none and is refused).
    pub fn enclosing_zone(&self, wire: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < wire.len() && wire[i] != 0 {
            i += 1 + wire[i] as usize;
            if let Some((z, _)) = self.entries.get(&wire[i.min(wire.len())..]) {
                return Some(*z);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
