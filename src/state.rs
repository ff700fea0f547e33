//! What a query reads: one immutable [`Serving`] unit (a [`Snapshot`] of the configuration and
//! the health indexed for exactly that configuration) behind one ArcSwap, loaded once per query.

use crate::config::Config;
use crate::health::HealthState;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub use crate::snapshot::Snapshot;

/// A configuration and the health indexed for it: swapped as one unit, so a query never pairs
/// a configuration with health indexed for another one (health is indexed by replica position).
#[derive(Debug)]
pub struct Serving {
    /// The configuration snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Health, indexed like `snapshot.config`.
    pub health: Arc<HealthState>,
    /// Unique per pair (never reused in a process): names this state in per-thread caches.
    pub id: u64,
}

impl Serving {
    /// Pairs a snapshot with its health under a fresh id.
    pub fn new(snapshot: Arc<Snapshot>, health: Arc<HealthState>) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            snapshot,
            health,
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// What the last reloads did, for logs and `/status`.
#[derive(Debug, Default, Clone)]
pub struct ReloadStatus {
    /// Successful reloads since start.
    pub reloads: u64,
    /// Failed reloads since start.
    pub failures: u64,
    /// The last failure's errors (file:line:col each), cleared by a success.
    pub last_error: Option<String>,
}

/// The state shared by every transport.
#[derive(Debug)]
pub struct Shared {
    /// The configuration and its health, one atomic unit.
    serving: ArcSwap<Serving>,
    /// Response rate limiting state (survives reloads; its settings come from the snapshot).
    pub rrl: crate::dns::rrl::RateLimiter,
    /// Process-wide counters.
    pub metrics: crate::metrics::Metrics,
    /// Log one query in this many at info level (0: no query log, the default).
    pub query_log_every: std::sync::atomic::AtomicU64,
    queries_seen: std::sync::atomic::AtomicU64,
    /// Reload counters and the last reload error (not on the query path).
    pub reload: std::sync::Mutex<ReloadStatus>,
    /// Recent health transitions and reloads, for the status page (not on the query path).
    pub events: crate::events::EventLog,
}

impl Shared {
    /// Shares a first snapshot, with health taken from its configuration.
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let health = Arc::new(HealthState::from_config(&snapshot.config));
        Arc::new(Self {
            serving: ArcSwap::from_pointee(Serving::new(Arc::new(snapshot), health)),
            rrl: Default::default(),
            reload: Default::default(),
            events: Default::default(),
            metrics: Default::default(),
            query_log_every: Default::default(),
            queries_seen: Default::default(),
        })
    }

    /// The configuration and its health (cheap; no lock): what one query reads.
    pub fn load(&self) -> arc_swap::Guard<Arc<Serving>> {
        self.serving.load()
    }

    /// The current configuration snapshot (for everything off the query path).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.serving.load().snapshot.clone()
    }

    /// Replaces the health, built by `build` for whichever configuration is current at the
    /// moment of the swap (retried if a reload swapped in another one meanwhile).
    pub fn update_health(&self, build: impl Fn(&Config) -> HealthState) -> Arc<HealthState> {
        let mut built = None;
        self.serving.rcu(|cur| {
            let health = Arc::new(build(&cur.snapshot.config));
            built = Some(health.clone());
            Serving::new(cur.snapshot.clone(), health)
        });
        built.expect("rcu runs its closure at least once")
    }

    /// Installs a new configuration together with the health indexed for it.
    pub fn install(&self, snapshot: Snapshot, health: HealthState) {
        self.serving
            .store(Arc::new(Serving::new(Arc::new(snapshot), Arc::new(health))));
    }

    /// A copy of the reload counters and last error.
    pub fn reload_status(&self) -> ReloadStatus {
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
        let chosen = about
            .zone
            .zip(about.chosen)
            .map(|(z, (r, p))| &*snapshot.config.zones[z].registries[r].replicas[p].region);
        let qtype = about.qtype.map_or("-".into(), crate::dns::wire::type_name);
        let rcode = crate::dns::wire::rcode_name(*rcode);
        tracing::info!(target: "georoute::query", %peer, name, %qtype, %rcode, chosen = chosen.unwrap_or("-"), "query");
    }
}
