//! The names table over real sockets: every row of the names table and every negative case,
//! decoded by hickory-proto (an independent implementation of the wire format).

mod common;

use common::{Ask, TestDir, TestServer, answers, cname_region, tcp_read, tcp_send, udp_raw};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::net::TcpStream;
use std::time::Duration;

/// The example plus a second registry (address mode, no data names) and a second zone.
fn config() -> TestDir {
    let dir = TestDir::example();
    let zone = std::fs::read_to_string(dir.path.join("zones/azurecr.io.yaml")).unwrap();
    let extra = r#"
  - name: other
    home_region: westeurope
    data_endpoints: false
    global_answer: address
    ttl: {global: 20, regional: 120, data: 120}
    replicas:
      - region: westeurope
        addresses: [192.0.2.10]
      - region: big
"#;
    // Insert the registry before `views:` and give `big` many addresses (for truncation).
    let many: Vec<String> = (1..=40)
        .map(|i| format!("\"2001:db8:b16::{i:x}\""))
        .collect();
    let extra = extra.replace(
        "      - region: big\n",
        &format!("      - region: japaneast\n        global_endpoint_routing: false\n        addresses: [{}]\n", many.join(", ")),
    );
    let zone = zone.replace("views:\n", &format!("{extra}views:\n"));
    dir.write("zones/azurecr.io.yaml", &zone);
    dir.write(
        "zones/example.test.yaml",
        r#"
zone: example.test
soa: {mname: ns1.example.test., rname: hostmaster.example.test., refresh: 3600, retry: 600, expire: 604800, minimum: 60}
ttl: 7200
nameservers:
  - {name: ns1.example.test., addresses: [192.0.2.1]}
registries:
  - name: reg
    home_region: southeastasia
    regional_endpoints: false
    replicas:
      - region: southeastasia
        addresses: [192.0.2.77]
"#,
    );
    dir
}

fn server() -> (TestDir, TestServer) {
    let dir = config();
    let server = TestServer::start(&dir.path);
    (dir, server)
}

fn soa_ttl_in_authority(m: &Message) -> Option<u32> {
    m.authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.ttl)
}

#[test]
fn names_table_rows() {
    let (_dir, s) = server();
    let a = s.addr;

    let soa = Ask::new("azurecr.io", RecordType::SOA).udp(a);
    assert!(soa.metadata.authoritative);
    assert_eq!(soa.answers[0].ttl, 3600);
    assert!(
        matches!(&soa.answers[0].data, RData::SOA(x) if x.mname.to_string() == "ns1.azurecr.io." && x.minimum == 30)
    );

    let ns = Ask::new("azurecr.io", RecordType::NS).udp(a);
    assert_eq!(
        answers(&ns),
        [
            "azurecr.io NS ns1.azurecr.io",
            "azurecr.io NS ns2.example.net"
        ]
    );
    let glue: Vec<String> = ns
        .additionals
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect();
    assert_eq!(
        glue,
        ["ns1.azurecr.io. 192.0.2.53", "ns1.azurecr.io. 2001:db8::53"]
    );
    assert_eq!(
        answers(&Ask::new("ns1.azurecr.io", RecordType::A).udp(a)),
        ["ns1.azurecr.io A 192.0.2.53"]
    );

    // Global name, CNAME mode: the CNAME, then the target's addresses, each with its TTL.
    let g = Ask::new("myregistry.azurecr.io", RecordType::A).udp(a);
    assert!(g.metadata.authoritative);
    assert_eq!(
        answers(&g),
        [
            "myregistry.azurecr.io CNAME myregistry.eastus.geo.azurecr.io",
            "myregistry.eastus.geo.azurecr.io A 192.0.2.10"
        ]
    );
    assert_eq!((g.answers[0].ttl, g.answers[1].ttl), (30, 300));
    let g6 = Ask::new("myregistry.azurecr.io", RecordType::AAAA).udp(a);
    assert_eq!(
        answers(&g6)[1],
        "myregistry.eastus.geo.azurecr.io AAAA 2001:db8:e1::10"
    );
    assert_eq!(
        answers(&Ask::new("myregistry.azurecr.io", RecordType::CNAME).udp(a)).len(),
        1
    );

    // Address mode: the replica's addresses directly with the global TTL.
    let o = Ask::new("other.azurecr.io", RecordType::A).udp(a);
    assert_eq!(answers(&o), ["other.azurecr.io A 192.0.2.10"]);
    assert_eq!(o.answers[0].ttl, 20);
    // Without regional endpoints the global name is answered in address mode.
    assert_eq!(
        answers(&Ask::new("reg.example.test", RecordType::A).udp(a)),
        ["reg.example.test A 192.0.2.77"]
    );

    // Regional and data names.
    let r = Ask::new("myregistry.eastus2.geo.azurecr.io", RecordType::A).udp(a);
    assert_eq!(
        answers(&r),
        ["myregistry.eastus2.geo.azurecr.io A 192.0.2.11"]
    );
    assert_eq!(r.answers[0].ttl, 300);
    let d = Ask::new("myregistry.eastus.data.azurecr.io", RecordType::AAAA).udp(a);
    assert_eq!(
        answers(&d),
        ["myregistry.eastus.data.azurecr.io AAAA 2001:db8:e1::20"]
    );
    // A replica with routing false still answers its regional and data names.
    assert_eq!(
        answers(&Ask::new("myregistry.westeurope.geo.azurecr.io", RecordType::A).udp(a)),
        ["myregistry.westeurope.geo.azurecr.io A 192.0.2.12"]
    );
    assert_eq!(
        answers(&Ask::new("myregistry.westeurope.data.azurecr.io", RecordType::A).udp(a)),
        ["myregistry.westeurope.data.azurecr.io A 192.0.2.22"]
    );
    // ...and is never the global answer, even for a client right next to it.
    let near = Ask::new("myregistry.azurecr.io", RecordType::A)
        .ecs("198.51.100.0/24")
        .udp(a);
    assert_eq!(cname_region(&near).as_deref(), Some("northeurope"));
}

#[test]
fn negative_answers() {
    let (_dir, s) = server();
    let a = s.addr;
    let nx = Ask::new("nope.azurecr.io", RecordType::A).udp(a);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative && nx.answers.is_empty());
    assert_eq!(
        soa_ttl_in_authority(&nx),
        Some(30),
        "negative TTL = min(3600, minimum 30)"
    );
    let deep = Ask::new("x.myregistry.eastus.geo.azurecr.io", RecordType::A).udp(a);
    assert_eq!(deep.metadata.response_code, ResponseCode::NXDomain);
    // A data name of a registry without data endpoints does not exist.
    assert_eq!(
        Ask::new("other.westeurope.data.azurecr.io", RecordType::A)
            .udp(a)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    // In the second zone the negative TTL is min(7200, 60).
    assert_eq!(
        soa_ttl_in_authority(&Ask::new("zz.example.test", RecordType::A).udp(a)),
        Some(60)
    );

    for (name, rtype) in [
        ("myregistry.eastus.geo.azurecr.io", RecordType::MX),
        ("myregistry.eastus2.data.azurecr.io", RecordType::AAAA), // eastus2 data has no IPv6
        ("azurecr.io", RecordType::A),
        ("geo.azurecr.io", RecordType::A), // empty non-terminals: NODATA, never NXDOMAIN
        ("eastus.geo.azurecr.io", RecordType::A),
        ("eastus.data.azurecr.io", RecordType::TXT),
        ("other.azurecr.io", RecordType::TXT),
    ] {
        let m = Ask::new(name, rtype).udp(a);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{name} {rtype}"
        );
        assert!(m.answers.is_empty(), "{name} {rtype}");
        assert_eq!(
            soa_ttl_in_authority(&m),
            Some(30),
            "{name} {rtype}: SOA in authority"
        );
        assert!(m.metadata.authoritative);
    }
    // CNAME to a target without the type: the CNAME plus NODATA's SOA.
    let mx = Ask::new("myregistry.azurecr.io", RecordType::MX).udp(a);
    assert_eq!(mx.answers.len(), 1);
    assert_eq!(soa_ttl_in_authority(&mx), Some(30));

    let refused = Ask::new("example.com", RecordType::A).udp(a);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.authoritative);
    let mut chaos = Ask::new("azurecr.io", RecordType::SOA).packet();
    let n = chaos.len();
    chaos[n - 1] = 3; // class CH
    let m = Message::from_vec(&udp_raw(a, "127.0.0.1".parse().unwrap(), &chaos).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn case_is_preserved_and_any_is_minimal() {
    let (_dir, s) = server();
    let m = Ask::new("MyReGiStRy.AzUrEcR.Io", RecordType::A).udp(s.addr);
    assert_eq!(m.queries[0].name().to_string(), "MyReGiStRy.AzUrEcR.Io.");
    assert_eq!(m.answers[0].name.to_string(), "MyReGiStRy.AzUrEcR.Io.");
    assert_eq!(m.answers.len(), 2);

    let any = Ask::new("myregistry.azurecr.io", RecordType::ANY).udp(s.addr);
    assert_eq!(
        answers(&any),
        ["myregistry.azurecr.io CNAME myregistry.eastus.geo.azurecr.io"]
    );
    let apex = Ask::new("azurecr.io", RecordType::ANY).udp(s.addr);
    assert_eq!(apex.answers.len(), 1);
    assert_eq!(apex.answers[0].record_type(), RecordType::SOA);
    let regional = Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::ANY).udp(s.addr);
    assert_eq!(
        answers(&regional),
        ["myregistry.eastus.geo.azurecr.io A 192.0.2.10"]
    );
}

#[test]
fn opcodes_and_malformed_packets() {
    let (_dir, s) = server();
    let a = s.addr;
    let src = "127.0.0.1".parse().unwrap();
    let good = Ask::new("azurecr.io", RecordType::SOA).packet();

    let mut status = good.clone();
    status[2] = (status[2] & 0x87) | (2 << 3); // opcode STATUS
    let m = Message::from_vec(&udp_raw(a, src, &status).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

    let mut two = good.clone();
    two[5] = 2;
    assert_eq!(
        Message::from_vec(&udp_raw(a, src, &two).unwrap())
            .unwrap()
            .metadata
            .response_code,
        ResponseCode::FormErr
    );
    let mut none = good.clone();
    none[5] = 0;
    assert_eq!(
        Message::from_vec(&udp_raw(a, src, &none).unwrap())
            .unwrap()
            .metadata
            .response_code,
        ResponseCode::FormErr
    );
    let garbage = [&good[..12], &[0xFF, 0xFE, 0x01][..]].concat();
    let reply = udp_raw(a, src, &garbage).unwrap();
    assert_eq!(&reply[..2], &good[..2], "the ID is echoed");
    assert_eq!(reply[3] & 0x0F, 1, "FORMERR");

    // Too short for a header, or a response: no answer at all.
    assert!(udp_raw(a, src, &good[..7]).is_none());
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(udp_raw(a, src, &response).is_none());

    // A stream of random packets changes nothing.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 300) as usize;
        let mut p: Vec<u8> = (0..len).map(|j| (x >> (j % 57)) as u8).collect();
        if i % 2 == 0 && len > 12 {
            p[..12].copy_from_slice(&good[..12]); // a valid header and garbage after it
        }
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(&p, a).unwrap();
    }
    assert_eq!(
        Ask::new("azurecr.io", RecordType::SOA)
            .udp(a)
            .metadata
            .response_code,
        ResponseCode::NoError
    );
}

#[test]
fn edns_badvers_and_truncation() {
    let (_dir, s) = server();
    let a = s.addr;
    let m = Ask::new("azurecr.io", RecordType::SOA).edns(4096).udp(a);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
    assert!(
        Ask::new("azurecr.io", RecordType::SOA)
            .udp(a)
            .edns
            .is_none(),
        "no OPT without OPT"
    );

    let mut v1 = Ask::new("azurecr.io", RecordType::SOA).edns(1232).packet();
    let n = v1.len();
    v1[n - 5] = 1; // OPT TTL is (extended rcode, VERSION, flags); then rdlength 0
    let reply = udp_raw(a, "127.0.0.1".parse().unwrap(), &v1).unwrap();
    let m = Message::from_vec(&reply).unwrap();
    // RCODE 16 (BADVERS; hickory names 16 BADSIG, the TSIG meaning of the same number).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert_eq!(
        reply[3] & 0x0F,
        0,
        "low bits in the header, high bits in OPT"
    );
    assert!(m.answers.is_empty());

    // 40 AAAA records: too big for 512 bytes without EDNS, and for 1232 with.
    let big = Ask::new("other.japaneast.geo.azurecr.io", RecordType::AAAA);
    let t = big.udp(a);
    assert!(t.metadata.truncation && t.answers.is_empty());
    let t = big.clone().edns(4096).udp(a);
    assert!(!t.metadata.truncation, "40 AAAA fit in 1232 bytes");
    assert_eq!(t.answers.len(), 40);
    let small = big.clone().edns(512).udp(a);
    assert!(small.metadata.truncation);
    assert!(small.edns.is_some(), "OPT stays in a truncated answer");
    let full = big.tcp(a);
    assert!(!full.metadata.truncation);
    assert_eq!(full.answers.len(), 40);
}

#[test]
fn tcp_pipelining_and_idle_close() {
    let (_dir, s) = server();
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let names = [
        "azurecr.io",
        "myregistry.azurecr.io",
        "nope.azurecr.io",
        "myregistry.eastus.data.azurecr.io",
    ];
    for (i, n) in names.iter().enumerate() {
        let mut p = Ask::new(n, RecordType::A).packet();
        p[..2].copy_from_slice(&(i as u16 + 1).to_be_bytes());
        tcp_send(&mut conn, &p);
    }
    let rcodes: Vec<(u16, ResponseCode)> = (0..names.len())
        .map(|_| {
            let m = Message::from_vec(&tcp_read(&mut conn).unwrap()).unwrap();
            (m.metadata.id, m.metadata.response_code)
        })
        .collect();
    assert_eq!(
        rcodes,
        [
            (1, ResponseCode::NoError),
            (2, ResponseCode::NoError),
            (3, ResponseCode::NXDomain),
            (4, ResponseCode::NoError)
        ]
    );
}

#[test]
fn tcp_idle_timeout_and_connection_limit() {
    let dir = config();
    let s = TestServer::start_with(&dir.path, |settings| {
        settings.tcp.idle_timeout = Duration::from_millis(300);
        settings.tcp.max_connections = 2;
    });
    let packet = Ask::new("azurecr.io", RecordType::SOA).packet();
    let open = || {
        let c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c
    };
    // Idle: the server closes the connection (EOF before any reply).
    let mut idle = open();
    let started = std::time::Instant::now();
    assert!(tcp_read(&mut idle).is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Limit: two connections are served; a third waits until one of them ends.
    let (mut c1, mut c2) = (open(), open());
    for c in [&mut c1, &mut c2] {
        tcp_send(c, &packet);
        assert!(tcp_read(c).is_some());
    }
    let mut c3 = open();
    c3.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    tcp_send(&mut c3, &packet);
    assert!(
        tcp_read(&mut c3).is_none(),
        "the third connection is not served yet"
    );
    drop(c1);
    drop(c2);
    c3.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert!(
        tcp_read(&mut c3).is_some(),
        "served once the others are gone"
    );
}
