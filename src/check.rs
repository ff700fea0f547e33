//! What `georoute check` prints of a valid configuration, in the configuration's own words:
//! keys as they are written in YAML, addresses as plain comma-separated text, durations as
//! `60s`, every TTL, the routing keys in force, the views, and each signed zone's DS.

use crate::config::{Addresses, Config, Registry, Replica, View, Zone};
use crate::snapshot::Snapshot;
use std::fmt::Write;

/// The whole report for a snapshot that loaded.
pub fn render(snap: &Snapshot) -> String {
    let c = &snap.config;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "configuration OK: {} zone(s), {} region(s) in the catalogue, {} GeoIP database(s)",
        c.zones.len(),
        c.regions.regions.len(),
        c.geoip.databases.len()
    );
    if let Some(f) = &c.fleet {
        let quorum = match f.quorum {
            crate::config::fleet::Quorum::Majority => "majority".to_string(),
            crate::config::fleet::Quorum::Count(n) => n.to_string(),
        };
        let _ = writeln!(
            s,
            "fleet: etcd {}, prefix {}, observers {}, quorum {quorum}, lease {}",
            f.etcd.join(", "),
            f.prefix,
            f.observers,
            duration(f.lease.as_millis() as u64)
        );
    }
    for (z, zone) in c.zones.iter().enumerate() {
        zone_lines(&mut s, zone);
        if let Some(signing) = &snap.zones[z].signing {
            let _ = writeln!(
                s,
                "  signed: algorithm {}, key tag {}, signature_validity {}; for the parent zone:",
                signing.key.algorithm,
                signing.key.key_tag,
                duration(u64::from(signing.validity_s) * 1000)
            );
            let _ = writeln!(s, "    {}", signing.ds_text(&zone.name));
            let _ = writeln!(s, "    {}", signing.key.dnskey_text(&zone.name));
        }
        for view in &zone.views {
            view_line(&mut s, c, view);
        }
        for (position, registry) in zone.registries.iter().enumerate() {
            registry_lines(&mut s, zone, position, registry);
        }
        if zone.files.len() > 1 {
            let _ = writeln!(
                s,
                "  files: {} and {} more in {}",
                zone.files[0].display(),
                zone.files.len() - 1,
                zone.files[1]
                    .parent()
                    .map_or("?".into(), |d| d.display().to_string())
            );
        }
    }
    s
}

fn zone_lines(s: &mut String, zone: &Zone) {
    let _ = writeln!(
        s,
        "zone {} (ttl {}, SOA {} {} serial {}, name servers {}, {} view(s), {} registr{})",
        zone.name,
        zone.ttl,
        zone.soa.mname,
        zone.soa.rname,
        zone.soa.serial,
        zone.nameservers
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        zone.views.len(),
        zone.registries.len(),
        if zone.registries.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
}

fn view_line(s: &mut String, c: &Config, view: &View) {
    let clients: Vec<String> = view.clients.iter().map(ToString::to_string).collect();
    let trusted: Vec<String> = view
        .trusted_resolvers
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut names: Vec<&str> = view.registries.keys().map(String::as_str).collect();
    names.sort_unstable();
    let _ = writeln!(
        s,
        "  view {}: clients {}; region {}; global {}; fallback {}; trusted_resolvers {}; registries {}",
        view.name,
        clients.join(", "),
        c.regions.get(view.region_index).name,
        if view.pinned { "pinned" } else { "routed" },
        if view.fallback_public {
            "public"
        } else {
            "none"
        },
        none_if_empty(&trusted.join(", ")),
        none_if_empty(&names.join(", "))
    );
}

fn registry_lines(s: &mut String, zone: &Zone, position: usize, r: &Registry) {
    let answer = match r.global_answer {
        crate::config::GlobalAnswer::Cname => "cname",
        crate::config::GlobalAnswer::Address => "address",
    };
    let _ = writeln!(
        s,
        "  registry {}.{}: home_region {}, global_answer {answer}, regional_endpoints {}, data_endpoints {}, probe {}",
        r.name,
        zone.name,
        r.replicas[r.home].region,
        r.regional_endpoints,
        r.data_endpoints,
        r.probe
    );
    let _ = writeln!(
        s,
        "    ttl: global {}, suspect {}, regional {}, data {}",
        r.ttl_global, r.ttl_suspect, r.ttl_regional, r.ttl_data
    );
    let k = &r.routing;
    let _ = writeln!(
        s,
        "    routing: tie_band_km {}, tie_band_percent {}, tie_band_ms {}, failover_spread {}, failover_band_percent {}, failback_ramp {}, all_down {}",
        k.tie_band_km,
        k.tie_band_percent,
        k.tie_band_ms,
        k.failover_spread,
        k.failover_band_percent,
        duration(k.failback_ramp_ms),
        if k.fail_open { "open" } else { "closed" }
    );
    let source = zone.source_of(position);
    if source != zone.files[0] {
        let _ = writeln!(s, "    defined in: {}", source.display());
    }
    if !r.default_order.is_empty() {
        let regions: Vec<&str> = r
            .default_order
            .iter()
            .map(|&i| r.replicas[i].region.as_ref())
            .collect();
        let _ = writeln!(s, "    default_regions: {}", regions.join(", "));
    }
    for p in &r.replicas {
        replica_line(s, r, p);
    }
}

fn replica_line(s: &mut String, r: &Registry, p: &Replica) {
    let mut line = format!(
        "    replica {}: global_endpoint_routing {}, weight {}, addresses {}",
        p.region,
        p.global_endpoint_routing,
        p.weight,
        addresses(&p.addresses)
    );
    if !p.data_addresses.is_empty() {
        let _ = write!(line, ", data_addresses {}", addresses(&p.data_addresses));
    }
    if !p.probe_url.is_empty() {
        let _ = write!(line, ", probe_url {}", p.probe_url);
    }
    if let Some(a) = p.probe_address {
        let _ = write!(line, ", probe_address {a}");
    }
    if p.probe != r.probe {
        let _ = write!(line, ", probe {}", p.probe);
    }
    let _ = writeln!(s, "{line}");
}

/// Addresses as the YAML lists them: IPv4 first, comma-separated.
pub fn addresses(a: &Addresses) -> String {
    let all: Vec<String> =
        a.v4.iter()
            .map(ToString::to_string)
            .chain(a.v6.iter().map(ToString::to_string))
            .collect();
    none_if_empty(&all.join(", ")).to_string()
}

/// A duration as the configuration writes it: `0s`, `500ms`, `60s`, `2m`, `3h`, `7d`.
pub fn duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    for (size, unit) in UNITS {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}

#[cfg(test)]
mod tests;
