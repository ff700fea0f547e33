//! The health table: an immutable [`HealthState`], replaced whole on change, always paired with
//! the configuration it is indexed for (`state::Serving`).
//!
//! The prober builds a new state on every health transition; regions marked down in
//! `probes/regions.yaml` are unhealthy for every registry.

use crate::config::Config;
use std::collections::HashSet;

/// Identifies a replica within one configuration: (zone, registry, replica) indexes.
pub type ReplicaId = (usize, usize, usize);

/// One consistent view of health.
#[derive(Debug, Default)]
pub struct HealthState {
    unhealthy: HashSet<ReplicaId>,
    region_down: Vec<bool>,
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
            unhealthy: HashSet::new(),
            region_down,
        }
    }

    /// Marks replicas unhealthy (used by the prober and by tests).
    pub fn with_unhealthy(mut self, ids: impl IntoIterator<Item = ReplicaId>) -> Self {
        self.unhealthy.extend(ids);
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

    /// True when the replica itself is healthy (its region aside).
    pub fn replica_up(&self, id: ReplicaId) -> bool {
        !self.unhealthy.contains(&id)
    }

    /// True when the replica and its region are healthy.
    pub fn healthy(&self, id: ReplicaId, region_index: usize) -> bool {
        !self.region_down.get(region_index).copied().unwrap_or(false)
            && (self.unhealthy.is_empty() || !self.unhealthy.contains(&id))
    }

    /// True when the region is not marked down.
    pub fn region_up(&self, region_index: usize) -> bool {
        !self.region_down.get(region_index).copied().unwrap_or(false)
    }
}
