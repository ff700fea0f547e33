//! Deciding the global name for one client: view, location, routing and the ECS scope.
//! Shared by the query handler and `georoute explain`, so both always agree.

use super::wire::ClientSubnet;
use crate::config::latency::Measured;
use crate::geo::{Located, LocationSource};
use crate::health::HealthState;
use crate::route::{self, Decision};
use crate::state::Snapshot;
use crate::view::ViewMatch;
use std::net::IpAddr;

/// The address whose location counts: the ECS address when ECS is on and the option carries
/// address bits, otherwise the packet's source.
pub fn client_address(snap: &Snapshot, source: IpAddr, ecs: Option<&ClientSubnet>) -> IpAddr {
    match ecs {
        Some(e) if snap.config.geoip.ecs && e.source_prefix > 0 => e.address,
        _ => source,
    }
}

/// The full decision for a registry's global name.
#[derive(Debug, Clone)]
pub struct GlobalRoute<'a> {
    /// Where the client was placed (for a view: the view's region).
    pub located: Located<'a>,
    /// The routing decision; `None` when nothing may answer (`all_down: closed`).
    pub decision: Option<Decision>,
    /// The latency table's entry for the client's network, when it has one.
    pub measured: Option<&'a Measured>,
    /// ECS scope prefix for the answer (before clamping to the source prefix).
    pub scope: u8,
}

/// Routes a registry's global name for a client (not in a view, or in a routed view).
pub fn route_global<'a>(
    snap: &'a Snapshot,
    health: &HealthState,
    zone_index: usize,
    registry_index: usize,
    client: IpAddr,
    view: Option<ViewMatch<'a>>,
    now_ms: u64,
) -> GlobalRoute<'a> {
    let zone = &snap.config.zones[zone_index];
    let registry = &zone.registries[registry_index];
    let located = match view {
        Some(v) => Located {
            point: Some(v.view.point),
            source: LocationSource::Override {
                network: v.view.clients[0],
                region: Some(&snap.config.regions.get(v.view.region_index).name),
            },
            scope: v.scope,
        },
        None => snap.geo.locate(client),
    };
    let geo = &snap.config.geoip;
    // Measured round-trip times for the client's network (not inside a view: a view's clients
    // are placed at its region).
    let (measured, latency_scope) = match view {
        None if !geo.latency.is_empty() => geo.latency.find(client),
        _ => (None, 0),
    };
    let state = replica_state(snap, health, zone_index, registry_index);
    let key = route::subnet_key(client, geo.subnet_v4, geo.subnet_v6, registry.seed);
    let routed_client = route::Client {
        location: located.point,
        key,
        measured,
        now_ms,
    };
    let decision = route::choose_for(registry, state, &routed_client);
    let hashing_prefix = match client {
        IpAddr::V4(_) => geo.subnet_v4,
        IpAddr::V6(_) => geo.subnet_v6,
    };
    let scope = match (view, decision) {
        (Some(v), _) => v.scope,
        (None, Some(d)) if d.hashed => located.scope.max(latency_scope).max(hashing_prefix),
        _ => located.scope.max(latency_scope),
    };
    GlobalRoute {
        located,
        decision,
        measured,
        scope,
    }
}

/// What routing knows about each replica of a registry, read from the health table.
fn replica_state<'a>(
    snap: &'a Snapshot,
    health: &'a HealthState,
    zone_index: usize,
    registry_index: usize,
) -> impl Fn(usize) -> route::ReplicaNow + 'a {
    let registry = &snap.config.zones[zone_index].registries[registry_index];
    let ramp = registry.routing.failback_ramp_ms > 0;
    move |i: usize| {
        let region = registry.replicas[i].region_index;
        let replica = health.replica((zone_index, registry_index, i));
        route::ReplicaNow {
            healthy: health.region_up(region) && !replica.down,
            suspect: replica.suspect,
            recovered_at_ms: match ramp {
                true => health.recovered_at_ms((zone_index, registry_index, i), region),
                false => None,
            },
        }
    }
}

/// The replica the routing function picks now for a client at `point` (hashing key `key`,
/// no latency table): the status page's "who routes where".
pub fn route_at(
    snap: &Snapshot,
    health: &HealthState,
    zone_index: usize,
    registry_index: usize,
    point: crate::geo::Point,
    key: u64,
    now_ms: u64,
) -> Option<usize> {
    let registry = &snap.config.zones[zone_index].registries[registry_index];
    let client = route::Client {
        location: Some(point),
        key,
        measured: None,
        now_ms,
    };
    let state = replica_state(snap, health, zone_index, registry_index);
    route::choose_for(registry, state, &client).map(|d| d.replica)
}
