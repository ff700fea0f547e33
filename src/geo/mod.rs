//! Where a client is: coordinates, great-circle distance, location overrides and GeoIP lookup.
//!
//! `db.rs` reads MaxMind DB files of both layouts in use; `centroids.rs` holds the country and
//! continent centroids used when a record has a country but no coordinates; `cache.rs` keeps each
//! thread's recent lookups.

mod cache;
mod centroids;
mod db;
pub mod point;

pub use cache::GeoDetail;
pub use db::GeoDb;
pub use point::{EARTH_RADIUS_KM, Point};

use crate::config::{GeoIpSettings, LocationOverride, separating_prefix};
use ipnet::IpNet;
use std::net::IpAddr;

/// How a client was located.
#[derive(Debug, Clone, PartialEq)]
pub enum LocationSource<'a> {
    /// A `locations:` override matched.
    Override {
        /// The override's network.
        network: IpNet,
        /// The region it named, if any.
        region: Option<&'a str>,
    },
    /// The GeoIP database had a record.
    GeoIp {
        /// The database network that holds the address.
        network: IpNet,
        /// What the record gave.
        detail: GeoDetail,
    },
    /// Nothing placed the client.
    Unknown,
}

/// The result of locating one address.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// Where the client is, when known.
    pub point: Option<Point>,
    /// Why.
    pub source: LocationSource<'a>,
    /// The shortest prefix around the address within which every address is located the same way
    /// (the ECS scope of a location-decided answer).
    pub scope: u8,
}

/// Overrides and databases, ready for lookups. Immutable; rebuilt on reload.
#[derive(Debug)]
pub struct Geo {
    overrides: Vec<LocationOverride>,
    dbs: Vec<GeoDb>,
}

impl Geo {
    /// Opens the databases named by the settings.
    pub fn open(settings: &GeoIpSettings) -> Result<Self, String> {
        let mut dbs = Vec::new();
        for path in &settings.databases {
            dbs.push(GeoDb::open(path)?);
        }
        let mut overrides = settings.locations.clone();
        overrides.sort_by_key(|o| std::cmp::Reverse(o.clients.prefix_len()));
        Ok(Self { overrides, dbs })
    }

    /// Locates an address: overrides first (longest prefix), then the databases in order.
    pub fn locate(&self, addr: IpAddr) -> Located<'_> {
        let mut floor = 0u8;
        for o in &self.overrides {
            if o.clients.contains(&addr) {
                return Located {
                    point: Some(o.point),
                    source: LocationSource::Override {
                        network: o.clients,
                        region: o.region.as_deref(),
                    },
                    scope: floor.max(o.clients.prefix_len()),
                };
            }
            floor = floor.max(separating_prefix(addr, &o.clients));
        }
        let mut unknown_scope = floor;
        for db in &self.dbs {
            if let Some(found) = db.lookup(addr) {
                let scope = floor.max(found.network.prefix_len());
                match found.point {
                    Some(point) => {
                        return Located {
                            point: Some(point),
                            source: LocationSource::GeoIp {
                                network: found.network,
                                detail: found.detail,
                            },
                            scope,
                        };
                    }
                    None => unknown_scope = unknown_scope.max(scope),
                }
            }
        }
        Located {
            point: None,
            source: LocationSource::Unknown,
            scope: unknown_scope,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_figures() {
        let london = Point::new(51.5074, -0.1278).unwrap();
        let new_york = Point::new(40.7128, -74.0060).unwrap();
        let d = london.distance_km(&new_york);
        assert!((d - 5570.0).abs() < 15.0, "{d}");
        assert!(london.distance_km(&london).abs() < 1e-6);
        let antipode = Point::new(-51.5074, 179.8722).unwrap();
        assert!((london.distance_km(&antipode) - 20015.1).abs() < 1.0);
        assert!(Point::new(91.0, 0.0).is_none());
        assert!(Point::new(0.0, f64::NAN).is_none());
    }

    #[test]
    fn separating_prefix_is_one_past_the_common_bits() {
        let net: IpNet = "198.51.100.0/24".parse().unwrap();
        assert_eq!(separating_prefix("198.51.101.1".parse().unwrap(), &net), 24);
        assert_eq!(separating_prefix("10.0.0.1".parse().unwrap(), &net), 1);
        assert_eq!(separating_prefix("::1".parse().unwrap(), &net), 0);
    }
}
