//! Two instances, one configuration, identical answers (SPEC sections 3.6 and 11): routing is a
//! pure function of configuration, health and client, so two servers started on the same
//! folder, with the same health, give byte-identical answers to the same query. Checked for
//! 10,000 distinct client subnets (ECS: IPv4 /24s over the public space, IPv6 /56s in
//! 2000::/3) located by a generated GeoIP database and by `locations:` overrides, with a
//! drained replica, a failing replica and a tie band in play.

mod common;

use common::{Ask, CityRecord, TestDir, TestServer, maxmind_city};
use georoute::health::HealthState;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const ZONE: &str = r#"
zone: fleet.test
soa: {mname: ns1.fleet.test., rname: hostmaster.fleet.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers: [{name: ns1.fleet.test., addresses: [192.0.2.1]}]
registries:
  - name: reg
    home_region: eastus
    default_regions: [southeastasia, eastus]     # southeastasia fails: unknown clients get eastus
    routing: {tie_band_km: 500, tie_band_percent: 10, failover_spread: 2, all_down: open}
    replicas:
      - {region: eastus, addresses: [192.0.2.10, "2001:db8::10"]}
      - {region: eastus2, weight: 50, addresses: [192.0.2.11, "2001:db8::11"]}
      - {region: westus2, addresses: [192.0.2.12]}
      - {region: westeurope, global_endpoint_routing: false, addresses: [192.0.2.13]}
      - {region: northeurope, addresses: [192.0.2.14]}
      - {region: uksouth, addresses: [192.0.2.15]}
      - {region: southeastasia, addresses: [192.0.2.16]}
      - {region: japaneast, addresses: [192.0.2.17]}
      - {region: australiaeast, addresses: [192.0.2.18]}
      - {region: brazilsouth, addresses: [192.0.2.19]}
      - {region: southafricanorth, addresses: [192.0.2.20]}
      - {region: centralindia, addresses: [192.0.2.21]}
  - name: flat
    home_region: westeurope
    global_answer: address
    replicas:
      - {region: westeurope, addresses: [192.0.2.30]}
      - {region: southeastasia, addresses: [192.0.2.31]}
      - {region: brazilsouth, addresses: [192.0.2.32]}
"#;

/// (zone, registry, replica) of the failing replicas: reg/southeastasia, flat/southeastasia.
const FAILING: [(usize, usize, usize); 2] = [(0, 0, 6), (0, 1, 1)];

const GEOIP: &str = r#"
database: city.mmdb
locations:
  - {clients: 20.0.0.0/8, region: westeurope}                        # drained: its neighbours answer
  - {clients: 20.64.0.0/10, latitude: 1.35, longitude: 103.82}       # Singapore: failing, failover
  - {clients: 45.0.0.0/8, latitude: -33.92, longitude: 18.42}        # Cape Town
  - {clients: "2a00::/12", region: northeurope}
  - {clients: "2400:cb00::/32", latitude: 35.68, longitude: 139.69}  # Tokyo
"#;

/// Every query from one loopback source: rate limiting would drop most of them.
const SERVER: &str = "rate_limit: {responses_per_second: 0, source_responses_per_second: 0}\n";

const IPV4_SUBNETS: usize = 9_000;
const IPV6_SUBNETS: usize = 1_000;

/// A small deterministic generator (xorshift64*), so every run asks the same subnets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..hi` (as f64).
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A GeoIP2-City database: every /14 of public IPv4 space and every /12 of 2000::/3 with a
/// record, some with coordinates, some with a country or a continent only, some left out
/// (unknown location).
fn database() -> Vec<u8> {
    const COUNTRIES: [&str; 8] = ["US", "BR", "DE", "JP", "AU", "ZA", "IN", "GB"];
    const CONTINENTS: [&str; 6] = ["NA", "SA", "EU", "AS", "OC", "AF"];
    let mut rng = Rng(0x6765_6f72_6f75_7465);
    let mut nets = Vec::new();
    for a in 1u8..=223 {
        if a == 10 || a == 127 {
            continue;
        }
        for b in (0u8..=252).step_by(4) {
            nets.push(format!("{a}.{b}.0.0/14"));
        }
    }
    for top in 0x200u16..0x400 {
        nets.push(format!("{:x}::/12", top << 4));
    }
    let mut records = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        let kind = rng.next() % 10;
        let at = (kind < 7).then(|| (rng.between(-55.0, 70.0), rng.between(-180.0, 180.0)));
        let country = (kind == 7).then(|| COUNTRIES[i % COUNTRIES.len()]);
        let continent = (kind == 8).then(|| CONTINENTS[i % CONTINENTS.len()]);
        if kind == 9 {
            continue; // no record: unknown location
        }
        records.push(CityRecord {
            net,
            at,
            country,
            continent,
        });
    }
    maxmind_city(&records)
}

/// 9,000 distinct IPv4 /24s (public space) and 1,000 distinct IPv6 /56s (2000::/3), some in
/// every override.
fn subnets() -> Vec<String> {
    let mut rng = Rng(0x7375_626e_6574_7321);
    let mut v4 = BTreeSet::new();
    for _ in 0..IPV4_SUBNETS * 20 {
        if v4.len() == IPV4_SUBNETS {
            break;
        }
        let r = rng.next();
        let first = match v4.len() % 100 {
            0 => 20,
            1 => 45,
            _ => (r % 223 + 1) as u8,
        };
        if first == 10 || first == 127 {
            continue;
        }
        let second = match v4.len() % 100 {
            0 if v4.len() % 200 == 0 => 64 + (r >> 8) as u8 % 64, // inside 20.64.0.0/10
            _ => (r >> 8) as u8,
        };
        v4.insert(Ipv4Addr::new(first, second, (r >> 16) as u8, 0));
    }
    assert_eq!(v4.len(), IPV4_SUBNETS, "enough distinct IPv4 subnets");
    let mut v6 = BTreeSet::new();
    for _ in 0..IPV6_SUBNETS * 20 {
        if v6.len() == IPV6_SUBNETS {
            break;
        }
        let r = rng.next();
        let s = rng.next();
        let head: u16 = match v6.len() % 20 {
            0 => 0x2a00 | (r as u16 & 0x000f),
            1 => 0x2400,
            _ => 0x2000 | (r as u16 & 0x1fff),
        };
        let second: u16 = if head == 0x2400 {
            0xcb00
        } else {
            (r >> 16) as u16
        };
        let third = (s >> 16) as u16;
        let fourth = (s as u16) & 0xff00; // a /56: the low 8 bits of the fourth group are 0
        v6.insert(Ipv6Addr::new(head, second, third, fourth, 0, 0, 0, 0));
    }
    assert_eq!(v6.len(), IPV6_SUBNETS, "enough distinct IPv6 subnets");
    v4.iter()
        .map(|a| format!("{a}/24"))
        .chain(v6.iter().map(|a| format!("{a}/56")))
        .collect()
}

/// One UDP socket to one server; queries are sent one at a time, each with its own ID.
struct Client {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Client {
    fn new(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Self { socket, server }
    }

    /// The response to `packet`; up to three tries.
    fn ask(&self, packet: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        for _ in 0..3 {
            self.socket.send_to(packet, self.server).unwrap();
            // Skip a late answer to an earlier try of another query (another ID); bounded.
            for _ in 0..4 {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, _)) if n >= 2 && buf[..2] == packet[..2] => return buf[..n].to_vec(),
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
        panic!("no answer from {} after three tries", self.server);
    }
}

fn start(dir: &TestDir) -> TestServer {
    let s = TestServer::start(&dir.path);
    // The same health on both: the failing replicas down, everything else up.
    s.server
        .as_ref()
        .unwrap()
        .shared
        .update_health(|config| HealthState::from_config(config).with_unhealthy(FAILING));
    s
}

/// The region of a global answer: the CNAME target's second label, or for an address
/// answer the region whose address it is.
fn region_of(m: &Message) -> Option<String> {
    m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) => c.0.to_string().split('.').nth(1).map(str::to_string),
        RData::A(a) => match a.0.octets()[3] {
            30 => Some("westeurope".into()),
            31 => Some("southeastasia".into()),
            32 => Some("brazilsouth".into()),
            _ => None,
        },
        _ => None,
    })
}

#[test]
fn two_instances_answer_identically() {
    let dir = TestDir::with_zone(ZONE);
    dir.write_bytes("geoip/city.mmdb", &database());
    dir.write("geoip/geoip.yaml", GEOIP);
    dir.write("server.yaml", SERVER);
    let (one, two) = (start(&dir), start(&dir));
    let (a, b) = (Client::new(one.addr), Client::new(two.addr));

    let subnets = subnets();
    assert_eq!(subnets.len(), 10_000);
    let mut seen: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut compared = 0usize;
    let mut id: u16 = 0;
    for (i, ecs) in subnets.iter().enumerate() {
        let mut questions = vec![
            ("reg.fleet.test", RecordType::A),
            ("flat.fleet.test", RecordType::A),
        ];
        if i % 10 == 0 {
            questions.push(("reg.fleet.test", RecordType::AAAA));
        }
        for (name, rtype) in questions {
            id = id.wrapping_add(1);
            let mut packet = Ask::new(name, rtype).ecs(ecs).packet();
            packet[..2].copy_from_slice(&id.to_be_bytes());
            let (x, y) = (a.ask(&packet), b.ask(&packet));
            let m = Message::from_vec(&x).unwrap();
            assert_eq!(
                m.metadata.response_code,
                ResponseCode::NoError,
                "{name} {ecs}"
            );
            if x != y {
                panic!(
                    "{name} {rtype} for {ecs}: the instances differ\n one: {m:?}\n two: {:?}",
                    Message::from_vec(&y).unwrap()
                );
            }
            compared += 1;
            if rtype == RecordType::A {
                let region = region_of(&m).unwrap_or_else(|| panic!("{name} {ecs}: {m:?}"));
                *seen.entry(name).or_default().entry(region).or_default() += 1;
            }
        }
    }
    println!("{compared} answers compared, identical; chosen regions: {seen:?}");

    // The inputs were in play: the drained and the failing replicas never answer, the others
    // share the world, and the tie band (eastus, eastus2) was hashed both ways.
    let reg = &seen["reg.fleet.test"];
    for absent in ["westeurope", "southeastasia"] {
        assert!(!reg.contains_key(absent), "{absent} answered: {reg:?}");
    }
    assert!(reg.len() >= 8, "few regions chosen: {reg:?}");
    assert!(
        reg.contains_key("eastus") && reg.contains_key("eastus2"),
        "{reg:?}"
    );
    let flat = &seen["flat.fleet.test"];
    assert!(!flat.contains_key("southeastasia"), "{flat:?}");
    assert_eq!(flat.len(), 2, "{flat:?}");
}
