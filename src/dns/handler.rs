//! One query in, one response out: a plain synchronous function that every transport calls.
//!
//! It reads the snapshot and health it is given, allocates nothing but the output buffer's
//! growth, does no I/O and logs nothing per query.

use super::answer::{self, Outcome};
use super::cookie;
use super::global;
pub use super::outcome::{About, Handled};
use super::wire::{self, OptOut, Query, Reject, Response, parse_query, rcode};
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

/// One message as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The message bytes.
    pub packet: &'a [u8],
    /// The packet's source address.
    pub source: IpAddr,
    /// How it came.
    pub transport: Transport,
    /// Milliseconds since the Unix epoch (server cookies' timestamps, the failback ramp).
    pub now_ms: u64,
}

/// Answers one DNS message, writing the response into `out`.
pub fn handle(
    snap: &Snapshot,
    health: &HealthState,
    secrets: &cookie::Secrets,
    request: &Request<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let source = request.source.to_canonical();
    let query = match parse_query(request.packet) {
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
            let opt_at = r.finish(rcode, edns.then(OptOut::default), MAX_UDP_PAYLOAD);
            return Handled::Answered {
                rcode,
                truncated: false,
                about: About::default(),
                question_len: question.map_or(0, |q| q.len() as u16),
                opt_at: opt_at as u16,
            };
        }
    };
    let limit = size_limit(request.transport, &query);
    let mut about = About {
        qtype: Some(query.qtype),
        ..About::default()
    };
    let mut opt = query.edns.map(|e| OptOut {
        dnssec_ok: e.dnssec_ok,
        ..OptOut::default()
    });
    if let (Some(o), Some(c)) = (opt.as_mut(), query.edns.and_then(|e| e.cookie)) {
        let (check, answer) = cookie::answer(secrets, &c, source, (request.now_ms / 1000) as u32);
        about.cookie = check;
        o.cookie = Some(answer);
    }
    let (rcode, opt_at) = respond(snap, health, &query, request, opt, &mut about, out);
    let question_len = query.question.len();
    let truncated = out.len() > limit;
    if truncated {
        // Header, question and OPT only; the client retries over TCP.
        wire::truncate(out, question_len, opt_at);
    }
    Handled::Answered {
        rcode,
        truncated,
        about,
        question_len: question_len as u16,
        // After truncation the OPT record follows the question directly.
        opt_at: match (truncated, opt_at) {
            (_, 0) => 0,
            (true, _) => (12 + question_len) as u16,
            (false, at) => at as u16,
        },
    }
}

/// The largest response the client takes.
fn size_limit(transport: Transport, query: &Query<'_>) -> usize {
    match (transport, query.edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, Some(e)) => e.udp_size.clamp(512, MAX_UDP_PAYLOAD) as usize,
        (Transport::Udp, None) => 512,
    }
}

/// Writes the response; returns its RCODE and where its OPT record starts.
fn respond(
    snap: &Snapshot,
    health: &HealthState,
    q: &Query<'_>,
    request: &Request<'_>,
    opt: Option<OptOut>,
    about: &mut About,
    out: &mut Vec<u8>,
) -> (u16, usize) {
    let (source, now_ms) = (request.source.to_canonical(), request.now_ms);
    let ecs = q
        .edns
        .and_then(|e| e.client_subnet)
        .filter(|_| snap.config.geoip.ecs);
    about.ecs = ecs;
    let simple = |out: &mut Vec<u8>, rcode: u16, authoritative: bool| {
        let mut r = Response::start(out, q.id, q.flags, authoritative);
        r.question(q.question, q.qname.len());
        (rcode, r.finish(rcode, opt, MAX_UDP_PAYLOAD))
    };
    if q.edns.is_some_and(|e| e.version > 0) {
        return simple(out, rcode::BADVERS, false);
    }
    if q.qtype == wire::rtype::NXNAME {
        // A meta-type, never a question (RFC 9824 section 3.5).
        return simple(out, rcode::FORMERR, false);
    }
    if q.qclass != 1 || matches!(q.qtype, wire::rtype::AXFR | wire::rtype::IXFR) {
        // A dynamic zone has no transfer to offer (and another class is not ours).
        return simple(out, rcode::REFUSED, false);
    }
    let mut key = [0u8; 256];
    let key = &mut key[..q.qname.len()];
    key.copy_from_slice(q.qname);
    key.make_ascii_lowercase();

    let (zone_index, entry) = match snap.names.get(&snap.config, key) {
        Some(found) => (found.0, Some(found.1)),
        None => match snap.names.enclosing_zone(key) {
            Some(z) => (z, None),
            None => return simple(out, rcode::REFUSED, false),
        },
    };
    let zone = &snap.config.zones[zone_index];
    let view = view::select_view(zone, &snap.zones[zone_index].views, source, ecs.as_ref());
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
        now_ms,
    };
    let outcome = match entry {
        Some(entry) => answer::write(&ctx, entry, &mut r),
        None => Outcome::negative(rcode::NXDOMAIN, 0),
    };
    if outcome.negative {
        answer::write_negative_soa(&ctx, &mut r);
    }
    let signing = snap.zones[zone_index]
        .signing
        .as_deref()
        .filter(|_| q.edns.is_some_and(|e| e.dnssec_ok));
    let compact_ok = signing.is_some() && q.edns.is_some_and(|e| e.compact_ok);
    let opt = opt.map(|o| OptOut {
        ecs: ecs.map(|cs| (cs, outcome.scope.min(cs.source_prefix))),
        compact_ok,
        ..o
    });
    about.chosen = outcome.chosen;
    about.chosen_region = outcome.chosen_region;
    about.suspect = outcome.suspect;
    about.ramp = outcome.ramp;
    let opt_at = r.finish(outcome.rcode, opt, MAX_UDP_PAYLOAD);
    if let Some(signing) = signing {
        let denial = outcome.negative.then_some(crate::dnssec::sign::Denial {
            nxdomain: outcome.rcode == rcode::NXDOMAIN,
            types: outcome.types,
        });
        let finished = crate::dnssec::sign::Finished {
            question_len: q.question.len(),
            opt_at,
            limit: size_limit(request.transport, q),
        };
        let now = now_ms / 1000;
        let signed = crate::dnssec::sign::sign(signing, out, finished, denial, compact_ok, now);
        if let Some(s) = signed {
            about.refresh_at = s.refresh_at;
            return (s.rcode, s.opt_at);
        }
    }
    (outcome.rcode, opt_at)
}
