//! Health checking with real HTTP servers on 127.0.0.x standing in for replicas: probes, status
//! rules (401/429 healthy), failover and failback times, per-registry isolation, region health,
//! the start round, TCP probes and `/status`.

mod common;

use common::{Ask, StandIn, TestDir, TestServer, answers, cname_region};
use hickory_proto::rr::RecordType;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Short intervals; a generous timeout so the start round (bounded by it) finishes on a busy
/// machine.
const POLICY: &str = "policies:\n  default: {scheme: http, interval: 100ms, timeout: 1s, fall: 3, rise: 3}\n  tcp: {kind: tcp, interval: 100ms, timeout: 1s, fall: 2, rise: 2}\n";

fn zone(replicas: &[(&str, &str, SocketAddr)]) -> String {
    // (registry, region, probe address) → one registry per name, in order.
    let mut regs: Vec<(&str, Vec<(&str, SocketAddr)>)> = Vec::new();
    for &(reg, region, addr) in replicas {
        match regs.iter_mut().find(|(r, _)| *r == reg) {
            Some((_, list)) => list.push((region, addr)),
            None => regs.push((reg, vec![(region, addr)])),
        }
    }
    let mut y = String::from(
        "zone: h.test\nsoa: {mname: ns1.h.test., rname: hostmaster.h.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers: [{name: ns1.h.test., addresses: [192.0.2.1]}]\nregistries:\n",
    );
    for (reg, list) in regs {
        y += &format!(
            "  - name: {reg}\n    home_region: {}\n    default_regions: [{}]\n    replicas:\n",
            list[0].0, list[0].0
        );
        for (i, (region, addr)) in list.iter().enumerate() {
            y += &format!(
                "      - {{region: {region}, addresses: [192.0.2.{}], probe_address: \"{addr}\"}}\n",
                10 + i
            );
        }
    }
    y
}

fn start(zone_yaml: &str, extra: &[(&str, &str)]) -> (TestDir, TestServer) {
    let dir = TestDir::with_zone(zone_yaml);
    dir.write("probes/default.yaml", POLICY);
    for (file, text) in extra {
        dir.write(file, text);
    }
    let s = TestServer::start_with(&dir.path, |st| st.probes = true);
    (dir, s)
}

fn region(s: &TestServer, reg: &str) -> String {
    cname_region(&Ask::new(&format!("{reg}.h.test"), RecordType::A).udp(s.addr)).unwrap()
}

/// Polls (every 20 ms, at most `limit`) until the global name answers `want`; returns the wait.
fn wait_for(s: &TestServer, reg: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if region(s, reg) == want {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{reg} did not move to {want} within {limit:?}");
}

#[test]
fn failover_and_failback_follow_probes() {
    let primary = StandIn::start("127.0.0.2", 401);
    let backup = StandIn::start("127.0.0.3", 401);
    let (_dir, s) = start(
        &zone(&[
            ("reg", "eastus", primary.addr),
            ("reg", "eastus2", backup.addr),
        ]),
        &[],
    );
    // Unknown location: default_regions puts eastus first; an unauthenticated 401 is healthy.
    assert_eq!(region(&s, "reg"), "eastus");
    assert_eq!(
        primary.hosts.lock().unwrap()[0],
        "reg.eastus.geo.h.test",
        "Host is the regional name"
    );

    primary.set(503);
    let failover = wait_for(&s, "reg", "eastus2", Duration::from_secs(5));
    // fall 3 × 100 ms (±10% jitter), after the change lands between probes: 0.2 s to ~0.5 s.
    assert!(failover >= Duration::from_millis(150), "{failover:?}");
    // The regional name of the failed replica still answers.
    assert_eq!(
        answers(&Ask::new("reg.eastus.geo.h.test", RecordType::A).udp(s.addr)),
        ["reg.eastus.geo.h.test A 192.0.2.10"]
    );

    primary.set(401);
    let failback = wait_for(&s, "reg", "eastus", Duration::from_secs(5));
    assert!(failback >= Duration::from_millis(150), "{failback:?}");
    eprintln!("failover {failover:?}, failback {failback:?} (interval 100 ms, fall 3, rise 3)");
    // Both transitions are in /status's recent events, newest first, with their reasons.
    let deadline = Instant::now() + Duration::from_secs(5);
    let events = loop {
        let events = s.status()["events"].as_array().unwrap().clone();
        if events.len() >= 2 || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            let f = |k: &str| e[k].as_str().unwrap();
            (f("kind"), f("subject"), f("change"))
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("health", "reg.h.test/eastus", "down \u{2192} up"),
            ("health", "reg.h.test/eastus", "up \u{2192} down"),
        ],
        "{events:?}"
    );
    assert!(
        events[1]["reason"]
            .as_str()
            .unwrap()
            .contains("3 consecutive"),
        "{events:?}"
    );
}

#[test]
fn throttling_never_fails_over_and_timeouts_do() {
    let throttled = StandIn::start("127.0.0.2", 429);
    let slow = StandIn::start("127.0.0.3", 0);
    let other = StandIn::start("127.0.0.4", 200);
    let (_dir, s) = start(
        &zone(&[
            ("a", "eastus", throttled.addr),
            ("a", "eastus2", other.addr),
            ("b", "westeurope", slow.addr),
            ("b", "northeurope", other.addr),
        ]),
        &[],
    );
    // Registry b: its westeurope stand-in never answers → timeout → failover.
    wait_for(&s, "b", "northeurope", Duration::from_secs(5));
    // Registry a: 429 for the whole test is healthy.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(region(&s, "a"), "eastus");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        throttled.requests.load(Ordering::SeqCst) >= 5,
        "it was probed all along"
    );
}

#[test]
fn one_registry_fails_over_alone_and_refused_connections_count() {
    let shared = StandIn::start("127.0.0.2", 200);
    let b_east = StandIn::start("127.0.0.3", 200);
    let backup = StandIn::start("127.0.0.4", 200);
    let (_dir, s) = start(
        &zone(&[
            ("a", "eastus", shared.addr),
            ("a", "eastus2", backup.addr),
            ("b", "eastus", b_east.addr),
            ("b", "eastus2", backup.addr),
        ]),
        &[],
    );
    assert_eq!(
        (region(&s, "a"), region(&s, "b")),
        ("eastus".into(), "eastus".into())
    );
    // b's eastus replica starts failing; a's replica in the same region does not.
    b_east.set(503);
    wait_for(&s, "b", "eastus2", Duration::from_secs(5));
    for _ in 0..10 {
        assert_eq!(region(&s, "a"), "eastus");
    }
}

#[test]
fn refused_connections_are_failures() {
    let gone = TcpListener::bind("127.0.0.3:0").unwrap();
    let dead = gone.local_addr().unwrap();
    drop(gone);
    let up = StandIn::start("127.0.0.4", 200);
    let (_dir, s) = start(
        &zone(&[("reg", "eastus", dead), ("reg", "eastus2", up.addr)]),
        &[],
    );
    assert_eq!(region(&s, "reg"), "eastus2");
}

#[test]
fn a_replica_failing_at_start_is_out_before_the_first_query() {
    let down = StandIn::start("127.0.0.2", 500);
    let up = StandIn::start("127.0.0.3", 200);
    let (_dir, s) = start(
        &zone(&[("reg", "eastus", down.addr), ("reg", "eastus2", up.addr)]),
        &[],
    );
    // The first probe round ran before the listeners opened: the very first answer avoids it.
    assert_eq!(region(&s, "reg"), "eastus2");
}

#[test]
fn region_health_from_the_operator_file_and_region_probes() {
    let a = StandIn::start("127.0.0.2", 200);
    let b = StandIn::start("127.0.0.3", 200);
    let region_probe = StandIn::start("127.0.0.4", 200);
    let regions = format!(
        "regions:\n  eastus: {{status: down, reason: \"INC-1 storage\"}}\nprobes:\n  eastus2: {{url: \"http://{}/status\"}}\n",
        region_probe.addr
    );
    let (_dir, s) = start(
        &zone(&[
            ("reg", "eastus", a.addr),
            ("reg", "eastus2", b.addr),
            ("reg", "northeurope", a.addr),
        ]),
        &[("probes/regions.yaml", &regions)],
    );
    // eastus is down by the operator: eastus2 (nearest healthy) answers.
    assert_eq!(region(&s, "reg"), "eastus2");
    // The region probe of eastus2 fails: every replica there leaves the global answer.
    region_probe.set(503);
    wait_for(&s, "reg", "northeurope", Duration::from_secs(5));
    // Regional names in down regions keep answering.
    assert_eq!(
        answers(&Ask::new("reg.eastus.geo.h.test", RecordType::A).udp(s.addr)).len(),
        1
    );
    assert_eq!(
        answers(&Ask::new("reg.eastus2.geo.h.test", RecordType::A).udp(s.addr)).len(),
        1
    );

    let status = s.admin("/status");
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["regions"]["eastus"]["healthy"], false);
    assert_eq!(v["regions"]["eastus"]["operator_reason"], "INC-1 storage");
    assert_eq!(v["regions"]["eastus2"]["probe"]["health"], "down");
}

#[test]
fn tcp_probes_and_status_document() {
    let up = StandIn::start("127.0.0.2", 200);
    let gone = TcpListener::bind("127.0.0.3:0").unwrap();
    let dead = gone.local_addr().unwrap();
    drop(gone);
    let yaml = zone(&[("reg", "eastus", dead), ("reg", "eastus2", up.addr)])
        .replace("probe_address", "probe: tcp, probe_address");
    let (_dir, s) = start(&yaml, &[]);
    assert_eq!(
        region(&s, "reg"),
        "eastus2",
        "refused TCP connect is a failure"
    );

    let body = s.admin("/status");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let replicas = &v["zones"][0]["registries"][0]["replicas"];
    assert_eq!(replicas[0]["region"], "eastus");
    assert_eq!(replicas[0]["healthy"], false);
    assert_eq!(replicas[0]["global_endpoint_routing"], true);
    assert_eq!(replicas[0]["probe"]["health"], "down");
    assert!(
        replicas[0]["probe"]["last_probe"]["error"]
            .as_str()
            .unwrap()
            .contains("connect")
    );
    assert_eq!(replicas[1]["probe"]["health"], "up");
    assert!(
        replicas[1]["probe"]["last_probe"]["latency_ms"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert!(
        replicas[1]["probe"]["last_transition"]["reason"]
            .as_str()
            .is_some()
    );
    assert_eq!(v["generation"], 1);
    assert!(s.admin("/healthz").contains("ok"));
}

#[test]
fn all_down_fails_open_and_says_so() {
    let a = StandIn::start("127.0.0.2", 200);
    let b = StandIn::start("127.0.0.3", 200);
    let (_dir, s) = start(
        &zone(&[("reg", "eastus", a.addr), ("reg", "eastus2", b.addr)]),
        &[],
    );
    a.set(503);
    b.set(503);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v: serde_json::Value = serde_json::from_str(&s.admin("/status")).unwrap();
        if v["fail_open"][0] == "reg.h.test" {
            assert_eq!(v["fail_open_events"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "never failed open: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // An answer beats SERVFAIL: the default region still answers.
    assert_eq!(region(&s, "reg"), "eastus");
}

#[test]
fn regions_file_is_live_and_health_survives_the_reload() {
    let a = StandIn::start("127.0.0.2", 200);
    let b = StandIn::start("127.0.0.3", 503);
    let c = StandIn::start("127.0.0.4", 200);
    let (dir, s) = start(
        &zone(&[
            ("reg", "eastus", a.addr),
            ("reg", "eastus2", b.addr),
            ("reg", "northeurope", c.addr),
        ]),
        &[],
    );
    assert_eq!(region(&s, "reg"), "eastus");
    // eastus2 is down by its probe; now the operator marks eastus down, live.
    dir.write(
        "probes/regions.yaml",
        "regions:\n  eastus: {status: down, reason: \"INC-2 maintenance\"}\n",
    );
    wait_for(&s, "reg", "northeurope", Duration::from_secs(3));
    // Right after the reload eastus2 is still known down (not reset to unknown): never chosen.
    for _ in 0..20 {
        assert_eq!(region(&s, "reg"), "northeurope");
    }
    let v: serde_json::Value = serde_json::from_str(&s.admin("/status")).unwrap();
    assert_eq!(v["generation"], 2);
    assert_eq!(
        v["regions"]["eastus"]["operator_reason"],
        "INC-2 maintenance"
    );
    // Back up, live.
    dir.write("probes/regions.yaml", "regions: {}\n");
    wait_for(&s, "reg", "eastus", Duration::from_secs(3));
}
