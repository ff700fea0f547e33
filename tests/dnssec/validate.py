#!/usr/bin/env python3
"""Validates georoute's signed answers with dnspython, independently of the server's code.

Usage: validate.py HOST PORT DS_TEXT NAME/TYPE...

Fetches the apex DNSKEY (zone = the DS owner), checks that the DS matches it, then asks each
NAME/TYPE with DO over UDP and TCP and validates every RRset of the answer and authority
sections with its RRSIG (dns.dnssec.validate). Prints one line per check; exits 1 on the first
failure, 2 when dnspython or cryptography is missing.
"""
import sys

try:
    import dns.dnssec
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rdatatype
    import dns._features
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(2)
if not dns._features.have("dnssec"):
    need = " ".join(dns._features._requirements.get("dnssec", ["cryptography"]))
    print(f"SKIP: dnspython {dns.version.version} validates DNSSEC only with {need}")
    sys.exit(2)


def ask(host, port, name, rdtype, tcp):
    q = dns.message.make_query(name, rdtype, want_dnssec=True)
    q.flags &= ~dns.flags.RD
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, host, port=port, timeout=5)


def main():
    host, port, ds_text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    owner, _, _, *ds_fields = ds_text.split()  # "zone. IN DS tag alg 2 HEX"
    zone = dns.name.from_text(owner)
    keys = ask(host, port, zone, "DNSKEY", False).find_rrset(
        dns.message.ANSWER, zone, dns.rdataclass.IN, dns.rdatatype.DNSKEY
    )
    made = dns.dnssec.make_ds(zone, keys[0], "SHA256")
    want = " ".join(ds_fields[:3]) + " " + ds_fields[3].lower()
    if made.to_text().lower() != want.lower():
        print(f"FAIL: DS {made} does not match {want}")
        return 1
    print(f"ok DS {made}")
    checked = 0
    for spec in sys.argv[4:]:
        name, rdtype = spec.split("/")
        for tcp in (False, True):
            m = ask(host, port, name, rdtype, tcp)
            for section in (m.answer, m.authority):
                sigs = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.RRSIG:
                        continue
                    sig = sigs.get((rrset.name, rrset.rdtype))
                    if sig is None:
                        print(f"FAIL: {spec}: {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} unsigned")
                        return 1
                    try:
                        dns.dnssec.validate(rrset, sig, {zone: keys})
                    except dns.dnssec.ValidationFailure as e:
                        print(f"FAIL: {spec}: {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: {e}")
                        return 1
                    checked += 1
            print(f"ok {spec} {'tcp' if tcp else 'udp'} rcode {m.rcode()}")
    print(f"validated {checked} RRsets")
    return 0 if checked else 1


sys.exit(main())
