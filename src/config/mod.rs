//! The validated, immutable configuration that the server runs on, and how to load it.
//!
//! `spec.rs` holds the on-disk serde types; `load.rs` reads the folder; `validate.rs` and
//! `settings.rs` check everything and build the types below. Nothing unvalidated gets out.

pub mod error;
mod few;
pub mod fleet;
mod index;
pub mod latency;
mod load;
mod regions;
pub mod server;
mod settings;
pub mod spec;
mod stamp;
mod validate;
mod values;
mod yaml;

pub use error::{ConfigError, ConfigErrors};
pub use few::Few;
pub use index::RegistryIndex;
pub use load::{load, load_from};
pub use regions::{Region, RegionCatalog};
pub use stamp::{FileStamp, Identity, file_identity};
pub use validate::is_within;
pub use values::separating_prefix;

use crate::geo::point::Point;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Registries may have at most this many replicas (Azure has about 60 regions); routing keeps
/// its per-query scratch space on the stack at this size.
pub const MAX_REPLICAS: usize = 128;

/// A zone holds at most this many registries, over its zone file and its `<zone>.d/` files.
pub const MAX_REGISTRIES_PER_ZONE: usize = 2_000_000;

/// A zone's `<zone>.d/` folder holds at most this many files.
pub const MAX_FILES_PER_ZONE: usize = 10_000;

/// A whole validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// Served zones, in file order.
    pub zones: Vec<Zone>,
    /// The region catalogue.
    pub regions: RegionCatalog,
    /// GeoIP settings (`geoip/geoip.yaml`).
    pub geoip: GeoIpSettings,
    /// Probe policies by name.
    pub policies: BTreeMap<String, ProbePolicy>,
    /// Operator region health (`probes/regions.yaml`).
    pub region_health: RegionHealthSettings,
    /// Zone files read, in order: a reload refuses to lose one.
    pub zone_files: Vec<PathBuf>,
    /// `server.yaml`: rate limiting and cookie secrets.
    pub server: server::ServerSettings,
    /// `probes/fleet.yaml`: health shared through etcd (None: this instance alone).
    pub fleet: Option<fleet::FleetSettings>,
    /// A hash of everything a registry's validation reads besides its own text (the region
    /// catalogue and the probe policies): while it is unchanged, a part file whose content is
    /// unchanged keeps its validated registries on reload.
    pub registry_context: u64,
    /// Part files this load parsed and validated, and part files whose registries it took
    /// from the previous configuration unchanged.
    pub parts_read: (usize, usize),
}

impl Config {
    /// Files outside `zones/`, `probes/` and `geoip/` that the configuration reads (cookie
    /// secrets, DNSSEC keys): a change to one reloads like a change to the configuration.
    pub fn watched_files(&self) -> Vec<std::path::PathBuf> {
        let keys = self
            .zones
            .iter()
            .filter_map(|z| z.dnssec.as_ref().map(|d| d.key_file.clone()));
        self.server.files.iter().cloned().chain(keys).collect()
    }
}

/// One served zone.
#[derive(Debug)]
pub struct Zone {
    /// Lower-case apex without the trailing dot, e.g. `azurecr.io`.
    pub name: String,
    /// TTL of the apex records.
    pub ttl: u32,
    /// The SOA.
    pub soa: Soa,
    /// NS records at the apex.
    pub nameservers: Vec<NameServer>,
    /// Registries of the zone, shared with the previous configuration where their file did
    /// not change.
    pub registries: Vec<Arc<Registry>>,
    /// Registry name → position in `registries`.
    pub index: RegistryIndex,
    /// Views of the zone.
    pub views: Vec<View>,
    /// Online signing, when the zone has `dnssec:` (the key checked, not yet loaded).
    pub dnssec: Option<DnssecSettings>,
    /// The files the zone was read from: its zone file, then its `<zone>.d/*.yaml` in name
    /// order.
    pub files: Vec<PathBuf>,
    /// Per file of `files`: the registries it defines (a range of `registries`).
    pub spans: Vec<std::ops::Range<u32>>,
    /// Per file of `files`: its identity and content hash when it was read.
    pub stamps: Vec<FileStamp>,
    /// Per file of `files`: the regions its registries have regional and data names in.
    pub uses: Vec<RegionUse>,
}

/// Which file of a zone defines registry `r`, given each file's span of registries.
fn file_of(spans: &[std::ops::Range<u32>], r: usize) -> usize {
    spans
        .partition_point(|s| s.end as usize <= r)
        .min(spans.len().saturating_sub(1))
}

/// The regions a file's registries have names in, by catalogue index (what makes
/// `<region>.geo.<zone>` and `<region>.data.<zone>` exist), kept per file so an unchanged file
/// is not walked again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionUse {
    /// Some registry of the file has a regional name in the region.
    pub geo: Vec<bool>,
    /// Some registry of the file has a data name in the region.
    pub data: Vec<bool>,
}

impl RegionUse {
    /// What `registries` use, in a catalogue of `regions` regions.
    pub fn of(registries: &[Arc<Registry>], regions: usize) -> Self {
        let mut out = Self {
            geo: vec![false; regions],
            data: vec![false; regions],
        };
        for reg in registries {
            for rep in &reg.replicas {
                out.geo[rep.region_index] |= reg.regional_endpoints;
                out.data[rep.region_index] |= reg.data_endpoints;
            }
        }
        out
    }
}

impl Zone {
    /// The registry named `name` (lower case): its position and itself.
    pub fn registry(&self, name: &str) -> Option<(usize, &Registry)> {
        let r = self.index.find(&self.registries, name.as_bytes())?;
        Some((r, &self.registries[r]))
    }

    /// The file that defines registry `r`.
    pub fn source_of(&self, r: usize) -> &Path {
        &self.files[file_of(&self.spans, r)]
    }
}

/// A signed zone's `dnssec:` settings, checked: the key file parses as a signing key.
#[derive(Clone)]
pub struct DnssecSettings {
    /// The key file, watched for changes like the configuration.
    pub key_file: PathBuf,
    /// The key file's contents (PKCS#8 PEM) as read and checked, so the key that is built is
    /// the key that was checked.
    pub key_pem: Vec<u8>,
    /// RRSIG expiration minus inception, seconds.
    pub validity_s: u32,
}

impl std::fmt::Debug for DnssecSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never in a log or a panic message.
        f.debug_struct("DnssecSettings")
            .field("key_file", &self.key_file)
            .field("key_pem", &format_args!("<{} bytes>", self.key_pem.len()))
            .field("validity_s", &self.validity_s)
            .finish()
    }
}

/// SOA fields, names lower-case without trailing dot.
#[derive(Debug)]
pub struct Soa {
    /// Primary server.
    pub mname: String,
    /// Mailbox.
    pub rname: String,
    /// Serial.
    pub serial: u32,
    /// Refresh.
    pub refresh: u32,
    /// Retry.
    pub retry: u32,
    /// Expire.
    pub expire: u32,
    /// Negative TTL bound.
    pub minimum: u32,
}

/// An NS target and its glue.
#[derive(Debug)]
pub struct NameServer {
    /// Host name, lower-case without trailing dot.
    pub name: String,
    /// Addresses, served when the host lies in the zone.
    pub addresses: Addresses,
}

/// A set of IPv4 and IPv6 addresses answered as A and AAAA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// A records (two inline).
    pub v4: Few<Ipv4Addr, 2>,
    /// AAAA records (one inline).
    pub v6: Few<Ipv6Addr, 1>,
}

impl Addresses {
    /// Splits mixed addresses by family.
    pub fn from_ips(ips: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut out = Self::default();
        for ip in ips {
            match ip {
                IpAddr::V4(a) => out.v4.push(a),
                IpAddr::V6(a) => out.v6.push(a),
            }
        }
        out
    }

    /// True when there is no address at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// How the global name is answered.
pub use spec::GlobalAnswerSpec as GlobalAnswer;

/// One registry.
#[derive(Debug)]
pub struct Registry {
    /// First label, lower-case.
    pub name: String,
    /// Line and column of its name in the file that defines it ([`Zone::source_of`]).
    pub at: (u32, u32),
    /// Stable hash of the name, mixed into client subnet keys.
    pub seed: u64,
    /// Index into `replicas` of the home region's replica.
    pub home: usize,
    /// `R.<r>.geo.Z` exist.
    pub regional_endpoints: bool,
    /// `R.<r>.data.Z` exist.
    pub data_endpoints: bool,
    /// CNAME or address answers (address when regional endpoints are off).
    pub global_answer: GlobalAnswer,
    /// TTL of the global name.
    pub ttl_global: u32,
    /// TTL of global answers choosing a suspect replica.
    pub ttl_suspect: u32,
    /// TTL of regional names.
    pub ttl_regional: u32,
    /// TTL of data names.
    pub ttl_data: u32,
    /// Replica indexes for clients of unknown location, in order.
    pub default_order: Vec<usize>,
    /// Routing knobs.
    pub routing: Routing,
    /// Probe policy name (shared by every registry and replica naming the same policy).
    pub probe: Arc<str>,
    /// Replicas in file order.
    pub replicas: Vec<Replica>,
}

/// Routing knobs of a registry.
#[derive(Debug, Clone, Copy)]
pub struct Routing {
    /// Absolute equivalence band, km.
    pub tie_band_km: f64,
    /// Relative equivalence band, per cent.
    pub tie_band_percent: f64,
    /// Equivalence band over measured round-trip times, ms.
    pub tie_band_ms: f64,
    /// Nearest eligible replicas that share a failed replica's clients.
    pub failover_spread: usize,
    /// How far beyond the nearest eligible replica the failover spread reaches, per cent.
    pub failover_band_percent: f64,
    /// How long a recovered replica takes to get all its clients back, ms (0: at once).
    pub failback_ramp_ms: u64,
    /// Answer anyway when none is healthy.
    pub fail_open: bool,
}

/// One replica.
#[derive(Debug)]
pub struct Replica {
    /// Region name (shared with the catalogue: one copy per region, however many replicas).
    pub region: Arc<str>,
    /// Index in the region catalogue.
    pub region_index: usize,
    /// Coordinates of the region.
    pub point: Point,
    /// The operator's routing switch.
    pub global_endpoint_routing: bool,
    /// Hashing weight.
    pub weight: u32,
    /// Rendezvous seed (a stable hash of the region name).
    pub seed: u64,
    /// Regional endpoint addresses.
    pub addresses: Addresses,
    /// Data endpoint addresses.
    pub data_addresses: Addresses,
    /// Probe target URL.
    pub probe_url: String,
    /// Where the probe connects.
    pub probe_address: Option<SocketAddr>,
    /// Probe policy name (shared by every registry and replica naming the same policy).
    pub probe: Arc<str>,
}

/// A split-horizon view.
#[derive(Debug)]
pub struct View {
    /// Name for logs.
    pub name: String,
    /// Client networks (source address).
    pub clients: Vec<IpNet>,
    /// Index of the view's region in the catalogue.
    pub region_index: usize,
    /// Coordinates of the view's region.
    pub point: Point,
    /// Pin the global name to the private global address.
    pub pinned: bool,
    /// Answer public data for names without a private address.
    pub fallback_public: bool,
    /// Resolvers whose ECS may select this view.
    pub trusted_resolvers: Vec<IpNet>,
    /// Registry name → private addresses.
    pub registries: HashMap<String, ViewRegistry>,
}

/// A registry's private endpoint addresses in one view.
#[derive(Debug, Default)]
pub struct ViewRegistry {
    /// Private global address.
    pub global: Option<IpAddr>,
    /// Replica index → private regional address.
    pub regional: HashMap<usize, IpAddr>,
    /// Replica index → private data address.
    pub data: HashMap<usize, IpAddr>,
}

/// GeoIP settings.
#[derive(Debug)]
pub struct GeoIpSettings {
    /// Database files, absolute or relative to the process's folder.
    pub databases: Vec<PathBuf>,
    /// Use EDNS Client Subnet.
    pub ecs: bool,
    /// IPv4 hashing granularity.
    pub subnet_v4: u8,
    /// IPv6 hashing granularity.
    pub subnet_v6: u8,
    /// Location overrides.
    pub locations: Vec<LocationOverride>,
    /// Measured round-trip times (`geoip/latency.yaml`; empty when absent).
    pub latency: latency::LatencyTable,
}

/// A CIDR that is placed at a fixed location.
#[derive(Debug, Clone)]
pub struct LocationOverride {
    /// Clients.
    pub clients: IpNet,
    /// Where they are.
    pub point: Point,
    /// The region named, if the override named one.
    pub region: Option<String>,
}

/// A probe policy.
#[derive(Debug, Clone)]
pub struct ProbePolicy {
    /// HTTP or TCP.
    pub kind: spec::ProbeKindSpec,
    /// `http` or `https`.
    pub scheme: String,
    /// Port.
    pub port: u16,
    /// Path.
    pub path: String,
    /// Interval.
    pub interval: Duration,
    /// Timeout.
    pub timeout: Duration,
    /// Failures to turn unhealthy.
    pub fall: u32,
    /// Successes to turn healthy.
    pub rise: u32,
    /// Healthy status ranges (inclusive).
    pub healthy_status: Vec<(u16, u16)>,
    /// Verify TLS.
    pub tls_verify: bool,
    /// Extra trusted CA certificates (PEM file).
    pub tls_ca: Option<PathBuf>,
    /// Flap limit within the window.
    pub flap_limit: u32,
    /// Flap window.
    pub flap_window: Duration,
    /// First hold-down.
    pub hold_down: Duration,
}

/// Operator region statements and region probes.
#[derive(Debug, Default)]
pub struct RegionHealthSettings {
    /// Region name → reason, for regions marked down.
    pub down: BTreeMap<String, String>,
    /// Region name → (URL, policy).
    pub probes: BTreeMap<String, (String, String)>,
}

/// Loads a configuration of the shipped region catalogue and the given zone files
/// (`zones/<name>`, contents), from a folder made for it and removed after (unit tests).
#[cfg(test)]
pub(crate) fn load_test_zones(tag: &str, zones: &[(&str, String)]) -> Config {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("georoute-{tag}-{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("zones")).unwrap();
    std::fs::create_dir_all(dir.join("geoip")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/geoip/regions.yaml"),
        dir.join("geoip/regions.yaml"),
    )
    .unwrap();
    for (file, text) in zones {
        std::fs::write(dir.join("zones").join(file), text).unwrap();
    }
    let config = load(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    config
}
