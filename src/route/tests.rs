//! Table tests of the routing function, and the spread property of the subnet hash.

mod resilience;

use super::*;
use crate::config::{Addresses, GlobalAnswer, Registry, Replica, Routing};
use std::net::{IpAddr, Ipv4Addr};

/// Picks the replica for the global name from health alone (no latency table, no ramp):
/// `healthy(i)` says whether replica `i` and its region are healthy.
fn choose(
    registry: &Registry,
    healthy: impl Fn(usize) -> bool,
    location: Option<Point>,
    key: u64,
) -> Option<Decision> {
    let client = Client {
        location,
        key,
        measured: None,
        now_ms: 0,
    };
    let state = |i| ReplicaNow {
        healthy: healthy(i),
        ..ReplicaNow::default()
    };
    choose_for(registry, state, &client)
}

/// A replica at a point; `routed` is the operator's switch.
pub(super) fn replica(region: &str, lat: f64, lon: f64, routed: bool, weight: u32) -> Replica {
    Replica {
        region: region.into(),
        region_index: 0,
        point: Point::new(lat, lon).unwrap(),
        global_endpoint_routing: routed,
        weight,
        seed: replica_seed(region),
        addresses: Addresses::default(),
        data_addresses: Addresses::default(),
        probe_url: String::new(),
        probe_address: None,
        probe: "default".into(),
    }
}

pub(super) fn registry(replicas: Vec<Replica>, fail_open: bool) -> Registry {
    Registry {
        name: "myregistry".into(),
        at: (1, 1),
        seed: replica_seed("myregistry"),
        home: 0,
        regional_endpoints: true,
        data_endpoints: true,
        global_answer: GlobalAnswer::Cname,
        ttl_global: 30,
        ttl_suspect: 5,
        ttl_regional: 300,
        ttl_data: 300,
        default_order: vec![],
        routing: Routing {
            tie_band_km: 500.0,
            tie_band_percent: 10.0,
            tie_band_ms: 10.0,
            failover_spread: 2,
            failover_band_percent: 50.0,
            failback_ramp_ms: 0,
            fail_open,
        },
        probe: "default".into(),
        replicas,
    }
}

/// eastus (0), eastus2 (1), westeurope (2), southeastasia (3), australiaeast (4).
fn five(westeurope_routed: bool) -> Registry {
    registry(
        vec![
            replica("eastus", 37.3719, -79.8164, true, 100),
            replica("eastus2", 36.6681, -78.3889, true, 100),
            replica("westeurope", 52.3667, 4.9, westeurope_routed, 100),
            replica("southeastasia", 1.283, 103.833, true, 100),
            replica("australiaeast", -33.86, 151.2094, true, 100),
        ],
        true,
    )
}

pub(super) fn at(lat: f64, lon: f64) -> Option<Point> {
    Point::new(lat, lon)
}

pub(super) fn key(a: [u8; 4]) -> u64 {
    subnet_key(
        IpAddr::V4(Ipv4Addr::from(a)),
        24,
        56,
        replica_seed("myregistry"),
    )
}

const ALL: fn(usize) -> bool = |_| true;

#[test]
fn table() {
    let amsterdam = at(52.37, 4.89);
    let sydney = at(-33.87, 151.21);
    let singapore = at(1.35, 103.82);
    struct Row {
        what: &'static str,
        registry: Registry,
        healthy: Box<dyn Fn(usize) -> bool>,
        location: Option<Point>,
        want: Option<usize>,
        reason: fn(Reason) -> bool,
    }
    let rows = vec![
        Row {
            what: "nearest",
            registry: five(true),
            healthy: Box::new(ALL),
            location: amsterdam,
            want: Some(2),
            reason: |r| r == Reason::Nearest,
        },
        Row {
            what: "sydney",
            registry: five(true),
            healthy: Box::new(ALL),
            location: sydney,
            want: Some(4),
            reason: |r| r == Reason::Nearest,
        },
        Row {
            what: "singapore",
            registry: five(true),
            healthy: Box::new(ALL),
            location: singapore,
            want: Some(3),
            reason: |r| r == Reason::Nearest,
        },
        Row {
            what: "routing false is never the answer, even when nearest and healthy",
            registry: five(false),
            healthy: Box::new(ALL),
            location: amsterdam,
            want: None,
            reason: |r| {
                matches!(
                    r,
                    Reason::Failover { nearest: 0 | 1, .. }
                        | Reason::TieBand { .. }
                        | Reason::Nearest
                )
            },
        },
        Row {
            what: "unhealthy nearest fails over within the failover band: SEA, never East US",
            registry: five(true),
            healthy: Box::new(|i| i != 4),
            location: sydney,
            want: Some(3),
            reason: |r| {
                matches!(
                    r,
                    Reason::Failover {
                        nearest: 4,
                        among: 1
                    }
                )
            },
        },
        Row {
            what: "unknown location: home region",
            registry: five(true),
            healthy: Box::new(ALL),
            location: None,
            want: Some(0),
            reason: |r| r == Reason::DefaultOrder,
        },
        Row {
            what: "unknown location, home unhealthy: nearest to home",
            registry: five(true),
            healthy: Box::new(|i| i != 0),
            location: None,
            want: Some(1),
            reason: |r| r == Reason::Nearest,
        },
    ];
    for row in rows {
        let d = choose(
            &row.registry,
            &row.healthy,
            row.location,
            key([198, 51, 100, 7]),
        )
        .expect(row.what);
        assert!(
            (row.healthy)(d.replica),
            "{}: chose an unhealthy replica",
            row.what
        );
        if let Some(want) = row.want {
            assert_eq!(d.replica, want, "{}: {d:?}", row.what);
        }
        assert!(
            row.registry.replicas[d.replica].global_endpoint_routing,
            "{}",
            row.what
        );
        assert!((row.reason)(d.reason), "{}: {d:?}", row.what);
        assert!(!d.fail_open, "{}", row.what);
    }
}

#[test]
fn london_is_routed_away_from_a_drained_westeurope() {
    let d = choose(&five(false), ALL, at(51.5, -0.12), key([81, 2, 69, 1])).unwrap();
    assert_ne!(d.replica, 2);
    assert!([0, 1].contains(&d.replica), "east US is next: {d:?}");
}

#[test]
fn equidistant_replicas_form_a_tie_band_and_the_same_client_sticks() {
    let reg = five(true);
    // Milton, WA: eastus and eastus2 are within 10% of each other.
    let seattle = at(47.25, -122.31);
    let first = choose(&reg, ALL, seattle, key([216, 160, 83, 1])).unwrap();
    assert!(
        matches!(first.reason, Reason::TieBand { among: 2 }),
        "{first:?}"
    );
    assert!(first.hashed);
    for _ in 0..100 {
        assert_eq!(
            choose(&reg, ALL, seattle, key([216, 160, 83, 200])).unwrap(),
            first
        );
    }
}

#[test]
fn fail_open_and_closed() {
    let none = |_| false;
    let open = five(true);
    let d = choose(&open, none, at(52.37, 4.89), 1).unwrap();
    assert!(d.fail_open);
    assert_eq!(d.replica, 2);
    let mut closed = five(true);
    closed.routing.fail_open = false;
    assert_eq!(choose(&closed, none, at(52.37, 4.89), 1), None);
    // Fail open never picks a replica whose routing is false.
    let d = choose(&five(false), none, at(52.37, 4.89), 1).unwrap();
    assert_ne!(d.replica, 2);
}

#[test]
fn failover_spreads_over_the_configured_number_of_neighbours() {
    // Three replicas equally far from a failed one: spread 2 uses the two nearest.
    let reg = registry(
        vec![
            replica("a", 0.0, 0.0, true, 100),
            replica("b", 0.0, 20.0, true, 100),
            replica("c", 0.0, -21.0, true, 100),
            replica("d", 0.0, 60.0, true, 100),
        ],
        true,
    );
    let mut seen = [0usize; 4];
    for i in 0..2000u32 {
        let k = key([10, (i >> 8) as u8, i as u8, 0]);
        seen[choose(&reg, |i| i != 0, at(0.0, 0.0), k).unwrap().replica] += 1;
    }
    assert_eq!(seen[0], 0);
    assert_eq!(
        seen[3], 0,
        "spread is 2: the third-nearest gets nothing {seen:?}"
    );
    assert!(seen[1] > 800 && seen[2] > 800, "{seen:?}");
}

/// 10,000 random client subnets over two equidistant replicas spread in proportion to weight
/// (±5%), and every subnet always gets the same replica.
#[test]
fn property_subnets_spread_by_weight_and_stick() {
    for (w1, w2) in [(100, 100), (100, 300), (50, 150)] {
        let reg = registry(
            vec![
                replica("west", 0.0, -1.0, true, w1),
                replica("east", 0.0, 1.0, true, w2),
            ],
            true,
        );
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(w2);
        let mut counts = [0usize; 2];
        let n = 10_000;
        for _ in 0..n {
            state = hash::mix64(state.wrapping_add(0x9E37_79B9_7F4A_7C15));
            let addr = IpAddr::V4(Ipv4Addr::from((state >> 32) as u32));
            let k = subnet_key(addr, 24, 56, reg.seed);
            let d = choose(&reg, ALL, at(0.0, 0.0), k).unwrap();
            counts[d.replica] += 1;
            // Any address in the same /24 gets the same replica.
            let IpAddr::V4(v4) = addr else { unreachable!() };
            let neighbour = Ipv4Addr::from(u32::from(v4) ^ 0x7F);
            let k2 = subnet_key(IpAddr::V4(neighbour), 24, 56, reg.seed);
            assert_eq!(
                choose(&reg, ALL, at(0.0, 0.0), k2).unwrap().replica,
                d.replica
            );
        }
        let expected = f64::from(w1) / f64::from(w1 + w2) * n as f64;
        let got = counts[0] as f64;
        assert!(
            (got - expected).abs() <= expected * 0.05,
            "weights {w1}/{w2}: {counts:?}, expected {expected}"
        );
    }
}

#[test]
fn decisions_are_stable_constants() {
    // Fixed functions, no per-process seed: these values must never change between builds.
    assert_eq!(hash::mix64(0), 0);
    assert_eq!(hash::hash_bytes(b"eastus"), hash::hash_bytes(b"eastus"));
    let k = subnet_key(
        "216.160.83.1".parse().unwrap(),
        24,
        56,
        replica_seed("myregistry"),
    );
    assert_eq!(
        k,
        subnet_key(
            "216.160.83.254".parse().unwrap(),
            24,
            56,
            replica_seed("myregistry")
        )
    );
    assert_ne!(
        k,
        subnet_key(
            "216.160.84.1".parse().unwrap(),
            24,
            56,
            replica_seed("myregistry")
        )
    );
    assert_ne!(
        k,
        subnet_key(
            "216.160.83.1".parse().unwrap(),
            24,
            56,
            replica_seed("other")
        )
    );
}
