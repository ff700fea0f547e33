//! MaxMind DB lookups for both layouts in use: MaxMind GeoIP2/GeoLite2 City and Country
//! (nested `location.latitude`, `country.iso_code`, `continent.code`) and the flat ip-location-db
//! layout (top-level `latitude`, `longitude` as 32-bit floats, `country_code`).

use super::cache::{self, GeoDetail};
use super::centroids;
use super::point::Point;
use ipnet::IpNet;
use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// One found network.
#[derive(Debug)]
pub struct Found {
    /// The database network holding the address.
    pub network: IpNet,
    /// Coordinates or a centroid, if any.
    pub point: Option<Point>,
    /// Where the point came from.
    pub detail: GeoDetail,
}

/// An open database file.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
    ipv4_only: bool,
    name: String,
    /// Distinguishes this open database in the per-thread record cache.
    id: u64,
}

/// Ids of opened databases, never reused (they name a database in the per-thread caches).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoDb({})", self.name)
    }
}

#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(default)]
    location: Option<Coordinates>,
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Named<'a>>,
    #[serde(borrow, default)]
    continent: Option<Named<'a>>,
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Coordinates {
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
}

/// A coordinate stored as a double (MaxMind) or a float (ip-location-db). The decoder is strict
/// about the stored type, so this accepts whichever is there.
#[derive(Clone, Copy)]
struct Coordinate(f64);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Coordinate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a coordinate in degrees")
            }
            fn visit_f32<E>(self, v: f32) -> Result<Coordinate, E> {
                Ok(Coordinate(f64::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coordinate, E> {
                Ok(Coordinate(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Coordinate, E> {
                Ok(Coordinate(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Coordinate, E> {
                Ok(Coordinate(v as f64))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

impl GeoDb {
    /// Opens and checks a database file.
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("{}: cannot open GeoIP database: {e}", path.display()))?;
        let ipv4_only = reader.metadata().ip_version == 4;
        Ok(Self {
            reader,
            ipv4_only,
            name: path.display().to_string(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Looks an address up; `None` when the database does not cover it or has no record.
    pub fn lookup(&self, addr: IpAddr) -> Option<Found> {
        if self.ipv4_only && addr.is_ipv6() {
            return None;
        }
        let (network, value) = match cache::network(self.id, addr) {
            Some(hit) => hit,
            None => {
                let (network, value) = self.walk(addr)?;
                cache::keep_network(self.id, addr, network, value);
                (network, value)
            }
        };
        let (point, detail) = value?;
        Some(Found {
            network,
            point,
            detail,
        })
    }

    /// The database's network holding `addr` and its record (decoded, or from the cache of
    /// decoded records by offset).
    fn walk(&self, addr: IpAddr) -> Option<(IpNet, cache::Interpreted)> {
        let result = self.reader.lookup(addr).ok()?;
        let network = result.network().ok()?;
        let network = IpNet::new(network.network(), network.prefix()).ok()?;
        let Some(offset) = result.offset() else {
            return Some((network, None));
        };
        if let Some(value) = cache::record(self.id, offset) {
            return Some((network, value));
        }
        let value = match result.decode::<Record>() {
            Ok(Some(record)) => Some(interpret(&record)),
            _ => None,
        };
        cache::keep_record(self.id, offset, value);
        Some((network, value))
    }
}

fn interpret(r: &Record<'_>) -> (Option<Point>, GeoDetail) {
    let (lat, lon) = match &r.location {
        Some(c) => (c.latitude, c.longitude),
        None => (r.latitude, r.longitude),
    };
    if let (Some(Coordinate(lat)), Some(Coordinate(lon))) = (lat, lon)
        && let Some(p) = Point::new(lat, lon)
    {
        return (Some(p), GeoDetail::Coordinates);
    }
    let country = r
        .country
        .as_ref()
        .and_then(|c| c.iso_code)
        .or(r.country_code)
        .or(r.registered_country.as_ref().and_then(|c| c.iso_code))
        .and_then(centroids::code2);
    if let Some(c) = country
        && let Some(p) = centroids::country(c)
    {
        return (Some(p), GeoDetail::Country(c));
    }
    if let Some(c) = r
        .continent
        .as_ref()
        .and_then(|c| c.code)
        .and_then(centroids::code2)
        && let Some(p) = centroids::continent(c)
    {
        return (Some(p), GeoDetail::Continent(c));
    }
    (None, GeoDetail::Nothing)
}
