//! Malformed and mutated packets over real UDP and TCP sockets to an in-process server: crafted
//! cases (truncated headers, compression pointers, section counts, OPT, ECS and COOKIE errors),
//! every truncation of valid queries, deterministic bit flips and random bytes. Every packet
//! with a readable header gets a response with its ID (FORMERR where an RFC says so); a packet
//! too short for a header or with QR set gets nothing. Afterwards normal queries still get
//! their answers. Over TCP also: short reads, zero-length messages and a pipelined stream.
//!
//! Every wait is bounded by a socket timeout; every loop by a count.

mod common;

use common::{Ask, TestDir, TestServer, cname_region, tcp_send};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Read timeout of every socket here.
const WAIT: Duration = Duration::from_secs(2);
/// Stop after this many failures (a dead server would otherwise cost WAIT per packet).
const MAX_FAILURES: usize = 25;
const GLOBAL: &str = "myregistry.azurecr.io";

/// xorshift64: a small deterministic generator, so every run sends the same packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the server must do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Send nothing (too short for a header, or QR set).
    Silence,
    /// Answer with the packet's ID, any RCODE.
    Answer,
    /// Answer with this RCODE.
    Rcode(ResponseCode),
    /// Answer with this RCODE and an OPT record (the query's OPT record was readable).
    RcodeOpt(ResponseCode),
}

impl Expect {
    /// From the header alone: what any packet must get.
    fn of(packet: &[u8]) -> Self {
        if packet.len() < 12 || packet[2] & 0x80 != 0 {
            Self::Silence
        } else {
            Self::Answer
        }
    }
}

struct Case {
    what: String,
    packet: Vec<u8>,
    expect: Expect,
}

fn case(what: impl Into<String>, packet: Vec<u8>, expect: Expect) -> Case {
    Case {
        what: what.into(),
        packet,
        expect,
    }
}

const FORMERR: Expect = Expect::Rcode(ResponseCode::FormErr);
const FORMERR_OPT: Expect = Expect::RcodeOpt(ResponseCode::FormErr);

fn header(flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [0x4242, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn qname(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Name, type A, class IN.
fn question(name: &str) -> Vec<u8> {
    [qname(name), vec![0, 1, 0, 1]].concat()
}

/// An OPT record at the root with these options.
fn opt(options: &[u8]) -> Vec<u8> {
    let mut o = vec![0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0];
    o.extend_from_slice(&(options.len() as u16).to_be_bytes());
    o.extend_from_slice(options);
    o
}

fn option(code: u16, data: &[u8]) -> Vec<u8> {
    let mut o = code.to_be_bytes().to_vec();
    o.extend_from_slice(&(data.len() as u16).to_be_bytes());
    o.extend_from_slice(data);
    o
}

/// A query for the global name with one OPT record carrying `options`.
fn with_options(options: &[u8]) -> Vec<u8> {
    [header(0, 1, 0, 0, 1), question(GLOBAL), opt(options)].concat()
}

/// Valid queries: what the mutations start from.
fn valid_queries() -> Vec<Vec<u8>> {
    let cookie = option(10, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let ecs = option(8, &[0, 1, 24, 0, 192, 0, 2]);
    vec![
        Ask::new(GLOBAL, RecordType::A).packet(),
        Ask::new(GLOBAL, RecordType::A).ecs("192.0.2.0/24").packet(),
        Ask::new(GLOBAL, RecordType::AAAA)
            .ecs("2001:db8::/56")
            .packet(),
        Ask::new("azurecr.io", RecordType::SOA).edns(1232).packet(),
        Ask::new("azurecr.io", RecordType::NS).packet(),
        Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).packet(),
        Ask::new("myregistry.westeurope.data.azurecr.io", RecordType::AAAA)
            .edns(512)
            .packet(),
        Ask::new("nope.azurecr.io", RecordType::A).packet(),
        with_options(&[ecs.clone(), cookie.clone()].concat()),
        with_options(&cookie),
    ]
}

/// Hand-made cases with the answer an RFC (or the README) asks for.
fn crafted() -> Vec<Case> {
    let good = Ask::new(GLOBAL, RecordType::A).ecs("192.0.2.0/24").packet();
    let q = question(GLOBAL);
    let mut v = Vec::new();

    // Truncated headers: nothing to answer with.
    for n in 0..12 {
        v.push(case(
            format!("header cut to {n} bytes"),
            good[..n].to_vec(),
            Expect::Silence,
        ));
    }
    let mut response = good.clone();
    response[2] |= 0x80;
    v.push(case("QR set", response, Expect::Silence));

    // Section counts (README: QDCOUNT != 1 is FORMERR).
    v.push(case(
        "header only, QDCOUNT 0",
        header(0, 0, 0, 0, 0),
        FORMERR,
    ));
    v.push(case(
        "QDCOUNT 0 with a question",
        [header(0, 0, 0, 0, 0), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "QDCOUNT 2",
        [header(0, 2, 0, 0, 0), q.clone(), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "QDCOUNT 65535",
        [header(0, 65535, 0, 0, 0), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "ANCOUNT 65535, no data",
        [header(0, 1, 65535, 0, 0), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "NSCOUNT 65535, no data",
        [header(0, 1, 0, 65535, 0), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "ARCOUNT 65535, no data",
        [header(0, 1, 0, 0, 65535), q.clone()].concat(),
        FORMERR,
    ));
    v.push(case(
        "ARCOUNT 1, no data",
        [header(0, 1, 0, 0, 1), q.clone()].concat(),
        FORMERR,
    ));

    // The question name: compression pointers are forbidden there (nothing precedes it to
    // point at), as are reserved label types, labels past the end and names over 255 bytes.
    let tail = [0u8, 1, 0, 1];
    let names: [(&str, Vec<u8>); 11] = [
        ("pointer to itself (loop)", vec![0xC0, 12]),
        (
            "label then pointer back (loop)",
            vec![3, b'w', b'w', b'w', 0xC0, 12],
        ),
        (
            "pointer forward",
            vec![0xC0, 20, 0, 0, 0, 0, 0, 0, 3, b'c', b'o', b'm', 0],
        ),
        ("pointer out of range", vec![0xC0, 0xFF]),
        ("pointer 0x3FFF", vec![0xFF, 0xFF]),
        ("pointer to the header", vec![0xC0, 0]),
        ("label type 0x40", vec![0x41, b'a', 0]),
        ("label type 0x80", vec![0x81, b'a', 0]),
        ("label past the end", vec![63, b'a', b'b', b'c']),
        (
            "no terminating zero",
            b"\x0amyregistry\x07azurecr\x02io".to_vec(),
        ),
        ("name of 256 bytes", {
            let mut n = Vec::new();
            for fill in [b'a', b'b', b'c'] {
                n.push(63);
                n.extend(std::iter::repeat_n(fill, 63));
            }
            n.push(62);
            n.extend(std::iter::repeat_n(b'd', 62));
            n.push(0);
            n
        }),
    ];
    for (what, name) in names {
        let packet = [header(0, 1, 0, 0, 0), name, tail.to_vec()].concat();
        v.push(case(format!("question: {what}"), packet, FORMERR));
    }
    v.push(case(
        "question without type",
        [header(0, 1, 0, 0, 0), qname(GLOBAL)].concat(),
        FORMERR,
    ));
    v.push(case(
        "question without class",
        [header(0, 1, 0, 0, 0), qname(GLOBAL), vec![0, 1]].concat(),
        FORMERR,
    ));

    // Compression pointers in a record of the answer section: the server skips those records
    // without following names, so only an answer with the ID is required.
    for (what, name) in [
        ("loop", vec![0xC0, 39]),
        ("forward", vec![0xC0, 0x60]),
        ("out of range", vec![0xFF, 0xFF]),
    ] {
        let record = [name, vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 1]].concat();
        let packet = [header(0, 1, 1, 0, 0), q.clone(), record].concat();
        v.push(case(
            format!("answer record: pointer {what}"),
            packet,
            Expect::Answer,
        ));
    }

    // OPT (RFC 6891 section 6.1.1: two OPT records are FORMERR).
    v.push(case(
        "two OPT records",
        [header(0, 1, 0, 0, 2), q.clone(), opt(&[]), opt(&[])].concat(),
        FORMERR,
    ));
    v.push(case(
        "OPT not at the root",
        [header(0, 1, 0, 0, 1), q.clone(), vec![1, b'x'], opt(&[])].concat(),
        FORMERR,
    ));
    let mut short = opt(&[0, 8, 0, 4]);
    short[10] = 8; // RDLENGTH 8, 4 bytes follow
    v.push(case(
        "OPT RDATA truncated",
        [header(0, 1, 0, 0, 1), q.clone(), short].concat(),
        FORMERR,
    ));
    v.push(case(
        "OPT cut before its TTL",
        [header(0, 1, 0, 0, 1), q.clone(), opt(&[])[..5].to_vec()].concat(),
        FORMERR,
    ));
    v.push(case(
        "option length past the end",
        with_options(&[0, 8, 0, 40, 0, 1, 24, 0]),
        FORMERR,
    ));
    v.push(case("option header cut", with_options(&[0, 8, 0]), FORMERR));

    // ECS (RFC 7871 section 7.1.1: malformed options are FORMERR).
    let ecs: [(&str, Vec<u8>); 9] = [
        ("family 3", vec![0, 3, 24, 0, 192, 0, 2]),
        ("family 0", vec![0, 0, 0, 0]),
        (
            "source prefix 33 for IPv4",
            vec![0, 1, 33, 0, 192, 0, 2, 0, 0],
        ),
        (
            "source prefix 129 for IPv6",
            [vec![0, 2, 129, 0], vec![0x20; 17]].concat(),
        ),
        (
            "address bytes beyond the prefix",
            vec![0, 1, 24, 0, 192, 0, 2, 0],
        ),
        ("address bytes missing", vec![0, 1, 24, 0, 192, 0]),
        ("bits set beyond the prefix", vec![0, 1, 23, 0, 192, 0, 3]),
        ("bits set beyond prefix 0", vec![0, 1, 0, 0, 192]),
        ("shorter than its fixed part", vec![0, 1, 24]),
    ];
    for (what, data) in ecs {
        v.push(case(
            format!("ECS: {what}"),
            with_options(&option(8, &data)),
            FORMERR_OPT,
        ));
    }
    let one = option(8, &[0, 1, 24, 0, 192, 0, 2]);
    v.push(case(
        "ECS twice",
        with_options(&[one.clone(), one].concat()),
        FORMERR_OPT,
    ));

    // COOKIE (RFC 7873 section 5.2.2: lengths other than 8 and 16-40 are FORMERR).
    for len in [0, 1, 7, 9, 15, 41, 100] {
        let data = vec![0x5A; len];
        v.push(case(
            format!("COOKIE of {len} bytes"),
            with_options(&option(10, &data)),
            FORMERR_OPT,
        ));
    }
    for len in [8, 16, 40] {
        let data = vec![0x5A; len];
        v.push(case(
            format!("COOKIE of {len} bytes"),
            with_options(&option(10, &data)),
            Expect::RcodeOpt(ResponseCode::NoError),
        ));
    }

    // EDNS version 1: BADVERS (RFC 6891 section 6.1.3).
    let mut v1 = with_options(&[]);
    let at = v1.len() - 11 + 6; // the OPT's TTL: extended RCODE, version
    v1[at] = 1;
    v.push(case(
        "EDNS version 1",
        v1,
        Expect::RcodeOpt(ResponseCode::BADVERS),
    ));

    // Opcodes other than QUERY: NOTIMP.
    for opcode in 1..16u8 {
        let mut p = good.clone();
        p[2] = (p[2] & 0x87) | (opcode << 3);
        v.push(case(
            format!("opcode {opcode}"),
            p,
            Expect::Rcode(ResponseCode::NotImp),
        ));
    }

    // Trailing bytes after the counted sections are ignored.
    v.push(case(
        "trailing garbage",
        [good.clone(), vec![0xDE, 0xAD, 0xBE, 0xEF]].concat(),
        Expect::Answer,
    ));
    v.push(case(
        "ECS scope nonzero in a query",
        with_options(&option(8, &[0, 1, 24, 24, 192, 0, 2])),
        Expect::Answer,
    ));
    v
}

/// Every packet: crafted, each proper prefix of the valid queries (all FORMERR: a counted
/// section or the question is cut), bit flips of valid queries and random bytes.
fn all_cases() -> Vec<Case> {
    let mut v = crafted();
    let valid = valid_queries();
    for (i, q) in valid.iter().enumerate() {
        for n in 12..q.len() {
            v.push(case(
                format!("valid query {i} cut to {n} of {} bytes", q.len()),
                q[..n].to_vec(),
                FORMERR,
            ));
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..1500 {
        let base = &valid[rng.below(valid.len())];
        let mut p = base.clone();
        let flips = 1 + rng.below(4);
        for _ in 0..flips {
            // Not the ID (it is overwritten per packet).
            let bit = 16 + rng.below((p.len() - 2) * 8);
            p[bit / 8] ^= 1 << (bit % 8);
        }
        let expect = Expect::of(&p);
        v.push(case(format!("bit flip #{i}"), p, expect));
    }
    for i in 0..600 {
        let len = rng.below(90);
        let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 3 == 0 && len >= 12 {
            // A plausible header: one question, no QR, opcode QUERY.
            p[2] &= 0x07;
            p[4..6].copy_from_slice(&[0, 1]);
        }
        let expect = Expect::of(&p);
        v.push(case(format!("random #{i} ({len} bytes)"), p, expect));
    }
    // Each packet's ID is its index: answers are matched to it.
    for (i, c) in v.iter_mut().enumerate() {
        stamp(&mut c.packet, i as u16);
    }
    v
}

/// Checks a response against the expectation; `Err` says what is wrong.
fn verdict(c: &Case, id: u16, response: &[u8]) -> Result<(), String> {
    if c.expect == Expect::Silence {
        return Err(format!("answered a packet to drop: {response:02x?}"));
    }
    let m = Message::from_vec(response)
        .map_err(|e| format!("response does not decode ({e}): {response:02x?}"))?;
    if m.metadata.id != id {
        return Err(format!(
            "response ID {:#06x}, query ID {id:#06x}",
            m.metadata.id
        ));
    }
    if m.metadata.message_type != MessageType::Response {
        return Err("QR not set".into());
    }
    // Compared as numbers: hickory-proto names 16 BADSIG, not BADVERS.
    let rcode = m.metadata.response_code;
    match c.expect {
        Expect::Silence | Expect::Answer => {}
        Expect::Rcode(want) if u16::from(rcode) != u16::from(want) => {
            return Err(format!("RCODE {rcode}, want {want}"));
        }
        Expect::RcodeOpt(want) if u16::from(rcode) != u16::from(want) || m.edns.is_none() => {
            return Err(format!(
                "RCODE {rcode} with{} OPT, want {want} with OPT",
                if m.edns.is_some() { "" } else { "out" }
            ));
        }
        _ => {}
    }
    if response.len() > 1232 {
        return Err(format!(
            "UDP-sized limit exceeded: {} bytes",
            response.len()
        ));
    }
    Ok(())
}

/// Sets a packet's ID (when it has one).
fn stamp(packet: &mut [u8], id: u16) {
    if packet.len() >= 2 {
        packet[..2].copy_from_slice(&id.to_be_bytes());
    }
}

struct Failures(Vec<String>);

impl Failures {
    fn add(&mut self, transport: &str, c: &Case, why: String) {
        self.0.push(format!(
            "{transport} {}: {why}; packet {:02x?}",
            c.what, c.packet
        ));
    }
    fn full(&self) -> bool {
        self.0.len() >= MAX_FAILURES
    }
}

/// One client socket over UDP: per flow the server answers in order (SO_REUSEPORT hashes the
/// flow to one thread), so silence is checked by a probe query sent right after.
struct Udp {
    sock: UdpSocket,
    server: SocketAddr,
    buf: Vec<u8>,
}

impl Udp {
    fn new(server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            sock,
            server,
            buf: vec![0; 65535],
        }
    }

    fn recv(&mut self) -> Option<Vec<u8>> {
        match self.sock.recv_from(&mut self.buf) {
            Ok((n, _)) => Some(self.buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// Reads whatever is still queued (after a failure), so the next case starts clean.
    fn drain(&mut self) {
        self.sock
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for _ in 0..100 {
            if self.recv().is_none() {
                break;
            }
        }
        self.sock.set_read_timeout(Some(WAIT)).unwrap();
    }

    fn run(&mut self, c: &Case, id: u16, probe: &[u8]) -> Result<(), String> {
        let result = self.exchange(c, id, probe);
        if result.is_err() {
            self.drain();
        }
        result
    }

    fn exchange(&mut self, c: &Case, id: u16, probe: &[u8]) -> Result<(), String> {
        self.sock.send_to(&c.packet, self.server).unwrap();
        if c.expect == Expect::Silence {
            self.sock.send_to(probe, self.server).unwrap();
            let first = self.recv().ok_or("no answer to the probe sent after it")?;
            if first[..2] != probe[..2] {
                return Err(format!("answered a packet to drop: {first:02x?}"));
            }
            return Ok(());
        }
        let r = self.recv().ok_or("no answer within 2 s")?;
        verdict(c, id, &r)
    }
}

enum Got {
    Message(Vec<u8>),
    Closed,
    Timeout,
}

/// Reads one length-prefixed message, telling a close from a timeout.
fn tcp_next(s: &mut TcpStream) -> Got {
    fn read(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), Got> {
        s.read_exact(buf).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Got::Timeout,
            _ => Got::Closed,
        })
    }
    let mut len = [0u8; 2];
    if let Err(e) = read(s, &mut len) {
        return e;
    }
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    match read(s, &mut buf) {
        Ok(()) => Got::Message(buf),
        Err(e) => e,
    }
}

fn connect(server: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// One TCP connection, reopened after the server closes it on a message it drops.
struct Tcp {
    server: SocketAddr,
    stream: Option<TcpStream>,
    reconnects: usize,
}

impl Tcp {
    fn run(&mut self, c: &Case, id: u16) -> Result<(), String> {
        let s = self.stream.get_or_insert_with(|| connect(self.server));
        let mut framed = (c.packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&c.packet);
        if let Err(e) = s.write_all(&framed) {
            self.stream = None;
            return Err(format!("write failed: {e}"));
        }
        match (tcp_next(s), c.expect) {
            (Got::Message(r), _) => verdict(c, id, &r),
            (Got::Closed, Expect::Silence) => {
                self.stream = None;
                self.reconnects += 1;
                Ok(())
            }
            (Got::Timeout, Expect::Silence) => {
                // Silent but open: allowed, though the server closes (src/dns/tcp.rs).
                self.stream = None;
                Ok(())
            }
            (Got::Closed, _) => {
                self.stream = None;
                Err("connection closed without an answer".into())
            }
            (Got::Timeout, _) => {
                self.stream = None;
                Err("no answer within 2 s".into())
            }
        }
    }
}

/// The answers that must still be right.
fn still_answers(server: SocketAddr) {
    for (transport, m) in [
        (
            "UDP",
            Ask::new(GLOBAL, RecordType::A)
                .ecs("192.0.2.0/24")
                .udp(server),
        ),
        (
            "TCP",
            Ask::new(GLOBAL, RecordType::A)
                .ecs("192.0.2.0/24")
                .tcp(server),
        ),
    ] {
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{transport}"
        );
        assert_eq!(
            cname_region(&m).as_deref(),
            Some("australiaeast"),
            "{transport}: {m}"
        );
    }
    for (transport, m) in [
        ("UDP", Ask::new("azurecr.io", RecordType::SOA).udp(server)),
        ("TCP", Ask::new("azurecr.io", RecordType::SOA).tcp(server)),
    ] {
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{transport}"
        );
        assert_eq!(m.answers.len(), 1, "{transport}: {m}");
        assert_eq!(m.answers[0].record_type(), RecordType::SOA, "{transport}");
        assert_eq!(
            m.answers[0].name.to_string().to_lowercase(),
            "azurecr.io.",
            "{transport}"
        );
    }
}

fn report(what: &str, failures: &Failures) {
    assert!(
        failures.0.is_empty(),
        "{what}: {} failures (each transport stops after {MAX_FAILURES}):\n{}",
        failures.0.len(),
        failures.0.join("\n")
    );
}

#[test]
fn malformed_and_mutated_packets_over_udp_and_tcp() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let cases = all_cases();
    assert!(cases.len() > 2500, "{} cases", cases.len());
    let expected_silent = cases.iter().filter(|c| c.expect == Expect::Silence).count();
    assert!(
        expected_silent > 100 && expected_silent < cases.len() / 2,
        "{expected_silent}"
    );

    let mut probe = Ask::new("azurecr.io", RecordType::SOA).packet();
    probe[..2].copy_from_slice(&0xFFFFu16.to_be_bytes());
    let mut udp_failures = Failures(Vec::new());
    let mut udp = Udp::new(s.addr);
    for (i, c) in cases.iter().enumerate() {
        if let Err(why) = udp.run(c, i as u16, &probe) {
            udp_failures.add("UDP", c, why);
            if udp_failures.full() {
                break;
            }
        }
    }

    let mut tcp = Tcp {
        server: s.addr,
        stream: None,
        reconnects: 0,
    };
    let mut failures = Failures(Vec::new());
    for (i, c) in cases.iter().enumerate() {
        if let Err(why) = tcp.run(c, i as u16) {
            failures.add("TCP", c, why);
            if failures.full() {
                break;
            }
        }
    }
    failures.0.splice(0..0, udp_failures.0);
    report("UDP and TCP", &failures);
    assert!(
        tcp.reconnects > 100,
        "the server closed {} connections",
        tcp.reconnects
    );

    still_answers(s.addr);
    s.admin("/healthz");
}

#[test]
fn tcp_short_reads_zero_length_and_pipelining() {
    let dir = TestDir::example();
    let s = TestServer::start(&dir.path);
    let good = Ask::new("azurecr.io", RecordType::SOA).packet();

    // A length prefix larger than what follows, then the client closes: no answer, no harm.
    for (what, bytes) in [
        (
            "length 256, 20 bytes",
            [vec![1, 0], good[..20].to_vec()].concat(),
        ),
        (
            "length 65535, the whole query",
            [vec![0xFF, 0xFF], good.clone()].concat(),
        ),
        ("half a length prefix", vec![0]),
    ] {
        let mut c = connect(s.addr);
        c.write_all(&bytes).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert!(
            matches!(tcp_next(&mut c), Got::Closed),
            "{what}: an answer or a hang"
        );
    }

    // The same, with the client staying: the server's read timeout (3 s) closes it.
    let mut c = connect(s.addr);
    c.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    c.write_all(&[1, 0]).unwrap();
    c.write_all(&good[..20]).unwrap();
    let started = Instant::now();
    assert!(
        matches!(tcp_next(&mut c), Got::Closed),
        "a partial message kept open"
    );
    assert!(started.elapsed() < Duration::from_secs(6));

    // A zero-length message is dropped and the connection closed, after the answers before it.
    let mut c = connect(s.addr);
    let mut framed = Vec::new();
    for _ in 0..2 {
        framed.extend_from_slice(&(good.len() as u16).to_be_bytes());
        framed.extend_from_slice(&good);
    }
    framed.extend_from_slice(&[0, 0]);
    c.write_all(&framed).unwrap();
    for n in 0..2 {
        match tcp_next(&mut c) {
            Got::Message(m) => assert_eq!(m[..2], good[..2], "answer {n}"),
            _ => panic!("answer {n} before the zero-length message missing"),
        }
    }
    assert!(
        matches!(tcp_next(&mut c), Got::Closed),
        "zero-length message: not closed"
    );
    let mut c = connect(s.addr);
    tcp_send(&mut c, &[]);
    assert!(
        matches!(tcp_next(&mut c), Got::Closed),
        "zero-length message alone"
    );

    // 100 pipelined messages, good and bad, on one connection: every answer in order.
    pipelined(s.addr);

    still_answers(s.addr);
}

/// What one pipelined message must get.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Global name with ECS 192.0.2.0/24: CNAME to australiaeast.
    Sydney,
    /// Apex SOA.
    Soa,
    /// A regional name: its A record.
    Regional,
    /// NXDOMAIN with the SOA.
    NxDomain,
    /// Out of zone.
    Refused,
    /// A malformed message with a readable header.
    FormErr,
    /// Dropped: the server closes the connection.
    Dropped,
}

fn pipelined_message(want: Want, rng: &mut Rng) -> Vec<u8> {
    let good = Ask::new(GLOBAL, RecordType::A).ecs("192.0.2.0/24").packet();
    match want {
        Want::Sydney => good,
        Want::Soa => Ask::new("azurecr.io", RecordType::SOA).packet(),
        Want::Regional => Ask::new("myregistry.eastus.geo.azurecr.io", RecordType::A).packet(),
        Want::NxDomain => Ask::new("nope.azurecr.io", RecordType::A)
            .edns(1232)
            .packet(),
        Want::Refused => Ask::new("example.com", RecordType::A).packet(),
        Want::FormErr => match rng.below(4) {
            0 => good[..12 + rng.below(good.len() - 12)].to_vec(),
            1 => header(0, 0, 0, 0, 0),
            2 => with_options(&option(8, &[0, 3, 24, 0, 192, 0, 2])),
            _ => with_options(&option(10, &[0; 9])),
        },
        Want::Dropped => match rng.below(3) {
            0 => {
                let mut p = good;
                p[2] |= 0x80;
                p
            }
            1 => good[..rng.below(12)].to_vec(),
            _ => Vec::new(),
        },
    }
}

fn pipelined(server: SocketAddr) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let plan: Vec<Want> = (0..100)
        .map(|_| match rng.below(20) {
            0..=3 => Want::Sydney,
            4..=5 => Want::Soa,
            6..=7 => Want::Regional,
            8..=9 => Want::NxDomain,
            10 => Want::Refused,
            11..=16 => Want::FormErr,
            _ => Want::Dropped,
        })
        .collect();
    let dropped = plan.iter().filter(|w| matches!(w, Want::Dropped)).count();
    assert!((5..30).contains(&dropped), "{dropped} dropped in the plan");

    // Segments end at each dropped message: everything before it is answered in order, then
    // the server closes; the next segment goes on a new connection.
    let mut at = 0;
    let mut answered = 0;
    while at < plan.len() {
        let end = plan[at..]
            .iter()
            .position(|w| matches!(w, Want::Dropped))
            .map_or(plan.len(), |p| at + p + 1);
        let mut c = connect(server);
        let mut stream = Vec::new();
        for (i, &want) in plan.iter().enumerate().take(end).skip(at) {
            let mut p = pipelined_message(want, &mut rng);
            stamp(&mut p, i as u16);
            stream.extend_from_slice(&(p.len() as u16).to_be_bytes());
            stream.extend_from_slice(&p);
        }
        c.write_all(&stream).unwrap();
        for (i, &want) in plan.iter().enumerate().take(end).skip(at) {
            let r = match (tcp_next(&mut c), want) {
                (Got::Closed, Want::Dropped) => continue,
                (Got::Message(r), Want::Dropped) => {
                    panic!("message {i}: dropped one answered: {r:02x?}")
                }
                (Got::Message(r), _) => r,
                (Got::Closed, _) => {
                    panic!("message {i} ({want:?}): connection closed, no answer")
                }
                (Got::Timeout, _) => panic!("message {i} ({want:?}): no answer within 2 s"),
            };
            let m = Message::from_vec(&r).unwrap_or_else(|e| panic!("message {i}: {e}: {r:02x?}"));
            assert_eq!(m.metadata.id, i as u16, "message {i}: answers out of order");
            let rcode = m.metadata.response_code;
            match want {
                Want::Sydney => {
                    assert_eq!(rcode, ResponseCode::NoError, "message {i}");
                    assert_eq!(
                        cname_region(&m).as_deref(),
                        Some("australiaeast"),
                        "message {i}"
                    );
                }
                Want::Soa => {
                    assert_eq!(rcode, ResponseCode::NoError, "message {i}");
                    assert_eq!(m.answers[0].record_type(), RecordType::SOA, "message {i}");
                }
                Want::Regional => {
                    assert_eq!(rcode, ResponseCode::NoError, "message {i}");
                    assert_eq!(m.answers.len(), 1, "message {i}: {m}");
                    assert_eq!(m.answers[0].record_type(), RecordType::A, "message {i}");
                }
                Want::NxDomain => {
                    assert_eq!(rcode, ResponseCode::NXDomain, "message {i}");
                    assert_eq!(
                        m.authorities[0].record_type(),
                        RecordType::SOA,
                        "message {i}"
                    );
                }
                Want::Refused => assert_eq!(rcode, ResponseCode::Refused, "message {i}"),
                Want::FormErr => assert_eq!(rcode, ResponseCode::FormErr, "message {i}"),
                Want::Dropped => unreachable!(),
            }
            answered += 1;
        }
        if matches!(plan[end - 1], Want::Dropped) {
            assert!(
                matches!(tcp_next(&mut c), Got::Closed),
                "message {}: the connection stays open after a dropped message",
                end - 1
            );
        }
        at = end;
    }
    assert_eq!(answered, plan.len() - dropped);
}
