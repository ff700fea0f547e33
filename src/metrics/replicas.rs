//! The per-replica series of `/metrics` (health, global answers by chosen replica), and for a
//! zone of more than [`PER_REPLICA_SERIES`] replicas their sums by region instead: a million
//! registries must not make a scrape of millions of lines.

use crate::config::Config;
use crate::health::HealthState;
use std::fmt::Write;

/// A zone with at most this many replicas gets a series per replica; a larger one gets sums
/// by region (`georoute_health_replicas_down`, `georoute_dns_global_answers_by_region_total`).
pub const PER_REPLICA_SERIES: usize = 10_000;

/// A per-replica family: name, type, help, and its value of replica (zone, registry, index).
type PerReplica<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a dyn Fn(usize, usize, usize) -> u64,
);
/// Per region: (replicas, not healthy, global answers).
type Sums = (u64, u64, u64);
/// A summed family: name, type, help, and which sum it shows.
type Family = (&'static str, &'static str, &'static str, fn(&Sums) -> u64);

/// Writes the per-replica (or per-region) series.
/// `chosen(z, r, p)` is the global answers that chose replica `p` of registry `r` of zone `z`;
/// `by_region(z)` zone `z`'s answers by region, when it is counted that way (a zone of more
/// than [`PER_REPLICA_SERIES`] replicas), by catalogue index.
pub(super) fn render(
    s: &mut String,
    config: &Config,
    health: &HealthState,
    chosen: &dyn Fn(usize, usize, usize) -> u64,
    by_region: &dyn Fn(usize) -> Option<Vec<u64>>,
) {
    let head = |s: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let answers: Vec<Option<Vec<u64>>> = (0..config.zones.len()).map(by_region).collect();
    let small: Vec<usize> = (0..config.zones.len())
        .filter(|&z| answers[z].is_none())
        .collect();
    let large: Vec<usize> = (0..config.zones.len())
        .filter(|&z| answers[z].is_some())
        .collect();
    let label = Label;
    let up = |z: usize, r: usize, p: usize| {
        let region = config.zones[z].registries[r].replicas[p].region_index;
        u64::from(health.healthy((z, r, p), region))
    };
    let per_replica: [PerReplica<'_>; 2] = [
        (
            "georoute_health_replica_up",
            "gauge",
            "1 while the replica and its region are healthy (whatever its routing flag), else 0.",
            &up,
        ),
        (
            "georoute_dns_global_answers_total",
            "counter",
            "Global-name answers, by the chosen replica's region.",
            chosen,
        ),
    ];
    for (name, kind, help, value) in per_replica {
        head(s, name, kind, help);
        for &z in &small {
            let zone = &config.zones[z];
            for (r, reg) in zone.registries.iter().enumerate() {
                for (p, rep) in reg.replicas.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "{name}{{zone=\"{}\",registry=\"{}\",region=\"{}\"}} {}",
                        label(&zone.name),
                        label(&reg.name),
                        label(&rep.region),
                        value(z, r, p)
                    );
                }
            }
        }
    }
    if large.is_empty() {
        return;
    }
    // Sums by region, for the zones too large for a series per replica: (replicas, down,
    // global answers) per catalogue region.
    let regions = config.regions.regions.len();
    let sums: Vec<(usize, Vec<Sums>)> = large
        .iter()
        .map(|&z| {
            let mut sum = vec![(0u64, 0u64, 0u64); regions];
            for (r, reg) in config.zones[z].registries.iter().enumerate() {
                for (p, rep) in reg.replicas.iter().enumerate() {
                    let slot = &mut sum[rep.region_index];
                    slot.0 += 1;
                    slot.1 += u64::from(!health.healthy((z, r, p), rep.region_index));
                }
            }
            for (slot, n) in sum.iter_mut().zip(answers[z].iter().flatten()) {
                slot.2 = *n;
            }
            (z, sum)
        })
        .collect();
    let families: [Family; 3] = [
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

/// A label value escaped as the text exposition format requires (backslash, quote, newline).
pub(super) struct Label<'a>(pub &'a str);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
