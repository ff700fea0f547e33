//! Response rate limiting (RRL, in the spirit of BIND's and Knot's) for UDP: a token bucket per
//! client network and response, and a wider one per client network in all.
//!
//! The buckets live in one fixed table of atomics shared by the UDP threads (no lock, no
//! allocation per query): each slot holds a 16-bit tag of its key and the bucket's theoretical
//! arrival time (GCRA, the token bucket written as one timestamp). A key is hashed with a
//! per-process random key (SipHash-1-3), so nobody can aim collisions at a victim's slot; a
//! collision only resets a bucket, which answers more, never less.
//!
//! What a "response" is, for the per-response bucket: the name, type and ECS subnet of a
//! positive answer or NODATA (a resolver forwarding ECS for thousands of client subnets is a
//! normal client: each subnet is its own response); the zone and ECS subnet of an NXDOMAIN (so
//! random names do not escape); the RCODE of an error. The per-network bucket bounds everything
//! a network gets, so varying ECS or names does not escape the limit altogether.

use super::outcome::About;
use super::wire::rcode;
use crate::config::server::RateLimit;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Slots in the table (8 bytes each: 1 MiB).
const SLOTS: usize = 1 << 17;
const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Limited: send nothing.
    Drop,
    /// Limited, but send it truncated (TC) so a real client retries over TCP.
    Slip,
}

/// The shared bucket table.
pub struct RateLimiter {
    slots: Box<[AtomicU64]>,
    keys: std::hash::RandomState,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            keys: std::hash::RandomState::new(),
        }
    }
}

/// The response being decided about.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The question name as received.
    pub qname: &'a [u8],
    /// Its RCODE.
    pub rcode: u16,
    /// What was asked and answered.
    pub about: &'a About,
}

/// Per-thread state: counts limited responses to pick every `slip`-th.
#[derive(Debug, Default)]
pub struct Local {
    limited: u64,
}

impl RateLimiter {
    /// Decides about one UDP response to `source`; `now_us` is microseconds of wall-clock time.
    pub fn check(
        &self,
        settings: &RateLimit,
        source: IpAddr,
        answer: Answer<'_>,
        now_us: u64,
        local: &mut Local,
    ) -> Verdict {
        if !settings.enabled() || settings.exempt.iter().any(|n| n.contains(&source)) {
            return Verdict::Send;
        }
        let network = network_of(source, settings);
        let key = self.response_key(network, answer.qname, answer.rcode, answer.about);
        let mut limited = !self.take(key, settings.responses_per_second, now_us);
        if !limited && settings.source_responses_per_second > 0 {
            let key = self.keys.hash_one((0xFFu8, network));
            limited = !self.take(key, settings.source_responses_per_second, now_us);
        }
        if !limited {
            return Verdict::Send;
        }
        local.limited += 1;
        if settings.slip > 0 && local.limited.is_multiple_of(u64::from(settings.slip)) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    fn response_key(&self, network: (IpAddr, u8), qname: &[u8], rcode: u16, about: &About) -> u64 {
        let ecs = about.ecs.map(|e| (e.address, e.source_prefix));
        match rcode {
            rcode::NOERROR => {
                let mut name = [0u8; 255];
                let n = qname.len().min(name.len());
                name[..n].copy_from_slice(&qname[..n]);
                name[..n].make_ascii_lowercase();
                self.keys
                    .hash_one((0u8, network, &name[..n], about.qtype, ecs))
            }
            rcode::NXDOMAIN => self.keys.hash_one((1u8, network, about.zone, ecs)),
            other => self.keys.hash_one((2u8, network, other)),
        }
    }

    /// Takes one token from the bucket of `key` (rate per second, burst one second's worth);
    /// false when it is empty.
    fn take(&self, key: u64, rate: u32, now_us: u64) -> bool {
        let slot = &self.slots[key as usize & (SLOTS - 1)];
        let tag = (key >> TIME_BITS) | 1;
        let now = now_us & TIME_MASK;
        let interval = 1_000_000 / u64::from(rate.max(1));
        let tolerance = interval * u64::from(rate.max(1) - 1);
        for _ in 0..8 {
            let current = slot.load(Relaxed);
            let mut tat = current & TIME_MASK;
            let ahead = signed(tat.wrapping_sub(now));
            // Another key's bucket, a bucket that has refilled, or one from a clock that jumped
            // back (a real bucket is never more than one burst ahead): start afresh.
            if current >> TIME_BITS != tag || ahead < 0 || ahead > (tolerance + interval) as i64 {
                tat = now;
            }
            if signed(tat.wrapping_sub(now)) > tolerance as i64 {
                return false;
            }
            let next = (tag << TIME_BITS) | ((tat + interval) & TIME_MASK);
            if slot
                .compare_exchange(current, next, Relaxed, Relaxed)
                .is_ok()
            {
                return true;
            }
        }
        // Contended beyond reason: answer rather than spin.
        true
    }
}

/// A 48-bit difference as a signed number.
fn signed(diff: u64) -> i64 {
    let d = diff & TIME_MASK;
    if d >> (TIME_BITS - 1) == 1 {
        d as i64 - (1i64 << TIME_BITS)
    } else {
        d as i64
    }
}

/// The client network of a source address (/24 and /56 by default).
fn network_of(source: IpAddr, settings: &RateLimit) -> (IpAddr, u8) {
    match source {
        IpAddr::V4(a) => {
            let p = settings.ipv4_prefix.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
            (IpAddr::V4((u32::from(a) & mask).into()), p)
        }
        IpAddr::V6(a) => {
            let p = settings.ipv6_prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
            (IpAddr::V6((u128::from(a) & mask).into()), p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rps: u32, slip: u32, source: u32) -> RateLimit {
        RateLimit {
            responses_per_second: rps,
            slip,
            source_responses_per_second: source,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: vec!["192.0.2.7/32".parse().unwrap()],
        }
    }

    fn about() -> About {
        About {
            qtype: Some(1),
            zone: Some(0),
            ..About::default()
        }
    }

    fn run(
        rl: &RateLimiter,
        s: &RateLimit,
        src: &str,
        name: &[u8],
        n: usize,
        t0: u64,
    ) -> Vec<Verdict> {
        let mut local = Local::default();
        (0..n)
            .map(|i| {
                rl.check(
                    s,
                    src.parse().unwrap(),
                    Answer {
                        qname: name,
                        rcode: 0,
                        about: &about(),
                    },
                    t0 + i as u64,
                    &mut local,
                )
            })
            .collect()
    }

    #[test]
    fn a_burst_then_the_rate_with_every_second_limited_response_slipped() {
        let rl = RateLimiter::default();
        let s = settings(20, 2, 0);
        let v = run(&rl, &s, "198.51.100.9", b"\x01a\x00", 30, 1_000_000);
        assert!(v[..20].iter().all(|v| *v == Verdict::Send));
        assert_eq!(
            v[20..],
            [
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip,
                Verdict::Drop,
                Verdict::Slip
            ]
        );
        // The same /24, another host: the same bucket. A second later: refilled by 20.
        assert_eq!(
            run(&rl, &s, "198.51.100.10", b"\x01a\x00", 1, 1_000_100)[0],
            Verdict::Drop
        );
        let later = run(&rl, &s, "198.51.100.10", b"\x01A\x00", 25, 2_000_100);
        assert_eq!(
            later.iter().filter(|v| **v == Verdict::Send).count(),
            20,
            "case-insensitive"
        );
        // Another name, another network, an exempt host: their own buckets or none.
        assert!(
            run(&rl, &s, "198.51.100.9", b"\x01b\x00", 20, 1_000_100)
                .iter()
                .all(|v| *v == Verdict::Send)
        );
        assert!(
            run(&rl, &s, "198.51.101.9", b"\x01a\x00", 20, 1_000_100)
                .iter()
                .all(|v| *v == Verdict::Send)
        );
        assert!(
            run(&rl, &s, "192.0.2.7", b"\x01a\x00", 100, 1_000_100)
                .iter()
                .all(|v| *v == Verdict::Send)
        );
    }

    #[test]
    fn slip_zero_drops_all_and_zero_rate_is_off() {
        let rl = RateLimiter::default();
        let v = run(
            &rl,
            &settings(5, 0, 0),
            "203.0.113.1",
            b"\x01a\x00",
            20,
            5_000_000,
        );
        assert!(v[5..].iter().all(|v| *v == Verdict::Drop));
        let v = run(
            &rl,
            &settings(0, 2, 5),
            "203.0.113.2",
            b"\x01a\x00",
            1000,
            5_000_000,
        );
        assert!(v.iter().all(|v| *v == Verdict::Send));
    }

    #[test]
    fn ecs_subnets_are_responses_of_their_own_but_the_network_total_is_bounded() {
        let s = settings(20, 2, 100);
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        let subnets: Vec<About> = (0..1000u32)
            .map(|i| {
                let mut a = about();
                a.ecs = Some(crate::dns::wire::ClientSubnet {
                    address: IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8))),
                    source_prefix: 24,
                });
                a
            })
            .collect();
        // A response bucket that shares the network bucket's slot resets it (answering more, by
        // design); with 1000 keys in 2^17 slots that happens in under 1% of random hash keys, so
        // take a limiter whose keys do not collide (the chance of 10 in a row is ~1e-21).
        let rl = (0..10)
            .map(|_| RateLimiter::default())
            .find(|rl| {
                let network = network_of(source, &s);
                let slot = |k: u64| k as usize & (SLOTS - 1);
                let total = slot(rl.keys.hash_one((0xFFu8, network)));
                subnets
                    .iter()
                    .all(|a| slot(rl.response_key(network, b"\x01a\x00", 0, a)) != total)
            })
            .expect("a hash key without collisions");
        let mut local = Local::default();
        let mut sent = 0;
        for (i, a) in subnets.iter().enumerate() {
            let answer = Answer {
                qname: b"\x01a\x00",
                rcode: 0,
                about: a,
            };
            let v = rl.check(&s, source, answer, 9_000_000 + i as u64, &mut local);
            sent += usize::from(v == Verdict::Send);
        }
        assert_eq!(
            sent, 100,
            "one answer per subnet until the network's total is reached"
        );
    }

    #[test]
    fn refills_at_the_rate() {
        let rl = RateLimiter::default();
        let s = settings(10, 0, 0);
        let mut local = Local::default();
        let src: IpAddr = "2001:db8::1".parse().unwrap();
        // 100 queries a second for 5 seconds: 10 burst + 10 a second after.
        let sent = (0..500u64)
            .filter(|i| {
                rl.check(
                    &s,
                    src,
                    Answer {
                        qname: b"\x01a\x00",
                        rcode: 0,
                        about: &about(),
                    },
                    50_000_000_000 + i * 10_000,
                    &mut local,
                ) == Verdict::Send
            })
            .count();
        assert!((55..=62).contains(&sent), "{sent}");
        // A clock that jumps back an hour does not leave the bucket empty for an hour.
        assert_eq!(
            rl.check(
                &s,
                src,
                Answer {
                    qname: b"\x01a\x00",
                    rcode: 0,
                    about: &about()
                },
                50_000_000_000 - 3_600_000_000,
                &mut local
            ),
            Verdict::Send
        );
    }
}
