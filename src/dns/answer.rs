//! The records of each kind of name, negative answers and TTLs.

use super::global;
use super::names::{Entry, NameBuf, write_replica_name};
use super::wire::{Response, rcode, rtype};
use crate::config::{Addresses, GlobalAnswer, Registry, Zone};
use crate::health::HealthState;
use crate::state::Snapshot;
use crate::view::ViewMatch;
use std::net::IpAddr;

/// Everything an answer depends on.
pub struct Context<'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    /// Health.
    pub health: &'a HealthState,
    /// Zone of the name.
    pub zone_index: usize,
    /// The name as asked (wire format, original case).
    pub qname: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// The client's view.
    pub view: Option<ViewMatch<'a>>,
    /// Address used for location and hashing.
    pub client: IpAddr,
    /// Now (Unix ms), for the failback ramp.
    pub now_ms: u64,
}

/// The result of answering.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// RCODE.
    pub rcode: u16,
    /// NXDOMAIN or NODATA: the SOA goes into the authority section.
    pub negative: bool,
    /// ECS scope prefix.
    pub scope: u8,
    /// The global name's chosen (registry, replica), for the metrics.
    pub chosen: Option<(usize, usize)>,
    /// The chosen replica's region (catalogue index), for the metrics.
    pub chosen_region: Option<usize>,
    /// The chosen replica was suspect.
    pub suspect: bool,
    /// What a failback ramp did.
    pub ramp: crate::route::Ramp,
    /// For NODATA: the types that exist at the name without data ([`crate::dnssec::types`]),
    /// for a signed zone's NSEC bitmap.
    pub types: u8,
}

impl Outcome {
    fn positive(scope: u8) -> Self {
        Self {
            rcode: rcode::NOERROR,
            negative: false,
            scope,
            chosen: None,
            chosen_region: None,
            suspect: false,
            ramp: crate::route::Ramp::None,
            types: 0,
        }
    }

    /// A negative answer.
    pub fn negative(rcode: u16, scope: u8) -> Self {
        Self {
            rcode,
            negative: true,
            scope,
            chosen: None,
            chosen_region: None,
            suspect: false,
            ramp: crate::route::Ramp::None,
            types: 0,
        }
    }

    fn with_types(mut self, types: u8) -> Self {
        self.types = types;
        self
    }

    fn chose(mut self, registry: usize, region: usize, d: &crate::route::Decision) -> Self {
        self.chosen = Some((registry, d.replica));
        self.chosen_region = Some(region);
        self.suspect = d.suspect;
        self.ramp = d.ramp;
        self
    }
}

impl Context<'_> {
    fn zone(&self) -> &Zone {
        &self.snap.config.zones[self.zone_index]
    }

    /// The zone's signing state, when it is signed.
    fn signing(&self) -> Option<&crate::dnssec::Signing> {
        self.snap.zones[self.zone_index].signing.as_deref()
    }
}

/// Writes the answer for an existing name.
pub fn write(ctx: &Context<'_>, entry: Entry, r: &mut Response<'_>) -> Outcome {
    let zone = ctx.zone();
    match entry {
        Entry::Apex => apex(ctx, r),
        Entry::Empty => Outcome::negative(rcode::NOERROR, 0),
        Entry::Host { nameserver } => {
            let ns = &zone.nameservers[nameserver];
            addresses(ctx, r, ctx.qname, zone.ttl, &ns.addresses, 0)
        }
        Entry::Regional { registry, replica } => replica_name(ctx, r, registry, replica, false),
        Entry::Data { registry, replica } => replica_name(ctx, r, registry, replica, true),
        Entry::Global { registry } => global_name(ctx, r, registry),
    }
}

/// A replica's regional (or data) name: its public addresses, or the view's private one.
fn replica_name(
    ctx: &Context<'_>,
    r: &mut Response<'_>,
    registry: usize,
    replica: usize,
    data: bool,
) -> Outcome {
    let reg = &ctx.zone().registries[registry];
    let private = ctx.view.map(|v| {
        let vr = v.view.registries.get(&reg.name);
        let map = vr.map(|vr| if data { &vr.data } else { &vr.regional });
        map.and_then(|m| m.get(&replica).copied())
    });
    let rep = &reg.replicas[replica];
    if data {
        static_name(ctx, r, reg.ttl_data, private, &rep.data_addresses)
    } else {
        static_name(ctx, r, reg.ttl_regional, private, &rep.addresses)
    }
}

/// Answers a regional or data name: private inside a view (with the view's fallback rule).
fn static_name(
    ctx: &Context<'_>,
    r: &mut Response<'_>,
    ttl: u32,
    private: Option<Option<IpAddr>>,
    public: &Addresses,
) -> Outcome {
    match private {
        None => addresses(ctx, r, ctx.qname, ttl, public, 0),
        Some(Some(ip)) => addresses(ctx, r, ctx.qname, ttl, &Addresses::from_ips([ip]), 0),
        Some(None) if ctx.view.is_some_and(|v| v.view.fallback_public) => {
            addresses(ctx, r, ctx.qname, ttl, public, 0)
        }
        Some(None) => Outcome::negative(rcode::NXDOMAIN, 0),
    }
}

fn apex(ctx: &Context<'_>, r: &mut Response<'_>) -> Outcome {
    let zone = ctx.zone();
    let names = &ctx.snap.names.zones[ctx.zone_index];
    match ctx.qtype {
        rtype::SOA | rtype::ANY => {
            write_soa(ctx, r, ctx.qname, zone.ttl);
            Outcome::positive(0)
        }
        rtype::DNSKEY if ctx.signing().is_some() => {
            if let Some(signing) = ctx.signing() {
                r.raw_record(ctx.qname, rtype::DNSKEY, zone.ttl, &signing.key.dnskey);
            }
            Outcome::positive(0)
        }
        rtype::NS => {
            for ns in &names.nameservers {
                r.name_record(ctx.qname, rtype::NS, zone.ttl, ns);
            }
            r.section(2);
            for (ns, wire) in zone.nameservers.iter().zip(&names.nameservers) {
                if crate::config::is_within(&ns.name, &zone.name) {
                    for ip in all(&ns.addresses) {
                        r.address(wire, zone.ttl, ip);
                    }
                }
            }
            Outcome::positive(0)
        }
        _ => {
            use crate::dnssec::types as t;
            let key = if ctx.signing().is_some() {
                t::DNSKEY
            } else {
                0
            };
            Outcome::negative(rcode::NOERROR, 0).with_types(t::NS | t::SOA | key)
        }
    }
}

/// The address types of an address set.
fn types_of(a: &Addresses) -> u8 {
    use crate::dnssec::types as t;
    let v4 = if a.v4.is_empty() { 0 } else { t::A };
    let v6 = if a.v6.is_empty() { 0 } else { t::AAAA };
    v4 | v6
}

fn write_soa(ctx: &Context<'_>, r: &mut Response<'_>, owner: &[u8], ttl: u32) {
    let soa = &ctx.zone().soa;
    let names = &ctx.snap.names.zones[ctx.zone_index];
    r.soa(
        owner,
        ttl,
        &names.mname,
        &names.rname,
        [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum],
    );
}

/// Writes the SOA into the authority section with the negative TTL of RFC 2308.
pub fn write_negative_soa(ctx: &Context<'_>, r: &mut Response<'_>) {
    let zone = ctx.zone();
    let names = &ctx.snap.names.zones[ctx.zone_index];
    r.section(1);
    write_soa(ctx, r, &names.apex, zone.ttl.min(zone.soa.minimum));
}

fn all(a: &Addresses) -> impl Iterator<Item = IpAddr> + '_ {
    a.v4.iter()
        .map(|&v| IpAddr::V4(v))
        .chain(a.v6.iter().map(|&v| IpAddr::V6(v)))
}

/// A/AAAA (or a minimal ANY) for `owner`; NODATA for other types or when none exist.
fn addresses(
    ctx: &Context<'_>,
    r: &mut Response<'_>,
    owner: &[u8],
    ttl: u32,
    a: &Addresses,
    scope: u8,
) -> Outcome {
    if write_addresses(r, ctx.qtype, owner, ttl, a) {
        Outcome::positive(scope)
    } else {
        Outcome::negative(rcode::NOERROR, scope).with_types(types_of(a))
    }
}

/// Writes the records of `qtype` (ANY: the A set, or the AAAA set when there is no A).
/// Returns false when nothing was written.
fn write_addresses(
    r: &mut Response<'_>,
    qtype: u16,
    owner: &[u8],
    ttl: u32,
    a: &Addresses,
) -> bool {
    let want_v4 = qtype == rtype::A || (qtype == rtype::ANY && !a.v4.is_empty());
    let want_v6 = qtype == rtype::AAAA || (qtype == rtype::ANY && a.v4.is_empty());
    let mut wrote = false;
    if want_v4 {
        for &ip in &a.v4 {
            r.address(owner, ttl, IpAddr::V4(ip));
            wrote = true;
        }
    }
    if want_v6 {
        for &ip in &a.v6 {
            r.address(owner, ttl, IpAddr::V6(ip));
            wrote = true;
        }
    }
    wrote
}

fn global_name(ctx: &Context<'_>, r: &mut Response<'_>, registry: usize) -> Outcome {
    let zone = ctx.zone();
    let reg: &Registry = &zone.registries[registry];
    let view_reg = ctx.view.map(|v| (v, v.view.registries.get(&reg.name)));
    if let Some((v, vr)) = view_reg
        && v.view.pinned
    {
        return match vr.and_then(|vr| vr.global) {
            Some(ip) => addresses(
                ctx,
                r,
                ctx.qname,
                reg.ttl_global,
                &Addresses::from_ips([ip]),
                v.scope,
            ),
            None if v.view.fallback_public => public_global(ctx, r, registry, None),
            None => Outcome::negative(rcode::NXDOMAIN, v.scope),
        };
    }
    public_global(ctx, r, registry, view_reg)
}

/// Routes the global name and writes the chosen replica (private address inside a view).
fn public_global(
    ctx: &Context<'_>,
    r: &mut Response<'_>,
    registry: usize,
    view_reg: Option<(ViewMatch<'_>, Option<&crate::config::ViewRegistry>)>,
) -> Outcome {
    let zone = ctx.zone();
    let reg = &zone.registries[registry];
    let route = global::route_global(
        ctx.snap,
        ctx.health,
        ctx.zone_index,
        registry,
        ctx.client,
        view_reg.map(|(v, _)| v),
        ctx.now_ms,
    );
    let Some(decision) = route.decision else {
        return Outcome::negative(rcode::NOERROR, route.scope);
    };
    let replica = decision.replica;
    // A suspect replica may be declared down soon: resolvers should ask again within seconds.
    let ttl_global = match decision.suspect {
        true => reg.ttl_suspect,
        false => reg.ttl_global,
    };
    let private;
    let target_addresses = match view_reg {
        None => &reg.replicas[replica].addresses,
        Some((v, vr)) => match vr.and_then(|vr| vr.regional.get(&replica)) {
            Some(&ip) => {
                private = Addresses::from_ips([ip]);
                &private
            }
            None if v.view.fallback_public => &reg.replicas[replica].addresses,
            None => return Outcome::negative(rcode::NXDOMAIN, route.scope),
        },
    };
    let outcome = match reg.global_answer {
        GlobalAnswer::Address => {
            addresses(ctx, r, ctx.qname, ttl_global, target_addresses, route.scope)
        }
        GlobalAnswer::Cname => {
            let names = &ctx.snap.names.zones[ctx.zone_index];
            let mut buf: NameBuf = [0; 512];
            let target = write_replica_name(&mut buf, reg, replica, b"geo", &names.apex);
            // The question (at offset 12) is the global name: the registry's label, then the
            // apex, which the regional target ends with too.
            let apex_at = 12 + ctx.qname.len() - names.apex.len();
            r.name_record_with_tail(
                ctx.qname,
                rtype::CNAME,
                ttl_global,
                target,
                (names.apex.len(), apex_at),
            );
            let only_alias = ctx.qtype == rtype::CNAME || ctx.qtype == rtype::ANY;
            if only_alias
                || write_addresses(r, ctx.qtype, target, reg.ttl_regional, target_addresses)
            {
                Outcome::positive(route.scope)
            } else {
                // The alias exists; its target has no record of this type (RFC 2308 NODATA).
                Outcome::negative(rcode::NOERROR, route.scope)
                    .with_types(types_of(target_addresses))
            }
        }
    };
    outcome.chose(registry, reg.replicas[replica].region_index, &decision)
}
