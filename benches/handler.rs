//! The handler's own cost per query, without sockets: `cargo bench --bench handler`.
//!
//! Runs `dns::handle` on the shipped example for a mix of queries (global name with varied ECS,
//! regional, apex, NXDOMAIN) and prints nanoseconds per query. The kernel's share of an answer
//! (about 6 µs here, see bench/README.md) is not in this figure.

use georoute::dns::wire::{ClientSubnet, build_query};
use georoute::dns::{Request, Transport, handle};
use georoute::health::HealthState;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

fn query(name: &str, qtype: u16, ecs: Option<([u8; 4], u8)>) -> Vec<u8> {
    let ecs = ecs.map(|(a, prefix)| ClientSubnet {
        address: IpAddr::from(a),
        source_prefix: prefix,
    });
    build_query(name, qtype, ecs)
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let snap = georoute::load_snapshot(root, 1).expect("the shipped example loads");
    let health = HealthState::from_config(&snap.config);
    let source: IpAddr = "127.0.0.1".parse().unwrap();
    let mixes: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "global, GeoIP ECS (varied /24)",
            (0..256u32)
                .map(|i| {
                    let nets = [
                        [192, 0, 2, 0],
                        [81, 2, 69, 0],
                        [216, 160, 83, 0],
                        [175, 16, 199, 0],
                    ];
                    let mut a: [u8; 4] = nets[(i % 4) as usize];
                    if i % 8 >= 4 {
                        a[2] = a[2].wrapping_add(1);
                    } // some miss the database
                    query("myregistry.azurecr.io", 1, Some((a, 24)))
                })
                .collect(),
        ),
        (
            "global, override ECS",
            vec![query(
                "myregistry.azurecr.io",
                1,
                Some(([198, 51, 100, 0], 24)),
            )],
        ),
        (
            "global, no ECS",
            vec![query("myregistry.azurecr.io", 1, None)],
        ),
        (
            "regional A",
            vec![query("myregistry.eastus.geo.azurecr.io", 1, None)],
        ),
        ("NXDOMAIN", vec![query("nope.azurecr.io", 1, None)]),
    ];
    // HANDLER_BENCH_N sets the queries per mix and HANDLER_BENCH_MIX picks mixes by name, so a
    // run under `valgrind --tool=callgrind` can count instructions per query (see bench/README.md).
    let n: usize = std::env::var("HANDLER_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let only = std::env::var("HANDLER_BENCH_MIX").unwrap_or_default();
    let mut out = Vec::with_capacity(4096);
    let secrets = georoute::dns::cookie::Secrets {
        current: [7; 16],
        previous: None,
    };
    let request = |packet| Request {
        packet,
        source,
        transport: Transport::Udp,
        now_ms: 1_700_000_000_000,
    };
    for (what, packets) in mixes.iter().filter(|(w, _)| w.contains(only.as_str())) {
        for p in packets.iter().cycle().take(n.min(10_000)) {
            handle(&snap, &health, &secrets, &request(p), &mut out);
        }
        let start = Instant::now();
        for p in packets.iter().cycle().take(n) {
            black_box(handle(
                &snap,
                &health,
                &secrets,
                &request(black_box(p)),
                &mut out,
            ));
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{what:<34} {ns:>8.0} ns/query");
    }
}
