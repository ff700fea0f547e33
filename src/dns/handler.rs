//! One query in, one response out: a plain synchronous function that every transport calls.
//!
//! It reads the snapshot and health it is given, allocates nothing but the output buffer's
//! growth, does no I/O and logs nothing per query.

use super::answer::{self, Outcome};
use super::global;
use super::wire::{self, Query, Reject, Response, parse_query, rcode};
use crate::health::HealthState;
use crate::state::Snapshot;
use crate::view::{self, ViewMatch};
use std::net::IpAddr;

/// UDP payload size this server advertises and never exceeds (DNS flag day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: responses are limited in size and truncated with TC.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// What happened to a query, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Nothing is sent (not a query, or too short to answer).
    Dropped,
    /// A response with this RCODE was written.
    Answered {
        /// RCODE (extended codes included).
        rcode: u16,
        /// True when the UDP response was truncated.
        truncated: bool,
        /// What was asked and answered, for the metrics.
        about: About,
    },
}

/// Labels of an answered query (indexes into the snapshot's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct About {
    /// QTYPE, when the question was readable.
    pub qtype: Option<u16>,
    /// The zone, when the name was in one.
    pub zone: Option<usize>,
    /// The view (index in the zone's views), when the client was in one.
    pub view: Option<usize>,
    /// The global name's choice: (registry, replica).
    pub chosen: Option<(usize, usize)>,
}

/// Answers one DNS message from `source`, writing the response into `out`.
pub fn handle(
    snap: &Snapshot,
    health: &HealthState,
    packet: &[u8],
    source: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Handled {
    let source = source.to_canonical();
    let query = match parse_query(packet) {
        Ok(q) => q,
        Err(Reject::Drop) => return Handled::Dropped,
        Err(Reject::Error {
            id,
            flags,
            rcode,
            question,
            edns,
        }) => {
            let mut r = Response::start(out, id, flags, false);
            if let Some(q) = question {
                r.question(q, q.len() - 4);
            }
            r.finish(rcode, edns.then_some((false, None)), MAX_UDP_PAYLOAD);
            return Handled::Answered {
                rcode,
                truncated: false,
                about: About::default(),
            };
        }
    };
    let limit = match (transport, query.edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, Some(e)) => e.udp_size.clamp(512, MAX_UDP_PAYLOAD) as usize,
        (Transport::Udp, None) => 512,
    };
    let (rcode, about) = respond(snap, health, &query, source, out);
    let truncated = out.len() > limit;
    if truncated {
        // Header, question and OPT only; the client retries over TCP.
        let mut r = Response::start(out, query.id, query.flags, true);
        r.question(query.question, query.qname.len());
        let edns = query.edns.map(|e| (e.dnssec_ok, None));
        r.finish(rcode, edns, MAX_UDP_PAYLOAD);
        wire::set_truncated(out);
    }
    Handled::Answered {
        rcode,
        truncated,
        about,
    }
}

fn respond(
    snap: &Snapshot,
    health: &HealthState,
    q: &Query<'_>,
    source: IpAddr,
    out: &mut Vec<u8>,
) -> (u16, About) {
    let mut about = About {
        qtype: Some(q.qtype),
        ..About::default()
    };
    let dnssec_ok = q.edns.is_some_and(|e| e.dnssec_ok);
    let ecs = q
        .edns
        .and_then(|e| e.client_subnet)
        .filter(|_| snap.config.geoip.ecs);
    let simple = |out: &mut Vec<u8>, rcode: u16, authoritative: bool| {
        let mut r = Response::start(out, q.id, q.flags, authoritative);
        r.question(q.question, q.qname.len());
        r.finish(rcode, q.edns.map(|_| (dnssec_ok, None)), MAX_UDP_PAYLOAD);
        (rcode, about)
    };
    if q.edns.is_some_and(|e| e.version > 0) {
        return simple(out, rcode::BADVERS, false);
    }
    if q.qclass != 1 {
        return simple(out, rcode::REFUSED, false);
    }
    let mut key = [0u8; 256];
    let key = &mut key[..q.qname.len()];
    key.copy_from_slice(q.qname);
    key.make_ascii_lowercase();

    let (zone_index, entry) = match snap.names.get(key) {
        Some(found) => (found.0, Some(found.1)),
        None => match snap.names.enclosing_zone(key) {
            Some(z) => (z, None),
            None => return simple(out, rcode::REFUSED, false),
        },
    };
    let zone = &snap.config.zones[zone_index];
    let view = view::select_view(zone, source, ecs.as_ref());
    about.zone = Some(zone_index);
    about.view = view.map(|m| m.index);
    // Inside a view chosen by the source address, ECS does not move the client.
    let client = match view {
        Some(ViewMatch { scope: 0, .. }) => source,
        _ => global::client_address(snap, source, ecs.as_ref()),
    };
    let mut r = Response::start(out, q.id, q.flags, true);
    r.question(q.question, q.qname.len());
    let ctx = answer::Context {
        snap,
        health,
        zone_index,
        qname: q.qname,
        qtype: q.qtype,
        view,
        client,
    };
    let outcome = match entry {
        Some(entry) => answer::write(&ctx, entry, &mut r),
        None => Outcome::negative(rcode::NXDOMAIN, 0),
    };
    if outcome.negative {
        answer::write_negative_soa(&ctx, &mut r);
    }
    let echo = ecs.map(|cs| (cs, outcome.scope.min(cs.source_prefix)));
    r.finish(
        outcome.rcode,
        q.edns.map(|_| (dnssec_ok, echo)),
        MAX_UDP_PAYLOAD,
    );
    about.chosen = outcome.chosen;
    (outcome.rcode, about)
}
