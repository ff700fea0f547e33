//! DNSSEC online signing over real sockets, checked by hickory-proto's own
//! DNSSEC code: DO answers carry an RRSIG over every RRset that verifies with the zone's DNSKEY,
//! for both algorithms; compact denial (RFC 9824) for names that do not exist, NODATA and empty
//! non-terminals; nothing signed without DO; signatures reused; truncation over UDP and the
//! whole answer over TCP; configuration errors at file:line:col; `check` and `keygen`.

mod common;

use common::{Ask, TestDir, TestServer};
use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use std::collections::BTreeSet;

fn rrsig(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

fn dnskey(s: &TestServer) -> DNSKEY {
    let m = Ask::new("azurecr.io", RecordType::DNSKEY)
        .dnssec()
        .udp(s.addr);
    m.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .expect("a DNSKEY at the apex")
}

/// Checks that every RRset of every section has an RRSIG that verifies with `key`, and that
/// every RRSIG covers an RRset. Returns the number of signatures checked.
fn verify_all(m: &Message, key: &DNSKEY, what: &str) -> usize {
    verify_in(m, key, "azurecr.io.", what)
}

fn verify_in(m: &Message, key: &DNSKEY, apex: &str, what: &str) -> usize {
    let mut checked = 0;
    for section in [&m.answers, &m.authorities, &m.additionals] {
        let sets: BTreeSet<(String, RecordType)> = section
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .map(|r| (r.name.to_lowercase().to_string(), r.record_type()))
            .collect();
        for (name, rtype) in &sets {
            let sig = section
                .iter()
                .filter_map(|r| rrsig(r).map(|s| (r, s)))
                .find(|(r, s)| {
                    r.name.to_lowercase().to_string() == *name && s.input().type_covered == *rtype
                });
            let Some((owner, sig)) = sig else {
                panic!("{what}: {name} {rtype} has no RRSIG: {m}");
            };
            let covered = section.iter().filter(|r| {
                r.name.to_lowercase().to_string() == *name && r.record_type() == *rtype
            });
            key.verify_rrsig(&owner.name, DNSClass::IN, sig, covered)
                .unwrap_or_else(|e| panic!("{what}: {name} {rtype}: {e}: {m}"));
            assert_eq!(sig.input().signer_name.to_string(), apex);
            checked += 1;
        }
    }
    checked
}

/// The NSEC of a negative answer: (owner, next name, types).
fn nsec(m: &Message) -> (String, String, Vec<RecordType>) {
    let nsecs: Vec<_> = m
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => Some((
                r.name.to_lowercase().to_string(),
                n.next_domain_name().to_string(),
                n.type_bit_maps().collect::<Vec<_>>(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(nsecs.len(), 1, "one NSEC: {m}");
    nsecs[0].clone()
}

fn types(list: &[u16]) -> Vec<RecordType> {
    list.iter().map(|&t| RecordType::from(t)).collect()
}

#[test]
fn do_answers_are_signed_and_verify_for_both_algorithms() {
    for algorithm in ["ecdsa-p256", "ed25519"] {
        let dir = TestDir::signed_example(algorithm);
        let s = TestServer::start(&dir.path);
        let key = dnskey(&s);
        let positive = [
            ("azurecr.io", RecordType::DNSKEY),
            ("azurecr.io", RecordType::SOA),
            ("azurecr.io", RecordType::NS),
            ("myregistry.azurecr.io", RecordType::A),
            ("MyRegistry.AzureCR.io", RecordType::AAAA),
            ("myregistry.westeurope.geo.azurecr.io", RecordType::A),
            ("myregistry.eastus.data.azurecr.io", RecordType::AAAA),
            ("ns1.azurecr.io", RecordType::A),
        ];
        for (name, rtype) in positive {
            for transport in ["udp", "tcp"] {
                let ask = Ask::new(name, rtype).dnssec();
                let m = match transport {
                    "udp" => ask.udp(s.addr),
                    _ => ask.tcp(s.addr),
                };
                let what = format!("{algorithm} {name} {rtype} {transport}");
                assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{what}");
                assert!(!m.answers.is_empty(), "{what}");
                assert!(verify_all(&m, &key, &what) >= 1, "{what}");
            }
        }
        // A name that does not exist: NOERROR with one NSEC \000.<qname> RRSIG NSEC NXNAME.
        let m = Ask::new("Nope.azurecr.io", RecordType::A)
            .dnssec()
            .udp(s.addr);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        verify_all(&m, &key, "nxdomain");
        assert_eq!(
            nsec(&m),
            (
                "nope.azurecr.io.".into(),
                "\\000.nope.azurecr.io.".into(),
                types(&[46, 47, 128])
            )
        );
        // NODATA: the types that exist are listed, the one asked is not.
        let cases = [
            (
                "azurecr.io",
                RecordType::TXT,
                "azurecr.io.",
                &[2, 6, 46, 47, 48][..],
            ),
            (
                "geo.azurecr.io",
                RecordType::A,
                "geo.azurecr.io.",
                &[46, 47],
            ),
            (
                "myregistry.eastus.geo.azurecr.io",
                RecordType::TXT,
                "myregistry.eastus.geo.azurecr.io.",
                &[1, 28, 46, 47],
            ),
        ];
        for (name, rtype, owner, want) in cases {
            let m = Ask::new(name, rtype).dnssec().udp(s.addr);
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
            assert!(m.answers.is_empty(), "{name}: {m}");
            verify_all(&m, &key, name);
            let (o, next, t) = nsec(&m);
            assert_eq!((o.as_str(), t), (owner, types(want)), "{name}");
            assert_eq!(next, format!("\\000.{owner}"));
        }
        // The global name is an alias: a type its target lacks is NODATA at the target.
        let m = Ask::new("myregistry.azurecr.io", RecordType::TXT)
            .dnssec()
            .udp(s.addr);
        verify_all(&m, &key, "alias nodata");
        let (owner, _, t) = nsec(&m);
        assert_eq!(owner, "myregistry.eastus.geo.azurecr.io.");
        assert_eq!(t, types(&[1, 28, 46, 47]));
    }
}

#[test]
fn without_do_nothing_is_signed_and_nxdomain_stays() {
    let dir = TestDir::signed_example("ecdsa-p256");
    let s = TestServer::start(&dir.path);
    for ask in [
        Ask::new("myregistry.azurecr.io", RecordType::A),
        Ask::new("myregistry.azurecr.io", RecordType::A).edns(1232),
        Ask::new("azurecr.io", RecordType::NS).edns(1232),
    ] {
        let m = ask.udp(s.addr);
        let all = m.answers.iter().chain(&m.authorities).chain(&m.additionals);
        assert!(
            all.clone()
                .all(|r| !matches!(r.record_type(), RecordType::RRSIG | RecordType::NSEC)),
            "{m}"
        );
        assert!(!m.answers.is_empty());
    }
    let m = Ask::new("nope.azurecr.io", RecordType::A)
        .edns(1232)
        .udp(s.addr);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        m.authorities
            .iter()
            .all(|r| r.record_type() == RecordType::SOA)
    );
    // The key itself is served to anyone who asks.
    let m = Ask::new("azurecr.io", RecordType::DNSKEY).udp(s.addr);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::DNSKEY);
    // NXNAME is a meta-type, never a question (RFC 9824 section 3.5).
    let m = Ask::new("myregistry.azurecr.io", RecordType::from(128))
        .dnssec()
        .udp(s.addr);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn compact_answers_ok_keeps_nxdomain_and_is_echoed() {
    let dir = TestDir::signed_example("ed25519");
    let s = TestServer::start(&dir.path);
    let key = dnskey(&s);
    let ask = Ask::new("nope.azurecr.io", RecordType::A)
        .dnssec()
        .compact_ok();
    let raw = common::udp_raw(s.addr, ask.source, &ask.packet()).unwrap();
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    verify_all(&m, &key, "co");
    assert_eq!(nsec(&m).2, types(&[46, 47, 128]));
    // The OPT record is last; its flags are the two bytes before RDLENGTH.
    let rdlen = u16::from_be_bytes([raw[raw.len() - 2], raw[raw.len() - 1]]);
    assert_eq!(rdlen, 0, "no options asked for, none sent");
    let flags = u16::from_be_bytes([raw[raw.len() - 4], raw[raw.len() - 3]]);
    assert_eq!(flags & 0xC000, 0xC000, "DO and CO echoed: {flags:#06x}");
}

#[test]
fn a_steady_answer_is_signed_once_and_reused() {
    let dir = TestDir::signed_example("ecdsa-p256");
    let s = TestServer::start(&dir.path);
    // ECDSA signatures are randomised: equal bytes mean the signature was kept, not made again.
    let sigs = |ask: &Ask| -> Vec<Vec<u8>> {
        let m = ask.udp(s.addr);
        m.answers
            .iter()
            .filter_map(rrsig)
            .map(|s| s.sig().to_vec())
            .collect()
    };
    for ask in [
        Ask::new("myregistry.azurecr.io", RecordType::A).dnssec(),
        Ask::new("nope.azurecr.io", RecordType::A).dnssec(),
        Ask::new("azurecr.io", RecordType::SOA).dnssec(),
    ] {
        let first = sigs(&ask);
        for _ in 0..20 {
            // Over TCP too (no response reuse there: the signature cache alone).
            assert_eq!(sigs(&ask), first, "{ask:?}");
        }
        let over_tcp: Vec<Vec<u8>> = ask
            .tcp(s.addr)
            .answers
            .iter()
            .filter_map(rrsig)
            .map(|s| s.sig().to_vec())
            .collect();
        assert_eq!(over_tcp.len(), first.len());
    }
}

#[test]
fn signed_answers_too_big_for_udp_are_truncated_and_whole_over_tcp() {
    // Four name servers inside the zone, each with IPv4 and IPv6 glue, and eight with long
    // names elsewhere: with its signature the NS answer alone passes 512 bytes, and with the
    // signed glue 1232.
    let mut zone = String::from(
        "zone: t.test\nsoa: {mname: ns1.t.test., rname: hostmaster.t.test., refresh: 3600, retry: 600, expire: 604800, minimum: 30}\nnameservers:\n",
    );
    for i in 1..=4 {
        zone +=
            &format!("  - {{name: ns{i}.t.test., addresses: [192.0.2.{i}, \"2001:db8::{i}\"]}}\n");
    }
    for i in 1..=8 {
        zone += &format!("  - {{name: ns.dns-provider-number-{i}-far-away.example{i}.net.}}\n");
    }
    zone += "dnssec: {key_file: zone.pem}\n";
    let dir = TestDir::with_zone(&zone);
    dir.write(
        "zone.pem",
        &georoute::dnssec::key::generate("ed25519").unwrap(),
    );
    let s = TestServer::start(&dir.path);
    let small = Ask::new("t.test", RecordType::NS)
        .dnssec()
        .edns(512)
        .udp(s.addr);
    assert!(small.metadata.truncation, "{small}");
    assert!(small.answers.is_empty());
    let whole = Ask::new("t.test", RecordType::NS).dnssec().tcp(s.addr);
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 13, "12 NS and their RRSIG: {whole}");
    assert_eq!(
        whole
            .additionals
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .count(),
        8
    );
    let key = Ask::new("t.test", RecordType::DNSKEY).tcp(s.addr).answers[0].clone();
    let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = key.data else {
        panic!("a DNSKEY");
    };
    verify_in(&whole, &key, "t.test.", "tcp");
    // In 1232 bytes the answer fits once the additional section (glue and its signatures)
    // is left out: no truncation (RFC 4035 3.1.1).
    let fits = Ask::new("t.test", RecordType::NS).dnssec().udp(s.addr);
    assert!(!fits.metadata.truncation, "{fits}");
    assert_eq!(fits.answers.len(), 13);
    assert!(fits.additionals.is_empty(), "{fits}");
    verify_in(&fits, &key, "t.test.", "udp 1232");
}

#[test]
fn key_problems_are_configuration_errors_at_their_line() {
    let cases: [(&str, Option<&str>, &str); 4] = [
        (
            "dnssec:\n  key_file: keys/missing.pem\n",
            None,
            "cannot read DNSSEC key",
        ),
        (
            "dnssec:\n  key_file: keys/bad.pem\n",
            Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "not an ECDSA P-256 or Ed25519 PKCS#8 key",
        ),
        (
            "dnssec:\n  key_file: keys/bad.pem\n",
            Some("just text\n"),
            "no PKCS#8 \"PRIVATE KEY\"",
        ),
        (
            "dnssec:\n  key_file: keys/azurecr.io.pem\n  signature_validity: 1m\n",
            None,
            "signature_validity \"1m\" is not a duration from 3h to 90d",
        ),
    ];
    for (yaml, pem, want) in cases {
        let dir = TestDir::example();
        dir.write(
            "keys/azurecr.io.pem",
            &georoute::dnssec::key::generate("ecdsa-p256").unwrap(),
        );
        if let Some(pem) = pem {
            dir.write("keys/bad.pem", pem);
        }
        let zone = dir.path.join("zones/azurecr.io.yaml");
        let text = std::fs::read_to_string(&zone).unwrap();
        let offending = if want.starts_with("signature_validity") {
            3
        } else {
            2
        };
        let line = text.lines().count() + offending;
        std::fs::write(&zone, format!("{text}{yaml}")).unwrap();
        let err = georoute::load_snapshot(&dir.path, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
        let at = format!("azurecr.io.yaml:{line}:");
        assert!(err.contains(&at), "want {at} in: {err}");
    }
}

#[test]
fn check_prints_the_ds_and_keygen_writes_a_private_key_once() {
    let dir = TestDir::signed_example("ecdsa-p256");
    let bin = env!("CARGO_BIN_EXE_georoute");
    let out = std::process::Command::new(bin)
        .args(["check", "--config"])
        .arg(&dir.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let snap = georoute::load_snapshot(&dir.path, 1).unwrap();
    let signing = snap.zones[0].signing.as_ref().unwrap();
    let ds = signing.ds_text("azurecr.io");
    assert!(ds.starts_with(&format!("azurecr.io. IN DS {} 13 2 ", signing.key.key_tag)));
    assert_eq!(
        ds.len(),
        format!("azurecr.io. IN DS {} 13 2 ", signing.key.key_tag).len() + 64
    );
    assert!(text.contains(&ds), "{text}");
    assert!(text.contains("azurecr.io. IN DNSKEY 257 3 13 "), "{text}");

    let key = dir.path.join("new.pem");
    for (algorithm, expect_ok) in [("ed25519", true), ("ed25519", false)] {
        let st = std::process::Command::new(bin)
            .args(["keygen", "--algorithm", algorithm, "--out"])
            .arg(&key)
            .status()
            .unwrap();
        assert_eq!(
            st.success(),
            expect_ok,
            "a second keygen must not overwrite the key"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = georoute::dnssec::ZoneKey::from_pem(&std::fs::read(&key).unwrap()).unwrap();
    assert_eq!(loaded.algorithm, 15);
    // OpenSSL reads what keygen writes (where openssl is installed).
    match std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&key)
        .status()
    {
        Ok(st) => {
            assert!(st.success(), "openssl reads the key");
            // And we read what openssl makes, both algorithms (the README's commands).
            for (args, alg) in [
                (
                    &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
                    13,
                ),
                (&["-algorithm", "ed25519"][..], 15),
            ] {
                let path = dir.path.join(format!("openssl-{alg}.pem"));
                let st = std::process::Command::new("openssl")
                    .arg("genpkey")
                    .args(args)
                    .arg("-out")
                    .arg(&path)
                    .status()
                    .unwrap();
                assert!(st.success());
                let pem = std::fs::read(&path).unwrap();
                let key = georoute::dnssec::ZoneKey::from_pem(&pem).unwrap();
                assert_eq!(key.algorithm, alg);
            }
        }
        Err(_) => common::skip(
            "openssl",
            "openssl is not installed; the key's PKCS#8 form is not cross-checked",
        ),
    }
}

#[test]
fn dnspython_validates_every_rrset_independently() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dnssec/validate.py");
    for algorithm in ["ecdsa-p256", "ed25519"] {
        let dir = TestDir::signed_example(algorithm);
        let s = TestServer::start(&dir.path);
        let ds = dir.first_zone_ds();
        let out = match std::process::Command::new("python3")
            .arg(script)
            .arg(s.addr.ip().to_string())
            .arg(s.addr.port().to_string())
            .arg(&ds)
            .args([
                "myregistry.azurecr.io/A",
                "myregistry.azurecr.io/AAAA",
                "myregistry.azurecr.io/TXT",
                "myregistry.northeurope.geo.azurecr.io/A",
                "myregistry.eastus.data.azurecr.io/AAAA",
                "azurecr.io/SOA",
                "azurecr.io/NS",
                "azurecr.io/TXT",
                "geo.azurecr.io/A",
                "nothing.azurecr.io/A",
            ])
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                common::skip(
                    "dnspython",
                    &format!("python3 is not available ({e}); dnspython cannot cross-check"),
                );
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.code() == Some(2) {
            common::skip(
                "dnspython",
                &format!(
                    "{} (Debian: apt-get install python3-dnspython python3-cryptography)",
                    text.trim()
                ),
            );
            return;
        }
        assert!(
            out.status.success(),
            "{algorithm}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("validated "), "{text}");
        eprintln!("{algorithm}: {}", text.lines().last().unwrap_or(""));
    }
}
