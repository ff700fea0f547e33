//! On-disk configuration types: exactly the YAML keys of docs/configuration.md, read with serde.
//!
//! Nothing here is validated beyond its YAML shape (unknown keys are rejected). Values that later
//! checks must point at are wrapped in [`Spanned`] so a semantic error can name its line and column.
//! `validate.rs` turns these into the runtime [`crate::config::Config`].

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};

/// A default value: it stands nowhere in the file.
pub(crate) fn fixed<T>(value: T) -> Spanned<T> {
    Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// Text together with where it stood in its file.
pub type SpannedText = Spanned<String>;

/// `zones/<zone>.yaml`: one zone with its registries and views.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFile {
    /// The zone apex, e.g. `azurecr.io`.
    pub zone: SpannedText,
    /// TTL of the apex SOA and NS records.
    #[serde(default = "default_zone_ttl")]
    pub ttl: Spanned<u32>,
    /// The SOA record fields.
    pub soa: SoaSpec,
    /// Name servers of the zone (NS records at the apex).
    pub nameservers: Vec<NameServerSpec>,
    /// Registries served in this zone.
    #[serde(default)]
    pub registries: Vec<RegistrySpec>,
    /// Split-horizon views (VNets with private endpoints).
    #[serde(default)]
    pub views: Vec<ViewSpec>,
    /// Online DNSSEC signing (absent: the zone is unsigned).
    #[serde(default)]
    pub dnssec: Option<DnssecSpec>,
}

/// `zones/<zone>.d/*.yaml`: more registries of the zone `zones/<zone>.yaml`, and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesFile {
    /// Registries served in the zone, like the zone file's own.
    #[serde(default)]
    pub registries: Vec<RegistrySpec>,
}

/// `dnssec:` of a zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecSpec {
    /// PKCS#8 PEM key file, relative to the configuration folder.
    pub key_file: SpannedText,
    /// RRSIG expiration minus inception (default 7d).
    #[serde(default = "default_validity")]
    pub signature_validity: SpannedText,
}

fn default_validity() -> SpannedText {
    fixed("7d".to_string())
}

fn default_zone_ttl() -> Spanned<u32> {
    fixed(3600)
}

/// The SOA fields of a zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaSpec {
    /// Primary name server.
    pub mname: SpannedText,
    /// Responsible mailbox, in DNS name form.
    pub rname: SpannedText,
    /// Serial; defaults to 1.
    #[serde(default = "default_serial")]
    pub serial: u32,
    /// Refresh interval in seconds.
    pub refresh: u32,
    /// Retry interval in seconds.
    pub retry: u32,
    /// Expiry in seconds.
    pub expire: u32,
    /// Negative-caching TTL bound (RFC 2308).
    pub minimum: Spanned<u32>,
}

fn default_serial() -> u32 {
    1
}

/// One NS record target, with glue addresses when it lies inside the zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameServerSpec {
    /// The name server's host name.
    pub name: SpannedText,
    /// Its addresses (served as glue when in-zone).
    #[serde(default)]
    pub addresses: Vec<SpannedText>,
}

/// One registry (login server name) and its replicas.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySpec {
    /// The registry's first label, e.g. `myregistry`.
    pub name: SpannedText,
    /// The region the registry was created in.
    pub home_region: SpannedText,
    /// Whether `R.<region>.geo.Z` names exist.
    #[serde(default = "yes")]
    pub regional_endpoints: bool,
    /// Whether `R.<region>.data.Z` names exist.
    #[serde(default = "yes")]
    pub data_endpoints: bool,
    /// `cname` (default) or `address`.
    #[serde(default)]
    pub global_answer: GlobalAnswerSpec,
    /// TTLs of the three kinds of names.
    #[serde(default)]
    pub ttl: TtlSpec,
    /// Region order for clients of unknown location.
    #[serde(default)]
    pub default_regions: Vec<SpannedText>,
    /// Routing knobs.
    #[serde(default)]
    pub routing: RoutingSpec,
    /// Name of the probe policy (in `probes/*.yaml`).
    #[serde(default)]
    pub probe: Option<SpannedText>,
    /// The replicas, one per region.
    pub replicas: Vec<ReplicaSpec>,
}

fn yes() -> bool {
    true
}

/// How the global name is answered.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GlobalAnswerSpec {
    /// CNAME to the chosen regional name, then its addresses.
    #[default]
    Cname,
    /// The chosen replica's addresses directly.
    Address,
}

/// TTLs of a registry's names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtlSpec {
    /// TTL of the global name.
    #[serde(default = "ttl_global")]
    pub global: Spanned<u32>,
    /// TTL of global answers that choose a suspect replica (its latest probe failed).
    #[serde(default = "ttl_suspect")]
    pub suspect: Spanned<u32>,
    /// TTL of regional names.
    #[serde(default = "ttl_static")]
    pub regional: Spanned<u32>,
    /// TTL of data names.
    #[serde(default = "ttl_static")]
    pub data: Spanned<u32>,
}

impl Default for TtlSpec {
    fn default() -> Self {
        Self {
            global: ttl_global(),
            suspect: ttl_suspect(),
            regional: ttl_static(),
            data: ttl_static(),
        }
    }
}

fn ttl_global() -> Spanned<u32> {
    fixed(30)
}
fn ttl_suspect() -> Spanned<u32> {
    fixed(5)
}
fn ttl_static() -> Spanned<u32> {
    fixed(300)
}

/// Routing knobs of one registry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// Absolute width of the equivalence band.
    #[serde(default = "tie_km")]
    pub tie_band_km: Spanned<f64>,
    /// Relative width of the equivalence band, in per cent of the nearest distance.
    #[serde(default = "tie_percent")]
    pub tie_band_percent: Spanned<f64>,
    /// Equivalence band over measured round-trip times (`geoip/latency.yaml`), ms.
    #[serde(default = "tie_ms")]
    pub tie_band_ms: Spanned<f64>,
    /// How many nearest eligible replicas share a failed replica's clients.
    #[serde(default = "spread")]
    pub failover_spread: Spanned<u32>,
    /// The failover spread only reaches this far beyond the nearest eligible replica, in per
    /// cent of its distance (or the tie band, if larger).
    #[serde(default = "failover_band")]
    pub failover_band_percent: Spanned<f64>,
    /// A recovered replica gets its clients back over this long (`0s`: at once).
    #[serde(default = "no_ramp")]
    pub failback_ramp: SpannedText,
    /// `open` (default) or `closed`.
    #[serde(default)]
    pub all_down: AllDownSpec,
}

impl Default for RoutingSpec {
    fn default() -> Self {
        Self {
            tie_band_km: tie_km(),
            tie_band_percent: tie_percent(),
            tie_band_ms: tie_ms(),
            failover_spread: spread(),
            failover_band_percent: failover_band(),
            failback_ramp: no_ramp(),
            all_down: AllDownSpec::Open,
        }
    }
}

fn tie_km() -> Spanned<f64> {
    fixed(500.0)
}
fn tie_percent() -> Spanned<f64> {
    fixed(10.0)
}
fn tie_ms() -> Spanned<f64> {
    fixed(10.0)
}
fn failover_band() -> Spanned<f64> {
    fixed(50.0)
}
fn no_ramp() -> SpannedText {
    fixed("0s".to_string())
}
fn spread() -> Spanned<u32> {
    fixed(2)
}

/// What the global name answers when no routed replica is healthy.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AllDownSpec {
    /// Answer as if every routed replica were healthy.
    #[default]
    Open,
    /// Answer NODATA.
    Closed,
}

/// One replica of a registry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSpec {
    /// Region name from the region catalogue.
    pub region: SpannedText,
    /// The operator's switch: false drains the replica from the global name.
    #[serde(default = "yes")]
    pub global_endpoint_routing: bool,
    /// Rendezvous-hashing weight among equivalent replicas.
    #[serde(default = "weight")]
    pub weight: Spanned<u32>,
    /// IPv4 and IPv6 addresses of the regional endpoint.
    pub addresses: Vec<SpannedText>,
    /// Addresses of the dedicated data endpoint.
    #[serde(default)]
    pub data_addresses: Vec<SpannedText>,
    /// Probe URL; default `https://R.<region>.geo.Z/v2/`.
    #[serde(default)]
    pub probe_url: Option<SpannedText>,
    /// Address the probe connects to; default the first address and the policy's port.
    #[serde(default)]
    pub probe_address: Option<SpannedText>,
    /// Probe policy overriding the registry's.
    #[serde(default)]
    pub probe: Option<SpannedText>,
}

fn weight() -> Spanned<u32> {
    fixed(100)
}

/// A split-horizon view.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewSpec {
    /// Name of the view, for logs and metrics.
    pub name: SpannedText,
    /// Client networks (matched against the packet's source address).
    pub clients: Vec<SpannedText>,
    /// The VNet's region: the location of its clients.
    pub region: SpannedText,
    /// `routed` (default) or `pinned`.
    #[serde(default)]
    pub global: ViewGlobalSpec,
    /// `none` (default) or `public`.
    #[serde(default)]
    pub fallback: ViewFallbackSpec,
    /// Resolvers whose ECS may select this view.
    #[serde(default)]
    pub trusted_resolvers: Vec<SpannedText>,
    /// Private endpoint addresses per registry name.
    #[serde(default)]
    pub registries: HashMap<SpannedText, ViewRegistrySpec>,
}

/// How a view answers the global name.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ViewGlobalSpec {
    /// Routed by health and location, private address of the chosen replica.
    #[default]
    Routed,
    /// Always the view's private global address.
    Pinned,
}

/// What a view answers for a name it has no private address for.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ViewFallbackSpec {
    /// NXDOMAIN.
    #[default]
    None,
    /// The public answer.
    Public,
}

/// A registry's private endpoint addresses inside one view.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRegistrySpec {
    /// Private address of the global name.
    #[serde(default)]
    pub global_address: Option<SpannedText>,
    /// Region → private address of the regional name.
    #[serde(default)]
    pub regional: HashMap<SpannedText, SpannedText>,
    /// Region → private address of the data name.
    #[serde(default)]
    pub data: HashMap<SpannedText, SpannedText>,
}

/// `probes/*.yaml` (other than `regions.yaml`): probe policies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesFile {
    /// Policy name → policy.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySpec>,
}

/// One probe policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// `http`, `tcp` or `none`.
    #[serde(default)]
    pub kind: ProbeKindSpec,
    /// `https` or `http`.
    #[serde(default = "https")]
    pub scheme: SpannedText,
    /// Port to connect to.
    #[serde(default = "port443")]
    pub port: u16,
    /// Path of the GET request.
    #[serde(default = "v2")]
    pub path: String,
    /// Time between probes, e.g. `10s`.
    #[serde(default = "interval")]
    pub interval: SpannedText,
    /// Probe timeout, e.g. `5s`.
    #[serde(default = "timeout")]
    pub timeout: SpannedText,
    /// Consecutive failures to turn unhealthy.
    #[serde(default = "three")]
    pub fall: Spanned<u32>,
    /// Consecutive successes to turn healthy.
    #[serde(default = "three")]
    pub rise: Spanned<u32>,
    /// Status ranges counted healthy, e.g. `"100-499"` or `"200"`.
    #[serde(default = "healthy_status")]
    pub healthy_status: Vec<SpannedText>,
    /// Verify the replica's TLS certificate.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// Extra CA certificate(s) to trust (PEM file, relative to `probes/`), e.g. a private CA.
    #[serde(default)]
    pub tls_ca: Option<SpannedText>,
    /// Flap damping.
    #[serde(default)]
    pub flap: FlapSpec,
}

/// Probe kinds.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKindSpec {
    /// HTTP(S) GET.
    #[default]
    Http,
    /// TCP connect.
    Tcp,
    /// Not probed: the replica counts healthy (placeholder addresses, such as the shipped
    /// example's; `probes/regions.yaml` still applies).
    None,
}

/// Flap damping settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapSpec {
    /// Transitions allowed inside the window.
    #[serde(default = "flap_limit")]
    pub limit: u32,
    /// The window, e.g. `10m`.
    #[serde(default = "flap_window")]
    pub window: SpannedText,
    /// First hold-down time, e.g. `1m`.
    #[serde(default = "hold_down")]
    pub hold_down: SpannedText,
}

impl Default for FlapSpec {
    fn default() -> Self {
        Self {
            limit: flap_limit(),
            window: flap_window(),
            hold_down: hold_down(),
        }
    }
}

fn text(s: &str) -> SpannedText {
    fixed(s.to_string())
}
fn https() -> SpannedText {
    text("https")
}
fn port443() -> u16 {
    443
}
fn v2() -> String {
    "/v2/".into()
}
fn interval() -> SpannedText {
    text("10s")
}
fn timeout() -> SpannedText {
    text("5s")
}
fn three() -> Spanned<u32> {
    fixed(3)
}
fn healthy_status() -> Vec<SpannedText> {
    vec![text("100-499")]
}
fn flap_limit() -> u32 {
    4
}
fn flap_window() -> SpannedText {
    text("10m")
}
fn hold_down() -> SpannedText {
    text("1m")
}

/// `probes/regions.yaml`: operator region health and optional region probes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsHealthFile {
    /// Region → status.
    #[serde(default)]
    pub regions: HashMap<SpannedText, RegionStatusSpec>,
    /// Region → region-wide probe.
    #[serde(default)]
    pub probes: HashMap<SpannedText, RegionProbeSpec>,
}

/// An operator's statement about one region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionStatusSpec {
    /// `up` or `down`.
    pub status: RegionStatus,
    /// Why (shown in logs and `/status`).
    #[serde(default)]
    pub reason: String,
}

/// Region status values.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RegionStatus {
    /// Serving.
    Up,
    /// Taken out of every global answer.
    Down,
}

/// A region-wide probe.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionProbeSpec {
    /// URL to GET.
    pub url: SpannedText,
    /// Policy name.
    #[serde(default)]
    pub policy: Option<SpannedText>,
}

/// `geoip/geoip.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpFile {
    /// One database file, or a list (an IPv4 + IPv6 pair), relative to `geoip/`.
    #[serde(default)]
    pub database: Option<DatabaseSpec>,
    /// Whether EDNS Client Subnet is used.
    #[serde(default = "yes")]
    pub ecs: bool,
    /// Hashing granularity of client subnets.
    #[serde(default)]
    pub subnet_prefix: SubnetPrefixSpec,
    /// Location overrides.
    #[serde(default)]
    pub locations: Vec<LocationSpec>,
}

impl Default for GeoIpFile {
    /// The settings when `geoip.yaml` is absent: no database, ECS on, default prefixes.
    fn default() -> Self {
        Self {
            database: None,
            ecs: true,
            subnet_prefix: SubnetPrefixSpec::default(),
            locations: Vec::new(),
        }
    }
}

/// One file or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DatabaseSpec {
    /// A single database.
    One(String),
    /// Several databases, tried in order.
    Many(Vec<String>),
}

/// Hashing granularity per family.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetPrefixSpec {
    /// IPv4 prefix length (default 24).
    #[serde(default = "p24")]
    pub ipv4: Spanned<u8>,
    /// IPv6 prefix length (default 56).
    #[serde(default = "p56")]
    pub ipv6: Spanned<u8>,
}

impl Default for SubnetPrefixSpec {
    fn default() -> Self {
        Self {
            ipv4: p24(),
            ipv6: p56(),
        }
    }
}

fn p24() -> Spanned<u8> {
    fixed(24)
}
fn p56() -> Spanned<u8> {
    fixed(56)
}

/// A location override: clients → region or coordinates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    /// The client network.
    pub clients: SpannedText,
    /// A region from the catalogue.
    #[serde(default)]
    pub region: Option<SpannedText>,
    /// Latitude (with `longitude`).
    #[serde(default)]
    pub latitude: Option<Spanned<f64>>,
    /// Longitude (with `latitude`).
    #[serde(default)]
    pub longitude: Option<Spanned<f64>>,
}

/// `geoip/regions.yaml`: the region catalogue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionCatalogFile {
    /// Region name → coordinates.
    pub regions: BTreeMap<String, RegionSpec>,
}

/// One region's coordinates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Latitude in degrees.
    pub latitude: Spanned<f64>,
    /// Longitude in degrees.
    pub longitude: Spanned<f64>,
    /// Display name.
    #[serde(default)]
    pub name: String,
}
