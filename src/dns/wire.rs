//! DNS wire format on the query path: a strict, allocation-free query parser and a response writer.
//!
//! Why not hickory-proto's `Message` here: its OPT decoder drops malformed EDNS options with a
//! warning per packet and does not check ECS address padding, where RFC 7871 asks for FORMERR;
//! and a full `Message` allocates for every name and record. Tests decode every response with
//! hickory-proto, so the two implementations check each other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record types used here.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Alias.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// DNSSEC signature.
    pub const RRSIG: u16 = 46;
    /// DNSSEC next secure (here: compact denial, RFC 9824).
    pub const NSEC: u16 = 47;
    /// DNSSEC public key.
    pub const DNSKEY: u16 = 48;
    /// RFC 9824's meta-type in an NSEC bitmap: the name does not exist. Never a query type.
    pub const NXNAME: u16 = 128;
    /// Incremental zone transfer (refused: a dynamic zone has none).
    pub const IXFR: u16 = 251;
    /// Zone transfer (refused).
    pub const AXFR: u16 = 252;
    /// Any type (RFC 8482 minimal answers).
    pub const ANY: u16 = 255;
}

/// Response codes used here (values above 15 go into the OPT record).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// Format error.
    pub const FORMERR: u16 = 1;
    /// Server failure.
    pub const SERVFAIL: u16 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// Not implemented.
    pub const NOTIMP: u16 = 4;
    /// Refused.
    pub const REFUSED: u16 = 5;
    /// Bad EDNS version.
    pub const BADVERS: u16 = 16;
}

/// EDNS option code of DNS COOKIE (RFC 7873).
pub const OPTION_COOKIE: u16 = 10;

/// A COOKIE option as received (RFC 7873 section 4): the client cookie and, when present, the
/// server cookie (8 to 32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    /// Client Cookie.
    pub client: [u8; 8],
    /// Server Cookie bytes (the first `server_len`).
    pub server: [u8; 32],
    /// Length of the server cookie (0: none).
    pub server_len: u8,
}

impl Cookie {
    /// The server cookie, empty when the client sent none.
    pub fn server(&self) -> &[u8] {
        &self.server[..self.server_len as usize]
    }
}

/// The OPT record of a response: DO echoed, ECS echoed with its scope, our COOKIE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptOut {
    /// DNSSEC OK, echoed.
    pub dnssec_ok: bool,
    /// Compact Answers OK (RFC 9824 section 5.1), set by a signed zone for a query with CO.
    pub compact_ok: bool,
    /// Client Subnet echoed with this SCOPE prefix.
    pub ecs: Option<(ClientSubnet, u8)>,
    /// The COOKIE option to send: client cookie then a 16-byte server cookie (RFC 9018).
    pub cookie: Option<[u8; 24]>,
}

/// EDNS option code of Client Subnet.
pub const OPTION_ECS: u16 = 8;

/// An EDNS Client Subnet option (RFC 7871), already checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The address, bits beyond `source_prefix` zero.
    pub address: IpAddr,
    /// SOURCE PREFIX-LENGTH.
    pub source_prefix: u8,
}

/// The OPT record of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Requestor's UDP payload size (values below 512 count as 512).
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// Compact Answers OK bit (RFC 9824 section 5.1: NXDOMAIN may stay NXDOMAIN).
    pub compact_ok: bool,
    /// Client Subnet, when present.
    pub client_subnet: Option<ClientSubnet>,
    /// DNS COOKIE, when present (well formed: RFC 7873 section 5.2.2 makes the rest FORMERR).
    pub cookie: Option<Cookie>,
}

/// A parsed query; slices point into the packet.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Message ID.
    pub id: u16,
    /// Header flags word as received.
    pub flags: u16,
    /// The question section as received (name, type, class): echoed verbatim.
    pub question: &'a [u8],
    /// The question name in wire format (within `question`).
    pub qname: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// OPT record, if any.
    pub edns: Option<Edns>,
}

/// Why a packet is not a query we answer normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject<'a> {
    /// Too short for a header, or a response: send nothing.
    Drop,
    /// Answer with this RCODE and the header (and question, when it parsed).
    Error {
        /// Message ID.
        id: u16,
        /// Flags as received.
        flags: u16,
        /// RCODE to send.
        rcode: u16,
        /// The question, when it was readable.
        question: Option<&'a [u8]>,
        /// Whether the query carried a readable OPT record.
        edns: bool,
    },
}

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const CD: u16 = 0x0010;

mod build;
mod mnemonic;
mod response;
pub use build::{build_dnssec_query, build_query};
pub use mnemonic::{rcode_name, type_name};
pub use response::{Response, set_truncated, truncate};

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Skips a name that may end in a compression pointer; `plain` forbids pointers.
    fn name(&mut self, plain: bool) -> Option<&'a [u8]> {
        let start = self.pos;
        loop {
            let len = self.u8()?;
            match len {
                0 => break,
                1..=63 => {
                    self.take(len as usize)?;
                }
                0xC0..=0xFF if !plain => {
                    self.u8()?;
                    break;
                }
                _ => return None,
            }
            if self.pos - start > 255 {
                return None;
            }
        }
        (self.pos - start <= 255).then(|| &self.data[start..self.pos])
    }
}

/// Parses a query strictly (see module docs for what is refused).
pub fn parse_query(packet: &[u8]) -> Result<Query<'_>, Reject<'_>> {
    if packet.len() < 12 {
        return Err(Reject::Drop);
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & QR != 0 {
        return Err(Reject::Drop);
    }
    let count = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let error = |rcode, question, edns| Reject::Error {
        id,
        flags,
        rcode,
        question,
        edns,
    };
    if (flags >> 11) & 0xF != 0 {
        return Err(error(rcode::NOTIMP, None, false));
    }
    if qd != 1 {
        return Err(error(rcode::FORMERR, None, false));
    }
    let mut c = Cursor {
        data: packet,
        pos: 12,
    };
    let qname = c.name(true).ok_or(error(rcode::FORMERR, None, false))?;
    let (qtype, qclass) = match (c.u16(), c.u16()) {
        (Some(t), Some(k)) => (t, k),
        _ => return Err(error(rcode::FORMERR, None, false)),
    };
    let question = &packet[12..c.pos];
    let formerr = |edns| error(rcode::FORMERR, Some(question), edns);
    for _ in 0..(u32::from(an) + u32::from(ns)) {
        skip_record(&mut c).ok_or(formerr(false))?;
    }
    let mut edns = None;
    for _ in 0..ar {
        let name = c.name(false).ok_or(formerr(edns.is_some()))?;
        let rtype = c.u16().ok_or(formerr(edns.is_some()))?;
        if rtype != rtype::OPT {
            c.take(6).ok_or(formerr(edns.is_some()))?;
            let len = c.u16().ok_or(formerr(edns.is_some()))?;
            c.take(len as usize).ok_or(formerr(edns.is_some()))?;
            continue;
        }
        if edns.is_some() || name != [0] {
            return Err(formerr(edns.is_some()));
        }
        edns = Some(read_opt(&mut c).ok_or(formerr(true))?);
    }
    Ok(Query {
        id,
        flags,
        question,
        qname,
        qtype,
        qclass,
        edns,
    })
}

fn skip_record(c: &mut Cursor<'_>) -> Option<()> {
    c.name(false)?;
    c.take(8)?;
    let len = c.u16()?;
    c.take(len as usize).map(|_| ())
}

/// Reads an OPT record after its name and type.
fn read_opt(c: &mut Cursor<'_>) -> Option<Edns> {
    let udp_size = c.u16()?.max(512);
    let ttl = c.u32()?;
    let len = c.u16()? as usize;
    let mut opts = Cursor {
        data: c.take(len)?,
        pos: 0,
    };
    let mut client_subnet = None;
    let mut cookie = None;
    while opts.pos < opts.data.len() {
        let code = opts.u16()?;
        let olen = opts.u16()? as usize;
        let data = opts.take(olen)?;
        if code == OPTION_ECS {
            if client_subnet.is_some() {
                return None;
            }
            client_subnet = Some(read_ecs(data)?);
        } else if code == OPTION_COOKIE {
            if cookie.is_some() {
                return None;
            }
            cookie = Some(read_cookie(data)?);
        }
    }
    Some(Edns {
        udp_size,
        version: (ttl >> 16) as u8,
        dnssec_ok: ttl & 0x8000 != 0,
        compact_ok: ttl & 0x4000 != 0,
        client_subnet,
        cookie,
    })
}

/// Checks a COOKIE option: 8 bytes (client cookie only) or 16 to 40 (with a server cookie of 8
/// to 32 bytes); any other length is malformed (RFC 7873 section 5.2.2: FORMERR).
fn read_cookie(data: &[u8]) -> Option<Cookie> {
    if data.len() != 8 && !(16..=40).contains(&data.len()) {
        return None;
    }
    let mut cookie = Cookie {
        client: [0; 8],
        server: [0; 32],
        server_len: (data.len() - 8) as u8,
    };
    cookie.client.copy_from_slice(&data[..8]);
    cookie.server[..data.len() - 8].copy_from_slice(&data[8..]);
    Some(cookie)
}

/// Checks an ECS option: known family, prefix within the family, exactly the needed address
/// octets, no bits set beyond the prefix (RFC 7871 section 6).
fn read_ecs(data: &[u8]) -> Option<ClientSubnet> {
    if data.len() < 4 {
        return None;
    }
    let family = u16::from_be_bytes([data[0], data[1]]);
    let source = data[2];
    let addr = &data[4..];
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    if source > max || addr.len() != (source as usize).div_ceil(8) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..addr.len()].copy_from_slice(addr);
    if !source.is_multiple_of(8) {
        let last = addr[addr.len() - 1];
        if last & (0xFFu8 >> (source % 8)) != 0 {
            return None;
        }
    }
    let address = if family == 1 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(bytes))
    };
    Some(ClientSubnet {
        address,
        source_prefix: source,
    })
}

/// Converts `a.b.c` to lower-case wire format.
pub fn to_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    out
}

/// A wire-format name as text (`a.b.c`), for logs; odd bytes are escaped.
pub fn name_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < wire.len() && wire[i] != 0 && wire[i] < 64 {
        let len = wire[i] as usize;
        let label = wire.get(i + 1..i + 1 + len).unwrap_or(&[]);
        if !out.is_empty() {
            out.push('.');
        }
        out.extend(
            label
                .iter()
                .flat_map(|b| std::ascii::escape_default(*b))
                .map(char::from),
        );
        i += 1 + len;
    }
    out
}

#[cfg(test)]
mod tests;
