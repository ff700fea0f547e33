//! DNS COOKIE over real sockets: a client cookie gets a server cookie, a valid one is accepted,
//! a bad or stale one gets a fresh cookie with a normal answer, malformed ones are FORMERR,
//! every instance sharing a secret file accepts the others' cookies (and the previous secret
//! during a rotation), and Knot's `kdig +cookie` interoperates.

mod common;

use common::{Ask, TestDir, TestServer, cookie_of, metric};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::process::Command;

const CLIENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn ask(cookie: &[u8]) -> Ask {
    Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("192.0.2.0/24")
        .cookie(cookie)
}

fn server_with(secret: Option<&str>, previous: Option<&str>) -> (TestDir, TestServer) {
    let dir = TestDir::example();
    let mut yaml = String::from("rate_limit: {exempt: [127.0.0.0/8]}\ncookies:\n");
    if let Some(s) = secret {
        dir.write("cookie.secret", s);
        yaml += "  secret_file: cookie.secret\n";
    }
    if let Some(p) = previous {
        dir.write("cookie.previous", p);
        yaml += "  previous_secret_file: cookie.previous\n";
    }
    dir.write("server.yaml", &yaml);
    let s = TestServer::start(&dir.path);
    (dir, s)
}

fn counts(s: &TestServer) -> (f64, f64) {
    let text = s.admin("/metrics");
    (
        metric(&text, "georoute_dns_cookies_total{result=\"valid\"}"),
        metric(&text, "georoute_dns_cookies_total{result=\"unverified\"}"),
    )
}

#[test]
fn learn_present_refresh_and_reject_malformed() {
    let (_dir, s) = server_with(None, None);
    let first = ask(&CLIENT).udp(s.addr);
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        common::cname_region(&first).as_deref(),
        Some("australiaeast")
    );
    let cookie = cookie_of(&first).expect("a server cookie for a client cookie");
    assert_eq!(
        cookie.len(),
        24,
        "client cookie + 16-byte RFC 9018 server cookie"
    );
    assert_eq!(cookie[..8], CLIENT, "the client cookie is echoed");
    assert_eq!(cookie[8..12], [1, 0, 0, 0], "version 1, reserved zero");
    assert_eq!(counts(&s), (0.0, 1.0));

    // Presented back (over UDP and TCP): accepted, and a fresh cookie comes with the answer.
    let again = ask(&cookie).udp(s.addr);
    assert_eq!(again.metadata.response_code, ResponseCode::NoError);
    assert_eq!(cookie_of(&again).unwrap()[..8], CLIENT);
    ask(&cookie).tcp(s.addr);
    assert_eq!(counts(&s), (2.0, 1.0));

    // A bad server cookie (one bit flipped), and one from another client's cookie: a normal
    // answer with a fresh cookie, never BADCOOKIE (cookies are not enforced).
    let mut bad = cookie.clone();
    bad[20] ^= 1;
    let m = ask(&bad).udp(s.addr);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.answers.is_empty());
    let fresh = cookie_of(&m).unwrap();
    assert_eq!(fresh[..8], CLIENT);
    assert_ne!(fresh[20], bad[20]);
    let mut other = cookie.clone();
    other[0] ^= 0xFF;
    assert_eq!(
        ask(&other).udp(s.addr).metadata.response_code,
        ResponseCode::NoError
    );
    // A server cookie from another address does not verify either.
    ask(&cookie).from("127.0.0.2").udp(s.addr);
    assert_eq!(counts(&s), (2.0, 4.0));

    // Malformed lengths (RFC 7873 section 5.2.2): FORMERR.
    for len in [0usize, 7, 9, 15, 41] {
        let m = ask(&vec![7u8; len]).udp(s.addr);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::FormErr,
            "length {len}"
        );
    }
    // A server cookie of another (longer) format is simply not ours: refreshed.
    let mut long = CLIENT.to_vec();
    long.extend_from_slice(&[0u8; 32]);
    let m = ask(&long).udp(s.addr);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(cookie_of(&m).unwrap().len(), 24);
}

#[test]
fn a_fleet_sharing_the_secret_accepts_each_others_cookies_and_rotates() {
    let old = "00112233445566778899aabbccddeeff\n";
    let new = "ffeeddccbbaa99887766554433221100\n";
    let (_a_dir, a) = server_with(Some(old), None);
    let (_b_dir, b) = server_with(Some(old), None);
    let from_a = cookie_of(&ask(&CLIENT).udp(a.addr)).unwrap();
    ask(&from_a).udp(b.addr);
    assert_eq!(counts(&b), (1.0, 0.0), "B accepts A's cookie");

    // C has rotated to the new secret and still accepts the old one; D has only the new one.
    let (_c_dir, c) = server_with(Some(new), Some(old));
    let (_d_dir, d) = server_with(Some(new), None);
    let from_c = cookie_of(&ask(&from_a).udp(c.addr)).unwrap();
    assert_eq!(counts(&c), (1.0, 0.0), "the previous secret is accepted");
    ask(&from_a).udp(d.addr);
    assert_eq!(
        counts(&d),
        (0.0, 1.0),
        "without it, the old cookie is refreshed"
    );
    ask(&from_c).udp(d.addr);
    assert_eq!(
        counts(&d),
        (1.0, 1.0),
        "C's fresh cookie uses the new secret"
    );
}

#[test]
fn a_bad_secret_file_is_a_located_configuration_error() {
    let dir = TestDir::example();
    dir.write("cookie.secret", "not hex\n");
    dir.write("server.yaml", "cookies:\n  secret_file: cookie.secret\n");
    let out = Command::new(env!("CARGO_BIN_EXE_georoute"))
        .args(["check", "--config"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.yaml:2:16:") && err.contains("32 hexadecimal digits"),
        "{err}"
    );
}

/// The hex after `COOKIE: ` in kdig's output.
fn kdig_cookie(out: &str) -> Option<String> {
    let line = out.lines().find(|l| l.contains("COOKIE:"))?;
    let hex = line.split("COOKIE:").nth(1)?.split_whitespace().next()?;
    Some(hex.to_ascii_lowercase())
}

#[test]
fn kdig_cookie_interoperates() {
    if Command::new("kdig").arg("--version").output().is_err() {
        common::skip(
            "kdig",
            "kdig (Debian knot-dnsutils) is not installed; .ci/run installs it",
        );
        return;
    }
    let (_dir, s) = server_with(None, None);
    let kdig = |cookie: &str| {
        let out = Command::new("kdig")
            .arg(format!("@{}", s.addr.ip()))
            .args(["-p", &s.addr.port().to_string()])
            .arg(format!("+cookie={cookie}"))
            .args([
                "+timeout=2",
                "+retry=1",
                "myregistry.eastus.geo.azurecr.io",
                "A",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = kdig("0102030405060708");
    assert!(first.contains("NOERROR"), "{first}");
    let cookie = kdig_cookie(&first).unwrap_or_else(|| panic!("no cookie in\n{first}"));
    assert!(cookie.starts_with("010203040506070801000000"), "{cookie}");
    assert_eq!(counts(&s), (0.0, 1.0));
    // kdig presenting the server cookie it learned: accepted.
    let second = kdig(&cookie);
    assert!(second.contains("NOERROR"), "{second}");
    assert_eq!(counts(&s), (1.0, 1.0), "{second}");
}
