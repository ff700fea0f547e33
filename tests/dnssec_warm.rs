//! The signature warm-up (its own test binary: the signature counter is process-wide): after
//! `dnssec::warm::warm`, answering every kind of query needs no new signature at all, from
//! outside and inside the view, for every replica the global name may point at; a name that
//! does not exist needs exactly one (its NSEC); a second warm-up signs nothing.

mod common;

use common::TestDir;
use georoute::dns::wire::ClientSubnet;
use georoute::dns::{Request, Transport, handle};
use georoute::dnssec::sign::signatures_made;
use georoute::health::HealthState;
use georoute::state::Serving;
use std::net::IpAddr;
use std::sync::Arc;

/// A query with EDNS and DO.
fn query(name: &str, qtype: u16, ecs: Option<&str>) -> Vec<u8> {
    let ecs = ecs.map(|c| {
        let net: ipnet::IpNet = c.parse().unwrap();
        ClientSubnet {
            address: net.network(),
            source_prefix: net.prefix_len(),
        }
    });
    georoute::dns::wire::build_dnssec_query(name, qtype, ecs)
}

/// The serving state of a configuration folder, everything healthy.
fn serving_of(dir: &TestDir) -> Serving {
    let snap = georoute::load_snapshot(&dir.path, 1).unwrap();
    let health = HealthState::from_config(&snap.config);
    Serving::new(Arc::new(snap), Arc::new(health))
}

/// Answers one query; the signatures it took.
fn signatures_for(serving: &Serving, packet: &[u8], source: &str, transport: Transport) -> u64 {
    let secrets = georoute::dns::cookie::Secrets {
        current: [1; 16],
        previous: None,
    };
    let before = signatures_made();
    let request = Request {
        packet,
        source: source.parse::<IpAddr>().unwrap(),
        transport,
        now_ms: georoute::clock::unix_now_ms(),
    };
    let mut out = Vec::new();
    handle(
        &serving.snapshot,
        &serving.health,
        &secrets,
        &request,
        &mut out,
    );
    assert!(out.len() > 12);
    signatures_made() - before
}

#[test]
fn after_the_warm_up_a_query_needs_at_most_one_signature() {
    let dir = TestDir::signed_example("ecdsa-p256");
    let serving = serving_of(&dir);
    let warmed = georoute::dnssec::warm::warm(&serving);
    assert!(warmed.signatures > 20, "{warmed:?}");
    assert_eq!(
        georoute::dnssec::warm::warm(&serving).signatures,
        0,
        "all cached"
    );

    let ask = |packet: &[u8], source: &str, transport| {
        signatures_for(&serving, packet, source, transport)
    };
    let global = "myregistry.azurecr.io";
    let mut queries: Vec<(Vec<u8>, &str)> = Vec::new();
    // The global name from clients near every replica (the example's override and GeoIP
    // subnets, README's table) and from inside the view.
    for ecs in [
        None,
        Some("198.51.100.0/24"),
        Some("203.0.113.0/24"),
        Some("81.2.69.0/24"),
        Some("175.16.199.0/24"),
        Some("216.160.83.0/24"),
        Some("2001:db8::/56"),
    ] {
        for qtype in [1, 28, 16] {
            queries.push((query(global, qtype, ecs), "192.0.2.1"));
        }
    }
    queries.push((query(global, 1, None), "10.1.2.3"));
    for name in [
        "azurecr.io",
        "geo.azurecr.io",
        "ns1.azurecr.io",
        "myregistry.eastus.geo.azurecr.io",
        "myregistry.westeurope.geo.azurecr.io",
        "myregistry.eastus2.data.azurecr.io",
    ] {
        for qtype in [1, 28, 16, 6, 2, 48] {
            queries.push((query(name, qtype, None), "192.0.2.1"));
            queries.push((query(name, qtype, None), "10.1.2.3"));
        }
    }
    for (packet, source) in &queries {
        for transport in [Transport::Udp, Transport::Tcp] {
            assert_eq!(
                ask(packet, source, transport),
                0,
                "{packet:?} from {source}"
            );
        }
    }
    // A name that does not exist: one signature, its NSEC (the SOA is warm); then cached.
    let nx = query("nothing-here.azurecr.io", 1, None);
    assert_eq!(ask(&nx, "192.0.2.1", Transport::Udp), 1);
    assert_eq!(ask(&nx, "192.0.2.1", Transport::Udp), 0);

    // A zone with far more RRsets than the cache's first 8,192 slots: 200 registries x 10
    // replicas (6,201 names, ~19,000 RRsets). The cache grows before the warm-up, so after it
    // every name still answers without a new signature.
    let regions = [
        "eastus",
        "eastus2",
        "westeurope",
        "northeurope",
        "southeastasia",
        "australiaeast",
        "westus",
        "westus2",
        "westus3",
        "japaneast",
    ];
    let mut zone = String::from(
        "zone: big.test\nsoa: {mname: ns1.big.test., rname: h.big.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers: [{name: ns1.big.test., addresses: [192.0.2.1]}]\ndnssec: {key_file: zone.pem}\nregistries:\n",
    );
    for r in 0..200 {
        zone += &format!(
            "  - name: r{r}\n    home_region: eastus\n    data_endpoints: true\n    replicas:\n"
        );
        for (i, region) in regions.iter().enumerate() {
            zone += &format!(
                "      - {{region: {region}, addresses: [192.0.2.{i}, \"2001:db8::{i}\"], data_addresses: [192.0.2.{}]}}\n",
                100 + i
            );
        }
    }
    let big = TestDir::with_zone(&zone);
    big.write(
        "zone.pem",
        &georoute::dnssec::key::generate("ed25519").unwrap(),
    );
    let serving = serving_of(&big);
    let t = std::time::Instant::now();
    let warmed = georoute::dnssec::warm::warm(&serving);
    eprintln!("big zone warmed: {warmed:?} in {:?}", t.elapsed());
    assert!(warmed.signatures > 12_000, "{warmed:?}");
    let before = signatures_made();
    for r in (0..200).step_by(7) {
        for region in regions {
            for name in [
                format!("r{r}.{region}.geo.big.test"),
                format!("r{r}.{region}.data.big.test"),
            ] {
                for qtype in [1, 28, 16] {
                    let packet = query(&name, qtype, None);
                    signatures_for(&serving, &packet, "192.0.2.1", Transport::Tcp);
                }
            }
        }
    }
    assert_eq!(
        signatures_made() - before,
        0,
        "every RRset stayed in the grown cache"
    );

    // A zone too large to warm whole (forced here with a limit of 10 names): the apex and the
    // global names are warm, with every answer the global name can give (each replica chosen
    // in turn, by taking the others down); any other name costs one signature, once.
    let mut zone = zone.replace("big.test", "large.test");
    zone = zone.replace(
        "dnssec: {key_file: zone.pem}",
        "dnssec: {key_file: large.pem}",
    );
    let large = TestDir::with_zone(&zone);
    large.write(
        "large.pem",
        &georoute::dnssec::key::generate("ed25519").unwrap(),
    );
    let serving = serving_of(&large);
    let warmed = georoute::dnssec::warm::warm_with(&serving, 10);
    eprintln!("large zone warmed: {warmed:?}");
    assert!(
        warmed.signatures > 2 * 200 * 10 && warmed.signatures < 12_000,
        "{warmed:?}"
    );
    let snap = serving.snapshot.clone();
    for r in (0..200).step_by(13) {
        let name = format!("r{r}.large.test");
        for chosen in 0..regions.len() {
            let down = (0..regions.len())
                .filter(|&i| i != chosen)
                .map(|i| (0, r, i));
            let health = HealthState::from_config(&snap.config).with_unhealthy(down);
            let only = Serving::new(snap.clone(), Arc::new(health));
            for qtype in [1, 28] {
                let packet = query(&name, qtype, None);
                assert_eq!(
                    signatures_for(&only, &packet, "192.0.2.1", Transport::Tcp),
                    0,
                    "{name} {qtype} via {}",
                    regions[chosen]
                );
            }
        }
        for region in regions {
            for name in [
                format!("r{r}.{region}.geo.large.test"),
                format!("r{r}.{region}.data.large.test"),
            ] {
                for qtype in [1, 28, 16] {
                    let packet = query(&name, qtype, None);
                    let first = signatures_for(&serving, &packet, "192.0.2.1", Transport::Tcp);
                    assert!(first <= 1, "{name} {qtype}: {first} signatures");
                    let again = signatures_for(&serving, &packet, "192.0.2.1", Transport::Tcp);
                    assert_eq!(again, 0, "{name} {qtype} cached");
                }
            }
        }
    }
}
