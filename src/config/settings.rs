//! Checks and builds the non-zone settings: region catalogue, GeoIP, probe policies, region health.

use super::error::{ConfigError, Problems};
use super::spec::{
    DatabaseSpec, GeoIpFile, ProbesFile, RegionCatalogFile, RegionStatus, RegionsHealthFile,
    SpannedText,
};
use super::values::{is_label, parse_duration, parse_net};
use super::{
    GeoIpSettings, LocationOverride, ProbePolicy, Region, RegionCatalog, RegionHealthSettings,
};
use crate::geo::point::Point;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Checks coordinates and builds the region catalogue.
pub fn build_catalog(
    path: &Path,
    file: RegionCatalogFile,
    found: &mut Vec<ConfigError>,
) -> RegionCatalog {
    let mut p = Problems::new(path, found);
    let mut regions = Vec::new();
    for (name, spec) in file.regions {
        if !is_label(&name) {
            p.whole(format!("region name {name:?} is not a valid DNS label"));
            continue;
        }
        match Point::new(spec.latitude.value, spec.longitude.value) {
            Some(point) => regions.push(Region {
                name,
                display_name: spec.name,
                point,
            }),
            None => p.at(
                &spec.latitude,
                format!("region {name}: latitude must be within ±90 and longitude within ±180"),
            ),
        }
    }
    if regions.is_empty() {
        p.whole("the region catalogue is empty");
    }
    RegionCatalog::new(regions)
}

/// Checks and builds the GeoIP settings; database paths are relative to the file's folder.
pub fn build_geoip(
    path: &Path,
    file: GeoIpFile,
    regions: &RegionCatalog,
    found: &mut Vec<ConfigError>,
) -> GeoIpSettings {
    let mut p = Problems::new(path, found);
    let base = path.parent().unwrap_or(Path::new("."));
    let databases: Vec<PathBuf> = match file.database {
        None => Vec::new(),
        Some(DatabaseSpec::One(f)) => vec![base.join(f)],
        Some(DatabaseSpec::Many(fs)) => fs.into_iter().map(|f| base.join(f)).collect(),
    };
    for db in &databases {
        if !db.is_file() {
            p.whole(format!("GeoIP database {} does not exist", db.display()));
        }
    }
    if file.subnet_prefix.ipv4.value > 32 {
        p.at(
            &file.subnet_prefix.ipv4,
            "subnet_prefix.ipv4 must be 0..=32",
        );
    }
    if file.subnet_prefix.ipv6.value > 128 {
        p.at(
            &file.subnet_prefix.ipv6,
            "subnet_prefix.ipv6 must be 0..=128",
        );
    }
    let mut locations = Vec::new();
    for loc in file.locations {
        let Some(clients) = parse_net(&loc.clients, &mut p) else {
            continue;
        };
        let spot = match (&loc.region, &loc.latitude, &loc.longitude) {
            (Some(r), None, None) => match regions.find(&r.value.to_ascii_lowercase()) {
                Some(i) => Some((regions.get(i).point, Some(regions.get(i).name.clone()))),
                None => {
                    p.at(r, format!("unknown region {:?}", r.value));
                    None
                }
            },
            (None, Some(lat), Some(lon)) => match Point::new(lat.value, lon.value) {
                Some(point) => Some((point, None)),
                None => {
                    p.at(lat, "latitude must be within ±90 and longitude within ±180");
                    None
                }
            },
            _ => {
                p.at(
                    &loc.clients,
                    "a location needs either region, or latitude and longitude",
                );
                None
            }
        };
        if let Some((point, region)) = spot {
            locations.push(LocationOverride {
                clients,
                point,
                region,
            });
        }
    }
    GeoIpSettings {
        databases,
        ecs: file.ecs,
        subnet_v4: file.subnet_prefix.ipv4.value.min(32),
        subnet_v6: file.subnet_prefix.ipv6.value.min(128),
        locations,
        latency: Default::default(),
    }
}

/// Checks and merges the probe policies of every policy file; `default` always exists.
pub fn build_policies(
    files: Vec<(PathBuf, ProbesFile)>,
    found: &mut Vec<ConfigError>,
) -> BTreeMap<String, ProbePolicy> {
    let mut out = BTreeMap::new();
    for (path, file) in files {
        let mut p = Problems::new(&path, found);
        for (name, spec) in file.policies {
            if out.contains_key(&name) {
                p.whole(format!("probe policy {name:?} is defined twice"));
                continue;
            }
            let scheme = spec.scheme.value.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                p.at(&spec.scheme, "scheme must be http or https");
            }
            let interval = duration(&spec.interval, &mut p);
            let timeout = duration(&spec.timeout, &mut p);
            if spec.fall.value == 0 {
                p.at(&spec.fall, "fall must be at least 1");
            }
            if spec.rise.value == 0 {
                p.at(&spec.rise, "rise must be at least 1");
            }
            let mut healthy_status = Vec::new();
            for s in &spec.healthy_status {
                match status_range(&s.value) {
                    Some(r) => healthy_status.push(r),
                    None => p.at(s, "status must be a code or a range such as \"100-499\""),
                }
            }
            let tls_ca = spec.tls_ca.as_ref().map(|ca| {
                let file = path.parent().unwrap_or(Path::new(".")).join(&ca.value);
                if !file.is_file() {
                    p.at(ca, format!("tls_ca file {} does not exist", file.display()));
                }
                file
            });
            let flap_window = duration(&spec.flap.window, &mut p);
            let hold_down = duration(&spec.flap.hold_down, &mut p);
            out.insert(
                name,
                ProbePolicy {
                    kind: spec.kind,
                    scheme,
                    port: spec.port,
                    path: spec.path,
                    interval,
                    timeout,
                    fall: spec.fall.value.max(1),
                    rise: spec.rise.value.max(1),
                    healthy_status,
                    tls_verify: spec.tls_verify,
                    tls_ca,
                    flap_limit: spec.flap.limit,
                    flap_window,
                    hold_down,
                },
            );
        }
    }
    out.entry("default".to_string())
        .or_insert_with(ProbePolicy::standard);
    out
}

impl ProbePolicy {
    /// The `default` policy with every default (docs/configuration.md).
    pub fn standard() -> Self {
        Self {
            kind: super::spec::ProbeKindSpec::Http,
            scheme: "https".into(),
            port: 443,
            path: "/v2/".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            fall: 3,
            rise: 3,
            healthy_status: vec![(100, 499)],
            tls_verify: true,
            tls_ca: None,
            flap_limit: 4,
            flap_window: Duration::from_secs(600),
            hold_down: Duration::from_secs(60),
        }
    }
}

/// Checks `probes/regions.yaml`.
pub fn build_region_health(
    path: &Path,
    file: RegionsHealthFile,
    regions: &RegionCatalog,
    policies: &BTreeMap<String, ProbePolicy>,
    found: &mut Vec<ConfigError>,
) -> RegionHealthSettings {
    let mut p = Problems::new(path, found);
    let mut out = RegionHealthSettings::default();
    for (name, status) in file.regions {
        if regions.find(&name.value).is_none() {
            p.at(&name, format!("unknown region {:?}", name.value));
        } else if status.status == RegionStatus::Down {
            out.down.insert(name.value, status.reason);
        }
    }
    for (name, probe) in file.probes {
        if regions.find(&name.value).is_none() {
            p.at(&name, format!("unknown region {:?}", name.value));
            continue;
        }
        let policy = probe
            .policy
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_else(|| "default".into());
        if let Some(s) = &probe.policy
            && !policies.contains_key(&s.value)
        {
            p.at(s, format!("unknown probe policy {:?}", s.value));
        }
        out.probes.insert(name.value, (probe.url.value, policy));
    }
    out
}

fn duration(text: &SpannedText, p: &mut Problems<'_>) -> Duration {
    match parse_duration(&text.value) {
        Some(d) if !d.is_zero() => d,
        _ => {
            p.at(
                text,
                format!("{:?} is not a duration such as 500ms, 10s, 1m", text.value),
            );
            Duration::from_secs(1)
        }
    }
}

fn status_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let c = s.trim().parse().ok()?;
            (c, c)
        }
    };
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}
