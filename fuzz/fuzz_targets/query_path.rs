//! Fuzz target `query_path`: bytes in → `georoute::dns::handle` with the shipped example
//! configuration → response bytes out, checked against invariants that must always hold.
//!
//! Input layout: 4 control bytes, then the DNS message.
//!
//! - byte 0: bits 0-1 the source address (127.0.0.1, 10.1.2.3 inside the view
//!   `aks-eastus-vnet`, 192.0.2.1 (demo GeoIP: Sydney), 2001:db8::1); bit 2 TCP (else UDP);
//!   bit 3 the source as an IPv4-mapped IPv6 address.
//! - byte 1: health; bits 0-5 mark replicas 0-5 of `myregistry` unhealthy, bit 6 marks the
//!   region eastus down, bit 7 westeurope.
//! - bytes 2-3: the time, `BASE_TIME` + this many seconds (server cookies made at
//!   `BASE_TIME` are valid for the first hour).
//!
//! See fuzz/README.md for what is checked and how to run it.
#![no_main]

use georoute::dns::cookie::Secrets;
use georoute::dns::{Handled, Request, Transport, handle, wire};
use georoute::health::HealthState;
use georoute::state::Snapshot;
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

/// The time of byte offset 0 (2023-11-14T22:13:20Z); seeds' server cookies carry it.
const BASE_TIME: u32 = 1_700_000_000;
/// The cookie secret the seeds' server cookies were made with (`make_seeds.py`).
const SECRET: [u8; 16] = *b"georoute-fuzzing";
/// A previous secret, so the rotation path runs too.
const PREVIOUS: [u8; 16] = *b"previous-secret!";

const SOURCES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];

struct World {
    snap: Snapshot,
    /// One health table per value of control byte 1.
    health: Vec<HealthState>,
    secrets: Secrets,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let snap = georoute::load_snapshot(dir, 1).expect("the shipped example loads");
        let config = &snap.config;
        let replicas = config.zones[0].registries[0].replicas.len();
        let region = |name: &str| {
            config
                .regions
                .regions
                .iter()
                .position(|r| r.name == name)
                .expect("region in the catalogue")
        };
        let (eastus, westeurope) = (region("eastus"), region("westeurope"));
        let health = (0..=255u32)
            .map(|mask| {
                let unhealthy = (0..replicas.min(6))
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| (0, 0, i));
                let down = [(0x40, eastus), (0x80, westeurope)]
                    .into_iter()
                    .filter(|(bit, _)| mask & bit != 0)
                    .map(|(_, r)| r);
                HealthState::from_config(config)
                    .with_unhealthy(unhealthy)
                    .with_regions_down(down)
            })
            .collect();
        World {
            snap,
            health,
            secrets: Secrets {
                current: SECRET,
                previous: Some(PREVIOUS),
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let w = world();
    let mut source = SOURCES[(data[0] & 3) as usize];
    if data[0] & 8 != 0
        && let IpAddr::V4(a) = source
    {
        source = IpAddr::V6(a.to_ipv6_mapped());
    }
    let transport = if data[0] & 4 != 0 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let health = &w.health[data[1] as usize];
    let now = BASE_TIME + u32::from(u16::from_be_bytes([data[2], data[3]]));
    let packet = &data[4..];
    let request = Request {
        packet,
        source,
        transport,
        now_ms: u64::from(now) * 1000,
    };
    let mut out = Vec::new();
    let handled = handle(&w.snap, health, &w.secrets, &request, &mut out);

    // Deterministic, and independent of what the output buffer held before.
    let mut again = vec![0xA5; 700];
    let handled_again = handle(&w.snap, health, &w.secrets, &request, &mut again);
    assert_eq!(handled, handled_again, "same query, another outcome");
    if matches!(handled, Handled::Answered { .. }) {
        assert_eq!(
            out, again,
            "same query, other bytes (a dirty buffer leaked?)"
        );
    }

    if debug() {
        eprintln!("source {source}, {transport:?}, now {now}: {handled:?}");
        match Message::from_vec(&out) {
            Ok(m) => eprintln!("{m}"),
            Err(e) => eprintln!("response does not decode: {e}"),
        }
    }
    check(packet, transport, handled, &out);
});

/// The Client Subnet option of an OPT record.
fn subnet(e: &hickory_proto::op::Edns) -> Option<hickory_proto::rr::rdata::opt::ClientSubnet> {
    e.options().as_ref().iter().find_map(|(_, o)| match o {
        EdnsOption::Subnet(cs) => Some(cs.clone()),
        _ => None,
    })
}

/// `QUERY_PATH_DEBUG=1`: print each outcome and response (for reading one input's result).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("QUERY_PATH_DEBUG").is_some())
}

/// What an independent, lenient reading of the query finds.
#[derive(Debug, Default)]
struct Scan {
    /// The question section (name, type, class), when readable as the server must read it:
    /// plain labels of 1-63 bytes, at most 255 bytes of name.
    question: Option<(usize, usize)>,
    /// The first OPT record's UDP payload size, when one was found.
    udp_size: Option<u16>,
}

fn scan(p: &[u8]) -> Scan {
    let mut s = Scan::default();
    if p.len() < 12 || u16::from_be_bytes([p[4], p[5]]) != 1 {
        return s;
    }
    let mut pos = 12;
    // The question name: no compression pointers (RFC 1035 does not forbid them, but nothing
    // points backwards from offset 12 and the server refuses them).
    loop {
        let Some(&len) = p.get(pos) else { return s };
        match len {
            0 => {
                pos += 1;
                break;
            }
            1..=63 => pos += 1 + len as usize,
            _ => return s,
        }
        if pos - 12 > 255 {
            return s;
        }
    }
    if pos - 12 > 255 || pos + 4 > p.len() {
        return s;
    }
    pos += 4;
    s.question = Some((12, pos));
    let count = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]) as usize;
    let records = count(6) + count(8);
    let additional = count(10);
    for i in 0..records + additional {
        // A name that may end in a pointer.
        let name_start = pos;
        loop {
            let Some(&len) = p.get(pos) else { return s };
            match len {
                0 => {
                    pos += 1;
                    break;
                }
                1..=63 => pos += 1 + len as usize,
                0xC0..=0xFF => {
                    pos += 2;
                    break;
                }
                _ => return s,
            }
        }
        let owner_is_root = pos == name_start + 1;
        let Some(head) = p.get(pos..pos + 10) else {
            return s;
        };
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let class = u16::from_be_bytes([head[2], head[3]]);
        let rdlen = u16::from_be_bytes([head[8], head[9]]) as usize;
        if i >= records && rtype == 41 && owner_is_root && s.udp_size.is_none() {
            s.udp_size = Some(class);
        }
        pos += 10 + rdlen;
        if pos > p.len() {
            return s;
        }
    }
    s
}

fn check(packet: &[u8], transport: Transport, handled: Handled, out: &[u8]) {
    let droppable = packet.len() < 12 || packet[2] & 0x80 != 0;
    let Handled::Answered {
        rcode,
        truncated,
        question_len,
        opt_at,
        ..
    } = handled
    else {
        assert!(
            droppable,
            "dropped a query with a readable header ({} bytes)",
            packet.len()
        );
        return;
    };
    assert!(!droppable, "answered a packet that is no query: {out:02x?}");
    assert!(out.len() >= 12, "response shorter than a header");
    assert!(
        out.len() <= 65535,
        "response of {} bytes cannot be framed on TCP",
        out.len()
    );

    let msg = match Message::from_vec(out) {
        Ok(m) => m,
        Err(e) => panic!("response does not decode: {e}; query {packet:02x?}; response {out:02x?}"),
    };
    let qid = u16::from_be_bytes([packet[0], packet[1]]);
    assert_eq!(msg.metadata.id, qid, "response ID");
    assert_eq!(
        msg.metadata.message_type,
        MessageType::Response,
        "QR not set"
    );
    assert_eq!(out[2] & 0x78, packet[2] & 0x78, "OPCODE not echoed");
    assert_eq!(out[2] & 0x01, packet[2] & 0x01, "RD not echoed");
    assert_eq!(out[3] & 0x10, packet[3] & 0x10, "CD not echoed");
    assert_eq!(
        msg.metadata.truncation, truncated,
        "TC bit vs Handled::truncated"
    );
    if transport == Transport::Tcp {
        assert!(!truncated, "a TCP response was truncated");
    }

    // RCODE: the header's 4 bits plus OPT's 8 high bits, exactly what the handler reported.
    match &msg.edns {
        Some(_) => assert_eq!(u16::from(msg.metadata.response_code), rcode, "RCODE"),
        None => {
            assert!(rcode <= 15, "extended RCODE {rcode} without an OPT record");
            assert_eq!(u16::from(out[3] & 0x0F), rcode, "RCODE");
        }
    }

    // The question: echoed verbatim when the query had one readable question.
    let s = scan(packet);
    let qd = u16::from_be_bytes([out[4], out[5]]);
    assert!(qd <= 1, "response has {qd} questions");
    let opcode_query = packet[2] & 0x78 == 0;
    match s.question {
        Some((start, end)) if opcode_query => {
            assert_eq!(qd, 1, "a readable question was not echoed");
            assert_eq!(
                out.get(12..12 + end - start),
                Some(&packet[start..end]),
                "question not echoed verbatim"
            );
            assert_eq!(question_len as usize, end - start, "Handled::question_len");
        }
        _ => {
            if qd == 1 {
                // Only a query whose question the server could read has one echoed.
                let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
                panic!(
                    "question echoed for an unreadable one (QDCOUNT {qdcount}, opcode query {opcode_query})"
                );
            }
            assert_eq!(question_len, 0, "Handled::question_len without a question");
        }
    }
    if qd == 0 {
        assert!(
            msg.answers.is_empty() && msg.authorities.is_empty(),
            "records without a question"
        );
    }

    // Size: UDP never over 1232 nor over what the client advertised (512 without EDNS). A
    // response of header, question and OPT is at most 12 + 259 + 11 + 28 + 24 bytes, so the
    // bound holds for those too.
    if transport == Transport::Udp {
        let limit = s.udp_size.map_or(512, |u| u.clamp(512, 1232)) as usize;
        assert!(
            out.len() <= limit,
            "UDP response of {} bytes over the limit {limit}",
            out.len()
        );
    }

    // OPT: where the handler says it is (RRL slip and truncation cut around it).
    if opt_at != 0 {
        let at = opt_at as usize;
        assert_eq!(
            out.get(at..at + 3),
            Some(&[0, 0, 41][..]),
            "Handled::opt_at does not point at the OPT record"
        );
        assert!(msg.edns.is_some(), "opt_at set but no OPT decoded");
    } else {
        assert!(
            msg.edns.is_none() || truncated,
            "OPT record present but opt_at is 0"
        );
    }
    let answered_normally = !matches!(rcode, 1 | 4); // FORMERR and NOTIMP come from the parser
    if answered_normally {
        assert_eq!(
            msg.edns.is_some(),
            s.udp_size.is_some(),
            "OPT in the response iff in the query (RFC 6891 section 6.1.1)"
        );
    }
    if let Some(e) = &msg.edns {
        assert!(e.version() == 0, "response EDNS version {}", e.version());
        assert!(
            e.max_payload() <= 1232,
            "advertised payload {}",
            e.max_payload()
        );
        for (code, option) in e.options().as_ref() {
            match option {
                EdnsOption::Subnet(cs) => assert!(
                    cs.scope_prefix() <= cs.source_prefix(),
                    "ECS scope {} longer than source {}",
                    cs.scope_prefix(),
                    cs.source_prefix()
                ),
                EdnsOption::Unknown(10, bytes) => {
                    assert_eq!(bytes.len(), 24, "our COOKIE is client (8) + server (16)")
                }
                _ => assert!(
                    matches!(code, EdnsCode::Subnet | EdnsCode::Cookie),
                    "unexpected EDNS option {code:?}"
                ),
            }
        }
    }

    // Authority: AA exactly on the answers from the zone data (NOERROR, NXDOMAIN); never on
    // REFUSED, FORMERR, NOTIMP or BADVERS.
    assert_eq!(
        msg.metadata.authoritative,
        matches!(rcode, 0 | 3),
        "AA flag with RCODE {rcode}"
    );

    // ECS (RFC 7871 section 7.2.1): an answer from the zone echoes the query's FAMILY, SOURCE
    // PREFIX-LENGTH and ADDRESS (the example has `ecs: true`). The query is read by hickory.
    if matches!(rcode, 0 | 3)
        && let Some(asked) = Message::from_vec(packet)
            .ok()
            .and_then(|q| q.edns)
            .and_then(|e| subnet(&e))
    {
        let echoed = msg.edns.as_ref().and_then(subnet);
        assert!(
            echoed.is_some_and(
                |e| e.addr() == asked.addr() && e.source_prefix() == asked.source_prefix()
            ),
            "ECS {asked:?} echoed as {echoed:?}"
        );
    }

    // Content: the answer chain starts at the question name and follows CNAMEs only; negative
    // answers carry the SOA.
    if let Some(q) = msg.queries.first()
        && !truncated
    {
        let mut owners = vec![q.name().clone()];
        for r in &msg.answers {
            assert!(
                owners.iter().any(|o| *o == r.name),
                "answer owner {} outside the chain from {}",
                r.name,
                q.name()
            );
            if let hickory_proto::rr::RData::CNAME(c) = &r.data {
                owners.push(c.0.clone());
            }
        }
        if (rcode == 3 || (rcode == 0 && msg.answers.is_empty())) && u16::from(q.query_class()) == 1
        {
            let soas = msg
                .authorities
                .iter()
                .filter(|r| r.record_type() == RecordType::SOA)
                .count();
            assert_eq!(
                soas, 1,
                "negative answer without exactly one SOA in authority"
            );
        }
    }

    // What RRL's slip and UDP truncation make of this response: header, question, OPT, TC.
    if transport == Transport::Udp {
        let mut cut = out.to_vec();
        wire::truncate(&mut cut, question_len as usize, opt_at as usize);
        let m = match Message::from_vec(&cut) {
            Ok(m) => m,
            Err(e) => panic!("truncated response does not decode: {e}; {cut:02x?}"),
        };
        assert_eq!(m.metadata.id, qid, "truncated response ID");
        assert!(m.metadata.truncation, "truncated response without TC");
        assert_eq!(
            m.queries.len(),
            qd as usize,
            "truncated response lost its question"
        );
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
        // RFC 6891 section 6.1.1: an OPT in the query means one in every response to it.
        assert_eq!(
            m.edns.is_some(),
            msg.edns.is_some(),
            "cutting the response (RRL slip) lost or invented its OPT record"
        );
    }
}
