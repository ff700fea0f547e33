//! One datagram through the UDP path: the handler (or a kept equal answer), the counters, then
//! response rate limiting. Shared by both receive loops (`recvmmsg` batches and one at a time).

use crate::dns::handler::{Handled, Request, Transport};
use crate::dns::reuse::Reuse;
use crate::dns::{cookie, rrl, wire};
use crate::state::{Serving, Shared};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A receive error that only means "nothing yet" (the timeout that lets the thread notice
/// shutdown, or a signal).
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// What one UDP thread keeps for itself: rate limiting's local state and recent responses.
#[derive(Default)]
pub(super) struct Local {
    rrl: rrl::Local,
    reuse: Reuse,
}

/// Answers one datagram into `out`: the handler (or a recent equal answer), the counters, then
/// rate limiting. False when nothing is to be sent (dropped, or limited without slip).
pub(super) fn answer(
    shared: &Shared,
    serving: &Serving,
    packet: &[u8],
    peer: SocketAddr,
    now: Duration,
    local: &mut Local,
    out: &mut Vec<u8>,
) -> bool {
    let snapshot = &serving.snapshot;
    let request = Request {
        packet,
        source: peer.ip(),
        transport: Transport::Udp,
        now_ms: now.as_millis() as u64,
    };
    let handled = local
        .reuse
        .answer(serving, &snapshot.cookies, &request, out);
    shared.after_query(snapshot, &handled, packet, peer.ip());
    let Handled::Answered {
        rcode,
        about,
        question_len,
        opt_at,
        ..
    } = handled
    else {
        return false;
    };
    // A client that proved its address with a valid server cookie is not limited.
    if about.cookie == cookie::Check::Valid {
        return true;
    }
    let qname = packet
        .get(12..(12 + question_len as usize).saturating_sub(4))
        .unwrap_or_default();
    let verdict = shared.rrl.check(
        &snapshot.config.server.rate_limit,
        peer.ip().to_canonical(),
        rrl::Answer {
            qname,
            rcode,
            about: &about,
        },
        now.as_micros() as u64,
        &mut local.rrl,
    );
    match verdict {
        rrl::Verdict::Send => true,
        rrl::Verdict::Drop => {
            shared.metrics.rate_limited(false);
            false
        }
        rrl::Verdict::Slip => {
            shared.metrics.rate_limited(true);
            wire::truncate(out, question_len as usize, opt_at as usize);
            true
        }
    }
}
