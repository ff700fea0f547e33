//! Fleet health through etcd: this instance's membership under a lease, the
//! replicas it observes (rendezvous hashing, `choice.rs`), its verdicts published for them, and
//! every replica's health derived from its observers' verdicts by quorum. Like the probes, it
//! only writes health: the prober asks [`FleetState`] whether to probe a replica and what the
//! fleet concluded, and rebuilds the health table when that changes.
//!
//! Keys: `<prefix>members/<instance>` and `<prefix>verdicts/<replica>/<instance>` (value `up`
//! or `down`), all under this instance's lease, so a dead instance's keys expire with it. The
//! prefix is read in one range, then followed by an etcd watch from the next revision (changes
//! only, in revision order: instances that have seen the same revision conclude the same); a
//! broken watch means one more range. Without etcd the instance probes every replica itself
//! and decides alone, and says so; it rejoins on its own.

pub mod choice;
pub mod etcd;

use crate::config::fleet::FleetSettings;
use crate::health::prober::{Prober, SharedVerdicts, TargetKey};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// What the fleet concluded, read by the prober.
#[derive(Debug, Default)]
struct View {
    connected: bool,
    revision: u64,
    members: Vec<String>,
    /// Replica labels this instance observes.
    observed: BTreeSet<String>,
    /// Replica label → down, for every replica with observers.
    down: HashMap<String, bool>,
    last_error: Option<String>,
    since: Option<SystemTime>,
    disconnects: u64,
}

/// The fleet's state as this instance sees it.
#[derive(Debug)]
pub struct FleetState {
    /// This instance's name.
    pub instance: String,
    /// The settings it runs with.
    pub settings: FleetSettings,
    view: Mutex<View>,
}

impl FleetState {
    /// A fleet member named `instance`, not yet connected.
    pub fn new(instance: String, settings: FleetSettings) -> Arc<Self> {
        Arc::new(Self {
            instance,
            settings,
            view: Mutex::new(View::default()),
        })
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connected to etcd now.
    pub fn connected(&self) -> bool {
        self.view().connected
    }

    /// Times the instance lost etcd.
    pub fn disconnects(&self) -> u64 {
        self.view().disconnects
    }

    /// The `fleet` part of `/status`.
    pub fn status(&self) -> serde_json::Value {
        let v = self.view();
        let since = v
            .since
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        json!({
            "instance": self.instance,
            "state": if v.connected { "connected" } else { "alone" },
            "since_unix": since,
            "etcd": self.settings.etcd,
            "revision": v.revision,
            "members": v.members,
            "observing": v.observed.len(),
            "replicas_down": v.down.values().filter(|d| **d).count(),
            "last_error": v.last_error,
            "disconnects": v.disconnects,
        })
    }
}

impl SharedVerdicts for FleetState {
    /// Every target unless the fleet is reachable and someone else observes this replica.
    fn probes(&self, key: &TargetKey) -> bool {
        let v = self.view();
        !v.connected || !matches!(key, TargetKey::Replica(..)) || v.observed.contains(&key.label())
    }

    /// The fleet's verdict on a replica (true: down), while etcd is reachable.
    fn down(&self, key: &TargetKey) -> Option<bool> {
        let v = self.view();
        v.connected
            .then(|| v.down.get(&key.label()).copied())
            .flatten()
    }
}

/// The replicas that have probes (the labels of the prober's replica targets).
fn replica_labels(prober: &Prober) -> Vec<String> {
    prober
        .target_keys()
        .into_iter()
        .filter(|k| matches!(k, TargetKey::Replica(..)))
        .map(|k| k.label())
        .collect()
}

struct Runner {
    state: Arc<FleetState>,
    prober: Arc<Prober>,
    etcd: Arc<etcd::Etcd>,
    lease: Option<(String, Instant)>,
    /// The prefix's keys as of `revision`: one range, then the watch's changes.
    kvs: std::collections::BTreeMap<String, String>,
    revision: u64,
    /// The running watch and what it sends.
    watch: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::mpsc::UnboundedReceiver<etcd::Watched>,
    )>,
}

impl Runner {
    fn member_key(&self) -> String {
        format!(
            "{}members/{}",
            self.state.settings.prefix, self.state.instance
        )
    }

    fn verdict_key(&self, replica: &str, instance: &str) -> String {
        format!(
            "{}verdicts/{replica}/{instance}",
            self.state.settings.prefix
        )
    }

    /// Registers (or refreshes) this instance's lease and membership.
    async fn lease(&mut self) -> Result<String, String> {
        let ttl = self.state.settings.lease;
        if let Some((id, at)) = &self.lease {
            if at.elapsed() < ttl / 3 {
                return Ok(id.clone());
            }
            if self.etcd.keep_alive(id).await? {
                let id = id.clone();
                self.lease = Some((id.clone(), Instant::now()));
                return Ok(id);
            }
        }
        // No lease, or it expired (we were silent too long): join again.
        let id = self.etcd.grant(ttl).await?;
        let started = crate::clock::unix_now().as_secs();
        let value = json!({"version": env!("CARGO_PKG_VERSION"), "joined_unix": started});
        self.etcd
            .put(&self.member_key(), &value.to_string(), &id)
            .await?;
        self.lease = Some((id.clone(), Instant::now()));
        tracing::info!(target: "georoute::fleet", instance = %self.state.instance, "joined the fleet");
        Ok(id)
    }

    /// Brings `kvs` up to date: the watch's changes so far, or (no watch, or it broke) one
    /// range of the prefix and a new watch from the revision after it.
    async fn follow(&mut self) -> Result<(), String> {
        let mut got = Vec::new();
        if let Some((_, rx)) = &mut self.watch {
            while let Ok(w) = rx.try_recv() {
                got.push(w);
            }
        }
        let watching = self.watch.is_some();
        for w in got {
            self.pending(w);
        }
        if watching && self.watch.is_some() {
            return Ok(());
        }
        let prefix = self.state.settings.prefix.clone();
        let (revision, kvs) = self.etcd.range(&prefix).await?;
        self.kvs = kvs.into_iter().map(|kv| (kv.key, kv.value)).collect();
        self.revision = revision;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let etcd = self.etcd.clone();
        let task = tokio::spawn(async move { etcd.watch(&prefix, revision + 1, tx).await });
        self.watch = Some((task, rx));
        Ok(())
    }

    fn stop_watch(&mut self) {
        if let Some((task, _)) = self.watch.take() {
            task.abort();
        }
    }

    /// Waits until the watch has something (forever without a watch), and applies it.
    async fn changed(&mut self) {
        let got = match &mut self.watch {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        };
        match got {
            Some(w) => self.pending(w),
            None => self.stop_watch(),
        }
    }

    /// Applies one message of the watch.
    fn pending(&mut self, w: etcd::Watched) {
        match w {
            etcd::Watched::Changes { revision, events } => {
                for (key, value) in events {
                    match value {
                        Some(v) => self.kvs.insert(key, v),
                        None => self.kvs.remove(&key),
                    };
                }
                self.revision = self.revision.max(revision);
            }
            etcd::Watched::Broken(e) => {
                tracing::debug!(target: "georoute::fleet", error = %e, "etcd watch ended; reading again");
                self.stop_watch();
            }
        }
    }

    /// One round: lease, catch up with etcd, publish our verdicts, conclude. True when what
    /// the prober reads changed.
    async fn step(&mut self) -> Result<bool, String> {
        let lease = self.lease().await?;
        self.follow().await?;
        let revision = self.revision;
        let prefix = &self.state.settings.prefix;
        let members_at = format!("{prefix}members/");
        let verdicts_at = format!("{prefix}verdicts/");
        let mut members: Vec<String> = self
            .kvs
            .keys()
            .filter_map(|k| k.strip_prefix(&members_at))
            .map(str::to_string)
            .collect();
        if !members.contains(&self.state.instance) {
            // Our lease lapsed between the refresh and the read: join again next round.
            self.lease = None;
            self.stop_watch();
            return Err("this instance's membership expired".into());
        }
        members.sort();
        // verdicts: replica → instance → down
        let mut verdicts: HashMap<&str, HashMap<&str, bool>> = HashMap::new();
        for (key, value) in &self.kvs {
            if let Some(rest) = key.strip_prefix(&verdicts_at)
                && let Some((replica, instance)) = rest.rsplit_once('/')
            {
                verdicts
                    .entry(replica)
                    .or_default()
                    .insert(instance, value == "down");
            }
        }
        let (k, quorum) = (self.state.settings.observers, self.state.settings.quorum);
        let me = self.state.instance.as_str();
        let mut observed = BTreeSet::new();
        let mut down = HashMap::new();
        let own = self.prober.replica_verdicts();
        let mut writes = Vec::new();
        for replica in replica_labels(&self.prober) {
            let observers = choice::observers(&replica, &members, k);
            let votes = verdicts.get(replica.as_str());
            let says_down = |o: &str| votes.and_then(|v| v.get(o)).copied().unwrap_or(false);
            down.insert(replica.clone(), choice::down(&observers, says_down, quorum));
            let published = votes.and_then(|v| v.get(me)).copied();
            if observers.contains(&me) {
                // Our verdict after our own fall/rise; nothing until our first probe.
                if let Some(&mine) = own.get(&replica)
                    && published != Some(mine)
                {
                    writes.push((replica.clone(), Some(mine)));
                }
                observed.insert(replica);
            } else if published.is_some() {
                writes.push((replica.clone(), None));
            }
        }
        for (replica, verdict) in writes {
            let key = self.verdict_key(&replica, me);
            match verdict {
                Some(d) => {
                    let value = if d { "down" } else { "up" };
                    self.etcd.put(&key, value, &lease).await?;
                }
                None => self.etcd.delete(&key).await?,
            }
        }
        let mut v = self.state.view();
        let changed = !v.connected || v.observed != observed || v.down != down;
        if !v.connected {
            tracing::info!(target: "georoute::fleet", instance = %me, members = members.len(), revision,
                "fleet health from etcd: probing only the replicas this instance observes");
            v.since = Some(SystemTime::now());
        }
        v.connected = true;
        v.revision = revision;
        v.members = members;
        v.observed = observed;
        v.down = down;
        v.last_error = None;
        Ok(changed)
    }

    fn lost(&mut self, error: String) -> bool {
        self.stop_watch();
        let mut v = self.state.view();
        let was = v.connected;
        if was {
            tracing::warn!(target: "georoute::fleet", instance = %self.state.instance, %error,
                "etcd unreachable: probing every replica and deciding alone until it returns");
            v.disconnects += 1;
            v.since = Some(SystemTime::now());
        }
        v.connected = false;
        v.last_error = Some(error);
        was
    }
}

/// Runs the fleet membership until `stop`; `poll` is how often etcd is read.
pub fn spawn(
    state: Arc<FleetState>,
    prober: Arc<Prober>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let timeout = poll.max(Duration::from_millis(500));
    let etcd = Arc::new(etcd::Etcd::new(state.settings.etcd.clone(), timeout)?);
    let mut runner = Runner {
        state,
        prober,
        etcd,
        lease: None,
        kvs: Default::default(),
        revision: 0,
        watch: None,
    };
    Ok(tokio::spawn(async move {
        loop {
            let changed = match runner.step().await {
                Ok(changed) => changed,
                Err(e) => runner.lost(e),
            };
            if changed {
                runner.prober.publish();
            }
            // Until the watch brings a change, or the lease needs refreshing.
            tokio::select! {
                _ = runner.changed() => {},
                _ = tokio::time::sleep(poll) => {},
                _ = stop.changed() => break,
            }
        }
        runner.stop_watch();
        // Leave at once rather than when the lease runs out.
        if let Some((id, _)) = runner.lease.take() {
            let _ = runner.etcd.revoke(&id).await;
        }
    }))
}
