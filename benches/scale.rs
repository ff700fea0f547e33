//! The cost of scale: `cargo bench --bench scale`.
//!
//! Generates a configuration of 1,000 registries x 10 replicas (and 100 views) in a temporary
//! folder, then measures: the time to load, validate and build it (a start, and a reload with
//! health remapped), the heap it holds (a counting allocator: bytes live after the build, and
//! the peak while building), and the handler's cost per query on it against the shipped
//! example. `SCALE_REGISTRIES`, `SCALE_REPLICAS` and `SCALE_VIEWS` change the size.

use georoute::dns::wire::{ClientSubnet, build_query};
use georoute::dns::{Request, Transport, handle};
use georoute::health::HealthState;
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting live and peak bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes the generated configuration; returns its folder.
fn generate(registries: usize, replicas: usize, views: usize) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("georoute-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["zones", "probes", "geoip"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for f in ["regions.yaml", "geoip.yaml", "demo-city.mmdb"] {
        std::fs::copy(root.join("geoip").join(f), dir.join("geoip").join(f)).unwrap();
    }
    std::fs::copy(
        root.join("probes/default.yaml"),
        dir.join("probes/default.yaml"),
    )
    .unwrap();
    let catalogue = std::fs::read_to_string(root.join("geoip/regions.yaml")).unwrap();
    let regions: Vec<&str> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split(':').next())
        .filter(|r| !r.starts_with(' ') && !r.is_empty())
        .collect();
    assert!(regions.len() >= replicas, "{} regions", regions.len());
    let mut z = String::from(
        "zone: scale.test\nsoa: {mname: ns1.scale.test., rname: h.scale.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers: [{name: ns1.scale.test., addresses: [192.0.2.53]}]\nregistries:\n",
    );
    for r in 0..registries {
        let home = regions[r % regions.len()];
        let _ = writeln!(
            z,
            "  - name: reg{r}\n    home_region: {home}\n    probe: off\n    replicas:"
        );
        for p in 0..replicas {
            let region = regions[(r + p) % regions.len()];
            let (a, b) = ((r * replicas + p) / 250, (r * replicas + p) % 250);
            let _ = writeln!(
                z,
                "      - {{region: {region}, addresses: [10.{a}.{b}.1, \"2001:db8:{a:x}:{b:x}::1\"], data_addresses: [10.{a}.{b}.2]}}"
            );
        }
    }
    z += "views:\n";
    for v in 0..views {
        let _ = writeln!(
            z,
            "  - name: vnet{v}\n    clients: [172.{}.{}.0/24]\n    region: {}\n    registries:",
            16 + v / 256,
            v % 256,
            regions[v % regions.len()]
        );
        for r in (v..v + 5).map(|r| r % registries) {
            let _ = writeln!(
                z,
                "      reg{r}: {{global_address: 172.31.{}.{}}}",
                v % 256,
                r % 250 + 1
            );
        }
    }
    std::fs::write(dir.join("zones/scale.test.yaml"), z).unwrap();
    dir
}

fn per_query(snap: &georoute::state::Snapshot, health: &HealthState, packets: &[Vec<u8>]) -> f64 {
    let secrets = georoute::dns::cookie::Secrets {
        current: [7; 16],
        previous: None,
    };
    let mut out = Vec::with_capacity(4096);
    let n = 300_000;
    let source: IpAddr = "127.0.0.1".parse().unwrap();
    let run = |out: &mut Vec<u8>, count: usize| {
        for p in packets.iter().cycle().take(count) {
            let request = Request {
                packet: black_box(p),
                source,
                transport: Transport::Udp,
                now_ms: 1_700_000_000_000,
            };
            black_box(handle(snap, health, &secrets, &request, out));
        }
    };
    run(&mut out, 10_000);
    let start = Instant::now();
    run(&mut out, n);
    start.elapsed().as_nanos() as f64 / n as f64
}

fn global_queries(names: &[String]) -> Vec<Vec<u8>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let nets = [
                [192, 0, 2, 0],
                [81, 2, 69, 0],
                [216, 160, 83, 0],
                [175, 16, 199, 0],
            ];
            let ecs = ClientSubnet {
                address: IpAddr::from(nets[i % 4]),
                source_prefix: 24,
            };
            build_query(name, 1, Some(ecs))
        })
        .collect()
}

fn main() {
    let (registries, replicas, views) = (
        env("SCALE_REGISTRIES", 1000),
        env("SCALE_REPLICAS", 10),
        env("SCALE_VIEWS", 100),
    );
    let dir = generate(registries, replicas, views);
    let bytes = std::fs::metadata(dir.join("zones/scale.test.yaml"))
        .unwrap()
        .len();
    println!(
        "configuration: {registries} registries x {replicas} replicas, {views} views ({} KiB of YAML)",
        bytes / 1024
    );

    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let start = Instant::now();
    let snap = georoute::load_snapshot(&dir, 1).expect("the generated configuration loads");
    let load = start.elapsed();
    let health = HealthState::from_config(&snap.config);
    let live = LIVE.load(Relaxed) - base;
    let peak = PEAK.load(Relaxed) - base;
    println!(
        "load + validate + build: {:.0} ms",
        load.as_secs_f64() * 1e3
    );
    println!(
        "heap held by the snapshot and health: {:.1} MiB (peak while building {:.1} MiB)",
        live as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );

    // A reload: the next generation built beside the serving one, then health remapped.
    let start = Instant::now();
    let next = georoute::load_snapshot(&dir, 2).expect("reloads");
    let remapped = HealthState::from_config(&next.config)
        .with_unhealthy([(0, 1, 2), (0, 999 % registries, 0)]);
    let reload = start.elapsed();
    println!(
        "reload (second snapshot built beside the first): {:.0} ms; heap with both: {:.1} MiB",
        reload.as_secs_f64() * 1e3,
        (LIVE.load(Relaxed) - base) as f64 / 1048576.0
    );
    drop((next, remapped));

    let names: Vec<String> = (0..registries.min(1000))
        .map(|r| format!("reg{}.scale.test", r * 7 % registries))
        .collect();
    let scaled = per_query(&snap, &health, &global_queries(&names));
    let one = per_query(&snap, &health, &global_queries(&names[..1]));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = georoute::load_snapshot(root, 1).expect("the shipped example loads");
    let example_health = HealthState::from_config(&example.config);
    let small = per_query(
        &example,
        &example_health,
        &global_queries(&["myregistry.azurecr.io".to_string()]),
    );
    println!(
        "handler, global name with GeoIP ECS: {scaled:.0} ns/query over {} registries, {one:.0} for one of them, {small:.0} on the shipped example",
        names.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
