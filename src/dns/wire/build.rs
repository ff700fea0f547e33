//! Queries written from text, for `explain`, the DNSSEC warm-up, the benchmarks and tests (never
//! the query path).

use super::response::write_opt_rdata;
use super::{ClientSubnet, to_wire};

/// Builds a query for `name` (text) and `qtype` with an OPT record (payload 1232) and an
/// optional ECS option: for `explain` and the benchmarks.
pub fn build_query(name: &str, qtype: u16, ecs: Option<ClientSubnet>) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    p.extend_from_slice(&to_wire(name));
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
    write_opt_rdata(&mut p, ecs.map(|cs| (cs, 0)), None);
    p
}

/// [`build_query`] with the DNSSEC OK bit set (the warm-up, tests, benchmarks).
pub fn build_dnssec_query(name: &str, qtype: u16, ecs: Option<ClientSubnet>) -> Vec<u8> {
    let mut p = build_query(name, qtype, ecs);
    // The OPT record follows the question; its flags are the 8th byte on.
    let flags_at = 12 + to_wire(name).len() + 4 + 7;
    p[flags_at] |= 0x80;
    p
}
