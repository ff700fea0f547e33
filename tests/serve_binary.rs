//! The real `georoute serve` binary: no flags serves the shipped example on 127.0.0.1:5300,
//! `--dns` is repeatable, SIGTERM exits 0, an invalid configuration exits 2.

mod common;

use common::{Ask, TestDir, cname_region, free_port, udp_raw};
use hickory_proto::rr::RecordType;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn georoute() -> Command {
    Command::new(env!("CARGO_BIN_EXE_georoute"))
}

/// Polls until the server answers the apex SOA (at most 10 s).
fn wait_ready(addr: SocketAddr, child: &mut Child) {
    let probe = Ask::new("azurecr.io", RecordType::SOA).packet();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server exited early: {status}");
        }
        if udp_raw(addr, "127.0.0.1".parse().unwrap(), &probe).is_some() {
            return;
        }
    }
    panic!("server on {addr} did not answer within 10 s");
}

fn terminate(child: Child) -> std::process::ExitStatus {
    signal(child, "-TERM").0
}

/// Sends a signal and waits (at most 10 s) for the exit; returns the status and stderr.
fn signal(mut child: Child, sig: &str) -> (std::process::ExitStatus, String) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status, err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("no exit within 10 s of {sig}");
}

/// True when something on this machine already listens where `serve` does by default (DNS
/// 127.0.0.1:5300 over UDP or TCP, admin 127.0.0.1:9153): a user's own `georoute serve`, say.
fn default_ports_taken() -> bool {
    std::net::UdpSocket::bind("127.0.0.1:5300").is_err()
        || std::net::TcpListener::bind("127.0.0.1:5300").is_err()
        || std::net::TcpListener::bind("127.0.0.1:9153").is_err()
}

#[test]
fn serve_without_flags_answers_on_5300_and_stops_on_sigterm() {
    // The default ports may be taken by a server of the user's (the README's first command):
    // test them in a network namespace of our own, where they are ours.
    if common::rerun_in_private_netns("serve_without_flags_answers_on_5300_and_stops_on_sigterm") {
        return;
    }
    if std::env::var_os("GEOROUTE_TEST_IN_NETNS").is_none() && default_ports_taken() {
        common::skip(
            "free-default-ports",
            "127.0.0.1:5300 or :9153 is in use (your `georoute serve`?) and network namespaces \
             are not permitted here, so serving on the default ports is not tested",
        );
        return;
    }
    let dir = TestDir::example();
    let mut child = georoute()
        .args(["serve", "--no-probes"]) // tests talk to loopback only
        .current_dir(&dir.path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = "127.0.0.1:5300".parse().unwrap();
    wait_ready(addr, &mut child);
    let m = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(addr);
    assert_eq!(cname_region(&m).as_deref(), Some("australiaeast"));
    let m = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .tcp(addr);
    assert_eq!(cname_region(&m).as_deref(), Some("australiaeast"));
    assert!(terminate(child).success(), "SIGTERM exits 0");
}

#[test]
fn dns_flag_is_repeatable() {
    let dir = TestDir::example();
    let (p1, p2) = (free_port(), free_port());
    let mut child = georoute()
        .args(["serve", "--no-probes", "--admin", "127.0.0.1:0", "--config"])
        .arg(&dir.path)
        .args([
            "--dns",
            &format!("127.0.0.1:{p1}"),
            "--dns",
            &format!("127.0.0.1:{p2}"),
            "--log-format",
            "json",
            "--query-log-sample",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for p in [p1, p2] {
        wait_ready(SocketAddr::from(([127, 0, 0, 1], p)), &mut child);
    }
    Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .udp(SocketAddr::from(([127, 0, 0, 1], p2)));
    // SIGINT stops it like SIGTERM; the sampled query log (1 in 1 here) logged the query as JSON.
    let (status, log) = signal(child, "-INT");
    assert!(status.success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("myregistry.azurecr.io"))
        .unwrap_or_else(|| panic!("{log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["fields"]["chosen"], "australiaeast", "{line}");
}

#[test]
fn invalid_configuration_exits_2_with_the_location() {
    let dir = TestDir::example();
    let zone = std::fs::read_to_string(dir.path.join("zones/azurecr.io.yaml")).unwrap();
    dir.write(
        "zones/azurecr.io.yaml",
        &zone.replace("ttl: 3600", "ttl: 3600\ncolour: blue"),
    );
    let out = georoute()
        .args(["serve", "--dns", "127.0.0.1:0", "--config"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("azurecr.io.yaml:8:1"), "{err}");
    assert!(err.contains("colour"), "{err}");
}
