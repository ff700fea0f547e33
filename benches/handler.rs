//! The handler's own cost per query, without sockets: `cargo bench --bench handler`.
//!
//! Runs `dns::handle` on the shipped example for a mix of queries (global name with varied ECS,
//! regional, apex, NXDOMAIN) and prints nanoseconds per query. The kernel's share of an answer
//! (about 6 µs here, see bench/README.md) is not in this figure.

use georoute::dns::{Transport, handle};
use georoute::health::HealthState;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

fn query(name: &str, qtype: u16, ecs: Option<([u8; 4], u8)>) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
    match ecs {
        None => p.extend_from_slice(&[0, 0]),
        Some((a, prefix)) => {
            let n = (prefix as usize).div_ceil(8);
            p.extend_from_slice(&((8 + n) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 8, 0, (4 + n) as u8, 0, 1, prefix, 0]);
            p.extend_from_slice(&a[..n]);
        }
    }
    p
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
    for (what, packets) in mixes.iter().filter(|(w, _)| w.contains(only.as_str())) {
        for p in packets.iter().cycle().take(n.min(10_000)) {
            handle(&snap, &health, p, source, Transport::Udp, &mut out);
        }
        let start = Instant::now();
        for p in packets.iter().cycle().take(n) {
            black_box(handle(
                &snap,
                &health,
                black_box(p),
                source,
                Transport::Udp,
                &mut out,
            ));
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{what:<34} {ns:>8.0} ns/query");
    }
}
