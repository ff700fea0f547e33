//! `georoute explain`: which answer a client gets for a name, and why, in words.
//!
//! It runs the very handler the server runs, on a query built here, and prints the routing
//! details (location source, distance to every replica, eligibility) for global names.

use crate::dns::global;
use crate::dns::names::Entry;
use crate::dns::wire::ClientSubnet;
use crate::dns::wire::to_wire;
use crate::dns::{Transport, handle};
use crate::geo::{GeoDetail, LocationSource};
use crate::health::HealthState;
use crate::route::Reason;
use crate::state::Snapshot;
use crate::view::{self, ViewMatch};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use std::fmt::Write;
use std::net::IpAddr;

/// Explains the answer to `name` (A query) for a client at `client`, optionally with an ECS.
pub fn explain(
    snap: &Snapshot,
    health: &HealthState,
    name: &str,
    client: IpAddr,
    ecs: Option<ipnet::IpNet>,
) -> String {
    let mut s = String::new();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let wire = to_wire(&name);
    let ecs = ecs.map(|n| ClientSubnet {
        address: n.network(),
        source_prefix: n.prefix_len(),
    });
    let _ = writeln!(s, "name:     {name}");
    let _ = match ecs {
        Some(e) => writeln!(
            s,
            "client:   {client} with ECS {}/{}",
            e.address, e.source_prefix
        ),
        None => writeln!(s, "client:   {client} (no ECS)"),
    };
    match snap.names.get(&snap.config, &wire) {
        None => {
            let _ = writeln!(
                s,
                "kind:     no such name ({})",
                match snap.names.enclosing_zone(&wire) {
                    Some(z) => format!("NXDOMAIN in zone {}", snap.config.zones[z].name),
                    None => "outside every zone: REFUSED".into(),
                }
            );
        }
        Some((z, Entry::Global { registry })) => {
            explain_global(&mut s, snap, health, z, registry, client, ecs.as_ref());
        }
        Some((z, entry)) => {
            let _ = writeln!(
                s,
                "kind:     {entry:?} in zone {} (static: does not depend on the client's location or health)",
                snap.config.zones[z].name
            );
        }
    }
    for rtype in [RecordType::A, RecordType::AAAA] {
        let _ = writeln!(
            s,
            "answer {rtype}: {}",
            answer_text(snap, health, &name, rtype, client, ecs)
        );
    }
    s
}

fn explain_global(
    s: &mut String,
    snap: &Snapshot,
    health: &HealthState,
    z: usize,
    registry: usize,
    client: IpAddr,
    ecs: Option<&ClientSubnet>,
) {
    let zone = &snap.config.zones[z];
    let reg = &zone.registries[registry];
    let _ = writeln!(
        s,
        "kind:     global name of registry {} in zone {} (defined in {})",
        reg.name,
        zone.name,
        zone.source_of(registry).display()
    );
    let view = view::select_view(zone, &snap.zones[z].views, client, ecs);
    let located_by = match view {
        Some(ViewMatch { scope: 0, .. }) => client,
        _ => global::client_address(snap, client, ecs),
    };
    if let Some(v) = view {
        let _ = writeln!(
            s,
            "view:     {} (region {}{})",
            v.view.name,
            snap.config.regions.get(v.view.region_index).name,
            if v.view.pinned {
                ", global pinned to its private address"
            } else {
                ", routed"
            }
        );
    } else {
        let _ = writeln!(s, "view:     none (public answers)");
    }
    let now_ms = crate::clock::unix_now_ms();
    let route = global::route_global(snap, health, z, registry, located_by, view, now_ms);
    let where_ = match (&route.located.source, route.located.point) {
        (_, None) => {
            format!("unknown (no override or GeoIP record for {located_by}): default_regions order")
        }
        (LocationSource::Override { network, region }, Some(p)) => format!(
            "{} {network}{} at {:.4}, {:.4}",
            if view.is_some() {
                "view network"
            } else {
                "override"
            },
            region.map(|r| format!(" (region {r})")).unwrap_or_default(),
            p.latitude,
            p.longitude
        ),
        (LocationSource::GeoIp { network, detail }, Some(p)) => format!(
            "GeoIP network {network}: {} at {:.4}, {:.4}",
            match detail {
                GeoDetail::Coordinates => "coordinates".to_string(),
                GeoDetail::Country(c) =>
                    format!("centroid of country {}", String::from_utf8_lossy(c)),
                GeoDetail::Continent(c) =>
                    format!("centroid of continent {}", String::from_utf8_lossy(c)),
                GeoDetail::Nothing => "nothing".to_string(),
            },
            p.latitude,
            p.longitude
        ),
        (LocationSource::Unknown, Some(_)) => "unknown".into(),
    };
    let _ = writeln!(s, "location: {where_} (looked up: {located_by})");
    if let Some(m) = route.measured {
        let mut times: Vec<(f64, &str)> = m
            .rtt_ms
            .iter()
            .map(|&(r, ms)| (ms, snap.config.regions.get(r).name.as_str()))
            .collect();
        times.sort_by(|a, b| a.0.total_cmp(&b.0));
        let list: Vec<String> = times.iter().map(|(ms, r)| format!("{r} {ms} ms")).collect();
        let _ = writeln!(
            s,
            "ranked:   by measured RTT ({} in geoip/latency.yaml): {}; tie band {} ms; regions without a time follow by distance",
            m.clients,
            list.join(", "),
            reg.routing.tie_band_ms
        );
    }
    let _ = writeln!(s, "replicas:");
    let _ = writeln!(
        s,
        "  {:<20} {:>11} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "region", "distance_km", "routing", "replica", "region", "weight", "eligible"
    );
    let ramp_ms = reg.routing.failback_ramp_ms;
    for (i, rep) in reg.replicas.iter().enumerate() {
        let id = (z, registry, i);
        let recovered = health.recovered_at_ms(id, rep.region_index);
        let ramp = crate::route::ramp_elapsed(recovered, now_ms, ramp_ms);
        let d = route
            .located
            .point
            .map(|p| format!("{:.0}", p.distance_km(&rep.point)))
            .unwrap_or_else(|| "-".into());
        let healthy = health.healthy((z, registry, i), rep.region_index);
        let region_up = health.region_up(rep.region_index);
        let _ = writeln!(
            s,
            "  {:<20} {:>11} {:>8} {:>8} {:>7} {:>7} {:>9}",
            rep.region,
            d,
            rep.global_endpoint_routing,
            if healthy || !region_up {
                "healthy"
            } else {
                "down"
            },
            if region_up { "up" } else { "down" },
            rep.weight,
            match (rep.global_endpoint_routing && healthy, ramp) {
                (false, _) => "no".to_string(),
                (true, None) if health.replica(id).suspect => "suspect".to_string(),
                (true, None) => "yes".to_string(),
                (true, Some(e)) => format!("ramp {}%", e * 100 / ramp_ms),
            }
        );
    }
    match route.decision {
        None => {
            let _ = writeln!(
                s,
                "choice:   none: no routed replica is healthy and routing.all_down is closed (NODATA)"
            );
        }
        Some(d) => {
            let why = match d.reason {
                Reason::Nearest => "the nearest eligible replica".to_string(),
                Reason::TieBand { among } => format!(
                    "hashed on the client subnet among {among} equivalent replicas (tie band)"
                ),
                Reason::Failover { nearest, among } => format!(
                    "failover: nearest routed replica {} is not eligible; hashed among the {among} nearest eligible within the failover band{}",
                    reg.replicas[nearest].region,
                    match (d.failover_limit, d.by_rtt) {
                        (Some(l), true) => format!(" (up to {l:.0} ms)"),
                        (Some(l), false) => format!(" (up to {l:.0} km)"),
                        (None, _) => String::new(),
                    }
                ),
                Reason::DefaultOrder => {
                    "unknown location: first eligible of default_regions / home region".into()
                }
            };
            let _ = writeln!(
                s,
                "choice:   {} ({why}){}{}{}",
                reg.replicas[d.replica].region,
                if d.fail_open {
                    " [fail open: no routed replica is healthy]"
                } else {
                    ""
                },
                match d.ramp {
                    crate::route::Ramp::Held => {
                        " [failback ramp: a recovering nearer replica has not taken this client back yet]"
                    }
                    crate::route::Ramp::Returned =>
                        " [failback ramp: returned to this recovering replica]",
                    _ => "",
                },
                if d.suspect {
                    format!(
                        " [suspect: its latest probe failed; TTL {} s instead of {} s]",
                        reg.ttl_suspect, reg.ttl_global
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(
        s,
        "scope:    /{} (ECS scope of the answer, before clamping to the source prefix)",
        route.scope
    );
}

fn answer_text(
    snap: &Snapshot,
    health: &HealthState,
    name: &str,
    rtype: RecordType,
    client: IpAddr,
    ecs: Option<ClientSubnet>,
) -> String {
    let packet = crate::dns::wire::build_query(name, u16::from(rtype), ecs);
    let mut out = Vec::new();
    let request = crate::dns::Request {
        packet: &packet,
        source: client,
        transport: Transport::Tcp,
        now_ms: crate::clock::unix_now_ms(),
    };
    // The query carries no COOKIE, so the secret is never used.
    let secrets = crate::dns::cookie::Secrets {
        current: [0; 16],
        previous: None,
    };
    handle(snap, health, &secrets, &request, &mut out);
    match Message::from_vec(&out) {
        Err(e) => format!("(undecodable: {e})"),
        Ok(m) => {
            let mut parts: Vec<String> = m
                .answers
                .iter()
                .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
                .collect();
            if parts.is_empty() {
                parts.push(format!("{} (no records)", m.metadata.response_code));
            }
            parts.join(" | ")
        }
    }
}
