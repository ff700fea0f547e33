#!/usr/bin/env python3
"""EDNS and DNS protocol compliance checks of an authoritative server.

In the spirit of RFC 8906 section 8 and ISC's EDNS compliance tester (ednscomp.isc.org, the
`genreport` tool of github.com/isc-projects/DNS-Compliance-Testing): every test of genreport's
default and "full" sets is sent as genreport sends it (the dig command line it stands for is
printed), and the response is judged by genreport's criteria:

  status     NOERROR for EDNS version 0 (BADCOOKIE allowed with a cookie), BADVERS for
             version > 0, NOTIMP for an unknown opcode
  OPT        present iff the query had one ("noopt", "opt"); version 0 ("version-not-zero",
             "badversion"); no undefined EDNS flag echoed ("mbz"); an unknown option (100)
             never echoed ("echoed"); a server cookie, when sent, echoes our client cookie
  answer     the SOA for version-0 SOA queries ("nosoa"), none with BADVERS ("soa")
  flags      AA on authoritative answers ("noaa"), not on NOTIMP ("aa"); RD copied for QUERY
             only ("rd", "nord"); AD only when asked with AD or DO ("ad"); CD only when asked
             ("cd"); Z never ("z"); RA not set for an unknown opcode ("ra")
  size       with TC ignored, no UDP response larger than the requested size ("toobig")

plus what this server promises (SPEC.md section 1 and 8): the DO bit copied (RFC 3225),
advertised UDP size 1232, never a UDP answer larger than the client allows, truncation with TC
and the full answer over TCP, FORMERR for a malformed EDNS option or OPT record.

Prints one PASS/FAIL line per check with the reason; exits 1 if any check fails.
Only dnspython is needed (pip install dnspython).
"""

import argparse
import random
import socket
import struct
import sys

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

# Header bits (RFC 1035 4.1.1, RFC 4035): in the 16-bit flags word.
QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
DO = 0x8000  # in the OPT TTL's low 16 bits

OPT_NSID, OPT_ECS, OPT_EXPIRE, OPT_COOKIE, OPT_UNKNOWN = 3, 8, 9, 10, 100
CLIENT_COOKIE = bytes.fromhex("0102030405060708")

ADVERTISED_UDP = 1232


def opt(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


ECS_ZERO = opt(OPT_ECS, bytes.fromhex("00010000"))  # family 1, source /0, scope 0


class Test:
    """One query and what its response must look like."""

    def __init__(self, name, dig, qname=None, qtype="SOA", udpsize=0, eflags=0, version=0,
                 options=b"", tcp=False, ignore_tc=False, flags=0, opcode=0, expect_rcode=None,
                 extra=None, raw=None, cookie=False):
        self.name = name
        self.dig = dig
        self.qname = qname
        self.qtype = qtype
        self.udpsize = udpsize          # 0: no OPT record
        self.eflags = eflags            # OPT TTL low 16 bits (DO, MBZ)
        self.version = version
        self.options = options          # OPT RDATA
        self.tcp = tcp
        self.ignore_tc = ignore_tc
        self.flags = flags              # header bits to set (RD, AD, CD, AA, Z, TC, RA)
        self.opcode = opcode
        self.expect_rcode = expect_rcode  # overrides the genreport expectation
        self.extra = extra or []          # functions (test, resp) -> list of problems
        self.raw = raw                    # function (id) -> wire query, for malformed queries
        self.cookie = cookie              # the query carries our client cookie


def build_query(t, qid):
    if t.raw is not None:
        return t.raw(qid)
    flags = (t.opcode & 0xF) << 11 | t.flags
    if t.opcode != 0:
        # genreport: an unknown opcode is sent as a bare header (QDCOUNT 0).
        return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)
    qtype = dns.rdatatype.from_text(t.qtype) if isinstance(t.qtype, str) else t.qtype
    wire = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1 if t.udpsize else 0)
    wire += dns.name.from_text(t.qname).to_wire() + struct.pack("!HH", qtype, 1)
    if t.udpsize:
        ttl = (t.version & 0xFF) << 16 | t.eflags
        wire += b"\x00" + struct.pack("!HHIH", 41, t.udpsize, ttl, len(t.options)) + t.options
    return wire


class Response:
    def __init__(self, wire, transport, first_udp=None):
        self.wire = wire
        self.transport = transport        # "udp" or "tcp"
        self.first_udp = first_udp        # the truncated UDP response before a TCP retry
        (self.id, self.hflags, self.qdcount, self.ancount, self.nscount,
         self.arcount) = struct.unpack("!HHHHHH", wire[:12])
        self.msg = dns.message.from_wire(wire)   # raises on a malformed message
        self.opt = self.msg.opt
        self.opt_ttl = self.opt.ttl if self.opt is not None else 0
        self.opt_options = []
        if self.opt is not None:
            for o in self.opt[0].options:
                self.opt_options.append((int(o.otype), o.to_wire() if hasattr(o, "to_wire") else b""))
        self.rcode = (self.hflags & 0xF) | ((self.opt_ttl >> 24) & 0xFF) << 4
        self.opcode = (self.hflags >> 11) & 0xF

    def option(self, code):
        for c, data in self.opt_options:
            if c == code:
                return data
        return None

    def answer_types(self):
        return [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)) for rr in self.msg.answer]


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def ask_udp(server, port, wire, timeout=2.0, tries=3):
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    qid = wire[:2]
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(wire, (server, port))
            try:
                while True:
                    data, peer = s.recvfrom(65535)
                    if data[:2] == qid:
                        return data
            except socket.timeout:
                continue
    return None


def ask_tcp(server, port, wire, timeout=5.0):
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((server, port))
        s.sendall(struct.pack("!H", len(wire)) + wire)
        (n,) = struct.unpack("!H", recv_exact(s, 2))
        return recv_exact(s, n)


def run(t, server, port):
    """Sends the test's query (UDP, then TCP on TC unless ignored); returns (Response, error)."""
    qid = random.randrange(1, 0x10000)
    wire = build_query(t, qid)
    try:
        if t.tcp:
            data = ask_tcp(server, port, wire)
            return Response(data, "tcp"), None
        data = ask_udp(server, port, wire)
        if data is None:
            return None, "no UDP response (3 tries, 2 s each)"
        first = Response(data, "udp")
        if first.hflags & TC and not t.ignore_tc:
            data = ask_tcp(server, port, wire)
            return Response(data, "tcp", first_udp=first), None
        return first, None
    except (dns.exception.DNSException, struct.error) as e:
        return None, "malformed response: %s" % e
    except OSError as e:
        return None, "transport error: %s" % e


def judge(t, r):
    """genreport's criteria (see the module docstring) plus this server's promises."""
    problems = []
    if not r.hflags & QR:
        problems.append("QR not set")
    # RFC 5452: the response must match the question.
    if t.opcode == 0 and t.raw is None:
        q = r.msg.question
        if len(q) != 1 or q[0].name != dns.name.from_text(t.qname) or \
                q[0].rdtype != (dns.rdatatype.from_text(t.qtype) if isinstance(t.qtype, str) else t.qtype):
            problems.append("question not echoed (%s)" % [x.to_text() for x in q])
    if t.opcode != 0:
        for n, count in (("question", r.qdcount), ("answer", r.ancount), ("authority", r.nscount),
                         ("additional", r.arcount)):
            if count:
                problems.append("non-empty-%s-section" % n)
    if r.opcode != t.opcode:
        problems.append("opcode %d echoed as %d" % (t.opcode, r.opcode))

    rcode = r.rcode
    rtext = dns.rcode.to_text(rcode) if rcode < 4096 else str(rcode)
    if t.expect_rcode is not None:
        want = [t.expect_rcode] if isinstance(t.expect_rcode, int) else list(t.expect_rcode)
        if rcode not in want:
            problems.append("status %s, want %s" % (rtext, "/".join(dns.rcode.to_text(w) for w in want)))
    elif t.opcode != 0:
        if rcode != dns.rcode.NOTIMP:
            problems.append("status %s, want NOTIMP" % rtext)
    elif t.version != 0:
        if rcode != dns.rcode.BADVERS:
            problems.append("status %s, want BADVERS" % rtext)
    else:
        cookie_ok = t.cookie and rcode == dns.rcode.BADCOOKIE and r.option(OPT_COOKIE) is not None
        if rcode != dns.rcode.NOERROR and not cookie_ok:
            problems.append("status %s, want NOERROR" % rtext)

    if r.opt is not None:
        version = (r.opt_ttl >> 16) & 0xFF
        if version != 0:
            problems.append("version-not-zero (OPT version %d)" % version)
        if (version < t.version and rcode != dns.rcode.BADVERS) or \
                (version >= t.version and rcode == dns.rcode.BADVERS):
            problems.append("badversion")
        if r.opt_ttl & 0x7FFF:
            problems.append("mbz: undefined EDNS flags 0x%04x in the response" % (r.opt_ttl & 0x7FFF))
        if t.udpsize and t.eflags & DO and not r.opt_ttl & DO:
            problems.append("DO bit not copied into the response (RFC 3225 section 3)")
        if r.opt.rdclass != ADVERTISED_UDP:
            problems.append("OPT UDP size %d, the server advertises %d (SPEC 1)" % (r.opt.rdclass, ADVERTISED_UDP))
        if r.option(OPT_UNKNOWN) is not None:
            problems.append("echoed: unknown option 100 echoed")
        cookie = r.option(OPT_COOKIE)
        if cookie is not None:
            if not 16 <= len(cookie) <= 40:
                problems.append("COOKIE option of %d bytes (server cookie must be 8..32)" % len(cookie))
            elif t.cookie and cookie[:8] != CLIENT_COOKIE:
                problems.append("cookie-mismatch: client cookie not echoed")
            elif not t.cookie:
                problems.append("a COOKIE option without one in the query")
    if t.udpsize and r.opt is None:
        problems.append("noopt: no OPT record in the response")
    if not t.udpsize and r.opt is not None and t.raw is None:
        problems.append("opt: OPT record in the response to a query without one")

    soa = any(rr.rdtype == dns.rdatatype.SOA for rr in r.msg.answer)
    if t.qtype == "SOA" and t.opcode == 0 and t.raw is None:
        if t.version == 0 and not t.ignore_tc and not soa and rcode == dns.rcode.NOERROR:
            problems.append("nosoa: no SOA in the answer")
        if soa and (t.version != 0 or rcode != dns.rcode.NOERROR):
            problems.append("soa: SOA in the answer of a %s response" % rtext)

    f = r.hflags
    if t.opcode == 0 and t.version == 0 and rcode == dns.rcode.NOERROR and not f & AA:
        problems.append("noaa: AA not set on an authoritative answer")
    if f & AA and t.opcode != 0:
        problems.append("aa: AA set in response to opcode %d" % t.opcode)
    if f & RA and t.opcode != 0:
        problems.append("ra: RA set in response to opcode %d" % t.opcode)
    if f & RD and (t.opcode != 0 or not t.flags & RD):
        problems.append("rd: RD set in the response" + (" to opcode %d" % t.opcode if t.opcode else " (not asked)"))
    if not f & RD and t.flags & RD and t.opcode == 0:
        problems.append("nord: RD not copied")
    if f & AD and (t.opcode != 0 or (not t.flags & AD and not t.eflags & DO)):
        problems.append("ad: AD set in the response")
    if f & CD and (t.opcode != 0 or not t.flags & CD):
        problems.append("cd: CD set in the response")
    if f & Z:
        problems.append("z: Z bit set in the response")

    # Size: what genreport checks with TC ignored, and what SPEC 8 promises for every UDP answer.
    udp = r.first_udp or (r if r.transport == "udp" else None)
    if udp is not None:
        limit = max(512, min(t.udpsize, 65535)) if t.udpsize else 512
        if len(udp.wire) > limit:
            problems.append("toobig: %d-byte UDP response, the query allowed %d" % (len(udp.wire), limit))
        if len(udp.wire) > ADVERTISED_UDP:
            problems.append("%d-byte UDP response, more than the advertised %d" % (len(udp.wire), ADVERTISED_UDP))
        if t.udpsize and udp.opt is None:
            problems.append("the UDP response has no OPT record")
    for check in t.extra:
        problems.extend(check(t, r))
    return problems


# ------------------------------------------------------------------------------------------
# Extra checks for individual tests.

def truncated(expect):
    """The UDP response is truncated (TC, header+question (+OPT)) iff expect; TCP holds all."""
    def check(t, r):
        out = []
        udp = r.first_udp or r
        tc = bool(udp.hflags & TC)
        if tc != expect:
            out.append("TC %s on the UDP response (%d bytes), want %s" % ("set" if tc else "clear", len(udp.wire), "set" if expect else "clear"))
        if tc and udp.ancount:
            # RFC 2181 9: a truncated response may carry partial data; this server sends none.
            out.append("truncated response carries %d answer record(s)" % udp.ancount)
        return out
    return check


def full_ns(count):
    """The final answer (over TCP after TC, or UDP when it fits) has every NS and their glue."""
    def check(t, r):
        ns = sum(len(rr) for rr in r.msg.answer if rr.rdtype == dns.rdatatype.NS)
        a = sum(len(rr) for rr in r.msg.additional if rr.rdtype == dns.rdatatype.A)
        aaaa = sum(len(rr) for rr in r.msg.additional if rr.rdtype == dns.rdatatype.AAAA)
        if r.hflags & TC:
            return ["final answer over %s still truncated" % r.transport]
        if (ns, a, aaaa) != (count, count, count):
            return ["answer has %d NS, %d A and %d AAAA glue, want %d of each" % (ns, a, aaaa, count)]
        return []
    return check


def ecs_echo(family, source, address):
    def check(t, r):
        data = r.option(OPT_ECS)
        if data is None:
            return ["ECS option not echoed (RFC 7871 7.2.1)"]
        if len(data) < 4:
            return ["ECS option of %d bytes echoed" % len(data)]
        fam, src, scope = struct.unpack("!HBB", data[:4])
        addr = data[4:]
        out = []
        if (fam, src, addr) != (family, source, address):
            out.append("ECS echoed as family %d /%d %s, want family %d /%d %s" % (fam, src, addr.hex(), family, source, address.hex()))
        if scope != 0:
            out.append("ECS scope /%d for the apex SOA, want /0 (the answer does not depend on the client)" % scope)
        return out
    return check


def no_option(code, label):
    def check(t, r):
        return ["%s option in the response" % label] if r.option(code) is not None else []
    return check


def answer_has(rdtype):
    def check(t, r):
        if not any(rr.rdtype == dns.rdatatype.from_text(rdtype) for rr in r.msg.answer):
            return ["no %s in the answer" % rdtype]
        return []
    return check


def nodata():
    def check(t, r):
        if r.rcode == dns.rcode.NOERROR and not r.msg.answer:
            if not any(rr.rdtype == dns.rdatatype.SOA for rr in r.msg.authority):
                return ["NODATA without the SOA in the authority section (RFC 2308)"]
        return []
    return check


# ------------------------------------------------------------------------------------------

def raw_query(qname, qtype, additional, arcount, flags=0):
    """A query with a hand-made additional section (for malformed OPT records)."""
    def build(qid):
        wire = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
        wire += dns.name.from_text(qname).to_wire() + struct.pack("!HH", dns.rdatatype.from_text(qtype), 1)
        return wire + additional
    return build


def opt_rr(udpsize=4096, ttl=0, rdata=b"", owner=b"\x00"):
    return owner + struct.pack("!HHIH", 41, udpsize, ttl, len(rdata)) + rdata


# genreport's TYPE tests: every type at the apex, expecting NOERROR (data or NODATA).
TYPES = ("A NS MD MF CNAME SOA MB MG MR NULL WKS PTR HINFO MINFO MX TXT RP AFSDB X25 ISDN RT "
         "NSAP NSAP-PTR SIG KEY PX GPOS AAAA LOC NXT SRV NAPTR KX CERT A6 DNAME APL DS SSHFP "
         "IPSECKEY RRSIG NSEC DNSKEY DHCID NSEC3 NSEC3PARAM TLSA SMIMEA HIP CDS CDNSKEY "
         "OPENPGPKEY SPF NID L32 L64 LP EUI48 EUI64 URI CAA AVC TYPE259 DLV TYPE1000").split()


def tests(zone, big, big_n, huge, huge_n):
    z = zone
    T = Test
    cookie = opt(OPT_COOKIE, CLIENT_COOKIE)
    out = [
        # --- plain DNS (genreport "full")
        T("dns", "dig +noedns +noad +norec SOA %s" % z, z),
        T("aa", "dig +noedns +noad +norec +aaflag SOA %s" % z, z, flags=AA),
        T("ad", "dig +noedns +ad +norec SOA %s" % z, z, flags=AD),
        T("cd", "dig +noedns +noad +norec +cd SOA %s" % z, z, flags=CD),
        T("ra", "(raw) RA set in the query, SOA %s" % z, z, flags=RA),
        T("rd", "dig +noedns +noad +rec SOA %s" % z, z, flags=RD),
        T("tc", "(raw) TC set in the query, SOA %s" % z, z, flags=TC),
        T("zflag", "dig +noedns +noad +norec +zflag SOA %s" % z, z, flags=Z),
        T("opcode", "dig +noedns +noad +norec +header-only +opcode=15", opcode=15),
        T("opcodeflg", "(raw) opcode 15, header only, TC RD RA CD AD AA Z set", opcode=15,
          flags=TC | RD | RA | CD | AD | AA | Z),
        T("type666", "dig +noedns +noad +norec TYPE666 %s" % z, z, qtype=666, extra=[nodata()]),
        T("tcp", "dig +noedns +noad +norec +tcp SOA %s" % z, z, tcp=True),
        # --- EDNS (genreport default set)
        T("edns", "dig +edns=0 +nocookie +noad +norec SOA %s" % z, z, udpsize=4096),
        T("edns1", "dig +edns=1 +noednsneg +nocookie +noad +norec SOA %s" % z, z, udpsize=4096, version=1),
        T("edns@512", "dig +edns=0 +nocookie +noad +norec +dnssec +ignoretc +bufsize=512 DNSKEY %s" % z, z,
          qtype="DNSKEY", udpsize=512, eflags=DO, ignore_tc=True),
        T("ednsopt", "dig +edns=0 +nocookie +noad +norec +ednsopt=100 SOA %s" % z, z, udpsize=4096,
          options=opt(OPT_UNKNOWN)),
        T("edns1opt", "dig +edns=1 +noednsneg +nocookie +noad +norec +ednsopt=100 SOA %s" % z, z,
          udpsize=4096, version=1, options=opt(OPT_UNKNOWN)),
        T("do", "dig +edns=0 +nocookie +noad +norec +dnssec SOA %s" % z, z, udpsize=4096, eflags=DO),
        T("docd", "dig +edns=0 +nocookie +noad +norec +dnssec +cd SOA %s" % z, z, udpsize=4096, eflags=DO, flags=CD),
        T("edns1do", "dig +edns=1 +noednsneg +nocookie +noad +norec +dnssec SOA %s" % z, z, udpsize=4096,
          version=1, eflags=DO),
        T("ednsflags", "dig +edns=0 +nocookie +noad +norec +ednsflags=0x0080 SOA %s" % z, z, udpsize=4096, eflags=0x80),
        T("optlist", "dig +edns=0 +noad +norec +nsid +subnet=0.0.0.0/0 +expire +cookie=0102030405060708 SOA %s" % z, z,
          udpsize=4096, options=opt(OPT_NSID) + ECS_ZERO + opt(OPT_EXPIRE) + cookie, cookie=True),
        T("ednsnsid", "dig +edns=0 +nocookie +noad +norec +nsid SOA %s" % z, z, udpsize=4096, options=opt(OPT_NSID)),
        T("ednscookie", "dig +edns=0 +noad +norec +cookie=0102030405060708 SOA %s" % z, z, udpsize=4096,
          options=cookie, cookie=True),
        T("ednsexpire", "dig +edns=0 +nocookie +noad +norec +expire SOA %s" % z, z, udpsize=4096, options=opt(OPT_EXPIRE)),
        T("ednssubnet", "dig +edns=0 +nocookie +noad +norec +subnet=0.0.0.0/0 SOA %s" % z, z, udpsize=4096,
          options=ECS_ZERO, extra=[ecs_echo(1, 0, b"")]),
        T("edns1nsid", "dig +edns=1 +noednsneg +nocookie +noad +norec +nsid SOA %s" % z, z, udpsize=4096,
          version=1, options=opt(OPT_NSID)),
        T("edns1cookie", "dig +edns=1 +noednsneg +noad +norec +cookie=0102030405060708 SOA %s" % z, z,
          udpsize=4096, version=1, options=cookie, cookie=True),
        T("edns1expire", "dig +edns=1 +noednsneg +nocookie +noad +norec +expire SOA %s" % z, z, udpsize=4096,
          version=1, options=opt(OPT_EXPIRE)),
        T("edns1subnet", "dig +edns=1 +noednsneg +nocookie +noad +norec +subnet=0.0.0.0/0 SOA %s" % z, z,
          udpsize=4096, version=1, options=ECS_ZERO),
        T("ednstcp", "dig +edns=0 +nocookie +noad +norec +dnssec +bufsize=512 +tcp DNSKEY %s" % z, z,
          qtype="DNSKEY", udpsize=512, eflags=DO, tcp=True),
        T("bind11", "dig +edns=0 +cookie=0102030405060708 +noad +norec +dnssec SOA %s" % z, z, udpsize=4096,
          eflags=DO, options=cookie, cookie=True),
        T("dig11", "dig +edns=0 +cookie=0102030405060708 +ad +rec SOA %s" % z, z, udpsize=4096,
          flags=AD | RD, options=cookie, cookie=True),
        # --- RFC 8906 section 8 combinations and this server's promises
        T("combined", "dig +norec +edns=0 +ednsopt=100 +ednsflags=0x80 +dnssec SOA %s" % z, z, udpsize=4096,
          eflags=DO | 0x80, options=opt(OPT_UNKNOWN)),
        T("edns1flags", "dig +norec +edns=1 +noednsneg +ednsflags=0x80 SOA %s" % z, z, udpsize=4096, version=1,
          eflags=0x80),
        T("edns1combined", "dig +norec +edns=1 +noednsneg +ednsopt=100 +ednsflags=0x80 +dnssec SOA %s" % z, z,
          udpsize=4096, version=1, eflags=DO | 0x80, options=opt(OPT_UNKNOWN)),
        T("ednsopt-nxdomain", "dig +norec +edns=0 +ednsopt=100 A nonexistent.%s" % z, "nonexistent." + z,
          qtype="A", udpsize=4096, options=opt(OPT_UNKNOWN), expect_rcode=dns.rcode.NXDOMAIN),
        T("ednsopt-global", "dig +norec +edns=0 +ednsopt=100 +ednsflags=0x80 +dnssec A myregistry.%s" % z,
          "myregistry." + z, qtype="A", udpsize=4096, eflags=DO | 0x80, options=opt(OPT_UNKNOWN),
          extra=[answer_has("CNAME"), answer_has("A")]),
        T("bufsize4096", "dig +norec +bufsize=4096 NS %s (answer fits: UDP size 1232 advertised)" % big, big,
          qtype="NS", udpsize=4096, extra=[truncated(False), full_ns(big_n)]),
        T("noedns-trunc", "dig +norec +noedns +ignoretc NS %s (%d NS + glue > 512 bytes)" % (big, big_n), big,
          qtype="NS", ignore_tc=True, extra=[truncated(True)]),
        T("bufsize512-trunc", "dig +norec +bufsize=512 +ignoretc NS %s (> 512 bytes)" % big, big, qtype="NS",
          udpsize=512, ignore_tc=True, extra=[truncated(True)]),
        T("bufsize512-tcp", "dig +norec +bufsize=512 NS %s (TC, then TCP: the whole answer)" % big, big,
          qtype="NS", udpsize=512, extra=[truncated(True), full_ns(big_n)]),
        T("bufsize4096-trunc", "dig +norec +bufsize=4096 +ignoretc NS %s (%d NS + glue > 1232 bytes)" % (huge, huge_n),
          huge, qtype="NS", udpsize=4096, ignore_tc=True, extra=[truncated(True)]),
        T("bufsize4096-tcp", "dig +norec +bufsize=4096 NS %s (TC at 1232, then TCP)" % huge, huge, qtype="NS",
          udpsize=4096, extra=[truncated(True), full_ns(huge_n)]),
        T("any-minimal", "dig +norec +edns=0 ANY %s" % z, z, qtype="ANY", udpsize=4096, extra=[minimal_any()]),
        T("bufsize100", "dig +norec +bufsize=100 SOA %s (sizes below 512 count as 512)" % z, z, udpsize=100),
        T("ednssubnet-24", "dig +norec +subnet=198.51.100.0/24 SOA %s" % z, z, udpsize=4096,
          options=opt(OPT_ECS, bytes.fromhex("00011800c63364")), extra=[ecs_echo(1, 24, bytes.fromhex("c63364"))]),
        T("ednssubnet-bad-prefix", "(raw) ECS family 1 source /33: FORMERR (RFC 7871 7.1.1)", z, udpsize=4096,
          options=opt(OPT_ECS, bytes.fromhex("00012100c633640000")), expect_rcode=dns.rcode.FORMERR),
        T("ednssubnet-bad-bits", "(raw) ECS 198.51.100.1/24 (bits beyond the prefix): FORMERR", z, udpsize=4096,
          options=opt(OPT_ECS, bytes.fromhex("00011800c6336401")), expect_rcode=dns.rcode.FORMERR),
        T("ednssubnet-bad-family", "(raw) ECS family 3: FORMERR", z, udpsize=4096,
          options=opt(OPT_ECS, bytes.fromhex("00031800c63364")), expect_rcode=dns.rcode.FORMERR),
        T("two-opt", "(raw) two OPT records: FORMERR (RFC 6891 6.1.1)", raw=raw_query(z, "SOA", opt_rr() + opt_rr(), 2),
          expect_rcode=dns.rcode.FORMERR),
        T("opt-owner", "(raw) OPT owner not the root: FORMERR (RFC 6891 6.1.2)",
          raw=raw_query(z, "SOA", opt_rr(owner=b"\x01x\x00"), 1), expect_rcode=dns.rcode.FORMERR),
        T("opt-truncated", "(raw) OPT RDATA shorter than RDLENGTH: FORMERR",
          raw=raw_query(z, "SOA", b"\x00" + struct.pack("!HHIH", 41, 4096, 0, 8) + b"\x00\x64", 1),
          expect_rcode=dns.rcode.FORMERR),
    ]
    for ty in TYPES:
        label = {"TYPE259": "DOA"}.get(ty, ty)
        out.append(T(label, "dig +noedns +noad +norec %s %s" % (ty, z), z, qtype=ty, extra=[nodata()]))
    return out


def server_cookie(not_this):
    """The response carries a server cookie (after our client cookie), other than not_this."""
    def check(t, r):
        data = r.option(OPT_COOKIE)
        if data is None or len(data) < 16:
            return ["no server cookie in the response (RFC 7873 5.2.3/5.2.4)"]
        if not_this is not None and data[8:] == not_this:
            return ["the invalid server cookie was sent back unchanged"]
        return []
    return check


def minimal_any():
    def check(t, r):
        types = sorted({dns.rdatatype.to_text(rr.rdtype) for rr in r.msg.answer})
        if types != ["SOA"]:
            return ["ANY at the apex answered %s, want the SOA alone (RFC 8482 minimal answer, SPEC 1)" % types]
        return []
    return check


def cookie_followups(server, port, zone, results):
    """When the server returned a server cookie: send it back, and send a malformed cookie."""
    r = results.get("ednscookie")
    data = r.option(OPT_COOKIE) if r is not None and r.opt is not None else None
    out = []
    if data is None:
        out.append(Test("cookie-malformed", "(raw) COOKIE option of 5 bytes: ignored (no cookie support, RFC 7873 5.2)",
                        zone, udpsize=4096, options=opt(OPT_COOKIE, b"\x01\x02\x03\x04\x05")))
        return out, "the server sent no COOKIE: server-cookie checks skipped"
    out.append(Test("cookie-resend", "dig +cookie=<client+server cookie from ednscookie> SOA %s" % zone, zone,
                    udpsize=4096, options=opt(OPT_COOKIE, data), cookie=True, expect_rcode=dns.rcode.NOERROR,
                    extra=[server_cookie(None)]))
    out.append(Test("cookie-malformed", "(raw) COOKIE option of 5 bytes: FORMERR (RFC 7873 5.2.2)", zone,
                    udpsize=4096, options=opt(OPT_COOKIE, b"\x01\x02\x03\x04\x05"), expect_rcode=dns.rcode.FORMERR))
    out.append(Test("cookie-bad-server", "dig +cookie=<client cookie + wrong server cookie> SOA %s: a fresh one" % zone,
                    zone, udpsize=4096, options=opt(OPT_COOKIE, CLIENT_COOKIE + bytes(16)), cookie=True,
                    expect_rcode=dns.rcode.NOERROR, extra=[server_cookie(bytes(16))]))
    return out, "the server sent a %d-byte COOKIE option" % len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.53")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--zone", default="azurecr.io")
    ap.add_argument("--big", default="big.test:12", help="ZONE:N, a zone with N glued NS (> 512 bytes)")
    ap.add_argument("--huge", default="huge.test:24", help="ZONE:N, a zone with N glued NS (> 1232 bytes)")
    args = ap.parse_args()
    big, big_n = args.big.split(":")
    huge, huge_n = args.huge.split(":")

    failed = 0
    total = 0
    results = {}

    def do(t):
        nonlocal failed, total
        total += 1
        r, err = run(t, args.server, args.port)
        if r is None:
            failed += 1
            print("FAIL %-22s %s\n     %s" % (t.name, err, t.dig))
            return
        results[t.name] = r
        problems = judge(t, r)
        how = "%s %d B, %s" % (r.transport, len(r.wire), dns.rcode.to_text(r.rcode) if r.rcode < 4096 else r.rcode)
        if r.first_udp is not None:
            how = "udp %d B TC -> %s" % (len(r.first_udp.wire), how)
        if problems:
            failed += 1
            print("FAIL %-22s %s: %s\n     %s" % (t.name, how, "; ".join(problems), t.dig))
        else:
            print("PASS %-22s %s\n     %s" % (t.name, how, t.dig))

    for t in tests(args.zone, big, int(big_n), huge, int(huge_n)):
        do(t)
    follow, note = cookie_followups(args.server, args.port, args.zone, results)
    print("note: %s" % note)
    for t in follow:
        do(t)
    print("%d check(s), %d failed" % (total, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
