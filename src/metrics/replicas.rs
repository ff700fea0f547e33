//! The per-replica series of `/metrics` (health, global answers by chosen replica), and for a
//! zone of more than [`PER_REPLICA_SERIES`] replicas their sums by region instead: a million
//! registries must not make a scrape of millions of lines.

use super::Counters;
use crate::config::Config;
use crate::health::HealthState;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// A zone with at most this many replicas gets a series per replica; a larger one gets sums
/// by region (`georoute_health_replicas_down`, `georoute_dns_global_answers_by_region_total`).
pub const PER_REPLICA_SERIES: usize = 10_000;

/// Writes the per-replica (or per-region) series.
pub(super) fn render(s: &mut String, counters: &Counters, config: &Config, health: &HealthState) {
    let head = |s: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let replicas = |z: usize| -> usize {
        let o = &counters.offsets[z];
        o.last().copied().unwrap_or(0) as usize
    };
    let small: Vec<usize> = (0..config.zones.len())
        .filter(|&z| replicas(z) <= PER_REPLICA_SERIES)
        .collect();
    let large: Vec<usize> = (0..config.zones.len())
        .filter(|&z| replicas(z) > PER_REPLICA_SERIES)
        .collect();
    let label = super::Label;
    head(
        s,
        "georoute_health_replica_up",
        "gauge",
        "1 while the replica and its region are healthy (whatever its routing flag), else 0.",
    );
    for &z in &small {
        let zone = &config.zones[z];
        for (r, reg) in zone.registries.iter().enumerate() {
            for (p, rep) in reg.replicas.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "georoute_health_replica_up{{zone=\"{}\",registry=\"{}\",region=\"{}\"}} {}",
                    label(&zone.name),
                    label(&reg.name),
                    label(&rep.region),
                    u8::from(health.healthy((z, r, p), rep.region_index))
                );
            }
        }
    }
    head(
        s,
        "georoute_dns_global_answers_total",
        "counter",
        "Global-name answers, by the chosen replica's region.",
    );
    for &z in &small {
        let zone = &config.zones[z];
        for (r, reg) in zone.registries.iter().enumerate() {
            for (p, rep) in reg.replicas.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "georoute_dns_global_answers_total{{zone=\"{}\",registry=\"{}\",region=\"{}\"}} {}",
                    label(&zone.name),
                    label(&reg.name),
                    label(&rep.region),
                    counters.chosen(z, r, p).map_or(0, |c| c.load(Relaxed))
                );
            }
        }
    }
    if large.is_empty() {
        return;
    }
    // Sums by region, for the zones too large for a series per replica: (replicas, down,
    // global answers) per catalogue region.
    let regions = config.regions.regions.len();
    let sums: Vec<(usize, Vec<(u64, u64, u64)>)> = large
        .iter()
        .map(|&z| {
            let mut sum = vec![(0u64, 0u64, 0u64); regions];
            for (r, reg) in config.zones[z].registries.iter().enumerate() {
                for (p, rep) in reg.replicas.iter().enumerate() {
                    let slot = &mut sum[rep.region_index];
                    slot.0 += 1;
                    slot.1 += u64::from(!health.healthy((z, r, p), rep.region_index));
                    slot.2 += counters.chosen(z, r, p).map_or(0, |c| c.load(Relaxed));
                }
            }
            (z, sum)
        })
        .collect();
    let families: [(&str, &str, &str, fn(&(u64, u64, u64)) -> u64); 3] = [
        (
            "georoute_health_replicas",
            "gauge",
            "Replicas by region, in a zone too large for a series per replica.",
            |c| c.0,
        ),
        (
            "georoute_health_replicas_down",
            "gauge",
            "Replicas not healthy (or in a region down) by region, in a zone too large for a series per replica.",
            |c| c.1,
        ),
        (
            "georoute_dns_global_answers_by_region_total",
            "counter",
            "Global-name answers by the chosen replica's region, in a zone too large for a series per replica.",
            |c| c.2,
        ),
    ];
    for (name, kind, help, value) in families {
        head(s, name, kind, help);
        for (z, sum) in &sums {
            for (i, c) in sum.iter().enumerate().filter(|(_, c)| c.0 > 0) {
                let _ = writeln!(
                    s,
                    "{name}{{zone=\"{}\",region=\"{}\"}} {}",
                    label(&config.zones[*z].name),
                    label(&config.regions.regions[i].name),
                    value(c)
                );
            }
        }
    }
}
