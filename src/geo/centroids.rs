//! Country and continent centroids (from `geoip/country-centroids.csv`, compiled in).

use super::point::Point;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The CSV shipped with the project; its header says where the figures come from.
const CSV: &str = include_str!("../../geoip/country-centroids.csv");

struct Table {
    countries: HashMap<[u8; 2], Point>,
    continents: HashMap<[u8; 2], Point>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Table {
            countries: HashMap::new(),
            continents: HashMap::new(),
        };
        for line in CSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let mut f = line.split(',');
            let (Some(kind), Some(code), Some(lat), Some(lon)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Ok(lat), Ok(lon)) = (lat.parse(), lon.parse()) else {
                continue;
            };
            let (Some(key), Some(point)) = (code2(code), Point::new(lat, lon)) else {
                continue;
            };
            match kind {
                "country" => t.countries.insert(key, point),
                "continent" => t.continents.insert(key, point),
                _ => None,
            };
        }
        t
    })
}

/// A two-letter code as upper-case bytes.
pub fn code2(code: &str) -> Option<[u8; 2]> {
    match code.as_bytes() {
        [a, b] => Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]),
        _ => None,
    }
}

/// The centroid of an ISO 3166-1 country.
pub fn country(code: [u8; 2]) -> Option<Point> {
    table().countries.get(&code).copied()
}

/// The centroid of a MaxMind continent code (AF AN AS EU NA OC SA).
pub fn continent(code: [u8; 2]) -> Option<Point> {
    table().continents.get(&code).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_countries_and_continents() {
        assert!(table().countries.len() > 240);
        assert_eq!(table().continents.len(), 7);
        let us = country(*b"US").unwrap();
        assert!((us.latitude - 37.09).abs() < 0.1 && (us.longitude + 95.71).abs() < 0.1);
        assert!(continent(*b"EU").is_some());
        assert!(country(*b"ZZ").is_none());
    }
}
