//! Table tests of the `georoute check` report: each case is a zone file (on disk, loaded by the
//! real loader) and the exact lines it must print.

use super::*;

const HEAD: &str = "\
zone: example.com
ttl: 3600
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 7, refresh: 3600, retry: 600, expire: 604800, minimum: 30}
nameservers:
  - {name: ns1.example.com., addresses: [192.0.2.53]}
  - {name: ns2.example.net.}
";

/// Loads `zone` (after [`HEAD`]) from a fresh folder with the shipped region catalogue.
fn report(zone: &str, extra: &[(&str, &str)]) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "georoute-check-render-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let root = env!("CARGO_MANIFEST_DIR");
    write(
        "geoip/regions.yaml",
        &std::fs::read_to_string(format!("{root}/geoip/regions.yaml")).unwrap(),
    );
    write("zones/test.yaml", &format!("{HEAD}{zone}"));
    for (rel, text) in extra {
        write(rel, text);
    }
    let loaded = crate::load_snapshot(&dir, 1);
    let _ = std::fs::remove_dir_all(&dir);
    render(&loaded.unwrap_or_else(|e| panic!("{e}")))
}

/// The report's lines from the zone line on (the first line counts the region catalogue).
fn zone_part(report: &str) -> Vec<&str> {
    report.lines().skip(1).collect()
}

#[test]
fn registries_print_in_the_configurations_words() {
    let cases: &[(&str, &[&str])] = &[
        (
            // Every default: cname, both kinds of endpoint, the four default TTLs, the default
            // routing keys.
            "registries:
  - name: reg
    home_region: eastus
    replicas:
      - {region: eastus, addresses: [192.0.2.10, \"2001:db8::10\"]}
",
            &[
                "zone example.com (ttl 3600, SOA ns1.example.com hostmaster.example.com serial 7, name servers ns1.example.com, ns2.example.net, 0 view(s), 1 registry)",
                "  registry reg.example.com: home_region eastus, global_answer cname, regional_endpoints true, data_endpoints true, probe default",
                "    ttl: global 30, suspect 5, regional 300, data 300",
                "    routing: tie_band_km 500, tie_band_percent 10, tie_band_ms 10, failover_spread 2, failover_band_percent 50, failback_ramp 0s, all_down open",
                "    replica eastus: global_endpoint_routing true, weight 100, addresses 192.0.2.10, 2001:db8::10",
            ],
        ),
        (
            // Everything set: address answers (regional endpoints off), a suspect TTL longer
            // than the global one (capped), a ramp, closed, a drained replica, data addresses,
            // probe settings, default regions.
            "registries:
  - name: Other
    home_region: westeurope
    regional_endpoints: false
    data_endpoints: true
    ttl: {global: 20, suspect: 60, regional: 120, data: 45}
    default_regions: [westeurope, eastus]
    routing: {tie_band_km: 0, tie_band_percent: 2.5, tie_band_ms: 0, failover_spread: 1,
              failover_band_percent: 0, failback_ramp: 2m, all_down: closed}
    replicas:
      - region: eastus
        global_endpoint_routing: false
        weight: 7
        addresses: [192.0.2.10]
        data_addresses: [192.0.2.20, 192.0.2.21]
        probe_url: https://other.example/v2/
        probe_address: 192.0.2.10:8443
      - {region: westeurope, addresses: [\"2001:db8::1\"], probe: quiet}
",
            &[
                "zone example.com (ttl 3600, SOA ns1.example.com hostmaster.example.com serial 7, name servers ns1.example.com, ns2.example.net, 0 view(s), 1 registry)",
                "  registry other.example.com: home_region westeurope, global_answer address, regional_endpoints false, data_endpoints true, probe default",
                "    ttl: global 20, suspect 20, regional 120, data 45",
                "    routing: tie_band_km 0, tie_band_percent 2.5, tie_band_ms 0, failover_spread 1, failover_band_percent 0, failback_ramp 2m, all_down closed",
                "    default_regions: westeurope, eastus",
                "    replica eastus: global_endpoint_routing false, weight 7, addresses 192.0.2.10, data_addresses 192.0.2.20, 192.0.2.21, probe_url https://other.example/v2/, probe_address 192.0.2.10:8443",
                "    replica westeurope: global_endpoint_routing true, weight 100, addresses 2001:db8::1, probe quiet",
            ],
        ),
        (
            // A view: its networks, region, pinning, fallback, trusted resolvers, registries.
            "registries:
  - name: reg
    home_region: eastus
    data_endpoints: false
    replicas:
      - {region: eastus, addresses: [192.0.2.10]}
views:
  - name: corp
    clients: [10.1.0.0/16, 10.2.0.0/16]
    region: northeurope
    global: pinned
    fallback: public
    trusted_resolvers: [10.9.0.53]
    registries:
      reg: {global_address: 10.1.0.4}
  - name: lab
    clients: [\"fd00::/8\"]
    region: eastus
",
            &[
                "zone example.com (ttl 3600, SOA ns1.example.com hostmaster.example.com serial 7, name servers ns1.example.com, ns2.example.net, 2 view(s), 1 registry)",
                "  view corp: clients 10.1.0.0/16, 10.2.0.0/16; region northeurope; global pinned; fallback public; trusted_resolvers 10.9.0.53/32; registries reg",
                "  view lab: clients fd00::/8; region eastus; global routed; fallback none; trusted_resolvers none; registries none",
                "  registry reg.example.com: home_region eastus, global_answer cname, regional_endpoints true, data_endpoints false, probe default",
                "    ttl: global 30, suspect 5, regional 300, data 300",
                "    routing: tie_band_km 500, tie_band_percent 10, tie_band_ms 10, failover_spread 2, failover_band_percent 50, failback_ramp 0s, all_down open",
                "    replica eastus: global_endpoint_routing true, weight 100, addresses 192.0.2.10",
            ],
        ),
    ];
    let policies = ("probes/policies.yaml", "policies:\n  quiet: {kind: none}\n");
    for (zone, want) in cases {
        let got = report(zone, &[policies]);
        assert_eq!(zone_part(&got), *want, "zone:\n{zone}\nreport:\n{got}");
    }
}

#[test]
fn a_signed_zone_prints_its_ds_and_dnskey() {
    let key = crate::dnssec::key::generate("ecdsa-p256").unwrap();
    let zone = "registries: []\ndnssec: {key_file: keys/zone.pem, signature_validity: 7d}\n";
    let got = report(zone, &[("keys/zone.pem", &key)]);
    let lines = zone_part(&got);
    let tag = crate::dnssec::key::ZoneKey::from_pem(key.as_bytes())
        .unwrap()
        .key_tag;
    assert_eq!(
        lines[1],
        format!(
            "  signed: algorithm 13, key tag {tag}, signature_validity 7d; for the parent zone:"
        ),
        "{got}"
    );
    assert!(
        lines[2].starts_with(&format!("    example.com. IN DS {tag} 13 2 ")),
        "{got}"
    );
    assert!(
        lines[3].starts_with("    example.com. IN DNSKEY 257 3 13 "),
        "{got}"
    );
}

#[test]
fn the_fleet_line_names_its_settings() {
    let fleet = "fleet:\n  etcd: [http://127.0.0.1:2379, http://127.0.0.2:2379]\n  observers: 3\n  quorum: 2\n  lease: 90s\n";
    let got = report("registries: []\n", &[("probes/fleet.yaml", fleet)]);
    let line = got.lines().nth(1).unwrap();
    assert_eq!(
        line,
        "fleet: etcd http://127.0.0.1:2379, http://127.0.0.2:2379, prefix /georoute/, observers 3, quorum 2, lease 90s",
        "{got}"
    );
}

#[test]
fn durations_and_addresses_read_as_written() {
    for (ms, text) in [
        (0, "0s"),
        (500, "500ms"),
        (1500, "1500ms"),
        (1000, "1s"),
        (60_000, "1m"),
        (90_000, "90s"),
        (3_600_000, "1h"),
        (604_800_000, "7d"),
    ] {
        assert_eq!(duration(ms), text, "{ms} ms");
    }
    let a = Addresses::from_ips(["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()]);
    assert_eq!(addresses(&a), "192.0.2.1, 2001:db8::1");
    assert_eq!(addresses(&Addresses::default()), "none");
}
