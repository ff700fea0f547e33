//! Routing when things go wrong: the failover band, the failback ramp and
//! the latency table, as tables over real region coordinates.

use super::{at, key, registry, replica};
use crate::config::Registry;
use crate::config::latency::Measured;
use crate::geo::Point;
use crate::route::{Client, Decision, Ramp, Reason, ReplicaNow, choose_for};
use std::collections::BTreeSet;

/// Regions by name at their `geoip/regions.yaml` coordinates, all routed, weight 100.
fn regions(names: &[&str]) -> Registry {
    let spot = |n: &str| match n {
        "eastus" => (37.3719, -79.8164),
        "westeurope" => (52.3667, 4.9),
        "northeurope" => (53.3478, -6.2597),
        "southeastasia" => (1.283, 103.833),
        "japaneast" => (35.68, 139.77),
        "australiaeast" => (-33.86, 151.2094),
        "brazilsouth" => (-23.55, -46.633),
        other => panic!("no coordinates for {other}"),
    };
    let mut reps: Vec<_> = names
        .iter()
        .map(|&n| {
            let (lat, lon) = spot(n);
            replica(n, lat, lon, true, 100)
        })
        .collect();
    for (i, r) in reps.iter_mut().enumerate() {
        r.region_index = i;
    }
    registry(reps, true)
}

fn index(reg: &Registry, name: &str) -> usize {
    reg.replicas
        .iter()
        .position(|r| &*r.region == name)
        .unwrap()
}

/// Routes 512 client subnets at `from` with `down` replicas down; the regions they reached.
fn reached(reg: &Registry, from: Option<Point>, down: &[&str]) -> (BTreeSet<String>, Decision) {
    let down: Vec<usize> = down.iter().map(|d| index(reg, d)).collect();
    let state = |i| ReplicaNow {
        healthy: !down.contains(&i),
        ..ReplicaNow::default()
    };
    let mut seen = BTreeSet::new();
    let mut last = None;
    for n in 0..512u32 {
        let client = Client {
            location: from,
            key: key([10, (n >> 8) as u8, n as u8, 1]),
            measured: None,
            now_ms: 0,
        };
        let d = choose_for(reg, state, &client).unwrap();
        seen.insert(reg.replicas[d.replica].region.to_string());
        last = Some(d);
    }
    (seen, last.unwrap())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn failover_stays_within_the_band() {
    let world = regions(&[
        "eastus",
        "westeurope",
        "southeastasia",
        "japaneast",
        "australiaeast",
    ]);
    // Sydney, Australia East down: Southeast Asia (6,300 km) and Japan (7,800 km) share the
    // clients; East US (15,600 km) is beyond 1.5 x 6,300 km and never answers.
    let (seen, d) = reached(&world, at(-33.87, 151.21), &["australiaeast"]);
    assert_eq!(seen, set(&["japaneast", "southeastasia"]), "{d:?}");
    let limit = d.failover_limit.unwrap();
    assert!((9000.0..10000.0).contains(&limit), "band edge {limit} km");

    // A European pair: Amsterdam with West Europe down goes to North Europe alone (750 km; the
    // band reaches 1,250 km), not across the Atlantic although the spread is 2.
    let europe = regions(&["eastus", "westeurope", "northeurope"]);
    let (seen, d) = reached(&europe, at(52.37, 4.89), &["westeurope"]);
    assert_eq!(seen, set(&["northeurope"]));
    assert!(
        matches!(d.reason, Reason::Failover { among: 1, .. }),
        "{d:?}"
    );

    // A replica alone on its continent: São Paulo with Brazil South down. East US (7,500 km)
    // is the nearest eligible; West Europe (9,800 km) is within its band, so both share.
    let alone = regions(&["brazilsouth", "eastus", "westeurope", "japaneast"]);
    let (seen, _) = reached(&alone, at(-23.55, -46.63), &["brazilsouth"]);
    assert_eq!(
        seen,
        set(&["eastus", "westeurope"]),
        "never Japan (18,500 km)"
    );

    // Everything far: Honolulu with East US down. Australia East (8,100 km) is nearest eligible;
    // Japan (6,200 km) is down too; Southeast Asia (10,900 km) is within 12,200 km.
    let far = regions(&[
        "eastus",
        "japaneast",
        "australiaeast",
        "southeastasia",
        "westeurope",
    ]);
    let (seen, _) = reached(&far, at(21.31, -157.86), &["eastus", "japaneast"]);
    assert_eq!(
        seen,
        set(&["australiaeast", "southeastasia"]),
        "never West Europe (11,800 km) beyond spread 2"
    );

    // Healthy: no failover band at all.
    let (seen, d) = reached(&world, at(-33.87, 151.21), &[]);
    assert_eq!(seen, set(&["australiaeast"]));
    assert_eq!((d.reason, d.failover_limit), (Reason::Nearest, None));
}

/// Share of 2,000 Amsterdam subnets answered by West Europe, `elapsed_ms` into a 60 s ramp.
fn ramp_share(reg: &Registry, elapsed_ms: u64, healthy: bool) -> (f64, Vec<bool>) {
    let we = index(reg, "westeurope");
    let recovered = 1_000_000_000u64;
    let state = |i| ReplicaNow {
        healthy: i != we || healthy,
        recovered_at_ms: (i == we).then_some(recovered),
        ..ReplicaNow::default()
    };
    let mut back = Vec::new();
    for n in 0..2000u32 {
        let client = Client {
            location: at(52.37, 4.89),
            key: key([81, (n >> 8) as u8, n as u8, 0]),
            measured: None,
            now_ms: recovered + elapsed_ms,
        };
        let d = choose_for(reg, state, &client).unwrap();
        let ramping = elapsed_ms < 60_000 && healthy;
        assert_eq!(
            d.hashed, ramping,
            "a ramp decision depends on the subnet hash"
        );
        let returned = d.replica == we;
        assert_eq!(
            d.ramp,
            match (ramping, returned) {
                (false, _) => Ramp::None,
                (true, true) => Ramp::Returned,
                (true, false) => Ramp::Held,
            }
        );
        back.push(returned);
    }
    let share = back.iter().filter(|b| **b).count() as f64 / back.len() as f64;
    (share, back)
}

#[test]
fn failback_ramps_up_by_subnet_and_a_returned_client_stays_returned() {
    let mut reg = regions(&["westeurope", "northeurope", "eastus"]);
    reg.routing.failback_ramp_ms = 60_000;
    let mut before: Option<Vec<bool>> = None;
    let mut shares = Vec::new();
    for elapsed in [0, 6_000, 15_000, 30_000, 45_000, 59_000] {
        let (share, back) = ramp_share(&reg, elapsed, true);
        let want = elapsed as f64 / 60_000.0;
        assert!(
            (share - want).abs() < 0.05,
            "{elapsed} ms: share {share}, want ~{want}"
        );
        if let Some(b) = &before {
            for (was, now) in b.iter().zip(&back) {
                assert!(
                    !was || *now,
                    "a returned client went away again at {elapsed} ms"
                );
            }
        }
        before = Some(back);
        shares.push(share);
    }
    assert!(shares.windows(2).all(|w| w[0] < w[1]), "{shares:?}");
    // After the ramp: everyone is back, and the answer no longer depends on the ramp.
    let (share, _) = ramp_share(&reg, 60_000, true);
    assert_eq!(share, 1.0);
    // Failing again during the ramp: it loses its clients at once.
    let (share, _) = ramp_share(&reg, 30_000, false);
    assert_eq!(share, 0.0);
    // Off (the default): back at once.
    reg.routing.failback_ramp_ms = 0;
    let we = index(&reg, "westeurope");
    let d = choose_for(
        &reg,
        |i| ReplicaNow {
            healthy: true,
            recovered_at_ms: (i == we).then_some(1_000),
            ..ReplicaNow::default()
        },
        &Client {
            location: at(52.37, 4.89),
            key: 7,
            measured: None,
            now_ms: 1_001,
        },
    )
    .unwrap();
    assert_eq!((d.replica, d.ramp, d.hashed), (we, Ramp::None, false));
}

#[test]
fn a_ramp_never_leaves_a_client_without_an_answer() {
    let mut reg = regions(&["westeurope"]);
    reg.routing.failback_ramp_ms = 60_000;
    let state = |_| ReplicaNow {
        healthy: true,
        recovered_at_ms: Some(1_000),
        ..ReplicaNow::default()
    };
    for n in 0..100u8 {
        let client = Client {
            location: at(52.37, 4.89),
            key: key([81, 2, n, 0]),
            measured: None,
            now_ms: 1_000,
        };
        assert_eq!(choose_for(&reg, state, &client).unwrap().replica, 0);
    }
}

#[test]
fn suspect_is_reported_for_the_chosen_replica_only() {
    let reg = regions(&["westeurope", "eastus"]);
    let state = |i| ReplicaNow {
        healthy: true,
        suspect: i == 0,
        recovered_at_ms: None,
    };
    let client = |lat, lon| Client {
        location: at(lat, lon),
        key: 1,
        measured: None,
        now_ms: 0,
    };
    assert!(
        choose_for(&reg, state, &client(52.37, 4.89))
            .unwrap()
            .suspect
    );
    assert!(
        !choose_for(&reg, state, &client(40.7, -74.0))
            .unwrap()
            .suspect
    );
}

#[test]
fn measured_round_trip_times_rank_before_distance() {
    let reg = regions(&["westeurope", "northeurope", "eastus", "southeastasia"]);
    let i = |n| index(&reg, n);
    let measured = Measured {
        clients: "198.51.100.0/24".parse().unwrap(),
        rtt_ms: vec![(i("westeurope"), 12.0), (i("eastus"), 85.0)],
    };
    let route = |down: &[usize], m: &Measured, n: u8| {
        let client = Client {
            location: at(1.35, 103.82), // Singapore: by distance, Southeast Asia
            key: key([198, 51, n, 1]),
            measured: Some(m),
            now_ms: 0,
        };
        let state = |r| ReplicaNow {
            healthy: !down.contains(&r),
            ..ReplicaNow::default()
        };
        choose_for(&reg, state, &client).unwrap()
    };
    let d = route(&[], &measured, 1);
    assert_eq!(
        (d.replica, d.by_rtt, d.reason),
        (i("westeurope"), true, Reason::Nearest)
    );
    // West Europe down: East US, the next measured one (85 ms), ahead of the unmeasured ones
    // however near.
    let d = route(&[i("westeurope")], &measured, 1);
    assert_eq!(d.replica, i("eastus"), "{d:?}");
    assert!(d.by_rtt);
    // No measured replica eligible: distance decides among the rest.
    let d = route(&[i("westeurope"), i("eastus")], &measured, 1);
    assert_eq!((d.replica, d.by_rtt), (i("southeastasia"), false));
    // Within tie_band_ms (10 ms) of each other: both share by subnet hash.
    let close = Measured {
        clients: measured.clients,
        rtt_ms: vec![(i("westeurope"), 12.0), (i("northeurope"), 19.0)],
    };
    let mut seen = BTreeSet::new();
    for n in 0..64 {
        let d = route(&[], &close, n);
        assert!(matches!(d.reason, Reason::TieBand { among: 2 }), "{d:?}");
        seen.insert(d.replica);
    }
    assert_eq!(seen.len(), 2);
}
