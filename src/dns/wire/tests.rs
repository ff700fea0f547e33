//! Parser edge cases: every malformed input gets FORMERR or is dropped, never a panic.

use super::*;

fn query(name: &[u8], opt: Option<&[u8]>) -> Vec<u8> {
    let mut p = vec![
        0xAB,
        0xCD,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        opt.is_some() as u8,
    ];
    p.extend_from_slice(name);
    p.extend_from_slice(&[0, 1, 0, 1]);
    if let Some(rdata) = opt {
        p.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0]);
        p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        p.extend_from_slice(rdata);
    }
    p
}

const NAME: &[u8] = b"\x0amyregistry\x07azurecr\x02io\x00";

fn ecs(family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
    let mut o = vec![0, 8];
    o.extend_from_slice(&((4 + addr.len()) as u16).to_be_bytes());
    o.extend_from_slice(&family.to_be_bytes());
    o.extend_from_slice(&[source, 0]);
    o.extend_from_slice(addr);
    o
}

fn rcode_of(r: Result<Query<'_>, Reject<'_>>) -> Option<u16> {
    match r {
        Ok(_) => None,
        Err(Reject::Drop) => Some(999),
        Err(Reject::Error { rcode, .. }) => Some(rcode),
    }
}

#[test]
fn parses_a_plain_query_and_ecs() {
    let p = query(NAME, Some(&ecs(1, 24, &[198, 51, 100])));
    let q = parse_query(&p).unwrap();
    assert_eq!(q.qname, NAME);
    assert_eq!(q.qtype, rtype::A);
    let cs = q.edns.unwrap().client_subnet.unwrap();
    assert_eq!(cs.address, "198.51.100.0".parse::<IpAddr>().unwrap());
    assert_eq!(cs.source_prefix, 24);
    assert_eq!(q.edns.unwrap().udp_size, 4096);
}

#[test]
fn malformed_ecs_is_formerr() {
    for (what, opt) in [
        (
            "prefix longer than IPv4 allows",
            ecs(1, 33, &[1, 2, 3, 4, 5]),
        ),
        ("prefix longer than IPv6 allows", ecs(2, 129, &[0; 17])),
        ("bits set beyond the prefix", ecs(1, 20, &[198, 51, 100])),
        ("too many address octets", ecs(1, 16, &[198, 51, 100])),
        ("too few address octets", ecs(1, 24, &[198, 51])),
        ("unknown family", ecs(3, 8, &[1])),
        (
            "two ECS options",
            [ecs(1, 8, &[10]), ecs(1, 8, &[10])].concat(),
        ),
        (
            "option longer than the record",
            vec![0, 8, 0, 9, 0, 1, 8, 0, 10],
        ),
    ] {
        assert_eq!(
            rcode_of(parse_query(&query(NAME, Some(&opt)))),
            Some(rcode::FORMERR),
            "{what}"
        );
    }
}

#[test]
fn header_level_rejections() {
    assert_eq!(
        rcode_of(parse_query(&[0; 11])),
        Some(999),
        "short packets are dropped"
    );
    let mut response = query(NAME, None);
    response[2] |= 0x80;
    assert_eq!(
        rcode_of(parse_query(&response)),
        Some(999),
        "responses are dropped"
    );
    let mut notify = query(NAME, None);
    notify[2] |= 4 << 3;
    assert_eq!(rcode_of(parse_query(&notify)), Some(rcode::NOTIMP));
    let mut two = query(NAME, None);
    two[5] = 2;
    assert_eq!(rcode_of(parse_query(&two)), Some(rcode::FORMERR));
    let mut compressed = query(b"\xC0\x0C", None);
    compressed.truncate(12 + 2 + 4);
    assert_eq!(rcode_of(parse_query(&compressed)), Some(rcode::FORMERR));
    let long_label = [&[64u8][..], &[b'a'; 64], &[0]].concat();
    assert_eq!(
        rcode_of(parse_query(&query(&long_label, None))),
        Some(rcode::FORMERR)
    );
}

#[test]
fn every_truncation_of_a_query_is_handled() {
    let p = query(NAME, Some(&ecs(2, 56, &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0])));
    assert!(parse_query(&p).is_ok());
    for len in 0..p.len() {
        let r = parse_query(&p[..len]);
        assert!(r.is_err(), "prefix of {len} bytes parsed");
    }
}

#[test]
fn names_compress_against_the_question() {
    let mut buf = Vec::new();
    let mut r = Response::start(&mut buf, 1, 0, true);
    let question = [NAME, &[0, 1, 0, 1]].concat();
    r.question(&question, NAME.len());
    // An owner equal to the question name (any case) becomes a pointer to offset 12.
    r.address(
        b"\x0aMYREGISTRY\x07azurecr\x02io\x00",
        30,
        "192.0.2.1".parse().unwrap(),
    );
    r.finish(rcode::NOERROR, None, 1232);
    let answer = &buf[12 + question.len()..];
    assert_eq!(&answer[..2], &[0xC0, 12]);
    assert_eq!(answer.len(), 2 + 10 + 4);
}

#[test]
fn rd_and_cd_are_echoed_for_query_only() {
    // Opcode, RD, CD, and bits a response never echoes (TC, RA, AD, Z, AA).
    let every = 0x7800 | 0x0100 | 0x0010 | 0x0200 | 0x0080 | 0x0020 | 0x0040 | 0x0400;
    for (opcode, echoed) in [(0u16, 0x0110u16), (15, 0), (2, 0)] {
        let mut buf = Vec::new();
        let flags = (every & !0x7800) | (opcode << 11);
        Response::start(&mut buf, 1, flags, false).finish(rcode::NOTIMP, None, 1232);
        let got = u16::from_be_bytes([buf[2], buf[3]]);
        assert_eq!(
            got,
            0x8000 | (opcode << 11) | echoed | rcode::NOTIMP,
            "opcode {opcode}"
        );
    }
}
