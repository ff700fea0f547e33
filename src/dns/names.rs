//! The name index: which name of which zone a query asks for, read from the name's shape
//! (`R`, `R.<region>.geo`, `R.<region>.data` below an apex) and the zone's registry index, so
//! it holds no string per name and costs nothing per registry to build. Name server hosts (a
//! few) sit in a small table.

use crate::config::{Config, Registry, Zone};
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
    /// In-zone name server hosts and their empty non-terminals (whole wire names).
    hosts: HashMap<Box<[u8]>, Entry>,
    /// Per catalogue region: some registry has a regional name there (`<region>.geo` exists).
    geo: Vec<bool>,
    /// Per catalogue region: some registry has a data name there (`<region>.data` exists).
    data: Vec<bool>,
}

/// All names of all zones.
#[derive(Debug, Default)]
pub struct NameIndex {
    /// Per zone, in config order.
    pub zones: Vec<ZoneNames>,
}

/// Room for any name written by [`write_replica_name`] (longer than a legal name, so a configuration
/// whose names would be too long cannot overrun it).
pub type NameBuf = [u8; 512];

/// The two kinds of replica names.
const GEO: &[u8] = b"geo";
const DATA: &[u8] = b"data";

impl NameIndex {
    /// Indexes every name of the configuration.
    pub fn build(config: &Config) -> Self {
        let regions = config.regions.regions.len();
        let zones = config
            .zones
            .iter()
            .map(|zone| {
                let mut names = ZoneNames {
                    apex: to_wire(&zone.name),
                    mname: to_wire(&zone.soa.mname),
                    rname: to_wire(&zone.soa.rname),
                    nameservers: zone.nameservers.iter().map(|n| to_wire(&n.name)).collect(),
                    hosts: HashMap::new(),
                    geo: vec![false; regions],
                    data: vec![false; regions],
                };
                for used in &zone.uses {
                    for (all, file) in [(&mut names.geo, &used.geo), (&mut names.data, &used.data)]
                    {
                        for (a, f) in all.iter_mut().zip(file) {
                            *a |= f;
                        }
                    }
                }
                for (n, ns) in zone.nameservers.iter().enumerate() {
                    if crate::config::is_within(&ns.name, &zone.name) && !ns.addresses.is_empty() {
                        names.add_host(&to_wire(&ns.name), Entry::Host { nameserver: n });
                    }
                }
                names
            })
            .collect();
        Self { zones }
    }

    /// The zone whose apex is the name or its nearest ancestor among the apexes.
    fn zone_of(&self, wire: &[u8]) -> Option<usize> {
        let mut i = 0;
        loop {
            let rest = wire.get(i..)?;
            if let Some(z) = self.zones.iter().position(|z| z.apex == rest) {
                return Some(z);
            }
            match rest.first() {
                Some(0) | None => return None,
                Some(&len) => i += 1 + len as usize,
            }
        }
    }

    /// The entry of a lower-case wire name in `config`, the configuration this index was built
    /// from.
    pub fn get(&self, config: &Config, wire: &[u8]) -> Option<(usize, Entry)> {
        let z = self.zone_of(wire)?;
        let names = &self.zones[z];
        let zone = &config.zones[z];
        let relative = &wire[..wire.len() - names.apex.len()];
        if relative.is_empty() {
            return Some((z, Entry::Apex));
        }
        let mut labels = [&[][..]; 3];
        let mut count = 0;
        let mut i = 0;
        while i < relative.len() && count <= 3 {
            let len = relative[i] as usize;
            if count < 3 {
                labels[count] = relative.get(i + 1..i + 1 + len)?;
            }
            count += 1;
            i += 1 + len;
        }
        if let Some(entry) = registry_entry(zone, &labels[..count.min(3)], count) {
            return Some((z, entry));
        }
        if let Some(&entry) = names.hosts.get(wire) {
            return Some((z, entry));
        }
        // The empty non-terminals above replica names: `geo`, `<region>.geo` (and data).
        let region = |flags: &[bool], label: &[u8]| {
            let found = std::str::from_utf8(label)
                .ok()
                .and_then(|l| config.regions.find(l));
            found.is_some_and(|i| flags[i])
        };
        let exists = match (count, labels) {
            (1, [GEO, ..]) => names.geo.contains(&true),
            (1, [DATA, ..]) => names.data.contains(&true),
            (2, [label, GEO, _]) => region(&names.geo, label),
            (2, [label, DATA, _]) => region(&names.data, label),
            _ => false,
        };
        exists.then_some((z, Entry::Empty))
    }

    /// The zone enclosing a name that does not exist: the nearest apex at or above it (a name
    /// above or beside every apex has none and is refused).
    pub fn enclosing_zone(&self, wire: &[u8]) -> Option<usize> {
        self.zone_of(wire)
    }

    /// Every name of a zone (wire form, lower case) with its entry, in no particular order
    /// (built on demand: for the signature warm-up and tests, not for queries).
    pub fn names_of(&self, config: &Config, z: usize) -> Vec<(Vec<u8>, Entry)> {
        let names = &self.zones[z];
        let zone = &config.zones[z];
        let mut out = vec![(names.apex.clone(), Entry::Apex)];
        let mut seen: std::collections::HashSet<Vec<u8>> = Default::default();
        let mut push = |out: &mut Vec<(Vec<u8>, Entry)>, name: Vec<u8>, entry| {
            if seen.insert(name.clone()) {
                out.push((name, entry));
            }
        };
        let mut buf: NameBuf = [0; 512];
        for (r, reg) in zone.registries.iter().enumerate() {
            let global = Entry::Global { registry: r };
            push(&mut out, global_name(reg, &names.apex), global);
            for p in 0..reg.replicas.len() {
                let (registry, replica) = (r, p);
                if reg.regional_endpoints {
                    let name = write_replica_name(&mut buf, reg, p, GEO, &names.apex).to_vec();
                    push(&mut out, name, Entry::Regional { registry, replica });
                }
                if reg.data_endpoints {
                    let name = write_replica_name(&mut buf, reg, p, DATA, &names.apex).to_vec();
                    push(&mut out, name, Entry::Data { registry, replica });
                }
            }
        }
        for (wire, &entry) in &names.hosts {
            push(&mut out, wire.to_vec(), entry);
        }
        for (kind, flags) in [(GEO, &names.geo), (DATA, &names.data)] {
            let parent = [&[kind.len() as u8], kind, &names.apex[..]].concat();
            if flags.contains(&true) {
                push(&mut out, parent.clone(), Entry::Empty);
            }
            for (region, _) in flags.iter().enumerate().filter(|(_, f)| **f) {
                let label = config.regions.get(region).name.as_bytes();
                let name = [&[label.len() as u8], label, &parent].concat();
                push(&mut out, name, Entry::Empty);
            }
        }
        out
    }
}

impl ZoneNames {
    /// Adds a name server host and marks its ancestors below the apex as empty non-terminals.
    fn add_host(&mut self, wire: &[u8], entry: Entry) {
        self.hosts.insert(wire.into(), entry);
        let mut i = 0;
        while wire[i] != 0 {
            i += 1 + wire[i] as usize;
            let parent = &wire[i..];
            if parent == self.apex.as_slice() {
                break;
            }
            self.hosts.entry(parent.into()).or_insert(Entry::Empty);
        }
    }
}

/// A registry's global name (`[R]`) or replica name (`[R, region, geo|data]`).
fn registry_entry(zone: &Zone, labels: &[&[u8]], count: usize) -> Option<Entry> {
    let registry = zone.index.find(&zone.registries, labels.first()?)?;
    let reg = &zone.registries[registry];
    match (count, labels) {
        (1, _) => Some(Entry::Global { registry }),
        (3, [_, region, kind]) => {
            let replica = reg
                .replicas
                .iter()
                .position(|p| p.region.as_bytes() == *region)?;
            match *kind {
                GEO if reg.regional_endpoints => Some(Entry::Regional { registry, replica }),
                DATA if reg.data_endpoints => Some(Entry::Data { registry, replica }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A registry's global name (its label, then the apex), wire form.
pub fn global_name(reg: &Registry, apex: &[u8]) -> Vec<u8> {
    [&[reg.name.len() as u8], reg.name.as_bytes(), apex].concat()
}

/// Writes a replica's regional (`kind` = `geo`) or data name into `buf`: the registry's label,
/// the region's, the kind, then the apex.
pub fn write_replica_name<'b>(
    buf: &'b mut NameBuf,
    reg: &Registry,
    replica: usize,
    kind: &[u8],
    apex: &[u8],
) -> &'b [u8] {
    let region = reg.replicas[replica].region.as_bytes();
    let mut at = 0;
    for label in [reg.name.as_bytes(), region, kind] {
        let label = &label[..label.len().min(63)];
        buf[at] = label.len() as u8;
        buf[at + 1..at + 1 + label.len()].copy_from_slice(label);
        at += 1 + label.len();
    }
    let apex = &apex[..apex.len().min(buf.len() - at)];
    buf[at..at + apex.len()].copy_from_slice(apex);
    &buf[..at + apex.len()]
}

#[cfg(test)]
mod tests;
