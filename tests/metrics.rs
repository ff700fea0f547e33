//! `/metrics` over the admin HTTP: Prometheus text, names by the project's rule, bounded labels,
//! counts that follow the queries, and every name documented in the README.

mod common;

use common::{Ask, TestDir, TestServer};
use hickory_proto::rr::RecordType;
use std::collections::BTreeSet;
use std::time::Duration;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_follow_queries_and_are_named_by_the_rule() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    for _ in 0..3 {
        Ask::new("myregistry.azurecr.io", RecordType::A)
            .ecs("192.0.2.0/24")
            .udp(s.addr);
    }
    Ask::new("nope.azurecr.io", RecordType::AAAA).udp(s.addr);
    Ask::new("example.com", RecordType::A).tcp(s.addr);
    common::udp_raw(s.addr, "127.0.0.1".parse().unwrap(), &[1, 2, 3]); // dropped, no answer

    let text = s.admin("/metrics");
    assert_eq!(
        value(
            &text,
            "georoute_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\"}"
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "georoute_dns_queries_total{qtype=\"AAAA\",rcode=\"NXDOMAIN\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "georoute_dns_queries_total{qtype=\"A\",rcode=\"REFUSED\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "georoute_dns_zone_queries_total{zone=\"azurecr.io\"}"
        ),
        4.0
    );
    assert_eq!(
        value(&text, "georoute_dns_zone_queries_total{zone=\"none\"}"),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "georoute_dns_global_answers_total{zone=\"azurecr.io\",registry=\"myregistry\",region=\"australiaeast\"}"
        ),
        3.0
    );
    assert!(value(&text, "georoute_dns_dropped_total") >= 1.0);
    assert_eq!(value(&text, "georoute_config_generation"), 1.0);
    assert_eq!(value(&text, "georoute_config_reload_failures_total"), 0.0);

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        names.insert(base.to_string());
        // georoute_<subsystem>_<name>_<unit>[_total], lower-case words.
        let parts: Vec<&str> = base.split('_').collect();
        assert!(parts.len() >= 3 && parts[0] == "georoute", "{base}");
        assert!(
            ["dns", "rrl", "route", "probe", "health", "config", "dnssec"].contains(&parts[1]),
            "{base}: unknown subsystem"
        );
        assert!(
            base.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{base}"
        );
        // Labels are from fixed sets or configuration names: never an address.
        if let Some(labels) = line.split_once('{').map(|(_, l)| l) {
            assert!(
                !labels.contains("127.0.0.1") && !labels.contains("192.0.2."),
                "{line}"
            );
        }
    }
    for name in &names {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not list {name}"
        );
    }
}

#[test]
fn reload_counters_and_generation() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(s.addr);
    dir.write("probes/regions.yaml", "regions: [not, a, map]\n");
    let mut text = String::new();
    for _ in 0..100 {
        text = s.admin("/metrics");
        if value(&text, "georoute_config_reload_failures_total") == 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(value(&text, "georoute_config_reload_failures_total"), 1.0);
    dir.write("probes/regions.yaml", "regions: {}\n");
    for _ in 0..100 {
        text = s.admin("/metrics");
        if value(&text, "georoute_config_generation") == 2.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(value(&text, "georoute_config_reloads_total"), 1.0);
    // Counters survive the reload.
    assert_eq!(
        value(
            &text,
            "georoute_dns_global_answers_total{zone=\"azurecr.io\",registry=\"myregistry\",region=\"australiaeast\"}"
        ),
        1.0
    );
}
