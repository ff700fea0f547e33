//! Live reload against a running server: the routing toggle within 1 s, editors'
//! rename-on-save and the Kubernetes `..data` symlink swap, bad input that changes nothing,
//! SIGHUP on the real binary.

mod common;

use common::{Ask, TestDir, TestServer, answers, cname_region};
use hickory_proto::rr::RecordType;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn sydney(s: &TestServer) -> Option<String> {
    cname_region(
        &Ask::new("myregistry.azurecr.io", RecordType::A)
            .ecs("192.0.2.0/24")
            .udp(s.addr),
    )
}

/// Writes like an editor: a temporary file renamed over the original.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls every 10 ms (at most `limit`) until `check` holds; returns how long it took.
fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("not within {limit:?}");
}

const AUSTRALIA: &str = "      - region: australiaeast\n";

#[test]
fn routing_toggle_applies_within_a_second() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let file = dir.path.join("zones/azurecr.io.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    assert_eq!(sydney(&s).as_deref(), Some("australiaeast"));

    save(
        &file,
        &original.replace(
            AUSTRALIA,
            &format!("{AUSTRALIA}        global_endpoint_routing: false\n"),
        ),
    );
    let drained = until(Duration::from_secs(3), || {
        sydney(&s).as_deref() != Some("australiaeast")
    });
    eprintln!("drain applied after {drained:?}");
    assert!(drained < Duration::from_secs(1), "{drained:?}");
    // Its regional and data names keep answering.
    let r = Ask::new("myregistry.australiaeast.geo.azurecr.io", RecordType::A).udp(s.addr);
    assert_eq!(
        answers(&r),
        ["myregistry.australiaeast.geo.azurecr.io A 192.0.2.15"]
    );

    save(&file, &original);
    let restored = until(Duration::from_secs(3), || {
        sydney(&s).as_deref() == Some("australiaeast")
    });
    eprintln!("restore applied after {restored:?}");
    assert!(restored < Duration::from_secs(1), "{restored:?}");
    assert_eq!(s.status()["generation"], 3);
}

#[test]
fn kubernetes_configmap_symlink_swap_is_seen() {
    let dir = TestDir::example();
    // zones/ as a ConfigMap mount: azurecr.io.yaml → ..data/azurecr.io.yaml, ..data → ..v1.
    let zones = dir.path.join("zones");
    let original = std::fs::read_to_string(zones.join("azurecr.io.yaml")).unwrap();
    std::fs::remove_file(zones.join("azurecr.io.yaml")).unwrap();
    for (v, text) in [
        ("..v1", original.clone()),
        (
            "..v2",
            original.replace(
                AUSTRALIA,
                &format!("{AUSTRALIA}        global_endpoint_routing: false\n"),
            ),
        ),
    ] {
        std::fs::create_dir(zones.join(v)).unwrap();
        std::fs::write(zones.join(v).join("azurecr.io.yaml"), text).unwrap();
    }
    std::os::unix::fs::symlink("..v1", zones.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/azurecr.io.yaml", zones.join("azurecr.io.yaml")).unwrap();
    let s = TestServer::start(&dir.path);
    assert_eq!(sydney(&s).as_deref(), Some("australiaeast"));
    // The kubelet's atomic swap: a new symlink renamed over ..data.
    std::os::unix::fs::symlink("..v2", zones.join("..data_tmp")).unwrap();
    std::fs::rename(zones.join("..data_tmp"), zones.join("..data")).unwrap();
    let took = until(Duration::from_secs(3), || {
        sydney(&s).as_deref() != Some("australiaeast")
    });
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn bad_input_changes_nothing() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let file = dir.path.join("zones/azurecr.io.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let drained = original.replace(
        AUSTRALIA,
        &format!("{AUSTRALIA}        global_endpoint_routing: false\n"),
    );
    let mut failures = 0i64;
    for (what, text, wanted) in [
        (
            "syntax error",
            drained.replace("zone: azurecr.io", "zone: [azurecr.io"),
            "azurecr.io.yaml:",
        ),
        (
            "unknown key",
            drained.replace("ttl: 3600", "ttl: 3600\ncolour: blue"),
            "azurecr.io.yaml:8:1",
        ),
        (
            "unknown region",
            drained.replace("region: eastus2", "region: atlantis"),
            "atlantis",
        ),
        (
            "no routed replica",
            drained.replace(
                "addresses: [",
                "global_endpoint_routing: false, addresses: [",
            ),
            "global_endpoint_routing",
        ),
        (
            "half-written file",
            drained[..drained.len() / 3].to_string(),
            "azurecr.io.yaml",
        ),
    ] {
        std::fs::write(&file, &text).unwrap(); // written in place, like a half-finished write
        failures += 1;
        until(Duration::from_secs(3), || {
            s.status()["reload_failures"] == failures
        });
        let st = s.status();
        let error = st["last_reload_error"].as_str().unwrap().to_string();
        assert!(error.contains(wanted), "{what}: {error}");
        assert_eq!(st["generation"], 1, "{what}");
        assert_eq!(
            sydney(&s).as_deref(),
            Some("australiaeast"),
            "{what}: the old configuration serves"
        );
    }
    // A deleted zone file: refused as well.
    std::fs::remove_file(&file).unwrap();
    failures += 1;
    until(Duration::from_secs(3), || {
        s.status()["reload_failures"] == failures
    });
    assert!(
        s.status()["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("zones")
    );
    assert_eq!(sydney(&s).as_deref(), Some("australiaeast"));
    // Good input again: applied, the error cleared.
    save(&file, &drained);
    until(Duration::from_secs(3), || {
        sydney(&s).as_deref() != Some("australiaeast")
    });
    let st = s.status();
    assert_eq!(st["generation"], 2);
    assert!(st["last_reload_error"].is_null());
}

#[test]
fn sighup_reloads_the_real_binary() {
    let dir = TestDir::example();
    let admin = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args([
            "serve",
            "--no-probes",
            "--dns",
            "127.0.0.1:0",
            "--admin",
            &admin.to_string(),
            "--config",
        ])
        .arg(&dir.path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = || -> Option<serde_json::Value> {
        let mut c = TcpStream::connect(admin).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(c, "GET /status HTTP/1.1\r\n\r\n").ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).ok()?;
        serde_json::from_str(out.split_once("\r\n\r\n")?.1).ok()
    };
    until(Duration::from_secs(10), || get().is_some());
    assert_eq!(get().unwrap()["generation"], 1);
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    until(Duration::from_secs(5), || {
        get().is_some_and(|v| v["generation"] == 2)
    });
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
