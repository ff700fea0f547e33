//! The admin JSON and text documents: `/status` (configuration generation, replicas, health,
//! probes, regions, recent events) and `/metrics`.

use super::Admin;
use crate::health::prober::TargetKey;
use serde_json::json;

/// The `/status` document: configuration generation, registries' replicas with routing flag,
/// health and probe details (the first [`super::STATUS_REGISTRIES`], or those `query` names
/// with `registry=`), region health and whether probes run on schedule.
pub fn status(admin: &Admin, query: Option<&str>) -> serde_json::Value {
    let serving = admin.shared.load();
    let (snapshot, health) = (&serving.snapshot, &serving.health);
    let config = &snapshot.config;
    let selection = super::Selection::of(config, query, super::STATUS_REGISTRIES);
    let shown = &selection.shown;
    let wanted: std::collections::HashSet<(&str, &str)> = shown
        .iter()
        .map(|&(z, r)| {
            (
                config.zones[z].name.as_str(),
                config.zones[z].registries[r].name.as_str(),
            )
        })
        .collect();
    let probes = admin.prober.status_where(|key| match key {
        TargetKey::Region(_) => true,
        TargetKey::Replica(zone, registry, _) => {
            wanted.contains(&(zone.as_str(), registry.as_str()))
        }
    });
    let zones: Vec<_> = config.zones.iter().enumerate().map(|(z, zone)| {
        let listed = shown.iter().filter(|s| s.0 == z).map(|s| (s.1, &zone.registries[s.1]));
        let registries: Vec<_> = listed.map(|(r, reg)| {
            let replicas: Vec<_> = reg.replicas.iter().enumerate().map(|(i, rep)| {
                let key = TargetKey::Replica(zone.name.clone(), reg.name.clone(), rep.region.to_string())
                    .label();
                json!({
                    "region": &*rep.region,
                    "global_endpoint_routing": rep.global_endpoint_routing,
                    "weight": rep.weight,
                    "healthy": health.replica_up((z, r, i)),
                    "suspect": health.replica((z, r, i)).suspect,
                    "failback_ramp": ramp_status(reg, health.recovered_at_ms((z, r, i), rep.region_index)),
                    "region_healthy": health.region_up(rep.region_index),
                    "eligible": rep.global_endpoint_routing && health.healthy((z, r, i), rep.region_index),
                    "probe": probes.get(&key),
                })
            }).collect();
            json!({"name": reg.name, "global_name": format!("{}.{}", reg.name, zone.name), "replicas": replicas})
        }).collect();
        json!({"zone": zone.name, "registries_total": zone.registries.len(), "registries": registries})
    }).collect();
    // Regions worth reporting: marked down, or watched by a region probe.
    let regions: serde_json::Map<String, serde_json::Value> = config
        .regions
        .regions
        .iter()
        .enumerate()
        .filter(|(i, r)| !health.region_up(*i) || config.region_health.probes.contains_key(&r.name))
        .map(|(i, r)| {
            (
                r.name.clone(),
                json!({
                    "healthy": health.region_up(i),
                    "operator_reason": config.region_health.down.get(&r.name),
                    "probe": probes.get(TargetKey::Region(r.name.clone()).label()),
                }),
            )
        })
        .collect();
    let (fail_open, fail_open_events) = admin.prober.fail_open();
    let reload = admin.shared.reload_status();
    json!({
        "generation": snapshot.generation,
        "reloads": reload.reloads,
        "reload_failures": reload.failures,
        "last_reload_error": reload.last_error,
        "fail_open": fail_open,
        "fail_open_events": fail_open_events,
        "registries_total": selection.total,
        "registries_listed": shown.len(),
        "zones": zones,
        "regions": regions,
        "probe_schedule": admin.prober.schedule(),
        "events": admin.shared.events.recent(),
        "fleet": admin.fleet.as_ref().map(|f| f.status()),
    })
}

/// The `/metrics` text.
pub fn metrics(admin: &Admin) -> String {
    let serving = admin.shared.load();
    let snapshot = &serving.snapshot;
    let reload = admin.shared.reload_status();
    let (failing, events) = admin.prober.fail_open();
    let gauges = crate::metrics::Gauges {
        generation: snapshot.generation,
        reloads: reload.reloads,
        reload_failures: reload.failures,
        fail_open_events: events,
        failing_open: failing.len(),
        fleet: admin
            .fleet
            .as_ref()
            .map(|f| (f.connected(), f.disconnects())),
        signatures: crate::dnssec::sign::signatures_made(),
        probe_late_recent: admin.prober.late_recent(),
    };
    crate::metrics::render(
        &admin.shared.metrics,
        &snapshot.counters,
        &snapshot.config,
        &serving.health,
        &gauges,
    )
}

/// A replica's failback ramp right now: the share of its clients it has back, or null when it
/// is not ramping.
fn ramp_status(reg: &crate::config::Registry, recovered_at_ms: Option<u64>) -> serde_json::Value {
    let ramp_ms = reg.routing.failback_ramp_ms;
    match crate::route::ramp_elapsed(recovered_at_ms, crate::clock::unix_now_ms(), ramp_ms) {
        Some(elapsed) => json!({
            "share": elapsed as f64 / ramp_ms as f64,
            "recovered_at_unix": recovered_at_ms.unwrap_or(0) as f64 / 1000.0,
        }),
        _ => serde_json::Value::Null,
    }
}
