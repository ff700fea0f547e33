//! Stable hashing for weighted rendezvous (highest random weight) selection.
//!
//! Fixed functions (FNV-1a and the SplitMix64 finalizer), never a per-process seed, so that every
//! server instance and every restart map a client subnet to the same replica.

use std::net::IpAddr;

/// SplitMix64's finalizer: a bijective mix of 64 bits.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over bytes, then mixed.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// The per-replica seed: a hash of its region name.
pub fn replica_seed(region: &str) -> u64 {
    hash_bytes(region.as_bytes())
}

/// The hashing key of a client: its address cut to the hashing prefix, combined with the
/// registry's seed (a hash of the registry name) so that registries spread independently.
pub fn subnet_key(addr: IpAddr, v4_prefix: u8, v6_prefix: u8, registry_seed: u64) -> u64 {
    let (hi, lo) = match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let masked = if v4_prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - v4_prefix.min(32)))
            };
            (4u64, u64::from(masked))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let masked = if v6_prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - v6_prefix.min(128)))
            };
            ((masked >> 64) as u64 ^ 6, masked as u64)
        }
    };
    mix64(mix64(hi ^ registry_seed) ^ lo)
}

/// Picks from `candidates` (at least one) by weighted rendezvous hashing: each candidate scores
/// `weight / -ln(u)` with `u` uniform in (0, 1) drawn from `key` and the candidate's seed; the
/// highest score wins. A candidate's share of keys is proportional to its weight.
pub fn rendezvous(candidates: &[u8], key: u64, weight_seed: impl Fn(usize) -> (u32, u64)) -> usize {
    let mut best = candidates[0] as usize;
    let mut best_score = f64::NEG_INFINITY;
    for &c in candidates {
        let c = c as usize;
        let (weight, seed) = weight_seed(c);
        let h = mix64(key ^ seed);
        // 53 random bits into (0, 1): never 0, never 1.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = f64::from(weight) / -u.ln();
        if score > best_score {
            best_score = score;
            best = c;
        }
    }
    best
}
