//! The logs of the real binary, read as a person and as grep read them: no colour codes in a
//! pipe or with NO_COLOR, fields in plain words (no Rust Debug forms, no empty `error=""`), query
//! logs with type and RCODE names, one line per reload error.

mod common;

use common::{Ask, StandIn, TestDir, free_port};
use hickory_proto::rr::RecordType;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A folder with one registry of two replicas probed over HTTP at `a` and `b` (fast probes).
fn folder(a: SocketAddr, b: SocketAddr) -> TestDir {
    let dir = TestDir::example();
    std::fs::remove_file(dir.path.join("zones/azurecr.io.yaml")).unwrap();
    dir.write(
        "zones/l.test.yaml",
        &format!(
            "zone: l.test\nsoa: {{mname: ns1.l.test., rname: h.l.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\nnameservers: [{{name: ns1.l.test., addresses: [192.0.2.1]}}]\nregistries:\n  - name: reg\n    home_region: eastus\n    replicas:\n      - {{region: eastus, addresses: [192.0.2.10], probe_address: \"{a}\"}}\n      - {{region: westeurope, addresses: [192.0.2.11], probe_address: \"{b}\"}}\n"
        ),
    );
    dir.write(
        "probes/default.yaml",
        "policies:\n  default: {scheme: http, interval: 200ms, timeout: 150ms, fall: 1, rise: 1}\n",
    );
    dir
}

/// Starts `georoute serve` on free ports with its stderr piped; returns it and its DNS address.
fn serve(dir: &TestDir, extra: &[&str]) -> (Child, SocketAddr) {
    let port = free_port();
    let admin = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(["serve", "--config"])
        .arg(&dir.path)
        .args(["--dns", &format!("127.0.0.1:{port}")])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .args(extra)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Stops the server (SIGTERM, at most 10 s) and returns everything it logged.
fn stop(mut child: Child) -> String {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

/// Waits until `ok` holds (at most 10 s).
fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answers(addr: SocketAddr) -> bool {
    common::udp_raw(
        addr,
        "127.0.0.1".parse().unwrap(),
        &Ask::new("l.test", RecordType::SOA).packet(),
    )
    .is_some()
}

#[test]
fn human_logs_in_a_pipe_are_plain_words_that_grep_finds() {
    let good = StandIn::start("127.0.0.1", 200);
    let flaky = StandIn::start("127.0.0.1", 200);
    let dir = folder(good.addr, flaky.addr);
    let (child, addr) = serve(&dir, &[]);
    until("the server answers", || answers(addr));
    // Three down transitions, each followed by a recovery.
    for _ in 0..3 {
        flaky.set(503);
        std::thread::sleep(Duration::from_millis(700));
        flaky.set(200);
        std::thread::sleep(Duration::from_millis(700));
    }
    // Two errors in one bad reload: each gets its own line.
    let zone = dir.path.join("zones/l.test.yaml");
    let text = std::fs::read_to_string(&zone).unwrap();
    std::fs::write(
        &zone,
        text.replace(
            "home_region: eastus",
            "home_region: eastus\n    colour: blue",
        ),
    )
    .unwrap();
    dir.write(
        "probes/default.yaml",
        "policies:\n  default: {interval: soon}\n",
    );
    std::thread::sleep(Duration::from_millis(1500));
    let log = stop(child);

    assert!(!log.contains('\u{1b}'), "colour codes in a pipe:\n{log}");
    let downs = log
        .lines()
        .filter(|l| l.contains("health transition") && l.contains("to=down"))
        .count();
    assert!(downs >= 3, "{downs} down transitions found by grep:\n{log}");
    for l in log.lines() {
        assert!(!l.contains("Some("), "a Debug form: {l}");
        assert!(!l.contains("error=\"\""), "an empty error: {l}");
        assert!(
            !l.contains("to=Down") && !l.contains("from=Unknown"),
            "Debug names: {l}"
        );
    }
    let first = log
        .lines()
        .find(|l| l.contains("health transition") && l.contains("from=unknown"))
        .unwrap_or_else(|| panic!("no first transition in:\n{log}"));
    assert!(
        !first.contains("error="),
        "a success carries no error: {first}"
    );
    let serving = log
        .lines()
        .find(|l| l.contains("serving DNS"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        serving.contains(&format!("addresses={addr}")) && serving.contains("admin=127.0.0.1:"),
        "{serving}"
    );
    let reload_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("configuration reload failed"))
        .collect();
    assert!(
        reload_errors
            .iter()
            .any(|l| l.contains("l.test.yaml:") && l.contains("colour"))
            && reload_errors
                .iter()
                .any(|l| l.contains("default.yaml:") && l.contains("soon")),
        "one line per error:\n{log}"
    );
}

#[test]
fn json_query_logs_name_the_type_and_the_rcode() {
    let dir = TestDir::example();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(["serve", "--no-probes", "--admin", "127.0.0.1:0", "--config"])
        .arg(&dir.path)
        .args(["--dns", &format!("127.0.0.1:{port}")])
        .args(["--log-format", "json", "--query-log-sample", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let probe = Ask::new("azurecr.io", RecordType::SOA).packet();
    until("the server answers", || {
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        common::udp_raw(addr, "127.0.0.1".parse().unwrap(), &probe).is_some()
    });
    Ask::new("myregistry.azurecr.io", RecordType::AAAA).udp(addr);
    Ask::new("nothing-here.azurecr.io", RecordType::A).udp(addr);
    let log = stop(child);
    let fields = |name: &str| -> serde_json::Value {
        let line = log
            .lines()
            .find(|l| l.contains(name) && l.contains("\"query\""))
            .unwrap_or_else(|| panic!("no query line for {name}:\n{log}"));
        serde_json::from_str::<serde_json::Value>(line).unwrap()["fields"].clone()
    };
    let hit = fields("myregistry.azurecr.io");
    assert_eq!(hit["qtype"], "AAAA", "{hit}");
    assert_eq!(hit["rcode"], "NOERROR", "{hit}");
    let miss = fields("nothing-here.azurecr.io");
    assert_eq!(miss["qtype"], "A", "{miss}");
    assert_eq!(miss["rcode"], "NXDOMAIN", "{miss}");
    assert!(!log.contains('\u{1b}'), "{log}");
}

/// Runs `georoute check` on a terminal (a pseudo-terminal from `script`), with and without
/// NO_COLOR; returns what it wrote.
fn on_a_terminal(no_color: bool) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_georoute");
    // Serve the shipped example briefly on free ports: its "serving DNS" line is the one to read.
    let port = free_port();
    let cmd = format!(
        "timeout -s TERM 2 {bin} serve --no-probes --admin 127.0.0.1:0 --dns 127.0.0.1:{port} --config {}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).env_remove("RUST_LOG");
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let out = c.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_on_a_terminal_only_without_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        common::skip(
            "script",
            "`script` (util-linux) is not installed: no pseudo-terminal to test colour on",
        );
        return;
    }
    let pty = Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pty {
        common::skip(
            "pty",
            "`script` cannot open a pseudo-terminal here: no terminal to test colour on",
        );
        return;
    }
    let coloured = on_a_terminal(false).unwrap();
    assert!(coloured.contains("serving DNS"), "{coloured}");
    assert!(
        coloured.contains('\u{1b}'),
        "a terminal gets colour: {coloured:?}"
    );
    let plain = on_a_terminal(true).unwrap();
    assert!(plain.contains("serving DNS"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
}
