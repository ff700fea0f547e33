//! The region catalogue (`geoip/regions.yaml`, checked by `settings.rs`): region names and
//! their coordinates.

use crate::geo::point::Point;
use std::collections::HashMap;

/// Region name → coordinates.
#[derive(Debug, Default)]
pub struct RegionCatalog {
    /// Every region, sorted by name.
    pub regions: Vec<Region>,
    index: HashMap<String, usize>,
    names: Vec<std::sync::Arc<str>>,
}

impl RegionCatalog {
    /// Builds the catalogue from regions (sorted by name on the way in).
    pub fn new(mut regions: Vec<Region>) -> Self {
        regions.sort_by(|a, b| a.name.cmp(&b.name));
        let index = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        let names = regions.iter().map(|r| r.name.as_str().into()).collect();
        Self {
            regions,
            index,
            names,
        }
    }

    /// The index of a region by name.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name of the region at an index, shared (replicas hold this one copy).
    pub fn name(&self, index: usize) -> std::sync::Arc<str> {
        self.names[index].clone()
    }

    /// The region at an index from [`RegionCatalog::find`].
    pub fn get(&self, index: usize) -> &Region {
        &self.regions[index]
    }
}

/// One region.
#[derive(Debug, Clone)]
pub struct Region {
    /// ARM name, e.g. `eastus`.
    pub name: String,
    /// Display name, e.g. `East US`.
    pub display_name: String,
    /// Coordinates.
    pub point: Point,
}
