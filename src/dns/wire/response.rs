//! The response writer: header, question echo, records with name compression, the OPT record
//! (ECS echo, COOKIE), and truncation to header, question and OPT.

use super::{AA, CD, ClientSubnet, OPTION_COOKIE, OPTION_ECS, OptOut, QR, RD, TC, rtype};
use std::net::IpAddr;

/// Writes one response into a buffer. Sections must be written in order: answers, authority,
/// additional; `finish` adds the OPT record and fills in the header counts.
pub struct Response<'b> {
    buf: &'b mut Vec<u8>,
    counts: [u16; 3],
    section: usize,
    names: [(u16, u16); 8],
    named: usize,
    /// Names written from a given source slice (address, length) → where: writing the same
    /// slice again (the question name as owner, a CNAME target as the owner of its addresses)
    /// is one comparison and a pointer.
    sources: [(usize, usize, u16); 4],
    sourced: usize,
}

impl<'b> Response<'b> {
    /// Starts a response to `id` with the header flags derived from the query's.
    pub fn start(buf: &'b mut Vec<u8>, id: u16, query_flags: u16, authoritative: bool) -> Self {
        buf.clear();
        // The opcode is echoed; RD and CD are defined for QUERY only (RFC 1035, RFC 6840), so
        // a NOTIMP for another opcode does not echo them.
        let opcode = query_flags & 0x7800;
        let echoed = if opcode == 0 { RD | CD } else { 0 };
        let mut flags = QR | opcode | (query_flags & echoed);
        if authoritative {
            flags |= AA;
        }
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        Self::over(buf)
    }

    /// A writer over `buf`, which holds a header and nothing else yet.
    fn over(buf: &'b mut Vec<u8>) -> Self {
        Self {
            buf,
            counts: [0; 3],
            section: 0,
            names: [(0, 0); 8],
            named: 0,
            sources: [(0, 0, 0); 4],
            sourced: 0,
        }
    }

    /// Starts a response that repeats `head`, a finished response's header and question (its
    /// counts and RCODE cleared): the signer rewrites a response this way.
    pub fn from_head(buf: &'b mut Vec<u8>, head: &[u8], qname_len: usize) -> Self {
        buf.clear();
        buf.extend_from_slice(&head[..12]);
        buf[3] &= 0xF0;
        buf[4..12].fill(0);
        let mut r = Self::over(buf);
        if head.len() > 12 {
            r.question(&head[12..], qname_len);
        }
        r
    }

    /// Writes a record with opaque data (DNSKEY, RRSIG, NSEC: no name in it is compressed).
    pub fn raw_record(&mut self, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        let at = self.record_head(owner, rtype, ttl);
        self.buf.extend_from_slice(rdata);
        self.record_end(at);
    }

    /// Finishes with an OPT record given as its bytes (from a finished response), or none.
    /// Returns where it starts (0: none).
    pub fn finish_with_opt(self, rcode: u16, opt: Option<&[u8]>) -> usize {
        let mut opt_at = 0;
        if let Some(o) = opt {
            opt_at = self.buf.len();
            self.buf.extend_from_slice(o);
        }
        self.close(rcode, opt_at)
    }

    /// Sets the RCODE's low bits and the counts (an OPT record at `opt_at`, 0: none); returns
    /// `opt_at`.
    fn close(self, rcode: u16, opt_at: usize) -> usize {
        let additional = self.counts[2] + u16::from(opt_at > 0);
        self.buf[3] |= (rcode & 0xF) as u8;
        self.buf[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        self.buf[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        self.buf[10..12].copy_from_slice(&additional.to_be_bytes());
        opt_at
    }

    /// Echoes the question; `qname_len` is the length of its name part.
    pub fn question(&mut self, question: &[u8], qname_len: usize) {
        self.buf[5] = 1;
        self.remember(self.buf.len(), qname_len);
        self.source(&question[..qname_len], self.buf.len());
        self.buf.extend_from_slice(question);
    }

    /// Moves on to the authority (1) or additional (2) section.
    pub fn section(&mut self, section: usize) {
        debug_assert!(section >= self.section);
        self.section = section;
    }

    fn source(&mut self, wire: &[u8], at: usize) {
        if self.sourced < self.sources.len() && at < 0x3FFF {
            self.sources[self.sourced] = (wire.as_ptr() as usize, wire.len(), at as u16);
            self.sourced += 1;
        }
    }

    fn remember(&mut self, at: usize, len: usize) {
        if self.named < self.names.len() && at < 0x3FFF {
            self.names[self.named] = (at as u16, len as u16);
            self.named += 1;
        }
    }

    /// Writes a wire-format name (lower- or mixed-case), pointing at an earlier copy of its
    /// longest known suffix.
    pub fn name(&mut self, wire: &[u8]) {
        let start = self.buf.len();
        let key = (wire.as_ptr() as usize, wire.len());
        if let Some(&(_, _, at)) = self.sources[..self.sourced]
            .iter()
            .find(|s| (s.0, s.1) == key)
        {
            self.buf.extend_from_slice(&(0xC000 | at).to_be_bytes());
            return;
        }
        self.source(wire, start);
        let mut i = 0;
        while i < wire.len() && wire[i] != 0 {
            if let Some(at) = self.find_suffix(&wire[i..]) {
                self.buf.extend_from_slice(&wire[..i]);
                self.buf.extend_from_slice(&(0xC000 | at).to_be_bytes());
                return;
            }
            i += 1 + wire[i] as usize;
        }
        self.buf.extend_from_slice(wire);
        self.remember(start, wire.len());
    }

    /// Offset of an already written name whose tail equals `suffix` (labels, case-insensitive).
    fn find_suffix(&self, suffix: &[u8]) -> Option<u16> {
        for &(at, len) in &self.names[..self.named] {
            let (at, end) = (at as usize, at as usize + len as usize);
            if end - at < suffix.len() {
                continue;
            }
            let mut j = at;
            // Walk the written name's labels (plain labels only, no pointers inside) until the
            // rest is exactly as long as the suffix: only then can the two be equal.
            while end - j > suffix.len() && self.buf[j] != 0 && self.buf[j] < 0xC0 {
                j += 1 + self.buf[j] as usize;
            }
            if end - j == suffix.len() && self.buf[j..end].eq_ignore_ascii_case(suffix) {
                return Some(j as u16);
            }
        }
        None
    }

    fn record_head(&mut self, owner: &[u8], rtype: u16, ttl: u32) -> usize {
        self.name(owner);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.counts[self.section] += 1;
        at
    }

    fn record_end(&mut self, len_at: usize) {
        let len = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes an A or AAAA record.
    pub fn address(&mut self, owner: &[u8], ttl: u32, ip: IpAddr) {
        let t = if ip.is_ipv4() { rtype::A } else { rtype::AAAA };
        let at = self.record_head(owner, t, ttl);
        match ip {
            IpAddr::V4(a) => self.buf.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => self.buf.extend_from_slice(&a.octets()),
        }
        self.record_end(at);
    }

    /// Writes a record whose data is one name (CNAME, NS).
    pub fn name_record(&mut self, owner: &[u8], rtype: u16, ttl: u32, target: &[u8]) {
        let at = self.record_head(owner, rtype, ttl);
        self.name(target);
        self.record_end(at);
    }

    /// Writes a name record whose target's last `tail_len` bytes equal (ignoring case) the name
    /// already written at `tail_at` (say, the zone apex inside the question name): the target's
    /// other labels, then a pointer, with no search for a suffix. The caller vouches for the
    /// equality; an offset a pointer cannot reach falls back to [`Response::name`].
    pub fn name_record_with_tail(
        &mut self,
        owner: &[u8],
        rtype: u16,
        ttl: u32,
        target: &[u8],
        (tail_len, tail_at): (usize, usize),
    ) {
        let at = self.record_head(owner, rtype, ttl);
        let start = self.buf.len();
        match target.len().checked_sub(tail_len) {
            Some(head) if head > 0 && tail_at < 0x3FFF && start < 0x3FFF => {
                self.source(target, start);
                self.buf.extend_from_slice(&target[..head]);
                self.buf
                    .extend_from_slice(&(0xC000 | tail_at as u16).to_be_bytes());
            }
            _ => self.name(target),
        }
        self.record_end(at);
    }

    /// Writes an SOA record.
    pub fn soa(&mut self, owner: &[u8], ttl: u32, mname: &[u8], rname: &[u8], numbers: [u32; 5]) {
        let at = self.record_head(owner, rtype::SOA, ttl);
        self.name(mname);
        self.name(rname);
        for n in numbers {
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
        self.record_end(at);
    }

    /// Finishes: sets the RCODE (extended bits go to OPT), writes OPT when `edns` and fills
    /// the counts. Returns where the OPT record starts (0: none), for [`truncate`].
    pub fn finish(self, rcode: u16, edns: Option<OptOut>, udp_size: u16) -> usize {
        let mut opt_at = 0;
        if let Some(opt) = edns {
            opt_at = self.buf.len();
            self.buf.push(0);
            self.buf.extend_from_slice(&rtype::OPT.to_be_bytes());
            self.buf.extend_from_slice(&udp_size.to_be_bytes());
            let flags =
                if opt.dnssec_ok { 0x8000 } else { 0 } | if opt.compact_ok { 0x4000 } else { 0 };
            let ttl = (u32::from(rcode >> 4) << 24) | flags;
            self.buf.extend_from_slice(&ttl.to_be_bytes());
            write_opt_rdata(self.buf, opt.ecs, opt.cookie.as_ref());
        }
        self.close(rcode, opt_at)
    }
}

/// Cuts a finished response down to header, question and its OPT record (at `opt_at`, 0 for
/// none) and sets TC: what a client that must retry over TCP gets (oversized answers, RRL slip).
pub fn truncate(buf: &mut Vec<u8>, question_len: usize, opt_at: usize) {
    let end = 12 + question_len;
    if buf.len() < end {
        return;
    }
    let opt = opt_at >= end && opt_at < buf.len();
    if opt {
        buf.drain(end..opt_at);
    } else {
        buf.truncate(end);
    }
    buf[6..10].fill(0);
    buf[10..12].copy_from_slice(&u16::from(opt).to_be_bytes());
    set_truncated(buf);
}

/// Writes an OPT record's RDLENGTH and RDATA: the ECS option with its `scope`, then COOKIE.
pub(super) fn write_opt_rdata(
    buf: &mut Vec<u8>,
    ecs: Option<(ClientSubnet, u8)>,
    cookie: Option<&[u8; 24]>,
) {
    let len_at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    if let Some((cs, scope)) = ecs {
        write_ecs(buf, cs, scope);
    }
    if let Some(c) = cookie {
        buf.extend_from_slice(&OPTION_COOKIE.to_be_bytes());
        buf.extend_from_slice(&(c.len() as u16).to_be_bytes());
        buf.extend_from_slice(c);
    }
    let len = (buf.len() - len_at - 2) as u16;
    buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
}

fn write_ecs(buf: &mut Vec<u8>, cs: ClientSubnet, scope: u8) {
    let n = (cs.source_prefix as usize).div_ceil(8);
    let (family, octets): (u16, [u8; 16]) = match cs.address {
        IpAddr::V4(a) => {
            let mut o = [0; 16];
            o[..4].copy_from_slice(&a.octets());
            (1, o)
        }
        IpAddr::V6(a) => (2, a.octets()),
    };
    buf.extend_from_slice(&OPTION_ECS.to_be_bytes());
    buf.extend_from_slice(&((4 + n) as u16).to_be_bytes());
    buf.extend_from_slice(&family.to_be_bytes());
    buf.push(cs.source_prefix);
    buf.push(scope);
    buf.extend_from_slice(&octets[..n]);
}

/// Sets the TC bit of a finished response.
pub fn set_truncated(buf: &mut [u8]) {
    if buf.len() >= 4 {
        buf[2] |= (TC >> 8) as u8;
    }
}
