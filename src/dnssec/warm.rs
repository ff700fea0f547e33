//! The signature warm-up: after a configuration is installed, a background thread signs every
//! RRset the zone can answer that does not depend on the query name being new: every name's
//! A, AAAA and NODATA answers (from outside any view and from inside each view), the apex's
//! SOA, NS and DNSKEY, and the global name's answer for every replica (both TTLs). Afterwards
//! a query needs at most one new signature (the NSEC of a name that does not exist). A zone
//! of more than [`WARM_WHOLE_NAMES`] names warms its apex and global names only (see there):
//! any other name then costs one signature on its first query.
//!
//! It runs the real handler on synthetic queries (TCP size, DO set), so what it signs is
//! exactly what queries get; it only fills the signature cache.

use super::sign::presign;
use crate::config::{Addresses, GlobalAnswer};
use crate::dns::names::{Entry, NameBuf, global_name, write_replica_name};
use crate::dns::wire::{build_dnssec_query, name_text, rtype};
use crate::dns::{Request, Transport, handle};
use crate::state::Serving;
use std::net::IpAddr;
use std::sync::Arc;

const TXT: u16 = 16;

/// What a warm-up did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Warmed {
    /// Queries answered.
    pub queries: usize,
    /// Signatures made (the rest were cached already).
    pub signatures: u64,
}

/// Signs the A and the AAAA RRset of `owner` with `addresses`.
fn presign_addresses(signing: &super::Signing, owner: &[u8], ttl: u32, addresses: &Addresses) {
    let v4: Vec<[u8; 4]> = addresses.v4.iter().map(|ip| ip.octets()).collect();
    let v6: Vec<[u8; 16]> = addresses.v6.iter().map(|ip| ip.octets()).collect();
    let v4: Vec<&[u8]> = v4.iter().map(|o| &o[..]).collect();
    let v6: Vec<&[u8]> = v6.iter().map(|o| &o[..]).collect();
    presign(signing, owner, rtype::A, ttl, &v4);
    presign(signing, owner, rtype::AAAA, ttl, &v6);
}

/// A signed zone of at most this many names is warmed whole. A larger one warms its apex and
/// its global names, the names answered most, with every answer they can give (each replica's
/// CNAME or addresses at both TTLs, and each CNAME target's addresses); any other name is
/// signed on its first query, one signature (its RRset, or the NSEC of its NODATA answer).
/// So the warm-up grows with the registries, not with names times types times views.
pub const WARM_WHOLE_NAMES: usize = 100_000;

/// Signs ahead what the serving state's signed zones answer; returns what it did.
pub fn warm(serving: &Serving) -> Warmed {
    warm_with(serving, WARM_WHOLE_NAMES)
}

/// The number of names of a zone, counted from its registries (without listing them).
fn name_count(zone: &crate::config::Zone) -> usize {
    let per = |r: &std::sync::Arc<crate::config::Registry>| {
        1 + r.replicas.len() * (usize::from(r.regional_endpoints) + usize::from(r.data_endpoints))
    };
    1 + zone.nameservers.len() + zone.registries.iter().map(per).sum::<usize>()
}

/// [`warm`], warming zones of at most `whole` names whole.
pub fn warm_with(serving: &Serving, whole: usize) -> Warmed {
    let (snap, health) = (&serving.snapshot, &serving.health);
    let before = super::sign::signatures_made();
    let mut out = Warmed::default();
    let mut buf = Vec::with_capacity(4096);
    let secrets = crate::dns::cookie::Secrets {
        current: [0; 16],
        previous: None,
    };
    // Room in the signature cache for everything about to be signed (an upper bound).
    let estimate: usize = snap
        .config
        .zones
        .iter()
        .enumerate()
        .filter(|(z, _)| snap.zones[*z].signing.is_some())
        .map(|(_, zone)| {
            let replicas: usize = zone.registries.iter().map(|r| r.replicas.len()).sum();
            let names = match name_count(zone) {
                n if n <= whole => n,
                _ => zone.registries.len() + replicas,
            };
            names * 3 * (1 + zone.views.len()) + replicas * 4 + 8
        })
        .sum();
    super::cache::reserve(estimate);
    for (z, zone) in snap.config.zones.iter().enumerate() {
        let Some(signing) = snap.zones[z].signing.as_deref() else {
            continue;
        };
        // Sources: outside every view (documentation address), and one inside each view.
        let mut sources: Vec<IpAddr> = vec![IpAddr::from([192, 0, 2, 1])];
        sources.extend(
            zone.views
                .iter()
                .filter_map(|v| v.clients.first())
                .map(|n| n.network()),
        );
        let zone_names = &snap.names.zones[z];
        let large = name_count(zone) > whole;
        let names: Vec<(Vec<u8>, Entry)> = if large {
            let registries = zone.registries.iter().enumerate();
            std::iter::once((zone_names.apex.clone(), Entry::Apex))
                .chain(registries.map(|(registry, reg)| {
                    (
                        global_name(reg, &zone_names.apex),
                        Entry::Global { registry },
                    )
                }))
                .collect()
        } else {
            snap.names.names_of(&snap.config, z)
        };
        for (name, entry) in &names {
            // TXT stands for any type that is not there: its NODATA answer.
            let mut qtypes = vec![rtype::A, rtype::AAAA, TXT];
            if *entry == Entry::Apex {
                qtypes.extend([rtype::SOA, rtype::NS, rtype::DNSKEY]);
            }
            for &qtype in &qtypes {
                let packet = build_dnssec_query(&name_text(name), qtype, None);
                for &source in &sources {
                    let request = Request {
                        packet: &packet,
                        source,
                        transport: Transport::Tcp,
                        now_ms: crate::clock::unix_now_ms(),
                    };
                    handle(snap, health, &secrets, &request, &mut buf);
                    out.queries += 1;
                }
            }
        }
        // The global name's answer for every replica, at both TTLs (and, in a large zone,
        // where the regional names are not warmed, each CNAME target's addresses).
        let mut target: NameBuf = [0; 512];
        for reg in &zone.registries {
            let global = global_name(reg, &zone_names.apex);
            for (i, rep) in reg.replicas.iter().enumerate() {
                match reg.global_answer {
                    GlobalAnswer::Cname => {
                        let target =
                            write_replica_name(&mut target, reg, i, b"geo", &zone_names.apex);
                        for ttl in [reg.ttl_global, reg.ttl_suspect] {
                            presign(signing, &global, rtype::CNAME, ttl, &[target]);
                        }
                        if large {
                            presign_addresses(signing, target, reg.ttl_regional, &rep.addresses);
                        }
                    }
                    GlobalAnswer::Address => {
                        for ttl in [reg.ttl_global, reg.ttl_suspect] {
                            presign_addresses(signing, &global, ttl, &rep.addresses);
                        }
                    }
                }
            }
        }
    }
    out.signatures = super::sign::signatures_made() - before;
    out
}

/// Warms in a background thread (signing takes ~20 µs per RRset; a large zone takes seconds).
pub fn spawn(serving: Arc<Serving>) {
    if !serving.snapshot.zones.iter().any(|z| z.signing.is_some()) {
        return;
    }
    let started = std::thread::Builder::new()
        .name("georoute-dnssec-warm".into())
        .spawn(move || {
            let t = std::time::Instant::now();
            let w = warm(&serving);
            tracing::info!(
                target: "georoute::dnssec",
                queries = w.queries, signatures = w.signatures, ms = t.elapsed().as_millis() as u64,
                "signatures warmed"
            );
        });
    if let Err(e) = started {
        tracing::warn!(target: "georoute::dnssec", error = %e, "cannot start the signature warm-up");
    }
}
