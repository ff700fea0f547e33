//! Checks one zone file against every rule of docs/configuration.md and builds the runtime Zone.

use super::error::{ConfigError, Problems};
use super::spec::{
    GlobalAnswerSpec, RegistrySpec, SpannedText, ViewRegistrySpec, ViewSpec, ZoneFile,
};
use super::values::{cidr, is_label, parse_net};
use super::{
    Addresses, DnssecSettings, FileStamp, GlobalAnswer, NameServer, ProbePolicy, RegionCatalog,
    RegionUse, Registry, RegistryIndex, Replica, Routing, Soa, View, ViewRegistry, Zone,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest TTL accepted anywhere (one day).
pub const MAX_TTL: u32 = 86_400;

/// The registries of a zone's `<zone>.d/*.yaml` files, a file each, in name order.
pub type Parts = Vec<Part>;

/// The registries of one file, validated (now, or by an earlier load of the same content with
/// the same region catalogue and probe policies), and the regions they use.
pub struct Part {
    /// The file.
    pub path: PathBuf,
    /// Its identity and content hash as read.
    pub stamp: FileStamp,
    /// Its registries.
    pub registries: Vec<Arc<Registry>>,
    /// The regions they have names in.
    pub uses: RegionUse,
}

/// Checks the registries of one file (reporting at `path`), in order; a registry with a
/// problem is left out, the problem recorded.
pub fn build_registries(
    path: &std::path::Path,
    specs: Vec<RegistrySpec>,
    regions: &RegionCatalog,
    policies: &BTreeMap<String, ProbePolicy>,
    found: &mut Vec<ConfigError>,
) -> (Vec<Arc<Registry>>, RegionUse) {
    let mut q = Problems::new(path, found);
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let at = spec.name.referenced;
        if let Some(mut r) = build_registry(spec, regions, policies, &mut q) {
            r.at = (at.line() as u32, at.column() as u32);
            out.push(Arc::new(r));
        }
    }
    let uses = RegionUse::of(&out, regions.regions.len());
    (out, uses)
}

/// Checks a zone file and its part files; returns the zone only when none of them had a
/// problem.
pub fn build_zone(
    dir: &std::path::Path,
    file: ZoneFile,
    zone_stamp: FileStamp,
    parts: Parts,
    regions: &RegionCatalog,
    policies: &BTreeMap<String, ProbePolicy>,
    p: &mut Problems<'_>,
) -> Option<Zone> {
    let before = p.found.len();
    let zone = dns_name(&file.zone, p);
    ttl(&file.ttl, p, "ttl");
    ttl(&file.soa.minimum, p, "soa.minimum");
    let soa = Soa {
        mname: dns_name(&file.soa.mname, p),
        rname: dns_name(&file.soa.rname, p),
        serial: file.soa.serial,
        refresh: file.soa.refresh,
        retry: file.soa.retry,
        expire: file.soa.expire,
        minimum: file.soa.minimum.value,
    };
    if file.nameservers.is_empty() {
        p.at(&file.zone, "a zone needs at least one name server");
    }
    let mut nameservers = Vec::new();
    for ns in &file.nameservers {
        let name = dns_name(&ns.name, p);
        let addresses = addresses(&ns.addresses, p);
        if is_within(&name, &zone) && addresses.is_empty() {
            p.at(
                &ns.name,
                "a name server inside the zone needs addresses (glue)",
            );
        }
        nameservers.push(NameServer { name, addresses });
    }

    // The zone file's registries, then each part file's, every problem at its own file.
    let path = p.path().to_path_buf();
    let (own, uses) = build_registries(&path, file.registries, regions, policies, p.found);
    let zone_part = Part {
        path,
        stamp: zone_stamp,
        registries: own,
        uses,
    };
    let mut files = Vec::with_capacity(parts.len() + 1);
    let mut spans = Vec::with_capacity(parts.len() + 1);
    let mut stamps = Vec::with_capacity(parts.len() + 1);
    let mut uses = Vec::with_capacity(parts.len() + 1);
    let mut registries: Vec<Arc<Registry>> =
        Vec::with_capacity(parts.iter().map(|p| p.registries.len()).sum());
    for part in std::iter::once(zone_part).chain(parts) {
        let start = registries.len() as u32;
        registries.extend(part.registries);
        spans.push(start..registries.len() as u32);
        files.push(part.path);
        stamps.push(part.stamp);
        uses.push(part.uses);
    }
    let (index, duplicates) = RegistryIndex::build(&registries);
    let file_of = |r: usize| files[super::file_of(&spans, r)].as_path();
    for (later, first) in duplicates {
        let (a, b) = (&registries[later], &registries[first]);
        let place = if file_of(later) == file_of(first) {
            format!("line {}", b.at.0)
        } else {
            format!("{}:{}:{}", file_of(first).display(), b.at.0, b.at.1)
        };
        p.found.push(ConfigError::at(
            file_of(later),
            a.at.0.into(),
            a.at.1.into(),
            format!("registry {} is defined twice (first at {place})", a.name),
        ));
    }
    if let Some(over) = registries.get(super::MAX_REGISTRIES_PER_ZONE) {
        p.found.push(ConfigError::at(
            file_of(super::MAX_REGISTRIES_PER_ZONE),
            over.at.0.into(),
            over.at.1.into(),
            format!(
                "zone {zone} has more than {} registries, the most one zone holds",
                super::MAX_REGISTRIES_PER_ZONE
            ),
        ));
    }
    let mut views = Vec::new();
    let mut view_clients = Vec::new();
    for spec in file.views {
        let clients = spec.clients.clone();
        if let Some(v) = build_view(spec, &registries, &index, regions, p) {
            views.push(v);
            view_clients.push(clients);
        }
    }
    check_view_overlap(&views, &view_clients, p);
    let dnssec = file.dnssec.and_then(|d| signing(dir, &d, p));
    (p.found.len() == before).then_some(Zone {
        dnssec,
        files,
        spans,
        stamps,
        uses,
        index,
        name: zone,
        ttl: file.ttl.value,
        soa,
        nameservers,
        registries,
        views,
    })
}

/// Longest signature validity accepted (RFC 4034 timestamps wrap after 68 years; resolvers
/// dislike very long ones).
const MAX_VALIDITY_S: u64 = 90 * 86_400;

/// Reads and checks a zone's key; problems are reported at `key_file` and
/// `signature_validity`.
fn signing(
    dir: &std::path::Path,
    spec: &super::spec::DnssecSpec,
    p: &mut Problems<'_>,
) -> Option<DnssecSettings> {
    let validity = super::values::parse_duration(&spec.signature_validity.value)
        .map(|d| d.as_secs())
        .filter(|s| (3 * 3600..=MAX_VALIDITY_S).contains(s));
    if validity.is_none() {
        p.at(
            &spec.signature_validity,
            format!(
                "signature_validity {:?} is not a duration from 3h to 90d (such as 7d)",
                spec.signature_validity.value
            ),
        );
    }
    let path = dir.join(&spec.key_file.value);
    let key_pem = match std::fs::read(&path) {
        Ok(pem) => crate::dnssec::key::ZoneKey::from_pem(&pem)
            .map(|_| pem)
            .map_err(|e| p.at(&spec.key_file, format!("{}: {e}", path.display())))
            .ok(),
        Err(e) => {
            p.at(
                &spec.key_file,
                format!("cannot read DNSSEC key {}: {e}", path.display()),
            );
            None
        }
    };
    Some(DnssecSettings {
        key_file: path,
        key_pem: key_pem?,
        validity_s: validity? as u32,
    })
}

fn build_registry(
    spec: super::spec::RegistrySpec,
    regions: &RegionCatalog,
    policies: &BTreeMap<String, ProbePolicy>,
    p: &mut Problems<'_>,
) -> Option<Registry> {
    let name = spec.name.value.to_ascii_lowercase();
    if !is_label(&name) {
        p.at(
            &spec.name,
            format!("registry name {name:?} is not a valid DNS label"),
        );
    }
    for (t, what) in [
        (&spec.ttl.global, "ttl.global"),
        (&spec.ttl.suspect, "ttl.suspect"),
        (&spec.ttl.regional, "ttl.regional"),
        (&spec.ttl.data, "ttl.data"),
    ] {
        ttl(t, p, what);
    }
    let registry_probe = policy_name(spec.probe.as_ref(), &default_policy(), policies, p);
    let mut replicas: Vec<Replica> = Vec::with_capacity(spec.replicas.len());
    for r in spec.replicas {
        let region = r.region.value.to_ascii_lowercase();
        let Some(region_index) = regions.find(&region) else {
            p.at(
                &r.region,
                format!("region {region:?} is not in geoip/regions.yaml"),
            );
            continue;
        };
        if replicas.iter().any(|o| *o.region == *region) {
            p.at(
                &r.region,
                format!("region {region} appears twice in registry {name}"),
            );
            continue;
        }
        if r.weight.value == 0 || r.weight.value > 10_000 {
            p.at(&r.weight, "weight must be 1..=10000");
        }
        let addrs = addresses(&r.addresses, p);
        if addrs.is_empty() {
            p.at(&r.region, "a replica needs at least one address");
        }
        let data_addresses = addresses(&r.data_addresses, p);
        let probe_address = r.probe_address.as_ref().and_then(|a| {
            let parsed = a.value.parse::<SocketAddr>().ok();
            if parsed.is_none() {
                p.at(a, "probe_address must be IP:port, e.g. 192.0.2.10:443");
            }
            parsed
        });
        let probe = policy_name(r.probe.as_ref(), &registry_probe, policies, p);
        let probe_url = match &r.probe_url {
            Some(u) if u.value.starts_with("http://") || u.value.starts_with("https://") => {
                u.value.clone()
            }
            Some(u) => {
                p.at(u, "probe_url must start with http:// or https://");
                String::new()
            }
            None => String::new(),
        };
        replicas.push(Replica {
            seed: crate::hash::replica_seed(&region),
            point: regions.get(region_index).point,
            region: regions.name(region_index),
            region_index,
            global_endpoint_routing: r.global_endpoint_routing,
            weight: r.weight.value.clamp(1, 10_000),
            addresses: addrs,
            data_addresses,
            probe_url,
            probe_address,
            probe,
        });
    }
    if replicas.len() > super::MAX_REPLICAS {
        p.at(
            &spec.name,
            format!(
                "registry {name} has {} replicas; at most {} are supported",
                replicas.len(),
                super::MAX_REPLICAS
            ),
        );
    }
    if !replicas.is_empty() && !replicas.iter().any(|r| r.global_endpoint_routing) {
        p.at(
            &spec.name,
            format!("registry {name} has no replica with global_endpoint_routing: true"),
        );
    }
    let find_replica = |t: &SpannedText, p: &mut Problems<'_>| {
        let region = t.value.to_ascii_lowercase();
        let i = replicas.iter().position(|r| *r.region == *region);
        if i.is_none() {
            p.at(
                t,
                format!("registry {name} has no replica in region {region:?}"),
            );
        }
        i
    };
    let home = find_replica(&spec.home_region, p);
    let default_order: Vec<usize> = spec
        .default_regions
        .iter()
        .filter_map(|t| find_replica(t, p))
        .collect();
    let ramp = &spec.routing.failback_ramp;
    let failback_ramp_ms = match super::values::parse_duration(&ramp.value) {
        Some(d) if d <= std::time::Duration::from_secs(3600) => d.as_millis() as u64,
        _ => {
            p.at(
                ramp,
                format!(
                    "failback_ramp {:?} is not a duration of at most 1h (such as 0s, 60s, 2m)",
                    ramp.value
                ),
            );
            0
        }
    };
    let routing = Routing {
        tie_band_km: non_negative(&spec.routing.tie_band_km, p, "tie_band_km"),
        tie_band_percent: non_negative(&spec.routing.tie_band_percent, p, "tie_band_percent"),
        tie_band_ms: non_negative(&spec.routing.tie_band_ms, p, "tie_band_ms"),
        failover_spread: spec.routing.failover_spread.value.max(1) as usize,
        failover_band_percent: non_negative(
            &spec.routing.failover_band_percent,
            p,
            "failover_band_percent",
        ),
        failback_ramp_ms,
        fail_open: spec.routing.all_down == super::spec::AllDownSpec::Open,
    };
    if spec.routing.failover_spread.value == 0 {
        p.at(
            &spec.routing.failover_spread,
            "failover_spread must be at least 1",
        );
    }
    let global_answer = if spec.regional_endpoints {
        spec.global_answer
    } else {
        GlobalAnswerSpec::Address
    };
    let home = home?;
    Some(Registry {
        seed: crate::hash::replica_seed(&name),
        at: (1, 1),
        name,
        home,
        regional_endpoints: spec.regional_endpoints,
        data_endpoints: spec.data_endpoints,
        global_answer: global_answer as GlobalAnswer,
        ttl_global: spec.ttl.global.value,
        // Never longer than the ordinary TTL (a short ttl.global keeps its own length).
        ttl_suspect: spec.ttl.suspect.value.min(spec.ttl.global.value),
        ttl_regional: spec.ttl.regional.value,
        ttl_data: spec.ttl.data.value,
        default_order,
        routing,
        probe: registry_probe,
        replicas,
    })
}

fn build_view(
    spec: ViewSpec,
    registries: &[Arc<Registry>],
    index: &RegistryIndex,
    regions: &RegionCatalog,
    p: &mut Problems<'_>,
) -> Option<View> {
    let clients: Vec<_> = spec
        .clients
        .iter()
        .filter_map(|c| parse_net(c, p))
        .collect();
    if spec.clients.is_empty() {
        p.at(&spec.name, "a view needs at least one client network");
    }
    let trusted_resolvers = spec
        .trusted_resolvers
        .iter()
        .filter_map(|c| parse_net(c, p))
        .collect();
    let region = spec.region.value.to_ascii_lowercase();
    let Some(region_index) = regions.find(&region) else {
        p.at(
            &spec.region,
            format!("region {region:?} is not in geoip/regions.yaml"),
        );
        return None;
    };
    let mut out = HashMap::new();
    for (reg_name, vr) in &spec.registries {
        let found = index.find(registries, reg_name.value.as_bytes());
        let Some(registry) = found.map(|r| &registries[r]) else {
            p.at(
                reg_name,
                format!(
                    "view {}: no registry {:?} in this zone",
                    spec.name.value, reg_name.value
                ),
            );
            continue;
        };
        out.insert(registry.name.clone(), view_registry(vr, registry, p));
    }
    if spec.global == super::spec::ViewGlobalSpec::Pinned
        && out.values().any(|v: &ViewRegistry| v.global.is_none())
    {
        p.at(
            &spec.name,
            "global: pinned needs a global_address for every registry of the view",
        );
    }
    Some(View {
        name: spec.name.value.clone(),
        clients,
        region_index,
        point: regions.get(region_index).point,
        pinned: spec.global == super::spec::ViewGlobalSpec::Pinned,
        fallback_public: spec.fallback == super::spec::ViewFallbackSpec::Public,
        trusted_resolvers,
        registries: out,
    })
}

fn view_registry(vr: &ViewRegistrySpec, registry: &Registry, p: &mut Problems<'_>) -> ViewRegistry {
    let mut out = ViewRegistry {
        global: vr.global_address.as_ref().and_then(|a| address(a, p)),
        ..Default::default()
    };
    for (map, target) in [(&vr.regional, &mut out.regional), (&vr.data, &mut out.data)] {
        for (region, addr) in map {
            let Some(i) = registry
                .replicas
                .iter()
                .position(|r| r.region.eq_ignore_ascii_case(&region.value))
            else {
                p.at(
                    region,
                    format!(
                        "registry {} has no replica in region {:?}",
                        registry.name, region.value
                    ),
                );
                continue;
            };
            if let Some(a) = address(addr, p) {
                target.insert(i, a);
            }
        }
    }
    out
}

/// Reports each client network of a view that overlaps an earlier view, at the place it was
/// written (`clients[i]` is what `views[i]` was given; entries refused already are skipped).
fn check_view_overlap(views: &[View], clients: &[Vec<SpannedText>], p: &mut Problems<'_>) {
    for (i, a) in views.iter().enumerate() {
        for b in &views[..i] {
            for text in &clients[i] {
                // Entries refused by parse_net already were reported there.
                let Some(na) = cidr(&text.value).filter(|n| n.trunc() == *n) else {
                    continue;
                };
                if let Some(nb) = b
                    .clients
                    .iter()
                    .find(|nb| nb.contains(&na) || na.contains(*nb))
                {
                    p.at(
                        text,
                        format!(
                        "view {} ({na}) overlaps view {} ({nb}): a client must belong to one view",
                            a.name, b.name
                        ),
                    );
                }
            }
        }
    }
}

/// Rules that span files: each zone once.
pub fn check_across_zones(zones: &[(PathBuf, Zone)], found: &mut Vec<ConfigError>) {
    let mut seen = HashSet::new();
    for (path, z) in zones {
        if !seen.insert(z.name.clone()) {
            found.push(ConfigError::file(
                path,
                format!("zone {} is defined in two files", z.name),
            ));
        }
    }
}

/// The policy named, else `fallback` (shared: a million replicas of the default policy hold
/// one copy of its name).
fn policy_name(
    given: Option<&SpannedText>,
    fallback: &Arc<str>,
    policies: &BTreeMap<String, ProbePolicy>,
    p: &mut Problems<'_>,
) -> Arc<str> {
    match given {
        Some(t) if !policies.contains_key(&t.value) => {
            p.at(t, format!("unknown probe policy {:?}", t.value));
            fallback.clone()
        }
        Some(t) if *t.value == **fallback => fallback.clone(),
        Some(t) => t.value.as_str().into(),
        None => fallback.clone(),
    }
}

/// The name of the policy a registry without `probe:` uses.
fn default_policy() -> Arc<str> {
    static DEFAULT: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "default".into());
    DEFAULT.clone()
}

fn ttl(t: &serde_saphyr::Spanned<u32>, p: &mut Problems<'_>, what: &str) {
    if t.value == 0 || t.value > MAX_TTL {
        p.at(
            t,
            format!("{what} must be 1..={MAX_TTL} seconds, not {}", t.value),
        );
    }
}

fn non_negative(v: &serde_saphyr::Spanned<f64>, p: &mut Problems<'_>, what: &str) -> f64 {
    if !(v.value >= 0.0 && v.value.is_finite()) {
        p.at(v, format!("{what} must be a non-negative number"));
        return 0.0;
    }
    v.value
}

/// Parses one unicast address; IPv4-mapped IPv6 is refused (it would be served as AAAA).
fn address(t: &SpannedText, p: &mut Problems<'_>) -> Option<IpAddr> {
    let ip: IpAddr = match t.value.trim().parse() {
        Ok(ip) => ip,
        Err(_) => {
            p.at(t, format!("{:?} is not an IPv4 or IPv6 address", t.value));
            return None;
        }
    };
    let bad = match ip {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => {
            if a.to_ipv4_mapped().is_some() {
                p.at(
                    t,
                    format!("{ip} is an IPv4-mapped IPv6 address: write the IPv4 address"),
                );
                return None;
            }
            a.is_unspecified() || a.is_multicast()
        }
    };
    if bad {
        p.at(t, format!("{ip} is not a unicast address"));
        return None;
    }
    Some(ip)
}

fn addresses(list: &[SpannedText], p: &mut Problems<'_>) -> Addresses {
    let mut out = Vec::new();
    for t in list {
        if let Some(ip) = address(t, p) {
            if out.contains(&ip) {
                p.at(t, format!("{ip} is listed twice"));
            } else {
                out.push(ip);
            }
        }
    }
    Addresses::from_ips(out)
}

/// Checks a DNS name; returns it lower-case without the trailing dot.
fn dns_name(t: &SpannedText, p: &mut Problems<'_>) -> String {
    let s = t.value.trim();
    let s = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        p.at(t, format!("{:?} is not a valid DNS name", t.value));
    }
    s
}

/// True when `name` equals `zone` or lies below it.
pub fn is_within(name: &str, zone: &str) -> bool {
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}
