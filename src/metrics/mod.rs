//! Every metric, defined in one place, and the Prometheus text rendering of `/metrics`.
//!
//! Names follow `georoute_<subsystem>_<name>_<unit>[_total]`; every label is bounded (fixed sets,
//! or names from the configuration). Counting is atomic adds: no lock on the query path.
//! Per-configuration counters (by zone, view, chosen region) live in the snapshot and are carried
//! over by name on reload.

mod replicas;

use replicas::Label;

use crate::config::Config;
use crate::dns::outcome::Handled;
use crate::dns::wire::rcode;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Query types counted by name; everything else is `other`.
pub const QTYPES: [(u16, &str); 7] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (6, "SOA"),
    (2, "NS"),
    (255, "ANY"),
    (u16::MAX, "other"),
];

/// Response codes counted by name; everything else is `other`.
pub const RCODES: [(u16, &str); 8] = [
    (rcode::NOERROR, "NOERROR"),
    (rcode::NXDOMAIN, "NXDOMAIN"),
    (rcode::REFUSED, "REFUSED"),
    (rcode::FORMERR, "FORMERR"),
    (rcode::NOTIMP, "NOTIMP"),
    (rcode::SERVFAIL, "SERVFAIL"),
    (rcode::BADVERS, "BADVERS"),
    (u16::MAX, "other"),
];

/// Upper bounds (seconds) of the probe latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A histogram of durations over [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; 11],
    micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let b = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[b].fetch_add(1, Relaxed);
        self.micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, s: &mut String, name: &str) {
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(s, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[LATENCY_BUCKETS.len()].load(Relaxed);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(s, "{name}_sum {}", self.micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(s, "{name}_count {cumulative}");
    }
}

fn slot<const N: usize>(table: &[(u16, &str); N], value: u16) -> usize {
    table.iter().position(|&(v, _)| v == value).unwrap_or(N - 1)
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    queries: [[AtomicU64; 8]; 7],
    dropped: AtomicU64,
    truncated: AtomicU64,
    probe_success: AtomicU64,
    probe_failure: AtomicU64,
    probe_latency: Histogram,
    probe_lateness: Histogram,
    transitions_up: AtomicU64,
    transitions_down: AtomicU64,
    rate_limited: AtomicU64,
    rate_limited_slipped: AtomicU64,
    cookies_valid: AtomicU64,
    cookies_unverified: AtomicU64,
    suspect_answers: AtomicU64,
    ramp_held: AtomicU64,
    ramp_returned: AtomicU64,
}

impl Metrics {
    /// Counts one handled query.
    pub fn count(&self, counters: &Counters, handled: &Handled) {
        let Handled::Answered {
            rcode,
            truncated,
            about,
            ..
        } = handled
        else {
            self.dropped.fetch_add(1, Relaxed);
            return;
        };
        match about.cookie {
            crate::dns::cookie::Check::Absent => {}
            crate::dns::cookie::Check::Valid => {
                self.cookies_valid.fetch_add(1, Relaxed);
            }
            crate::dns::cookie::Check::Unverified => {
                self.cookies_unverified.fetch_add(1, Relaxed);
            }
        }
        let q = slot(&QTYPES, about.qtype.unwrap_or(u16::MAX));
        self.queries[q][slot(&RCODES, *rcode)].fetch_add(1, Relaxed);
        if *truncated {
            self.truncated.fetch_add(1, Relaxed);
        }
        let zone = about.zone.unwrap_or(counters.zone.len() - 1);
        counters.zone[zone].fetch_add(1, Relaxed);
        if let (Some(z), Some(v)) = (about.zone, about.view) {
            counters.view[z][v].fetch_add(1, Relaxed);
        }
        if let (Some(z), Some((r, p))) = (about.zone, about.chosen) {
            if let Some(c) = counters.chosen(z, r, p, about.chosen_region) {
                c.fetch_add(1, Relaxed);
            }
            if about.suspect {
                self.suspect_answers.fetch_add(1, Relaxed);
            }
            match about.ramp {
                crate::route::Ramp::Held => self.ramp_held.fetch_add(1, Relaxed),
                crate::route::Ramp::Returned => self.ramp_returned.fetch_add(1, Relaxed),
                _ => 0,
            };
        }
    }

    /// Counts one response limited by RRL: dropped, or sent truncated (`slipped`).
    pub fn rate_limited(&self, slipped: bool) {
        self.rate_limited.fetch_add(1, Relaxed);
        if slipped {
            self.rate_limited_slipped.fetch_add(1, Relaxed);
        }
    }

    /// Counts one probe result.
    pub fn probe(&self, success: bool, latency: std::time::Duration) {
        let c = if success {
            &self.probe_success
        } else {
            &self.probe_failure
        };
        c.fetch_add(1, Relaxed);
        self.probe_latency.observe(latency);
    }

    /// Counts how late a probe started against its schedule (waiting for a free slot included).
    pub fn probe_late(&self, lateness: std::time::Duration) {
        self.probe_lateness.observe(lateness);
    }

    /// Counts one health transition.
    pub fn transition(&self, to_up: bool) {
        let c = if to_up {
            &self.transitions_up
        } else {
            &self.transitions_down
        };
        c.fetch_add(1, Relaxed);
    }
}

/// Counters whose labels come from one configuration.
#[derive(Debug)]
pub struct Counters {
    /// Per zone, plus a last slot for queries outside every zone (`zone="none"`).
    zone: Vec<AtomicU64>,
    /// `[zone][view]`.
    view: Vec<Vec<AtomicU64>>,
    /// Per zone, global answers by what was chosen.
    chosen: Vec<Chosen>,
}

/// One zone's global answers by what was chosen.
#[derive(Debug)]
enum Chosen {
    /// By replica: registry `r`'s from `offsets[r]` on (flat: two allocations per zone).
    Replicas {
        offsets: Vec<u32>,
        counts: Vec<AtomicU64>,
    },
    /// By the chosen replica's region (catalogue index), for a zone of more than
    /// [`replicas::PER_REPLICA_SERIES`] replicas: what `/metrics` shows of it, and nothing a
    /// query touches or a reload rebuilds grows with the zone.
    Regions(Vec<AtomicU64>),
}

fn zeros(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Counters {
    /// Zeroed counters for a configuration.
    pub fn new(config: &Config) -> Self {
        let chosen = config
            .zones
            .iter()
            .map(|z| {
                let replicas: usize = z.registries.iter().map(|r| r.replicas.len()).sum();
                if replicas > replicas::PER_REPLICA_SERIES {
                    return Chosen::Regions(zeros(config.regions.regions.len()));
                }
                let mut at = 0u32;
                let mut offsets: Vec<u32> = Vec::with_capacity(z.registries.len() + 1);
                for r in &z.registries {
                    offsets.push(at);
                    at += r.replicas.len() as u32;
                }
                offsets.push(at);
                Chosen::Replicas {
                    offsets,
                    counts: zeros(at as usize),
                }
            })
            .collect();
        Self {
            zone: zeros(config.zones.len() + 1),
            view: config.zones.iter().map(|z| zeros(z.views.len())).collect(),
            chosen,
        }
    }

    /// The counter of global answers choosing replica `p` (in region `region`) of registry
    /// `r` in zone `z`.
    fn chosen(&self, z: usize, r: usize, p: usize, region: Option<usize>) -> Option<&AtomicU64> {
        match self.chosen.get(z)? {
            Chosen::Replicas { offsets, counts } => counts.get(*offsets.get(r)? as usize + p),
            Chosen::Regions(counts) => counts.get(region?),
        }
    }

    /// Zone `z`'s answers by region, when it is counted that way.
    fn by_region(&self, z: usize) -> Option<&[AtomicU64]> {
        match self.chosen.get(z)? {
            Chosen::Regions(counts) => Some(counts),
            Chosen::Replicas { .. } => None,
        }
    }

    /// Copies the values of `old` (for `old_config`) into these counters, matching by name
    /// (answers counted by region do not split back into replicas).
    pub fn carry_from(&self, config: &Config, old: &Counters, old_config: &Config) {
        let add = |to: &AtomicU64, from: &AtomicU64| to.fetch_add(from.load(Relaxed), Relaxed);
        add(
            &self.zone[config.zones.len()],
            &old.zone[old_config.zones.len()],
        );
        let region = |i: usize| config.regions.find(&old_config.regions.regions[i].name);
        for (oz, ozone) in old_config.zones.iter().enumerate() {
            let Some(z) = config.zones.iter().position(|n| n.name == ozone.name) else {
                continue;
            };
            let zone = &config.zones[z];
            add(&self.zone[z], &old.zone[oz]);
            for (ov, oview) in ozone.views.iter().enumerate() {
                if let Some(v) = zone.views.iter().position(|n| n.name == oview.name) {
                    add(&self.view[z][v], &old.view[oz][ov]);
                }
            }
            match (&self.chosen[z], &old.chosen[oz]) {
                (Chosen::Regions(to), Chosen::Regions(from)) => {
                    for (i, c) in from.iter().enumerate() {
                        if let Some(n) = region(i) {
                            add(&to[n], c);
                        }
                    }
                }
                (Chosen::Regions(to), Chosen::Replicas { counts, .. }) => {
                    let reps = ozone.registries.iter().flat_map(|r| &r.replicas);
                    for (rep, c) in reps.zip(counts) {
                        if let Some(n) = region(rep.region_index) {
                            add(&to[n], c);
                        }
                    }
                }
                (Chosen::Replicas { .. }, Chosen::Regions(_)) => {}
                (
                    Chosen::Replicas { offsets, counts },
                    Chosen::Replicas {
                        offsets: ooffsets,
                        counts: ocounts,
                    },
                ) => carry_replicas(zone, ozone, (offsets, counts), (ooffsets, ocounts)),
            }
        }
    }
}

/// Carries per-replica counters of one zone by registry and region name.
fn carry_replicas(
    zone: &crate::config::Zone,
    ozone: &crate::config::Zone,
    (offsets, to): (&[u32], &[AtomicU64]),
    (ooffsets, from): (&[u32], &[AtomicU64]),
) {
    let add = |to: &AtomicU64, from: &AtomicU64| to.fetch_add(from.load(Relaxed), Relaxed);
    for (or, oreg) in ozone.registries.iter().enumerate() {
        let ostart = ooffsets[or] as usize;
        // The same registry (a file that did not change) at the same place: its counters copy
        // across as they are.
        if let Some(reg) = zone.registries.get(or)
            && std::sync::Arc::ptr_eq(reg, oreg)
        {
            let start = offsets[or] as usize;
            for p in 0..reg.replicas.len() {
                add(&to[start + p], &from[ostart + p]);
            }
            continue;
        }
        let Some((r, reg)) = zone.registry(&oreg.name) else {
            continue;
        };
        let start = offsets[r] as usize;
        for (op, orep) in oreg.replicas.iter().enumerate() {
            if let Some(p) = reg.replicas.iter().position(|n| n.region == orep.region) {
                add(&to[start + p], &from[ostart + op]);
            }
        }
    }
}

/// Everything `/metrics` shows that is not a counter kept here.
pub struct Gauges {
    /// Configuration generation.
    pub generation: u64,
    /// Successful reloads.
    pub reloads: u64,
    /// Failed reloads.
    pub reload_failures: u64,
    /// Times a registry entered fail-open.
    pub fail_open_events: u64,
    /// Registries failing open now.
    pub failing_open: usize,
    /// In a fleet: (connected to etcd now, times it lost etcd).
    pub fleet: Option<(bool, u64)>,
    /// RRSIGs made since start.
    pub signatures: u64,
    /// The most any probe started late recently.
    pub probe_late_recent: std::time::Duration,
}

/// Renders the Prometheus text exposition format.
pub fn render(
    m: &Metrics,
    counters: &Counters,
    config: &Config,
    health: &crate::health::HealthState,
    g: &Gauges,
) -> String {
    let mut s = String::new();
    let head = |s: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut s,
        "georoute_dns_queries_total",
        "counter",
        "DNS messages answered, by query type and response code.",
    );
    for (q, (_, qname)) in QTYPES.iter().enumerate() {
        for (r, (_, rname)) in RCODES.iter().enumerate() {
            let v = m.queries[q][r].load(Relaxed);
            if v > 0 {
                let _ = writeln!(
                    s,
                    "georoute_dns_queries_total{{qtype=\"{qname}\",rcode=\"{rname}\"}} {v}"
                );
            }
        }
    }
    head(
        &mut s,
        "georoute_dns_zone_queries_total",
        "counter",
        "DNS messages answered, by zone (none: outside every zone or unreadable).",
    );
    for (i, c) in counters.zone.iter().enumerate() {
        let zone = Label(config.zones.get(i).map_or("none", |z| z.name.as_str()));
        let _ = writeln!(
            s,
            "georoute_dns_zone_queries_total{{zone=\"{zone}\"}} {}",
            c.load(Relaxed)
        );
    }
    head(
        &mut s,
        "georoute_dns_view_queries_total",
        "counter",
        "DNS messages from clients of a view.",
    );
    for (z, zone) in config.zones.iter().enumerate() {
        for (v, view) in zone.views.iter().enumerate() {
            let _ = writeln!(
                s,
                "georoute_dns_view_queries_total{{zone=\"{}\",view=\"{}\"}} {}",
                Label(&zone.name),
                Label(&view.name),
                counters.view[z][v].load(Relaxed)
            );
        }
    }
    let chosen = |z, r, p| {
        let c = counters.chosen(z, r, p, None);
        c.map_or(0, |c| c.load(Relaxed))
    };
    let by_region = |z: usize| {
        let counts = counters.by_region(z)?;
        Some(counts.iter().map(|c| c.load(Relaxed)).collect())
    };
    replicas::render(&mut s, config, health, &chosen, &by_region);
    let v = |c: &AtomicU64| c.load(Relaxed);
    let series = [
        (
            "georoute_dns_dropped_total",
            "counter",
            "Packets dropped unanswered (too short for a header, or responses).",
            vec![("", v(&m.dropped))],
        ),
        (
            "georoute_dns_truncated_total",
            "counter",
            "UDP answers truncated (TC set).",
            vec![("", v(&m.truncated))],
        ),
        (
            "georoute_rrl_limited_total",
            "counter",
            "UDP responses limited by response rate limiting (dropped or sent truncated).",
            vec![("", v(&m.rate_limited))],
        ),
        (
            "georoute_rrl_slipped_total",
            "counter",
            "Limited UDP responses sent truncated (TC) so the client retries over TCP.",
            vec![("", v(&m.rate_limited_slipped))],
        ),
        (
            "georoute_dns_cookies_total",
            "counter",
            "Queries with a DNS COOKIE, by whether their server cookie verified.",
            vec![
                ("result=\"valid\"", v(&m.cookies_valid)),
                ("result=\"unverified\"", v(&m.cookies_unverified)),
            ],
        ),
        (
            "georoute_route_suspect_answers_total",
            "counter",
            "Global answers that chose a suspect replica (latest probe failed) and carried ttl.suspect.",
            vec![("", v(&m.suspect_answers))],
        ),
        (
            "georoute_route_failback_ramp_answers_total",
            "counter",
            "Global answers during a failback ramp: client returned to the recovering replica, or held back from it for now.",
            vec![
                ("outcome=\"returned\"", v(&m.ramp_returned)),
                ("outcome=\"held\"", v(&m.ramp_held)),
            ],
        ),
        (
            "georoute_probe_results_total",
            "counter",
            "Probe results, healthy (success) or not (failure).",
            vec![
                ("result=\"success\"", v(&m.probe_success)),
                ("result=\"failure\"", v(&m.probe_failure)),
            ],
        ),
        (
            "georoute_health_transitions_total",
            "counter",
            "Health transitions, by the new state.",
            vec![
                ("to=\"up\"", v(&m.transitions_up)),
                ("to=\"down\"", v(&m.transitions_down)),
            ],
        ),
        (
            "georoute_health_fail_open_events_total",
            "counter",
            "Times a registry had no healthy routed replica and answered as if all were healthy.",
            vec![("", g.fail_open_events)],
        ),
        (
            "georoute_health_fail_open_registries",
            "gauge",
            "Registries failing open now.",
            vec![("", g.failing_open as u64)],
        ),
        (
            "georoute_config_reloads_total",
            "counter",
            "Successful configuration reloads.",
            vec![("", g.reloads)],
        ),
        (
            "georoute_config_reload_failures_total",
            "counter",
            "Rejected configuration reloads (the previous one kept serving).",
            vec![("", g.reload_failures)],
        ),
        (
            "georoute_fleet_connected",
            "gauge",
            "1 while fleet health comes from etcd, 0 while this instance decides alone (no series outside a fleet).",
            g.fleet
                .map(|(c, _)| ("", u64::from(c)))
                .into_iter()
                .collect(),
        ),
        (
            "georoute_fleet_disconnects_total",
            "counter",
            "Times this instance lost etcd and fell back to probing every replica itself.",
            g.fleet.map(|(_, n)| ("", n)).into_iter().collect(),
        ),
        (
            "georoute_dnssec_signatures_total",
            "counter",
            "RRSIGs made (a signature cache miss each; steady answers reuse theirs).",
            vec![("", g.signatures)],
        ),
        (
            "georoute_config_generation",
            "gauge",
            "Generation of the configuration being served (1 at start).",
            vec![("", g.generation)],
        ),
    ];
    for (name, kind, help, samples) in series {
        head(&mut s, name, kind, help);
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(s, "{name} {value}");
            } else {
                let _ = writeln!(s, "{name}{{{labels}}} {value}");
            }
        }
    }
    for (name, help, h) in [
        (
            "georoute_probe_latency_seconds",
            "Probe duration.",
            &m.probe_latency,
        ),
        (
            "georoute_probe_lateness_seconds",
            "How late probes started against their schedule.",
            &m.probe_lateness,
        ),
    ] {
        head(&mut s, name, "histogram", help);
        h.render(&mut s, name);
    }
    head(
        &mut s,
        "georoute_probe_late_recent_seconds",
        "gauge",
        "The most any probe started late over the last 10 to 20 s (0 while probes run on schedule).",
    );
    let _ = writeln!(
        s,
        "georoute_probe_late_recent_seconds {}",
        g.probe_late_recent.as_secs_f64()
    );
    s
}
