//! A zone's signing key: loaded from a PKCS#8 PEM file (ECDSA P-256, algorithm 13, or Ed25519,
//! algorithm 15), its DNSKEY record data, key tag and DS digest, and new keys for `keygen`.
//!
//! All cryptography is ring's; this file only arranges bytes (RFC 4034, RFC 6605, RFC 8080).

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

/// DNSSEC algorithm number of ECDSA P-256 with SHA-256 (RFC 6605).
pub const ECDSAP256SHA256: u8 = 13;
/// DNSSEC algorithm number of Ed25519 (RFC 8080).
pub const ED25519: u8 = 15;
/// DNSKEY flags of a combined signing key: Zone Key and Secure Entry Point.
pub const CSK_FLAGS: u16 = 257;

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A loaded signing key.
pub struct ZoneKey {
    pair: Pair,
    rng: SystemRandom,
    /// The DNSSEC algorithm number.
    pub algorithm: u8,
    /// DNSKEY RDATA: flags 257, protocol 3, algorithm, public key.
    pub dnskey: Vec<u8>,
    /// Key tag (RFC 4034 Appendix B).
    pub key_tag: u16,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("algorithm", &self.algorithm)
            .field("key_tag", &self.key_tag)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// Reads a PKCS#8 PEM key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PKCS#8 \"PRIVATE KEY\" in the file (an \
                \"EC PRIVATE KEY\" converts with `openssl pkcs8 -topk8 -nocrypt`)"
                    .to_string()
            }
            e => format!("not a PEM key: {e}"),
        })?;
        Self::from_pkcs8(der.secret_pkcs8_der())
    }

    /// Reads a PKCS#8 DER key of either algorithm.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let ecdsa =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng);
        let (pair, algorithm, public) = match ecdsa {
            Ok(k) => {
                // The uncompressed point 04 || X || Y; DNSKEY holds X || Y (RFC 6605 section 4).
                let public = k.public_key().as_ref()[1..].to_vec();
                (Pair::Ecdsa(k), ECDSAP256SHA256, public)
            }
            Err(ecdsa_error) => match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                Ok(k) => {
                    let public = k.public_key().as_ref().to_vec();
                    (Pair::Ed25519(k), ED25519, public)
                }
                Err(_) => {
                    return Err(format!(
                        "not an ECDSA P-256 or Ed25519 PKCS#8 key ({ecdsa_error})"
                    ));
                }
            },
        };
        let mut dnskey = CSK_FLAGS.to_be_bytes().to_vec();
        dnskey.push(3);
        dnskey.push(algorithm);
        dnskey.extend_from_slice(&public);
        Ok(Self {
            key_tag: key_tag(&dnskey),
            pair,
            rng,
            algorithm,
            dnskey,
        })
    }

    /// Signs `data` (64 bytes for both algorithms).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        match &self.pair {
            Pair::Ecdsa(k) => k
                .sign(&self.rng, data)
                .map(|s| s.as_ref().to_vec())
                // ring fails only when the system random source does; answer without a
                // signature rather than panic (a validator then treats the answer as bogus).
                .unwrap_or_default(),
            Pair::Ed25519(k) => k.sign(data).as_ref().to_vec(),
        }
    }

    /// The DS digest (SHA-256, digest type 2) for the apex `owner` (canonical wire form).
    pub fn ds_sha256(&self, owner: &[u8]) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(owner);
        ctx.update(&self.dnskey);
        ctx.finish().as_ref().to_vec()
    }

    /// The DNSKEY record as zone-file text.
    pub fn dnskey_text(&self, zone: &str) -> String {
        let public = base64::engine::general_purpose::STANDARD.encode(&self.dnskey[4..]);
        format!(
            "{zone}. IN DNSKEY {CSK_FLAGS} 3 {} {public}",
            self.algorithm
        )
    }

    /// The DS record for the parent zone as zone-file text.
    pub fn ds_text(&self, zone: &str, owner: &[u8]) -> String {
        let digest: String = self
            .ds_sha256(owner)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        format!(
            "{zone}. IN DS {} {} 2 {digest}",
            self.key_tag, self.algorithm
        )
    }
}

/// RFC 4034 Appendix B (every algorithm but RSA/MD5).
pub fn key_tag(dnskey: &[u8]) -> u16 {
    let mut ac: u32 = 0;
    for (i, &b) in dnskey.iter().enumerate() {
        ac += if i & 1 == 0 {
            u32::from(b) << 8
        } else {
            u32::from(b)
        };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

/// A new key as PKCS#8 PEM: `ecdsa-p256` (algorithm 13) or `ed25519` (15). Ed25519 is written
/// as PKCS#8 v1, the form OpenSSL writes and reads (ring's own generator writes v2).
pub fn generate(algorithm: &str) -> Result<String, String> {
    let rng = SystemRandom::new();
    let der = match algorithm {
        "ecdsa-p256" | "13" => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "the system random source failed".to_string())?
                .as_ref()
                .to_vec()
        }
        "ed25519" | "15" => {
            // RFC 8410 section 7: SEQUENCE { version 0, AlgorithmIdentifier id-Ed25519,
            // OCTET STRING { OCTET STRING seed } }.
            const PREFIX: [u8; 16] = [
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            let seed: [u8; 32] = ring::rand::generate(&rng)
                .map_err(|_| "the system random source failed".to_string())?
                .expose();
            [&PREFIX[..], &seed].concat()
        }
        other => {
            return Err(format!(
                "unknown algorithm {other:?}: ecdsa-p256 (13) or ed25519 (15)"
            ));
        }
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8080 section 6.1: the Ed25519 example key (its seed) gives key tag 3613 and this DS.
    #[test]
    fn ed25519_example_of_rfc_8080() {
        let seed = base64::engine::general_purpose::STANDARD
            .decode("ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=")
            .unwrap();
        let prefix = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let key = ZoneKey::from_pkcs8(&[&prefix[..], &seed].concat()).unwrap();
        assert_eq!(key.algorithm, ED25519);
        assert_eq!(key.key_tag, 3613);
        let owner = b"\x07example\x03com\x00";
        assert_eq!(
            key.ds_text("example.com", owner),
            "example.com. IN DS 3613 15 2 \
             3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B"
        );
        assert_eq!(
            key.dnskey_text("example.com"),
            "example.com. IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="
        );
    }

    #[test]
    fn generated_keys_load_with_their_algorithm() {
        for (name, alg) in [("ecdsa-p256", ECDSAP256SHA256), ("ed25519", ED25519)] {
            let pem = generate(name).unwrap();
            let key = ZoneKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(key.algorithm, alg);
            assert_eq!(key.dnskey.len(), 4 + if alg == ED25519 { 32 } else { 64 });
            assert_eq!(key.sign(b"data").len(), 64);
        }
        assert!(generate("rsa").is_err());
        let err = ZoneKey::from_pem(
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.contains("openssl pkcs8"), "{err}");
    }
}
