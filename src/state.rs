//! What a query reads: one immutable [`Snapshot`] (configuration, name index, GeoIP) behind an
//! ArcSwap, loaded once per query; and the health table beside it.

use crate::config::Config;
use crate::dns::names::NameIndex;
use crate::geo::Geo;
use crate::health::{HealthState, HealthTable};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Everything derived from one configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated configuration.
    pub config: Config,
    /// Every name that exists.
    pub names: NameIndex,
    /// Location lookups.
    pub geo: Geo,
    /// Increases by one on every successful load.
    pub generation: u64,
    /// Counters labelled by this configuration's names.
    pub counters: crate::metrics::Counters,
}

impl Snapshot {
    /// Builds the runtime pieces from a configuration (opens the GeoIP databases).
    pub fn build(config: Config, generation: u64) -> Result<Self, String> {
        let geo = Geo::open(&config.geoip)?;
        let names = NameIndex::build(&config);
        let counters = crate::metrics::Counters::new(&config);
        Ok(Self {
            counters,
            config,
            names,
            geo,
            generation,
        })
    }
}

/// The state shared by every transport.
#[derive(Debug)]
pub struct Shared {
    /// The current snapshot.
    pub snapshot: ArcSwap<Snapshot>,
    /// The current health.
    pub health: HealthTable,
    /// Process-wide counters.
    pub metrics: crate::metrics::Metrics,
    /// Reload counters and the last reload error (not on the query path).
    pub reload: std::sync::Mutex<crate::config::reload::ReloadStatus>,
}

impl Shared {
    /// Shares a first snapshot, with health taken from its configuration.
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let health = HealthTable::new(HealthState::from_config(&snapshot.config));
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            health,
            reload: Default::default(),
            metrics: Default::default(),
        })
    }
}
