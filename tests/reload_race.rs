//! No torn state on reload: two configuration versions with the replicas in a different order
//! alternate every 0.3 s for 20 s while one replica fails throughout; under load from several
//! clients, the failing replica is never answered (health is indexed by replica position, so a
//! configuration paired with another's health would name it).

mod common;

use common::{Ask, StandIn, TestDir, TestServer, cname_region};
use hickory_proto::rr::RecordType;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn zone(good: std::net::SocketAddr, bad: std::net::SocketAddr, bad_first: bool) -> String {
    let good =
        format!("      - {{region: eastus, addresses: [192.0.2.10], probe_address: \"{good}\"}}\n");
    let bad = format!(
        "      - {{region: westeurope, addresses: [192.0.2.11], probe_address: \"{bad}\"}}\n"
    );
    let (first, second) = if bad_first { (bad, good) } else { (good, bad) };
    format!(
        "zone: r.test\nsoa: {{mname: ns1.r.test., rname: hostmaster.r.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\nnameservers: [{{name: ns1.r.test., addresses: [192.0.2.1]}}]\nregistries:\n  - name: reg\n    home_region: eastus\n    replicas:\n{first}{second}"
    )
}

#[test]
fn a_failing_replica_is_never_answered_while_versions_alternate() {
    let good = StandIn::start("127.0.0.1", 401);
    let bad = StandIn::start("127.0.0.1", 503);
    let dir = TestDir::example();
    std::fs::remove_file(dir.path.join("zones/azurecr.io.yaml")).unwrap();
    dir.write("zones/r.test.yaml", &zone(good.addr, bad.addr, false));
    dir.write(
        "probes/default.yaml",
        "policies:\n  default: {scheme: http, interval: 100ms, timeout: 1s, fall: 2, rise: 2}\n",
    );
    let s = TestServer::start_with(&dir.path, |st| st.probes = true);
    // The override puts 198.51.100.0/24 in westeurope: without health it would get westeurope.
    let ask = Ask::new("reg.r.test", RecordType::A).ecs("198.51.100.0/24");
    assert_eq!(cname_region(&ask.udp(s.addr)).as_deref(), Some("eastus"));

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, answered, wrong) = (stop.clone(), answered.clone(), wrong.clone());
            let (addr, packet) = (s.addr, ask.packet());
            std::thread::spawn(move || {
                let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut buf = [0u8; 2048];
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(40) {
                    sock.send_to(&packet, addr).unwrap();
                    let Ok((n, _)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let m = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
                    answered.fetch_add(1, Ordering::Relaxed);
                    if cname_region(&m).as_deref() != Some("eastus") {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let mut flips = 0;
    while start.elapsed() < Duration::from_secs(20) {
        flips += 1;
        // Atomic replace, as an editor or a ConfigMap swap does.
        let tmp = dir.path.join("zones/.r.test.tmp");
        std::fs::write(&tmp, zone(good.addr, bad.addr, flips % 2 == 1)).unwrap();
        std::fs::rename(&tmp, dir.path.join("zones/r.test.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let reloads = s.status()["reloads"].as_u64().unwrap();
    let (answered, wrong) = (
        answered.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
    );
    eprintln!("{flips} flips, {reloads} reloads, {answered} answers, {wrong} wrong");
    assert!(
        reloads >= 20,
        "the versions really alternated: {reloads} reloads"
    );
    assert!(answered > 10_000, "{answered} answers");
    assert_eq!(wrong, 0, "the failing replica was answered");
}
