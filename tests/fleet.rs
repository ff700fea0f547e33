//! Fleet health through a real 3-member etcd cluster on loopback, with three
//! georoute instances (two in-process, one a real process that gets killed), probing real HTTP
//! stand-ins: each replica is probed by its `observers` only, with the instance's User-Agent;
//! one observer seeing a replica down (a stand-in that answers 503 to it alone) fails nothing
//! over, a quorum fails it over everywhere, close together; a killed instance drops out when
//! its lease expires and the others take over its replicas; without etcd the instances keep
//! answering, probe everything themselves and say so, and they rejoin when etcd returns.
//!
//! Skipped, saying so, where etcd is absent (`.ci/run` installs Debian's etcd-server).

mod common;

use common::{Ask, StandIn, TestDir, TestServer, cname_region, free_port};
use hickory_proto::rr::RecordType;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 300;

/// Polls `f` every 50 ms until it is true, at most `limit`.
fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

struct Etcd {
    members: Vec<(String, u16, u16)>,
    children: Vec<Child>,
    dir: TestDir,
}

impl Etcd {
    fn start() -> Etcd {
        let dir = TestDir::new("etcd");
        let members: Vec<(String, u16, u16)> = (0..3)
            .map(|i| (format!("m{i}"), free_port(), free_port()))
            .collect();
        let mut e = Etcd {
            members,
            children: Vec::new(),
            dir,
        };
        e.run();
        e
    }

    fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(_, client, _)| format!("http://127.0.0.1:{client}"))
            .collect()
    }

    fn run(&mut self) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|(n, _, peer)| format!("{n}=http://127.0.0.1:{peer}"))
            .collect();
        for (name, client, peer) in &self.members {
            let log = std::fs::File::create(self.dir.path.join(format!("{name}.log"))).unwrap();
            let child = Command::new("etcd")
                .args(["--name", name])
                .arg(format!("--data-dir={}", self.dir.path.join(name).display()))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                ))
                .arg(format!("--initial-cluster={}", cluster.join(",")))
                .args([
                    "--initial-cluster-token",
                    "georoute-test",
                    "--initial-cluster-state",
                    "new",
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("etcd starts");
            self.children.push(child);
        }
        for url in self.endpoints() {
            until(Duration::from_secs(30), "etcd is healthy", || {
                http_get(&format!("{url}/health")).is_some_and(|b| b.contains("\"true\""))
            });
        }
    }

    fn stop(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP GET on loopback; the body of a 200.
fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut c = std::net::TcpStream::connect(host).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nhost: {host}\r\n\r\n").ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    (out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200"))
        .then(|| out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))
        .flatten()
}

fn zone(eastus: SocketAddr, eastus2: SocketAddr) -> String {
    format!(
        "zone: h.test\nsoa: {{mname: ns1.h.test., rname: hostmaster.h.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\n\
         nameservers: [{{name: ns1.h.test., addresses: [192.0.2.1]}}]\nregistries:\n\
         \x20 - name: reg\n    home_region: eastus\n    default_regions: [eastus, eastus2]\n    replicas:\n\
         \x20     - {{region: eastus, addresses: [192.0.2.10], probe_address: \"{eastus}\"}}\n\
         \x20     - {{region: eastus2, addresses: [192.0.2.11], probe_address: \"{eastus2}\"}}\n"
    )
}

/// An instance: in-process, or the real binary as a process (killable).
enum Instance {
    InProcess(TestServer),
    Process {
        child: Child,
        dns: SocketAddr,
        admin: SocketAddr,
    },
}

impl Instance {
    fn dns(&self) -> SocketAddr {
        match self {
            Instance::InProcess(s) => s.addr,
            Instance::Process { dns, .. } => *dns,
        }
    }

    fn status(&self) -> Option<serde_json::Value> {
        let admin = match self {
            Instance::InProcess(s) => s.server.as_ref().unwrap().admin_addr.unwrap(),
            Instance::Process { admin, .. } => *admin,
        };
        serde_json::from_str(&http_get(&format!("http://{admin}/status"))?).ok()
    }

    fn fleet(&self) -> serde_json::Value {
        self.status()
            .map(|s| s["fleet"].clone())
            .unwrap_or_default()
    }

    fn region(&self) -> Option<String> {
        cname_region(&Ask::new("reg.h.test", RecordType::A).udp(self.dns()))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Instance::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn agents_since(s: &StandIn, from: usize) -> BTreeSet<String> {
    s.agents.lock().unwrap()[from..].iter().cloned().collect()
}

fn ua(instance: &str) -> String {
    format!("georoute/{} ({instance})", env!("CARGO_PKG_VERSION"))
}

#[test]
fn a_fleet_shares_health_through_etcd() {
    if Command::new("etcd").arg("--version").output().is_err() {
        common::skip(
            "etcd",
            "the fleet test needs etcd (Debian: apt-get install etcd-server); .ci/run installs it",
        );
        return;
    }
    let mut etcd = Etcd::start();
    let eastus = StandIn::start("127.0.0.2", 401);
    let eastus2 = StandIn::start("127.0.0.3", 401);
    let dir = TestDir::with_zone(&zone(eastus.addr, eastus2.addr));
    dir.write(
        "probes/default.yaml",
        &format!("policies:\n  default: {{scheme: http, interval: {INTERVAL_MS}ms, timeout: 1s, fall: 2, rise: 2}}\n"),
    );
    let endpoints = etcd.endpoints();
    dir.write(
        "probes/fleet.yaml",
        &format!(
            "fleet:\n  etcd: [{}]\n  prefix: /test-{}/\n  observers: 2\n  quorum: majority\n  lease: 2s\n",
            endpoints.join(", "),
            std::process::id()
        ),
    );
    let names = ["dns-a", "dns-b", "dns-c"];
    let mut instances: Vec<Instance> = names[..2]
        .iter()
        .map(|n| {
            Instance::InProcess(TestServer::start_with(&dir.path, |st| {
                st.probes = true;
                st.instance = n.to_string();
            }))
        })
        .collect();
    let (dns, admin) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args([
            "serve",
            "--instance",
            "dns-c",
            "--dns",
            &dns.to_string(),
            "--admin",
            &admin.to_string(),
            "--config",
        ])
        .arg(&dir.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    instances.push(Instance::Process { child, dns, admin });

    // 1. Everyone joins and sees the same three members.
    until(Duration::from_secs(20), "three members everywhere", || {
        instances.iter().all(|i| {
            let f = i.fleet();
            f["state"] == "connected" && f["members"].as_array().is_some_and(|m| m.len() == 3)
        })
    });
    let members: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let observers = |replica: &str| -> Vec<String> {
        georoute::fleet::choice::observers(replica, &members, 2)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let east_observers = observers("replica/h.test/reg/eastus");
    let east2_observers = observers("replica/h.test/reg/eastus2");
    // Probe load: each replica hears from exactly its two observers, by User-Agent.
    let (from1, from2) = (
        eastus.agents.lock().unwrap().len(),
        eastus2.agents.lock().unwrap().len(),
    );
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 6));
    let want = |o: &[String]| o.iter().map(|n| ua(n)).collect::<BTreeSet<_>>();
    assert_eq!(agents_since(&eastus, from1), want(&east_observers));
    assert_eq!(agents_since(&eastus2, from2), want(&east2_observers));

    // 2. One observer's bad path: eastus answers 503 to it alone. Nobody fails over.
    eastus.fail_for(Some(&format!("({})", east_observers[0])));
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(INTERVAL_MS * 8) {
        for (i, inst) in instances.iter().enumerate() {
            assert_eq!(
                inst.region().as_deref(),
                Some("eastus"),
                "{} moved",
                names[i]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Same revision read, same answer (steady: nothing is written).
    let revisions: BTreeSet<String> = instances
        .iter()
        .map(|i| i.fleet()["revision"].to_string())
        .collect();
    assert_eq!(revisions.len(), 1, "{revisions:?}");

    // 3. A quorum: eastus fails for everyone; every instance moves, close together.
    eastus.fail_for(None);
    eastus.set(503);
    let start = Instant::now();
    let mut moved: Vec<Option<Duration>> = vec![None; instances.len()];
    while moved.iter().any(Option::is_none) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no fleet failover: {moved:?}"
        );
        for (i, inst) in instances.iter().enumerate() {
            if moved[i].is_none() && inst.region().as_deref() == Some("eastus2") {
                moved[i] = Some(start.elapsed());
            }
        }
    }
    let moved: Vec<Duration> = moved.into_iter().flatten().collect();
    let spread = *moved.iter().max().unwrap() - *moved.iter().min().unwrap();
    eprintln!("failover seen at {moved:?}: spread {spread:?} (probe interval {INTERVAL_MS} ms)");
    assert!(
        spread <= Duration::from_millis(INTERVAL_MS * 2),
        "spread {spread:?}"
    );
    eastus.set(401);
    until(Duration::from_secs(10), "failback everywhere", || {
        instances
            .iter()
            .all(|i| i.region().as_deref() == Some("eastus"))
    });

    // 4. dns-c dies (SIGKILL, no goodbye): it drops out when its lease expires, and dns-a and
    //    dns-b observe every replica between them.
    let dead = instances.pop().unwrap();
    drop(dead);
    let gone = until(Duration::from_secs(10), "dns-c drops out", || {
        instances.iter().all(|i| {
            i.fleet()["members"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
        })
    });
    eprintln!("dns-c left the fleet {gone:?} after it was killed (lease 2 s)");
    let from = eastus.agents.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 6));
    assert_eq!(
        agents_since(&eastus, from),
        want(&["dns-a".into(), "dns-b".into()])
    );

    // 5. etcd goes away: both keep answering, say so, and probe everything themselves.
    etcd.stop();
    until(Duration::from_secs(10), "alone without etcd", || {
        instances.iter().all(|i| i.fleet()["state"] == "alone")
    });
    for inst in &instances {
        assert_eq!(inst.region().as_deref(), Some("eastus"));
        let Instance::InProcess(s) = inst else {
            unreachable!()
        };
        let metrics = s.admin("/metrics");
        assert!(metrics.contains("georoute_fleet_connected 0"), "{metrics}");
        assert!(
            metrics.contains("georoute_fleet_disconnects_total 1"),
            "{metrics}"
        );
    }
    let from = eastus2.agents.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 6));
    assert_eq!(
        agents_since(&eastus2, from),
        want(&["dns-a".into(), "dns-b".into()])
    );
    // Deciding alone, a failure counts at once.
    eastus.set(503);
    until(
        Duration::from_secs(10),
        "alone, each fails over by itself",
        || {
            instances
                .iter()
                .all(|i| i.region().as_deref() == Some("eastus2"))
        },
    );
    eastus.set(401);

    // 6. etcd returns: they rejoin on their own.
    etcd.run();
    until(Duration::from_secs(20), "rejoined", || {
        instances.iter().all(|i| {
            let f = i.fleet();
            f["state"] == "connected" && f["members"].as_array().is_some_and(|m| m.len() == 2)
        })
    });
    until(Duration::from_secs(10), "healthy again", || {
        instances
            .iter()
            .all(|i| i.region().as_deref() == Some("eastus"))
    });
}

#[test]
fn fleet_yaml_is_checked_with_locations_and_defaults() {
    let dir = TestDir::example();
    dir.write(
        "probes/fleet.yaml",
        "fleet:\n  etcd: [http://127.0.0.1:2379]\n",
    );
    let snap = georoute::load_snapshot(&dir.path, 1).unwrap();
    let f = snap.config.fleet.as_ref().unwrap();
    assert_eq!(f.prefix, "/georoute/");
    assert_eq!(f.observers, 3);
    assert_eq!(f.quorum, georoute::config::fleet::Quorum::Majority);
    assert_eq!(f.lease, Duration::from_secs(15));
    for (yaml, at, want) in [
        (
            "fleet:\n  etcd: [\"127.0.0.1:2379\"]\n",
            "fleet.yaml:2:10",
            "is not an etcd endpoint",
        ),
        (
            "fleet:\n  etcd: [http://e:2379]\n  quorum: 5\n",
            "fleet.yaml:3:11",
            "quorum \"5\" is `majority` or a number from 1 to observers (3)",
        ),
        (
            "fleet:\n  etcd: [http://e:2379]\n  lease: 500ms\n",
            "fleet.yaml:3:10",
            "lease \"500ms\" is whole seconds from 2s to 1h",
        ),
        (
            "fleet:\n  etcd: [http://e:2379]\n  gossip: yes\n",
            "fleet.yaml:3:",
            "unknown field",
        ),
    ] {
        dir.write("probes/fleet.yaml", yaml);
        let err = georoute::load_snapshot(&dir.path, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(at) && err.contains(want),
            "want {at} {want}: {err}"
        );
    }
}
