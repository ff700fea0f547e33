//! Reading our own finished response back into records (names decompressed), their
//! canonical form for signing (RFC 4034 6.2), and writing them again.

use crate::dns::wire::{Response, rtype};

/// One record read back from the response.
pub(super) struct Rec {
    pub(super) section: usize,
    /// The NSEC of a name that does not exist (kept in its own cache table).
    pub(super) volatile: bool,
    pub(super) owner: Vec<u8>,
    pub(super) rtype: u16,
    pub(super) ttl: u32,
    pub(super) data: Data,
}

pub(super) enum Data {
    Raw(Vec<u8>),
    Name(Vec<u8>),
    Soa(Vec<u8>, Vec<u8>, [u8; 20]),
}

/// Reads a (possibly compressed) name at `at`: its uncompressed wire form and the offset after
/// it. None when it is not well formed (never for our own responses).
pub(super) fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<u8>, usize)> {
    let mut name = Vec::with_capacity(64);
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(at)? as usize;
        if len & 0xC0 == 0xC0 {
            let target = (len & 0x3F) << 8 | *msg.get(at + 1)? as usize;
            end.get_or_insert(at + 2);
            if target >= at {
                return None;
            }
            at = target;
            continue;
        }
        name.extend_from_slice(msg.get(at..at + 1 + len)?);
        at += 1 + len;
        if len == 0 {
            return (name.len() <= 255).then(|| (name, end.unwrap_or(at)));
        }
    }
    None
}

pub(super) fn lower(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

pub(super) fn labels(name: &[u8]) -> u8 {
    let (mut n, mut i) = (0u8, 0usize);
    while i < name.len() && name[i] != 0 {
        n += 1;
        i += 1 + name[i] as usize;
    }
    n
}

/// Reads the records after the question, up to (not including) the OPT record.
pub(super) fn read_records(msg: &[u8], question_len: usize) -> Option<Vec<Rec>> {
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let counts = [count(6), count(8), count(10)];
    let mut at = 12 + question_len;
    let mut out = Vec::new();
    for (section, &n) in counts.iter().enumerate() {
        for _ in 0..n {
            let (owner, next) = read_name(msg, at)?;
            let fixed = msg.get(next..next + 10)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
            let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
            let start = next + 10;
            let rdata = msg.get(start..start + len)?;
            at = start + len;
            let data = match rtype {
                rtype::OPT => continue,
                rtype::CNAME | rtype::NS => Data::Name(read_name(msg, start)?.0),
                rtype::SOA => {
                    let (mname, after) = read_name(msg, start)?;
                    let (rname, after) = read_name(msg, after)?;
                    Data::Soa(mname, rname, msg.get(after..after + 20)?.try_into().ok()?)
                }
                _ => Data::Raw(rdata.to_vec()),
            };
            out.push(Rec {
                section,
                volatile: false,
                owner,
                rtype,
                ttl,
                data,
            });
        }
    }
    Some(out)
}

impl Data {
    /// RDATA in canonical form (RFC 4034 6.2; names of NS, CNAME, SOA lowercased).
    pub(super) fn canonical(&self) -> Vec<u8> {
        match self {
            Data::Raw(d) => d.clone(),
            Data::Name(n) => lower(n),
            Data::Soa(m, r, numbers) => [&lower(m)[..], &lower(r), numbers].concat(),
        }
    }

    pub(super) fn write(&self, r: &mut Response<'_>, owner: &[u8], rtype: u16, ttl: u32) {
        match self {
            Data::Raw(d) => r.raw_record(owner, rtype, ttl, d),
            Data::Name(n) => r.name_record(owner, rtype, ttl, n),
            Data::Soa(m, rn, numbers) => {
                let n = |i: usize| {
                    u32::from_be_bytes(numbers[i * 4..i * 4 + 4].try_into().unwrap_or_default())
                };
                r.soa(owner, ttl, m, rn, [n(0), n(1), n(2), n(3), n(4)]);
            }
        }
    }
}
