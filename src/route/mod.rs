//! Routing the global name: a pure function from (registry, health, location, subnet) to one
//! replica and the reason. No I/O, no clock, no randomness: every instance answers the same.

use crate::hash;

use crate::config::MAX_REPLICAS;
pub use crate::hash::{replica_seed, subnet_key};

use crate::config::latency::Measured;
use crate::config::{Registry, Routing};
use crate::geo::Point;
use std::cmp::Ordering;

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

/// What a failback ramp did to this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ramp {
    /// No replica was ramping for this client's registry.
    #[default]
    None,
    /// A recovering replica nearer than the answer has not taken this client back yet.
    Held,
    /// The answer is a recovering replica that has taken this client back.
    Returned,
    /// Replicas are ramping, but neither of the above applies to this client.
    Unaffected,
}

/// The routing decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Index of the chosen replica in `registry.replicas`.
    pub replica: usize,
    /// Why.
    pub reason: Reason,
    /// True when the client subnet's hash decided (among several replicas, or by a ramp).
    pub hashed: bool,
    /// True when no routed replica was healthy and all were treated as healthy.
    pub fail_open: bool,
    /// True when the chosen replica is suspect (its answer gets `ttl.suspect`).
    pub suspect: bool,
    /// True when measured round-trip times decided (the band the answer came from was ranked
    /// by them).
    pub by_rtt: bool,
    /// The failback ramp's part.
    pub ramp: Ramp,
    /// The failover band's outer edge (km, or ms when `by_rtt`), when failing over.
    pub failover_limit: Option<f64>,
}

/// What routing knows about one replica now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaNow {
    /// The replica and its region are healthy.
    pub healthy: bool,
    /// Its latest probe failed (not down yet).
    pub suspect: bool,
    /// When it last became eligible again (Unix ms), for the failback ramp.
    pub recovered_at_ms: Option<u64>,
}

/// What routing knows about the client.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// Where it is; `None` when it could not be located.
    pub location: Option<Point>,
    /// [`subnet_key`] of its subnet and the registry.
    pub key: u64,
    /// Measured round-trip times of its network (`geoip/latency.yaml`), if any.
    pub measured: Option<&'a Measured>,
    /// Now (Unix ms), for the failback ramp.
    pub now_ms: u64,
}

/// A replica's rank for one client: lower is better. Tier 0 ranks by a measured round-trip time
/// (ms), tier 1 by distance, kept as the negated cosine of the angle (no trigonometry per replica).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Rank {
    tier: u8,
    value: f64,
}

impl Rank {
    /// The rank's metric in its unit: ms, or km.
    fn metric(self) -> f64 {
        match self.tier {
            0 => self.value,
            _ => Point::closeness_to_km(-self.value),
        }
    }

    /// The outer edge of a band `width(metric)` wide beyond this rank, in the same tier.
    fn widen(self, width: impl Fn(f64) -> f64) -> Rank {
        let m = self.metric();
        let edge = m + width(m);
        let value = match self.tier {
            0 => edge,
            // A hair of slack so that a replica exactly on the band's edge is inside it.
            _ => -(Point::km_to_closeness(edge) - 1e-12),
        };
        Rank {
            tier: self.tier,
            value,
        }
    }

    fn within(self, edge: Rank) -> bool {
        self.tier == edge.tier && self.value <= edge.value
    }
}

/// Width of the equivalence band at a metric (ms when `rtt`, else km).
pub fn tie_width(routing: &Routing, rtt: bool, metric: f64) -> f64 {
    match rtt {
        true => routing.tie_band_ms,
        false => routing
            .tie_band_km
            .max(metric * routing.tie_band_percent / 100.0),
    }
}

/// Width of the failover band beyond the nearest eligible replica's metric.
pub fn failover_width(routing: &Routing, rtt: bool, metric: f64) -> f64 {
    (metric * routing.failover_band_percent / 100.0).max(tie_width(routing, rtt, metric))
}

/// How far (ms) into its failback ramp a replica that became eligible again at
/// `recovered_at_ms` is at `now_ms`; `None` when no ramp is configured, none started, or it is
/// over.
pub fn ramp_elapsed(recovered_at_ms: Option<u64>, now_ms: u64, ramp_ms: u64) -> Option<u64> {
    let elapsed = now_ms.saturating_sub(recovered_at_ms?);
    (ramp_ms > 0 && elapsed < ramp_ms).then_some(elapsed)
}

/// Whether a ramping replica has taken the client with `key` back, `elapsed_ms` into a ramp of
/// `ramp_ms`: a fixed draw per (client, replica) against the share so far, so a client that has
/// returned stays returned.
pub fn ramp_returned(key: u64, replica_seed: u64, elapsed_ms: u64, ramp_ms: u64) -> bool {
    let draw = hash::mix64(key ^ replica_seed ^ 0x7261_6d70_7261_6d70);
    let share = elapsed_ms as f64 / ramp_ms as f64;
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// Picks the replica for the global name: eligibility, rank (measured RTT, then
/// distance), equivalence band, failover spread within the failover band, failback ramp.
/// Returns `None` only when no routed replica is healthy and the registry says `all_down: closed`.
pub fn choose_for(
    registry: &Registry,
    state: impl Fn(usize) -> ReplicaNow,
    client: &Client<'_>,
) -> Option<Decision> {
    let replicas = &registry.replicas;
    let routing = &registry.routing;
    let n = replicas.len().min(MAX_REPLICAS);
    // One pass over the replicas: each one's state is read once.
    const ROUTED: u8 = 1;
    const HEALTHY: u8 = 2;
    const SUSPECT: u8 = 4;
    const RAMPING: u8 = 8;
    const RETURNED: u8 = 16;
    let mut flags = [0u8; MAX_REPLICAS];
    let mut any_healthy = false;
    let ramp_ms = routing.failback_ramp_ms;
    for (i, f) in flags.iter_mut().enumerate().take(n) {
        if !replicas[i].global_endpoint_routing {
            continue;
        }
        let st = state(i);
        *f = ROUTED | if st.suspect { SUSPECT } else { 0 };
        if st.healthy {
            *f |= HEALTHY;
            any_healthy = true;
            if let Some(elapsed) = ramp_elapsed(st.recovered_at_ms, client.now_ms, ramp_ms) {
                *f |= RAMPING;
                if ramp_returned(client.key, replicas[i].seed, elapsed, ramp_ms) {
                    *f |= RETURNED;
                }
            }
        }
    }
    if !any_healthy && !routing.fail_open {
        return None;
    }
    let fail_open = !any_healthy;
    let usable = |i: usize| flags[i] & ROUTED != 0 && (fail_open || flags[i] & HEALTHY != 0);
    let held = |i: usize| flags[i] & (RAMPING | RETURNED) == RAMPING;
    // A ramp applies unless it would leave the client without an answer (or all fail open).
    let any_ramping = !fail_open && (0..n).any(|i| flags[i] & RAMPING != 0);
    let ramp_on = any_ramping && (0..n).any(|i| usable(i) && !held(i));
    let eligible = |i: usize| usable(i) && !(ramp_on && held(i));
    let decide = |replica: usize, reason: Reason, count: usize, by_rtt, limit| Decision {
        replica,
        reason,
        hashed: count > 1 || ramp_on,
        fail_open,
        suspect: flags[replica] & SUSPECT != 0,
        by_rtt,
        ramp: match (ramp_on, flags[replica] & RETURNED != 0) {
            (false, _) => Ramp::None,
            (true, true) => Ramp::Returned,
            (true, false) => Ramp::Unaffected,
        },
        failover_limit: limit,
    };

    let point = match client.location {
        Some(p) => p,
        None => {
            let order = registry.default_order.iter().chain([&registry.home]);
            if client.measured.is_none()
                && let Some(&i) = order.clone().find(|&&i| eligible(i))
            {
                let mut d = decide(i, Reason::DefaultOrder, 1, false, None);
                if ramp_on && order.take_while(|&&j| j != i).any(|&j| held(j)) {
                    d.ramp = Ramp::Held;
                }
                return Some(d);
            }
            // Measured times, or none of the default regions can serve: rank from the first.
            let first = registry
                .default_order
                .first()
                .copied()
                .unwrap_or(registry.home);
            replicas[first].point
        }
    };
    // Ranks are computed where needed (a dot product, or a look at the few measured times):
    // cheaper than filling an array sized for the largest registry.
    let rank = |i: usize| match client
        .measured
        .and_then(|m| m.rtt(replicas[i].region_index))
    {
        Some(ms) => Rank { tier: 0, value: ms },
        None => Rank {
            tier: 1,
            value: -point.closeness(&replicas[i].point),
        },
    };
    let mut nearest_routed = usize::MAX;
    let mut nearest_rank = Rank {
        tier: 1,
        value: f64::INFINITY,
    };
    for i in (0..n).filter(|&i| flags[i] & ROUTED != 0) {
        let r = rank(i);
        if nearest_routed == usize::MAX || r < nearest_rank {
            (nearest_routed, nearest_rank) = (i, r);
        }
    }
    if nearest_routed == usize::MAX {
        return None;
    }
    let mut by_rtt = nearest_rank.tier == 0;
    let edge = nearest_rank.widen(|m| tie_width(routing, by_rtt, m));

    let mut candidates = [0u8; MAX_REPLICAS];
    let mut count = 0;
    for i in 0..n {
        if eligible(i) && rank(i).within(edge) {
            candidates[count] = i as u8;
            count += 1;
        }
    }
    let mut limit = None;
    let reason = if count > 0 {
        if count == 1 {
            Reason::Nearest
        } else {
            Reason::TieBand { among: count }
        }
    } else {
        // Failover spread: the `failover_spread` nearest eligible replicas share the clients,
        // but only those within the failover band around the nearest eligible one.
        let first = (0..n)
            .filter(|&i| eligible(i))
            .min_by(|&a, &b| rank(a).partial_cmp(&rank(b)).unwrap_or(Ordering::Equal))?;
        let first = rank(first);
        by_rtt = first.tier == 0;
        let outer = first.widen(|m| failover_width(routing, by_rtt, m));
        limit = Some(outer.metric());
        for i in 0..n {
            if eligible(i) && rank(i).within(outer) {
                candidates[count] = i as u8;
                count += 1;
            }
        }
        let list = &mut candidates[..count];
        list.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            rank(a)
                .partial_cmp(&rank(b))
                .unwrap_or(Ordering::Equal)
                .then(a.cmp(&b))
        });
        count = count.min(routing.failover_spread.max(1));
        Reason::Failover {
            nearest: nearest_routed,
            among: count,
        }
    };
    let list = &candidates[..count];
    let replica = if count == 1 {
        list[0] as usize
    } else {
        hash::rendezvous(list, client.key, |i| (replicas[i].weight, replicas[i].seed))
    };
    let mut d = decide(replica, reason, count, by_rtt, limit);
    if ramp_on && d.ramp != Ramp::Returned {
        let chosen = rank(replica);
        if (0..n).any(|i| held(i) && rank(i) < chosen) {
            d.ramp = Ramp::Held;
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests;
