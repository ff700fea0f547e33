//! A generated zone over part files (`zones/parts.test.d/*.yaml`) and a sweep of its answers:
//! shared by the tests of many-file zones and of incremental apply.

use super::TestDir;
use georoute::dns::{Request, Transport, handle};
use georoute::health::HealthState;
use georoute::snapshot::Snapshot;

/// The zone file's head (no registries, no views).
pub const HEAD: &str = "zone: parts.test\nsoa: {mname: ns1.parts.test., rname: h.parts.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers: [{name: ns1.parts.test., addresses: [192.0.2.1]}]\n";

/// The regions the generated registries use.
pub const REGIONS: [&str; 4] = ["eastus", "westeurope", "southeastasia", "australiaeast"];

/// A view of the zone: 10.1.0.0/16, with a private address for `reg3`.
pub const VIEW: &str = "views:\n  - {name: vnet, clients: [10.1.0.0/16], region: westeurope, fallback: public, registries: {reg3: {global_address: 10.1.0.4}}}\n";

/// Registry `n` in flow style: three replicas, one of them drained for every fifth registry.
pub fn registry(n: usize) -> String {
    registry_with(n, |i| !(i == 1 && n.is_multiple_of(5)))
}

/// Registry `n` with `routed(i)` as replica `i`'s `global_endpoint_routing`.
pub fn registry_with(n: usize, routed: impl Fn(usize) -> bool) -> String {
    let reps: Vec<String> = (0..3)
        .map(|i| {
            let region = REGIONS[(n + i) % REGIONS.len()];
            format!(
                "{{region: {region}, global_endpoint_routing: {}, addresses: [192.0.2.{}], data_addresses: [\"2001:db8::{:x}\"]}}",
                routed(i),
                10 + i,
                n * 8 + i
            )
        })
        .collect();
    format!(
        "  - {{name: reg{n}, home_region: {}, replicas: [{}]}}\n",
        REGIONS[n % REGIONS.len()],
        reps.join(", ")
    )
}

/// The part file that holds registry `n` of a folder of `parts` part files.
pub fn part_of(n: usize, parts: usize) -> String {
    format!("zones/parts.test.d/part{:02}.yaml", n % parts)
}

/// The same zone of `n` registries, in one file or over `parts` part files (the zone file keeps
/// the first three).
pub fn folder(n: usize, parts: usize) -> TestDir {
    let mut zone = format!("{HEAD}{VIEW}registries:\n");
    let dir = TestDir::with_zone("");
    std::fs::remove_file(dir.path.join("zones/test.yaml")).unwrap();
    // The example's GeoIP (demo database, overrides), so ECS subnets land in different places.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["geoip.yaml", "demo-city.mmdb"] {
        std::fs::copy(root.join("geoip").join(f), dir.path.join("geoip").join(f)).unwrap();
    }
    if parts == 0 {
        for i in 0..n {
            zone += &registry(i);
        }
    } else {
        for i in 0..3 {
            zone += &registry(i);
        }
        let mut files = vec![String::from("registries:\n"); parts];
        for i in 3..n {
            files[i % parts] += &registry(i);
        }
        for (f, text) in files.iter().enumerate() {
            dir.write(&format!("zones/parts.test.d/part{f:02}.yaml"), text);
        }
    }
    dir.write("zones/parts.test.yaml", &zone);
    dir
}

/// Answers `name`/`qtype` from `source` (with an ECS address when given).
pub fn ask(
    snap: &Snapshot,
    health: &HealthState,
    name: &str,
    qtype: u16,
    source: &str,
    ecs: Option<std::net::IpAddr>,
) -> Vec<u8> {
    let secrets = georoute::dns::cookie::Secrets {
        current: [7; 16],
        previous: None,
    };
    let ecs = ecs.map(|address| georoute::dns::wire::ClientSubnet {
        source_prefix: 24,
        address,
    });
    let packet = georoute::dns::wire::build_query(name, qtype, ecs);
    let mut buf = Vec::new();
    let request = Request {
        packet: &packet,
        source: source.parse().unwrap(),
        transport: Transport::Udp,
        now_ms: 1_700_000_000_000,
    };
    handle(snap, health, &secrets, &request, &mut buf);
    buf
}

/// Every answer the snapshot gives for registries `0..n`: each name of every registry, A and
/// AAAA, from a public source with several ECS subnets and from inside the view.
pub fn answers(snap: &Snapshot, n: usize) -> Vec<Vec<u8>> {
    let health = HealthState::from_config(&snap.config);
    let mut out = Vec::new();
    for i in 0..n {
        let mut names = vec![format!("reg{i}.parts.test")];
        for k in 0..3 {
            let region = REGIONS[(i + k) % REGIONS.len()];
            names.push(format!("reg{i}.{region}.geo.parts.test"));
            names.push(format!("reg{i}.{region}.data.parts.test"));
        }
        for name in names {
            for qtype in [1u16, 28] {
                for (source, ecs) in [
                    ("198.51.100.7", None),
                    ("198.51.100.7", Some("192.0.2.0")),
                    ("198.51.100.7", Some("81.2.69.0")),
                    ("198.51.100.7", Some("216.160.83.0")),
                    ("10.1.2.3", None),
                ] {
                    let ecs = ecs.map(|a| a.parse().unwrap());
                    out.push(ask(snap, &health, &name, qtype, source, ecs));
                }
            }
        }
    }
    out
}
