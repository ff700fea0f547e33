//! Only our names: two zones that share a parent are served, the parent, its other children and
//! the root are REFUSED without AA; zone transfers are refused; names from the configuration
//! cannot break `/metrics` (escaped label values, checked by promtool when installed).

mod common;

use common::{Ask, TestDir, TestServer};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn zone(name: &str, view: &str) -> String {
    format!(
        "zone: {name}\nsoa: {{mname: ns1.{name}., rname: hostmaster.{name}., refresh: 3600, retry: 600, expire: 604800, minimum: 30}}\nnameservers: [{{name: ns1.{name}., addresses: [192.0.2.1]}}]\nregistries:\n  - name: reg\n    home_region: eastus\n    replicas:\n      - {{region: eastus, addresses: [192.0.2.10]}}\nviews:\n  - name: {view}\n    clients: [10.{}.0.0/16]\n    region: eastus\n    registries: {{reg: {{global_address: 10.9.0.1}}}}\n",
        name.len()
    )
}

fn server() -> (TestDir, TestServer) {
    let dir = TestDir::with_zone(&zone("a.example.test", "'quote\"back\\slash'"));
    dir.write("zones/b.yaml", &zone("b.example.test", "\"new\\nline\""));
    let s = TestServer::start(&dir.path);
    (dir, s)
}

#[test]
fn the_parent_and_its_other_children_are_refused() {
    let (_dir, s) = server();
    for (name, rtype, want) in [
        ("reg.a.example.test", RecordType::A, ResponseCode::NoError),
        ("a.example.test", RecordType::SOA, ResponseCode::NoError),
        ("nope.b.example.test", RecordType::A, ResponseCode::NXDomain),
        ("geo.b.example.test", RecordType::A, ResponseCode::NoError),
        ("example.test", RecordType::SOA, ResponseCode::Refused),
        ("example.test", RecordType::NS, ResponseCode::Refused),
        ("test", RecordType::SOA, ResponseCode::Refused),
        (".", RecordType::NS, ResponseCode::Refused),
        ("c.example.test", RecordType::A, ResponseCode::Refused),
        ("x.c.example.test", RecordType::A, ResponseCode::Refused),
        ("xa.example.test", RecordType::A, ResponseCode::Refused),
    ] {
        for m in [
            Ask::new(name, rtype).udp(s.addr),
            Ask::new(name, rtype).tcp(s.addr),
        ] {
            assert_eq!(m.metadata.response_code, want, "{name} {rtype}");
            let ours = want != ResponseCode::Refused;
            assert_eq!(
                m.metadata.authoritative, ours,
                "{name}: AA only for our names"
            );
            assert_eq!(
                !m.authorities.is_empty(),
                want == ResponseCode::NXDomain || (ours && m.answers.is_empty()),
                "{name}: SOA only for our negative answers"
            );
        }
    }
}

#[test]
fn zone_transfers_are_refused() {
    let (_dir, s) = server();
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        let m = Ask::new("a.example.test", rtype).tcp(s.addr);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{rtype}");
        assert!(m.answers.is_empty() && !m.metadata.authoritative);
    }
}

#[test]
fn configuration_names_cannot_break_the_metrics() {
    let (_dir, s) = server();
    Ask::new("reg.a.example.test", RecordType::A).udp(s.addr);
    let text = s.admin("/metrics");
    assert!(
        text.contains(r#"view="quote\"back\\slash"}"#),
        "quote and backslash escaped:\n{text}"
    );
    assert!(text.contains(r#"view="new\nline"}"#), "newline escaped");
    for line in text.lines() {
        assert!(
            line.starts_with('#') || line.starts_with("georoute_"),
            "a broken line: {line:?}"
        );
    }
    let file = std::env::temp_dir().join(format!("georoute-metrics-{}.txt", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output();
    let _ = std::fs::remove_file(&file);
    match out {
        Err(_) => common::skip(
            "promtool",
            "promtool (Debian prometheus) is not installed; .ci/run installs it",
        ),
        Ok(out) => assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
