//! Probes: HTTP(S) GET or TCP connect to every replica (and region probe) on its policy's
//! interval with jitter, bounded concurrency, results fed to the state machines, and a new
//! health table published on every transition. Probes only write health; routing only reads it.

use super::state::{Health, Machine, Thresholds, Transition};
use super::table::{HealthState, ReplicaHealth};
use crate::config::{Config, ProbePolicy, spec::ProbeKindSpec};
use crate::state::Shared;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Semaphore, watch};

/// What is probed, by name, so that state survives a reload that keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKey {
    /// A registry's replica: (zone, registry, region).
    Replica(String, String, String),
    /// A region-wide probe.
    Region(String),
}

impl TargetKey {
    /// How people name it: `myregistry.azurecr.io/eastus`, `region eastus`.
    pub fn subject(&self) -> String {
        match self {
            TargetKey::Replica(z, r, region) => format!("{r}.{z}/{region}"),
            TargetKey::Region(region) => format!("region {region}"),
        }
    }

    /// The key's name in `/status`: `replica/<zone>/<registry>/<region>` or `region/<region>`.
    pub fn label(&self) -> String {
        match self {
            TargetKey::Replica(z, r, region) => format!("replica/{z}/{r}/{region}"),
            TargetKey::Region(region) => format!("region/{region}"),
        }
    }
}

enum Check {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Tcp {
        address: SocketAddr,
    },
}

/// One probe target.
pub struct Target {
    key: TargetKey,
    policy: ProbePolicy,
    check: Check,
    describe: String,
}

/// The outcome of one probe.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Counted healthy.
    pub success: bool,
    /// HTTP status, when one came back.
    pub status: Option<u16>,
    /// How long it took.
    pub latency: Duration,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

#[derive(Default)]
struct Record {
    /// When the target's next probe is due: kept across reloads, so a reload (however
    /// frequent) neither delays nor skips a probe.
    due: Option<Instant>,
    machine: Machine,
    last: Option<(ProbeResult, SystemTime)>,
    last_transition: Option<(Transition, SystemTime)>,
}

/// The probe runner of one configuration.
pub struct Prober {
    shared: Arc<Shared>,
    targets: Mutex<Vec<Arc<Target>>>,
    epoch: watch::Sender<u64>,
    enabled: bool,
    records: Mutex<HashMap<TargetKey, Record>>,
    started: Instant,
    permits: Arc<Semaphore>,
    lateness: Lateness,
    fail_open: Mutex<Vec<String>>,
    fail_open_events: std::sync::atomic::AtomicU64,
    /// A health rebuild is scheduled and has not started yet (transitions coalesce into it).
    publish_pending: std::sync::atomic::AtomicBool,
    /// `georoute/<version> (<instance>)`, sent with every HTTP probe.
    user_agent: String,
    /// Fleet health, when `probes/fleet.yaml` is in force.
    fleet: std::sync::OnceLock<Arc<dyn SharedVerdicts>>,
}

/// Health decided together with other instances (the fleet, `crate::fleet`): which targets this
/// instance probes, and the shared verdict on a replica. Defined here and handed in by the
/// assembly, so the prober never depends on where shared verdicts come from.
pub trait SharedVerdicts: Send + Sync {
    /// Whether this instance probes `key` itself.
    fn probes(&self, key: &TargetKey) -> bool;
    /// The shared verdict on a replica (true: down), while one is known.
    fn down(&self, key: &TargetKey) -> Option<bool>;
}

/// Probes that start at most this late count as on schedule.
const ON_SCHEDULE: Duration = Duration::from_secs(1);

/// The largest lateness seen in the current and the previous 10 s window (lock-free: every
/// probe records into it).
#[derive(Debug, Default)]
struct Lateness {
    window: std::sync::atomic::AtomicU64,
    current_ms: std::sync::atomic::AtomicU64,
    previous_ms: std::sync::atomic::AtomicU64,
}

impl Lateness {
    const WINDOW_S: u64 = 10;

    /// Moves to the window of `now` (time since the prober started).
    fn roll(&self, now: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let w = now.as_secs() / Self::WINDOW_S;
        let seen = self.window.load(Relaxed);
        if w != seen
            && self
                .window
                .compare_exchange(seen, w, Relaxed, Relaxed)
                .is_ok()
        {
            let last = self.current_ms.swap(0, Relaxed);
            self.previous_ms
                .store(if w == seen + 1 { last } else { 0 }, Relaxed);
        }
    }

    fn observe(&self, late: Duration, now: Duration) {
        self.roll(now);
        self.current_ms.fetch_max(
            late.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn recent(&self, now: Duration) -> Duration {
        use std::sync::atomic::Ordering::Relaxed;
        self.roll(now);
        let ms = self
            .current_ms
            .load(Relaxed)
            .max(self.previous_ms.load(Relaxed));
        Duration::from_millis(ms)
    }
}

/// Builds the probe targets of a configuration (HTTP clients included).
fn targets(config: &Config, user_agent: &str) -> Result<Vec<Target>, String> {
    let mut specs = Vec::new();
    // A replica names a policy of the configuration, or `default`: when every one of them is
    // `kind: none`, no replica is probed, and a zone of a million is not walked for nothing.
    let probing = !config.policies.contains_key("default")
        || config
            .policies
            .values()
            .any(|p| p.kind != ProbeKindSpec::None);
    for zone in config.zones.iter().filter(|_| probing) {
        for reg in &zone.registries {
            for rep in &reg.replicas {
                let policy = config.policies.get(&*rep.probe);
                // Not probed: no target (and nothing built for it, however large the zone).
                if policy.is_some_and(|p| p.kind == ProbeKindSpec::None) {
                    continue;
                }
                let policy = policy.cloned().unwrap_or_else(ProbePolicy::standard);
                let host = format!("{}.{}.geo.{}", reg.name, rep.region, zone.name);
                let url = if rep.probe_url.is_empty() {
                    format!("{}://{host}{}", policy.scheme, policy.path)
                } else {
                    rep.probe_url.clone()
                };
                let first = rep
                    .addresses
                    .v4
                    .first()
                    .map(|a| std::net::IpAddr::V4(*a))
                    .or_else(|| rep.addresses.v6.first().map(|a| std::net::IpAddr::V6(*a)));
                let address = rep
                    .probe_address
                    .or_else(|| first.map(|ip| SocketAddr::new(ip, policy.port)));
                let Some(address) = address else { continue };
                let key =
                    TargetKey::Replica(zone.name.clone(), reg.name.clone(), rep.region.to_string());
                specs.push((key, policy, url, address));
            }
        }
    }
    for (region, (url, policy)) in &config.region_health.probes {
        let policy = config
            .policies
            .get(policy)
            .cloned()
            .unwrap_or_else(ProbePolicy::standard);
        specs.push((
            TargetKey::Region(region.clone()),
            policy,
            url.clone(),
            SocketAddr::from(([0, 0, 0, 0], 0)),
        ));
    }
    build_targets(specs, user_agent)
}

/// Probe clients are shared by every target with the same TLS settings (building one loads the
/// trust store, which is slow): one client knows every replica's host → address mapping.
type TlsKey = (bool, Option<std::path::PathBuf>);

fn build_targets(
    specs: Vec<(TargetKey, ProbePolicy, String, SocketAddr)>,
    user_agent: &str,
) -> Result<Vec<Target>, String> {
    let mut routes: HashMap<TlsKey, Vec<(String, SocketAddr)>> = HashMap::new();
    for (_, policy, url, address) in &specs {
        if policy.kind == ProbeKindSpec::Http {
            let parsed = reqwest::Url::parse(url).map_err(|e| format!("probe URL {url}: {e}"))?;
            let entry = routes
                .entry((policy.tls_verify, policy.tls_ca.clone()))
                .or_default();
            // Connect to the configured address with the URL's host as Host header and TLS
            // server name: never a DNS lookup of our own names.
            if let (Some(host), false) = (parsed.host_str(), address.port() == 0) {
                entry.push((host.to_string(), *address));
            }
        }
    }
    let mut clients = HashMap::new();
    for ((verify, ca), hosts) in routes {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .danger_accept_invalid_certs(!verify);
        for (host, address) in hosts {
            builder = builder.resolve(&host, address);
        }
        if let Some(ca) = &ca {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: {e}", ca.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("probe client: {e}"))?;
        clients.insert((verify, ca), client);
    }
    let mut out = Vec::new();
    for (key, policy, url, address) in specs {
        let describe = match policy.kind {
            // Not probed: no target; the replica stays Unknown, counted healthy.
            ProbeKindSpec::None => continue,
            ProbeKindSpec::Tcp => format!("tcp {address}"),
            ProbeKindSpec::Http if address.port() == 0 => format!("GET {url}"),
            ProbeKindSpec::Http => format!("GET {url} via {address}"),
        };
        let check = match policy.kind {
            ProbeKindSpec::None | ProbeKindSpec::Tcp => Check::Tcp { address },
            ProbeKindSpec::Http => Check::Http {
                client: clients[&(policy.tls_verify, policy.tls_ca.clone())].clone(),
                url,
            },
        };
        out.push(Target {
            key,
            policy,
            check,
            describe,
        });
    }
    Ok(out)
}

async fn probe(t: &Target) -> ProbeResult {
    let start = Instant::now();
    let (success, status, error) = match &t.check {
        Check::Tcp { address } => {
            match tokio::time::timeout(t.policy.timeout, tokio::net::TcpStream::connect(address))
                .await
            {
                Ok(Ok(_)) => (true, None, None),
                Ok(Err(e)) => (false, None, Some(format!("connect: {e}"))),
                Err(_) => (
                    false,
                    None,
                    Some(format!("timeout after {:?}", t.policy.timeout)),
                ),
            }
        }
        Check::Http { client, url } => match client.get(url).timeout(t.policy.timeout).send().await
        {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let ok = t
                    .policy
                    .healthy_status
                    .iter()
                    .any(|&(a, b)| (a..=b).contains(&code));
                (ok, Some(code), (!ok).then(|| format!("status {code}")))
            }
            Err(e) if e.is_timeout() => (
                false,
                None,
                Some(format!("timeout after {:?}", t.policy.timeout)),
            ),
            Err(e) => (false, None, Some(error_chain(&e))),
        },
    };
    ProbeResult {
        success,
        status,
        latency: start.elapsed(),
        error,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

impl Prober {
    /// Prepares the probes of the current configuration (`enabled` false: never probes, every
    /// replica stays Unknown, counted healthy).
    pub fn new(
        shared: Arc<Shared>,
        concurrency: usize,
        enabled: bool,
        instance: &str,
    ) -> Result<Arc<Self>, String> {
        let user_agent = format!("georoute/{} ({instance})", env!("CARGO_PKG_VERSION"));
        let targets = targets(&shared.snapshot().config, &user_agent)?
            .into_iter()
            .map(Arc::new)
            .collect();
        Ok(Arc::new(Self {
            shared,
            targets: Mutex::new(targets),
            epoch: watch::channel(0).0,
            enabled,
            records: Mutex::new(HashMap::new()),
            started: Instant::now(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            lateness: Lateness::default(),
            fail_open: Mutex::new(Vec::new()),
            fail_open_events: std::sync::atomic::AtomicU64::new(0),
            publish_pending: std::sync::atomic::AtomicBool::new(false),
            user_agent,
            fleet: std::sync::OnceLock::new(),
        }))
    }

    /// Shares health with the fleet from now on (once).
    pub fn join_fleet(&self, fleet: Arc<dyn SharedVerdicts>) {
        let _ = self.fleet.set(fleet);
    }

    /// The keys of every probe target.
    pub fn target_keys(&self) -> Vec<TargetKey> {
        self.current_targets()
            .iter()
            .map(|t| t.key.clone())
            .collect()
    }

    /// This instance's own verdict on each replica it has probed (label → down), after its
    /// fall/rise: what it publishes to the fleet.
    pub fn replica_verdicts(&self) -> HashMap<String, bool> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .filter(|(k, _)| matches!(k, TargetKey::Replica(..)))
            .filter_map(|(k, r)| match r.machine.health() {
                Health::Up => Some((k.label(), false)),
                Health::Down => Some((k.label(), true)),
                Health::Unknown => None,
            })
            .collect()
    }

    /// One round of every probe, bounded by the longest probe timeout; probes still running
    /// then are abandoned (their replicas stay Unknown, counted healthy).
    pub async fn first_round(self: &Arc<Self>) {
        let targets = self.current_targets();
        let bound = targets
            .iter()
            .map(|t| t.policy.timeout)
            .max()
            .unwrap_or_default()
            + Duration::from_millis(100);
        let mut set = tokio::task::JoinSet::new();
        for t in &targets {
            let (me, t) = (self.clone(), t.clone());
            set.spawn(async move { me.run_one(&t, None).await });
        }
        let _ =
            tokio::time::timeout(bound, async { while set.join_next().await.is_some() {} }).await;
        set.abort_all();
        // In place before the listeners open, whatever the scheduled rebuilds are doing.
        self.publish();
    }

    /// Probes every target on its interval (±10% jitter) until `stop` turns true.
    pub fn spawn(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let epoch = self.epoch.subscribe();
        self.current_targets()
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let (me, mut stop, mut epoch) = (self.clone(), stop.clone(), epoch.clone());
                tokio::spawn(async move {
                    let mut seed = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ me.started.elapsed().as_nanos() as u64;
                    let mut jittered = || {
                        seed = crate::hash::mix64(seed.wrapping_add(1));
                        let jitter = 0.9 + 0.2 * (seed >> 11) as f64 / (1u64 << 53) as f64;
                        t.policy.interval.mul_f64(jitter)
                    };
                    loop {
                        let due = me.due(&t, jittered());
                        tokio::select! {
                            _ = tokio::time::sleep_until(due.into()) => {},
                            _ = stop.changed() => return,
                            _ = epoch.changed() => return,
                        }
                        me.set_due(&t, Instant::now() + jittered());
                        // In a fleet, another instance may be this replica's observer.
                        if me.fleet.get().is_none_or(|f| f.probes(&t.key)) {
                            me.run_one(&t, Some(due)).await;
                        }
                    }
                })
            })
            .collect()
    }

    /// When `t` is next due: as scheduled (by this loop or one before a reload), but never
    /// later than one interval from now; `wait` from now when nothing is scheduled.
    fn due(&self, t: &Target, wait: Duration) -> Instant {
        let now = Instant::now();
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let rec = records.entry(t.key.clone()).or_default();
        let latest = now + t.policy.interval.mul_f64(1.1);
        let due = *rec.due.get_or_insert(now + wait);
        due.min(latest)
    }

    fn set_due(&self, t: &Target, at: Instant) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.entry(t.key.clone()).or_default().due = Some(at);
    }

    fn current_targets(&self) -> Vec<Arc<Target>> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes up a new configuration (already in the snapshot): new targets and probe loops,
    /// the state of targets that still exist kept (health survives reloads), and a health
    /// table rebuilt for the new configuration. Returns the health table to publish.
    pub fn reconfigure(
        self: &Arc<Self>,
        snapshot: crate::state::Snapshot,
        stop: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let config = &snapshot.config;
        let new: Vec<Arc<Target>> = targets(config, &self.user_agent)?
            .into_iter()
            .map(Arc::new)
            .collect();
        let keys: std::collections::HashSet<TargetKey> =
            new.iter().map(|t| t.key.clone()).collect();
        *self.targets.lock().unwrap_or_else(|e| e.into_inner()) = new;
        self.epoch.send_modify(|e| *e += 1);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.retain(|k, _| keys.contains(k));
        let state = build_state(config, &records, self.fleet.get().map(|f| &**f));
        // Installed under the records lock: a transition recorded meanwhile is either in this
        // state or rebuilt on top of the new configuration, never lost or mis-indexed.
        self.shared.install(snapshot, state);
        drop(records);
        if self.enabled {
            self.spawn(stop);
        }
        Ok(())
    }

    /// Probes `t` once (when a slot is free); `due` is when it was scheduled, for the lateness.
    async fn run_one(self: &Arc<Self>, t: &Target, due: Option<Instant>) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        if let Some(due) = due {
            let late = Instant::now().saturating_duration_since(due);
            self.shared.metrics.probe_late(late);
            self.lateness.observe(late, self.started.elapsed());
        }
        let result = probe(t).await;
        self.record(t, result);
    }

    fn record(self: &Arc<Self>, t: &Target, result: ProbeResult) {
        let p = &t.policy;
        let thresholds = Thresholds {
            fall: p.fall,
            rise: p.rise,
            flap_limit: p.flap_limit,
            flap_window_ms: p.flap_window.as_millis() as u64,
            hold_down_ms: p.hold_down.as_millis() as u64,
        };
        let now_ms = self.started.elapsed().as_millis() as u64;
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let rec = records.entry(t.key.clone()).or_default();
        let was_suspect = rec.machine.suspect();
        let transition = rec.machine.observe(now_ms, result.success, &thresholds);
        let suspicion_changed = rec.machine.suspect() != was_suspect;
        self.shared.metrics.probe(result.success, result.latency);
        rec.last = Some((result.clone(), SystemTime::now()));
        let transition_or_suspicion = transition.is_some() || suspicion_changed;
        if let Some(tr) = transition {
            tracing::info!(
                target: "georoute::health",
                probe = %t.describe, from = %tr.from, to = %tr.to, reason = %tr.reason,
                error = result.error.as_deref(), "health transition"
            );
            if tr.from != tr.to {
                self.shared.metrics.transition(tr.to == Health::Up);
            }
            // A first probe that finds what was assumed (up) is no event worth a line.
            if !(tr.from == Health::Unknown && tr.to == Health::Up) {
                self.shared.events.record(
                    "health",
                    t.key.subject(),
                    format!("{} \u{2192} {}", tr.from, tr.to),
                    tr.reason.clone(),
                );
            }
            rec.last_transition = Some((tr, SystemTime::now()));
        }
        if transition_or_suspicion {
            drop(records);
            self.schedule_publish();
        }
    }

    /// Schedules one rebuild of the health table. Transitions recorded before it starts are all
    /// in it: at a start with many replicas every first result is a transition, and rebuilding
    /// the whole table for each was quadratic (10,000 replicas: 10,000 rebuilds of 10,000).
    fn schedule_publish(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::AcqRel;
        if self.publish_pending.swap(true, AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            // Let the other results of a burst land first.
            tokio::task::yield_now().await;
            me.publish_pending
                .store(false, std::sync::atomic::Ordering::Release);
            me.publish();
        });
    }

    /// Rebuilds and swaps in the health table from the probe records (and the fleet's
    /// conclusions, in a fleet).
    pub fn publish(&self) {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        // Built for whichever configuration is current at the swap, under the records lock so
        // a reload (which also takes it) cannot interleave.
        let state = self
            .shared
            .update_health(|config| build_state(config, &records, self.fleet.get().map(|f| &**f)));
        drop(records);
        self.note_fail_open(&state);
    }

    /// Logs once per change which registries have no healthy routed replica (they answer as if
    /// all were healthy: fail open) and counts each entry into that state.
    fn note_fail_open(&self, state: &HealthState) {
        let snapshot = self.shared.snapshot();
        let mut now = Vec::new();
        for (z, zone) in snapshot.config.zones.iter().enumerate() {
            for (r, reg) in zone.registries.iter().enumerate() {
                let any = reg.replicas.iter().enumerate().any(|(i, rep)| {
                    rep.global_endpoint_routing && state.healthy((z, r, i), rep.region_index)
                });
                if !any {
                    now.push(format!("{}.{}", reg.name, zone.name));
                }
            }
        }
        let mut before = self.fail_open.lock().unwrap_or_else(|e| e.into_inner());
        for name in now.iter().filter(|n| !before.contains(n)) {
            self.fail_open_events
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(target: "georoute::health", registry = %name,
                "fail open: no routed replica is healthy; answering as if all were (all_down: closed answers NODATA)");
        }
        for name in before.iter().filter(|n| !now.contains(n)) {
            tracing::info!(target: "georoute::health", registry = %name, "fail open over: a routed replica is healthy again");
        }
        *before = now;
    }

    /// Registries currently failing open, and how many times any entered that state.
    pub fn fail_open(&self) -> (Vec<String>, u64) {
        let list = self
            .fail_open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (
            list,
            self.fail_open_events
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Whether probes start on schedule: how many targets there are and the most any probe
    /// started late over the last 10 to 20 s, for `/status` (a zone larger than one instance
    /// can probe says so here, and in `georoute_probe_late_recent_seconds`).
    pub fn schedule(&self) -> Value {
        let late = self.late_recent();
        json!({
            "targets": self.targets.lock().unwrap_or_else(|e| e.into_inner()).len(),
            "probing": self.enabled,
            "late_recent_max_s": late.as_secs_f64(),
            "on_schedule": late <= ON_SCHEDULE,
        })
    }

    /// The most any probe started late over the last 10 to 20 s.
    pub fn late_recent(&self) -> Duration {
        self.lateness.recent(self.started.elapsed())
    }

    /// The state of the probes whose key `wanted` accepts, for `/status`.
    pub fn status_where(&self, wanted: impl Fn(&TargetKey) -> bool) -> Value {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let since = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        let mut out = serde_json::Map::new();
        for t in self.current_targets().iter().filter(|t| wanted(&t.key)) {
            let rec = records.get(&t.key);
            let key = t.key.label();
            let (health, successes, failures, held) =
                rec.map_or((Health::Unknown, 0, 0, None), |r| {
                    (
                        r.machine.health(),
                        r.machine.successes(),
                        r.machine.failures(),
                        r.machine.held_until_ms(),
                    )
                });
            out.insert(key, json!({
                "probe": t.describe,
                "health": health.as_str(),
                "consecutive_successes": successes,
                "consecutive_failures": failures,
                "held_down": held.is_some(),
                "last_probe": rec.and_then(|r| r.last.as_ref()).map(|(p, at)| json!({
                    "success": p.success, "status": p.status, "latency_ms": p.latency.as_secs_f64() * 1000.0,
                    "error": p.error, "at_unix": since(*at),
                })),
                "last_transition": rec.and_then(|r| r.last_transition.as_ref()).map(|(tr, at)| json!({
                    "from": tr.from.as_str(), "to": tr.to.as_str(),
                    "reason": tr.reason, "at_unix": since(*at),
                })),
            }));
        }
        Value::Object(out)
    }
}

/// The health table of a configuration from the probe records; in a fleet connected to etcd, a
/// replica's down-or-up is the fleet's conclusion instead of this instance's own.
fn build_state(
    config: &Config,
    records: &HashMap<TargetKey, Record>,
    fleet: Option<&dyn SharedVerdicts>,
) -> HealthState {
    // When a record last came back up from down (the failback ramp's start), Unix ms.
    let recovered = |r: &Record| {
        r.last_transition
            .as_ref()
            .filter(|(tr, _)| tr.from == Health::Down && tr.to == Health::Up)
            .and_then(|(_, at)| at.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
    };
    let health = |shared: Option<bool>, rec: Option<&Record>| match (shared, rec) {
        (Some(down), rec) => Some(ReplicaHealth {
            down,
            suspect: !down && rec.is_some_and(|r| r.machine.suspect()),
            recovered_at_ms: rec.and_then(recovered),
        }),
        (None, Some(rec)) => Some(ReplicaHealth {
            down: rec.machine.health() == Health::Down,
            suspect: rec.machine.suspect(),
            recovered_at_ms: recovered(rec),
        }),
        (None, None) => None,
    };
    let mut state = HealthState::from_config(config);
    match fleet {
        // The fleet may have a verdict on any replica: every one is looked at.
        Some(fleet) => {
            for (z, zone) in config.zones.iter().enumerate() {
                for (r, reg) in zone.registries.iter().enumerate() {
                    for (i, rep) in reg.replicas.iter().enumerate() {
                        let key = TargetKey::Replica(
                            zone.name.clone(),
                            reg.name.clone(),
                            rep.region.to_string(),
                        );
                        if let Some(h) = health(fleet.down(&key), records.get(&key)) {
                            state = state.with_replica((z, r, i), h);
                        }
                    }
                }
            }
        }
        // Alone, only the replicas with a probe record have other than the default.
        None => {
            for (key, rec) in records {
                let TargetKey::Replica(zone, registry, region) = key else {
                    continue;
                };
                let Some(z) = config.zones.iter().position(|c| c.name == *zone) else {
                    continue;
                };
                let Some((r, reg)) = config.zones[z].registry(registry) else {
                    continue;
                };
                let Some(i) = reg.replicas.iter().position(|p| *p.region == **region) else {
                    continue;
                };
                if let Some(h) = health(None, Some(rec)) {
                    state = state.with_replica((z, r, i), h);
                }
            }
        }
    }
    for (i, region) in config.regions.regions.iter().enumerate() {
        if let Some(rec) = records.get(&TargetKey::Region(region.name.clone())) {
            if rec.machine.health() == Health::Down {
                state = state.with_regions_down([i]);
            } else if let Some(at) = recovered(rec) {
                state = state.with_region_recovered(i, at);
            }
        }
    }
    state
}
