//! Per-thread reuse of whole UDP responses: a query whose bytes (all but its ID), source
//! address and serving state equal a recent one's gets that response again under its own ID,
//! without running the handler.
//!
//! The handler is a pure function of (serving state, packet, source, transport, time); the
//! time only matters for a COOKIE (the server cookie carries it) and for a failback ramp in
//! progress (its share grows), so responses that involved either are never kept; a signed
//! response is kept until its signatures are due to be made again. The serving
//! state is named by its unique id, so a reload or a health change (a new state) never meets
//! an old response. Each UDP thread has its own slots: no lock, no shared cache line.

use super::cookie;
use super::handler::{Handled, Request, Transport, handle};
use crate::route::Ramp;
use crate::state::Serving;
use std::net::IpAddr;

/// Slots per thread (direct-mapped).
const SLOTS: usize = 1024;
/// Longest query kept (a question with EDNS options fits easily).
const MAX_QUERY: usize = 256;

struct Slot {
    serving: u64,
    source: IpAddr,
    /// The query without its ID.
    query: Vec<u8>,
    response: Vec<u8>,
    handled: Handled,
    /// Unix ms after which it is not served (a signed response's signature refresh).
    until_ms: u64,
}

/// One thread's recent responses.
#[derive(Default)]
pub struct Reuse {
    slots: Vec<Option<Slot>>,
    /// Answers given from a slot, and by the handler (for tests and benchmarks).
    pub hits: u64,
    /// Answers the handler wrote.
    pub misses: u64,
}

/// A fast hash of the key parts, eight bytes at a time (the cache is per thread and holds
/// only our own answers, so a client that aims for collisions only evicts its own slots).
fn slot_of(serving: u64, source: IpAddr, query: &[u8]) -> usize {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let step = |h: u64, v: u64| {
        let h = (h ^ v).wrapping_mul(K);
        h ^ (h >> 29)
    };
    let source = match source {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64).rotate_left(17)
        }
    };
    let mut h = step(step(serving, source), query.len() as u64);
    let mut chunks = query.chunks_exact(8);
    for c in &mut chunks {
        h = step(h, u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = step(h, u64::from_le_bytes(tail));
    (crate::hash::mix64(h) % SLOTS as u64) as usize
}

impl Reuse {
    /// Answers `request` (UDP) into `out` like [`handle`], from a slot when it can.
    pub fn answer(
        &mut self,
        serving: &Serving,
        secrets: &cookie::Secrets,
        request: &Request<'_>,
        out: &mut Vec<u8>,
    ) -> Handled {
        let packet = request.packet;
        let keyed = request.transport == Transport::Udp && (12..=MAX_QUERY).contains(&packet.len());
        if !keyed {
            return handle(&serving.snapshot, &serving.health, secrets, request, out);
        }
        let query = &packet[2..];
        let at = slot_of(serving.id, request.source, query);
        if let Some(Some(s)) = self.slots.get(at)
            && s.serving == serving.id
            && s.source == request.source
            && s.query == query
            && request.now_ms < s.until_ms
        {
            out.clear();
            out.extend_from_slice(&s.response);
            out[..2].copy_from_slice(&packet[..2]);
            self.hits += 1;
            return s.handled;
        }
        self.misses += 1;
        let handled = handle(&serving.snapshot, &serving.health, secrets, request, out);
        let (timeless, until_ms) = match handled {
            Handled::Answered { about, .. } => (
                about.cookie == cookie::Check::Absent && about.ramp == Ramp::None,
                match about.refresh_at {
                    0 => u64::MAX,
                    at => at.saturating_mul(1000),
                },
            ),
            Handled::Dropped => (false, 0),
        };
        if timeless {
            if self.slots.is_empty() {
                self.slots.resize_with(SLOTS, || None);
            }
            match &mut self.slots[at] {
                Some(s) => {
                    // Reuse the slot's buffers: no allocation once warm.
                    s.serving = serving.id;
                    s.source = request.source;
                    s.query.clear();
                    s.query.extend_from_slice(query);
                    s.response.clear();
                    s.response.extend_from_slice(out);
                    s.handled = handled;
                    s.until_ms = until_ms;
                }
                empty => {
                    *empty = Some(Slot {
                        serving: serving.id,
                        source: request.source,
                        query: query.to_vec(),
                        response: out.clone(),
                        handled,
                        until_ms,
                    })
                }
            }
        }
        handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{ClientSubnet, build_query};
    use crate::health::HealthState;
    use std::sync::Arc;

    fn serving() -> Serving {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let snap = crate::load_snapshot(root, 1).expect("the example loads");
        let health = HealthState::from_config(&snap.config);
        Serving::new(Arc::new(snap), Arc::new(health))
    }

    const SECRETS: cookie::Secrets = cookie::Secrets {
        current: [3; 16],
        previous: None,
    };

    fn request(packet: &[u8], source: &str) -> Request<'static> {
        Request {
            packet: packet.to_vec().leak(),
            source: source.parse().unwrap(),
            transport: Transport::Udp,
            now_ms: 1_700_000_000_000,
        }
    }

    /// Queries of every kind, some with ECS, one with a COOKIE, one malformed.
    fn queries() -> Vec<Vec<u8>> {
        let ecs = |a: [u8; 4], p| {
            Some(ClientSubnet {
                address: IpAddr::from(a),
                source_prefix: p,
            })
        };
        let mut qs = vec![
            build_query("myregistry.azurecr.io", 1, ecs([192, 0, 2, 0], 24)),
            build_query("myregistry.azurecr.io", 1, ecs([81, 2, 69, 0], 24)),
            build_query("MyRegistry.AzureCR.io", 28, None),
            build_query("myregistry.eastus.geo.azurecr.io", 1, None),
            build_query("nope.azurecr.io", 1, None),
            build_query("azurecr.io", 6, None),
            build_query("example.org", 1, None),
        ];
        let mut cookie = build_query("myregistry.azurecr.io", 1, None);
        // OPT RDLENGTH 0 → 12: one COOKIE option with an 8-byte client cookie.
        let n = cookie.len();
        cookie[n - 2..].copy_from_slice(&12u16.to_be_bytes());
        cookie.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        qs.push(cookie);
        qs.push(vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]);
        qs
    }

    #[test]
    fn reused_answers_equal_the_handlers_byte_for_byte() {
        let serving = serving();
        let mut reuse = Reuse::default();
        let (mut direct, mut reused) = (Vec::new(), Vec::new());
        for round in 0..3u16 {
            for (i, q) in queries().iter().enumerate() {
                let mut q = q.clone();
                q[..2].copy_from_slice(&(round * 100 + i as u16).to_be_bytes());
                for source in ["127.0.0.1", "198.51.100.7", "::1"] {
                    let r = request(&q, source);
                    let want = handle(
                        &serving.snapshot,
                        &serving.health,
                        &SECRETS,
                        &r,
                        &mut direct,
                    );
                    let got = reuse.answer(&serving, &SECRETS, &r, &mut reused);
                    assert_eq!(got, want, "query {i} from {source}, round {round}");
                    assert_eq!(reused, direct, "query {i} from {source}, round {round}");
                }
            }
        }
        // Rounds 2 and 3 of every keyable, timeless query were hits; the COOKIE query and the
        // malformed one (a FORMERR is timeless, so it is kept) went by their own rules.
        assert!(reuse.hits >= 2 * 3 * 7, "{} hits", reuse.hits);
    }

    #[test]
    fn cookies_other_sources_and_new_states_are_not_reused() {
        let serving = serving();
        let mut reuse = Reuse::default();
        let mut out = Vec::new();
        let qs = queries();
        let cookie = &qs[7];
        for _ in 0..3 {
            reuse.answer(&serving, &SECRETS, &request(cookie, "127.0.0.1"), &mut out);
        }
        assert_eq!(reuse.hits, 0, "a COOKIE answer carries the time");
        let global = &qs[0];
        reuse.answer(&serving, &SECRETS, &request(global, "127.0.0.1"), &mut out);
        reuse.answer(&serving, &SECRETS, &request(global, "127.0.0.2"), &mut out);
        assert_eq!(reuse.hits, 0, "another source");
        reuse.answer(&serving, &SECRETS, &request(global, "127.0.0.1"), &mut out);
        assert_eq!(reuse.hits, 1);
        // The same configuration with new health is a new state: never an old answer.
        let next = Serving::new(
            serving.snapshot.clone(),
            Arc::new(
                HealthState::from_config(&serving.snapshot.config).with_unhealthy([(0, 0, 5)]),
            ),
        );
        let before = reuse.misses;
        reuse.answer(&next, &SECRETS, &request(global, "127.0.0.1"), &mut out);
        assert_eq!(reuse.misses, before + 1);
        let mut direct = Vec::new();
        handle(
            &next.snapshot,
            &next.health,
            &SECRETS,
            &request(global, "127.0.0.1"),
            &mut direct,
        );
        assert_eq!(out, direct);
    }
}
