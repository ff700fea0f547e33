//! Response rate limiting over real sockets: a flood of identical queries is limited with every
//! `slip`-th response truncated, TCP never is, an ECS-forwarding resolver is a normal client but
//! its total is bounded, a valid server cookie exempts, and settings apply by live reload.

mod common;

use common::{Ask, TestDir, TestServer, cookie_of, metric};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What a burst of UDP queries got back: full answers, truncated ones, and silence.
#[derive(Debug, Default)]
struct Burst {
    full: usize,
    truncated: usize,
    /// How long sending took (buckets refill meanwhile).
    sending: Duration,
}

/// Sends every packet as fast as it can from `source` while a second thread collects answers
/// until 500 ms pass quietly (at most 10 s).
fn burst(server: SocketAddr, source: &str, packets: &[Vec<u8>]) -> Burst {
    let sock = UdpSocket::bind((source, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let reader = sock.try_clone().unwrap();
    let collect = std::thread::spawn(move || {
        let mut out = Burst::default();
        let mut buf = [0u8; 4096];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let Ok((n, _)) = reader.recv_from(&mut buf) else {
                break;
            };
            let m = Message::from_vec(&buf[..n]).unwrap();
            if m.metadata.truncation {
                assert!(m.answers.is_empty(), "a slipped response carries no answer");
                out.truncated += 1;
            } else {
                assert!(!m.answers.is_empty(), "{m:?}");
                out.full += 1;
            }
        }
        out
    });
    let started = Instant::now();
    for (i, p) in packets.iter().enumerate() {
        sock.send_to(p, server).unwrap();
        if i % 64 == 63 {
            // Let the reader keep up: the kernel drops what overflows a socket buffer.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let sending = started.elapsed();
    Burst {
        sending,
        ..collect.join().unwrap()
    }
}

fn start(server_yaml: &str) -> (TestDir, TestServer) {
    let dir = TestDir::example();
    dir.write("server.yaml", server_yaml);
    let s = TestServer::start(&dir.path);
    (dir, s)
}

fn flood(n: usize) -> Vec<Vec<u8>> {
    vec![Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).packet(); n]
}

/// Rewrites server.yaml and waits until the reload is served.
fn reconfigure(dir: &TestDir, s: &TestServer, yaml: &str) {
    let before = s.status()["generation"].as_u64().unwrap();
    dir.write("server.yaml", yaml);
    let start = Instant::now();
    while s.status()["generation"].as_u64().unwrap() == before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server.yaml not reloaded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_flood_is_limited_with_every_second_response_slipped_and_tcp_is_not() {
    let (_dir, s) = start("rate_limit: {responses_per_second: 10, slip: 2, ipv4_prefix: 32}\n");
    let b = burst(s.addr, "127.0.0.1", &flood(200));
    // A burst of 10 (one second's worth) plus what refills while the burst lasts.
    assert!((10..=20).contains(&b.full), "{b:?}");
    let limited = 200 - b.full;
    assert!(
        b.truncated.abs_diff(limited / 2) <= 2,
        "every 2nd limited response slips: {b:?}"
    );
    let text = s.admin("/metrics");
    assert_eq!(
        metric(&text, "georoute_rrl_limited_total"),
        limited as f64,
        "{text}"
    );
    assert_eq!(
        metric(&text, "georoute_rrl_slipped_total"),
        b.truncated as f64
    );
    // Another client network is not affected; neither is TCP from the limited one.
    let other = burst(s.addr, "127.0.0.2", &flood(10));
    assert_eq!(other.full, 10, "{other:?}");
    for _ in 0..50 {
        let m = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).tcp(s.addr);
        assert!(!m.answers.is_empty() && !m.metadata.truncation);
    }
    // A second later the bucket has refilled.
    std::thread::sleep(Duration::from_millis(1100));
    let again = burst(s.addr, "127.0.0.1", &flood(10));
    assert_eq!(again.full, 10, "{again:?}");
}

#[test]
fn settings_apply_by_live_reload_slip_zero_off_and_exempt() {
    let (dir, s) = start("rate_limit: {responses_per_second: 5, slip: 0, ipv4_prefix: 32}\n");
    let b = burst(s.addr, "127.0.0.3", &flood(50));
    assert!((5..=8).contains(&b.full), "{b:?}");
    assert_eq!(b.truncated, 0, "slip 0 drops every limited response");

    reconfigure(
        &dir,
        &s,
        "rate_limit: {responses_per_second: 5, slip: 1, ipv4_prefix: 32}\n",
    );
    let b = burst(s.addr, "127.0.0.4", &flood(50));
    assert_eq!(
        b.full + b.truncated,
        50,
        "slip 1: every limited response is truncated: {b:?}"
    );
    assert!(b.truncated >= 40, "{b:?}");

    reconfigure(
        &dir,
        &s,
        "rate_limit: {responses_per_second: 0, source_responses_per_second: 0}\n",
    );
    assert_eq!(
        burst(s.addr, "127.0.0.5", &flood(200)).full,
        200,
        "0 turns RRL off, the network total included"
    );

    reconfigure(
        &dir,
        &s,
        "rate_limit: {responses_per_second: 5, exempt: [127.0.0.6/32]}\n",
    );
    assert_eq!(burst(s.addr, "127.0.0.6", &flood(200)).full, 200, "exempt");
    assert!(
        burst(s.addr, "127.0.0.7", &flood(50)).full < 50,
        "others are limited again"
    );
}

fn ecs_queries(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let net = format!("{}.{}.{}.0/24", 11 + i / 65536, (i / 256) % 256, i % 256);
            Ask::new("myregistry.azurecr.io", RecordType::A)
                .ecs(&net)
                .packet()
        })
        .collect()
}

#[test]
fn an_ecs_forwarding_resolver_is_a_normal_client_but_its_total_is_bounded() {
    // Default limits: 20/s per response (each ECS subnet its own), 2000/s per network in all.
    let (dir, s) = start("rate_limit: {}\n");
    let b = burst(s.addr, "127.0.0.8", &ecs_queries(1000));
    assert_eq!(
        b.full, 1000,
        "one query per client subnet is never limited: {b:?}"
    );
    // An attacker varying ECS: bounded by the network's total.
    reconfigure(&dir, &s, "rate_limit: {source_responses_per_second: 100}\n");
    let b = burst(s.addr, "127.0.0.9", &ecs_queries(1000));
    // The bucket's 100 plus what refills while the burst is sent (longer on a loaded machine).
    let most = 130 + (100.0 * b.sending.as_secs_f64()) as usize;
    assert!((100..=most).contains(&b.full), "{b:?}, at most {most}");
}

#[test]
fn a_valid_server_cookie_is_not_limited() {
    let (_dir, s) = start("rate_limit: {responses_per_second: 5, slip: 2, ipv4_prefix: 32}\n");
    let client = [9u8, 8, 7, 6, 5, 4, 3, 2];
    let first = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A)
        .cookie(&client)
        .from("127.0.0.10")
        .udp(s.addr);
    let cookie = cookie_of(&first).expect("a server cookie");
    assert_eq!(cookie.len(), 24);
    let with = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).cookie(&cookie);
    let b = burst(s.addr, "127.0.0.10", &vec![with.packet(); 100]);
    assert_eq!(b.full, 100, "{b:?}");
    // Without it, the same client is limited.
    let without = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).cookie(&client);
    assert!(burst(s.addr, "127.0.0.10", &vec![without.packet(); 100]).full < 20);
}
