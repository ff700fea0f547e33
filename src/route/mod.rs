//! Routing the global name: a pure function from (registry, health, location, subnet) to one
//! replica and the reason. No I/O, no clock, no randomness: every instance answers the same.

pub mod hash;

pub use hash::{replica_seed, subnet_key};

use crate::config::Registry;
use crate::geo::Point;

/// Registries may have at most this many replicas (Azure has about 60 regions).
pub const MAX_REPLICAS: usize = 128;

/// Why a replica was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The only eligible replica in the nearest band.
    Nearest,
    /// Hashed among this many equivalent eligible replicas in the nearest band.
    TieBand {
        /// Size of the band.
        among: usize,
    },
    /// The nearest band had no eligible replica: hashed among the nearest eligible ones.
    Failover {
        /// Replica that would have been chosen (nearest routed).
        nearest: usize,
        /// How many replicas shared the clients.
        among: usize,
    },
    /// Unknown location: the first eligible replica of `default_regions` (or the home region).
    DefaultOrder,
}

/// The routing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Index of the chosen replica in `registry.replicas`.
    pub replica: usize,
    /// Why.
    pub reason: Reason,
    /// True when the client subnet's hash picked among several replicas.
    pub hashed: bool,
    /// True when no routed replica was healthy and all were treated as healthy.
    pub fail_open: bool,
}

/// Picks the replica for the global name.
///
/// `healthy(i)` says whether replica `i` and its region are healthy. `location` is `None` when the
/// client could not be located. `key` is [`subnet_key`] of the client's subnet and the registry.
/// Returns `None` only when no routed replica is healthy and the registry says `all_down: closed`.
pub fn choose(
    registry: &Registry,
    healthy: impl Fn(usize) -> bool,
    location: Option<Point>,
    key: u64,
) -> Option<Decision> {
    let replicas = &registry.replicas;
    let n = replicas.len().min(MAX_REPLICAS);
    let routed = |i: usize| replicas[i].global_endpoint_routing;
    let any_healthy = (0..n).any(|i| routed(i) && healthy(i));
    if !any_healthy && !registry.routing.fail_open {
        return None;
    }
    let fail_open = !any_healthy;
    let eligible = |i: usize| routed(i) && (fail_open || healthy(i));

    let point = match location {
        Some(p) => p,
        None => {
            let order = registry.default_order.iter().chain([&registry.home]);
            if let Some(&i) = order.clone().find(|&&i| eligible(i)) {
                return Some(Decision {
                    replica: i,
                    reason: Reason::DefaultOrder,
                    hashed: false,
                    fail_open,
                });
            }
            // None of the default regions can serve: start from the first of them.
            let first = registry
                .default_order
                .first()
                .copied()
                .unwrap_or(registry.home);
            replicas[first].point
        }
    };

    // Rank by closeness (cosine of the angle, larger is nearer): no trigonometry per replica.
    let mut near = [f64::NEG_INFINITY; MAX_REPLICAS];
    let mut nearest_routed = usize::MAX;
    for (i, rep) in replicas.iter().enumerate().take(n) {
        if rep.global_endpoint_routing {
            near[i] = point.closeness(&rep.point);
            if nearest_routed == usize::MAX || near[i] > near[nearest_routed] {
                nearest_routed = i;
            }
        }
    }
    let d0 = Point::closeness_to_km(near[nearest_routed]);
    let routing = &registry.routing;
    let band_km = d0
        + routing
            .tie_band_km
            .max(d0 * routing.tie_band_percent / 100.0);
    // A hair of slack so that a replica exactly on the band's edge is inside it.
    let band = Point::km_to_closeness(band_km) - 1e-12;

    let mut candidates = [0u8; MAX_REPLICAS];
    let mut count = 0;
    for (i, &c) in near.iter().enumerate().take(n) {
        if c >= band && eligible(i) {
            candidates[count] = i as u8;
            count += 1;
        }
    }
    let reason = if count > 0 {
        if count == 1 {
            Reason::Nearest
        } else {
            Reason::TieBand { among: count }
        }
    } else {
        // Failover spread: the `failover_spread` nearest eligible replicas share the clients.
        for i in 0..n {
            if eligible(i) {
                candidates[count] = i as u8;
                count += 1;
            }
        }
        let list = &mut candidates[..count];
        list.sort_by(|&a, &b| {
            near[b as usize]
                .total_cmp(&near[a as usize])
                .then(a.cmp(&b))
        });
        count = count.min(registry.routing.failover_spread.max(1));
        Reason::Failover {
            nearest: nearest_routed,
            among: count,
        }
    };
    let list = &candidates[..count];
    let replica = if count == 1 {
        list[0] as usize
    } else {
        hash::rendezvous(list, key, |i| (replicas[i].weight, replicas[i].seed))
    };
    Some(Decision {
        replica,
        reason,
        hashed: count > 1,
        fail_open,
    })
}

#[cfg(test)]
mod tests;
