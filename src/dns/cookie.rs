//! DNS COOKIE (RFC 7873) with the interoperable server cookies of RFC 9018: SipHash-2-4 over
//! the client cookie, version, timestamp and client address, keyed by a secret that every
//! instance of a fleet shares (so each accepts the others' cookies), with a previous secret
//! accepted during a rotation.
//!
//! Policy: cookies are never required. A query with only a client cookie, or with a server
//! cookie that is invalid or stale, gets a normal answer carrying a fresh server cookie
//! (RFC 7873 section 5.2.3 and 5.2.4: BADCOOKIE is for servers that enforce cookies). A valid
//! server cookie proves the client's address, so such a client is not rate limited.

use super::wire::Cookie;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::IpAddr;

/// Server cookie version of RFC 9018.
const VERSION: u8 = 1;
/// A server cookie older than this is stale (RFC 9018 section 4.3: one hour).
const MAX_AGE_SECS: u32 = 3600;
/// A server cookie this far in the future is invalid (RFC 9018 section 4.3: five minutes).
const MAX_FUTURE_SECS: u32 = 300;

/// The secrets in use (read from `server.yaml`'s files, or this process's random one): the
/// current one makes cookies; both are accepted.
pub use crate::config::server::CookieSecrets as Secrets;

/// What the query's COOKIE option proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    /// No COOKIE option.
    #[default]
    Absent,
    /// A client cookie, with no server cookie or one that did not verify (bad or stale).
    Unverified,
    /// A server cookie that verified: the client has proved its address.
    Valid,
}

/// Verifies the query's cookie and makes the COOKIE option of the response (client cookie and
/// a fresh server cookie). `now` is seconds since the Unix epoch.
pub fn answer(secrets: &Secrets, cookie: &Cookie, client: IpAddr, now: u32) -> (Check, [u8; 24]) {
    let check = if verify(secrets, cookie, client, now) {
        Check::Valid
    } else {
        Check::Unverified
    };
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&cookie.client);
    out[8..].copy_from_slice(&server_cookie(
        &secrets.current,
        &cookie.client,
        client,
        now,
    ));
    (check, out)
}

/// True when the server cookie is ours (current or previous secret), version 1, and neither
/// stale nor from the future.
fn verify(secrets: &Secrets, cookie: &Cookie, client: IpAddr, now: u32) -> bool {
    let server = cookie.server();
    if server.len() != 16 || server[0] != VERSION || server[1..4] != [0, 0, 0] {
        return false;
    }
    let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
    // Serial number arithmetic (RFC 1982): the timestamp wraps in 2106.
    let age = now.wrapping_sub(stamp);
    let fresh = age <= MAX_AGE_SECS || stamp.wrapping_sub(now) <= MAX_FUTURE_SECS;
    if !fresh {
        return false;
    }
    let hash = &server[8..16];
    let ok = |secret: &[u8; 16]| {
        let expected = hash_of(secret, &cookie.client, &server[..8], client);
        // Constant time: a timing difference must not tell an attacker how much matched.
        expected
            .iter()
            .zip(hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    };
    ok(&secrets.current) || secrets.previous.as_ref().is_some_and(ok)
}

/// A 16-byte server cookie: version, reserved, timestamp, hash (RFC 9018 section 4).
pub fn server_cookie(
    secret: &[u8; 16],
    client_cookie: &[u8; 8],
    client: IpAddr,
    now: u32,
) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0] = VERSION;
    out[4..8].copy_from_slice(&now.to_be_bytes());
    let hash = hash_of(secret, client_cookie, &out[..8], client);
    out[8..].copy_from_slice(&hash);
    out
}

/// SipHash-2-4 of Client Cookie | Version | Reserved | Timestamp | Client-IP.
fn hash_of(secret: &[u8; 16], client_cookie: &[u8; 8], head: &[u8], client: IpAddr) -> [u8; 8] {
    let mut h = SipHasher24::new_with_key(secret);
    h.write(client_cookie);
    h.write(head);
    match client.to_canonical() {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
    // The 64-bit result as the SipHash reference code writes it: little-endian (RFC 9018 A).
    h.finish().to_le_bytes()
}

/// 128 random bits from the operating system: the secret when no secret file is configured.
pub fn random_secret() -> [u8; 16] {
    let mut secret = [0u8; 16];
    // The OS generator failing is not something a DNS server can work around; a fixed secret
    // would let anyone forge cookies, so refuse to continue without one.
    getrandom::fill(&mut secret).expect("the operating system's random generator failed");
    secret
}

/// This process's random secret, made once: the secret in force while no secret file is
/// configured (the same across reloads, new at every start).
pub fn process_secret() -> [u8; 16] {
    static SECRET: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    *SECRET.get_or_init(random_secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::server::parse_secret;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn cookie(client: &str, server: &str) -> Cookie {
        let (c, s) = (hex(client), hex(server));
        let mut k = Cookie {
            client: [0; 8],
            server: [0; 32],
            server_len: s.len() as u8,
        };
        k.client.copy_from_slice(&c);
        k.server[..s.len()].copy_from_slice(&s);
        k
    }

    fn secrets(current: &str) -> Secrets {
        Secrets {
            current: parse_secret(current).unwrap(),
            previous: None,
        }
    }

    /// RFC 9018 appendix A.1: learning a new server cookie.
    #[test]
    fn rfc9018_vector_a1() {
        let s = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf");
        let client = "198.51.100.100".parse().unwrap();
        let made = server_cookie(
            &s.current,
            &hex("2464c4abcf10c957").try_into().unwrap(),
            client,
            1559731985,
        );
        assert_eq!(made.to_vec(), hex("010000005cf79f111f8130c3eee29480"));
        let c = cookie("2464c4abcf10c957", "010000005cf79f111f8130c3eee29480");
        assert_eq!(answer(&s, &c, client, 1559731985 + 10).0, Check::Valid);
    }

    /// RFC 9018 appendix A.2 (the same client, later): a fresh cookie at the new time.
    #[test]
    fn rfc9018_vector_a2() {
        let s = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf");
        let client = "198.51.100.100".parse().unwrap();
        let c = cookie("2464c4abcf10c957", "010000005cf79f111f8130c3eee29480");
        let (check, out) = answer(&s, &c, client, 1559734385);
        assert_eq!(check, Check::Valid);
        assert_eq!(out[8..].to_vec(), hex("010000005cf7a871d4a564a1442aca77"));
    }

    #[test]
    fn stale_future_foreign_and_rotated_cookies() {
        let s = secrets("00112233445566778899aabbccddeeff");
        let client: IpAddr = "2001:db8::1".parse().unwrap();
        let cc = [7u8; 8];
        let at = 1_700_000_000u32;
        let mut c = Cookie {
            client: cc,
            server: [0; 32],
            server_len: 16,
        };
        c.server[..16].copy_from_slice(&server_cookie(&s.current, &cc, client, at));
        assert!(verify(&s, &c, client, at + 3600));
        assert!(!verify(&s, &c, client, at + 3601), "stale after an hour");
        assert!(verify(&s, &c, client, at - 300));
        assert!(!verify(&s, &c, client, at - 301), "too far in the future");
        assert!(
            !verify(&s, &c, "2001:db8::2".parse().unwrap(), at),
            "another address"
        );
        let mut other = c;
        other.client[0] ^= 1;
        assert!(!verify(&s, &other, client, at), "another client cookie");
        let rotated = Secrets {
            current: parse_secret("ffeeddccbbaa99887766554433221100").unwrap(),
            previous: Some(s.current),
        };
        assert!(verify(&rotated, &c, client, at), "previous secret accepted");
        let (_, fresh) = answer(&rotated, &c, client, at);
        assert_ne!(
            fresh[8..],
            c.server[..16],
            "fresh cookies use the current secret"
        );
        assert!(parse_secret("0011").is_err());
        assert!(parse_secret("zz112233445566778899aabbccddeeff").is_err());
    }
}
