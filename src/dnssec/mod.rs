//! DNSSEC online signing: a zone's key (`key.rs`) and the signer that adds
//! RRSIGs and compact denial to answers for queries with DO (`sign.rs`).
//!
//! The answer of the global name depends on the client and on health, so nothing is signed
//! ahead of time: each RRset is signed when it is first answered and its signature is kept (by the
//! process, read without a lock) until half its validity has passed.

mod cache;
pub mod key;
mod records;
pub mod sign;
pub mod warm;

pub use key::ZoneKey;

/// Types that exist at a name, for the NSEC bitmap of a NODATA answer.
pub mod types {
    /// A records.
    pub const A: u8 = 1;
    /// AAAA records.
    pub const AAAA: u8 = 2;
    /// An alias.
    pub const CNAME: u8 = 4;
    /// NS records (the apex).
    pub const NS: u8 = 8;
    /// The SOA (the apex).
    pub const SOA: u8 = 16;
    /// The zone's key (the apex of a signed zone).
    pub const DNSKEY: u8 = 32;
}

/// A signed zone's signing state.
#[derive(Debug)]
pub struct Signing {
    /// The key.
    pub key: ZoneKey,
    /// RRSIG expiration minus inception, seconds.
    pub validity_s: u32,
    /// The apex in canonical wire form (the signer's name).
    pub apex: Vec<u8>,
    /// Names this key and validity in the signature caches (equal keys share signatures).
    pub id: u64,
}

impl Signing {
    /// Signing state for the zone `apex` (text, lower case, no trailing dot).
    pub fn new(key: ZoneKey, validity_s: u32, apex: &str) -> Self {
        let wire = crate::dns::wire::to_wire(apex);
        let id = crate::hash::hash_bytes(&[&key.dnskey[..], &validity_s.to_be_bytes()].concat());
        Self {
            key,
            validity_s,
            apex: wire,
            id,
        }
    }

    /// The DS record for the parent zone.
    pub fn ds_text(&self, zone: &str) -> String {
        self.key.ds_text(zone, &self.apex)
    }
}
