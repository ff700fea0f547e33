//! Signs a finished response of a signed zone for a query with DO: every RRset of the answer,
//! authority and additional sections gets its RRSIG right after it, and a negative answer gets
//! its compact denial (RFC 9824): one NSEC at the name that has no data, next name
//! `\000.<name>`, the types that exist there (or NXNAME when it does not exist), signed.
//!
//! The response is read back (it is our own, well formed) and written again with the
//! signatures; names stay compressed except inside RRSIG and NSEC data (RFC 4034 3.1.7, 4.1.1).
//! Signatures come from a process-wide cache (`cache.rs`) keyed by the RRset's canonical form,
//! read without a lock: a steady answer is signed once per half validity period. A miss costs one signature
//! per RRset not yet signed, made by the thread that answers (no thread waits for another).

use super::Signing;
use super::cache::Entry;
use super::records::{Data, Rec, labels, lower, read_name, read_records};
use crate::dns::wire::{Response, rcode, rtype};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a negative answer denies.
#[derive(Debug, Clone, Copy)]
pub struct Denial {
    /// The name does not exist (NXDOMAIN): the bitmap is RRSIG, NSEC, NXNAME.
    pub nxdomain: bool,
    /// For NODATA: the types that exist at the name ([`super::types`] bits).
    pub types: u8,
}

/// What signing did.
#[derive(Debug, Clone, Copy)]
pub struct Signed {
    /// The RCODE on the wire (a compact NXDOMAIN is NOERROR unless the query said CO).
    pub rcode: u16,
    /// Where the OPT record starts (0: none).
    pub opt_at: usize,
    /// Unix time after which a signature in it should be made again (reuse must not outlive it).
    pub refresh_at: u64,
}

/// Signatures made so far by this process (the metrics and the tests read it).
static SIGNED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Signatures made so far by this process.
pub fn signatures_made() -> u64 {
    SIGNED.load(Relaxed)
}

/// The NSEC type bitmap (RFC 4034 4.1.2) of sorted, distinct types.
fn type_bitmap(types: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let lo = (types[i] & 0xFF) as usize;
            bits[lo / 8] |= 0x80 >> (lo % 8);
            len = lo / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    out
}

/// The compact NSEC of `owner`: next name `\000.<owner>` (lowercase), then the bitmap.
fn compact_nsec(owner: &[u8], denial: Denial) -> Vec<u8> {
    let mut types: Vec<u16> = Vec::with_capacity(8);
    if denial.nxdomain {
        types.extend([rtype::RRSIG, rtype::NSEC, rtype::NXNAME]);
    } else {
        use super::types as t;
        for (bit, ty) in [
            (t::A, rtype::A),
            (t::NS, rtype::NS),
            (t::CNAME, rtype::CNAME),
            (t::SOA, rtype::SOA),
            (t::AAAA, rtype::AAAA),
            (t::DNSKEY, rtype::DNSKEY),
        ] {
            if denial.types & bit != 0 {
                types.push(ty);
            }
        }
        types.extend([rtype::RRSIG, rtype::NSEC]);
        types.sort_unstable();
    }
    let mut data = vec![1, 0];
    data.extend(lower(owner));
    data.extend(type_bitmap(&types));
    data
}

/// The RRSIG RDATA of one RRset (`set`: records of one owner and type), from the cache or
/// signed now; and when it should be made again.
fn rrsig(signing: &Signing, set: &[&Rec], now: u64) -> (Vec<u8>, u64) {
    let caches = super::cache::caches();
    let table = if set[0].volatile {
        &caches.denials
    } else {
        &caches.stable
    };
    let first = set[0];
    let owner = lower(&first.owner);
    let mut datas: Vec<Vec<u8>> = set.iter().map(|r| r.data.canonical()).collect();
    datas.sort();
    datas.dedup();
    SCRATCH.with(|scratch| {
        let mut key = scratch.borrow_mut();
        key.clear();
        key.extend_from_slice(&signing.id.to_be_bytes());
        key.extend_from_slice(&first.rtype.to_be_bytes());
        key.extend_from_slice(&first.ttl.to_be_bytes());
        key.extend_from_slice(&owner);
        for d in &datas {
            key.extend_from_slice(&(d.len() as u16).to_be_bytes());
            key.extend_from_slice(d);
        }
        let hash = crate::hash::hash_bytes(&key);
        if let Some(found) = table.get(hash, &key, now) {
            return found;
        }
        // Inception an hour back (clock skew); made again after half the validity.
        let inception = now.saturating_sub(3600);
        let expiration = inception + u64::from(signing.validity_s);
        let refresh_at = inception + u64::from(signing.validity_s) / 2;
        let mut rdata = Vec::with_capacity(18 + signing.apex.len() + 64);
        rdata.extend_from_slice(&first.rtype.to_be_bytes());
        rdata.push(signing.key.algorithm);
        rdata.push(labels(&owner));
        rdata.extend_from_slice(&first.ttl.to_be_bytes());
        rdata.extend_from_slice(&(expiration as u32).to_be_bytes());
        rdata.extend_from_slice(&(inception as u32).to_be_bytes());
        rdata.extend_from_slice(&signing.key.key_tag.to_be_bytes());
        rdata.extend_from_slice(&signing.apex);
        let mut data = rdata.clone();
        for d in &datas {
            data.extend_from_slice(&owner);
            data.extend_from_slice(&first.rtype.to_be_bytes());
            data.extend_from_slice(&1u16.to_be_bytes());
            data.extend_from_slice(&first.ttl.to_be_bytes());
            data.extend_from_slice(&(d.len() as u16).to_be_bytes());
            data.extend_from_slice(d);
        }
        rdata.extend(signing.key.sign(&data));
        SIGNED.fetch_add(1, Relaxed);
        let entry = Entry {
            key: key.clone(),
            rrsig: rdata.clone(),
            refresh_at,
        };
        table.put(hash, entry, now);
        (rdata, refresh_at)
    })
}

/// The response being signed.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Length of its question section.
    pub question_len: usize,
    /// Where its OPT record starts (0: none).
    pub opt_at: usize,
    /// The most the client takes (UDP): when the signed response is larger, the additional
    /// section goes first (RFC 4035 3.1.1 lets a server drop it rather than truncate).
    pub limit: usize,
}

/// Signs one RRset ahead of need (the warm-up): `owner` in wire form, `datas` its records' data
/// (names uncompressed). Returns true when a signature was made (false: already cached).
pub fn presign(signing: &Signing, owner: &[u8], rtype: u16, ttl: u32, datas: &[&[u8]]) -> bool {
    let name_data = matches!(rtype, rtype::CNAME | rtype::NS);
    let recs: Vec<Rec> = datas
        .iter()
        .map(|d| Rec {
            section: 0,
            volatile: false,
            owner: owner.to_vec(),
            rtype,
            ttl,
            data: if name_data {
                Data::Name(d.to_vec())
            } else {
                Data::Raw(d.to_vec())
            },
        })
        .collect();
    let set: Vec<&Rec> = recs.iter().collect();
    let before = signatures_made();
    let now = crate::clock::unix_now().as_secs();
    !set.is_empty() && {
        rrsig(signing, &set, now);
        signatures_made() > before
    }
}

/// Rewrites the finished response in `out` with signatures and, for `denial`, the compact
/// NSEC. `compact_ok`: the query said CO, so a name that does not exist keeps NXDOMAIN. None
/// (and `out` unchanged) if it cannot be read.
pub fn sign(
    signing: &Signing,
    out: &mut Vec<u8>,
    finished: Finished,
    denial: Option<Denial>,
    compact_ok: bool,
    now: u64,
) -> Option<Signed> {
    let Finished {
        question_len,
        opt_at,
        limit,
    } = finished;
    let mut recs = read_records(out, question_len)?;
    let mut wire_rcode = u16::from(out[3] & 0x0F);
    let (qname, after_qname) = read_name(out, 12)?;
    if let Some(denial) = denial {
        // The name without data: the question's, or the end of the answer's CNAME chain.
        let owner = recs
            .iter()
            .rev()
            .find(|r| r.section == 0 && r.rtype == rtype::CNAME)
            .and_then(|r| match &r.data {
                Data::Name(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or(qname);
        let ttl = recs
            .iter()
            .find(|r| r.rtype == rtype::SOA && r.section == 1)
            .map_or(0, |r| r.ttl);
        let nsec = Rec {
            section: 1,
            volatile: denial.nxdomain,
            data: Data::Raw(compact_nsec(&owner, denial)),
            owner,
            rtype: rtype::NSEC,
            ttl,
        };
        let after_authority = recs
            .iter()
            .position(|r| r.section > 1)
            .unwrap_or(recs.len());
        recs.insert(after_authority, nsec);
        if denial.nxdomain && !compact_ok {
            wire_rcode = rcode::NOERROR;
        }
    }
    let opt = (opt_at > 0).then(|| out[opt_at..].to_vec());
    let head = out[..12 + question_len].to_vec();
    let qname_len = after_qname - 12;
    loop {
        let signed = write(
            signing,
            out,
            &recs,
            &head,
            qname_len,
            (wire_rcode, opt.as_deref()),
            now,
        );
        // Too big: without the additional section, once.
        if out.len() <= limit || !recs.iter().any(|r| r.section == 2) {
            return Some(signed);
        }
        recs.retain(|r| r.section < 2);
    }
}

/// Writes `recs` with their signatures after `head`, then the OPT record.
fn write(
    signing: &Signing,
    out: &mut Vec<u8>,
    recs: &[Rec],
    head: &[u8],
    qname_len: usize,
    (wire_rcode, opt): (u16, Option<&[u8]>),
    now: u64,
) -> Signed {
    let mut refresh_at = u64::MAX;
    let mut r = Response::from_head(out, head, qname_len);
    let mut i = 0;
    while i < recs.len() {
        let first = &recs[i];
        let mut end = i + 1;
        while end < recs.len()
            && recs[end].section == first.section
            && recs[end].rtype == first.rtype
            && recs[end].owner.eq_ignore_ascii_case(&first.owner)
        {
            end += 1;
        }
        r.section(first.section);
        for rec in &recs[i..end] {
            rec.data.write(&mut r, &rec.owner, rec.rtype, rec.ttl);
        }
        let set: Vec<&Rec> = recs[i..end].iter().collect();
        let (sig, refresh) = rrsig(signing, &set, now);
        refresh_at = refresh_at.min(refresh);
        r.raw_record(&first.owner, rtype::RRSIG, first.ttl, &sig);
        i = end;
    }
    let opt_at = r.finish_with_opt(wire_rcode, opt);
    Signed {
        rcode: wire_rcode,
        opt_at,
        refresh_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_of_rfc_9824() {
        // "a.example.com. NSEC \000.a.example.com. RRSIG NSEC NXNAME"
        let nx = compact_nsec(
            b"\x01A\x07example\x03com\x00",
            Denial {
                nxdomain: true,
                types: 0,
            },
        );
        let (next, bitmap) = nx.split_at(2 + 15);
        assert_eq!(next, b"\x01\x00\x01a\x07example\x03com\x00");
        // Window 0: RRSIG (46) and NSEC (47) in octet 5; NXNAME (128) is window 0, bit 128.
        let mut want = vec![0u8, 17];
        want.extend([0; 17]);
        want[2 + 5] = 0b0000_0011;
        want[2 + 16] = 0x80;
        assert_eq!(bitmap, want);
        // NODATA at the apex: NS SOA RRSIG NSEC DNSKEY.
        use super::super::types as t;
        let apex = compact_nsec(
            b"\x07example\x03com\x00",
            Denial {
                nxdomain: false,
                types: t::NS | t::SOA | t::DNSKEY,
            },
        );
        assert_eq!(&apex[2 + 13..], &[0, 7, 0x22, 0, 0, 0, 0, 0x03, 0x80]);
    }

    #[test]
    fn names_read_back_through_pointers_and_loops_are_refused() {
        let msg = b"\x00\x00\x03abc\x00\x01x\xC0\x02";
        assert_eq!(
            read_name(msg, 7).unwrap(),
            (b"\x01x\x03abc\x00".to_vec(), 11)
        );
        let looped = b"\x01a\xC0\x00";
        assert!(read_name(looped, 0).is_none());
    }
}
