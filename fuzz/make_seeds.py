#!/usr/bin/env python3
"""Writes the seed corpus of the `query_path` fuzz target into fuzz/seeds/query_path/.

Each seed is 4 control bytes (see fuzz_targets/query_path.rs) followed by a DNS message built
with dnspython (or by hand, for the malformed ones). Run from anywhere:

    python3 fuzz/make_seeds.py        # needs dnspython (apt: python3-dnspython, pip: dnspython)

The server cookie seed is valid: it is made with the target's secret at its base time, with
SipHash-2-4 as RFC 9018 specifies (implemented below, checked against RFC 9018 appendix A.1).
"""

import ipaddress
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds", "query_path")

BASE_TIME = 1_700_000_000  # BASE_TIME in the target
SECRET = b"georoute-fuzzing"  # SECRET in the target

# Control byte 0: source (bits 0-1), TCP (bit 2), IPv4-mapped (bit 3).
LOOPBACK, VIEW, SYDNEY, V6 = 0, 1, 2, 3
TCP = 4
SOURCE_IP = {LOOPBACK: "127.0.0.1", VIEW: "10.1.2.3", SYDNEY: "192.0.2.1", V6: "2001:db8::1"}

ZONE = "azurecr.io."
GLOBAL = "myregistry.azurecr.io."


def siphash24(key: bytes, msg: bytes) -> int:
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    k0, k1 = struct.unpack("<QQ", key)
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(n):
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & mask
            v1 = rotl(v1, 13) ^ v0
            v0 = rotl(v0, 32)
            v2 = (v2 + v3) & mask
            v3 = rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & mask
            v3 = rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & mask
            v1 = rotl(v1, 17) ^ v2
            v2 = rotl(v2, 32)

    tail = len(msg) % 8
    for (m,) in struct.iter_unpack("<Q", msg[: len(msg) - tail]):
        v3 ^= m
        rounds(2)
        v0 ^= m
    last = (len(msg) & 0xFF) << 56
    for i, b in enumerate(msg[len(msg) - tail :]):
        last |= b << (8 * i)
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def server_cookie(secret: bytes, client_cookie: bytes, client_ip: str, now: int) -> bytes:
    head = bytes([1, 0, 0, 0]) + struct.pack(">I", now)
    ip = ipaddress.ip_address(client_ip).packed
    return head + struct.pack("<Q", siphash24(secret, client_cookie + head + ip))


# RFC 9018 appendix A.1.
assert server_cookie(
    bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf"),
    bytes.fromhex("2464c4abcf10c957"),
    "198.51.100.100",
    1559731985,
) == bytes.fromhex("010000005cf79f111f8130c3eee29480")


def query(name, rdtype="A", rdclass="IN", edns=None, payload=1232, ecs=None, cookie=None,
          do=False, version=0, qid=0x4242, rd=False, cd=False):
    m = dns.message.make_query(name, rdtype, rdclass)
    m.id = qid
    if not rd:
        m.flags &= ~dns.flags.RD
    if cd:
        m.flags |= dns.flags.CD
    options = []
    if ecs is not None:
        addr, prefix = ecs.split("/")
        options.append(dns.edns.ECSOption(addr, int(prefix), 0))
    if cookie is not None:
        options.append(dns.edns.GenericOption(10, cookie))
    if edns is not None or options or do or version:
        m.use_edns(version, dns.flags.DO if do else 0, payload, options=options)
    return m.to_wire()


def header(qid=0x4242, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def opt(payload=1232, options=b"", ttl=0):
    return b"\x00" + struct.pack(">HHIH", 41, payload, ttl, len(options)) + options


def option(code, data):
    return struct.pack(">HH", code, len(data)) + data


SEEDS = {}


def seed(name, packet, source=LOOPBACK, health=0, time=0):
    SEEDS[name] = bytes([source, health]) + struct.pack(">H", time) + packet


# The global name, from everywhere, with and without ECS.
seed("global-a", query(GLOBAL))
seed("global-aaaa", query(GLOBAL, "AAAA"))
seed("global-a-tcp", query(GLOBAL), source=LOOPBACK | TCP)
seed("global-a-edns", query(GLOBAL, edns=True))
seed("global-a-ecs-sydney", query(GLOBAL, ecs="192.0.2.0/24"))
seed("global-a-ecs-override", query(GLOBAL, ecs="198.51.100.0/24"))
seed("global-a-ecs-tokyo", query(GLOBAL, ecs="203.0.113.0/24"))
seed("global-a-ecs-seattle", query(GLOBAL, ecs="216.160.83.0/24"))
seed("global-a-ecs-zero", query(GLOBAL, ecs="0.0.0.0/0"))
seed("global-a-ecs-20", query(GLOBAL, ecs="192.0.0.0/20"))
seed("global-aaaa-ecs-v6", query(GLOBAL, "AAAA", ecs="2001:db8::/56"), source=V6)
seed("global-a-sydney-source", query(GLOBAL), source=SYDNEY)
seed("global-a-view", query(GLOBAL), source=VIEW)
seed("global-a-view-ecs", query(GLOBAL, ecs="10.1.9.0/24"), source=VIEW)
seed("global-a-mapped", query(GLOBAL), source=SYDNEY | 8)
seed("global-a-unhealthy", query(GLOBAL, ecs="192.0.2.0/24"), health=0b100000)
seed("global-a-all-down", query(GLOBAL), health=0b111111)
seed("global-a-region-down", query(GLOBAL), health=0x40)
seed("global-cname", query(GLOBAL, "CNAME"))
seed("global-any", query(GLOBAL, "ANY"))
seed("global-mixed-case", query("MyReGiStRy.AzureCR.IO."))
seed("global-mx", query(GLOBAL, "MX"))

# Regional and data names.
seed("regional-a", query("myregistry.eastus.geo.azurecr.io."))
seed("regional-aaaa", query("myregistry.australiaeast.geo.azurecr.io.", "AAAA"))
seed("regional-view", query("myregistry.westeurope.geo.azurecr.io."), source=VIEW)
seed("data-a", query("myregistry.westeurope.data.azurecr.io."))
seed("data-aaaa-v6", query("myregistry.eastus.data.azurecr.io.", "AAAA"), source=V6)
seed("data-view", query("myregistry.eastus2.data.azurecr.io."), source=VIEW | TCP)

# The apex, the name server, empty non-terminals, NXDOMAIN, out of zone.
seed("apex-soa", query(ZONE, "SOA"))
seed("apex-ns", query(ZONE, "NS", edns=True))
seed("apex-ns-512", query(ZONE, "NS", edns=True, payload=512))
seed("apex-any", query(ZONE, "ANY"))
seed("apex-a", query(ZONE, "A"))
seed("ns1-a", query("ns1.azurecr.io.", "A"))
seed("ent-geo", query("geo.azurecr.io.", "A"))
seed("ent-region", query("eastus.geo.azurecr.io.", "AAAA"))
seed("nxdomain", query("nope.azurecr.io."))
seed("nxdomain-deep", query("a.b.c.myregistry.azurecr.io.", "AAAA", edns=True))
seed("out-of-zone", query("example.com."))
seed("root", query(".", "NS"))
seed("parent", query("io.", "SOA"))

# EDNS: cookies, DO, version, payload sizes.
CLIENT_COOKIE = bytes.fromhex("0102030405060708")
seed("cookie-client", query(GLOBAL, cookie=CLIENT_COOKIE))
good = CLIENT_COOKIE + server_cookie(SECRET, CLIENT_COOKIE, SOURCE_IP[LOOPBACK], BASE_TIME)
seed("cookie-valid", query(GLOBAL, cookie=good), time=10)
seed("cookie-stale", query(GLOBAL, cookie=good), time=3700)
seed("cookie-bad", query(GLOBAL, cookie=CLIENT_COOKIE + bytes(16)))
seed("cookie-32", query(GLOBAL, cookie=CLIENT_COOKIE + bytes(32)))
seed("cookie-ecs", query(GLOBAL, cookie=CLIENT_COOKIE, ecs="192.0.2.0/24"))
seed("do-bit", query(GLOBAL, do=True))
seed("edns-version-1", query(GLOBAL, version=1))
seed("edns-payload-4096", query(ZONE, "ANY", payload=4096, edns=True))
seed("edns-payload-100", query(GLOBAL, payload=100, edns=True))
seed("rd-cd", query(GLOBAL, rd=True, cd=True))

# Transfers, other classes, other opcodes.
seed("axfr", query(ZONE, "AXFR"), source=LOOPBACK | TCP)
seed("ixfr", query(ZONE, "IXFR"))
seed("class-ch", query("version.bind.", "TXT", "CH"))
seed("class-any", query(ZONE, "SOA", "ANY"))
seed("opcode-notify", header(flags=0x2000) + qname(ZONE) + b"\x00\x06\x00\x01")
seed("opcode-update", header(flags=0x2800, qd=1) + qname(ZONE) + b"\x00\x06\x00\x01")

# Malformed.
seed("short-header", header()[:8])
seed("header-only", header(qd=0))
seed("response-bit", header(flags=0x8000) + qname(GLOBAL) + b"\x00\x01\x00\x01")
seed("qdcount-2", header(qd=2) + (qname(GLOBAL) + b"\x00\x01\x00\x01") * 2)
seed("qdcount-65535", header(qd=65535) + qname(GLOBAL) + b"\x00\x01\x00\x01")
seed("question-pointer", header() + b"\x0amyregistry\xc0\x0c\x00\x01\x00\x01")
seed("question-truncated", header() + qname(GLOBAL)[:7])
seed("question-no-type", header() + qname(GLOBAL) + b"\x00")
seed("label-64", header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01")
seed("name-256", header() + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63
     + b"\x3e" + b"d" * 62 + b"\x00\x00\x01\x00\x01")
seed("ancount-no-data", header(an=65535) + qname(GLOBAL) + b"\x00\x01\x00\x01")
seed("two-opts", header(ar=2) + qname(GLOBAL) + b"\x00\x01\x00\x01" + opt() + opt())
seed("opt-not-root", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01" + b"\x01x" + opt())
seed("opt-rdata-short", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01" + opt()[:-2] + b"\x00\x08")
seed("opt-option-past-end", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=struct.pack(">HH", 8, 40) + b"\x00\x01\x18\x00"))
seed("ecs-family-3", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=option(8, b"\x00\x03\x18\x00\xc0\x00\x02")))
seed("ecs-prefix-33", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=option(8, b"\x00\x01\x21\x00\xc0\x00\x02\x00\x00")))
seed("ecs-extra-bytes", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=option(8, b"\x00\x01\x18\x00\xc0\x00\x02\x00")))
seed("ecs-bits-beyond", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=option(8, b"\x00\x01\x17\x00\xc0\x00\x03")))
seed("ecs-twice", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + opt(options=option(8, b"\x00\x01\x18\x00\xc0\x00\x02") * 2))
seed("cookie-7", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01" + opt(options=option(10, b"x" * 7)))
seed("cookie-41", header(ar=1) + qname(GLOBAL) + b"\x00\x01\x00\x01" + opt(options=option(10, b"x" * 41)))
seed("record-pointer-loop", header(an=1) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + b"\xc0\x27\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00")
seed("trailing-garbage", query(GLOBAL, edns=True) + b"\xde\xad\xbe\xef")
seed("other-additional", header(ar=2) + qname(GLOBAL) + b"\x00\x01\x00\x01"
     + b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x00\x00\x02\x01x" + opt())


def main():
    os.makedirs(OUT, exist_ok=True)
    # Written over in place; other files there (regression inputs) are kept.
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
