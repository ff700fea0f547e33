//! Probes keep their schedule across reloads: with the configuration rewritten more often than
//! the probe interval, a failing replica is still declared down in about `fall` intervals.

mod common;

use common::{Ask, StandIn, TestDir, TestServer, cname_region};
use hickory_proto::rr::RecordType;
use std::time::{Duration, Instant};

fn zone(good: std::net::SocketAddr, bad: std::net::SocketAddr, weight: u32) -> String {
    format!(
        "zone: p.test\nsoa: {{mname: ns1.p.test., rname: h.p.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\nnameservers: [{{name: ns1.p.test., addresses: [192.0.2.1]}}]\nregistries:\n  - name: reg\n    home_region: eastus\n    replicas:\n      - {{region: eastus, weight: {weight}, addresses: [192.0.2.10], probe_address: \"{good}\"}}\n      - {{region: westeurope, addresses: [192.0.2.11], probe_address: \"{bad}\"}}\n"
    )
}

#[test]
fn frequent_reloads_neither_delay_nor_stop_probes() {
    let good = StandIn::start("127.0.0.1", 401);
    let flaky = StandIn::start("127.0.0.1", 401);
    let dir = TestDir::example();
    std::fs::remove_file(dir.path.join("zones/azurecr.io.yaml")).unwrap();
    dir.write("zones/p.test.yaml", &zone(good.addr, flaky.addr, 100));
    dir.write(
        "probes/default.yaml",
        "policies:\n  default: {scheme: http, interval: 800ms, timeout: 300ms, fall: 2, rise: 2}\n",
    );
    let s = TestServer::start_with(&dir.path, |st| st.probes = true);
    let ask = Ask::new("reg.p.test", RecordType::A).ecs("198.51.100.0/24"); // westeurope's
    assert_eq!(
        cname_region(&ask.udp(s.addr)).as_deref(),
        Some("westeurope")
    );

    flaky.set(503);
    let failed = Instant::now();
    let mut weight = 100;
    let mut moved = None;
    // Rewrite the zone every 250 ms (each a reload), far more often than the 800 ms interval (at
    // 600 ms a failover after 1.26 s had seen only 2 reloads in about one run of five).
    while failed.elapsed() < Duration::from_secs(8) {
        weight = if weight == 100 { 101 } else { 100 };
        let tmp = dir.path.join("zones/.p.tmp");
        std::fs::write(&tmp, zone(good.addr, flaky.addr, weight)).unwrap();
        std::fs::rename(&tmp, dir.path.join("zones/p.test.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        if cname_region(&ask.udp(s.addr)).as_deref() == Some("eastus") {
            moved = Some(failed.elapsed());
            break;
        }
    }
    let reloads = s.status()["reloads"].as_u64().unwrap();
    let moved = moved.unwrap_or_else(|| panic!("never failed over ({reloads} reloads)"));
    eprintln!("failed over after {moved:?} with {reloads} reloads");
    assert!(reloads >= 3, "{reloads} reloads");
    // fall 2 x interval 0.8 s + timeout + a reload's poll: well under 3 s.
    assert!(moved < Duration::from_secs(3), "{moved:?}");
}
