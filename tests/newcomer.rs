//! The small things of a newcomer's first hour, through the real binary: `keygen --out` into a
//! folder that does not exist yet, errors that say what a key takes, a tab shown where it is, a
//! demo on a taken port refused at once, and the README's worked failover example reproduced on
//! the shipped example.

mod common;

use common::TestDir;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn georoute() -> Command {
    Command::new(env!("CARGO_BIN_EXE_georoute"))
}

#[test]
fn keygen_makes_the_key_folder_for_this_user_only() {
    let dir = TestDir::new("keygen");
    let key = dir.path.join("keys/azurecr.io.pem");
    let out = georoute()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path.join("keys")), 0o700);
    assert_eq!(mode(&key), 0o600);
    assert!(georoute::dnssec::ZoneKey::from_pem(&std::fs::read(&key).unwrap()).is_ok());
}

/// `georoute check` of the shipped example with `edit` applied to its zone file: the exit code
/// and standard error.
fn check_edited(edit: impl Fn(&str) -> String) -> (Option<i32>, String) {
    let dir = TestDir::example();
    let zone = dir.path.join("zones/azurecr.io.yaml");
    let text = std::fs::read_to_string(&zone).unwrap();
    std::fs::write(&zone, edit(&text)).unwrap();
    let (code, _, err) = common::check(&dir.path);
    (code, err)
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn errors_say_what_a_key_takes_and_where_a_tab_is() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/zones/azurecr.io.yaml"
    ))
    .unwrap();
    let weight = line_of(&example, "weight: 100");
    let (code, err) = check_edited(|t| t.replace("weight: 100", "weight: heavy"));
    assert_eq!(code, Some(2), "{err}");
    let want = format!(
        "azurecr.io.yaml:{weight}:17: weight: a whole number from 1 to 10000, not \"heavy\""
    );
    assert!(err.contains(&want), "want {want} in:\n{err}");
    assert!(!err.contains("invalid u32"), "{err}");

    // A tab indenting the line after `ttl:`: reported at that line, where the tab is.
    let ttl = line_of(&example, "ttl: 3600");
    let (code, err) = check_edited(|t| {
        let mut lines: Vec<String> = t.lines().map(str::to_string).collect();
        lines[ttl] = format!("\t{}", lines[ttl]);
        lines.join("\n") + "\n"
    });
    assert_eq!(code, Some(2), "{err}");
    let want = format!(
        "azurecr.io.yaml:{}:1: a tab character: YAML indents with spaces only",
        ttl + 1
    );
    assert!(err.contains(&want), "want {want} in:\n{err}");
}

#[test]
fn demo_on_a_taken_port_stops_at_once_with_one_line() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let start = Instant::now();
    let mut child = georoute()
        .args([
            "demo",
            "--dns",
            &format!("127.0.0.1:{port}"),
            "--admin",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the demo kept running on a taken port");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} (DNS over UDP)"))
            && stderr.contains("--dns"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("health transition") && !stdout.contains("georoute demo: DNS on"),
        "it stops before starting anything:\n{stdout}\n{stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_readmes_worked_failover_example_reproduces_on_the_shipped_example() {
    // The README's steps: a copy of the example with Australia East marked down.
    let dir = TestDir::example();
    dir.write(
        "probes/regions.yaml",
        "regions:\n  australiaeast: {status: down, reason: trying the failover}\n",
    );
    let out = georoute()
        .args([
            "explain",
            "myregistry.azurecr.io",
            "--client",
            "127.0.0.1",
            "--ecs",
            "192.0.2.0/24",
            "--config",
        ])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(
            "printf 'regions:\\n  australiaeast: {status: down, reason: trying the failover}\\n'"
        ),
        "the README's step"
    );
    for line in text.lines().filter(|l| {
        l.starts_with("choice:") || l.contains("southeastasia  ") || l.contains("australiaeast  ")
    }) {
        assert!(
            readme.contains(line),
            "README lacks the line explain prints:\n{line}"
        );
    }
    assert!(text.contains("up to 9450 km"), "{text}");
}

#[test]
fn the_example_subnets_mean_one_place_in_the_example_and_the_compose_demo() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = georoute::load_snapshot(root, 1).unwrap();
    let compose = georoute::load_snapshot(&root.join("deploy/compose/config"), 1).unwrap();
    // Every subnet the README's dig lines name, in the example's section or the demo's.
    for subnet in [
        "192.0.2.0",
        "198.51.100.0",
        "203.0.113.0",
        "216.160.83.0",
        "81.2.69.0",
    ] {
        let addr: std::net::IpAddr = subnet.parse().unwrap();
        let a = example.geo.locate(addr).point.expect(subnet);
        let b = compose.geo.locate(addr).point.expect(subnet);
        assert!(
            a.distance_km(&b) < 1.0,
            "{subnet}: {a:?} in the example, {b:?} in the compose demo"
        );
    }
}
