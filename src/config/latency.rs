//! `geoip/latency.yaml` (optional): measured round-trip times from client networks to regions,
//! which rank replicas ahead of distance. Read, checked and looked up here.

use super::RegionCatalog;
use super::error::{ConfigError, Problems};
use super::spec::SpannedText;
use super::values::parse_net;
use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// The file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LatencyFile {
    /// One entry per client network.
    #[serde(default)]
    pub networks: Vec<LatencySpec>,
}

/// One client network's measured times.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// The client network.
    pub clients: SpannedText,
    /// Region name → round-trip time in milliseconds.
    pub rtt_ms: BTreeMap<String, Spanned<f64>>,
}

/// One checked entry.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The client network.
    pub clients: IpNet,
    /// (region catalogue index, round-trip time in ms), by region index.
    pub rtt_ms: Vec<(usize, f64)>,
}

impl Measured {
    /// The measured time to a region, if any.
    pub fn rtt(&self, region_index: usize) -> Option<f64> {
        self.rtt_ms
            .iter()
            .find(|(r, _)| *r == region_index)
            .map(|(_, ms)| *ms)
    }
}

/// The latency table: entries longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct LatencyTable {
    entries: Vec<Measured>,
}

/// Longest round-trip time accepted (a typo guard: no network path takes a minute).
const MAX_RTT_MS: f64 = 60_000.0;

impl LatencyTable {
    /// Checks and builds the table (unknown regions, duplicate networks, bad times are errors at
    /// their file:line:col).
    pub fn build(
        path: &Path,
        file: LatencyFile,
        regions: &RegionCatalog,
        found: &mut Vec<ConfigError>,
    ) -> Self {
        let mut p = Problems::new(path, found);
        let mut entries: Vec<Measured> = Vec::new();
        let mut seen: Vec<(IpNet, SpannedText)> = Vec::new();
        for spec in file.networks {
            let Some(clients) = parse_net(&spec.clients, &mut p) else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == clients) {
                p.at(
                    &spec.clients,
                    format!(
                        "{clients} is listed twice (first at line {}); nested networks are fine, the longest prefix wins",
                        first.referenced.line()
                    ),
                );
                continue;
            }
            seen.push((clients, spec.clients.clone()));
            if spec.rtt_ms.is_empty() {
                p.at(&spec.clients, format!("{clients}: rtt_ms names no region"));
                continue;
            }
            let mut rtt_ms = Vec::new();
            for (name, ms) in &spec.rtt_ms {
                let Some(r) = regions.find(&name.to_ascii_lowercase()) else {
                    p.at(
                        ms,
                        format!("unknown region {name:?} (not in geoip/regions.yaml)"),
                    );
                    continue;
                };
                if !(ms.value.is_finite() && ms.value >= 0.0 && ms.value <= MAX_RTT_MS) {
                    p.at(
                        ms,
                        format!(
                            "rtt_ms.{name} must be 0..={MAX_RTT_MS} milliseconds, not {}",
                            ms.value
                        ),
                    );
                    continue;
                }
                rtt_ms.push((r, ms.value));
            }
            rtt_ms.sort_by_key(|(r, _)| *r);
            entries.push(Measured { clients, rtt_ms });
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.clients.prefix_len()));
        Self { entries }
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `addr` (longest prefix), and the shortest prefix around `addr` within which
    /// every address gets the same entry or none (the ECS scope the table imposes).
    pub fn find(&self, addr: IpAddr) -> (Option<&Measured>, u8) {
        let mut floor = 0u8;
        for e in &self.entries {
            if e.clients.contains(&addr) {
                return (Some(e), floor.max(e.clients.prefix_len()));
            }
            floor = floor.max(super::separating_prefix(addr, &e.clients));
        }
        (None, floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(net: &str, region: usize, ms: f64) -> Measured {
        Measured {
            clients: net.parse().unwrap(),
            rtt_ms: vec![(region, ms)],
        }
    }

    #[test]
    fn longest_prefix_wins_and_the_scope_stops_at_other_networks() {
        let mut entries = vec![entry("10.0.0.0/8", 0, 50.0), entry("10.1.0.0/16", 1, 12.0)];
        entries.sort_by_key(|e| std::cmp::Reverse(e.clients.prefix_len()));
        let table = LatencyTable { entries };
        let at = |a: &str| {
            let (m, scope) = table.find(a.parse().unwrap());
            (m.map(|m| m.clients.to_string()), scope)
        };
        assert_eq!(at("10.1.2.3"), (Some("10.1.0.0/16".into()), 16));
        // In the /8 but outside the /16: the /8's entry, for a block that does not reach 10.1/16.
        assert_eq!(at("10.2.0.1"), (Some("10.0.0.0/8".into()), 15));
        assert_eq!(at("192.0.2.1"), (None, 1));
        assert_eq!(at("2001:db8::1"), (None, 0));
        assert_eq!(table.entries[0].rtt(1), Some(12.0));
        assert_eq!(table.entries[0].rtt(0), None);
    }
}
