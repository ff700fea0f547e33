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
    /// Log one query in this many at info level (0: no query log, the default).
    pub query_log_every: std::sync::atomic::AtomicU64,
    queries_seen: std::sync::atomic::AtomicU64,
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
            query_log_every: Default::default(),
            queries_seen: Default::default(),
        })
    }

    /// A copy of the reload counters and last error.
    pub fn reload_status(&self) -> crate::config::reload::ReloadStatus {
        self.reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After every query, in every transport: counts it and, when the sampled query log is on,
    /// logs one in `query_log_every`.
    pub fn after_query(
        &self,
        snapshot: &Snapshot,
        handled: &crate::dns::Handled,
        packet: &[u8],
        peer: std::net::IpAddr,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.count(&snapshot.counters, handled);
        let every = self.query_log_every.load(Relaxed);
        if every == 0
            || !self
                .queries_seen
                .fetch_add(1, Relaxed)
                .is_multiple_of(every)
        {
            return;
        }
        let crate::dns::Handled::Answered { rcode, about, .. } = handled else {
            tracing::info!(target: "georoute::query", %peer, "dropped");
            return;
        };
        let name = crate::dns::wire::parse_query(packet)
            .map(|q| crate::dns::wire::name_text(q.qname))
            .unwrap_or_default();
        let chosen = about.zone.zip(about.chosen).map(|(z, (r, p))| {
            snapshot.config.zones[z].registries[r].replicas[p]
                .region
                .as_str()
        });
        tracing::info!(target: "georoute::query", %peer, name, qtype = about.qtype, rcode, chosen = chosen.unwrap_or("-"), "query");
    }
}
