//! The health table: an immutable [`HealthState`], replaced whole on change, always paired with
//! the configuration it is indexed for (`state::Serving`).
//!
//! Sparse: only replicas whose entry differs from healthy are held, by packed id (a table of a
//! million healthy registries is empty). The prober builds a new state on every change of health or suspicion; regions
//! marked down in `probes/regions.yaml` are unhealthy for every registry.

use crate::config::Config;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Identifies a replica within one configuration: (zone, registry, replica) indexes.
pub type ReplicaId = (usize, usize, usize);

/// One replica's health as routing sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaHealth {
    /// Declared down by its probe (after `fall` failures, or held down for flapping).
    pub down: bool,
    /// Its latest probe failed but it is not down: answers that choose it carry `ttl.suspect`.
    pub suspect: bool,
    /// When it last came back up after being down (Unix time, ms): the failback ramp's start.
    pub recovered_at_ms: Option<u64>,
}

/// One consistent view of health.
#[derive(Debug, Default)]
pub struct HealthState {
    /// The replicas whose entry is not the default (healthy, unsuspected, never recovered), by
    /// [`packed`] id: a zone of a million registries with every replica healthy holds nothing
    /// here, and a query that finds the table empty does not look.
    replicas: HashMap<u64, ReplicaHealth, BuildHasherDefault<IdHasher>>,
    region_down: Vec<bool>,
    /// When each region's probe last came back up (Unix time, ms).
    region_recovered_at_ms: Vec<Option<u64>>,
}

/// A replica id as one number: zone (16 bits), registry (32), replica (16).
fn packed((z, r, i): ReplicaId) -> u64 {
    ((z as u64) << 48) | ((r as u64 & 0xffff_ffff) << 16) | (i as u64 & 0xffff)
}

/// Hashes a packed id with one bijective mix (ids are distinct numbers; no string is hashed).
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = crate::hash::mix64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = crate::hash::mix64(v);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl HealthState {
    /// Every replica healthy; regions down as the operator file says.
    pub fn from_config(config: &Config) -> Self {
        let region_down = config
            .regions
            .regions
            .iter()
            .map(|r| config.region_health.down.contains_key(&r.name))
            .collect();
        Self {
            replicas: HashMap::default(),
            region_down,
            region_recovered_at_ms: vec![None; config.regions.regions.len()],
        }
    }

    /// Sets one replica's entry (ids are those of the configuration this table is paired with).
    pub fn with_replica(mut self, id: ReplicaId, health: ReplicaHealth) -> Self {
        if health == ReplicaHealth::default() {
            self.replicas.remove(&packed(id));
        } else {
            self.replicas.insert(packed(id), health);
        }
        self
    }

    /// Marks replicas down (used by the prober and by tests).
    pub fn with_unhealthy(mut self, ids: impl IntoIterator<Item = ReplicaId>) -> Self {
        for id in ids {
            self.replicas.entry(packed(id)).or_default().down = true;
        }
        self
    }

    /// Marks regions down (a failing region probe), by catalogue index.
    pub fn with_regions_down(mut self, regions: impl IntoIterator<Item = usize>) -> Self {
        for r in regions {
            if let Some(down) = self.region_down.get_mut(r) {
                *down = true;
            }
        }
        self
    }

    /// Records when a region's probe came back up, by catalogue index.
    pub fn with_region_recovered(mut self, region: usize, at_ms: u64) -> Self {
        if let Some(at) = self.region_recovered_at_ms.get_mut(region) {
            *at = Some(at_ms);
        }
        self
    }

    /// A replica's entry (healthy and unsuspected when the id is not in the table).
    pub fn replica(&self, id: ReplicaId) -> ReplicaHealth {
        if self.replicas.is_empty() {
            return ReplicaHealth::default();
        }
        self.replicas.get(&packed(id)).copied().unwrap_or_default()
    }

    /// True when the replica itself is healthy (its region aside).
    pub fn replica_up(&self, id: ReplicaId) -> bool {
        !self.replica(id).down
    }

    /// True when the replica and its region are healthy.
    pub fn healthy(&self, id: ReplicaId, region_index: usize) -> bool {
        self.region_up(region_index) && self.replica_up(id)
    }

    /// True when the region is not marked down.
    pub fn region_up(&self, region_index: usize) -> bool {
        !self.region_down.get(region_index).copied().unwrap_or(false)
    }

    /// When the replica last became eligible again: the later of its own recovery and its
    /// region's (Unix time, ms).
    pub fn recovered_at_ms(&self, id: ReplicaId, region_index: usize) -> Option<u64> {
        self.replica(id)
            .recovered_at_ms
            .max(self.region_recovered_at_ms(region_index))
    }

    /// When the region's probe last came back up (Unix time, ms).
    fn region_recovered_at_ms(&self, region_index: usize) -> Option<u64> {
        self.region_recovered_at_ms
            .get(region_index)
            .copied()
            .flatten()
    }
}
